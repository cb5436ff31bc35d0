"""Tests of riskmc.plot (the figures) and ``riskmc plot`` (the command)."""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner, Result

pytest.importorskip("matplotlib")

from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from riskmc import estimators, plot
from riskmc.cli import app
from riskmc.compare import compare
from riskmc.config import load_config
from riskmc.events import exceedance_frame
from riskmc.sweep import grid_points, run_sweep
from riskmc.tables import build_frame, write_table
from tests.conftest import stress_config

ROOT = Path(__file__).resolve().parents[1]
COMPARE_TOML = ROOT / "configs" / "compare.toml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

runner = CliRunner()


def invoke(args: Sequence[object]) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def assert_one_error_line(result: Result, *fragments: str) -> str:
    """Exit 2, exactly one non-empty stderr line starting 'error:', no traceback."""
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_png(path: Path, min_bytes: int = 20_000) -> tuple[int, int]:
    """A real PNG of some substance; its (width, height) in pixels."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert len(data) > min_bytes, len(data)
    assert width >= 600 and height >= 400, (width, height)
    return width, height


def no_temp_files(directory: Path) -> None:
    assert not [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def texts(fig: Figure) -> list[str]:
    """Every text drawn on the figure: titles, labels, annotations, tick and legend labels."""
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and callable(a.get_text))]


# -- tables (written by the library itself) ---------------------------------------------------------


@pytest.fixture(scope="module")
def compare_table() -> pl.DataFrame:
    """``riskmc compare configs/compare.toml`` (every mitigation alone) on 300 quarter-hour
    windows: conditional_write has no event, the others a risk ratio with a positive lower end."""
    config = load_config(COMPARE_TOML, ["window.hours=0.25"])
    return build_frame(compare(config, trials=300, seed=7, estimator="naive"))


@pytest.fixture
def compare_csv(compare_table: pl.DataFrame, tmp_path: Path) -> Path:
    """The compare table as ``riskmc compare`` writes it (a fresh copy per test)."""
    return write_table(compare_table, tmp_path / "compare", "csv")[0]


@pytest.fixture(scope="module")
def exceedance_table() -> pl.DataFrame:
    run = estimators.run(stress_config(["region.cells=2"]), estimators.naive_plan(), seed=1, trials=300)
    return exceedance_frame(run)


@pytest.fixture(scope="module")
def rare_exceedance_table() -> pl.DataFrame:
    """Importance sampling of a rare event: a year has a few events at most, so the annual
    impact spans decades and the largest thresholds are above every simulated year."""
    config = stress_config(["region.cells=2", "degraded.prob=1e-6"])
    run = estimators.run(config, estimators.resolve(config, 1, "is"), seed=1, trials=300)
    return exceedance_frame(run)


SWEEP_PROBS = (0.0005, 0.005, 0.05, 0.3)
SWEEP_KEEP = (2, 10)


@pytest.fixture(scope="module")
def sweep_table() -> pl.DataFrame:
    """A real sweep (``riskmc sweep``): degraded.prob over 2.8 decades, for two values of
    keep_generations, under importance sampling (so that the rarest point has an estimate)."""
    config = stress_config()
    plan = estimators.resolve(stress_config(["degraded.prob=0.0005"]), 3, "is")
    grid = grid_points(
        [f"cleanup.keep_generations={','.join(map(str, SWEEP_KEEP))}", "degraded.prob=0.0005,0.005,0.05,0.3"]
    )
    return build_frame(run_sweep(config, grid, 150, 3, plan=plan))


def synthetic_sweep(xs: Sequence[float], ys: Sequence[float], **extra: Sequence[object]) -> pl.DataFrame:
    y = np.asarray(ys, dtype=float)
    return pl.DataFrame(
        {
            "scenario": ["synthetic"] * len(xs),
            "x.param": list(xs),
            "metric": y,
            "metric_lo": y * 0.8,
            "metric_hi": y * 1.2,
            **{k: list(v) for k, v in extra.items()},
        }
    )


# -- compare ---------------------------------------------------------------------------------------


LABEL = re.compile(r"^(?P<name>.+)\n(?P<est>\S+) \[(?P<lo>\S+), (?P<hi>\S+)\]$")


def test_compare_figure_axes_and_zero_ratio(compare_table: pl.DataFrame, tmp_path: Path) -> None:
    fig = plot.compare_figure(compare_table)
    ax, ax_imp = fig.axes
    assert ax.get_xscale() == "log"
    assert "risk ratio" in ax.get_xlabel()
    assert ax_imp.get_xscale() == "linear"
    assert "region-traffic-minutes" in ax_imp.get_xlabel()
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ticks) == compare_table.height - 1 == 7  # the baseline is the reference line
    assert not any(t.startswith("baseline") for t in ticks)
    # each label: the mitigation (with its parameters) and its risk ratio [95% CI], in table order
    rows = compare_table.filter(pl.col("mitigation") != "baseline")
    for tick, row in zip(ticks, rows.iter_rows(named=True), strict=True):
        m = LABEL.match(tick)
        assert m is not None, tick
        assert m["name"].split(" (")[0] == row["mitigation"]
        for part, column in (("est", "risk_ratio"), ("lo", "risk_ratio_lo"), ("hi", "risk_ratio_hi")):
            assert float(m[part]) == pytest.approx(row[column], rel=5e-3, abs=1e-12), (tick, column)
    assert ticks[0].startswith("recheck\n")
    assert any(t.startswith("deadline (20 s)\n") for t in ticks)  # compare.toml's parameters
    assert any(t.startswith("cleanup_min_age (120 s)\n") for t in ticks)
    assert any(line.get_xdata()[0] == 1.0 for line in ax.get_lines())  # reference line at 1
    all_text = texts(fig)
    assert "compare: mitigations against the baseline" in fig.get_suptitle()
    assert "300 trials per scenario" in fig.get_suptitle()
    # conditional_write: risk ratio 0 with a finite upper bound, shown as an arrow from that
    # bound to the axis' lower edge, which sits below the bound.
    cw = compare_table.filter(pl.col("mitigation") == "conditional_write").row(0, named=True)
    assert cw["risk_ratio"] == 0 and cw["events"] == 0 and 0 < cw["risk_ratio_hi"] < 1
    assert any(t.startswith("0 events: risk ratio 0") for t in all_text)
    left, right = ax.get_xlim()
    assert left < cw["risk_ratio_hi"] / 3 and right > 1
    arrows = [a for a in ax.texts if getattr(a, "arrow_patch", None) is not None]
    assert (rows["risk_ratio_lo"] <= 0).sum() == 1  # only conditional_write's interval reaches 0
    assert len(arrows) == 1
    assert arrows[0].xy == (left, 1.0)  # the second row (conditional_write), to the edge
    # the impact panel: one point per mitigation, labelled with its estimate
    impact_ticks = [t.get_text() for t in ax_imp.get_yticklabels()]
    assert len(impact_ticks) == 7 and all("[" in t for t in impact_ticks)
    path = plot.save_png(fig, tmp_path / "compare.png")
    assert assert_png(path, 50_000)[0] == 12 * plot.DPI
    no_temp_files(tmp_path)


def test_compare_figure_without_impact_and_nan_ratio(compare_table: pl.DataFrame) -> None:
    df = compare_table.select(
        "scenario", "mitigation", "risk_ratio", "risk_ratio_lo", "risk_ratio_hi", "events"
    )
    fig = plot.compare_figure(df)
    assert len(fig.axes) == 1 and fig.axes[0].get_xscale() == "log"
    # impact columns all NaN: still one panel; a NaN ratio is labelled, not drawn
    nan_imp = compare_table.with_columns(
        pl.lit(float("nan")).alias(c)
        for c in ("impact_reduction_min", "impact_reduction_min_lo", "impact_reduction_min_hi")
    )
    assert len(plot.compare_figure(nan_imp).axes) == 1
    nan_rr = compare_table.with_columns(
        pl.when(pl.col("mitigation") == "lease")
        .then(float("nan"))
        .otherwise(pl.col("risk_ratio"))
        .alias("risk_ratio")
    )
    assert any("no estimate" in t for t in texts(plot.compare_figure(nan_rr)))
    with pytest.raises(plot.PlotError, match="no mitigation"):
        plot.compare_figure(compare_table.filter(pl.col("mitigation") == "baseline"))


# -- exceedance ------------------------------------------------------------------------------------


def test_exceedance_figure(exceedance_table: pl.DataFrame, tmp_path: Path) -> None:
    fig = plot.exceedance_figure(exceedance_table, title="stress2")
    (ax,) = fig.axes
    assert "region-traffic-minutes" in ax.get_xlabel()
    assert "probability" in ax.get_ylabel()
    assert fig.get_suptitle().startswith("stress2: loss exceedance")
    # the table's positive thresholds span far less than a decade: a linear axis reads better
    thresholds = exceedance_table["threshold_min"].to_numpy()
    assert thresholds[0] == 0 and thresholds[-1] / thresholds[1] < 10
    assert ax.get_xscale() == "linear"
    assert any(isinstance(c, PolyCollection) for c in ax.collections)  # the CI band
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("P(annual impact > 0) = ") for t in legend)  # threshold 0
    assert_png(plot.save_png(fig, tmp_path / "exceedance.png"))


def test_exceedance_log_axes_and_zero_probabilities() -> None:
    x = np.concatenate([[0.0], np.geomspace(10, 1e5, 12)])
    p = np.concatenate([[0.3], np.geomspace(0.3, 1e-4, 10), [0.0, 0.0]])
    df = pl.DataFrame(
        {"threshold_min": x, "p_exceed": p, "p_exceed_lo": p / 2, "p_exceed_hi": np.minimum(p * 2, 1)}
    )
    fig = plot.exceedance_figure(df)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    bottom, top = ax.get_ylim()
    assert 0 < bottom <= 1e-4 and top > 1
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("0 (no simulated year above") for t in legend)
    forced = plot.exceedance_figure(df, logx=False, logy=False).axes[0]
    assert forced.get_xscale() == "linear" and forced.get_yscale() == "linear"
    with pytest.raises(plot.PlotError, match="no positive threshold"):
        plot.exceedance_figure(df.head(1))


def test_exceedance_figure_of_a_rare_event(rare_exceedance_table: pl.DataFrame) -> None:
    """The table of an importance-sampled run: thresholds over more than a decade and
    probabilities over more than two, down to 0 above the largest simulated year."""
    df = rare_exceedance_table
    x, p = df["threshold_min"].to_numpy(), df["p_exceed"].to_numpy()
    assert x[0] == 0 and x[-1] / x[1] > 10
    assert np.all(np.diff(p) <= 0) and p[-1] == 0 and p[p > 0].max() / p[p > 0].min() > 100
    assert (df["p_exceed_lo"] <= df["p_exceed"]).all() and (df["p_exceed"] <= df["p_exceed_hi"]).all()
    fig = plot.exceedance_figure(df)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    bottom, top = ax.get_ylim()
    assert 0 < bottom <= p[p > 0].min() and top > 1
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("0 (no simulated year above") for t in legend)
    assert any(t.startswith(f"P(annual impact > 0) = {plot._fmt(float(p[0]))}") for t in legend)
    assert fig.get_suptitle().startswith("exceedance: loss exceedance")  # the table has no scenario column


# -- sweep -----------------------------------------------------------------------------------------


def test_sweep_figure_from_runs(sweep_table: pl.DataFrame, tmp_path: Path) -> None:
    fig = plot.sweep_figure(sweep_table, "degraded.prob", "p_cell_window", "cleanup.keep_generations")
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"  # 0.0005 .. 0.3: more than two decades
    # p_cell_window goes from about 0.002 (weighted, at the rarest point) to 1: more than two decades
    p = sweep_table["p_cell_window"].to_numpy()
    assert p.min() > 0 and p.max() / p.min() > 100
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "degraded.prob (probability per run), log scale"
    assert ax.get_ylabel() == "p_cell_window (probability per cell-window), log scale"
    lines = [ln for ln in ax.get_lines() if ln.get_label() in ("2", "10")]
    assert [ln.get_label() for ln in lines] == ["2", "10"]
    for ln in lines:
        assert list(ln.get_xdata()) == list(SWEEP_PROBS)
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2  # one band per line
    assert ax.get_legend().get_title().get_text() == "cleanup.keep_generations"
    assert "p_cell_window against degraded.prob" in fig.get_suptitle()
    assert_png(plot.save_png(fig, tmp_path / "sweep.png"))
    # a metric in region-traffic-minutes
    fig = plot.sweep_figure(sweep_table, "degraded.prob", "impact_per_year_min", "cleanup.keep_generations")
    assert "region-traffic-minutes" in fig.axes[0].get_ylabel()


def test_sweep_log_rules_and_errors() -> None:
    wide = synthetic_sweep([1, 10, 100, 1000], [1e-5, 1e-4, 1e-3, 2e-2])
    ax = plot.sweep_figure(wide, "x.param", "metric").axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    narrow = synthetic_sweep([1, 2, 3, 50], [0.1, 0.2, 0.3, 0.4])
    ax = plot.sweep_figure(narrow, "x.param", "metric").axes[0]
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "linear"  # 1.7 decades: linear
    ax = plot.sweep_figure(narrow, "x.param", "metric", logx=True, logy=True).axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    ax = plot.sweep_figure(wide, "x.param", "metric", logx=False).axes[0]
    assert ax.get_xscale() == "linear"
    with_zero = synthetic_sweep([0, 1, 10, 1000], [1, 2, 3, 4])
    assert plot.sweep_figure(with_zero, "x.param", "metric").axes[0].get_xscale() == "linear"
    with pytest.raises(plot.PlotError, match="values <= 0"):
        plot.sweep_figure(with_zero, "x.param", "metric", logx=True)
    # repeated x values without --hue: told which column separates them
    dup = synthetic_sweep([1, 2, 1, 2], [1, 2, 3, 4], **{"cleanup.keep_generations": [2, 2, 5, 5]})
    with pytest.raises(plot.PlotError, match=r"--hue.*cleanup\.keep_generations"):
        plot.sweep_figure(dup, "x.param", "metric")
    ax = plot.sweep_figure(dup, "x.param", "metric", "cleanup.keep_generations").axes[0]
    assert [ln.get_label() for ln in ax.get_lines()] == ["2", "5"]
    with pytest.raises(plot.PlotError, match="did you mean 'metric'"):
        plot.sweep_figure(dup, "x.param", "metrc")
    text = synthetic_sweep([1, 2], [1, 2], **{"planner.interval": ["expon(scale=3)", "expon(scale=5)"]})
    with pytest.raises(plot.PlotError, match="not numeric"):
        plot.sweep_figure(text, "planner.interval", "metric")
    # numbers stored as text (a CSV column with a blank) are numbers
    as_text = synthetic_sweep([1, 2, 3], [1, 2, 3], **{"window.hours": ["0.5", "1", ""]})
    ax = plot.sweep_figure(as_text, "window.hours", "metric").axes[0]
    assert list(ax.get_lines()[0].get_xdata()) == [0.5, 1.0]


def test_units_and_detection(compare_table: pl.DataFrame, exceedance_table: pl.DataFrame) -> None:
    assert plot.describe("mean_plan_age_s") == "mean_plan_age_s (seconds)"
    assert plot.unit_of("impact_per_year_min") == "region-traffic-minutes per region-year"
    assert plot.unit_of("enactors.poll_interval") == "seconds"
    assert plot.unit_of("some_new_metric_s") == "seconds"
    assert plot.unit_of("p_something") == "probability"
    assert plot.unit_of("mystery") is None
    assert plot.detect_kind(compare_table) == "compare"
    assert plot.detect_kind(exceedance_table) == "exceedance"
    assert plot.detect_kind(pl.DataFrame({"a": [1]})) is None
    assert plot.scenario_title(compare_table) == "compare"
    assert plot.auto_log(np.array([1.0, 1000.0])) and not plot.auto_log(np.array([1.0, 100.0]))


def test_save_png_is_atomic(
    compare_table: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "sub" / "fig.png"
    plot.save_png(plot.compare_figure(compare_table), target)  # creates the directory
    before = target.read_bytes()
    fig = plot.exceedance_figure(
        pl.DataFrame({"threshold_min": [0.0, 1.0, 2.0], "p_exceed": [0.5, 0.4, 0.1]}), title="x"
    )

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fig, "savefig", boom)
    with pytest.raises(KeyboardInterrupt):
        plot.save_png(fig, target)
    assert target.read_bytes() == before
    no_temp_files(target.parent)


# -- the command -----------------------------------------------------------------------------------


def test_cli_compare_default_path(compare_csv: Path, tmp_path: Path) -> None:
    result = invoke(["plot", compare_csv])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"wrote {tmp_path / 'compare.png'}"
    assert_png(tmp_path / "compare.png", 50_000)
    no_temp_files(tmp_path)


def test_cli_exceedance_and_sweep(
    exceedance_table: pl.DataFrame, sweep_table: pl.DataFrame, tmp_path: Path
) -> None:
    exc = write_table(exceedance_table, tmp_path / "stress_exceedance", "parquet")[0]
    out_dir = tmp_path / "figs"
    out_dir.mkdir()
    result = invoke(["plot", exc, "--out", out_dir, "-q"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert_png(out_dir / "stress_exceedance.png")

    sweep = write_table(sweep_table, tmp_path / "sweep", "csv")[0]
    args = [
        "plot",
        sweep,
        "--x",
        "degraded.prob",
        "--y",
        "p_cell_window",
        "--hue",
        "cleanup.keep_generations",
    ]
    result = invoke([*args, "--out", tmp_path / "s.whatever", "--logy"])
    assert result.exit_code == 0, result.stderr
    assert_png(tmp_path / "s.png")
    result = invoke([*args, "--kind", "sweep"])
    assert result.exit_code == 0, result.stderr
    assert_png(tmp_path / "sweep.png")


def test_cli_errors(compare_csv: Path, tmp_path: Path) -> None:
    cmp_csv = compare_csv
    assert_one_error_line(invoke(["plot", tmp_path / "missing.csv"]), "missing.csv: no such file")
    assert_one_error_line(invoke(["plot", ROOT / "README.md"]), "not a results table")
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b\n")
    assert_one_error_line(invoke(["plot", empty]), "no rows")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    assert_one_error_line(invoke(["plot", broken]), "cannot read the table")
    # unknown columns, with a suggestion
    line = assert_one_error_line(invoke(["plot", cmp_csv, "--x", "degraded.prb", "--y", "p_cell_window"]))
    assert "--x 'degraded.prb'" in line and "did you mean 'degraded.prob'" in line
    assert_one_error_line(
        invoke(["plot", cmp_csv, "--x", "degraded.prob", "--y", "risk_ratoi"]),
        "--y",
        "did you mean 'risk_ratio'",
    )
    assert_one_error_line(
        invoke(["plot", cmp_csv, "--x", "degraded.prob", "--y", "risk_ratio", "--hue", "mitigaton"]),
        "--hue",
        "did you mean 'mitigation'",
    )
    # non-numeric column
    assert_one_error_line(
        invoke(["plot", cmp_csv, "--x", "mitigation", "--y", "risk_ratio"]), "--x 'mitigation'", "not numeric"
    )
    # table of the wrong shape for --kind, options of another kind, half a sweep
    assert_one_error_line(invoke(["plot", cmp_csv, "--kind", "exceedance"]), "no column 'threshold_min'")
    assert_one_error_line(invoke(["plot", cmp_csv, "--kind", "compare", "--x", "a"]), "--kind sweep only")
    assert_one_error_line(invoke(["plot", cmp_csv, "--logx"]), "do not apply to --kind compare")
    assert_one_error_line(
        invoke(["plot", cmp_csv, "--x", "degraded.prob"]), "needs both --x PARAM and --y METRIC"
    )
    plain = write_table([{"a": 1.0, "b": 2.0}], tmp_path / "plain", "csv")[0]
    assert_one_error_line(invoke(["plot", plain]), "cannot tell what to plot", "--x PARAM --y METRIC")
    assert_one_error_line(invoke(["plot", plain, "--kind", "sweep"]), "needs both --x PARAM and --y METRIC")
    assert_one_error_line(invoke(["plot", cmp_csv, "--kind", "pie"]), "--kind")
    assert not (tmp_path / "compare.png").exists()
    # an unwritable --out
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_error_line(
        invoke(["plot", cmp_csv, "--out", blocker / "x.png"]), "--out", "is not a directory"
    )


def test_cli_without_matplotlib(compare_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert_one_error_line(invoke(["plot", compare_csv]), "matplotlib", "pip install 'riskmc[plot]'")
    assert not (tmp_path / "compare.png").exists()
