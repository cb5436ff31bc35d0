"""Tests of parameter sweeps (riskmc.sweep, riskmc.execute, ``riskmc sweep``)."""

from __future__ import annotations

import math
import sys
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from riskmc import estimators
from riskmc.cli import app
from riskmc.config import Config, ConfigError
from riskmc.execute import map_points
from riskmc.sweep import (
    SweepError,
    grid_points,
    lhs_points,
    parse_range,
    plan_sweep,
    point_config,
    run_sweep,
    toml_value,
)
from riskmc.tables import read_table
from tests.conftest import STRESS, stress_config

TRIALS = 200
SEED = 11

#: Columns that hold estimates (everything but the wall time is deterministic).
ESTIMATE_COLUMNS = (
    "events",
    "p_cell_window",
    "p_cell_window_lo",
    "p_cell_window_hi",
    "mean_plan_age_s",
    "runs_per_hour",
    "impact_per_year_min",
)


#: The only column that may differ between runs of the same points: the wall time.
VOLATILE = ("elapsed_s",)

#: Points where importance sampling really tilts (the pilot's q, ~1 / 270 runs a window, is
#: above their degraded probability; at the stress configuration's 0.05 it would not be).
TILTED_GRID = ["degraded.prob=0.001,0.002"]


def small() -> Config:
    return stress_config(["window.hours=0.05"])


