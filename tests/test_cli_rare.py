"""Rare events from the command line (``riskmc run --estimator is``, ``riskmc calibrate``).

At :data:`RARE` an event needs a degraded run and degraded runs are rare (1e-7 a run).
Importance sampling then sees plenty of events *with* a degraded run and estimates that
stratum precisely, but it cannot see the events without one (if there are any): their
stratum gets a zero-hit bound, which the upper end of p_cell_window includes.  That is the
honest answer, and these tests hold the command line to it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import Result

from riskmc.tables import read_table

from .test_cli import assert_one_error_line, invoke, one_row

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

SEED = 4
TRIALS = 1000


def zero_hit_bound(n: int, tail: float, alpha: float) -> float:
    """No hit in n windows of a mixture that undersamples by at most alpha: the mean is below
    (1 - tail^(1/n)) / alpha, missing with ``tail`` (Clopper-Pearson's zero-hit bound / alpha)."""
    return (1.0 - tail ** (1.0 / n)) / alpha


@pytest.fixture(scope="module")
def rare_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "rare.toml"
    path.write_text(RARE)
    return path


@pytest.fixture(scope="module")
def is_run(rare_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, dict, Path]:
    d = tmp_path_factory.mktemp("is")
    args = ["run", rare_file, "--estimator", "is", "--trials", TRIALS, "--seed", SEED, "--format", "parquet"]
    result = invoke([*args, "--out", d / "r", "--events", d / "ev"])
    assert result.exit_code == 0, result.output
    return result, read_table(d / "r.parquet").row(0, named=True), d


def test_is_estimates_the_degraded_stratum(is_run: tuple[Result, dict, Path]) -> None:
    _, row, _ = is_run
    assert row["estimator"] == "is" and row["stopped_by"] == "trials" and row["trials"] == TRIALS
    assert row["proposal_q"] > 1e-7 and row["proposal"].startswith("is(q=")
    # Under the proposal the events are common, and every one had a degraded run.
    assert row["events_degraded"] == row["events"] >= 100
    p, lo, hi = (row[f"p_cell_window_degraded{s}"] for s in ("", "_lo", "_hi"))
    assert 0 < lo < p < hi < math.inf
    assert (hi - lo) / 2 / p < 0.25  # a precise estimate of a ~1e-5 probability from 1,000 windows
    assert row["p_cell_window_degraded_method"].startswith("importance sampling")
    # An event with a degraded run needs one: at most degraded.prob x runs per cell-window.
    assert lo <= row["degraded.prob"] * row["runs_per_hour_hi"] * 0.25
    assert row["effective_hits"] >= 10 and row["ess"] > row["trials"]


def test_is_bounds_the_stratum_it_has_not_seen(is_run: tuple[Result, dict, Path]) -> None:
    result, row, _ = is_run
    n, alpha = row["trials"], row["defensive_share"]
    # At this seed (fixed) no event without a degraded run was drawn: that stratum is unobserved.
    assert row["events_no_degraded"] == 0
    assert row["unobserved_strata"] == "no_degraded"
    assert row["p_cell_window_no_degraded"] == 0.0 == row["p_cell_window_no_degraded_lo"]
    assert row["p_cell_window_no_degraded_hi"] == pytest.approx(zero_hit_bound(n, 0.025, alpha), rel=1e-9)
    # The total: the degraded stratum's estimate, and an upper end that includes the unseen
    # stratum's bound (Bonferroni: 1.25% each for the observed part and the bound).
    assert row["p_cell_window"] == row["p_cell_window_degraded"]
    assert row["p_cell_window_lo"] == pytest.approx(row["p_cell_window_degraded_lo"], rel=1e-12)
    bound = zero_hit_bound(n, 0.0125, alpha)
    observed_hi = row["p_cell_window_hi"] - bound
    assert row["p_cell_window_degraded_hi"] < observed_hi < 2 * row["p_cell_window_degraded_hi"]
    assert "zero-hit bound of the unobserved stratum no_degraded" in row["p_cell_window_method"]
    half = (row["p_cell_window_hi"] - row["p_cell_window_lo"]) / 2
    assert row["rel_err"] == pytest.approx(half / row["p_cell_window"]) and row["rel_err"] > 100
    # ... and so do the other upper ends.
    assert row["p_region_window_hi"] >= bound
    assert row["events_per_region_year_hi"] >= bound * row["windows_per_region_year"] * (1 - 1e-12)
    assert "unobserved stratum" in row["impact_per_year_min_method"]
    assert "no event without a degraded run in the sample" in result.stdout
    assert "its bound is in every upper end" in result.stdout


def test_is_events_carry_their_weights(is_run: tuple[Result, dict, Path]) -> None:
    _, row, d = is_run
    ev = read_table(d / "ev.parquet")
    assert ev.height == row["events"]
    assert (ev["degraded_runs"] >= 1).all()
    # A degraded run is ~q / p times likelier under the proposal: the weights are tiny, and
    # their sum is the estimate (one cell per window).
    assert (ev["weight"] < 0.01).all()
    assert float(ev["weight"].sum()) / row["trials"] == pytest.approx(row["p_cell_window"], rel=1e-9)


def test_auto_picks_importance_sampling(
    rare_file: Path, is_run: tuple[Result, dict, Path], tmp_path: Path
) -> None:
    """The pilot sees no event and few degraded runs: auto is is, the very plan and sample."""
    _, row, _ = is_run
    out = tmp_path / "a"
    result = invoke(["run", rare_file, "--trials", TRIALS, "--seed", SEED, "--out", out, "-q"])
    assert result.exit_code == 0, result.output
    auto = read_table(out.with_suffix(".parquet")).row(0, named=True)
    assert auto["estimator"] == "is" and auto["proposal"] == row["proposal"]
    for column in ("events", "p_cell_window", "p_cell_window_hi", "p_cell_window_degraded_hi"):
        assert auto[column] == row[column], column


def test_target_cannot_stop_while_a_stratum_is_unseen(rare_file: Path, tmp_path: Path) -> None:
    """The degraded stratum alone is known to better than 15% after a block, but the interval
    the rule checks includes the unseen stratum's bound: the run goes on to --max-trials."""
    out = tmp_path / "t"
    args = ["run", rare_file, "--estimator", "is", "--target-rel-err", "0.15", "--max-trials", "2000"]
    result = invoke([*args, "--seed", SEED, "--out", out])
    assert result.exit_code == 0, result.output
    row = read_table(out.with_suffix(".csv")).row(0, named=True)
    assert row["stopped_by"] == "max-trials" and row["trials"] == 2000
    assert row["target_rel_err"] == 0.15 and row["rel_err"] > 0.15
    assert row["unobserved_strata"] == "no_degraded"
    deg = row["p_cell_window_degraded"]
    assert (row["p_cell_window_degraded_hi"] - row["p_cell_window_degraded_lo"]) / 2 / deg < 0.15
    assert row["effective_hits"] >= row["min_hits"] == 10
    assert "--max-trials reached before the target" in result.stdout
    assert read_table(out.with_suffix(".parquet")).columns == read_table(out.with_suffix(".csv")).columns


def test_run_naive_with_target_and_budget(rare_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "n"
    args = ["run", rare_file, "--estimator", "naive", "--target-rel-err", "0.1", "--max-trials", "2000"]
    result = invoke([*args, "--out", out, "--quiet"])
    assert result.exit_code == 0, result.output
    row = read_table(out.with_suffix(".csv")).row(0, named=True)
    assert row["estimator"] == "naive" and row["stopped_by"] == "max-trials" and row["trials"] == 2000
    assert row["events"] == 0 and math.isinf(row["rel_err"])
    # Plain Monte Carlo undersamples nothing: no unobserved stratum, the plain zero-hit bound.
    assert row["unobserved_strata"] in ("", None)
    assert row["p_cell_window"] == 0.0
    assert row["p_cell_window_hi"] == pytest.approx(zero_hit_bound(2000, 0.025, 1.0), rel=1e-9)
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--trials", "10", "--target-rel-err", "0.1"], ("--trials", "--max-trials")),
        (["--max-trials", "5"], ("--max-trials", "--target-rel-err")),
        (["--min-hits", "5"], ("--min-hits",)),
        (["--target-rel-err", "0"], ("--target-rel-err", "> 0")),
        (["--target-rel-err", "nan"], ("--target-rel-err",)),
        (["--estimator", "magic"], ("--estimator",)),
        (["--defensive", "1.5"], ("--defensive",)),
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


def test_rare_estimator_from_the_command_line(tmp_path: Path) -> None:
    """``--estimator rare``: the row names the estimator and its fitted proposal, and the
    events it estimates need no degraded run (configs/ordinary.toml with retries)."""
    config = Path(__file__).resolve().parent.parent / "configs" / "ordinary.toml"
    out = tmp_path / "r"
    args = ["run", config, "--set", "write.fail_prob=0.6", "--estimator", "rare", "--trials", 1000]
    result = invoke([*args, "--seed", SEED, "--out", out, "--format", "csv"])
    assert result.exit_code == 0, result.output
    row = read_table(out.with_suffix(".csv")).row(0, named=True)
    assert row["estimator"] == "rare" and str(row["proposal"]).startswith("rare(q=")
    assert "retry" in str(row["proposal"]) and row["events_no_degraded"] == row["events"] > 0
    assert str(row["p_cell_window_method"]).startswith("rare-event importance sampling (")
    assert 1e-3 < float(row["p_cell_window"]) < 3e-2
    assert "rare-event importance sampling" in result.stdout


@pytest.mark.parametrize(
    ("mechanism", "overrides", "barely"),
    [
        # events need plans in a burst *and* a run at the right moment: no tilt makes them
        # common, and the few windows that carry p weigh about 1
        ("bursts", ["cleanup.keep_generations=2"], True),
        # events need one write far in its latency tail, which the tail tilt makes common
        ("tail", ['write.latency={dist="lognorm", s=1.2, scale=0.1}'], False),
    ],
)
def test_rare_says_when_its_estimate_rests_on_barely_boosted_events(
    tmp_path: Path, mechanism: str, overrides: list[str], barely: bool
) -> None:
    config = Path(__file__).resolve().parent.parent / "configs" / "ordinary.toml"
    out = tmp_path / mechanism
    sets = [a for o in overrides for a in ("--set", o)]
    args = ["run", config, *sets, "--estimator", "rare", "--trials", 3000, "--seed", 2]
    result = invoke([*args, "--out", out, "--format", "csv"])
    assert result.exit_code == 0, result.output
    row = read_table(out.with_suffix(".csv")).row(0, named=True)
    share = float(row["barely_boosted_share"])
    assert float(row["p_cell_window"]) > 0 and 0.0 <= share <= 1.0
    assert (share > 0.5) == barely, share
    assert ("the proposal barely boosted" in result.stdout) == barely


def test_rare_says_when_it_saw_no_barely_boosted_event(tmp_path: Path) -> None:
    """G = 3 under rare at 3,000 windows: only boosted latency-tail events, none of the
    barely boosted windows where the bursts' events fall; the summary names the part and the
    row lists it among the unobserved strata."""
    config = Path(__file__).resolve().parent.parent / "configs" / "ordinary.toml"
    out = tmp_path / "g3"
    args = ["run", config, "--set", "cleanup.keep_generations=3", "--estimator", "rare", "--trials", 3000]
    result = invoke([*args, "--seed", 1, "--out", out, "--format", "csv"])
    assert result.exit_code == 0, result.output
    row = read_table(out.with_suffix(".csv")).row(0, named=True)
    assert row["unobserved_strata"] == "degraded,barely_boosted"
    assert "no event with a degraded run or barely boosted by the proposal in the sample" in result.stdout
    assert float(row["p_cell_window_hi"]) > 1e-3 > 1e-8 > float(row["p_cell_window"])


# -- riskmc run --estimator split -----------------------------------------------------------

ORDINARY = Path(__file__).resolve().parents[1] / "configs" / "ordinary.toml"
TAIL = 'write.latency={dist="lognorm", s=1.2, scale=0.1}'


def test_split_writes_p_cell_window_with_its_method(tmp_path: Path) -> None:
    base = tmp_path / "split"
    args = ["run", ORDINARY, "--set", TAIL, "--estimator", "split", "--replicates", 3, "--out", base]
    result = invoke([*args, "--seed", 2])
    assert result.exit_code == 0, result.output
    row = one_row(base)
    assert row["estimator"] == "split" and row["replicates"] == 3 and row["stopped_by"] == "trials"
    assert 0 < row["p_cell_window_lo"] < row["p_cell_window"] < row["p_cell_window_hi"] < 0.01
    assert "split (GAMS" in str(row["p_cell_window_method"])
    assert row["p_region_window"] == row["p_cell_window"]
    assert "p_cell_window" in result.stdout and "split estimates p_cell_window only" in result.stdout
    again = invoke([*args, "--seed", 2, "--threads", 1, "--out", tmp_path / "again"])
    assert again.exit_code == 0, again.output
    assert one_row(tmp_path / "again")["p_cell_window"] == row["p_cell_window"]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--events", "ev"], "--events: not with --estimator split"),
        (["--trials", 100], "--trials: not with --estimator split"),
        (["--defensive", 0.5], "--defensive: not with --estimator split"),
        (["--target-rel-err", 0.1, "--replicates", 4], "--replicates: not with --target-rel-err"),
        (["--set", "region.cells=2"], "region.cells"),
        (["--set", 'write.fail_prob={dist="uniform", loc=0.0, scale=0.1}'], "write.fail_prob"),
        (["--set", "endpoints.count=60000", "--set", "enactors.count=200"], "--threads: --estimator split"),
    ],
)
def test_split_refuses_what_it_cannot_honour_in_one_line(
    tmp_path: Path, extra: list[object], fragment: str
) -> None:
    args = ["run", ORDINARY, "--estimator", "split", "--out", tmp_path / "x", *extra]
    assert_one_error_line(invoke(args), fragment)


