"""Tests of the riskmc command line (riskmc.cli) through typer's CliRunner."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner, Result

import riskmc
import riskmc.cli as cli
import riskmc.cli.progress as cli_progress
from riskmc import estimators
from riskmc.cli import app, format_number, output_base, target_progress, trial_progress
from riskmc.config import load_config
from riskmc.engine import simulate_cell
from riskmc.estimators.cascade import CASCADE_ESTIMATES
from riskmc.params import sample_windows
from riskmc.sweep import toml_value
from riskmc.tables import read_table
from tests.conftest import STRESS

CONFIG = """\
trials = 1000

[window]
hours = 0.25

[planner]
interval = {dist = "expon", scale = 3}

[enactors]
poll_interval = 2.0

[endpoints]
count = 5

[degraded]
prob = 0.02
fail_prob = 0.8

[cleanup]
keep_generations = 3
"""

TRIALS = "200"  # a fraction of one block: keeps every run well under a second or two

#: At degraded.prob 0.002 the pilot's q = 1 / (runs per window) is above the model's degraded
#: probability, so ``--estimator is`` really tilts (at the config's 0.02 it would not: q_i =
#: max(p, q) = p and every weight is 1).
TILTED = ["--set", "degraded.prob=0.002"]

#: The results row, in order (brief / ``Run.row()``): identification and counts ...
LEADING_COLUMNS = [
    "scenario",
    "estimator",
    "proposal",
    "proposal_q",
    "defensive_share",
    "trials",
    "cells_simulated",
    "events",
    "events_no_degraded",
    "events_degraded",
    "region_event_windows",
    "ess",
    "effective_hits",
    "barely_boosted_share",
    "windows_per_region_year",
]
#: ... each estimate with _lo, _hi, _method ...
ESTIMATES = [
    "p_cell_window",
    "p_cell_window_no_degraded",
    "p_cell_window_degraded",
    "mean_plan_age_s",
    "runs_per_hour",
    "abandoned_runs_per_hour",
    "p_region_window",
    "events_per_region_year",
    "p_region_year",
    "impact_given_event_min",
    "impact_per_year_min",
    "impact_per_year_p99_min",
    "impact_per_year_cvar99_min",
    "cells_per_event_window",
]
#: ... the diagnostics, then the config's keys.
TRAILING_COLUMNS = [
    "rel_err",
    "unobserved_strata",
    "stopped_by",
    "target_rel_err",
    "min_hits",
    "seed",
    "version",
    "elapsed_s",
]
PARAMETER_COLUMNS = ["write.fail_prob", "degraded.prob", "endpoints.count", "region.cells"]

runner = CliRunner()


def invoke(args: Sequence[object]) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def assert_one_error_line(result: Result, *fragments: str, code: int = 2) -> str:
    """Exit ``code``, exactly one non-empty stderr line starting 'error:', no traceback."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def one_row(base: Path, suffix: str = ".parquet") -> dict[str, object]:
    df = read_table(base.with_suffix(suffix))
    assert df.height == 1
    return df.row(0, named=True)


def stress_toml(name: str, cells: int = 1) -> str:
    lines = [f"name = {toml_value(name)}", "window = { hours = 0.05 }", f"region = {{ cells = {cells} }}"]
    lines += [f"{section} = {toml_value(table)}" for section, table in STRESS.items() if section != "window"]
    return "\n".join(lines) + "\n"


def half_width_se(row: dict[str, object], name: str) -> float:
    """A standard error from a 95% interval's width (the row holds no SE)."""
    return (float(row[f"{name}_hi"]) - float(row[f"{name}_lo"])) / (2 * 1.96)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "small.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def first_run(config_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    out = tmp_path_factory.mktemp("run") / "x"
    result = invoke(["run", config_file, "--trials", TRIALS, "--seed", "7", "--out", out])
    return result, out