def comparable(rows: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    """The rows without the wall time, NaN as a string (NaN != NaN, even bit-identical)."""
    return [
        {
            k: "nan" if isinstance(v, float) and math.isnan(v) else v
            for k, v in row.items()
            if k not in VOLATILE
        }
        for row in rows
    ]


@pytest.fixture(scope="module")
def is_plan() -> estimators.Plan:
    plan = estimators.resolve(small(), SEED, "is")
    assert plan.tilts and plan.q > 0.002
    return plan


# -- grids -----------------------------------------------------------------------------------------


def test_grid_is_the_cartesian_product() -> None:
    points = grid_points(["degraded.prob=0.01,0.02", "cleanup.keep_generations=2,5,10"])
    assert len(points) == 6
    assert points[0] == {"degraded.prob": 0.01, "cleanup.keep_generations": 2}
    assert points[1] == {"degraded.prob": 0.01, "cleanup.keep_generations": 5}
    assert points[-1] == {"degraded.prob": 0.02, "cleanup.keep_generations": 10}
    assert isinstance(points[0]["cleanup.keep_generations"], int)


def test_grid_values_are_toml() -> None:
    points = grid_points(['write.latency={dist = "lognorm", s = 1, scale = 0.2},0.3'])
    assert points[0]["write.latency"] == {"dist": "lognorm", "s": 1, "scale": 0.2}
    assert points[1]["write.latency"] == 0.3
    cfg = point_config(small(), points[0])
    assert cfg.values["write.latency"].describe().startswith("lognorm")  # type: ignore[union-attr]


@pytest.mark.parametrize("value", [1, 0.1, 1e-5, True, 'a"b', [1, 2], {"dist": "expon", "scale": 3.0}])
def test_toml_value_round_trips(value: object) -> None:
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


@pytest.mark.parametrize(
    "specs", [["degraded.prob"], ["degraded.prob="], ["=1,2"], ["a=1", "a=2"], ["seed=1,2"], ["a=1,,2"]]
)
def test_grid_syntax_errors(specs: list[str]) -> None:
    with pytest.raises(SweepError):
        grid_points(specs)


def test_unknown_key_is_a_config_error() -> None:
    (point,) = grid_points(["degraded.porb=0.1"])
    with pytest.raises(ConfigError) as info:
        point_config(small(), point)
    assert info.value.key == "degraded.porb"
    with pytest.raises(ConfigError) as info:
        run_sweep(small(), [{"degraded.prob": 0.1}, {"degraded.prob": 2.0}], TRIALS, SEED)
    assert info.value.key == "degraded.prob"


# -- space-filling designs -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["lhs", "sobol"])
def test_lhs_points_within_ranges(method: str) -> None:
    ranges = ["degraded.prob=1e-4:1e-1:log", "write.fail_prob=0.01:0.2", "enactors.count=1:6"]
    points = lhs_points(ranges, 16, seed=3, method=method)
    assert len(points) == 16
    for p in points:
        assert 1e-4 <= p["degraded.prob"] <= 1e-1
        assert 0.01 <= p["write.fail_prob"] <= 0.2
        assert isinstance(p["enactors.count"], int) and 1 <= p["enactors.count"] <= 6
    assert lhs_points(ranges, 16, seed=3, method=method) == points
    assert lhs_points(ranges, 16, seed=4, method=method) != points


def test_lhs_log_spacing_is_stratified_in_log() -> None:
    n = 10
    points = lhs_points(["degraded.prob=1e-6:1e-1:log"], n, seed=1)
    strata = sorted(int((math.log10(p["degraded.prob"]) + 6) / 5 * n) for p in points)
    assert strata == list(range(n))  # one point per equal slice of log10
    lin = lhs_points(["degraded.prob=0:0.1"], n, seed=1)
    assert sorted(int(p["degraded.prob"] / 0.1 * n) for p in lin) == list(range(n))


@pytest.mark.parametrize(
    "spec",
    [
        "degraded.prob",
        "degraded.prob=1",
        "degraded.prob=0.2:0.1",
        "degraded.prob=0:1:log",
        "a=x:y",
        "a=1:2:lin",
    ],
)
def test_range_errors(spec: str) -> None:
    with pytest.raises(SweepError):
        parse_range(spec)


# -- running ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def serial_rows() -> list[dict[str, object]]:
    points = grid_points(["degraded.prob=0.05,0.05,0.08", "repair.duration=100,5000"])
    return run_sweep(small(), points, TRIALS, SEED)


def test_rows_have_point_keys_and_hash(serial_rows: list[dict[str, object]]) -> None:
    assert [r["point"] for r in serial_rows] == list(range(6))
    for row in serial_rows:
        assert row["trials"] == TRIALS and row["seed"] == SEED
        assert isinstance(row["config_hash"], str) and len(row["config_hash"]) == 64
    assert serial_rows[0]["degraded.prob"] == 0.05
    assert serial_rows[1]["repair.duration"] == 5000.0


def test_common_random_numbers(serial_rows: list[dict[str, object]]) -> None:
    # The same point twice: identical rows (wall time aside).
    for col in ESTIMATE_COLUMNS:
        assert serial_rows[0][col] == serial_rows[2][col], col
    # repair.duration cannot change whether the event happens: same p_cell_window.
    assert serial_rows[0]["p_cell_window"] == serial_rows[1]["p_cell_window"]
    assert serial_rows[0]["impact_per_year_min"] != serial_rows[1]["impact_per_year_min"]


def test_workers_are_bit_identical(serial_rows: list[dict[str, object]]) -> None:
    """Every column of every row but the wall time, bit for bit, on 1 and on 2 workers."""
    points = grid_points(["degraded.prob=0.05,0.05,0.08", "repair.duration=100,5000"])
    finished: list[int] = []
    rows = run_sweep(
        small(), points, TRIALS, SEED, workers=2, on_row=lambda r: finished.append(int(str(r["point"])))
    )
    assert sorted(finished) == list(range(6))
    assert [r["point"] for r in rows] == list(range(6))
    assert [list(r) for r in rows] == [list(r) for r in serial_rows]  # the same columns, in order
    assert comparable(rows) == comparable(serial_rows)


def test_workers_are_bit_identical_under_importance_sampling(is_plan: estimators.Plan) -> None:
    points = grid_points(TILTED_GRID)
    serial = run_sweep(small(), points, TRIALS, SEED, workers=1, plan=is_plan)
    assert all(r["estimator"] == "is" and r["proposal"] == is_plan.short for r in serial)
    assert all(r["ess"] != r["trials"] for r in serial)  # weighted: the tilt is real
    parallel = run_sweep(small(), points, TRIALS, SEED, workers=2, plan=is_plan)
    assert comparable(parallel) == comparable(serial)


def test_resume_skips_finished_points(serial_rows: list[dict[str, object]]) -> None:
    points = grid_points(["degraded.prob=0.05,0.05,0.08,0.1", "repair.duration=100,5000"])
    ran: list[dict[str, object]] = []
    ticks: list[int] = []
    rows = run_sweep(
        small(), points, TRIALS, SEED, on_row=ran.append, progress=ticks.append, existing=serial_rows
    )
    assert sorted(int(str(r["point"])) for r in ran) == [6, 7]
    # Progress ticks only for the points that run: reused ones are not work (nor in the ETA).
    assert len(rows) == 8 and ticks == [1, 1]
    assert rows[4]["p_cell_window"] == serial_rows[4]["p_cell_window"]
    # Another seed or trial count is another result: nothing is reused.
    ran.clear()
    run_sweep(small(), points[:2], TRIALS, SEED + 1, on_row=ran.append, existing=serial_rows)
    assert len(ran) == 2
    ran.clear()
    run_sweep(small(), points[:2], TRIALS + 1, SEED, on_row=ran.append, existing=serial_rows)
    assert len(ran) == 2


def test_resume_needs_the_same_estimator_plan(
    serial_rows: list[dict[str, object]], is_plan: estimators.Plan
) -> None:
    """Rows of another plan (their ``proposal``) are another result: resume runs them again."""
    points = grid_points(["degraded.prob=0.05,0.05,0.08", "repair.duration=100,5000"])
    assert {r["proposal"] for r in serial_rows} == {"naive"}
    naive = plan_sweep(small(), points, TRIALS, SEED, existing=serial_rows)
    assert sorted(naive.reused) == list(range(6)) and naive.tasks == []
    tilted = plan_sweep(small(), points, TRIALS, SEED, plan=is_plan, existing=serial_rows)
    assert tilted.reused == {} and [t.index for t in tilted.tasks] == list(range(6))
    assert all(t.plan == is_plan for t in tilted.tasks)
    # The same estimator with another defensive share is another proposal too.
    other = estimators.Plan("is", is_plan.q, 0.5, is_plan.runs_per_window)
    assert other.short != is_plan.short
    is_rows = run_sweep(small(), points[:2], TRIALS, SEED, plan=is_plan)
    assert plan_sweep(small(), points[:2], TRIALS, SEED, plan=other, existing=is_rows).reused == {}
    again = plan_sweep(small(), points[:2], TRIALS, SEED, plan=is_plan, existing=is_rows)
    assert sorted(again.reused) == [0, 1]
    assert comparable([again.reused[i] for i in (0, 1)]) == comparable(is_rows)


# -- splitting at every point ----------------------------------------------------------------

TAIL = ['write.latency={dist="lognorm", s=1.2, scale=0.1}']  # events need no degraded run
SPLIT_VOLATILE = ("elapsed_s", "cpu_s")


def test_split_points_are_split_runs_on_any_workers_and_resume() -> None:
    """Under a SplitSpec every point is ``split`` on the sweep's seed, bit for bit whatever
    the workers; --resume reuses a split row only for the same replicates and settings."""
    from riskmc.config import load_config
    from riskmc.estimators.split import SplitSpec, split

    tail = load_config(Path(__file__).resolve().parents[1] / "configs" / "ordinary.toml", TAIL)
    points = grid_points(["cleanup.keep_generations=8,10"])
    spec = SplitSpec(replicates=3)
    serial = run_sweep(tail, points, tail.trials, SEED, plan=spec)
    assert all(r["estimator"] == "split" and r["replicates"] == 3 for r in serial)
    alone = split(point_config(tail, points[1]), SEED, replicates=3).estimate
    assert serial[1]["p_cell_window"] == alone.estimate > 0
    assert serial[1]["p_cell_window_hi"] == alone.confidence_interval.high
    assert serial[0]["p_cell_window"] > serial[1]["p_cell_window"]  # fewer kept generations
    parallel = run_sweep(tail, points, tail.trials, SEED, workers=2, plan=spec)

    def same(rows: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in r.items() if k not in SPLIT_VOLATILE} for r in comparable(rows)]

    assert same(parallel) == same(serial)
    again = plan_sweep(tail, points, tail.trials, SEED, plan=spec, existing=serial)
    assert sorted(again.reused) == [0, 1] and again.tasks == []
    assert plan_sweep(tail, points, tail.trials, SEED, plan=SplitSpec(4), existing=serial).reused == {}
    assert plan_sweep(tail, points, tail.trials, SEED, existing=serial).reused == {}  # naive: another
    with pytest.raises(ConfigError, match=r"region\.cells"):
        plan_sweep(tail, grid_points(["region.cells=1,2"]), tail.trials, SEED, plan=spec)


