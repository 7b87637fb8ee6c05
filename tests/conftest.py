"""Hypothesis profiles: `dev` (default, 100 examples) and `ci` (500 examples).

Pick one with the `HYPOTHESIS_PROFILE` environment variable; CI sets `HYPOTHESIS_PROFILE=ci`.
No deadline: an example is a whole command sequence, and its time depends on the machine.
"""

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from web.support import Templates

_COMMON = {
    "deadline": None,
    "derandomize": False,
    "suppress_health_check": [HealthCheck.too_slow],
}

settings.register_profile("ci", max_examples=500, **_COMMON)
settings.register_profile("dev", max_examples=100, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """Migrated empty databases, copied for each test that needs a server (`web.support`)."""
    made = Templates(tmp_path_factory.mktemp("templates"))
    yield made
    made.close()
