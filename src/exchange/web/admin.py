"""Admin routes (the configured admin token): accounts, deposits, instruments, halts, and
chaos mode's setting."""

from __future__ import annotations

from decimal import Decimal

from quart import Response
from quart_trio import QuartTrio

from exchange.engine.commands import (
    AddInstrument,
    CreateAccount,
    Deposit,
    HaltInstrument,
    ResumeInstrument,
    Withdraw,
)
from exchange.engine.events import AccountCreated, AnyEvent, RequestRejected
from exchange.engine.units import exact_mul, to_steps, to_units
from exchange.pipeline.chaos import parse_latency
from exchange.pipeline.journal import AccountInfo
from exchange.pipeline.keyring import KeyProblem
from exchange.web import render
from exchange.web.app import Services, json_response, request_authorization, request_body
from exchange.web.auth import authorize_admin, new_api_key
from exchange.web.errors import ApiError, invalid
from exchange.web.models import (
    ApiKeyBody,
    ChaosBody,
    CreateAccountBody,
    CreateInstrumentBody,
    DepositBody,
    InstrumentStatusBody,
    parse_body,
)
from exchange.web.orders import MAX_STEPS

MAX_DEPOSIT_UNITS = 10**27


def _refusal(events: list[AnyEvent]) -> str | None:
    for event in events:
        if type(event) is RequestRejected:
            return event.reason
    return None


def _lots(quantity: Decimal | None, lot_size: Decimal, field: str) -> int | None:
    """`quantity` in lots of `lot_size` (None if not given); a 400 off the grid."""
    if quantity is None:
        return None
    lots = to_steps(quantity, lot_size)
    if lots is None or not 1 <= lots <= MAX_STEPS:
        raise invalid(f"{field} must be a positive multiple of lot_size, at most {MAX_STEPS} "
                      "lots", f"$.{field}")
    return lots


