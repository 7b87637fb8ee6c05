"""Binance's WebSocket market streams at `/ws`, `/ws/<streams>` and `/stream?streams=a/b`.

A connection is a fan-out `Subscriber` with an outbox, like one of `/v1/ws`, but every
message goes out in a frame of its own (Binance clients read one JSON object a frame). A
`/ws/<name>` path subscribes to its streams (separated by `/`) at connect; a name that is
no stream (ccxt opens `/ws/0`, `/ws/1`, ...) subscribes to nothing; a listenKey
(`/ws/<listenKey>`) to its account's user data (`exchange.binance.listenkey`). Control messages:
`{"method": "SUBSCRIBE" | "UNSUBSCRIBE", "params": [...], "id": n}` answer
`{"result": null, "id": n}`, `LIST_SUBSCRIPTIONS` the streams; a bad one
`{"error": {"code": 2, "msg": ...}, "id": n}`. Pings are answered by the server (a
WebSocket control frame). A consumer that falls behind is closed with 4008, as on `/v1/ws`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import msgspec
import trio

from exchange.binance.errors import BinanceError, envelope
from exchange.binance.orders import BinanceOrders, refused
from exchange.binance.replace import amend_keep_priority, cancel_replace
from exchange.binance.rest import account_info
from exchange.binance.streams import COMBINED, RAW, BinanceStreams
from exchange.binance.user import PREFIX as USER
from exchange.binance.user import UserStreams, verify_ws
from exchange.engine.commands import AnyCommand
from exchange.engine.events import AnyEvent
from exchange.pipeline.sequencer import Request
from exchange.web.app import Services
from exchange.web.edge import WEBSOCKET, Route
from exchange.web.errors import ApiError, PipelineError, pipeline_error
from exchange.web.fanout import ChannelError, Subscriber
from exchange.web.frames import TEXTS, FrameReader, FrameWriter
from exchange.web.outbox import GOING_AWAY, Outbox

log = logging.getLogger("exchange.web")

MAX_STREAMS = 1024  # Binance's limit per connection
MAX_INFLIGHT = 256  # signed requests in flight per connection before reading pauses (/v1/ws's)
WRITE_MESSAGES = 256  # messages (a frame each) written together at most
# The WebSocket API's methods signed in their params, answered by a task each.
_SIGNED = ("order.place", "order.cancel", "order.status", "openOrders.status",
           "account.status", "order.cancelReplace", "order.amend.keepPriority")
_encode = msgspec.json.encode
_decode = msgspec.json.Decoder()


def _failure(request_id: Any, error: ApiError) -> dict[str, Any]:
    """A refused request's answer, in Binance's envelope."""
    status, body, _ = envelope(error)
    return {"id": request_id, "status": status, "error": _decode.decode(body)}


def routes(services: Services) -> list[Route]:
    """The edge's entries for the streams and the WebSocket API."""
    BinanceStreams(services.fanout)
    UserStreams(services.fanout)
    sockets: set[Subscriber] = set()
    stopping: list[bool] = []

    def shutdown() -> None:
        """With the server's other WebSockets: each sends what it has, then 1001."""
        stopping.append(True)
        for subscriber in list(sockets):
            subscriber.outbox.close(GOING_AWAY, "server shutting down")

    services.websockets.on_shutdown.append(shutdown)

    async def _serve(prefix: str, names: list[str], receive: Any, send: Any) -> None:
        if stopping:
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": GOING_AWAY})
            return
        await serve(services, prefix, names, receive, send, sockets)

    async def raw(scope: Any, receive: Any, send: Any, params: dict[str, Any]) -> None:
        names = params.get("streams", "")
        await _serve(RAW, [n for n in names.split("/") if n], receive, send)

    async def combined(scope: Any, receive: Any, send: Any, _: dict[str, Any]) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        names = [n for value in query.get("streams", []) for n in value.split("/") if n]
        await _serve(COMBINED, names, receive, send)

    async def api(scope: Any, receive: Any, send: Any, _: dict[str, Any]) -> None:
        await _serve(USER, [], receive, send)

    return [Route(WEBSOCKET, "", "/ws", raw), Route(WEBSOCKET, "", "/ws/<path:streams>", raw),
            Route(WEBSOCKET, "", "/stream", combined),
            Route(WEBSOCKET, "", "/ws-api/v3", api)]


