"""Request bodies (pydantic v2, strict, unknown fields rejected) and the response shapes that
`/openapi.json` documents.

Bodies are decoded by `parse_body` with msgspec, JSON floats becoming `Decimal` from their
text, so `0.30000000000000004441` stays exactly that; NaN and Infinity are not JSON and
"NaN" or "1e400" as values are refused by `ExactDecimal`. Validation errors become one
`details` entry per bad field with its JSON path.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from exchange.pipeline.chaos import parse_latency
from exchange.pipeline.history import CLIENT_ORDER_ID
from exchange.web.errors import ApiError, invalid

MAX_ADJUSTED_EXPONENT = 20  # |value| < 10**21
MIN_ADJUSTED_EXPONENT = -30
# Tick and lot sizes: what the database's NUMERIC(38, 18) holds (at most 18 decimals, below
# 10**20), and few enough digits that a price or quantity of up to 10**15 steps times its
# step is exact in Decimal's default 28-digit context, where it is rendered.
GRID_DIGITS = 12
GRID_DECIMALS = 18
GRID_MAX_EXPONENT = 19
# Characters no stored text may hold: PostgreSQL refuses NUL in text, and control
# characters in names only ever come from a bug or an attack.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DECIMAL_TEXT = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_decoder = msgspec.json.Decoder(float_hook=Decimal)


def _exact_decimal(value: Any) -> Decimal:
    """A finite decimal of sane size from a string, an integer or a JSON number."""
    if isinstance(value, bool):
        raise ValueError("must be a decimal string or number")
    if isinstance(value, str):
        if len(value) > 64 or not _DECIMAL_TEXT.fullmatch(value):
            raise ValueError("must be a decimal number like \"100.25\"")
        try:
            value = Decimal(value)
        except InvalidOperation:
            raise ValueError("must be a decimal number") from None
    elif isinstance(value, int):
        if abs(value) >= 10**21:
            raise ValueError("number out of range")
        value = Decimal(value)
    elif not isinstance(value, Decimal):
        raise ValueError("must be a decimal string or number")
    number: Decimal = value
    if not number.is_finite():
        raise ValueError("must be finite")
    if number and not (MIN_ADJUSTED_EXPONENT <= number.adjusted() <= MAX_ADJUSTED_EXPONENT):
        raise ValueError("number out of range")
    return number


def _grid_size(value: Decimal) -> Decimal:
    _, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)  # finite: checked by _exact_decimal
    if len(digits) > GRID_DIGITS:
        raise ValueError(f"must have at most {GRID_DIGITS} significant digits")
    if exponent < -GRID_DECIMALS:
        raise ValueError(f"must have at most {GRID_DECIMALS} decimal places")
    if value.adjusted() > GRID_MAX_EXPONENT:
        raise ValueError(f"must be below 10^{GRID_MAX_EXPONENT + 1}")
    return value


def _storable_text(value: str) -> str:
    """Text both databases store as it is: no NUL and no other control character (the JSON
    decoder already refuses lone surrogates, which are not UTF-8)."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _latency(value: str) -> str:
    parse_latency(value)  # its ValueError says what is wrong
    return value


