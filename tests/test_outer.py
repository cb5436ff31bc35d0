"""Tests of nested uncertainty (riskmc.outer, ``riskmc sweep CONFIG --outer N``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from typer.testing import CliRunner, Result

from riskmc import estimators
from riskmc.cli import app
from riskmc.config import Config, load_config
from riskmc.outer import (
    OUTER_PURPOSE,
    OuterError,
    _inside_range,
    outer_parameters,
    outer_points,
    outer_summary,
)
from riskmc.streams import Purpose
from riskmc.sweep import run_sweep, toml_value
from riskmc.tables import read_table
from tests.conftest import STRESS, stress_config

TRIALS = 100
SEED = 13

LOGUNIFORM_DP = 'degraded.prob={dist="loguniform", a=0.01, b=0.1}'
NESTED_PLANNER = 'planner.interval={dist="expon", scale={dist="uniform", loc=2, scale=3}}'


def small(overrides: Sequence[str] = ()) -> Config:
    return stress_config(["window.hours=0.04", *overrides])


# -- which parameters are outer ----------------------------------------------------------------


def test_outer_parameters_are_the_tables_drawn_per_window() -> None:
    cfg = small(
        [
            LOGUNIFORM_DP,
            NESTED_PLANNER,
            'write.latency={dist="lognorm", s=0.5, scale=0.1}',  # drawn at every use: not outer
            'region.cells={dist="randint", low=1, high=4}',
            'mitigations.deadline={seconds={dist="uniform", loc=10, scale=50}}',
            'mitigations.lease={enabled=false, seconds={dist="uniform", loc=10, scale=50}}',
            'mitigations.empty_guard={repair={dist="expon", scale={dist="uniform", loc=60, scale=60}}}',
        ]
    )
    params = {p.key: p for p in outer_parameters(cfg)}
    assert list(params) == [
        "planner.interval.scale",
        "degraded.prob",
        "region.cells",
        "mitigations.deadline.seconds",
        "mitigations.empty_guard.repair.scale",
    ]
    assert params["region.cells"].integer and not params["degraded.prob"].integer
    assert outer_parameters(stress_config()) == []


def test_outer_purpose_is_its_own_address() -> None:
    others = [p for p in Purpose if p is not Purpose.OUTER]
    assert OUTER_PURPOSE == 100 and OUTER_PURPOSE not in {int(p) for p in others}


# -- the draws -----------------------------------------------------------------------------------


def test_outer_points_are_a_latin_hypercube_through_the_ppf() -> None:
    n = 20
    cfg = small([LOGUNIFORM_DP, NESTED_PLANNER, 'region.cells={dist="randint", low=1, high=5}'])
    points = outer_points(cfg, n, SEED)
    assert len(points) == n and outer_points(cfg, n, SEED) == points
    assert outer_points(cfg, n, SEED + 1) != points
    # One draw in each of the n equal-probability strata of each parameter's distribution.
    cdf = scipy.stats.loguniform(0.01, 0.1).cdf([p["degraded.prob"] for p in points])
    assert sorted(np.floor(cdf * n).astype(int).tolist()) == list(range(n))
    cells = [p["region.cells"] for p in points]
    assert all(isinstance(c, int) and 1 <= c <= 4 for c in cells)
    assert sorted(cells) == [c for c in (1, 2, 3, 4) for _ in range(5)]  # 20 strata over 4 values
    assert all(2 <= p["planner.interval.scale"] <= 5 for p in points)


def test_nested_tables_are_drawn_hierarchically_with_the_right_marginal() -> None:
    # scale ~ lognorm(s=0.5, scale=M), M ~ lognorm(s=0.5, scale=3): log(scale) ~ N(log 3, 0.5 * sqrt 2).
    inner = '{dist="lognorm", s=0.5, scale={dist="lognorm", s=0.5, scale=3}}'
    cfg = small([f'planner.interval={{dist="expon", scale={inner}}}'])
    (param,) = outer_parameters(cfg)
    assert param.dims == 2
    n = 2000
    x = np.array([p["planner.interval.scale"] for p in outer_points(cfg, n, SEED)])
    ks = scipy.stats.kstest(x, scipy.stats.lognorm(s=0.5 * math.sqrt(2), scale=3).cdf)
    assert ks.statistic < 1.95 / math.sqrt(n)  # the 0.1% critical value of the KS statistic
    # Had the inner table been ignored (scale fixed at 3), the spread would be too small:
    assert ks.statistic < scipy.stats.kstest(x, scipy.stats.lognorm(s=0.5, scale=3).cdf).statistic


def test_draws_stay_inside_open_ranges() -> None:
    assert _inside_range("write.fail_prob", 1.0) < 1.0
    assert _inside_range("enactors.poll_interval", 0.0) > 0.0
    assert _inside_range("degraded.prob", 1.0) == 1.0  # a closed end stays
    cfg = small(['write.fail_prob={dist="beta", a=5, b=0.05}'])  # mass piled up against 1
    for point in outer_points(cfg, 50, SEED):
        assert 0 <= point["write.fail_prob"] < 1
        cfg.with_overrides([f"write.fail_prob={point['write.fail_prob']!r}"])


def test_no_distribution_parameter_is_an_outer_error() -> None:
    with pytest.raises(OuterError, match="no parameter given as a distribution"):
        outer_points(stress_config(), 4, SEED)
    with pytest.raises(OuterError):
        outer_points(small([LOGUNIFORM_DP]), 0, SEED)


def test_draws_run_on_common_random_numbers() -> None:
    """repair.duration cannot change whether an event happens: with only its (nested) scale
    drawn, every outer draw has the same events, but not the same impact."""
    cfg = small(['repair.duration={dist="lognorm", s=0.5, scale={dist="uniform", loc=600, scale=6000}}'])
    rows = run_sweep(cfg, outer_points(cfg, 3, SEED), TRIALS, SEED, index_column="outer")
    assert [r["outer"] for r in rows] == [0, 1, 2]
    assert len({r["p_cell_window"] for r in rows}) == 1 and rows[0]["events"] > 0
    assert len({r["impact_per_year_min"] for r in rows}) == 3


# -- the summary ---------------------------------------------------------------------------------


def test_summary_percentiles_and_mean_half_width() -> None:
    rows = [
        {"scenario": "s", "trials": 10, "seed": 1, "x": float(v), "x_lo": v - 1.0, "x_hi": v + 3.0, "n": 1}
        for v in range(1, 22)
    ]
    rows[3]["x"] = math.nan
    (row,) = outer_summary(rows, ["a", "b"])
    values = [float(v) for v in range(1, 22) if v != 4]
    assert row["estimate"] == "x" and row["draws"] == 21 and row["finite_draws"] == 20
    assert row["p05"] == pytest.approx(np.percentile(values, 5))
    assert row["p50"] == pytest.approx(np.percentile(values, 50))
    assert row["p95"] == pytest.approx(np.percentile(values, 95))
    assert row["mean"] == pytest.approx(np.mean(values))
    assert row["mc_half_width_mean"] == pytest.approx(2.0)
    assert row["parameters"] == "a,b" and row["trials"] == 10 and row["seed"] == 1


# -- the command line ------------------------------------------------------------------------------

runner = CliRunner()


def invoke(args: Sequence[object]) -> Result:
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = ['name = "nested"', "window = { hours = 0.04 }"]
    for section, table in STRESS.items():
        if section == "window":
            continue
        if section == "degraded":
            table = {**table, "prob": {"dist": "loguniform", "a": 0.01, "b": 0.1}}
        lines.append(f"{section} = {toml_value(table)}")
    path = tmp_path_factory.mktemp("cfg") / "nested.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_outer_writes_draws_and_summary(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = ["sweep", config_file, "--outer", 4, "--trials", TRIALS, "--seed", SEED, "--out", out]
    result = invoke([*args, "--workers", 1, "--format", "csv"])
    assert result.exit_code == 0, result.output
    draws = read_table(out.with_suffix(".csv"))
    assert draws["outer"].to_list() == [0, 1, 2, 3]
    cfg = small([LOGUNIFORM_DP])
    assert draws["degraded.prob"].to_list() == [p["degraded.prob"] for p in outer_points(cfg, 4, SEED)]
    summary = read_table(tmp_path / "o_summary.csv")
    assert "p_cell_window" in summary["estimate"].to_list()
    p = summary.filter(summary["estimate"] == "p_cell_window").to_dicts()[0]
    values = draws["p_cell_window"].to_numpy()
    assert p["p05"] == pytest.approx(np.percentile(values, 5))
    assert p["p95"] == pytest.approx(np.percentile(values, 95))
    half = (draws["p_cell_window_hi"] - draws["p_cell_window_lo"]).to_numpy() / 2
    assert p["mc_half_width_mean"] == pytest.approx(half.mean())
    assert p["parameters"] == "degraded.prob"
    assert "outer nested: 4 draws of degraded.prob" in result.stdout and "4 run, 0 reused" in result.stdout

    again = invoke([*args, "--workers", 1, "--format", "csv", "--resume"])
    assert again.exit_code == 0, again.output
    assert "0 run, 4 reused" in again.stdout
    assert read_table(out.with_suffix(".csv")).equals(draws)


def test_cli_outer_shares_one_estimator_plan(config_file: Path, tmp_path: Path) -> None:
    """--outer with --estimator is: every draw runs under the plan resolved once on the base
    configuration (its pilot over the drawn parameters); --resume under another plan reruns."""
    low = 'degraded.prob={dist="loguniform", a=0.0005, b=0.002}'  # below the pilot's q: a real tilt
    out = tmp_path / "o"
    args = ["sweep", config_file, "--outer", 3, "--trials", TRIALS, "--seed", SEED, "--set", low]
    args += ["--out", out, "--workers", 1, "--format", "csv", "-q"]
    result = invoke([*args, "--estimator", "is"])
    assert result.exit_code == 0, result.output
    draws = read_table(out.with_suffix(".csv"))
    plan = estimators.resolve(load_config(config_file, [low]), SEED, "is")
    assert plan.tilts
    assert draws["outer"].to_list() == [0, 1, 2]
    assert draws["estimator"].to_list() == ["is"] * 3 and draws["proposal"].to_list() == [plan.short] * 3
    assert (draws["ess"] != draws["trials"]).all()  # weighted
    assert all(0.0005 <= p <= 0.002 for p in draws["degraded.prob"])
    again = invoke([*args, "--estimator", "naive", "--resume"])
    assert again.exit_code == 0, again.output
    assert read_table(out.with_suffix(".csv"))["proposal"].to_list() == ["naive"] * 3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--outer", 3, "--grid", "write.fail_prob=0.01,0.02"], "--outer excludes --grid"),
        (["--outer", 3, "--lhs", 2, "--range", "write.fail_prob=0.01:0.02"], "--outer excludes"),
        (["--outer", 3, "--set", "degraded.prob=0.05"], "--outer: nested has no parameter"),
        (["--outer", 0], "--outer"),
    ],
)
def test_cli_outer_bad_input_one_error_line(
    config_file: Path, tmp_path: Path, args: list[object], fragment: str
) -> None:
    result = invoke(["sweep", config_file, *args, "--trials", 10, "--out", tmp_path / "e"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0]
    assert list(tmp_path.iterdir()) == []