async def serve(services: Services, prefix: str, names: list[str], receive: Any, send: Any,
                sockets: set[Subscriber]) -> None:
    """One connection (`prefix`: raw, combined or the WebSocket API)."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    settings = services.settings
    # At once after the accept: before hypercorn hands wsproto any of the client's frames.
    FrameReader(send, settings.max_ws_message_bytes)
    fanout = services.fanout
    subscriber = Subscriber(Outbox(settings.ws_outbox_bytes, settings.ws_outbox_max_age),
                            dialect=prefix)
    fanout.attach(subscriber)
    sockets.add(subscriber)
    connection = _Connection(fanout, subscriber, prefix, services)
    listen_keys = services.listen_keys
    listening = []  # the listenKeys among the names (`/ws/<listenKey>`)
    for name in names[:MAX_STREAMS]:
        if prefix == RAW and listen_keys.is_key(name):
            found = listen_keys.attach(name, subscriber)
            if found is not None:
                listening.append(found)
            continue
        with contextlib.suppress(ChannelError):  # `/ws/0` and the like: a name, no stream
            connection.subscribe(name)
    try:
        async with trio.open_nursery() as nursery:
            connection.nursery = nursery
            nursery.start_soon(connection.write, send, nursery.cancel_scope)
            for found in listening:
                nursery.start_soon(listen_keys.watch, found)
            await connection.read(receive)
            nursery.cancel_scope.cancel()
    finally:
        sockets.discard(subscriber)
        for found in listening:
            listen_keys.detach(subscriber, found)
        fanout.detach(subscriber)
        if connection.account_id is not None:
            fanout.watch(connection.account_id, -1)


class _Connection:
    def __init__(self, fanout: Any, subscriber: Subscriber, prefix: str, services: Services
                 ) -> None:
        self.fanout = fanout
        self.subscriber = subscriber
        self.prefix = prefix
        self.services = services
        self.keys = services.keys
        self.account_id: int | None = None  # the WebSocket API's, once subscribed
        self.nursery: trio.Nursery | None = None
        self._orders: BinanceOrders | None = None
        self.inflight = 0  # signed requests not answered yet
        self._room = trio.Event()

    @property
    def orders(self) -> BinanceOrders:
        if self._orders is None:
            self._orders = BinanceOrders(self.services)
        return self._orders

    def subscribe(self, name: str) -> None:
        channel = f"{self.prefix}:{name}"
        self.fanout.check(self.subscriber, channel)
        self.fanout.subscribe(self.subscriber, channel)

    def streams(self) -> list[str]:
        own = self.prefix + ":"  # not a listenKey's user data
        return sorted(channel[len(own):] for channel in self.subscriber.channels
                      if channel.startswith(own))

    async def read(self, receive: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            texts = message.get(TEXTS)  # several frames' texts at once (FrameReader)
            for data in texts or (message.get("text") or message.get("bytes") or "",):
                answer = self.request(data) if self.prefix == USER else self.control(data)
                if answer is not None:  # else a callback or a task answers it
                    self.subscriber.outbox.put(answer)
            # Checked after each read, which is at most one chunk of frames (64 KiB).
            while self.inflight >= MAX_INFLIGHT:  # frames stay unread: TCP backpressure
                self._room = trio.Event()
                await self._room.wait()

    def request(self, data: str | bytes) -> str | None:
        """The WebSocket API's answer to one request (None: a callback or a task answers
        it: order entry and the account's reads, signed in their `params`, as Binance's)."""
        request_id: Any = None
        try:
            request = _decode.decode(data)
            if not isinstance(request, dict):
                raise BinanceError(400, -1100, "a request is a JSON object")
            request_id = request.get("id")
            method, params = request.get("method"), request.get("params", {})
            if not isinstance(params, dict):
                raise BinanceError(400, -1100, "params must be an object")
            if method == "ping":
                result: Any = {}
            elif method == "time":
                result = {"serverTime": time.time_ns() // 1_000_000}
            elif method == "userDataStream.subscribe.signature":
                account_id = verify_ws(self.keys, params, time.time_ns() // 1_000_000)
                if self.account_id is None:
                    channel = f"{USER}:{account_id}"
                    self.fanout.check(self.subscriber, channel)
                    self.fanout.subscribe(self.subscriber, channel)
                    self.fanout.watch(account_id)
                    self.account_id = account_id
                result = {"subscriptionId": 0}
            elif method in _SIGNED:
                account_id = verify_ws(self.keys, params, time.time_ns() // 1_000_000)
                given = {name: str(value).lower() if isinstance(value, bool) else str(value)
                         for name, value in params.items()}
                return self._signed(request_id, method, account_id, given)
            elif method == "userDataStream.unsubscribe":
                if self.account_id is not None:
                    self.fanout.unsubscribe(self.subscriber, f"{USER}:{self.account_id}")
                    self.fanout.watch(self.account_id, -1)
                    self.account_id = None
                result = {}
            else:
                raise BinanceError(400, -1100, f"unknown method {str(method)[:40]!r}")
            return _encode({"id": request_id, "status": 200, "result": result}).decode()
        except (msgspec.DecodeError, RecursionError):
            error = BinanceError(400, -1100, "the request is not JSON, or nested too deeply")
        except BinanceError as exc:
            error = exc
        return _encode({"id": request_id, "status": error.status, "error": {
            "code": error.binance_code, "msg": error.message}}).decode()

    def control(self, data: str | bytes) -> str:
        """The answer to one control message."""
        request_id = None
        try:
            request = _decode.decode(data)
            if not isinstance(request, dict):
                raise ValueError("a control message is a JSON object")
            request_id = request.get("id")
            method, params = request.get("method"), request.get("params", [])
            if method == "LIST_SUBSCRIPTIONS":
                return _encode({"result": self.streams(), "id": request_id}).decode()
            if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
                raise ValueError(f"Invalid request: unknown method {str(method)[:32]!r}")
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                raise ValueError("Invalid request: params must be a list of stream names")
            for name in params:
                if method == "SUBSCRIBE":
                    if len(self.subscriber.channels) >= MAX_STREAMS:
                        raise ValueError("Invalid request: too many streams")
                    self.subscribe(name)
                else:
                    self.fanout.unsubscribe(self.subscriber, f"{self.prefix}:{name}")
            return _encode({"result": None, "id": request_id}).decode()
        except RecursionError:
            return _encode({"error": {"code": 2, "msg": "the message is nested too deeply"},
                            "id": request_id}).decode()
        except (ValueError, msgspec.DecodeError, ChannelError) as exc:
            text = exc.message if isinstance(exc, ChannelError) else str(exc)
            return _encode({"error": {"code": 2, "msg": text[:200]},
                            "id": request_id}).decode()

    def _signed(self, request_id: Any, method: str, account_id: int, given: dict[str, str]
                ) -> str | None:
        """Starts a signed request; its answer now if it is refused at once, else None.

        A placement without a client order id, and a cancel of an order open in memory,
        go to the sequencer with a callback, as `/v1/ws` order entry does (no task each:
        that is the fast order-entry path); the rest may wait (for an earlier attempt with
        the same client order id, for the database) and take a task each."""
        account = self.services.readmodel.accounts[account_id]
        orders = self.orders
        entry = orders.entry
        try:
            try:
                if method == "order.place":
                    inst, command = orders.place_command(account, given, {})
                    if command.client_order_id is None:
                        self._submit(request_id, command, lambda events: orders.placed_answer(
                            account, inst, events, given))
                        return None
                    self._task(request_id, lambda: orders.place_as(account, inst, command,
                                                                   given))
                    return None
                if method == "order.cancel":
                    order = orders.open_now(account, given)
                    if order is None:
                        self._task(request_id, lambda: orders.cancel(account, given, {}))
                        return None
                    try:
                        entry.admit(account, {})
                    except ApiError as error:
                        raise refused(error) from None
                    cancel, _ = entry.cancel_command(account, order)
                    self._submit(request_id, cancel,
                                 lambda events: orders.cancelled_body(
                                     order, events, given.get("newClientOrderId")))
                    return None
                if method == "order.status":
                    self._task(request_id, lambda: orders.status(account, given))
                    return None
                if method == "order.cancelReplace":
                    self._task(request_id, lambda: cancel_replace(orders, account, given, {}))
                    return None
                if method == "order.amend.keepPriority":
                    self._task(request_id,
                               lambda: amend_keep_priority(orders, account, given, {}))
                    return None
            except PipelineError as exc:
                raise pipeline_error(exc) from None
        except ApiError as error:
            return _encode(_failure(request_id, error)).decode()
        if method == "openOrders.status":
            result: Any = orders.open_orders(account, given)
        else:  # account.status
            result = account_info(account, self.services)
        return _encode({"id": request_id, "status": 200, "result": result}).decode()

    def _submit(self, request_id: Any, command: AnyCommand,
                result: Callable[[list[AnyEvent]], Any]) -> None:
        """Queues `command`; its callback answers with `result(events)` once durable."""

        def answer(request: Request) -> None:
            self._finished()
            try:
                if request.error is not None:  # its deadline passed: withdrawn, not durable
                    raise pipeline_error(request.error)
                assert request.events is not None
                out = {"id": request_id, "status": 200, "result": result(request.events)}
            except ApiError as error:
                out = _failure(request_id, error)
            self.subscriber.outbox.put(_encode(out).decode())

        self.services.engine().submit(command, callback=answer,
                                      deadline=self.orders.entry.timeout)
        self._started()

    def _task(self, request_id: Any, work: Callable[[], Awaitable[Any]]) -> None:
        """Answers with what `work` returns, in a task of its own."""
        assert self.nursery is not None
        self._started()
        self.nursery.start_soon(self._answer, request_id, work)

    async def _answer(self, request_id: Any, work: Callable[[], Awaitable[Any]]) -> None:
        try:
            try:
                out = {"id": request_id, "status": 200, "result": await work()}
            except PipelineError as exc:
                raise pipeline_error(exc) from None
        except ApiError as error:
            out = _failure(request_id, error)
        finally:
            self._finished()
        self.subscriber.outbox.put(_encode(out).decode())

    def _started(self) -> None:
        self.inflight += 1

    def _finished(self) -> None:
        self.inflight -= 1
        self._room.set()

    async def write(self, send: Any, scope: trio.CancelScope) -> None:
        """Sends what is queued, a frame a message (Binance's clients read one message a
        frame), every message queued so far in one write (`FrameWriter.send_texts`): a
        frame through ASGI costs hypercorn far more than the system call."""
        outbox = self.subscriber.outbox
        writer = FrameWriter(send)
        try:
            while True:
                await outbox.wait()
                texts: list[str] = []
                while len(texts) < WRITE_MESSAGES:
                    text = outbox.take_one()
                    if text is None:
                        break
                    texts.append(text)
                if not texts:  # closed and empty
                    await send({"type": "websocket.close", "code": outbox.close_code or 1000,
                                "reason": outbox.close_reason})
                    return
                outbox.sending = True
                try:
                    await writer.send_texts(texts)
                finally:
                    outbox.sending = False
        except Exception:  # the peer went away mid-send
            log.debug("a Binance stream connection ended while sending", exc_info=True)
        finally:
            scope.cancel()
