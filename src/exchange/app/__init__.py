"""The application: the runtime that supervises every task, the `serve` command and the
offline commands. The top layer: it may import anything below it."""
