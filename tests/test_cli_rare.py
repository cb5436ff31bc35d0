"""The rare-event options of ``riskmc run`` and ``riskmc calibrate`` (riskmc.cli)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from riskmc.tables import read_table

from .test_cli import assert_one_error_line, invoke

#: Events need a degraded run, and degraded runs are rare: auto picks importance sampling.
RARE = """\
trials = 2000

[window]
hours = 0.25

[planner]
interval = {dist = "expon", scale = 3}

[enactors]
poll_interval = 2.0

[endpoints]
count = 20

[write]
fail_prob = 0.01

[degraded]
prob = 1e-7
fail_prob = 0.8

[cleanup]
keep_generations = 10
"""


@pytest.fixture(scope="module")
def rare_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "rare.toml"
    path.write_text(RARE)
    return path


def test_run_with_a_target_stops_there(rare_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = invoke(["run", rare_file, "--target-rel-err", "0.15", "--out", out])
    assert result.exit_code == 0, result.output
    row = read_table(out.with_suffix(".csv")).row(0, named=True)
    assert row["estimator"] == "is" and row["stopped_by"] == "target"
    assert row["rel_err"] <= 0.15 and row["events"] >= 10
    assert row["p_cell_window"] < 1e-4 and row["p_cell_window_method"].startswith("importance sampling")
    assert row["ess"] > row["trials"] and row["effective_hits"] > 0
    assert row["target_rel_err"] == 0.15 and row["proposal_q"] > 0
    assert "stopped by" in result.stdout and "target reached" in result.stdout
    assert read_table(out.with_suffix(".parquet")).columns == read_table(out.with_suffix(".csv")).columns


def test_run_naive_with_target_and_budget(rare_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "n"
    args = ["run", rare_file, "--estimator", "naive", "--target-rel-err", "0.1", "--max-trials", "2000"]
    result = invoke([*args, "--out", out, "--quiet"])
    assert result.exit_code == 0, result.output
    row = read_table(out.with_suffix(".csv")).row(0, named=True)
    assert row["estimator"] == "naive" and row["stopped_by"] == "max-trials" and row["trials"] == 2000
    assert row["events"] == 0 and math.isinf(row["rel_err"])
    assert result.stdout == ""


def test_fixed_trials_with_importance_sampling(rare_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "f"
    result = invoke(["run", rare_file, "--estimator", "is", "--trials", "1000", "--out", out, "-q"])
    assert result.exit_code == 0, result.output
    row = read_table(out.with_suffix(".csv")).row(0, named=True)
    assert row["trials"] == 1000 and row["stopped_by"] == "trials" and row["estimator"] == "is"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--trials", "10", "--target-rel-err", "0.1"], ("--trials", "--max-trials")),
        (["--max-seconds", "5"], ("--max-seconds", "--target-rel-err")),
        (["--min-hits", "5"], ("--min-hits",)),
        (["--target-rel-err", "0"], ("--target-rel-err", "> 0")),
        (["--target-rel-err", "nan"], ("--target-rel-err",)),
        (["--estimator", "magic"], ("--estimator",)),
        (["--estimator", "is", "--events", "ev"], ("--events", "--estimator naive")),
    ],
)
def test_run_rejects_bad_combinations(rare_file: Path, tmp_path: Path, args: list[str], fragments) -> None:
    result = invoke(["run", rare_file, *args, "--out", tmp_path / "x"])
    assert_one_error_line(result, *fragments)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_calibrate_writes_value_and_curve(rare_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    args = ["calibrate", rare_file, "--param", "degraded.prob", "--observed-events", "2"]
    result = invoke(
        [*args, "--exposure-cell-hours", "1e6", "--trials", "1000", "--points", "5", "--out", out]
    )
    assert result.exit_code == 0, result.output
    row = read_table(out.with_suffix(".csv")).row(0, named=True)
    assert row["param"] == "degraded.prob" and row["observed_events"] == 2
    assert row["value_lo"] < row["value"] < row["value_hi"]
    curve = read_table(tmp_path / "c_curve.csv")
    assert curve.height == 5 and "events_per_cell_hour" in curve.columns
    assert "degraded.prob" in result.stdout and "Poisson" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["--param", "degraded.prob", "--observed-events", "0", "--exposure-cell-hours", "1e6"],
            ("--observed-events",),
        ),
        (
            ["--param", "degraded.prob", "--observed-events", "1", "--exposure-cell-hours", "-1"],
            ("--exposure",),
        ),
        (["--param", "nope.key", "--observed-events", "1", "--exposure-cell-hours", "1e6"], ("nope.key",)),
        (
            [
                "--param",
                "degraded.prob",
                "--observed-events",
                "1",
                "--exposure-cell-hours",
                "1e6",
                "--high",
                "2",
            ],
            ("degraded.prob",),
        ),
        (["--observed-events", "1", "--exposure-cell-hours", "1e6"], ("--param",)),
    ],
)
def test_calibrate_rejects_bad_input(rare_file: Path, tmp_path: Path, args: list[str], fragments) -> None:
    result = invoke(["calibrate", rare_file, *args, "--trials", "1000", "--out", tmp_path / "x"])
    assert_one_error_line(result, *fragments)
    assert list(tmp_path.iterdir()) == []
