"""`exchange serve`: logging, signals and exit codes around `serve_exchange`.

Exit codes: 0 after a clean shutdown, 2 for bad configuration (one line on stderr: an invalid
setting, an unusable database, a port in use), 1 if a task failed (one log line), 3 if the
writer stopped on a permanent write error (logged when it happened): a restart recovers from
the last committed batch.
"""

from __future__ import annotations

import errno
import json
import logging
import signal
import sys
import time

import trio

from exchange.app.runtime import Server, serve_exchange
from exchange.gctuning import freeze_long_lived
from exchange.pipeline.config import Settings
from exchange.pipeline.journal import JournalStopped
from exchange.pipeline.storage import StartupError

log = logging.getLogger("exchange.server")

SWITCH_INTERVAL = 0.0005


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)


EXIT_WRITER_STOPPED = 3


def _first_leaf(exc: BaseException) -> BaseException:
    """The error that stopped the run: a `JournalStopped` wherever it is in the group (the
    tasks it brought down may have failed beside it), else the first."""
    if isinstance(exc, BaseExceptionGroup):
        stopped = exc.subgroup(lambda e: isinstance(e, JournalStopped))
        if stopped is not None:
            exc = stopped
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def run_serve(settings: Settings) -> int:
    """Runs the server until SIGINT/SIGTERM; returns the process exit code."""
    setup_logging(settings)
    # Three threads share the GIL (Trio's, the engine worker's, the store's asyncio loop) and
    # every batch crosses between them several times; the default 5 ms switch interval made
    # each crossing wait for the HTTP thread's slice (measured: +23% orders/s at 0.5 ms).
    sys.setswitchinterval(SWITCH_INTERVAL)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(serve_exchange, settings)
            freeze_long_lived()  # the recovered engine and read model live as long as we do
            print(f"exchange listening on {server.url} (database: "
                  f"{server.storage.description})", file=sys.stderr, flush=True)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    log.info("received %s: shutting down", signal.Signals(signum).name)
                    server.shutdown()
                    break

    try:
        trio.run(main, strict_exception_groups=True)
    except BaseException as exc:  # the process's last word: one line
        leaf = _first_leaf(exc)
        if isinstance(leaf, StartupError):
            print(f"exchange serve: {leaf}", file=sys.stderr)
            return 2
        if isinstance(leaf, OSError) and leaf.errno in (errno.EADDRINUSE, errno.EACCES,
                                                        errno.EADDRNOTAVAIL):
            print(f"exchange serve: cannot listen on {settings.host}:{settings.port}: "
                  f"{leaf.strerror}", file=sys.stderr)
            return 2
        if isinstance(leaf, JournalStopped):
            log.error("exchange stopped: the writer stopped on a permanent write error; "
                      "restart to recover from the last committed batch")
            return EXIT_WRITER_STOPPED
        if isinstance(leaf, KeyboardInterrupt):
            log.error("interrupted during shutdown")
            return 1
        log.error("exchange stopped: a task failed: %s: %s", type(leaf).__name__, leaf)
        return 1
    log.info("exchange stopped cleanly")
    return 0
