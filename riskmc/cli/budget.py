"""The size check every command makes before it simulates anything (:mod:`riskmc.budget`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from riskmc.cli.core import CliError, config_error_message
from riskmc.errors import BudgetError, ConfigError

if TYPE_CHECKING:
    from riskmc.budget import WindowCost
    from riskmc.config import Config

__all__ = ["check_size"]


def check_size(
    config: Config,
    seed: int,
    memory_budget: int | str | None,
    *,
    windows_kept: float,
    windows_total: float,
    option: str = "--trials",
    **kwargs: Any,
) -> WindowCost:
    """The cost of one window of ``config``, after refusing (CliError, one line naming the key or
    option to change) what cannot fit or would take absurdly long; ``kwargs`` as
    :func:`riskmc.budget.check_budget`."""
    from riskmc import budget

    limit = budget.default_memory_budget() if memory_budget is None else int(memory_budget)
    try:
        cost = budget.window_cost(config, seed)
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
