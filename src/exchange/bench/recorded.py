"""Recorded command streams: `exchange bench engine --record F` and `--workload-file F`.

A workload file is JSON lines. The first line is a header, an object without `op`:

    {"format": "exchange-workload", "version": 1, "warmup": 12003, "commands": 1000000}

`warmup` is how many command lines follow that set up and warm the book (not timed),
`commands` how many timed ones follow those. Every other line is one command:

    {"op": "place", "ts": 1700000000000050, "account_id": 7, "symbol": "BENCH-USD",
     "side": "buy", "price": 9985, "quantity": 12}

`op` names the command (`OPS`); the other keys are the fields of `exchange.engine.commands`
of that name, those at their default left out. Numbers are integers in the engine's units:
prices in ticks, quantities in lots, amounts in asset units of 10**-12, `ts` and
`expire_time` in microseconds. The decimals of an instrument's definition (`tick_size`,
`lot_size`, fee rates) are strings, so a peer's adapter converts ticks and lots back exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

from exchange.engine.commands import (
    AddInstrument,
    AmendOrder,
    AnyCommand,
    CancelAllOrders,
    CancelOrder,
    CreateAccount,
    Deposit,
    ExpireOrders,
    HaltInstrument,
    PlaceOrder,
    ResumeInstrument,
    Withdraw,
)

FORMAT = "exchange-workload"
VERSION = 1
OPS: dict[str, type[Any]] = {
    "add_instrument": AddInstrument,
    "halt": HaltInstrument,
    "resume": ResumeInstrument,
    "create_account": CreateAccount,
    "deposit": Deposit,
    "withdraw": Withdraw,
    "place": PlaceOrder,
    "cancel": CancelOrder,
    "cancel_all": CancelAllOrders,
    "amend": AmendOrder,
    "expire": ExpireOrders,
}
_NAMES = {kind: op for op, kind in OPS.items()}
_DEFAULTS = {
    kind: {f.name: f.default for f in msgspec.structs.fields(kind)
           if f.default is not msgspec.NODEFAULT}
    for kind in OPS.values()
}


class WorkloadFileError(ValueError):
    """A workload file that cannot be read: the message names the file and line."""


class WorkloadWriter:
    """Writes the header, then commands as they come."""

    def __init__(self, path: str | Path, *, warmup: int, commands: int) -> None:
        self.path = str(path)
        self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 (closed by close())
        self._encode = msgspec.json.Encoder(decimal_format="string").encode
        header = {"format": FORMAT, "version": VERSION, "warmup": warmup, "commands": commands}
        self._file.write(self._encode(header) + b"\n")

    def write(self, commands: Iterable[AnyCommand]) -> None:
        encode = self._encode
        self._file.write(b"".join(encode(to_line(command)) + b"\n" for command in commands))

    def close(self) -> None:
        self._file.close()


def to_line(command: AnyCommand) -> dict[str, Any]:
    """A command as the object of its line."""
    kind = type(command)
    defaults = _DEFAULTS[kind]
    line: dict[str, Any] = {"op": _NAMES[kind]}
    for name in command.__struct_fields__:
        value = getattr(command, name)
        if name not in defaults or value != defaults[name]:
            line[name] = value
    return line


class WorkloadReader:
    """Reads a workload file: `header`, then `read(n)` commands at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._file: IO[bytes] = open(path, "rb")  # noqa: SIM115 (closed by close())
        except OSError as exc:
            raise WorkloadFileError(f"{self.path}: {exc.strerror}") from None
        self._line = 0
        header = self._next()
        if header is None or header.get("format") != FORMAT or header.get("version") != VERSION:
            self.close()
            raise WorkloadFileError(f"{self.path} line 1: not an {FORMAT} version {VERSION} "
                                    "header")
        self.warmup = _count(header, "warmup", self.path)
        self.commands = _count(header, "commands", self.path)

    def read(self, count: int) -> list[AnyCommand]:
        """The next `count` commands (fewer at the end of the file)."""
        out: list[AnyCommand] = []
        while len(out) < count:
            line = self._next()
            if line is None:
                break
            out.append(self._command(line))
        return out

    def __iter__(self) -> Iterator[AnyCommand]:
        while True:
            line = self._next()
            if line is None:
                return
            yield self._command(line)

    def close(self) -> None:
        self._file.close()

    def _next(self) -> dict[str, Any] | None:
        raw = self._file.readline()
        while raw.strip() == b"" and raw:
            self._line += 1
            raw = self._file.readline()
        if not raw:
            return None
        self._line += 1
        try:
            value = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise self._error(f"not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise self._error("not a JSON object")
        return value

    def _command(self, line: dict[str, Any]) -> AnyCommand:
        kind = OPS.get(line.pop("op", None))
        if kind is None:
            raise self._error(f"unknown op; expected one of {', '.join(OPS)}")
        unknown = set(line) - set(kind.__struct_fields__)
        if unknown:
            raise self._error(f"{_NAMES[kind]} has no field {', '.join(sorted(unknown))}")
        try:
            command: AnyCommand = msgspec.convert(line, kind)
        except msgspec.ValidationError as exc:
            raise self._error(str(exc)) from None
        return command

    def _error(self, message: str) -> WorkloadFileError:
        return WorkloadFileError(f"{self.path} line {self._line}: {message}")


def _count(header: dict[str, Any], name: str, path: str) -> int:
    value = header.get(name)
    if type(value) is not int or value < 0:
        raise WorkloadFileError(f"{path} line 1: {name!r} must be a count")
    return value
