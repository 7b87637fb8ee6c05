"""Binance's WebSocket market streams at `/ws`, `/ws/<streams>` and `/stream?streams=a/b`.

A connection is a fan-out `Subscriber` with an outbox, like one of `/v1/ws`, but every
message goes out in a frame of its own (Binance clients read one JSON object a frame). A
`/ws/<name>` path subscribes to its streams (separated by `/`) at connect; a name that is
no stream (ccxt opens `/ws/0`, `/ws/1`, ...) subscribes to nothing. Control messages:
`{"method": "SUBSCRIBE" | "UNSUBSCRIBE", "params": [...], "id": n}` answer
`{"result": null, "id": n}`, `LIST_SUBSCRIPTIONS` the streams; a bad one
`{"error": {"code": 2, "msg": ...}, "id": n}`. Pings are answered by the server (a
WebSocket control frame). A consumer that falls behind is closed with 4008, as on `/v1/ws`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any
from urllib.parse import parse_qs

import msgspec
import trio

from exchange.binance.streams import COMBINED, RAW, BinanceStreams
from exchange.web.app import Services
from exchange.web.edge import WEBSOCKET, Route
from exchange.web.fanout import ChannelError, Subscriber
from exchange.web.outbox import Outbox

log = logging.getLogger("exchange.web")

MAX_STREAMS = 1024  # Binance's limit per connection
_encode = msgspec.json.encode
_decode = msgspec.json.Decoder()


def routes(services: Services) -> list[Route]:
    """The edge's entries for the streams."""
    streams = BinanceStreams(services.fanout)

    async def raw(scope: Any, receive: Any, send: Any, params: dict[str, Any]) -> None:
        names = params.get("streams", "")
        await _serve(services, streams, RAW, [n for n in names.split("/") if n], receive,
                     send)

    async def combined(scope: Any, receive: Any, send: Any, _: dict[str, Any]) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        names = [n for value in query.get("streams", []) for n in value.split("/") if n]
        await _serve(services, streams, COMBINED, names, receive, send)

    return [Route(WEBSOCKET, "", "/ws", raw), Route(WEBSOCKET, "", "/ws/<path:streams>", raw),
            Route(WEBSOCKET, "", "/stream", combined)]


async def _serve(services: Services, streams: BinanceStreams, prefix: str, names: list[str],
                 receive: Any, send: Any) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    settings = services.settings
    fanout = services.fanout
    subscriber = Subscriber(Outbox(settings.ws_outbox_bytes, settings.ws_outbox_max_age))
    fanout.attach(subscriber)
    connection = _Connection(fanout, subscriber, prefix)
    for name in names[:MAX_STREAMS]:
        with contextlib.suppress(ChannelError):  # `/ws/0` and the like: a name, no stream
            connection.subscribe(name)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(connection.write, send, nursery.cancel_scope)
            await connection.read(receive)
            nursery.cancel_scope.cancel()
    finally:
        fanout.detach(subscriber)


class _Connection:
    def __init__(self, fanout: Any, subscriber: Subscriber, prefix: str) -> None:
        self.fanout = fanout
        self.subscriber = subscriber
        self.prefix = prefix

    def subscribe(self, name: str) -> None:
        channel = f"{self.prefix}:{name}"
        self.fanout.check(self.subscriber, channel)
        self.fanout.subscribe(self.subscriber, channel)

    def streams(self) -> list[str]:
        cut = len(self.prefix) + 1
        return sorted(channel[cut:] for channel in self.subscriber.channels)

    async def read(self, receive: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text") or message.get("bytes") or ""
            self.subscriber.outbox.put(self.control(data))

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
        except (ValueError, msgspec.DecodeError, ChannelError) as exc:
            text = exc.message if isinstance(exc, ChannelError) else str(exc)
            return _encode({"error": {"code": 2, "msg": text[:200]},
                            "id": request_id}).decode()

    async def write(self, send: Any, scope: trio.CancelScope) -> None:
        outbox = self.subscriber.outbox
        try:
            while True:
                await outbox.wait()
                text = outbox.take_one()
                if text is None:  # closed and empty
                    await send({"type": "websocket.close", "code": outbox.close_code or 1000,
                                "reason": outbox.close_reason})
                    return
                outbox.sending = True
                try:
                    await send({"type": "websocket.send", "text": text})
                finally:
                    outbox.sending = False
        except Exception:  # the peer went away mid-send
            log.debug("a Binance stream connection ended while sending", exc_info=True)
        finally:
            scope.cancel()