def _timestamp(value: Any) -> datetime:
    """An ISO 8601 time; one without an offset is taken as UTC."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("must be an ISO 8601 time like \"2026-11-24T15:04:05.123456Z\"")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # Every time must render back as UTC ("9999-12-31T23:59:59-05:00" would not) and stay
    # after the epoch, the engine's zero.
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be a time between 1970 and 9998") from None
    if not (1970 <= utc.year <= 9998):
        raise ValueError("must be a time between 1970 and 9998")
    return utc


def _decimal_schema(number: dict[str, Any], text: str, description: str) -> WithJsonSchema:
    """What `/openapi.json` says a decimal field takes: a JSON number or a decimal string
    (the plain form; `_exact_decimal` also reads an exponent). Without it pydantic would
    document any number or string, with its `gt`/`lt` as keywords JSON Schema lacks."""
    return WithJsonSchema({
        "anyOf": [{"type": "number", **number},
                  {"type": "string", "pattern": text, "maxLength": 64}],
        "description": description,
    })


_MAX = 10 ** (MAX_ADJUSTED_EXPONENT + 1)
ExactDecimal = Annotated[Decimal, BeforeValidator(_exact_decimal), _decimal_schema(
    {"exclusiveMinimum": -_MAX, "exclusiveMaximum": _MAX},
    r"^-?(?:\d+(?:\.\d*)?|\.\d+)$", "a decimal, as a string (preferred) or a number",
)]
PositiveDecimal = Annotated[Decimal, BeforeValidator(_exact_decimal), Field(gt=0), _decimal_schema(
    {"exclusiveMinimum": 0, "exclusiveMaximum": _MAX},
    r"^(?:\d*[1-9]\d*(?:\.\d*)?|\d*\.\d*[1-9]\d*)$",
    "a positive decimal, as a string (preferred) or a number",
)]
Amount = Annotated[Decimal, BeforeValidator(_exact_decimal), Field(ge=0), _decimal_schema(
    {"minimum": 0, "exclusiveMaximum": _MAX}, r"^(?:\d+(?:\.\d*)?|\.\d+)$",
    "a decimal of 0 or more, as a string (preferred) or a number",
)]
FeeRate = Annotated[Decimal, BeforeValidator(_exact_decimal), Field(ge=0, lt=Decimal("0.1")),
                    _decimal_schema({"minimum": 0, "exclusiveMaximum": 0.1},
                                    r"^(?:0+(?:\.0\d*)?|0*\.0\d*)$",
                                    "a fee rate from 0 to under 0.1")]
Probability = Annotated[Decimal, BeforeValidator(_exact_decimal), Field(ge=0, le=1),
                        _decimal_schema({"minimum": 0, "maximum": 1},
                                        r"^(?:0+(?:\.\d*)?|\.\d+|0*1(?:\.0*)?)$",
                                        "a probability from 0 to 1")]
GridSize = Annotated[Decimal, BeforeValidator(_exact_decimal), Field(gt=0),
                     AfterValidator(_grid_size), _decimal_schema(
    {"exclusiveMinimum": 0, "exclusiveMaximum": 10 ** (GRID_MAX_EXPONENT + 1)},
    r"^(?:\d*[1-9]\d*(?:\.\d*)?|\d*\.\d*[1-9]\d*)$",
    f"a positive decimal of at most {GRID_DIGITS} significant digits and {GRID_DECIMALS} "
    "decimal places",
)]
Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_storable_text),
                 WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200,
                                 "pattern": "^[^\\u0000-\\u001f\\u007f]*$"})]
Symbol = Annotated[str, Field(min_length=1, max_length=32, examples=["BTC-USD"])]
NewSymbol = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,15}-[A-Za-z0-9]{1,15}$")]
Asset = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,16}$")]
ClientOrderId = Annotated[str, Field(pattern=CLIENT_ORDER_ID.pattern)]

Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market", "stop_market", "stop_limit", "take_profit_market",
                    "take_profit_limit"]
TimeInForce = Literal["gtc", "ioc", "fok", "gtd"]
SelfTradePrevention = Literal["cancel_newest", "cancel_oldest", "cancel_both", "none"]
OrderStatus = Literal[
    "pending", "new", "partially_filled", "filled", "cancelled", "expired", "rejected"
]


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# -- REQUESTS --


# Which order types need a field and which refuse it (all others): `PlaceOrderBody`'s
# validator checks these and its JSON schema states them, so the two cannot disagree.
NEEDED_BY: dict[str, tuple[str, ...]] = {
    "price": ("limit", "stop_limit", "take_profit_limit"),
    "stop_price": ("stop_market", "stop_limit", "take_profit_market", "take_profit_limit"),
}


def _given(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def _absent(name: str) -> dict[str, Any]:
    return {"properties": {name: {"type": "null"}}}


def _place_order_rules(schema: dict[str, Any]) -> None:
    """The validator's rules between fields, in JSON Schema (2020-12 `if`/`then`/`else`)."""
    market = {"properties": {"type": {"const": "market"}}}
    schema["allOf"] = [
        *({"if": {"properties": {"type": {"enum": list(types)}}}, "then": _given(name),
           "else": _absent(name)} for name, types in NEEDED_BY.items()),
        {"if": market,
         "then": {"oneOf": [{"allOf": [_given("quantity"), _absent("quote_quantity")]},
                            {"allOf": [_given("quote_quantity"), _absent("quantity")]}]},
         "else": {"allOf": [_given("quantity"), _absent("quote_quantity")]}},
        {"if": {"required": ["time_in_force"],
                "properties": {"time_in_force": {"const": "gtd"}}},
         "then": _given("expire_time"), "else": _absent("expire_time")},
    ]
    schema["examples"] = [{"symbol": "BTC-USD", "side": "buy", "type": "limit",
                           "quantity": "0.01", "price": "100.00"}]


