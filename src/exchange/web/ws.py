"""The WebSocket API at `/v1/ws`: subscriptions, private events and order entry.

One connection is two tasks. The reader (the ASGI handler itself) decodes each frame (one op
object, or an array of them), answers `auth`/`subscribe`/`unsubscribe`/`ping` at once and
submits `place`/`cancel`/`amend` to the sequencer with a callback, so many requests are in
flight without a task each; the replies task calls back once the command is durable and the
answer goes into the connection's outbox. The writer drains the outbox into frames (see
`exchange.web.outbox`) and sends a heartbeat after `HEARTBEAT` seconds of silence.

Nothing here is awaited by the fan-out or by the engine: whatever the client does, the worst
it can do is fill its own outbox, which closes it with 4008. A client that sends faster
than its requests are answered waits once `MAX_INFLIGHT` are in flight (its frames stay
unread: TCP backpressure on it alone).

A client that stops reading is closed with 4008 within about `ws_outbox_max_age`, before
the kernel's `send_timeout` would reset it: its outbox fails once an item has waited that
long for the writer (checked on `put` and by the pacer's sweep), and the sweep also asks
each writer how long the peer has acknowledged nothing of what was written (which the
kernel's send buffer holds, megabytes, before the writer blocks). The close frame goes out
if the socket takes it; if the writer is stuck in a send, the connection is reset
`CLOSE_GRACE` later, so that the task ends. Either way the metric counts it once.

`cancel_on_disconnect` (an option of `auth`): the connection remembers the orders placed
over it, and when it ends, for whatever reason, cancels those still open through the
server's `DeadMan.submit` at once (FIFO inbox: before anything the account sends after);
one still in flight then is cancelled as soon as it is answered.

Chaos mode: answers to order entry wait `Chaos.latency()`; a refused one is an `error`
reply with code `unavailable` and `"chaos": "reject"`; after each frame the writer may drop
the connection (close code 1012, nothing queued is sent); the fan-out's stalls hold a
connection's channel messages (`Subscriber.held`), not its replies.

Shutdown: `WebSocketHub.shutdown()` stops every reader, waits (bounded) for the requests in
flight to be answered, and closes with 1001.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio

from exchange.engine.commands import AnyCommand, CancelOrder, PlaceOrder
from exchange.engine.events import AnyEvent
from exchange.pipeline.readmodel import AccountView, OrderView
from exchange.pipeline.sequencer import Request
from exchange.web.app import Services
from exchange.web.auth import account_for, authorization, bearer
from exchange.web.errors import ApiError, PipelineError, internal_error, invalid, pipeline_error
from exchange.web.fanout import ChannelError, Fanout, Subscriber
from exchange.web.frames import FrameWriter
from exchange.web.models import AmendOrderBody, PlaceOrderBody, decode_json, validate
from exchange.web.orders import OrderEntry
from exchange.web.outbox import DROPPED, GOING_AWAY, SLOW_CONSUMER, Outbox
from exchange.web.render import time_us

log = logging.getLogger("exchange.web")

PATH = "/v1/ws"
HEARTBEAT = 5.0
# Frames cost the server far more than the messages in them (hypercorn's write path: tens of
# microseconds a frame), so the connections together are held to about FRAME_BUDGET frames
# a second: after a frame, a writer waits for its next tick from the pacer (every `pace()`
# seconds) and sends what came meanwhile as one. Shared ticks instead of a timer per writer:
# with a thousand writers, trio's deadline bookkeeping cost more than the frames. The
# writers are spread over SLOTS ticks, a tenth of them woken at a time, so no burst of
# frames holds up the pipeline's own tasks for long. A few connections are not slowed at
# all; a thousand subscribers get a frame every 100 ms.
FRAME_BUDGET = 10_000
MAX_FRAME_INTERVAL = 0.1
MIN_FRAME_INTERVAL = 0.002  # below this, writers do not wait for ticks
IDLE_TICK = 0.05
SLOTS = 20
MAX_INFLIGHT = 256  # order-entry requests in flight per connection before reading pauses
MAX_OPS_PER_FRAME = 1000
MAX_CHANNELS = 100
PRUNE_PLACED = 1024  # orders remembered for cancel_on_disconnect before closed ones go
DRAIN_TIMEOUT = 2.0  # at shutdown: how long in-flight requests may take to be answered
DISCARD_TIMEOUT = 10.0  # after the close: how long to read what the client still sends
SWEEP_INTERVAL = 0.25  # how often the pacer checks every connection's age (4008)
CLOSE_GRACE = 1.0  # after a 4008, how long a writer stuck in a send has before the reset

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Result = Callable[[list[AnyEvent]], tuple[int, dict[str, Any]]]

_encode = msgspec.json.encode
_HEARTBEAT = {"type": "heartbeat"}


def _text(message: dict[str, Any]) -> str:
    return _encode(message).decode()


def _error(op_id: Any, error: ApiError) -> str:
    body: dict[str, Any] = error.envelope()["error"]  # the one envelope, REST's too
    retry_after = error.headers.get("Retry-After")
    if retry_after is not None:
        body["retry_after"] = float(retry_after)
    message: dict[str, Any] = {"type": "error", "error": body}
    chaos = error.headers.get("X-Chaos")
    if chaos is not None:
        message["chaos"] = chaos
    return _reply(op_id, message)


def _reply(op_id: Any, message: dict[str, Any]) -> str:
    if op_id is not None:
        message["id"] = op_id
    return _text(message)


class WebSocketHub:
    """The server's WebSocket connections (for shutdown) and what they share."""

    def __init__(self, services: Services, fanout: Fanout) -> None:
        self.services = services
        self.fanout = fanout
        self.connections: set[Connection] = set()
        self.stopping = False
        # Other surfaces' WebSocket connections stop with these (`exchange.binance.ws`).
        self.on_shutdown: list[Callable[[], None]] = []
        self._slots = [trio.Event() for _ in range(SLOTS)]
        self._joined = 0
        settings = services.settings
        # The reset must come before the kernel's (send_timeout), which the settings keep
        # above ws_outbox_max_age.
        self.close_grace = min(CLOSE_GRACE,
                               (settings.send_timeout - settings.ws_outbox_max_age) / 2)

    def pace(self) -> float:
        """Seconds between the pacer's ticks (see FRAME_BUDGET); 0: writers do not wait."""
        interval = min(MAX_FRAME_INTERVAL, len(self.connections) / FRAME_BUDGET)
        return interval if interval >= MIN_FRAME_INTERVAL else 0.0

    def slot(self) -> int:
        """The tick slot of a new connection (round robin)."""
        self._joined += 1
        return self._joined % SLOTS

    async def next_tick(self, slot: int) -> None:
        await self._slots[slot].wait()

    async def serve_pacer(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                          ) -> None:
        """Ticks each slot every `pace()` seconds, in turn, for as long as the server runs."""
        task_status.started()
        slots = self._slots
        index = 0
        sweep = time.monotonic() + SWEEP_INTERVAL
        while True:
            await trio.sleep((self.pace() or IDLE_TICK) / SLOTS)
            tick, slots[index] = slots[index], trio.Event()
            tick.set()
            index = (index + 1) % SLOTS
            now = time.monotonic()
            if now >= sweep:
                sweep = now + SWEEP_INTERVAL
                for connection in list(self.connections):
                    connection.check_age(now)

    def shutdown(self) -> None:
        """Stops reading on every connection; each closes with 1001 once its in-flight
        requests are answered."""
        self.stopping = True
        for connection in list(self.connections):
            connection.stop_reading()
        for stop in self.on_shutdown:
            stop()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        """The ASGI handler of one WebSocket connection (the route table sends it those on
        `PATH`, and `refuse_unknown` the rest)."""
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        try:
            header = authorization(scope["headers"])
        except ApiError as error:
            await _reject(send, error)
            return
        account = None
        if header is not None:
            account = account_for(self.services.readmodel, bearer(header))
            if account is None:
                await _reject(send, ApiError(401, "unauthorized", "missing or wrong API key"))
                return
        if self.stopping:
            await _reject(send, ApiError(503, "unavailable", "the server is shutting down"))
            return
        await send({"type": "websocket.accept"})
        connection = Connection(self, account)
        self.connections.add(connection)
        self.fanout.attach(connection.subscriber)
        if self.stopping:  # the shutdown began while the handshake was answered
            connection.stop_reading()
        try:
            await connection.run(receive, send)
        finally:
            self.fanout.detach(connection.subscriber)
            self.connections.discard(connection)
            connection.ended()