def register(app: QuartTrio, services: Services) -> None:
    readmodel = services.readmodel
    settings = services.settings
    timeout = settings.request_timeout

    def admin() -> None:
        authorize_admin(readmodel, settings.admin_token, request_authorization())

    @app.post("/v1/admin/accounts")
    async def create_account() -> Response:
        admin()
        body = parse_body(CreateAccountBody, await request_body())
        api_key, key_id, key_hash = new_api_key()
        events = await services.engine().execute(
            CreateAccount(), account=AccountInfo(0, body.name, key_id, key_hash),
            deadline=timeout,
        )
        created = next(e for e in events if type(e) is AccountCreated)
        assert isinstance(created, AccountCreated)
        return json_response(
            {"account_id": created.account_id, "name": body.name, "api_key": api_key}, 201
        )

    def account_of(account_id: int) -> None:
        if account_id not in readmodel.accounts or account_id == 0:
            raise ApiError(404, "not_found", f"no account {account_id}")

    @app.post("/v1/admin/accounts/<int:account_id>/api-keys")
    async def create_key(account_id: int) -> Response:
        admin()
        body = parse_body(ApiKeyBody, await request_body())
        account_of(account_id)
        secret = None
        if body.type == "hmac":
            key, secret = await services.keys.create_hmac(account_id)
        else:
            assert body.public_key is not None
            try:
                key = await services.keys.add_ed25519(account_id, body.public_key)
            except KeyProblem as exc:
                raise invalid(str(exc), "$.public_key") from None
        return json_response({**key.listed(), "secret_key": secret}, 201)

    @app.get("/v1/admin/accounts/<int:account_id>/api-keys")
    async def list_keys(account_id: int) -> Response:
        admin()
        account_of(account_id)
        return json_response([key.listed() for key in services.keys.of_account(account_id)])

    @app.delete("/v1/admin/accounts/<int:account_id>/api-keys/<api_key>")
    async def revoke_key(account_id: int, api_key: str) -> Response:
        admin()
        account_of(account_id)
        key = services.keys.get(api_key)
        if key is None or key.account_id != account_id:
            raise ApiError(404, "not_found", "no such key of this account")
        await services.keys.revoke(api_key)
        return json_response(key.listed())

    @app.post("/v1/admin/accounts/<int:account_id>/deposits")
    async def deposit(account_id: int) -> Response:
        admin()
        body = parse_body(DepositBody, await request_body())
        if account_id not in readmodel.accounts or account_id == 0:
            raise ApiError(404, "not_found", f"no account {account_id}")
        amount = to_units(body.amount)
        if amount is None or amount == 0 or abs(amount) > MAX_DEPOSIT_UNITS:
            raise invalid("amount must be a non-zero decimal with at most 12 decimals",
                          "$.amount")
        kind = Deposit if amount > 0 else Withdraw
        events = await services.engine().execute(
            kind(account_id=account_id, asset=body.asset, amount=abs(amount),
                 transfer_id=body.deposit_id),
            deadline=timeout,
        )
        reason = _refusal(events)
        status = 201
        if reason == "duplicate_transfer":
            status = 200
        elif reason is not None:
            raise ApiError.rejected(reason)
        account = readmodel.accounts[account_id]
        return json_response(
            {"account_id": account_id, "balances": render.balances(account)}, status
        )

    @app.post("/v1/admin/instruments")
    async def create_instrument() -> Response:
        admin()
        body = parse_body(CreateInstrumentBody, await request_body())
        if body.symbol in readmodel.instruments:
            raise ApiError(409, "conflict", f"instrument {body.symbol} exists")
        min_lots = _lots(body.min_quantity, body.lot_size, "min_quantity") or 1
        max_lots = _lots(body.max_quantity, body.lot_size, "max_quantity") or 0
        if max_lots and max_lots < min_lots:
            raise invalid("max_quantity must be at least min_quantity", "$.max_quantity")
        min_notional = to_units(body.min_notional)
        if min_notional is None or min_notional > MAX_DEPOSIT_UNITS:
            raise invalid("min_notional must have at most 12 decimals and be at most 10^15",
                          "$.min_notional")
        for name, size in (("lot_size", body.lot_size),
                           ("tick_size", exact_mul(body.tick_size, body.lot_size))):
            if to_units(size) is None:
                raise invalid(f"{name} is finer than the asset unit (10^-12)", f"$.{name}")
        rate_unit = Decimal(1).scaleb(-8)
        for name, rate in (("maker_fee_rate", body.maker_fee_rate),
                           ("taker_fee_rate", body.taker_fee_rate)):
            if to_steps(rate, rate_unit) is None:
                raise invalid(f"{name} has more than 8 decimals", f"$.{name}")
        events = await services.engine().execute(
            AddInstrument(
                symbol=body.symbol, base=body.base, quote=body.quote,
                tick_size=body.tick_size, lot_size=body.lot_size, min_quantity=min_lots,
                maker_fee_rate=body.maker_fee_rate, taker_fee_rate=body.taker_fee_rate,
                min_notional=min_notional, max_quantity=max_lots,
            ),
            deadline=timeout,
        )
        reason = _refusal(events)
        if reason is not None:
            raise ApiError.rejected(reason)
        return json_response(render.instrument(readmodel.instruments[body.symbol]), 201)

    @app.patch("/v1/admin/instruments/<symbol>")
    async def set_status(symbol: str) -> Response:
        admin()
        body = parse_body(InstrumentStatusBody, await request_body())
        if symbol not in readmodel.instruments:
            raise ApiError(404, "not_found", f"no instrument {symbol[:40]!r}")
        command = HaltInstrument if body.status == "halted" else ResumeInstrument
        events = await services.engine().execute(command(symbol=symbol), deadline=timeout)
        reason = _refusal(events)
        if reason is not None:
            raise ApiError.rejected(reason)
        return json_response(render.instrument(readmodel.instruments[symbol]))

    @app.get("/v1/admin/chaos")
    async def get_chaos() -> Response:
        admin()
        return json_response(services.chaos.spec.as_json())

    @app.patch("/v1/admin/chaos")
    async def set_chaos() -> Response:
        admin()
        body = parse_body(ChaosBody, await request_body())
        changes: dict[str, object] = {}
        given = body.model_fields_set
        if "latency" in given:
            low, high = parse_latency(body.latency) if body.latency else (0.0, 0.0)
            changes.update(latency_min=low, latency_max=high)
        for name in ("reject", "disconnect", "stall"):
            value = getattr(body, name)
            if name in given:
                changes[name] = float(value or 0)
        if body.seed is not None:
            changes["seed"] = body.seed
        # Any change restarts the generators: a run after it is reproducible on its own.
        return json_response(services.chaos.update(**changes).as_json())
