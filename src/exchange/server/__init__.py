"""The server: configuration, the engine task, persistence seam, read model and the runtime
that wires them with the web app in one Trio nursery (`exchange.server.runtime`)."""