class PlaceOrderBody(Body):
    model_config = ConfigDict(json_schema_extra=_place_order_rules)

    symbol: Symbol
    side: Side
    type: OrderType
    quantity: PositiveDecimal | None = None
    quote_quantity: PositiveDecimal | None = None
    price: PositiveDecimal | None = None
    stop_price: PositiveDecimal | None = None
    time_in_force: TimeInForce = "gtc"
    expire_time: Timestamp | None = None
    post_only: bool = False
    self_trade_prevention: SelfTradePrevention = "cancel_newest"
    client_order_id: ClientOrderId | None = None
    take_profit_price: PositiveDecimal | None = None
    stop_loss_price: PositiveDecimal | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> PlaceOrderBody:
        """A field missing (or present but meaningless) for the chosen type is a 400."""
        kind = self.type
        for name, types in NEEDED_BY.items():
            given = getattr(self, name) is not None
            if kind in types and not given:
                raise ValueError(f"{name} is required for a {kind} order")
            if kind not in types and given:
                raise ValueError(f"{name} is not allowed for a {kind} order")
        if kind == "market":
            if (self.quantity is None) == (self.quote_quantity is None):
                raise ValueError("a market order needs exactly one of quantity, quote_quantity")
        else:
            if self.quantity is None:
                raise ValueError("quantity is required")
            if self.quote_quantity is not None:
                raise ValueError("quote_quantity is only for market orders")
        if self.time_in_force == "gtd" and self.expire_time is None:
            raise ValueError("expire_time is required with time_in_force gtd")
        if self.time_in_force != "gtd" and self.expire_time is not None:
            raise ValueError("expire_time is only for time_in_force gtd")
        return self


class AmendOrderBody(Body):
    quantity: PositiveDecimal | None = None
    price: PositiveDecimal | None = None

    @model_validator(mode="after")
    def _something(self) -> AmendOrderBody:
        if self.quantity is None and self.price is None:
            raise ValueError("give quantity, price or both")
        return self


MAX_BATCH_ORDERS = 20


class BatchOrdersBody(Body):
    """1 to `MAX_BATCH_ORDERS` placements; each is validated on its own (an invalid one is
    answered in its place and does not stop the others), so they stay JSON here."""

    orders: Annotated[
        list[Any],
        Field(min_length=1, max_length=MAX_BATCH_ORDERS),
    ]


class ChaosBody(Body):
    """`PATCH /v1/admin/chaos`: the keys of `--chaos`; those left out keep their value.
    `latency` is `"20ms..200ms"`, `"50ms"` or null (none)."""

    latency: Annotated[str, Field(max_length=40), AfterValidator(_latency)] | None = None
    reject: Probability | None = None
    disconnect: Probability | None = None
    stall: Probability | None = None
    seed: Annotated[int, Field(ge=0, lt=10**18)] | None = None


class CreateAccountBody(Body):
    name: Name


class ApiKeyBody(Body):
    """A key for the Binance-compatible surface: `hmac` (the server makes the secret and
    shows it once) or `ed25519` (the client keeps the private key; give the public one)."""

    type: Literal["hmac", "ed25519"]
    public_key: Annotated[str, Field(max_length=1000)] | None = None

    @model_validator(mode="after")
    def _public_key(self) -> ApiKeyBody:
        if (self.type == "ed25519") != (self.public_key is not None):
            raise ValueError("public_key (PEM) is given for an ed25519 key, and only then")
        return self


class DepositBody(Body):
    asset: Asset
    amount: ExactDecimal
    deposit_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] | None = None