@pytest.fixture(scope="module")
def tilted_run(config_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """``run --estimator is`` with a target, --events and --exceedance (parquet)."""
    d = tmp_path_factory.mktemp("is")
    args = ["run", config_file, *TILTED, "--estimator", "is", "--seed", "3", "--target-rel-err", "0.5"]
    args += ["--events", d / "ev", "--exceedance", d / "ex", "--out", d / "row", "--format", "parquet"]
    return invoke(args), d


# -- successful runs -------------------------------------------------------------------------------


def test_run_writes_csv_and_parquet(first_run: tuple[Result, Path]) -> None:
    result, out = first_run
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # not a terminal: no progress bar
    csv, parquet = out.with_suffix(".csv"), out.with_suffix(".parquet")
    assert csv.is_file() and parquet.is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.csv", "x.parquet"]
    row = one_row(out, ".csv")
    assert row["scenario"] == "small"
    # auto: the pilot sees plenty of events at this configuration, so plain Monte Carlo.
    assert row["estimator"] == "naive" and row["proposal"] == "naive"
    assert math.isnan(row["proposal_q"]) and row["defensive_share"] == 1.0
    assert row["trials"] == int(TRIALS) and row["cells_simulated"] == int(TRIALS)  # one cell each
    assert row["seed"] == 7
    assert row["version"] == riskmc.__version__
    assert row["stopped_by"] == "trials" and math.isnan(row["target_rel_err"])
    assert row["p_cell_window_method"] == "naive: Wilson at the effective sample size"
    assert row["p_cell_window_lo"] <= row["p_cell_window"] <= row["p_cell_window_hi"]
    assert row["write.fail_prob"] == pytest.approx(0.01)
    assert row["degraded.prob"] == pytest.approx(0.02)
    # one cell per window: the events are the cell-windows with one, p their share
    assert row["events"] > 0 and row["events"] == round(row["p_cell_window"] * row["trials"])
    assert row["events"] == row["events_no_degraded"] + row["events_degraded"]
    assert row["region_event_windows"] == row["events"]
    # A naive sample undersamples nothing: no stratum is "unobserved", whatever it saw.
    assert row["unobserved_strata"] in ("", None)
    assert row["ess"] == row["trials"]
    assert row["windows_per_region_year"] == 8766 / 0.25
    pq = read_table(parquet)
    assert pq.columns == read_table(csv).columns
    assert pq.row(0, named=True)["p_cell_window"] == row["p_cell_window"]


def test_row_columns_in_documented_order(first_run: tuple[Result, Path]) -> None:
    _, out = first_run
    columns = read_table(out.with_suffix(".parquet")).columns
    assert columns[: len(LEADING_COLUMNS)] == LEADING_COLUMNS
    estimate_columns = [f"{e}{s}" for e in ESTIMATES for s in ("", "_lo", "_hi", "_method")]
    i = len(LEADING_COLUMNS)
    assert columns[i : i + len(estimate_columns)] == estimate_columns
    i += len(estimate_columns)
    cascade_columns = [f"{e}{s}" for e in CASCADE_ESTIMATES for s in ("", "_lo", "_hi", "_method")]
    assert columns[i : i + len(cascade_columns)] == cascade_columns
    i += len(cascade_columns)
    assert columns[i : i + len(TRAILING_COLUMNS)] == TRAILING_COLUMNS
    assert set(PARAMETER_COLUMNS) <= set(columns[i + len(TRAILING_COLUMNS) :])
    for gone in ("region_windows", "region_events", "chunk_trials", "name", "trials_per_chunk"):
        assert gone not in columns


def test_run_summary(first_run: tuple[Result, Path]) -> None:
    result, out = first_run
    text = result.stdout
    for fragment in (
        "small",
        "naive (plain Monte Carlo)",
        "200 region-windows, 200 cell-windows (seed 7)",
        "p_cell_window",
        "without a degraded run",
        "with a degraded run",
        "95% CI",
        "Wilson (ESS)]",  # the short name on the terminal; the file has the full text
        "mean_plan_age_s",
        "runs_per_hour",
        "the trials asked for",
    ):
        assert fragment in text, fragment
    assert "region-windows/s" in text
    assert "ess" not in text.split()  # only importance sampling reports an ess
    assert str(out.with_suffix(".csv")) in text
    assert str(out.with_suffix(".parquet")) in text
    assert "\x1b[" not in text  # plain text when not a terminal


def test_same_seed_same_estimates(first_run: tuple[Result, Path], config_file: Path, tmp_path: Path) -> None:
    _, out = first_run
    again = invoke(["run", config_file, "--trials", TRIALS, "--seed", "7", "--out", tmp_path / "y", "-q"])
    assert again.exit_code == 0, again.output
    assert again.stdout == ""  # --quiet
    a = read_table(out.with_suffix(".parquet")).drop("elapsed_s")
    b = read_table(tmp_path / "y.parquet").drop("elapsed_s")
    assert a.equals(b)


def test_set_changes_parameter_column_and_format_csv(config_file: Path, tmp_path: Path) -> None:
    result = invoke(
        [
            "run",
            config_file,
            "--trials",
            TRIALS,
            "--set",
            "write.fail_prob=0.2",
            "--set",
            "name=tweaked",
            "--out",
            tmp_path / "z.parquet",
            "--format",
            "csv",
        ]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.csv"]
    row = read_table(tmp_path / "z.csv").row(0, named=True)
    assert row["write.fail_prob"] == pytest.approx(0.2)
    assert row["scenario"] == "tweaked"
    assert row["seed"] == 20251020  # the config's default seed


def test_default_out_is_results_dir(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(["run", config_file, "--trials", TRIALS, "--format", "parquet", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["small.parquet"]
    assert isinstance(read_table(tmp_path / "results" / "small.parquet"), pl.DataFrame)


# -- estimator options ------------------------------------------------------------------------------


def test_estimator_is_with_defensive_share(config_file: Path, tmp_path: Path) -> None:
    """--estimator is --defensive A: the row names the plan that ``resolve`` gives (its pilot
    on the same seed), and the estimates are weighted."""
    out = tmp_path / "is"
    args = ["run", config_file, *TILTED, "--trials", 1000, "--seed", 5, "--estimator", "is"]
    result = invoke([*args, "--defensive", "0.5", "--out", out])
    assert result.exit_code == 0, result.output
    row = one_row(out)
    plan = estimators.resolve(load_config(config_file, ["degraded.prob=0.002"]), 5, "is", defensive=0.5)
    assert plan.tilts and plan.q > 0.002  # the tilt is real at this configuration
    assert row["estimator"] == "is" and row["proposal"] == plan.short == f"is(q={plan.q:.3g}, alpha=0.5)"
    assert row["proposal_q"] == plan.q and row["defensive_share"] == 0.5
    assert str(row["p_cell_window_method"]).startswith(
        f"importance sampling (degraded runs at q = {plan.q:.3g}, 50% of windows untilted)"
    )
    assert row["ess"] != row["trials"]  # unequal weights
    assert f"{plan.label}; pilot:" in result.stdout and "ess" in result.stdout
    assert "cell-windows with an event drawn under the proposal" in result.stdout


def test_naive_and_importance_sampling_agree(config_file: Path, tmp_path: Path) -> None:
    """The two estimators estimate the same p (4 combined standard errors, fixed seeds).  The
    degraded stratum is compared: the total's upper end under is carries the bound of the
    stratum it has not seen."""
    rows = {}
    for name in ("naive", "is"):
        args = ["run", config_file, *TILTED, "--trials", 1000, "--seed", 11, "--estimator", name]
        result = invoke([*args, "--out", tmp_path / name, "-q"])
        assert result.exit_code == 0, result.output
        rows[name] = one_row(tmp_path / name)
    naive, tilted = rows["naive"], rows["is"]
    assert naive["estimator"] == "naive" and tilted["estimator"] == "is"
    assert naive["p_cell_window"] != tilted["p_cell_window"]  # really two samples
    name = "p_cell_window_degraded"
    se = math.hypot(half_width_se(naive, name), half_width_se(tilted, name))
    assert abs(float(naive[name]) - float(tilted[name])) <= 4 * se
    # importance sampling is the more precise of the two here
    assert half_width_se(tilted, name) < half_width_se(naive, name)


def test_threads_do_not_change_the_results(config_file: Path, tmp_path: Path) -> None:
    tables = []
    for threads in (1, 2):
        out = tmp_path / f"t{threads}"
        args = ["run", config_file, *TILTED, "--trials", 1500, "--estimator", "is", "--threads", threads]
        result = invoke([*args, "--out", out, "-q"])
        assert result.exit_code == 0, result.output
        tables.append(read_table(out.with_suffix(".parquet")).drop("elapsed_s"))
    assert tables[0].row(0, named=True)["trials"] == 1500
    assert tables[0].equals(tables[1])


def test_auto_is_naive_when_events_are_common(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "auto"
    result = invoke(["run", config_file, *TILTED, "--trials", TRIALS, "--out", out, "-q"])
    assert result.exit_code == 0, result.output
    assert one_row(out)["estimator"] == "naive"  # the pilot sees >= 10 events


# -- stopping: a target, a time limit ---------------------------------------------------------------


def test_run_with_a_target_stops_at_a_block_boundary(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    args = ["run", config_file, "--estimator", "naive", "--target-rel-err", "0.2", "--seed", 3]
    result = invoke([*args, "--out", out])
    assert result.exit_code == 0, result.output
    row = one_row(out)
    assert row["stopped_by"] == "target" and row["target_rel_err"] == 0.2
    assert row["trials"] % 1000 == 0 and row["trials"] > 0
    assert row["rel_err"] <= 0.2 and row["effective_hits"] >= row["min_hits"] == 10
    half = (row["p_cell_window_hi"] - row["p_cell_window_lo"]) / 2
    assert row["rel_err"] == pytest.approx(half / row["p_cell_window"])
    assert "target reached: rel_err" in result.stdout
    # The estimate it stopped at is the one of the same trials run as such.
    fixed = tmp_path / "f"
    args = ["run", config_file, "--estimator", "naive", "--trials", row["trials"], "--seed", 3]
    again = invoke([*args, "--out", fixed, "-q"])
    assert again.exit_code == 0, again.output
    assert one_row(fixed)["p_cell_window"] == pytest.approx(row["p_cell_window"], rel=1e-12)


def test_max_seconds_without_a_target_stops_after_a_block(config_file: Path, tmp_path: Path) -> None:
    """--max-seconds alone: the run stops at the first block boundary past the limit, and what it
    reports is the run of the trials it did."""
    out, ref = tmp_path / "m", tmp_path / "r"
    common = ["run", config_file, "--estimator", "naive", "--seed", 9, "-q"]
    result = invoke([*common, "--trials", 3000, "--max-seconds", "1e-6", "--out", out])
    assert result.exit_code == 0, result.output
    row = one_row(out)
    assert row["stopped_by"] == "max-seconds" and row["trials"] == 1000
    assert invoke([*common, "--trials", 1000, "--out", ref]).exit_code == 0
    expected = one_row(ref)
    for column in ("events", *ESTIMATES, *(f"{e}_hi" for e in ESTIMATES)):
        assert row[column] == expected[column], column
    # A generous limit does not stop it.
    roomy = invoke([*common, "--trials", 1000, "--max-seconds", "600", "--out", tmp_path / "g"])
    assert roomy.exit_code == 0, roomy.output
    assert one_row(tmp_path / "g")["stopped_by"] == "trials"


# -- events and exceedance tables -------------------------------------------------------------------


def test_events_and_exceedance_under_importance_sampling(tilted_run: tuple[Result, Path]) -> None:
    result, d = tilted_run
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in d.iterdir()) == ["ev.parquet", "ex.parquet", "row.parquet"]
    row = one_row(d / "row")
    assert row["estimator"] == "is" and row["stopped_by"] == "target" and row["trials"] == 1000
    ev = read_table(d / "ev.parquet")
    assert ev.columns == [
        "trial",
        "cell",
        "time_s",
        "cause",
        "degraded_runs",
        "affected_endpoints",
        "affected_weight",
        "duration_s",
        "impact_min",
        "weight",
    ]
    # The same events as the row counts, re-simulated cell by cell.
    assert ev.height == row["events"] > 0
    assert ev["trial"].n_unique() == row["region_event_windows"]
    assert ev["trial"].is_sorted() and (ev["cell"] == 0).all()
    assert int((ev["degraded_runs"] == 0).sum()) == row["events_no_degraded"]
    assert int((ev["degraded_runs"] > 0).sum()) == row["events_degraded"]
    assert (ev["time_s"] > 0).all() and (ev["time_s"] <= 0.25 * 3600).all()
    assert set(ev["cause"].unique()) <= {"write", "cleanup"}
    # weight: the window's likelihood ratio, at most 1 / alpha, not all 1 (a real tilt)
    w = ev["weight"]
    assert (w > 0).all() and (w <= 1 / row["defensive_share"]).all() and not (w == 1.0).all()
    # A weighted count of the events is the estimate of the row (one cell per window).
    assert float(w.sum()) / row["trials"] == pytest.approx(row["p_cell_window"], rel=1e-9)
    weighted_impact = float((w * ev["impact_min"]).sum()) / row["trials"]
    assert weighted_impact * row["windows_per_region_year"] == pytest.approx(
        row["impact_per_year_min"], rel=1e-9
    )
    # one endpoint of five affected at least; impact = weight x R / 60 (C = 1)
    assert (ev["affected_weight"] >= 0.2 - 1e-12).all()
    assert ev["impact_min"].to_list() == pytest.approx(
        (ev["affected_weight"] * ev["duration_s"] / 60).to_list()
    )

    ex = read_table(d / "ex.parquet")
    assert ex.columns == [
        "quantity",
        "threshold_min",
        "p_exceed",
        "p_exceed_lo",
        "p_exceed_hi",
        "p_exceed_method",
    ]
    assert set(ex["quantity"]) == {"impact_per_year_min"}
    assert ex["threshold_min"][0] == 0.0 and ex["threshold_min"].diff().drop_nulls().min() > 0
    p = ex["p_exceed"]
    assert p.diff().drop_nulls().max() <= 0  # non-increasing
    assert ((ex["p_exceed_lo"] <= p) & (p <= ex["p_exceed_hi"])).all()
    assert ((ex["p_exceed_lo"] >= 0) & (ex["p_exceed_hi"] <= 1)).all()
    # No event without a degraded run was seen: such an event could come in any year, and the
    # upper ends carry that chance, n_w x (p_region_window_hi - p_region_window).
    assert row["unobserved_strata"] == "no_degraded"
    extra = min(1.0, row["windows_per_region_year"] * (row["p_region_window_hi"] - row["p_region_window"]))
    assert (ex["p_exceed_hi"] >= extra).all()
    assert all("unobserved stratum" in m for m in ex["p_exceed_method"])


def test_events_of_a_naive_run_have_weight_one(config_file: Path, tmp_path: Path) -> None:
    args = ["run", config_file, "--estimator", "naive", "--trials", TRIALS, "--seed", 7, "-q"]
    result = invoke([*args, "--events", tmp_path / "ev", "--out", tmp_path / "row", "--format", "parquet"])
    assert result.exit_code == 0, result.output
    row, ev = one_row(tmp_path / "row"), read_table(tmp_path / "ev.parquet")
    assert ev.height == row["events"] > 0
    assert (ev["weight"] == 1.0).all()
    assert float(ev["weight"].sum()) / row["trials"] == row["p_cell_window"]


def test_events_default_path_and_region_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three cells a window: events of every cell, each re-simulated cell by cell as the engine
    counted them; a directory --events gets <name>_events.*."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    cfg_path = tmp_path / "st.toml"
    cfg_path.write_text(stress_toml("st", cells=3))
    args = ["run", cfg_path, "--estimator", "naive", "--trials", 300, "--seed", 2, "--format", "parquet"]
    result = invoke([*args, "--events", "out", "--out", "out", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["st.parquet", "st_events.parquet"]
    row, ev = one_row(tmp_path / "out" / "st"), read_table(tmp_path / "out" / "st_events.parquet")
    assert row["cells_simulated"] == 900 and ev.height == row["events"] > 0
    assert set(ev["cell"].unique()) == {0, 1, 2}
    assert float(ev["weight"].sum()) / (3 * 300) == pytest.approx(row["p_cell_window"], rel=1e-9)
    # each listed cell-window has an event in the engine, at that time
    cfg = load_config(cfg_path)
    first = ev.head(5)
    params = sample_windows(cfg, 2, first["trial"].to_list())
    batch = params.batch(2)
    for j, rec in enumerate(first.iter_rows(named=True)):
        res = simulate_cell(batch, j, rec["cell"])
        assert res.event and res.observed_s == rec["time_s"]
        assert ",".join(map(str, res.affected)) == rec["affected_endpoints"]


# -- explain ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cells_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cells") / "st.toml"
    path.write_text(stress_toml("st", cells=3))
    return path


def test_explain_finds_the_first_event_and_its_cell(cells_file: Path) -> None:
    from riskmc.explain import find_event_trial

    found = find_event_trial(load_config(cells_file), 1, 5000)
    assert found is not None and found[1] > 0  # at this seed the first event is not in cell 0
    trial, cell = found
    result = invoke(["explain", cells_file, "--seed", 1, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["trial"], doc["cell"]) == (trial, cell) and doc["event"] is True
    text = invoke(["explain", cells_file, "--seed", 1])
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[0] == f"scenario st, seed 1, trial {trial}, cell {cell}"
    assert "EMPTY RECORD" in text.stdout


def test_explain_cell_replays_that_cell(cells_file: Path) -> None:
    """--trial T --cell C replays exactly cell C: the event is where the engine had it."""
    cfg = load_config(cells_file)
    trial = 5
    params = sample_windows(cfg, 3, [trial])
    engine = [simulate_cell(params.batch(3), 0, c).event for c in range(3)]
    assert any(engine) and not all(engine)  # a trial that tells the cells apart
    for c in range(3):
        result = invoke(["explain", cells_file, "--seed", 3, "--trial", trial, "--cell", c, "--json"])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["cell"] == c and doc["trial"] == trial
        assert doc["event"] is engine[c], c
    text = invoke(["explain", cells_file, "--seed", 3, "--trial", trial, "--cell", engine.index(True)])
    assert text.stdout.splitlines()[0].endswith(f", cell {engine.index(True)}")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--trial", "5", "--cell", "3"], ("--cell", "3 cell(s)", "no cell 3")),
        (["--trial", "5", "--cell", "-1"], ("--cell",)),
    ],
)
def test_explain_bad_cell(cells_file: Path, args: list[str], fragments: tuple[str, ...]) -> None:
    assert_one_error_line(invoke(["explain", cells_file, "--seed", 3, *args]), *fragments)


# -- errors --------------------------------------------------------------------------------------


def write_config(directory: Path, text: str, name: str = "bad.toml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("[window]\nhourz = 1\n", ["config key 'window.hourz'", "unknown key", "window.hours"]),
        ("[degraded]\nprob = 1.5\n", ["config key 'degraded.prob'", "1.5"]),
        ('[write]\nlatency = {dist = "gamam", a = 2}\n', ["config key 'write.latency", "gamam"]),
        ("[window\nhours = 1\n", ["bad.toml: invalid TOML"]),
    ],
    ids=["unknown-key", "probability", "unknown-distribution", "invalid-toml"],
)
def test_bad_config(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = write_config(tmp_path, text)
    result = invoke(["run", path, "--out", tmp_path / "out" / "x"])
    assert_one_error_line(result, *fragments)
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert_one_error_line(invoke(["run", missing]), f"error: {missing}: ", "cannot read")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--trials", "0"], ["--trials"]),
        (["--trials", "many"], ["--trials"]),
        (["--seed", "-1"], ["--seed"]),
        (["--chunk-trials", "4000"], ["--chunk-trials"]),  # removed: every block is 1,000 trials
        (["--threads", "0"], ["--threads"]),
        (["--estimator", "magic"], ["--estimator", "magic"]),
        (["--defensive", "0"], ["--defensive", "(0, 1)"]),
        (["--defensive", "1"], ["--defensive", "(0, 1)"]),
        (["--max-seconds", "0"], ["--max-seconds", "> 0"]),
        (["--format", "xml"], ["--format", "xml"]),
        (["--set", "noequals"], ["--set", "noequals", "KEY=VALUE"]),
        (["--set", "write.fial_prob=0.1"], ["write.fial_prob", "write.fail_prob"]),
        (["--set", "degraded.prob=2"], ["degraded.prob"]),
        (["--bogus"], ["--bogus"]),
    ],
)
def test_bad_options(config_file: Path, tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    result = invoke(["run", config_file, "--out", tmp_path / "x", *args])
    assert_one_error_line(result, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_out(config_file: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a directory")
    result = invoke(["run", config_file, "--trials", TRIALS, "--out", blocker / "x"])
    assert_one_error_line(result, "--out", "not a directory")
    assert result.stdout == ""
    result = invoke(["run", config_file, "--trials", TRIALS, "--events", blocker / "ev"])
    assert_one_error_line(result, "--events", "not a directory")


def test_usage_errors_are_one_line() -> None:
    assert_one_error_line(invoke(["run"]), "CONFIG")
    assert_one_error_line(invoke(["rn"]), "rn")


def test_ctrl_c_exits_130_without_files(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(estimators, "run", interrupted)
    result = invoke(["run", config_file, "--estimator", "naive", "--out", tmp_path / "x"])
    assert_one_error_line(result, "interrupted", code=130)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_writing_keeps_old_results(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "x.csv"
    old.write_text("old,results\n1,2\n")

    def interrupted_write(self: pl.DataFrame, file: object, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pl.DataFrame, "write_parquet", interrupted_write)
    result = invoke(["run", config_file, "--trials", TRIALS, "--out", tmp_path / "x"])
    assert_one_error_line(result, "interrupted", code=130)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]
    assert old.read_text() == "old,results\n1,2\n"


def test_python_dash_m_error_exit_code(tmp_path: Path) -> None:
    """The real process path (sys.exit, __main__) with a usage error: one line, exit 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "riskmc", "run", str(tmp_path / "none.toml"), "--trials", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--trials" in lines[0]


# -- help without the simulation stack -------------------------------------------------------------

_HELP_PROBE = """
import json, sys
import riskmc.cli
from riskmc.cli import app
loaded = {"import": sorted(m for m in ("scipy", "numba") if m in sys.modules)}
helps = {}
for args in [["--help"], *([c.name or c.callback.__name__, "--help"] for c in app.registered_commands)]:
    try:
        app(args, prog_name="riskmc")
    except SystemExit as e:
        helps[" ".join(args)] = e.code
loaded["help"] = sorted(m for m in ("scipy", "numba") if m in sys.modules)
loaded["codes"] = helps
print("PROBE" + json.dumps(loaded))
"""


def test_help_imports_neither_scipy_nor_numba() -> None:
    """``import riskmc.cli`` and every ``--help`` answer without the simulation stack (in a fresh
    interpreter: this one has long imported it)."""
    proc = subprocess.run([sys.executable, "-c", _HELP_PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(proc.stdout.rsplit("PROBE", 1)[1])
    assert probe["import"] == [] and probe["help"] == []
    codes = probe["codes"]
    assert {"--help", "run --help", "sweep --help", "explain --help", "compare --help"} <= set(codes)
    assert set(codes.values()) == {0}
    for option in ("--estimator", "--defensive", "--threads", "--max-seconds", "--events"):
        assert option in proc.stdout


def test_reflowed_joins_a_paragraph_s_lines_and_keeps_marked_ones() -> None:
    text = "First line.\n\n    two\n    lines\n\n\n\n    \b\n    kept\n    as is\n"
    assert cli.core.reflowed(text) == "First line.\n\ntwo lines\n\n\b\nkept\nas is"


@pytest.mark.parametrize("command", [c.name or c.callback.__name__ for c in app.registered_commands])
def test_help_paragraphs_wrap_once_at_80_columns(command: str) -> None:
    """A command's description is wrapped by rich at the terminal's width alone: within a
    paragraph no line but the last stops short (the docstrings' own line breaks used to
    leave a short stub on every other line at 80 columns)."""
    proc = subprocess.run(
        [sys.executable, "-m", "riskmc", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80", "TERM": "dumb"},
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.split("Usage:", 1)[1].split("\u256d", 1)[0]  # the description, above the boxes
    paragraphs: list[list[str]] = [[]]
    for line in text.splitlines()[1:]:  # after the usage line; rich pads blank lines with spaces
        if line.strip():
            paragraphs[-1].append(line.rstrip())
        elif paragraphs[-1]:
            paragraphs.append([])
    assert paragraphs[0], proc.stdout
    for lines in paragraphs:
        for line in lines[:-1]:  # rich fills 78 columns; a word of over 20 letters is rare
            assert len(line) > 55, (command, line)


def test_help_defaults_are_the_librarys() -> None:
    """cli.options repeats the library's defaults (so that --help imports nothing heavy)."""
    from riskmc import calibrate as cal
    from riskmc.cli import calibrate as cli_cal
    from riskmc.cli import options
    from riskmc.estimators import plan, rule

    assert options.AUTO_IS_BELOW == plan.AUTO_IS_BELOW
    assert options.AUTO_NAIVE_HITS == plan.AUTO_NAIVE_HITS
    assert options.DEFAULT_DEFENSIVE == plan.DEFAULT_DEFENSIVE == estimators.DEFAULT_DEFENSIVE
    assert options.DEFAULT_MIN_HITS == rule.DEFAULT_MIN_HITS
    assert options.DEFAULT_MAX_SECONDS == rule.DEFAULT_MAX_SECONDS
    assert options.DEFAULT_MAX_TRIALS == rule.DEFAULT_MAX_TRIALS
    from riskmc.engine import kernel

    assert options.MAX_TRIALS == kernel.MAX_TRIALS
    assert cli_cal.DEFAULT_POINTS == cal.DEFAULT_POINTS
    assert [e.value for e in options.Estimator] == list(plan.ESTIMATORS)


# -- version, helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["version"], ["--version"]])
def test_version(args: list[str]) -> None:
    result = invoke(args)
    assert result.exit_code == 0
    assert riskmc.__version__ in result.stdout


def test_output_base(tmp_path: Path) -> None:
    _base, paths = output_base(None, "baseline.v2", ["csv", "parquet"])
    assert paths == [Path("results/baseline.v2.csv"), Path("results/baseline.v2.parquet")]
    _base, paths = output_base(str(tmp_path / "r.out"), "ignored", ["csv"])
    assert paths == [tmp_path / "r.csv"]
    _base, paths = output_base(str(tmp_path), "a/b", ["parquet"])
    assert paths == [tmp_path / "a_b.parquet"]
    (tmp_path / "new").mkdir()
    _base, paths = output_base(f"{tmp_path}/new/", "s", ["csv"])
    assert paths == [tmp_path / "new" / "s.csv"]
    # a directory the user names must exist (only the default results/ is created)
    for missing in (f"{tmp_path}/absent/", f"{tmp_path}/absent/r"):
        with pytest.raises(cli.CliError, match="absent does not exist"):
            output_base(missing, "s", ["csv"])
    assert not (tmp_path / "absent").exists()
    with pytest.raises(cli.CliError, match="--out"):
        output_base("", "s", ["csv"])


def test_format_number() -> None:
    assert format_number(0.0031) == "3.100e-03"
    assert format_number(2.5e-7) == "2.500e-07"
    assert format_number(0.5) == "0.5"
    assert format_number(3.93523) == "3.935"
    assert format_number(0) == "0"
    assert format_number(float("inf")) == "inf"
    assert format_number(float("nan")) == "nan"


def test_progress_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    with trial_progress(10, "x") as cb:
        assert cb is None  # pytest's stderr is not a terminal
    with target_progress("x", 0.1) as cb2:
        assert cb2 is None
    monkeypatch.setattr(cli_progress, "_stderr_is_terminal", lambda: True)
    with trial_progress(10, "[x]") as cb:
        assert cb is not None
        cb(4)
        cb(6)
    with target_progress("[x]", 0.1) as cb2:
        assert cb2 is not None
        cb2(1000, 0.5)


@pytest.mark.parametrize(("text", "trials"), [("2e2", 200), ("1_000", 1000), ("3.0e2", 300)])
def test_trials_in_the_readmes_notation(tmp_path: Path, text: str, trials: int) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    result = CliRunner().invoke(app, ["run", str(cfg), "--trials", text, "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 0, result.output
    assert read_table(tmp_path / "o.csv")["trials"][0] == trials


@pytest.mark.parametrize("text", ["1.5", "1e-3", "abc", "inf", "nan"])
def test_trials_must_be_whole(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    result = CliRunner().invoke(app, ["run", str(cfg), "--trials", text])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid value for '--trials'")
