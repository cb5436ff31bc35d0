"""The estimators: one interface that every command uses (docs/model.md section 8).

* :func:`resolve` turns an estimator name (``auto``, ``naive``, ``is``) into a :class:`Plan`,
  once, on the base configuration; scenarios, sweep points and grid values then share it
  (and their trials), so they are compared on common random numbers.
* :func:`simulate` draws a :class:`WindowSample` of given trials under a plan; :func:`estimate`
  turns a sample into every named estimate; :func:`run` does both, block by block, with the
  stopping rule.
* :func:`choose` is ``auto`` where ``riskmc run`` can also split (``riskmc.estimators.split``):
  a plan, or splitting.

Modules: ``plan`` (the proposal and the pilot), ``sample`` (simulation), ``quantities`` (the
estimates and what the sample cannot see), ``year`` (the annual impact), ``rule`` (blocks
and the stopping rule).
"""

from riskmc.estimators.plan import (
    DEFAULT_DEFENSIVE,
    ESTIMATORS,
    Choice,
    Plan,
    choose,
    naive_plan,
    resolve,
    run_pilot,
)
from riskmc.estimators.quantities import (
    CELL_ESTIMATES,
    HOURS_PER_YEAR,
    MINUTES_PER_YEAR,
    REGION_ESTIMATES,
    STRATA,
    CellStats,
    Estimates,
    estimate,
    windows_per_year,
)
from riskmc.estimators.rule import (
    DEFAULT_MAX_SECONDS,
    DEFAULT_MAX_TRIALS,
    DEFAULT_MIN_HITS,
    Run,
    run,
    run_each,
    with_config,
)
from riskmc.estimators.sample import WindowSample, simulate

__all__ = [
    "CELL_ESTIMATES",
    "DEFAULT_DEFENSIVE",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_MAX_TRIALS",
    "DEFAULT_MIN_HITS",
    "ESTIMATORS",
    "HOURS_PER_YEAR",
    "MINUTES_PER_YEAR",
    "REGION_ESTIMATES",
    "STRATA",
    "CellStats",
    "Choice",
    "Estimates",
    "Plan",
    "Run",
    "WindowSample",
    "choose",
    "estimate",
    "naive_plan",
    "resolve",
    "run",
    "run_each",
    "run_pilot",
    "simulate",
    "windows_per_year",
    "with_config",
]