class CreateInstrumentBody(Body):
    symbol: NewSymbol
    base: Asset
    quote: Asset
    tick_size: GridSize
    lot_size: GridSize
    min_quantity: PositiveDecimal | None = None
    maker_fee_rate: FeeRate = Decimal(0)
    taker_fee_rate: FeeRate = Decimal(0)
    min_notional: Amount = Decimal(0)  # quote; 0: none
    max_quantity: PositiveDecimal | None = None  # base; none: no maximum


class InstrumentStatusBody(Body):
    status: Literal["trading", "halted"]


AccountId = Annotated[int, Field(ge=0, le=2**53)]
NonNegativeDecimal = Annotated[Decimal, BeforeValidator(_exact_decimal), Field(ge=0)]


class StartRoundBody(Body):
    name: Name
    starting_balances: Annotated[dict[Asset, NonNegativeDecimal], Field(max_length=64)]
    accounts: Annotated[list[AccountId], Field(min_length=1, max_length=10_000)] | Literal[
        "all"] = "all"
    start: Timestamp | None = None
    end: Timestamp | None = None

    @model_validator(mode="after")
    def _window(self) -> StartRoundBody:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if isinstance(self.accounts, list) and len(set(self.accounts)) != len(self.accounts):
            raise ValueError("accounts must not repeat an id")
        return self


class AccountFlagsBody(Body):
    house: bool


class CancelAfterBody(Body):
    """The dead-man switch: seconds until every open order is cancelled; 0 disarms it."""

    timeout_s: int = Field(ge=0, le=86_400)


# -- RESPONSES (documentation: the routes render with msgspec) --

DecimalString = Annotated[str, Field(examples=["100.25"])]
Time = Annotated[str, Field(examples=["2026-11-24T15:04:05.123456Z"])]


class Instrument(BaseModel):
    symbol: str
    base: str
    quote: str
    tick_size: DecimalString
    lot_size: DecimalString
    min_quantity: DecimalString
    maker_fee_rate: DecimalString
    taker_fee_rate: DecimalString
    status: Literal["trading", "halted"]
    min_notional: Annotated[str, Field(
        examples=["10"], description="the least an order may be worth, in the quote asset")]
    max_quantity: Annotated[str | None, Field(
        examples=["1000"], description="the most an order may be for; null: no maximum")]


# `[price, quantity, order_count]`. Not a tuple (`prefixItems`): valid OpenAPI 3.1, but
# schemathesis (4.32) rewrites it into the draft-4 tuple form when it checks responses and
# then rejects that as invalid 3.1.
Level = Annotated[
    list[DecimalString | int],
    Field(min_length=3, max_length=3, description="[price, quantity, order_count]",
          examples=[["100.25", "0.5", 2]]),
]


class Book(BaseModel):
    symbol: str
    sequence: int
    bids: list[Level]
    asks: list[Level]
    ts: Time


class Trade(BaseModel):
    trade_id: int
    symbol: str
    price: DecimalString
    quantity: DecimalString
    taker_side: Side
    ts: Time


class Ticker(BaseModel):
    symbol: str
    best_bid: DecimalString | None
    best_ask: DecimalString | None
    last_price: DecimalString | None
    open_24h: DecimalString | None
    high_24h: DecimalString | None
    low_24h: DecimalString | None
    volume_24h: DecimalString
    sequence: int
    ts: Time


class Candle(BaseModel):
    start: Time
    open: DecimalString
    high: DecimalString
    low: DecimalString
    close: DecimalString
    volume: DecimalString
    trades: int


class Fill(BaseModel):
    trade_id: int
    order_id: int
    symbol: str
    side: Side
    price: DecimalString
    quantity: DecimalString
    fee: DecimalString
    fee_asset: str
    liquidity: Literal["maker", "taker"]
    ts: Time


class Order(BaseModel):
    order_id: int
    client_order_id: str | None
    account_id: int
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    post_only: bool
    self_trade_prevention: SelfTradePrevention
    price: DecimalString | None
    stop_price: DecimalString | None
    quantity: DecimalString | None
    quote_quantity: DecimalString | None
    filled_quantity: DecimalString
    remaining_quantity: DecimalString
    average_fill_price: DecimalString | None
    fee: DecimalString
    status: OrderStatus
    parent_order_id: int | None
    expire_time: Time | None
    take_profit_price: DecimalString | None
    stop_loss_price: DecimalString | None
    created_at: Time
    updated_at: Time
    fills: list[Fill] | None = None


