"""Binance's legacy user data stream: a listenKey from `POST /api/v3/userDataStream`, the
account's events on `/ws/<listenKey>`.

The three routes take the `X-MBX-APIKEY` header only (no signature), as Binance's:

- `POST` answers `{"listenKey"}`: the API key's live listenKey if it has one (Binance gives
  an account's active key again, python-binance's keep-alive relies on it), else a new one
  (64 letters and digits); either way it lives `listen_key_seconds` (3600) from now.
- `PUT` (`listenKey`, in the query or the body) extends it by as much; `DELETE` closes it
  and its connections (1000). A key that is not live, or is another API key's, is
  `-1125 This listenKey does not exist.`

A `/ws/<listenKey>` connection (`exchange.binance.ws`) is a raw market-stream connection
(it may `SUBSCRIBE` to streams too) that also gets the account's `executionReport`,
`outboundAccountPosition` and `balanceUpdate` events unwrapped: the `ul:<account_id>`
channel that `UserStreams` renders beside the WebSocket API's wrapped `ub:` one, through
the same fan-out and bounded outbox (4008 when it falls behind). A name of the listenKey
form that is not live closes the connection at once (1008), so that a client whose key
was lost makes a new one. A key not kept alive expires: its connections get
`{"e": "listenKeyExpired", "E", "listenKey"}` and close (1000). Revoking the API key ends
its listenKeys and their connections (1008).

The keys live in this process's memory only: a restart invalidates them (clients make a
new one when a keep-alive or connection fails, as they do against Binance).
"""

from __future__ import annotations

import re
import secrets
import string
import time
from collections.abc import Callable

import msgspec
import trio
from quart import Response, g, request
from quart_trio import QuartTrio

from exchange.binance.errors import BinanceError, missing
from exchange.binance.signing import KEY_HEADER, api_key_of, parameters
from exchange.binance.user import LISTEN
from exchange.pipeline.keyring import ApiKey, KeyRing
from exchange.web.app import Services, json_response, request_body
from exchange.web.fanout import Fanout, Subscriber

PATH = "/api/v3/userDataStream"
UNKNOWN = "This listenKey does not exist."
CLOSED, POLICY = 1000, 1008
_ALPHABET = string.ascii_letters + string.digits
_FORM = re.compile(r"^[A-Za-z0-9]{64}$")  # what `start` makes
_encode = msgspec.json.encode


class Listening:
    """One live listenKey: whose it is, until when, and the connections on it."""

    __slots__ = ("account_id", "api_key", "expires", "listen_key", "sockets")

    def __init__(self, listen_key: str, key: ApiKey, expires: float) -> None:
        self.listen_key = listen_key
        self.api_key = key.api_key
        self.account_id = key.account_id
        self.expires = expires  # on the registry's clock
        self.sockets: set[Subscriber] = set()


