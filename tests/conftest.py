"""Shared test fixtures: small configurations where the empty-record event is common."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from riskmc.config import Config, parse_config

#: A cell where the race fires in about a fifth of its (six-minute) windows.
STRESS = {
    "window": {"hours": 0.1},
    "planner": {"interval": {"dist": "expon", "scale": 3.0}},
    "enactors": {"count": 3, "poll_interval": 2.0},
    "endpoints": {"count": 5},
    "write": {"latency": {"dist": "lognorm", "s": 0.5, "scale": 0.1}, "fail_prob": 0.05},
    "degraded": {"prob": 0.05, "fail_prob": 0.8},
    "cleanup": {"keep_generations": 10},
}


def stress_config(overrides: Sequence[str] = ()) -> Config:
    return parse_config(STRESS, overrides=list(overrides))


@pytest.fixture
def stress() -> Config:
    return stress_config()
