"""The read model's orders and `order_of_events`, the answer to a placement whose order left
memory before the request resumed: for random command streams (every order type, brackets,
stops, amends, cancels), each order placed by a command is, as that command's events alone
leave it, exactly what the read model holds once they are applied."""

from __future__ import annotations

from hypothesis import given

from engine.strategies import command_sequences, new_engine
from exchange.engine.commands import AnyCommand
from exchange.engine.events import OrderAccepted
from exchange.pipeline.readmodel import OrderView, ReadModel, order_of_events


def _fields(order: OrderView) -> dict[str, object]:
    return {name: getattr(order, name) for name in OrderView.__slots__}


@given(command_sequences())
def test_an_order_from_its_events_equals_the_read_models(commands: list[AnyCommand]) -> None:
    engine, readmodel = new_engine(), ReadModel()
    for command in commands:
        events = engine.handle(command)
        readmodel.apply(events)
        for event in events:
            if type(event) is OrderAccepted:
                rebuilt = order_of_events(events, event.order_id)
                assert rebuilt is not None
                assert _fields(rebuilt) == _fields(readmodel.orders[event.order_id])
    assert order_of_events([], 1) is None
