"""The size check every command makes before it simulates anything (:mod:`riskmc.budget`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from riskmc.cli.core import CliError, config_error_message
from riskmc.errors import BudgetError, ConfigError

if TYPE_CHECKING:
    from riskmc.budget import WindowCost
    from riskmc.config import Config

__all__ = ["MAX_CHECKED_POINTS", "POINT_PROBE_WINDOWS", "check_size", "spread"]

#: Points of a sweep or design whose configurations are checked one by one (evenly spread).
MAX_CHECKED_POINTS = 2000
#: Windows drawn to bound each point's cost (the base configuration gets the full probe).
POINT_PROBE_WINDOWS = 32


def spread(n: int, limit: int = MAX_CHECKED_POINTS) -> list[int]:
    """At most ``limit`` indices of range(n), evenly spread, the first and the last included."""
    if n <= limit:
        return list(range(n))
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


def check_size(
    config: Config,
    seed: int,
    memory_budget: int | str | None,
    *,
    windows_kept: float,
    windows_total: float,
    option: str = "--trials",
    points: Sequence[tuple[str, Config]] = (),
    **kwargs: Any,
) -> WindowCost:
    """The cost of one window of ``config``, after refusing (CliError, one line naming the key or
    option to change) what cannot fit or would take absurdly long; ``kwargs`` as
    :func:`riskmc.budget.check_budget`.  ``points``: (label, configuration) of a sweep's or a
    design's points (:func:`spread` picks them), each checked too on a smaller probe, the
    largest cost counting."""
    from riskmc import budget

    limit = budget.default_memory_budget() if memory_budget is None else int(memory_budget)
    try:
        costs = [budget.window_cost(config, seed)]
        for label, point in points:
            try:
                costs.append(budget.window_cost(point, seed, probe=POINT_PROBE_WINDOWS))
            except ConfigError as e:
                raise ConfigError(e.key, f"{e.problem} (at {label})") from None
        cost = budget.worst(costs)
        budget.check_budget(
            cost,
            windows_kept=windows_kept,
            windows_total=windows_total,
            memory_budget=limit,
            option=option,
            **kwargs,
        )
    except BudgetError as e:
        raise CliError(f"{e.key}: {e.problem}") from None
    except ConfigError as e:
        raise CliError(config_error_message(e)) from None
    return cost
