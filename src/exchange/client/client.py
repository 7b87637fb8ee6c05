"""`ExchangeClient`: one method per route of the REST contract."""

from __future__ import annotations

from decimal import Decimal
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx

Json = dict[str, Any]
Number = str | Decimal | int


class ExchangeError(Exception):
    """The server refused a request; `code` is the contract's error code."""

    def __init__(self, status: int, code: str, message: str,
                 details: list[Json] | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.retry_after = retry_after


def _num(value: Number | None) -> str | None:
    return None if value is None else str(value)


class ExchangeClient:
    """A client for one server. Pass `api_key` for trading routes and `admin_token` for
    admin routes; `with_key` gives a client for another account sharing the connections."""

    def __init__(self, base_url: str, *, api_key: str | None = None,
                 admin_token: str | None = None, timeout: float = 30.0,
                 http: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.admin_token = admin_token
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        )

    def with_key(self, api_key: str) -> ExchangeClient:
        return ExchangeClient(self.base_url, api_key=api_key, admin_token=self.admin_token,
                              http=self.http)

    async def __aenter__(self) -> ExchangeClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    # -- TRANSPORT --

    async def request(self, method: str, path: str, *, json: Any = None,
                      params: dict[str, Any] | None = None,
                      auth: Literal["key", "admin", "none"] = "key") -> Any:
        """Sends one request and returns the decoded JSON, or raises `ExchangeError`."""
        headers = {}
        token = self.api_key if auth == "key" else self.admin_token if auth == "admin" else None
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if params:
            params = {name: value for name, value in params.items() if value is not None}
        response = await self.http.request(method, path, json=json, params=params,
                                           headers=headers)
        if response.status_code >= 400:
            raise self._error(response)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    async def _object(self, method: str, path: str, **kwargs: Any) -> Json:
        result: Json = await self.request(method, path, **kwargs)
        return result

    async def _array(self, method: str, path: str, **kwargs: Any) -> list[Json]:
        result: list[Json] = await self.request(method, path, **kwargs)
        return result

    @staticmethod
    def _error(response: httpx.Response) -> ExchangeError:
        retry = response.headers.get("retry-after")
        try:
            error = response.json()["error"]
            code, message, details = error["code"], error["message"], error.get("details")
        except (ValueError, KeyError, TypeError):
            code, message, details = "http_error", response.text[:200], None
        return ExchangeError(response.status_code, code, message, details,
                             float(retry) if retry else None)

    # -- MARKET DATA --

    async def instruments(self) -> list[Json]:
        return await self._array("GET", "/v1/instruments", auth="none")

    async def instrument(self, symbol: str) -> Json:
        return await self._object("GET", f"/v1/instruments/{symbol}", auth="none")

    async def book(self, symbol: str, depth: int | None = None) -> Json:
        return await self._object("GET", f"/v1/instruments/{symbol}/book",
                                  params={"depth": depth}, auth="none")

    async def trades(self, symbol: str, *, limit: int | None = None,
                     before: int | None = None, after: int | None = None,
                     start_time: str | None = None, end_time: str | None = None
                     ) -> list[Json]:
        return await self._array("GET", f"/v1/instruments/{symbol}/trades", params={
            "limit": limit, "before": before, "after": after, "start_time": start_time,
            "end_time": end_time,
        }, auth="none")

    async def ticker(self, symbol: str) -> Json:
        return await self._object("GET", f"/v1/instruments/{symbol}/ticker", auth="none")

    async def candles(self, symbol: str, interval: str = "1m", *, start: str | None = None,
                      end: str | None = None, limit: int | None = None) -> list[Json]:
        return await self._array(
            "GET", f"/v1/instruments/{symbol}/candles", auth="none",
            params={"interval": interval, "start": start, "end": end, "limit": limit},
        )

    # -- ORDERS --

    async def place_order(
        self, symbol: str, side: str, type: str = "limit", *,
        quantity: Number | None = None, price: Number | None = None,
        stop_price: Number | None = None, quote_quantity: Number | None = None,
        time_in_force: str | None = None, expire_time: str | None = None,
        post_only: bool | None = None, self_trade_prevention: str | None = None,
        client_order_id: str | None = None, take_profit_price: Number | None = None,
        stop_loss_price: Number | None = None,
    ) -> Json:
        body: Json = {"symbol": symbol, "side": side, "type": type}
        optional: Json = {
            "quantity": _num(quantity), "price": _num(price), "stop_price": _num(stop_price),
            "quote_quantity": _num(quote_quantity), "time_in_force": time_in_force,
            "expire_time": expire_time, "post_only": post_only,
            "self_trade_prevention": self_trade_prevention,
            "client_order_id": client_order_id,
            "take_profit_price": _num(take_profit_price),
            "stop_loss_price": _num(stop_loss_price),
        }
        body.update({name: value for name, value in optional.items() if value is not None})
        return await self._object("POST", "/v1/orders", json=body)

    async def orders(self, *, symbol: str | None = None, status: str | None = None,
                     limit: int | None = None, before: int | None = None,
                     after: int | None = None, start_time: str | None = None,
                     end_time: str | None = None) -> list[Json]:
        return await self._array("GET", "/v1/orders", params={
            "symbol": symbol, "status": status, "limit": limit, "before": before,
            "after": after, "start_time": start_time, "end_time": end_time,
        })

    async def order(self, order_id: int) -> Json:
        return await self._object("GET", f"/v1/orders/{order_id}")

    async def order_by_client_id(self, client_order_id: str) -> Json:
        path = "/v1/orders/by-client-id/" + quote(client_order_id, safe="")  # "/" is %2F
        return await self._object("GET", path)

    async def cancel_order(self, order_id: int) -> Json:
        return await self._object("DELETE", f"/v1/orders/{order_id}")

    async def cancel_all(self, symbol: str | None = None) -> list[int]:
        result = await self._object("DELETE", "/v1/orders", params={"symbol": symbol})
        cancelled: list[int] = result["cancelled"]
        return cancelled

    async def cancel_after(self, timeout_s: int) -> Json:
        """Arms or refreshes the dead-man switch (0 disarms it)."""
        return await self._object("POST", "/v1/orders/cancel-after",
                                  json={"timeout_s": timeout_s})

    async def amend_order(self, order_id: int, *, quantity: Number | None = None,
                          price: Number | None = None) -> Json:
        body = {name: _num(value) for name, value in (("quantity", quantity), ("price", price))
                if value is not None}
        return await self._object("PATCH", f"/v1/orders/{order_id}", json=body)

    async def fills(self, *, symbol: str | None = None, order_id: int | None = None,
                    limit: int | None = None, before: int | None = None,
                    after: int | None = None, start_time: str | None = None,
                    end_time: str | None = None) -> list[Json]:
        return await self._array("GET", "/v1/fills", params={
            "symbol": symbol, "order_id": order_id, "limit": limit, "before": before,
            "after": after, "start_time": start_time, "end_time": end_time,
        })

    # -- ACCOUNT --

    async def account(self) -> Json:
        return await self._object("GET", "/v1/account")

    async def positions(self) -> list[Json]:
        return await self._array("GET", "/v1/positions")

    # -- ADMIN --

    async def create_account(self, name: str) -> Json:
        return await self._object("POST", "/v1/admin/accounts", json={"name": name},
                                  auth="admin")

    async def deposit(self, account_id: int, asset: str, amount: Number,
                      deposit_id: str | None = None) -> Json:
        body: Json = {"asset": asset, "amount": str(amount)}
        if deposit_id is not None:
            body["deposit_id"] = deposit_id
        return await self._object(
            "POST", f"/v1/admin/accounts/{account_id}/deposits", json=body, auth="admin"
        )

    async def create_instrument(self, symbol: str, base: str, quote: str, *,
                                tick_size: Number, lot_size: Number,
                                min_quantity: Number | None = None,
                                maker_fee_rate: Number | None = None,
                                taker_fee_rate: Number | None = None,
                                min_notional: Number | None = None,
                                max_quantity: Number | None = None) -> Json:
        body: Json = {"symbol": symbol, "base": base, "quote": quote,
                      "tick_size": str(tick_size), "lot_size": str(lot_size)}
        for name, value in (("min_quantity", min_quantity), ("maker_fee_rate", maker_fee_rate),
                            ("taker_fee_rate", taker_fee_rate), ("min_notional", min_notional),
                            ("max_quantity", max_quantity)):
            if value is not None:
                body[name] = str(value)
        return await self._object("POST", "/v1/admin/instruments", json=body, auth="admin")

    async def set_instrument_status(self, symbol: str, status: str) -> Json:
        return await self._object(
            "PATCH", f"/v1/admin/instruments/{symbol}", json={"status": status}, auth="admin"
        )

    # -- COMPETITIONS --

    async def start_round(self, name: str, starting_balances: dict[str, Number], *,
                          accounts: list[int] | None = None, start: str | None = None,
                          end: str | None = None) -> Json:
        """Starts a round for `accounts` (None: every account but house ones)."""
        body: Json = {"name": name, "accounts": "all" if accounts is None else accounts,
                      "starting_balances": {a: str(v) for a, v in starting_balances.items()}}
        for field_name, value in (("start", start), ("end", end)):
            if value is not None:
                body[field_name] = value
        return await self._object("POST", "/v1/admin/rounds", json=body, auth="admin")

    async def rounds(self) -> list[Json]:
        return await self._array("GET", "/v1/admin/rounds", auth="admin")

    async def round(self, round_id: int) -> Json:
        return await self._object("GET", f"/v1/admin/rounds/{round_id}", auth="admin")

    async def admin_accounts(self, *, limit: int | None = None,
                             after: int | None = None) -> Json:
        return await self._object("GET", "/v1/admin/accounts",
                                  params={"limit": limit, "after": after}, auth="admin")

    async def admin_account(self, account_id: int) -> Json:
        return await self._object("GET", f"/v1/admin/accounts/{account_id}", auth="admin")

    async def set_house(self, account_id: int, house: bool = True) -> Json:
        return await self._object("PATCH", f"/v1/admin/accounts/{account_id}",
                                  json={"house": house}, auth="admin")

    async def leaderboard(self, round_id: int | None = None, asset: str | None = None) -> Json:
        return await self._object("GET", "/v1/leaderboard",
                                  params={"round": round_id, "asset": asset}, auth="none")

    # -- OPERATIONS --

    async def healthz(self) -> Json:
        return await self._object("GET", "/healthz", auth="none")

    async def readyz(self) -> Json:
        return await self._object("GET", "/readyz", auth="none")
