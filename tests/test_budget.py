"""Tests of the size checks made before anything runs (riskmc.budget)."""

from __future__ import annotations

import math
import time

import pytest

from riskmc import budget
from riskmc.config import parse_config
from riskmc.engine import kernel
from riskmc.errors import BudgetError, ConfigError
from tests.conftest import STRESS, stress_config


def test_constants_agree_with_the_engine() -> None:
    assert budget.MAX_GENERATIONS == kernel.MAX_GENERATIONS
    assert budget.MAX_ATTEMPTS == kernel.MAX_ATTEMPTS


def test_an_ordinary_window_is_cheap() -> None:
    cost = budget.window_cost(stress_config())
    # 0.1 h at a 3 s mean interval: 120 generations, and a few thousand steps in all
    assert cost.generations == pytest.approx(120.0)
    assert 120 < cost.steps < 1e5
    assert cost.cells == 1
    budget.check_budget(cost, windows_kept=1e6, windows_total=1e6, memory_budget=2**34)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("window.hours=1e5", "window.hours"),  # 1.2e8 generations
        ("planner.interval=1e-6", "planner.interval"),
        ('planner.interval={dist="expon", scale=1e-5}', "planner.interval"),
        ("write.fail_prob=0.999999999", "write.fail_prob"),
        ("degraded.fail_prob=0.99999", "degraded.fail_prob"),
        ("enactors.poll_interval=1e-6", "enactors.poll_interval"),
        ('window.hours={dist="randint", low=1, high=1000000000000}', "window.hours"),
    ],
)
def test_work_beyond_reason_names_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        budget.window_cost(stress_config([override]))
    assert err.value.key == key


def test_attempt_limit_bound_is_what_the_message_says() -> None:
    with pytest.raises(ConfigError) as err:
        budget.window_cost(stress_config(["write.fail_prob=0.99999"]))
    text = err.value.problem
    top = float(text.rsplit("about ", 1)[1].split()[0])
    # the bound is "about" (fewer attempts fit more runs in a window): twice its distance from 1 passes
    budget.window_cost(stress_config([f"write.fail_prob={1 - 2 * (1 - top)}"]))
    assert 0.999 < top < 0.99999


def test_a_slow_distribution_is_refused_quickly() -> None:
    cfg = stress_config(['window.hours={dist="studentized_range", k=3, df=10}'])
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        budget.window_cost(cfg)
    assert err.value.key == "window.hours"
    assert "too slow" in err.value.problem
    assert time.perf_counter() - t0 < 10


def test_memory_and_work_bounds() -> None:
    cost = budget.window_cost(stress_config())
    need = budget.BASE_BYTES + 1e7 * budget.BYTES_PER_WINDOW
    budget.check_budget(cost, windows_kept=1e7, windows_total=1e7, memory_budget=int(need * 1.01))
    with pytest.raises(BudgetError) as err:
        budget.check_budget(
            cost, windows_kept=1e7, windows_total=1e7, memory_budget=int(need * 0.99), option="--max-trials"
        )
    assert err.value.key == "--max-trials"
    assert "--memory-budget" in err.value.problem
    # processes multiply what is kept
    with pytest.raises(BudgetError):
        budget.check_budget(
            cost, windows_kept=1e7, windows_total=1e7, memory_budget=int(need * 1.5), processes=2
        )
    days = budget.MAX_CPU_SECONDS / cost.cpu_s_per_window
    with pytest.raises(BudgetError) as err:
        budget.check_budget(cost, windows_kept=1, windows_total=days * 2, memory_budget=2**40)
    assert "CPU-days" in err.value.problem
    # a --max-seconds limit bounds the work itself
    budget.check_budget(cost, windows_kept=1, windows_total=days * 2, memory_budget=2**40, time_bounded=True)


def test_region_cells_multiply_the_work() -> None:
    one = budget.window_cost(parse_config(STRESS))
    ten = budget.window_cost(parse_config(STRESS, overrides=["region.cells=10"]))
    assert ten.steps == one.steps
    assert ten.steps_per_window == pytest.approx(10 * one.steps_per_window)


@pytest.mark.parametrize(
    ("text", "size"),
    [("8GiB", 8 * 2**30), ("512M", 512 * 2**20), ("2e9", 2_000_000_000), ("1.5 kb", 1536), ("100", 100)],
)
def test_parse_bytes(text: str, size: int) -> None:
    assert budget.parse_bytes(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "-1G", "nan", "inf", "8 parsecs", "0"])
def test_parse_bytes_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        budget.parse_bytes(text)


def test_default_budget_is_half_the_machine() -> None:
    total = budget.default_memory_budget() * 2
    assert 2**28 < total < 2**50
    assert math.isfinite(total)


def test_an_events_table_counts_every_cell_window() -> None:
    cost = budget.window_cost(stress_config(["region.cells=10"]))
    windows = 1e6
    base = budget.BASE_BYTES + windows * budget.BYTES_PER_WINDOW + cost.engine_bytes + budget.BYTES_PER_ROW
    limit = int(base + windows * 10 * budget.BYTES_PER_EVENT / 2)
    budget.check_budget(cost, windows_kept=windows, windows_total=windows, memory_budget=limit)
    with pytest.raises(BudgetError):
        budget.check_budget(
            cost, windows_kept=windows, windows_total=windows, memory_budget=limit, events=True
        )


def test_the_command_line_repeats_the_point_limit() -> None:
    from riskmc.cli import options

    assert options.MAX_POINTS == budget.MAX_POINTS
