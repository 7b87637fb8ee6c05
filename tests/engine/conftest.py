"""Fixtures for the engine scenario tests (builders and helpers live in `helpers.py`)."""

import pytest

from .helpers import Sim, make_sim


@pytest.fixture
def sim() -> Sim:
    """BTC-USD and three funded accounts (ALICE, BOB, CAROL); see `make_sim`."""
    return make_sim()
