"""`exchange simulate`: market makers and takers that keep a realistic, moving market going.

    stats = await nursery.start(run_simulation, url, admin_token, ["BTC-USD", "ETH-USD"])

- `fair`: the fair price, a seeded random walk with jumps (pure).
- `bots`: what makers and takers decide, from the fair price and their own orders (pure).
- `actions`: the decisions as values, and the instrument grid that prices them.
- `desk`: one account's paced order entry and the sorting of the exchange's answers.
- `runner`: `run_simulation`, which wires accounts, bots and tasks in one nursery.
- `status`, `command`: the live status line and the `exchange simulate` command.
"""

from exchange.simulate.desk import SimulationError
from exchange.simulate.runner import run_simulation
from exchange.simulate.stats import SimStats

__all__ = ["SimStats", "SimulationError", "run_simulation"]