def test_map_points_orders_and_indexes() -> None:
    assert sorted(map_points(abs, [-3, 1, -2], workers=2)) == [(0, 3), (1, 1), (2, 2)]
    assert list(map_points(abs, [-3, 1], workers=1)) == [(0, 3), (1, 1)]
    with pytest.raises(ValueError):
        list(map_points(abs, [1], workers=0))


# -- the command line ------------------------------------------------------------------------------

runner = CliRunner()


def invoke(args: Sequence[object]) -> Result:
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = ["window = { hours = 0.05 }"]
    for section, table in STRESS.items():
        if section == "window":
            continue
        lines.append(f"{section} = {toml_value(table)}")
    path = tmp_path_factory.mktemp("cfg") / "sw.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_writes_one_row_per_point(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    args = ["sweep", config_file, "--grid", "degraded.prob=0.02,0.05", "--trials", TRIALS, "--out", out]
    result = invoke([*args, "--workers", 1, "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    table = read_table(out.with_suffix(".csv"))
    assert table.height == 2
    assert table["point"].to_list() == [0, 1]
    assert table["degraded.prob"].to_list() == [0.02, 0.05]
    assert "p_cell_window" in result.stdout and "2 run, 0 reused" in result.stdout
    again = invoke([*args, "--workers", 1, "--format", "csv", "--resume"])
    assert again.exit_code == 0, again.output
    assert "0 run, 2 reused" in again.stdout
    assert read_table(out.with_suffix(".csv")).equals(table)


def test_cli_estimator_options_and_resume_by_proposal(config_file: Path, tmp_path: Path) -> None:
    """--estimator/--defensive: one plan for every point (resolved once, on the base config);
    --resume reuses only rows of that very plan."""
    out = tmp_path / "e"
    common = ["sweep", config_file, "--grid", *TILTED_GRID, "--trials", TRIALS, "--seed", SEED, "--out", out]
    common += ["--workers", 1, "--format", "csv"]
    first = invoke([*common, "--estimator", "is", "--defensive", "0.5"])
    assert first.exit_code == 0, first.output
    assert "2 run, 0 reused" in first.stdout
    table = read_table(out.with_suffix(".csv"))
    assert table["estimator"].to_list() == ["is", "is"]
    assert table["defensive_share"].to_list() == [0.5, 0.5]
    (proposal,) = table["proposal"].unique().to_list()
    assert proposal.startswith("is(q=") and proposal.endswith("alpha=0.5)")
    assert table["proposal_q"].n_unique() == 1
    plan = estimators.resolve(small(), SEED, "is", defensive=0.5)  # the same pilot (name aside)
    assert proposal == plan.short

    again = invoke([*common, "--estimator", "is", "--defensive", "0.5", "--resume"])
    assert again.exit_code == 0, again.output
    assert "0 run, 2 reused" in again.stdout
    assert read_table(out.with_suffix(".csv")).equals(table)

    default_share = estimators.Plan("is", plan.q, estimators.DEFAULT_DEFENSIVE, plan.runs_per_window)
    other = invoke([*common, "--estimator", "is", "--resume"])
    assert other.exit_code == 0, other.output
    assert "2 run, 0 reused" in other.stdout
    assert read_table(out.with_suffix(".csv"))["proposal"].to_list() == [default_share.short] * 2

    naive = invoke([*common, "--estimator", "naive", "--resume"])
    assert naive.exit_code == 0, naive.output
    assert "2 run, 0 reused" in naive.stdout
    assert read_table(out.with_suffix(".csv"))["proposal"].to_list() == ["naive", "naive"]


def test_cli_progress_counts_only_the_points_that_run(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --resume, the bar's total (and so its rate and ETA) is the points left to run;
    the resumed ones are named in its description as skipped."""
    bars: list[tuple[int, str, list[int]]] = []

    @contextmanager
    def recording(total: int, description: str, unit: str = "trials") -> Iterator[Callable[[int], None]]:
        ticks: list[int] = []
        bars.append((total, description, ticks))
        yield ticks.append

    monkeypatch.setattr(sys.modules["riskmc.cli.sweep"], "trial_progress", recording)
    out = tmp_path / "p"
    common = ["sweep", config_file, "--trials", TRIALS, "--out", out, "--workers", 1, "-q", "--format", "csv"]
    assert invoke([*common, "--grid", "degraded.prob=0.02,0.05"]).exit_code == 0
    result = invoke([*common, "--grid", "degraded.prob=0.02,0.05,0.08", "--resume"])
    assert result.exit_code == 0, result.output
    assert [(total, ticks) for total, _, ticks in bars] == [(2, [1, 1]), (1, [1])]
    assert "2 resumed, skipped" in bars[1][1] and "skipped" not in bars[0][1]
    assert read_table(out.with_suffix(".csv"))["point"].to_list() == [0, 1, 2]


def test_cli_lhs(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "l"
    design = ["--lhs", 3, "--range", "degraded.prob=0.01:0.1:log"]
    options = ["--trials", TRIALS, "--out", out, "--workers", 1, "--format", "parquet", "-q"]
    result = invoke(["sweep", config_file, *design, *options])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert read_table(out.with_suffix(".parquet")).height == 3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--grid", "degraded.prob"], "--grid"),
        (["--grid", "degraded.porb=0.1,0.2"], "degraded.porb"),
        (["--grid", "degraded.prob=0.1", "--lhs", "2", "--range", "degraded.prob=0:1"], "--grid"),
        ([], "--grid"),
        (["--lhs", "2"], "--range"),
        (["--lhs", "2", "--range", "degraded.prob=0.5:0.1"], "--range"),
        (["--lhs", "2", "--range", "degraded.prob=0:0.1:log"], "log"),
        (["--grid", "degraded.prob=2"], "degraded.prob"),
        (["--grid", "degraded.prob=0.1", "--estimator", "magic"], "--estimator"),
        (["--grid", "degraded.prob=0.1", "--defensive", "0"], "--defensive"),
        (["--grid", "degraded.prob=0.1", "--workers", "0"], "--workers"),
    ],
)
def test_cli_bad_input_one_error_line(
    config_file: Path, tmp_path: Path, args: list[str], fragment: str
) -> None:
    result = invoke(["sweep", config_file, *args, "--trials", 10, "--out", tmp_path / "e"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


ORDINARY = Path(__file__).resolve().parents[1] / "configs" / "ordinary.toml"


def test_cli_split_sweep_writes_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "split"
    args = ["sweep", ORDINARY, "--set", TAIL[0], "--grid", "cleanup.keep_generations=9,10"]
    args += ["--estimator", "split", "--replicates", 2, "--out", out, "--format", "csv", "--workers", 1]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert "2 points x 2 split replicates" in result.stdout and "2 run, 0 reused" in result.stdout
    table = read_table(out.with_suffix(".csv"))
    assert table["estimator"].to_list() == ["split", "split"] and table["replicates"].to_list() == [2, 2]
    again = invoke([*args, "--resume"])
    assert again.exit_code == 0, again.output
    assert "0 run, 2 reused" in again.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--estimator", "split", "--trials", 10], "--trials: not with --estimator split"),
        (["--replicates", 3], "--replicates: only with --estimator split"),
        (["--estimator", "split", "--defensive", 0.5], "--defensive: not with --estimator split"),
        (["--estimator", "split", "--replicates", 1], "--replicates"),
        (["--estimator", "split", "--set", "region.shock.prob=0.01"], "region.shock.prob"),
    ],
)
def test_cli_split_bad_input_one_error_line(tmp_path: Path, args: list[object], fragment: str) -> None:
    grid = ["--grid", "cleanup.keep_generations=9,10"]
    result = invoke(["sweep", ORDINARY, *grid, *args, "--out", tmp_path / "e"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_ctrl_c_keeps_finished_points(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import riskmc.sweep as sw

    real = sw.run_plan

    def interrupted(plan: Any, executor: Any, progress: Any, on_row: Any) -> list[dict[str, object]]:
        def first_then_stop(row: dict[str, object]) -> None:
            on_row(row)
            raise KeyboardInterrupt

        return real(plan, executor, progress, first_then_stop)

    monkeypatch.setattr(sw, "run_plan", interrupted)
    out = tmp_path / "c"
    grid = ["--grid", "degraded.prob=0.02,0.05"]
    result = invoke(["sweep", config_file, *grid, "--trials", TRIALS, "--out", out, "--workers", 1])
    assert result.exit_code == 130, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted"), result.stderr
    assert read_table(out.with_suffix(".csv")).height == 1  # the finished point, a valid table