class CancelAfter(BaseModel):
    timeout_s: int
    trigger_time: Time | None


class BatchResult(BaseModel):
    status: int
    order: Order | None = None
    error: ErrorBody | None = None


class BatchResults(BaseModel):
    results: list[BatchResult]


class ServerTime(BaseModel):
    ts: Time
    epoch_ms: int


class ChaosSetting(BaseModel):
    enabled: bool
    latency: str | None
    reject: float
    disconnect: float
    stall: float
    seed: int
    spec: str


class Cancelled(BaseModel):
    cancelled: list[int]


class Balance(BaseModel):
    asset: str
    total: DecimalString
    available: DecimalString
    held: DecimalString


class Account(BaseModel):
    account_id: int
    name: str | None
    balances: list[Balance]


class Position(BaseModel):
    symbol: str
    quantity: DecimalString
    average_price: DecimalString | None
    realized_pnl: DecimalString
    unrealized_pnl: DecimalString | None
    mark_price: DecimalString | None


class CreatedAccount(BaseModel):
    account_id: int
    name: str
    api_key: str


class ApiKey(BaseModel):
    api_key: str
    type: str
    account_id: int
    created_at: int  # microseconds since the epoch


class CreatedApiKey(ApiKey):
    secret_key: str | None  # an HMAC key's secret, shown this once


class Round(BaseModel):
    round_id: int
    name: str
    starting_balances: dict[str, DecimalString]
    accounts: list[int]
    start: Time | None
    end: Time | None
    status: Literal["scheduled", "running", "ended"]
    first_trade_id: int
    created_at: Time


class AdminAccount(BaseModel):
    account_id: int
    name: str | None
    house: bool
    round_id: int | None
    balances: list[Balance]
    open_orders: int


class AdminAccountPage(BaseModel):
    accounts: list[AdminAccount]
    next_after: int | None


class AdminAccountDetail(BaseModel):
    account_id: int
    name: str | None
    house: bool
    round_id: int | None
    balances: list[Balance]
    positions: list[Position]
    open_orders: list[Order]
    recent_fills: list[Fill]


class Mark(BaseModel):
    price: DecimalString | None
    source: Literal["mid", "last", "none"]
    symbol: str | None


class LeaderboardEntry(BaseModel):
    rank: int
    account_id: int
    name: str | None
    equity: DecimalString
    pnl: DecimalString
    fees_paid: dict[str, DecimalString]
    trades: int
    max_drawdown: DecimalString | None


class Leaderboard(BaseModel):
    round_id: int
    name: str
    asset: str
    starting_equity: DecimalString
    marks: dict[str, Mark]
    accounts: list[LeaderboardEntry]


class Balances(BaseModel):
    account_id: int
    balances: list[Balance]


class Status(BaseModel):
    status: str


class ErrorDetail(BaseModel):
    path: str
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class Error(BaseModel):
    error: ErrorBody


# -- PARSING --

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], raw: bytes) -> M:
    """Decodes and validates a JSON body, or raises the contract's 400."""
    try:
        data = _decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError, ValueError):
        raise invalid("the body is not valid JSON") from None
    return validate(model, data, "the body")


def decode_json(raw: bytes | str) -> Any:
    """JSON as `parse_body` reads it (numbers with a fraction become exact `Decimal`s);
    raises `msgspec.DecodeError` (or `ValueError`) if it is not JSON."""
    return _decoder.decode(raw)


def validate(model: type[M], data: Any, what: str = "the body") -> M:
    """Validates already decoded JSON, or raises the contract's 400."""
    if not isinstance(data, dict):
        raise invalid(f"{what} must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None
    except RecursionError:
        raise invalid(f"{what} is nested too deeply") from None


def validation_error(exc: ValidationError) -> ApiError:
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        path = "$" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        )
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        details.append({"path": path, "message": message})
    first = details[0]["message"] if details else "invalid request"
    return ApiError(400, "invalid_request", first, details=details)
