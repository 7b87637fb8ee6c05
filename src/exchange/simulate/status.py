"""The live status line on stderr: redrawn in place on a terminal, a plain line every few
seconds otherwise (logs, pipes)."""

from __future__ import annotations

from typing import TextIO

import trio

from exchange.simulate.stats import SimStats


async def show_status(stats: SimStats, stream: TextIO, *, started: float,
                      tty: bool | None = None) -> None:
    """Runs until cancelled; `started` is the `trio.current_time()` the clock counts from.
    On a terminal the line is cleared when the task ends, so a summary can follow."""
    tty = stream.isatty() if tty is None else tty
    try:
        while True:
            line = stats.line(trio.current_time() - started)
            if tty:
                stream.write(f"\r\x1b[K{line}")
            else:
                stream.write(f"{line}\n")
            stream.flush()
            await trio.sleep(0.5 if tty else 5.0)
    finally:
        if tty:
            stream.write("\r\x1b[K")
            stream.flush()