def test_replicates_needs_split_and_split_needs_run(tmp_path: Path) -> None:
    assert_one_error_line(
        invoke(["run", ORDINARY, "--replicates", 3, "--out", tmp_path / "x"]), "--replicates"
    )
    result = invoke(["explain", ORDINARY, "--most-likely", "--estimator", "split"])
    assert_one_error_line(result, "split: riskmc explain and report do not take it")


def test_auto_splits_under_a_target_when_nothing_is_rare_to_tilt(tmp_path: Path) -> None:
    base = tmp_path / "auto"
    result = invoke(
        ["run", ORDINARY, "--set", TAIL, "--target-rel-err", 0.5, "--max-seconds", 3, "--out", base]
    )
    assert result.exit_code == 0, result.output
    assert one_row(base)["estimator"] == "split" and "(auto: the 1,000-window pilot saw" in result.stdout
    # without a target, or with an option only a sample of windows honours, auto samples them
    for extra in (["--trials", 300], ["--target-rel-err", 0.5, "--max-trials", 2000, "--max-seconds", 3]):
        out = tmp_path / f"plain{len(extra)}"
        again = invoke(["run", ORDINARY, "--set", TAIL, "--out", out, *extra])
        assert again.exit_code == 0, again.output
        assert one_row(out)["estimator"] == "naive"


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--trials", 100], "--trials: not with --estimator split (each grid point"),
        (["--workers", 2], "--workers/--scheduler: not with --estimator split"),
        (["--set", "region.cells=2"], "region.cells"),
    ],
)
def test_calibrate_under_split_refuses_in_one_line(
    tmp_path: Path, extra: list[object], fragment: str
) -> None:
    args = ["calibrate", ORDINARY, "--param", "write.fail_prob", "--low", 0.3, "--high", 0.5]
    args += ["--observed-events", 1, "--exposure-cell-hours", 1e4, "--estimator", "split"]
    assert_one_error_line(invoke([*args, *extra, "--out", tmp_path / "c"]), fragment)


