"""Command-line conventions (riskmc.cli.summaries, .workers, and the shared options): --json,
a scenario on standard input, shell completion, output directories, the terminal's short
method names and impacts in words, sensitivity on worker processes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from riskmc.cli.summaries import (
    MINUTES_PER_YEAR,
    duration_words,
    impact_words,
    interval_text,
    json_value,
    terse_method,
)
from riskmc.config import load_config
from riskmc.estimators import MINUTES_PER_YEAR as LIBRARY_MINUTES_PER_YEAR
from riskmc.explain import find_event_trial
from tests.test_cli import CONFIG, TRIALS, assert_one_error_line, invoke, one_row


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "small.toml"
    path.write_text(CONFIG)
    return path


# -- --json ----------------------------------------------------------------------------------------


def test_run_json_is_the_row_written(config_file: Path, tmp_path: Path) -> None:
    result = invoke(
        ["run", config_file, "--trials", TRIALS, "--seed", "7", "--out", tmp_path / "r", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # the whole of stdout is one JSON document: no summary
    row = one_row(tmp_path / "r")
    assert set(doc) == set(row)
    for key, value in row.items():
        if isinstance(value, float) and math.isinf(value):
            assert doc[key] == ("inf" if value > 0 else "-inf"), key
        elif isinstance(value, float) and math.isnan(value):
            assert doc[key] is None, key
        else:
            assert doc[key] == value, key


def test_compare_and_sweep_json_are_arrays_of_rows(config_file: Path, tmp_path: Path) -> None:
    args = ["compare", config_file, "--mitigation", "recheck,deadline", "--trials", TRIALS]
    compare = invoke([*args, "--out", tmp_path / "c", "--json"])
    assert compare.exit_code == 0, compare.output
    rows = json.loads(compare.stdout)
    assert [r["mitigation"] for r in rows] == pl.read_csv(tmp_path / "c.csv")["mitigation"].to_list()
    args = ["sweep", config_file, "--grid", "degraded.prob=0.01,0.02", "--trials", "100", "--workers", "1"]
    sweep = invoke([*args, "--out", tmp_path / "s", "--json"])
    assert sweep.exit_code == 0, sweep.output
    points = json.loads(sweep.stdout)
    assert [p["degraded.prob"] for p in points] == [0.01, 0.02]


def test_json_value_has_no_non_finite_numbers() -> None:
    doc = json_value({"a": math.inf, "b": -math.inf, "c": math.nan, "d": [1.5, {"e": math.nan}]})
    assert doc == {"a": "inf", "b": "-inf", "c": None, "d": [1.5, {"e": None}]}
    json.dumps(doc, allow_nan=False)


# -- a scenario on standard input ------------------------------------------------------------------


def test_config_from_stdin_gives_the_file_s_numbers(config_file: Path, tmp_path: Path) -> None:
    args = [sys.executable, "-m", "riskmc", "run", "-", "--trials", TRIALS, "--seed", "7", "-q"]
    text = config_file.read_text()
    piped = subprocess.run([*args, "--out", str(tmp_path / "p")], input=text.encode(), capture_output=True)
    assert piped.returncode == 0, piped.stderr
    result = invoke(["run", config_file, "--trials", TRIALS, "--seed", "7", "--out", tmp_path / "f", "-q"])
    assert result.exit_code == 0, result.output
    a, b = one_row(tmp_path / "p"), one_row(tmp_path / "f")
    assert a["scenario"] == "stdin" and b["scenario"] == "small"  # no name key: stdin's default
    for key in ("events", "p_cell_window", "p_cell_window_hi", "impact_per_year_min"):
        assert a[key] == b[key], key


def test_stdin_errors_are_one_line(tmp_path: Path) -> None:
    for data, fragment in ((b"", "sets no key"), (b"x =", "invalid TOML"), (b"\xff", "not UTF-8")):
        out = subprocess.run(
            [sys.executable, "-m", "riskmc", "run", "-", "--out", str(tmp_path / "x")],
            input=data,
            capture_output=True,
        )
        lines = out.stderr.decode().strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1, out.stderr
        assert lines[0].startswith("error: <stdin>: ") and fragment in lines[0], lines[0]


def test_stdin_relative_paths_resolve_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lat.txt").write_text("0.1\n0.2\n0.3\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", _Stdin(b'write.latency = { dist = "empirical", file = "lat.txt" }\n'))
    cfg = load_config("-")
    assert cfg.name == "stdin" and cfg.source == "<stdin>"


class _Stdin:
    """A piped standard input (not a terminal) holding ``data``."""

    def __init__(self, data: bytes) -> None:
        import io

        self.buffer = io.BytesIO(data)

    def isatty(self) -> bool:
        return False


# -- shell completion and output directories -------------------------------------------------------


def test_shell_completion_completes_commands_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "_RISKMC_COMPLETE": "complete_bash", "COMP_WORDS": "riskmc sen", "COMP_CWORD": "1"}
    out = subprocess.run([sys.executable, "-m", "riskmc"], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["sensitivity"], (out.stdout, out.stderr)
    env.update(COMP_WORDS="riskmc run x.toml --thr", COMP_CWORD="3")
    out = subprocess.run([sys.executable, "-m", "riskmc"], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["--threads"]
    # Typer detects the shell from the parent processes unless told not to; a test run
    # without a shell among them (a detached job) would find none, so name it.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    script = invoke(["--show-completion", "bash"])
    assert script.exit_code == 0 and "_RISKMC_COMPLETE" in script.stdout, (script.output, script.exception)


def test_a_missing_output_directory_is_an_error(config_file: Path, tmp_path: Path) -> None:
    for option in ("--out", "--events", "--exceedance"):
        result = invoke(["run", config_file, "--trials", TRIALS, option, tmp_path / "nowhere" / "r"])
        assert_one_error_line(result, option, "does not exist")
    assert not (tmp_path / "nowhere").exists()


# -- the terminal's texts --------------------------------------------------------------------------


def test_terse_method_names_the_procedure_and_its_bounds() -> None:
    full = (
        "importance sampling (degraded runs at q = 0.000879, 25% of windows untilted): Wilson at the "
        "effective sample size; upper end + the zero-hit bound of the unobserved stratum no_degraded "
        "(one-sided 1.250% each)"
    )
    assert terse_method(full) == "Wilson (ESS) + unseen-stratum bound"
    assert terse_method("naive: Wilson at the effective sample size") == "Wilson (ESS)"
    capped = (
        "naive; compound year model, 10000 simulated years; percentile bootstrap (200 resamples); "
        "upper end capped at 525960, the largest possible value"
    )
    assert terse_method(capped) == "simulated years, percentile bootstrap, capped"
    assert len(terse_method("naive: " + "some new procedure " * 10)) <= 40


def test_a_probability_is_never_printed_unbounded() -> None:
    assert interval_text("p_cell_window", 0.0, 0.0, math.inf) == "0 [0, 1]"
    assert interval_text("risk_ratio", 0.0, 0.0, math.inf) == "0 [0, no upper bound]"
    assert interval_text("p_region_year", 0.5, 0.25, 0.75) == "0.5 [0.25, 0.75]"


def test_impacts_in_words_and_the_year_flag() -> None:
    assert MINUTES_PER_YEAR == LIBRARY_MINUTES_PER_YEAR
    assert duration_words(0.468) == "28 s"
    assert duration_words(157.0) == "2.6 h"
    assert duration_words(10 * 24 * 60) == "10 days"
    assert impact_words("impact_given_event_min", 0.468, 1.0).endswith("lost for 28 s")
    assert impact_words("impact_per_year_min", 0.0, 1.0) == "= no traffic lost a year"
    assert "ABOVE" not in impact_words("impact_per_year_min", 60.0, MINUTES_PER_YEAR)
    assert "ABOVE the 525,960 minutes" in impact_words("impact_per_year_min", 60.0, 2 * MINUTES_PER_YEAR)
    assert impact_words("p_cell_window", 0.1, 0.2) == ""


# -- sensitivity on workers, explain's search ------------------------------------------------------


def test_sensitivity_on_two_workers_is_identical(config_file: Path, tmp_path: Path) -> None:
    args = ["sensitivity", config_file, "--range", "degraded.prob=0.005:0.05:log", "--n", "2"]
    args += ["--trials", "100", "--estimator", "naive", "-q"]
    one = invoke([*args, "--out", tmp_path / "one"])
    two = invoke([*args, "--workers", "2", "--out", tmp_path / "two"])
    assert one.exit_code == 0 and two.exit_code == 0, (one.output, two.output)
    a, b = pl.read_parquet(tmp_path / "one.parquet"), pl.read_parquet(tmp_path / "two.parquet")
    assert a.drop("elapsed_s", strict=False).equals(b.drop("elapsed_s", strict=False))
    both = invoke([*args, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1", "--out", tmp_path / "x"])
    assert_one_error_line(both, "--workers and --scheduler exclude each other")


def test_explain_search_reports_progress() -> None:
    from tests.conftest import stress_config

    ticks: list[int] = []
    rarer = stress_config(["degraded.prob=0.002", "cleanup.keep_generations=20"])
    found = find_event_trial(rarer, 3, 20_000, ticks.append)
    assert found is not None
    trial, _cell = found
    assert trial >= 1000  # (else the test would see no tick)
    assert ticks == [1000] * (trial // 1000)  # every block searched before the one with the event
    ticks.clear()
    assert find_event_trial(rarer, 3, 1500, ticks.append) is None
    assert ticks == [1000, 500]