class ListenKeys:
    """The live listenKeys, in memory (see the module docstring), on Trio's clock (the one
    the watchers sleep on: a test's mock clock runs an hour at once); `seconds` is the
    `listen_key_seconds` setting."""

    def __init__(self, keys: KeyRing, fanout: Fanout, seconds: float,
                 clock: Callable[[], float] = trio.current_time) -> None:
        self.fanout = fanout
        self.seconds = seconds
        self.clock = clock
        self.live: dict[str, Listening] = {}  # listenKey -> it
        self._of_key: dict[str, Listening] = {}  # API key -> its listenKey
        keys.on_revoke.append(self._revoked)

    # -- THE REST ROUTES --

    def start(self, key: ApiKey) -> str:
        """The API key's live listenKey (made if it has none), good for `seconds` more."""
        now = self.clock()
        self._sweep(now)
        listening = self._of_key.get(key.api_key)
        if listening is None:
            listen_key = "".join(secrets.choice(_ALPHABET) for _ in range(64))
            listening = self.live[listen_key] = self._of_key[key.api_key] = Listening(
                listen_key, key, now)
        listening.expires = now + self.seconds
        return listening.listen_key

    def keep_alive(self, key: ApiKey, listen_key: str) -> None:
        self._own(key, listen_key).expires = self.clock() + self.seconds

    def close(self, key: ApiKey, listen_key: str) -> None:
        self._end(self._own(key, listen_key), CLOSED, "listenKey closed")

    def _own(self, key: ApiKey, listen_key: str) -> Listening:
        """The API key's live listenKey `listen_key`, or -1125."""
        listening = self._live(listen_key)
        if listening is None or listening.api_key != key.api_key:
            raise BinanceError(400, -1125, UNKNOWN)
        return listening

    def _live(self, listen_key: str) -> Listening | None:
        """`listen_key` if it is live (one found due is expired now: its watcher may not
        have woken yet)."""
        listening = self.live.get(listen_key)
        if listening is not None and listening.expires <= self.clock():
            self._expire(listening)
            return None
        return listening

    # -- THE CONNECTIONS (`exchange.binance.ws`) --

    @staticmethod
    def is_key(name: str) -> bool:
        """Whether a `/ws/<name>` part has the form of a listenKey (no stream has it)."""
        return _FORM.match(name) is not None

    def attach(self, listen_key: str, subscriber: Subscriber) -> Listening | None:
        """Subscribes the connection to the account of the live `listen_key`; None (and the
        connection closes with 1008) if it is not live, or None if the connection is on it
        already (`/ws/KEY/KEY`: one watch, undone by the one `detach`)."""
        listening = self._live(listen_key)
        if listening is None:
            subscriber.outbox.close(POLICY, UNKNOWN)
            return None
        if subscriber in listening.sockets:
            return None
        fanout = self.fanout
        fanout.subscribe(subscriber, f"{LISTEN}:{listening.account_id}")
        fanout.watch(listening.account_id)
        listening.sockets.add(subscriber)
        return listening

    def detach(self, subscriber: Subscriber, listening: Listening) -> None:
        """The connection ended (or its key did)."""
        if subscriber not in listening.sockets:
            return
        listening.sockets.discard(subscriber)
        account_id = listening.account_id
        self.fanout.watch(account_id, -1)
        if not any(subscriber in other.sockets for other in self.live.values()
                   if other.account_id == account_id):  # not on another of its keys
            self.fanout.unsubscribe(subscriber, f"{LISTEN}:{account_id}")

    async def watch(self, listening: Listening) -> None:
        """Runs beside a connection on `listening`: expires the key when it is due (a
        keep-alive moves the time on; a key already ended returns)."""
        while self.live.get(listening.listen_key) is listening:
            left = listening.expires - self.clock()
            if left <= 0:
                self._expire(listening)
                return
            await trio.sleep(left)

    # -- ENDINGS --

    def _expire(self, listening: Listening) -> None:
        event = _encode({"e": "listenKeyExpired", "E": time.time_ns() // 1_000_000,
                         "listenKey": listening.listen_key}).decode()
        self._end(listening, CLOSED, "listenKey expired", event)

    def _end(self, listening: Listening, code: int, reason: str,
             last: str | None = None) -> None:
        """Forgets the key; its connections get `last` (if any), then close."""
        if self.live.get(listening.listen_key) is listening:
            del self.live[listening.listen_key]
            del self._of_key[listening.api_key]
        for subscriber in list(listening.sockets):
            self.detach(subscriber, listening)
            if last is not None:
                subscriber.outbox.put(last)
            subscriber.outbox.close(code, reason)

    def _revoked(self, key: ApiKey) -> None:
        listening = self._of_key.get(key.api_key)
        if listening is not None:
            self._end(listening, POLICY, "the API key was revoked")

    def _sweep(self, now: float) -> None:
        """Ends the keys that expired unwatched (a watched one ends on its own)."""
        for listening in [one for one in self.live.values() if one.expires <= now]:
            self._expire(listening)


def register(app: QuartTrio, services: Services) -> None:
    """`POST`, `PUT` and `DELETE /api/v3/userDataStream`."""

    def key() -> ApiKey:
        found = api_key_of(services.keys, request.headers.get(KEY_HEADER))
        g.binance_account = found.account_id  # for the order-count headers
        return found

    async def named(action: Callable[[ApiKey, str], None]) -> Response:
        api_key = key()  # a bad key is refused before anything is read
        given = parameters(request.query_string, await request_body())
        listen_key = given.get("listenKey")
        if not listen_key:
            raise missing("listenKey")
        action(api_key, listen_key)
        return json_response({})

    @app.post(PATH)
    async def binance_listen_key() -> Response:
        return json_response({"listenKey": services.listen_keys.start(key())})

    @app.put(PATH)
    async def binance_keep_alive() -> Response:
        return await named(services.listen_keys.keep_alive)

    @app.delete(PATH)
    async def binance_close_listen_key() -> Response:
        return await named(services.listen_keys.close)