def test_compare_under_split_writes_p_and_the_paired_risk_ratio(tmp_path: Path) -> None:
    base = tmp_path / "cmp"
    args = ["compare", ORDINARY, "--set", TAIL, "--mitigation", "recheck", "--estimator", "split"]
    result = invoke([*args, "--replicates", 2, "--out", base, "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = read_table(base.with_suffix(".csv"))
    assert table["mitigation"].to_list() == ["baseline", "recheck"]
    assert table["estimator"].to_list() == ["split", "split"] and table["risk_ratio"][0] == 1.0
    assert "paired split replicates" in str(table["risk_ratio_method"][1])
    assert "2 scenarios x 2 split replicates" in result.stdout
    for extra, fragment in (
        (["--trials", 10], "--trials: not with --estimator split"),
        (["--workers", 2], "--workers"),
    ):
        assert_one_error_line(invoke([*args, *extra, "--out", tmp_path / "x"]), fragment)


def test_auto_samples_windows_when_splits_pilot_is_heavy_tailed(tmp_path: Path) -> None:
    base = tmp_path / "bursts"
    args = ["run", ORDINARY, "--set", "cleanup.keep_generations=2", "--seed", 1, "--target-rel-err", 0.5]
    result = invoke([*args, "--out", base])  # (plain Monte Carlo meets 50% in a few seconds)
    assert result.exit_code == 0, result.output
    assert one_row(base)["estimator"] == "naive" and one_row(base)["stopped_by"] == "target"
    assert (
        "auto: split's 10-replicate pilot" in result.stdout and "plain Monte Carlo instead" in result.stdout
    )
