"""The runtime: the whole exchange in one Trio nursery.

The pipeline of a state-changing request, as wired in `serve_exchange`:

1. hypercorn (trio worker) hands the request to the Quart-Trio app; the route authenticates,
   validates the body and builds an engine command (integers only).
2. The command goes on the inbox, a bounded memory channel, with `send_nowait`: a full inbox
   answers 503 `overloaded` at once, so memory stays bounded whatever the load.
3. The engine task (`Sequencer.serve_engine`) takes whatever is queued, up to `batch_limit`,
   stamps every command's `ts` from its clock, and runs the batch in a worker thread
   (`engine.handle` per command; only that thread touches the engine).
4. The batch's events go to the journal, the persistence writer, through its bounded queue
   (a slow database is backpressure on step 3, hence on step 2). The writer commits batches
   in one transaction each (merging what is queued) and sets `batch.durable`.
5. The replies task (`Sequencer.serve_replies`) waits, in batch order, until each batch is
   durable, applies its events to the read model, and wakes each request with its own
   events (a WebSocket request through its callback). Then it hands the batch to the
   fan-out.
6. The route answers from its events and the read model. Reads (book, trades, orders, ...)
   come from the read model only and never wait for the engine.
7. The fan-out task (`Fanout.serve_fanout`) turns the durable batch into market-data and
   private messages, encoded once each, and puts them into every subscribed connection's
   bounded outbox without waiting; each connection's writer task sends them (`web/ws.py`).

Shutdown (SIGINT/SIGTERM or `Server.shutdown()`): hypercorn stops accepting and lets
in-flight requests finish, WebSocket connections stop reading, answer what is in flight and
close with 1001; then the inbox is closed, the engine task drains it, the journal flushes,
the fan-out ends, the engine's state hash is stored (`Storage.seal`: the next start checks
the rebuilt engine against it), the database is closed. A peer that stops reading cannot hold a
connection (hypercorn writes inside a shielded scope): it gets 4008 after
`ws_outbox_max_age` and a writer still stuck in a send is reset shortly after (`web/ws.py`);
as a backstop, for longer than `send_timeout` neither it nor any HTTP peer can: the
listening sockets set TCP_USER_TIMEOUT, which the kernel applies to every connection.
All of it within `shutdown_timeout`, or the rest is cancelled. If any task fails, the
nursery cancels the others and `serve_exchange` raises.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from functools import partial

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.config import Sockets
from hypercorn.trio import serve as hypercorn_serve

from exchange.binance.fastpath import routes as binance_orders
from exchange.binance.ws import routes as binance_streams
from exchange.pipeline.chaos import chaos_for
from exchange.pipeline.config import Settings
from exchange.pipeline.deadman import DeadMan
from exchange.pipeline.journal import Journal
from exchange.pipeline.metrics import Metrics
from exchange.pipeline.sequencer import Sequencer
from exchange.pipeline.storage import Storage, open_storage
from exchange.web.app import Services, create_app
from exchange.web.edge import Edge, RouteTable
from exchange.web.fanout import Fanout
from exchange.web.fastpath import FastPath
from exchange.web.keepalive import KeepAlive
from exchange.web.ws import WebSocketHub, refuse_unknown

log = logging.getLogger("exchange.server")


class ShutdownTimeout(Exception):
    """The graceful shutdown did not finish within `shutdown_timeout`."""


@dataclass(eq=False)
class Server:
    """A running exchange, as `serve_exchange` reports it to `task_status.started()`."""

    url: str
    services: Services
    storage: Storage
    stop: trio.Event = field(default_factory=trio.Event)

    def shutdown(self) -> None:
        """Starts the graceful shutdown; `serve_exchange` returns when it is done."""
        self.stop.set()


class _Config(HypercornConfig):
    """hypercorn's configuration, with TCP_USER_TIMEOUT on the listening sockets."""

    user_timeout_ms = 0

    def create_sockets(self) -> Sockets:
        sockets = super().create_sockets()
        if self.user_timeout_ms and hasattr(socket, "TCP_USER_TIMEOUT"):
            for sock in (*sockets.insecure_sockets, *sockets.secure_sockets):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT,
                                self.user_timeout_ms)
        return sockets