async def refuse_unknown(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """A WebSocket on a path no route serves: 404 in the envelope, before the handshake."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await _reject(send, ApiError(404, "not_found", "no such WebSocket endpoint"))


async def _reject(send: Send, error: ApiError) -> None:
    body = error.body()
    await send({"type": "websocket.http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "websocket.http.response.body", "body": body})


class Connection:
    """One WebSocket client; see the module docstring."""

    def __init__(self, hub: WebSocketHub, account: AccountView | None) -> None:
        self.hub = hub
        self.services = hub.services
        self.fanout = hub.fanout
        self.entry: OrderEntry = self.services.order_entry
        settings = self.services.settings
        self.outbox = Outbox(settings.ws_outbox_bytes, settings.ws_outbox_max_age,
                             on_slow=self._slow)
        self.subscriber = Subscriber(self.outbox, account.account_id if account else None)
        self.account = account
        self.inflight = 0
        self.gone = False
        self.cancel_on_disconnect = False
        self.done = False  # the connection has ended (see `ended`)
        self.placed: set[int] = set()  # order ids placed over this connection (maybe closed)
        self._prune_at = PRUNE_PLACED
        self.direct = False  # whether frames bypass ASGI (exchange.web.frames)
        self.slot = hub.slot()
        self.writer: FrameWriter | None = None  # once `run` has begun
        self._written_out = trio.Event()  # set when the writer has returned
        self._room = trio.Event()
        self._reading = trio.CancelScope()
        self._nursery: trio.Nursery | None = None

    def stop_reading(self) -> None:
        self._reading.cancel()

    def check_age(self, now: float) -> None:
        """Fails the outbox with 4008 if what it holds, or what the peer has not
        acknowledged of what was written, is older than `ws_outbox_max_age`."""
        outbox = self.outbox
        if outbox.expire(now) or outbox.closed or self.writer is None:
            return
        if self.writer.stalled(now) > outbox.max_age:
            outbox.close(SLOW_CONSUMER, "slow consumer")

    def _slow(self) -> None:
        """The outbox failed with 4008 (`Outbox.on_slow`)."""
        log.info("closing a slow WebSocket consumer (account %s)",
                 self.account.account_id if self.account else None)
        self.services.metrics.ws_slow_consumers.inc()
        if self._nursery is not None:
            self._nursery.start_soon(self._reset_if_stuck)

    async def _reset_if_stuck(self) -> None:
        """Resets the connection if the writer has not sent the close within the grace
        (it is blocked in a shielded send: the peer's buffer and ours are full)."""
        with trio.move_on_after(self.hub.close_grace):
            await self._written_out.wait()
            return
        if self.writer is not None:
            self.writer.abort()

    def ended(self) -> None:
        """The connection is over: with `cancel_on_disconnect`, its open orders go."""
        if self.done:
            return
        self.done = True
        account = self.account
        if self.cancel_on_disconnect and account is not None:
            self._cancel_placed(sorted(self.placed & account.open_ids))

    def _cancel_placed(self, order_ids: list[int]) -> None:
        deadman = self.services.deadman
        assert self.account is not None
        account_id = self.account.account_id
        if order_ids:
            log.info("cancel_on_disconnect: cancelling %d orders of account %s",
                     len(order_ids), account_id)
        deadman.submit([CancelOrder(account_id=account_id, order_id=order_id)
                        for order_id in order_ids])

    def _record(self, order: dict[str, Any]) -> None:
        """Notes an order placed over this connection (once durable)."""
        order_id: int = order["order_id"]
        if self.done:  # answered after the connection ended
            if self.cancel_on_disconnect and order_id in self._own_open():
                self._cancel_placed([order_id])
            return
        placed = self.placed
        placed.add(order_id)
        if len(placed) >= self._prune_at:  # a long-lived connection: forget the closed
            placed &= self._own_open()
            self._prune_at = max(PRUNE_PLACED, 2 * len(placed))

    def _own_open(self) -> set[int]:
        return self.account.open_ids if self.account is not None else set()

    async def run(self, receive: Receive, send: Send) -> None:
        outbox = self.outbox
        self.writer = FrameWriter(send)
        self.direct = self.writer.direct
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._write, send)
                with self._reading:
                    await self._read(receive)
                if self.gone:  # nothing can be sent any more
                    self.ended()  # now, not after the tasks below have wound down
                    nursery.cancel_scope.cancel()
                    return
                # Whatever the client still sends is read and dropped until it goes:
                # hypercorn's queue into the app is small, and once full it would stop
                # hypercorn's reader, which then could not even tell the app that the client
                # left.
                nursery.start_soon(self._discard, receive)
                if not outbox.closed:  # shutting down: answer what is in flight first
                    with trio.move_on_after(DRAIN_TIMEOUT):
                        while self.inflight:
                            self._room = trio.Event()
                            await self._room.wait()
                    outbox.close(GOING_AWAY, "server shutting down")
                # The writer sends what is queued and the close frame, then returns.
        finally:
            # Closed to new tasks: a 4008 that comes later (an answer that overflows the
            # outbox of a connection that is gone) has nothing to reset.
            self._nursery = None

    async def _discard(self, receive: Receive) -> None:
        with trio.move_on_after(DISCARD_TIMEOUT):
            while (await receive())["type"] != "websocket.disconnect":
                pass

    # -- WRITING --

    async def _write(self, send: Send) -> None:
        try:
            await self._write_frames(send)
        finally:
            self._written_out.set()

    async def _write_frames(self, send: Send) -> None:
        outbox = self.outbox
        frames = self.services.metrics.ws_frames
        writer = self.writer
        assert writer is not None
        chaos = self.services.chaos
        while True:
            if not len(outbox) and not outbox.closed:  # a deadline only when idle
                with trio.move_on_after(HEARTBEAT):
                    await outbox.wait()
            frame = outbox.take_nowait()
            if frame is None:
                if outbox.close_code is not None:
                    await send({"type": "websocket.close", "code": outbox.close_code,
                                "reason": outbox.close_reason})
                    self._reading.cancel()
                    return
                frame = _heartbeat()
            outbox.sending = True  # from here on, an old queue is the peer's doing
            try:
                await writer.send_text(frame)
            finally:
                outbox.sending = False
            frames.inc()
            if chaos.spec.disconnect and chaos.disconnect():
                outbox.close(DROPPED, "chaos mode dropped the connection")
            if self.hub.pace():
                await self.hub.next_tick(self.slot)

    # -- READING --

    async def _read(self, receive: Receive) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                self.gone = True
                return
            if kind != "websocket.receive":
                continue
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            self._frame(data)
            if self.outbox.closed:  # 4008: nothing it asks for could be answered
                return
            while self.inflight >= MAX_INFLIGHT:
                self._room = trio.Event()
                await self._room.wait()

    def _frame(self, data: str | bytes) -> None:
        put = self.outbox.put
        try:
            decoded = decode_json(data)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError, ValueError):
            put(_error(None, invalid("the message is not valid JSON")))
            return
        if isinstance(decoded, list):
            if not decoded or len(decoded) > MAX_OPS_PER_FRAME:
                put(_error(None, invalid(f"an array carries 1 to {MAX_OPS_PER_FRAME} ops")))
                return
            for op in decoded:
                self._op(op)
        else:
            self._op(decoded)

    def _op(self, message: Any) -> None:
        if not isinstance(message, dict):
            self.outbox.put(_error(None, invalid("a message is a JSON object with an op")))
            return
        op_id = message.get("id")
        if op_id is not None and (isinstance(op_id, bool) or not isinstance(op_id, int | str)
                                  or (isinstance(op_id, str) and len(op_id) > 64)):
            self.outbox.put(_error(None, invalid("id must be an integer or a short string",
                                                 "$.id")))
            return
        try:
            op = message.get("op")
            handler = _OPS.get(op) if isinstance(op, str) else None
            if handler is None:
                raise invalid("op must be one of " + ", ".join(sorted(_OPS)), "$.op")
            handler(self, op_id, message)
        except ApiError as error:
            self.outbox.put(_error(op_id, error))
        except PipelineError as exc:
            self.outbox.put(_error(op_id, pipeline_error(exc)))
        except Exception:  # a bug: this op fails, the connection and its other ops go on
            log.exception("unhandled error in WebSocket op %r", message.get("op"))
            self.outbox.put(_error(op_id, internal_error()))

    # -- OPS --

    def _auth(self, op_id: Any, message: dict[str, Any]) -> None:
        """Authenticates by `api_key` (optional when the upgrade's Authorization header did)
        and sets `cancel_on_disconnect` when given."""
        _fields(message, {"api_key", "cancel_on_disconnect"})
        option = message.get("cancel_on_disconnect")
        if option is not None and not isinstance(option, bool):
            raise invalid("cancel_on_disconnect must be true or false",
                          "$.cancel_on_disconnect")
        if "api_key" in message or self.account is None:
            key = message.get("api_key")
            account = account_for(self.services.readmodel,
                                  key if isinstance(key, str) else None)
            if account is None:
                raise ApiError(401, "unauthorized", "missing or wrong API key")
            if self.account is not None and self.account is not account:
                raise ApiError(409, "conflict", "this connection is authenticated as another "
                                                "account")
            self.account = account
            self.subscriber.account_id = account.account_id
        if option is not None:
            self.cancel_on_disconnect = option
        self.outbox.put(_reply(op_id, {"type": "authenticated",
                                       "account_id": self.account.account_id,
                                       "cancel_on_disconnect": self.cancel_on_disconnect}))

    def _channels(self, message: dict[str, Any]) -> list[str]:
        _fields(message, {"channels"})
        channels = message.get("channels")
        if (not isinstance(channels, list) or not channels or len(channels) > MAX_CHANNELS
                or not all(isinstance(channel, str) for channel in channels)):
            raise invalid(f"channels must be a list of 1 to {MAX_CHANNELS} channel names",
                          "$.channels")
        return list(dict.fromkeys(channels))

    def _subscribe(self, op_id: Any, message: dict[str, Any]) -> None:
        channels = self._channels(message)
        try:
            for channel in channels:
                self.fanout.check(self.subscriber, channel)
        except ChannelError as exc:
            status = 401 if exc.code == "unauthorized" else 400
            raise ApiError(status, exc.code, exc.message) from None
        # The answer goes first; each book channel's snapshot follows it.
        self.outbox.put(_reply(op_id, {"type": "subscribed", "channels": channels}))
        for channel in channels:
            self.fanout.subscribe(self.subscriber, channel)

    def _unsubscribe(self, op_id: Any, message: dict[str, Any]) -> None:
        channels = self._channels(message)
        for channel in channels:
            self.fanout.unsubscribe(self.subscriber, channel)
        self.outbox.put(_reply(op_id, {"type": "unsubscribed", "channels": channels}))

    def _ping(self, op_id: Any, message: dict[str, Any]) -> None:
        _fields(message, set())
        self.outbox.put(_reply(op_id, {"type": "pong"}))

    def _place(self, op_id: Any, message: dict[str, Any]) -> None:
        _fields(message, {"order"})
        account = self._trader()
        body = validate(PlaceOrderBody, message.get("order"), "order")
        command = self.entry.place_command(account, body)
        if command.client_order_id is not None:
            # Idempotency may have to wait for an earlier attempt: that takes a task.
            assert self._nursery is not None
            self._started()
            self._nursery.start_soon(self._place_idempotent, op_id, account, command)
            return
        self._submit(op_id, command, lambda events: self._placed(account, events))

    def _cancel(self, op_id: Any, message: dict[str, Any]) -> None:
        _fields(message, {"order_id"})
        account = self._trader()

        def cancel(order: OrderView) -> None:
            command, _ = self.entry.cancel_command(account, order)
            self._submit(op_id, command,
                         lambda events: self.entry.changed_result(order, events))
        self._with_open_order(op_id, account, _order_id(message), cancel)

    def _amend(self, op_id: Any, message: dict[str, Any]) -> None:
        _fields(message, {"order_id", "quantity", "price"})
        account = self._trader()
        order_id = _order_id(message)
        body = validate(AmendOrderBody, {key: value for key, value in message.items()
                                         if key in ("quantity", "price")})

        def amend(order: OrderView) -> None:
            command, _ = self.entry.amend_command(account, order, body)
            self._submit(op_id, command,
                         lambda events: self.entry.changed_result(order, events))
        self._with_open_order(op_id, account, order_id, amend)

    def _with_open_order(self, op_id: Any, account: AccountView, order_id: int,
                         proceed: Callable[[OrderView], None]) -> None:
        """`proceed` with the account's open order at once when it is in memory (every
        open order is); else a task reads why it is not (a 404, 403 or 409) and answers."""
        order = self.entry.open_now(account, order_id)
        if order is not None:
            proceed(order)
            return
        assert self._nursery is not None
        self._started()
        self._nursery.start_soon(self._not_open, op_id, account, order_id, proceed)

    async def _not_open(self, op_id: Any, account: AccountView, order_id: int,
                        proceed: Callable[[OrderView], None]) -> None:
        try:
            order = await self.entry.open_order(account, order_id)
            if self.entry.readmodel.orders.get(order_id) is order:
                proceed(order)  # it became open in memory meanwhile
            else:  # open in the database but not yet in memory: acknowledged to no one
                self._answer(_error(op_id, ApiError(404, "not_found", f"no order {order_id}")))
        except ApiError as error:
            self._answer(_error(op_id, error))
        except PipelineError as exc:  # the database cannot be read just now
            self._answer(_error(op_id, pipeline_error(exc)))
        finally:
            self._finished()

    # -- ORDER ENTRY --

    def _placed(self, account: AccountView, events: list[AnyEvent]
                ) -> tuple[int, dict[str, Any]]:
        status, order = self.entry.place_result(account, events)
        self._record(order)
        return status, order

    def _trader(self) -> AccountView:
        account = self.account
        if account is None:
            raise ApiError(401, "unauthorized", "authenticate first (op auth)")
        self.entry.admit(account, {})
        return account

    def _answer(self, text: str) -> None:
        """Queues the answer to an order-entry op, after chaos mode's latency if any."""
        delay = self.services.chaos.latency()
        if delay and self._nursery is not None:
            self._nursery.start_soon(self._answer_later, delay, text)
        else:
            self.outbox.put(text)

    async def _answer_later(self, delay: float, text: str) -> None:
        await trio.sleep(delay)
        self.outbox.put(text)

    def _started(self) -> None:
        self.inflight += 1

    def _finished(self) -> None:
        self.inflight -= 1
        self._room.set()

    def _submit(self, op_id: Any, command: AnyCommand, result: Result) -> None:
        sequencer = self.services.engine()

        def answer(request: Request) -> None:
            self._finished()
            if request.error is not None:  # its deadline passed: withdrawn, or not durable
                self._answer(_error(op_id, pipeline_error(request.error)))
                return
            assert request.events is not None
            try:
                _, order = result(request.events)
            except ApiError as error:
                self._answer(_error(op_id, error))
            else:
                self._answer(_reply(op_id, {"type": "result", "order": order}))

        sequencer.submit(command, callback=answer, deadline=self.entry.timeout)
        self._started()

    async def _place_idempotent(self, op_id: Any, account: AccountView, command: PlaceOrder
                                ) -> None:
        # With cancel_on_disconnect, a client that leaves must not keep an order it placed:
        # the wait for the answer (bounded by the request deadline) outlives the connection.
        with trio.CancelScope(shield=self.cancel_on_disconnect):
            try:
                status, order = await self.entry.place_as(account, command)
            except ApiError as error:
                self._answer(_error(op_id, error))
            except PipelineError as exc:
                self._answer(_error(op_id, pipeline_error(exc)))
            else:
                if status == 201:  # placed now, not an earlier order answered again
                    self._record(order)
                self._answer(_reply(op_id, {"type": "result", "order": order}))
            finally:
                self._finished()


def _heartbeat() -> str:
    return _text({**_HEARTBEAT, "ts": time_us(time.time_ns() // 1000)})


def _fields(message: dict[str, Any], allowed: set[str]) -> None:
    for key in message:
        if key not in allowed and key not in ("op", "id"):
            raise invalid(f"unknown field {key!r}", f"$.{key}")


def _order_id(message: dict[str, Any]) -> int:
    order_id = message.get("order_id")
    if isinstance(order_id, bool) or not isinstance(order_id, int) or not 0 < order_id < 2**62:
        raise invalid("order_id must be a positive integer", "$.order_id")
    return order_id


_OPS: dict[str, Callable[[Connection, Any, dict[str, Any]], None]] = {
    "auth": Connection._auth,
    "subscribe": Connection._subscribe,
    "unsubscribe": Connection._unsubscribe,
    "ping": Connection._ping,
    "place": Connection._place,
    "cancel": Connection._cancel,
    "amend": Connection._amend,
}