def hypercorn_config(settings: Settings) -> HypercornConfig:
    config = _Config()
    config.user_timeout_ms = int(settings.send_timeout * 1000)
    config.websocket_max_message_size = settings.max_ws_message_bytes
    host = settings.host
    config.bind = [f"[{host}]:{settings.port}" if ":" in host else f"{host}:{settings.port}"]
    config.graceful_timeout = max(0.5, settings.shutdown_timeout / 2)
    config.backlog = 1024
    config.keep_alive_timeout = 30
    config.keep_alive_max_requests = 1_000_000  # trading clients keep one connection open
    config.include_server_header = False
    config.accesslog = None
    quiet = logging.getLogger("hypercorn.error")
    quiet.setLevel(logging.WARNING)
    config.errorlog = quiet
    return config


async def serve_exchange(
    settings: Settings,
    *,
    journal: Journal | None = None,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Runs the exchange until `Server.shutdown()`; see the module docstring.

    `journal` replaces the storage's journal (tests: a slow in-memory writer). Raises
    `StartupError` if the database cannot be used, `OSError` if the port cannot be bound."""
    if settings.demo and settings.admin_token is None:
        from exchange.app.demo import DEMO_ADMIN_TOKEN

        settings = settings.model_copy(update={"admin_token": DEMO_ADMIN_TOKEN})
    async with open_storage(settings) as storage:
        if journal is not None:
            storage.journal = journal
        metrics = Metrics()
        chaos = chaos_for(settings.chaos, metrics)
        fanout = Fanout(storage.readmodel, metrics, chaos=chaos)
        sequencer = Sequencer(
            storage.engine, storage.journal, storage.readmodel, metrics,
            inbox_size=settings.inbox_size, batch_limit=settings.batch_limit, fanout=fanout,
        )
        deadman = DeadMan(sequencer, deadline=settings.request_timeout)
        services = Services(settings, storage.readmodel, metrics, storage.journal, sequencer,
                            chaos, deadman, fanout, storage.history, storage.keys)
        # One ASGI edge: the route table's hot handlers first, the Quart-Trio app for the rest.
        # The Binance-compatible surface's streams are entries of the same table.
        table = RouteTable(FastPath(services).routes() + binance_orders(services)
                           + binance_streams(services))
        edge = Edge(table, create_app(services), chaos, refuse_unknown)
        app = KeepAlive(edge, settings.max_body_bytes)
        stop = trio.Event()
        timed_out = False

        async def watchdog() -> None:
            nonlocal timed_out
            await stop.wait()
            await trio.sleep(settings.shutdown_timeout)
            timed_out = True
            log.error("shutdown took over %.1f s: cancelling what is left",
                      settings.shutdown_timeout)
            outer.cancel_scope.cancel()

        async with trio.open_nursery() as outer:
            outer.start_soon(watchdog)
            # 7: the writers' frame ticks, until the pipeline has ended (outer is cancelled)
            await outer.start(services.websockets.serve_pacer)
            # the dead-man timers and the server's own cancels, for as long as the server runs
            await outer.start(deadman.serve)
            async with trio.open_nursery() as nursery:
                await nursery.start(storage.journal.serve)  # 4
                await nursery.start(fanout.serve_fanout)  # 7
                await nursery.start(sequencer.serve_replies)  # 5
                await nursery.start(sequencer.serve_engine)  # 3
                binds = await nursery.start(
                    partial(_serve_http, app, hypercorn_config(settings), stop, sequencer,
                            services.websockets)
                )  # 1, 2 and 6
                server = Server(_url(binds), services, storage, stop)
                if settings.demo:
                    from exchange.app.demo import setup_demo

                    await setup_demo(services)
                task_status.started(server)
            outer.cancel_scope.cancel()  # the pipeline has ended: stop the watchdog
        if timed_out:
            raise ShutdownTimeout(f"shutdown took over {settings.shutdown_timeout} s")
        await storage.seal()  # a clean stop: the next start can verify the engine


async def _serve_http(
    app: object, config: HypercornConfig, stop: trio.Event, sequencer: Sequencer,
    websockets: WebSocketHub | None,
    *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """hypercorn until `stop`; then the inbox closes, which ends the pipeline behind it."""
    async def stopping() -> None:
        await stop.wait()
        if websockets is not None:
            websockets.shutdown()
        await stop.wait()

    try:
        await hypercorn_serve(app, config, shutdown_trigger=stopping,  # type: ignore[arg-type]
                              task_status=task_status)
    finally:
        sequencer.close()


def _url(binds: list[str]) -> str:
    return binds[0] if binds else ""
