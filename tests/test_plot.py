"""Tests of riskmc.plot (the figures) and ``riskmc plot`` (the command)."""

from __future__ import annotations

import io
import math
import re
import shutil
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner, Result

pytest.importorskip("matplotlib")

from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from riskmc import estimators, plot
from riskmc import sensitivity as sens
from riskmc.calibrate import poisson_mean_interval
from riskmc.cli import app
from riskmc.cli.plot import PlotKind, _calibration_context
from riskmc.compare import compare
from riskmc.config import KEYS, load_config
from riskmc.events import exceedance_frame
from riskmc.outer import outer_summary
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


#: A matplotlib warning (e.g. about a non-finite coordinate) fails the test.
NO_WARNINGS = pytest.mark.filterwarnings("error")
INF, NAN = math.inf, math.nan


def render(fig: Figure) -> Figure:
    """The figure drawn into a PNG in memory (as save_png draws it), so that every artist is
    laid out and every warning it would give is given."""
    fig.savefig(io.BytesIO(), format="png", dpi=plot.DPI)
    return fig


def arrows(ax: Axes) -> list[Annotation]:
    """The arrows on ``ax`` (annotations with an arrow), in drawing order."""
    return [a for a in ax.texts if isinstance(a, Annotation) and a.arrow_patch is not None]


def notes(ax: Axes) -> list[str]:
    return [a.get_text() for a in ax.texts if a.get_text()]


def legend_labels(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend is not None else []


def edge_markers(ax: Axes, marker: str) -> list[float]:
    """x of the markers ``marker`` ("^" or "v") drawn on the top or bottom edge of ``ax``."""
    bottom, top = ax.get_ylim()
    edge = top if marker == "^" else bottom
    return sorted(
        float(x)
        for line in ax.get_lines()
        if line.get_marker() == marker and len(line.get_xdata())
        for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
        if y == edge
    )


def joined_lines(ax: Axes) -> list[tuple[str, list[float]]]:
    """(label, x) of the labelled lines joining several points (not points alone, nor the
    unlabelled interval bars and reference lines)."""
    return [
        (str(line.get_label()), [float(v) for v in line.get_xdata()])
        for line in ax.get_lines()
        if line.get_linestyle() not in ("None", "none", "")
        and not str(line.get_label()).startswith("_")
        and len(line.get_xdata()) > 1
    ]


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
    assert len(ticks) == compare_table.height - 1 == 10  # the baseline is the reference line
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
    assert len(impact_ticks) == 10 and all("[" in t for t in impact_ticks)
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


def synthetic_compare() -> pl.DataFrame:
    """A compare table with every kind of interval end a log axis cannot show."""
    return pl.DataFrame(
        {
            "scenario": ["s"] * 6,
            "mitigation": ["baseline", "unbounded", "unknown", "zero_unbounded", "reaches_zero", "finite"],
            "risk_ratio": [1.0, 0.5, 0.8, 0.0, 0.4, 0.2],
            "risk_ratio_lo": [1.0, 0.1, 0.2, 0.0, 0.0, 0.1],
            "risk_ratio_hi": [1.0, INF, NAN, INF, 3.0, 0.4],
            "risk_ratio_method": ["reference"] + ["paired delta method"] * 5,
            "events": [50, 20, 30, 0, 10, 5],
            "impact_reduction_min": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            "impact_reduction_min_lo": [0.0, -INF, 0.5, NAN, 1.0, 2.0],
            "impact_reduction_min_hi": [0.0, 2.0, INF, 6.0, NAN, 8.0],
            "impact_per_year_min": [10.0] * 6,
        }
    )


@NO_WARNINGS
def test_compare_unbounded_intervals_are_arrows_to_the_edge() -> None:
    fig = render(plot.compare_figure(synthetic_compare()))
    ax, ax_imp = fig.axes
    left, right = ax.get_xlim()
    # row -> (arrow head, arrow tail): an open end points at the axis' edge, from the other end
    ends = {int(a.xy[1]): (a.xy[0], a.xyann[0]) for a in arrows(ax)}
    assert ends == {
        0: (right, 0.1),  # [0.1, inf]: from the lower end to the right edge
        1: (right, 0.2),  # [0.2, nan]
        2: (right, left),  # [0, inf] with an estimate of 0: edge to edge
        3: (left, 3.0),  # [0, 3]: from the upper end to the left edge
    }
    assert [a.arrowprops["arrowstyle"] for a in arrows(ax)] == ["-|>", "-|>", "<|-|>", "-|>"]
    assert "no upper bound" in notes(ax) and "upper bound n/a" in notes(ax)
    assert "0 events: risk ratio 0, no upper bound" in notes(ax)
    # no row is blank: each has its estimate's marker or its arrow
    for k in range(5):
        marks = [ln for ln in ax.get_lines() if ln.get_marker() == "o" and list(ln.get_ydata()) == [k]]
        assert marks or k in ends, k
    # the impact panel (linear): -inf and NaN lower ends, inf and NaN upper ends
    left_i, right_i = ax_imp.get_xlim()
    ends_i = {int(a.xy[1]): a.xy[0] for a in arrows(ax_imp)}
    assert ends_i == {0: left_i, 1: right_i, 2: left_i, 3: right_i}
    assert sorted(notes(ax_imp)) == ["lower bound n/a", "no lower bound", "no upper bound", "upper bound n/a"]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[0].endswith("0.500 [0.100, inf]") and ticks[1].endswith("[0.200, nan]")


@NO_WARNINGS
def test_compare_figure_of_the_baseline_compare_table(tmp_path: Path) -> None:
    """results/baseline_compare.csv (a real compare of the calibrated baseline), as it is and
    with its upper bounds made infinite or NaN."""
    table = pl.read_csv(ROOT / "results" / "baseline_compare.csv")
    render(plot.compare_figure(table))
    broken = table.with_columns(
        pl.when(pl.col("mitigation") == "recheck")
        .then(INF)
        .when(pl.col("mitigation") == "lease")
        .then(NAN)
        .otherwise(pl.col("risk_ratio_hi"))
        .alias("risk_ratio_hi")
    )
    fig = render(plot.compare_figure(broken))
    assert "0 events: risk ratio 0, no upper bound" in notes(fig.axes[0])
    assert "0 events: risk ratio 0, upper bound n/a" in notes(fig.axes[0])
    assert_png(plot.save_png(fig, tmp_path / "broken.png"), 50_000)


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
    # repeated x values that no input tells apart (two tables concatenated): told which column does
    dup = synthetic_sweep([1, 2, 1, 2], [1, 2, 3, 4], scenario=["a", "a", "b", "b"])
    with pytest.raises(plot.PlotError, match=r"several rows have x\.param = 1: give --hue.*scenario"):
        plot.sweep_figure(dup, "x.param", "metric")
    ax = plot.sweep_figure(dup, "x.param", "metric", "scenario").axes[0]
    assert [ln.get_label() for ln in ax.get_lines()] == ["a", "b"]
    # ... while rows that differ in another swept key get a line each without being asked
    keys = synthetic_sweep([1, 2, 1, 2], [1, 2, 3, 4], **{"cleanup.keep_generations": [2, 2, 5, 5]})
    ax = plot.sweep_figure(keys, "x.param", "metric").axes[0]
    assert [ln.get_label() for ln in ax.get_lines()] == ["2", "5"]
    ax = plot.sweep_figure(keys, "x.param", "metric", "cleanup.keep_generations").axes[0]
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


def grid_sweep(keep: Sequence[int] = (20,)) -> pl.DataFrame:
    """The columns of ``riskmc sweep configs/baseline.toml --grid degraded.prob=0.001,0.01,0.1
    --grid write.latency.scale=0.5,1`` (with ``--grid cleanup.keep_generations=...`` when
    ``keep`` has several values): ``point``, the swept keys beside every configuration value
    (``write.latency`` as text, varying with its scale), ``config_hash`` differing per point.
    Points in grid order, the last key fastest: by degraded.prob a single line would zig-zag."""
    rows: list[dict[str, object]] = []
    for k in keep:
        for prob in (0.001, 0.01, 0.1):
            for scale in (0.5, 1.0):
                p = prob * (2 - scale) * (1 + k / 100)
                rows.append(
                    {
                        "point": len(rows),
                        "write.latency.scale": scale,
                        "scenario": "baseline",
                        "p_cell_window": p,
                        "p_cell_window_lo": p * 0.8,
                        "p_cell_window_hi": p * 1.25,
                        "seed": 20251020,
                        "config_hash": f"hash{len(rows)}",
                        "window.hours": 1.0,
                        "write.latency": f"lognorm(s=0.5, scale={scale})",
                        "degraded.prob": prob,
                        "cleanup.keep_generations": k,
                        "mitigations": "",
                    }
                )
    return pl.DataFrame(rows)


@NO_WARNINGS
def test_sweep_draws_one_line_per_combination_of_the_other_inputs() -> None:
    table = grid_sweep()
    assert plot.varying_inputs(table) == ["write.latency.scale", "degraded.prob"]  # not write.latency
    ax = render(plot.sweep_figure(table, "degraded.prob", "p_cell_window")).axes[0]
    assert joined_lines(ax) == [("0.5", [0.001, 0.01, 0.1]), ("1", [0.001, 0.01, 0.1])]
    assert len([ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2]) == 2  # and no other
    assert ax.get_legend().get_title().get_text() == "write.latency.scale"
    assert ax.get_title(loc="left") == "one line per write.latency.scale"
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2  # a band per line
    for line in ax.get_lines():  # no line goes back and forth in x
        assert list(line.get_xdata()) == sorted(line.get_xdata())
    ax = plot.sweep_figure(table, "write.latency.scale", "p_cell_window").axes[0]
    assert [label for label, _x in joined_lines(ax)] == ["0.001", "0.01", "0.1"]
    # with --hue and a third key: a line per (hue, other) pair, coloured by hue, styled by the other
    table = grid_sweep(keep=(2, 10))
    ax = render(plot.sweep_figure(table, "degraded.prob", "p_cell_window", "cleanup.keep_generations")).axes[
        0
    ]
    lines = [
        ln for ln in ax.get_lines() if not str(ln.get_label()).startswith("_") and len(ln.get_xdata()) == 3
    ]
    assert [ln.get_label() for ln in lines] == ["2, 0.5", "2, 1", "10, 0.5", "10, 1"]
    assert ax.get_legend().get_title().get_text() == "cleanup.keep_generations, write.latency.scale"
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert lines[0].get_linestyle() != lines[1].get_linestyle()


@NO_WARNINGS
def test_sweep_of_a_space_filling_design_is_points() -> None:
    """Every row differs in another input (an --lhs design): points with interval bars, no line."""
    n = 12
    probs = np.geomspace(1e-3, 1e-1, n)
    poll = np.linspace(5, 20, n)[::-1]
    p = probs * poll
    table = pl.DataFrame(
        {
            "point": range(n),
            "scenario": ["lhs"] * n,
            "degraded.prob": probs,
            "enactors.poll_interval": poll,
            "p_cell_window": p,
            "p_cell_window_lo": p / 2,
            "p_cell_window_hi": np.where(np.arange(n) == 3, INF, p * 2),
        }
    )
    ax = render(plot.sweep_figure(table, "degraded.prob", "p_cell_window")).axes[0]
    drawn = [ln for ln in ax.get_lines() if ln.get_linestyle() not in ("None", "none", "")]
    assert not [ln for ln in drawn if len(ln.get_xdata()) > 2]  # no line through the points
    points = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert len(points) == 1 and len(points[0].get_xdata()) == n
    assert any(isinstance(c, LineCollection) for c in ax.collections)  # the interval bars
    assert ax.get_title(loc="left") == "points not joined: the rows differ in enactors.poll_interval"
    assert ax.get_title(loc="right") == "bars: 95% CI"
    assert edge_markers(ax, "^") == [probs[3]]
    assert plot.NO_UPPER_BOUND in legend_labels(ax)


@NO_WARNINGS
def test_sweep_band_ends_off_the_axis_are_marked() -> None:
    x = [1e-3, 1e-2, 1e-1, 1.0]
    y = np.array([1e-4, 1e-3, 1e-2, 1e-1])
    table = synthetic_sweep(x, y).with_columns(
        metric_lo=pl.Series([0.0, 5e-4, 5e-3, 5e-2]), metric_hi=pl.Series([2e-4, INF, NAN, 0.2])
    )
    fig = render(plot.sweep_figure(table, "x.param", "metric"))
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert edge_markers(ax, "^") == [1e-2, 1e-1]  # inf and NaN upper ends
    assert edge_markers(ax, "v") == [1e-3]  # a lower end of 0 on the log axis
    bottom, top = ax.get_ylim()
    band = next(c for c in ax.collections if isinstance(c, PolyCollection))
    ys = band.get_paths()[0].vertices[:, 1]
    assert np.all(np.isfinite(ys)) and ys.max() == pytest.approx(top) and ys.min() == pytest.approx(bottom)
    assert {plot.NO_UPPER_BOUND, plot.ZERO_LOWER_BOUND} <= set(legend_labels(ax))
    # a linear axis: a lower end of -inf is "no lower bound"
    linear = table.with_columns(metric_lo=pl.Series([-INF, 5e-4, 5e-3, 5e-2]))
    ax = render(plot.sweep_figure(linear, "x.param", "metric", logy=False)).axes[0]
    assert edge_markers(ax, "v") == [1e-3] and plot.NO_LOWER_BOUND in legend_labels(ax)


# -- calibration -----------------------------------------------------------------------------------


EXPOSURE = 1000.0


def calibration_curve() -> pl.DataFrame:
    """The columns of a ``*_calibration_curve`` table (riskmc.calibrate's curve rows) over 7
    log-spaced values; the expected events over EXPOSURE cell-hours go from 0.01 to 10."""
    theta = np.geomspace(1e-4, 1e-1, 7)
    rate = theta * 0.1
    return pl.DataFrame(
        {
            "value": theta,
            "events_per_cell_hour": rate,
            "events_per_cell_hour_lo": rate * 0.7,
            "events_per_cell_hour_hi": rate * 1.4,
            "events_per_cell_hour_se": rate * 0.2,
            "expected_events": rate * EXPOSURE,
            "hits": [1.0, 3, 9, 30, 90, 300, 900],
            "ess": [1000.0] * 7,
            "unobserved_strata": ["no_degraded", None, None, None, None, None, None],
        }
    )


CALIBRATION_RESULT = {
    "param": "degraded.prob",
    "value": 0.01,
    "value_lo": 0.003,
    "value_hi": 0.05,
    "observed_events": 1,
    "exposure_cell_hours": EXPOSURE,
}


@NO_WARNINGS
def test_calibration_figure() -> None:
    fig = render(plot.calibration_figure(calibration_curve(), title="baseline", result=CALIBRATION_RESULT))
    (ax,) = fig.axes
    assert ax.get_xlabel() == "degraded.prob (probability per run), log scale"  # the key, from the result
    assert ax.get_ylabel() == "expected events over 1,000 cell-hours, log scale"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert fig.get_suptitle() == "baseline: calibration of degraded.prob"
    labels = legend_labels(ax)
    assert "observed: 1" in labels  # the target count, a horizontal line at 1
    observed = next(ln for ln in ax.get_lines() if ln.get_label() == "observed: 1")
    assert list(observed.get_ydata()) == [1, 1]
    low, high = poisson_mean_interval(1)
    assert f"its exact Poisson 95% CI [{plot._fmt(low)}, {plot._fmt(high)}]" in labels
    assert "calibrated: 0.0100 [0.00300, 0.0500]" in labels
    assert "95% CI (Monte Carlo)" in labels
    assert ax.get_title(loc="right") == "upper ends include the bound of unseen strata: no_degraded"
    band = next(c for c in ax.collections if isinstance(c, PolyCollection))
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.max() == pytest.approx(1.4 * 0.1 * 0.1 * EXPOSURE)  # the upper end at the last value


@NO_WARNINGS
def test_calibration_figure_key_from_the_table_or_not_at_all() -> None:
    curve = calibration_curve()
    ax = plot.calibration_figure(curve.with_columns(param=pl.lit("write.fail_prob"))).axes[0]
    assert ax.get_xlabel().startswith("write.fail_prob (probability")
    assert not any(label.startswith("observed") for label in legend_labels(ax))  # no count: no line
    ax = plot.calibration_figure(curve, param="degraded.prob", observed_events=3).axes[0]
    assert ax.get_xlabel().startswith("degraded.prob") and "observed: 3" in legend_labels(ax)
    # nothing says which key: the axis says so; the exposure is the table's own ratio
    ax = render(plot.calibration_figure(curve)).axes[0]
    assert ax.get_xlabel().startswith("the calibrated parameter (its key is not in the table)")
    assert ax.get_ylabel().startswith("expected events over 1,000 cell-hours")
    with pytest.raises(plot.PlotError, match="calibration curve needs column 'expected_events'"):
        plot.calibration_figure(curve.drop("expected_events"))


@NO_WARNINGS
def test_calibration_figure_open_ends_and_zero_events() -> None:
    curve = calibration_curve().with_columns(
        expected_events=pl.Series([0.0, 0.02, 0.1, 0.3, 1.0, 3.0, 10.0]),
        events_per_cell_hour_hi=pl.Series([INF, NAN, *(calibration_curve()["events_per_cell_hour_hi"][2:])]),
    )
    fig = render(plot.calibration_figure(curve, result=CALIBRATION_RESULT))
    (ax,) = fig.axes
    theta = curve["value"].to_list()
    assert edge_markers(ax, "^") == theta[:2]  # upper ends inf and NaN
    assert edge_markers(ax, "v") == theta[:1]  # no event at the first value: 0 on the log axis
    assert "0 (no event at this value): at the bottom edge" in legend_labels(ax)
    assert plot.NO_UPPER_BOUND in legend_labels(ax)


def test_poisson_interval_matches_calibrate() -> None:
    for count in (0, 1, 7, 250):
        assert plot.poisson_interval(count) == pytest.approx(poisson_mean_interval(count), rel=1e-10)


def test_cli_calibration_finds_the_key(tmp_path: Path) -> None:
    # the curve and its result row, as riskmc calibrate wrote them into results/
    for name in ("baseline_calibration_curve.csv", "baseline_calibration.csv"):
        shutil.copy(ROOT / "results" / name, tmp_path / name)
    curve = tmp_path / "baseline_calibration_curve.csv"
    context = _calibration_context(curve, {})
    assert context["param"] == "degraded.prob" and context["observed_events"] == 1
    assert context["value_lo"] < context["value"] < context["value_hi"]
    result = invoke(["plot", curve, "-q"])
    assert result.exit_code == 0, result.stderr
    assert_png(tmp_path / "baseline_calibration_curve.png")
    # no result row beside it: the command line of the curve's provenance
    alone = tmp_path / "alone"
    command = "riskmc calibrate c.toml --param write.fail_prob --observed-events 3 --exposure-cell-hours=500"
    meta = {"riskmc_command": command, "riskmc_scenario": "stress"}
    path = write_table(calibration_curve(), alone / "x_calibration_curve", "parquet", metadata=meta)[0]
    context = _calibration_context(path, {"command": command})
    assert context == {"param": "write.fail_prob", "observed_events": "3", "exposure_cell_hours": "500"}
    # a result row of another calibration under the same name is not taken for this one's
    other = {"riskmc_command": command.replace("write.fail_prob", "degraded.prob")}
    write_table([CALIBRATION_RESULT], alone / "x_calibration", "parquet", metadata=other)
    assert _calibration_context(path, {"command": command})["param"] == "write.fail_prob"
    result = invoke(["plot", path, "-q"])
    assert result.exit_code == 0, result.stderr
    assert_png(alone / "x_calibration_curve.png")
    # the result row itself is not the curve
    assert_one_error_line(
        invoke(["plot", tmp_path / "baseline_calibration.csv"]),
        "the result row of riskmc calibrate; plot its curve",
        "baseline_calibration_curve.csv",
    )


# -- sensitivity -----------------------------------------------------------------------------------


SENS_INPUTS = ("degraded.prob", "write.fail_prob", "enactors.poll_interval")


def sensitivity_table() -> pl.DataFrame:
    """A table of riskmc sensitivity (sens.sensitivity_rows, as the command writes it): the
    second output undefined (NaN, with the reason), the first with an infinite upper end, a
    NaN lower end, a NaN first-order index and a NaN upper end."""
    s1 = np.array([[0.8, 0.1, NAN], [NAN] * 3])
    st = np.array([[0.9, 0.15, 0.02], [NAN] * 3])
    result = sens.SobolResult(
        inputs=SENS_INPUTS,
        first_order=s1,
        first_order_lo=np.array([[0.5, -0.1, NAN], [NAN] * 3]),
        first_order_hi=np.array([[INF, 0.3, NAN], [NAN] * 3]),
        total_order=st,
        total_order_lo=np.array([[0.6, NAN, 0.0], [NAN] * 3]),
        total_order_hi=np.array([[1.1, 0.4, NAN], [NAN] * 3]),
        n=8,
        n_evaluations=40,
        seed=1,
        confidence_level=0.95,
        n_resamples=99,
        reasons=("", "undefined: the output has no variance over the design (nothing to apportion)"),
    )
    return build_frame(sens.sensitivity_rows(result, output_names=list(sens.DEFAULT_OUTPUTS)))


@NO_WARNINGS
def test_sensitivity_figure() -> None:
    fig = render(plot.sensitivity_figure(sensitivity_table(), title="baseline"))
    ax, ax2 = fig.axes
    assert [ax.get_title(), ax2.get_title()] == list(sens.DEFAULT_OUTPUTS)  # a panel per output
    assert [t.get_text() for t in ax.get_yticklabels()] == list(SENS_INPUTS)
    assert (
        fig.get_suptitle() == "baseline: Sobol' sensitivity indices (95% bootstrap CIs; n = 8, 40 model runs)"
    )
    assert legend_labels(ax2) == ["first order S1, 95% CI", "total ST, 95% CI"]
    # the defined output: S1 and ST as markers with bars; NaN index "n/a"; open ends arrows
    assert len([ln for ln in ax.get_lines() if ln.get_marker() == "o"]) == 2
    assert len([ln for ln in ax.get_lines() if ln.get_marker() == "s"]) == 3
    assert [t for t in notes(ax) if t.strip() == "n/a"] == [" n/a"]  # S1 of enactors.poll_interval
    assert sorted(t for t in notes(ax) if "bound" in t) == [
        "lower bound n/a",
        "no upper bound",
        "upper bound n/a",
    ]
    left, right = ax.get_xlim()
    assert sorted(a.xy[0] for a in arrows(ax)) == [left, right, right]
    # the undefined output: every index n/a, and why
    assert len([t for t in notes(ax2) if t.strip() == "n/a"]) == 6
    assert any("no variance over the design" in " ".join(t.split()) for t in notes(ax2))
    assert not arrows(ax2) and not [ln for ln in ax2.get_lines() if ln.get_marker() in ("o", "s")]


# -- outer -----------------------------------------------------------------------------------------


def outer_draws(n: int = 20, scenario: str = "baseline") -> list[dict[str, object]]:
    """Rows of ``riskmc sweep --outer n`` (one per draw) of a configuration whose degraded.prob
    is a distribution table: ``outer``, the drawn value, the estimates with their intervals."""
    rows: list[dict[str, object]] = []
    for i, prob in enumerate(np.geomspace(1e-3, 1e-2, n)[np.argsort(np.arange(n) * 7 % n)]):
        p = float(prob) * 40
        rows.append(
            {
                "outer": i,
                "scenario": scenario,
                "degraded.prob": float(prob),
                "p_cell_window": p,
                "p_cell_window_lo": p - 0.01,
                "p_cell_window_hi": p + 0.01,
                "impact_per_year_min": p * 5e4,
                "impact_per_year_min_lo": p * 4e4,
                "impact_per_year_min_hi": p * 6e4,
                "trials": 100,
                "seed": 1,
            }
        )
    return rows


@NO_WARNINGS
def test_outer_figure_of_the_summary() -> None:
    summary = build_frame(outer_summary(outer_draws(), ["degraded.prob"]))
    assert plot.detect_kind(summary) == "outer"
    fig = render(plot.outer_figure(summary))
    assert [ax.get_title() for ax in fig.axes] == ["p_cell_window", "impact_per_year_min"]
    assert fig.get_suptitle() == "baseline: spread over 20 outer draws of degraded.prob"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [
        "p05-p95 of the draws",
        "median (p50)",
        "Monte Carlo 95% half-width (mean within a draw)",
    ]
    ax = fig.axes[0]
    row = summary.filter(pl.col("estimate") == "p_cell_window").row(0, named=True)
    band = next(c for c in ax.collections if isinstance(c, PolyCollection))
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(row["p05"]) and ys.max() == pytest.approx(row["p95"])
    median = next(ln for ln in ax.get_lines() if ln.get_label() == "median (p50)")
    assert list(median.get_ydata()) == pytest.approx([row["p50"]] * 2)
    # several scenarios' summaries: a box each, against the scenario
    several = pl.concat(
        [build_frame(outer_summary(outer_draws(scenario=name))) for name in ("a", "b", "c")], how="vertical"
    )
    ax = render(plot.outer_figure(several, y="p_cell_window")).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"] and ax.get_xlabel() == "scenario"
    with pytest.raises(plot.PlotError, match=r"--y 'nope': no such estimate in the outer summary \(it has"):
        plot.outer_figure(summary, y="nope")


@NO_WARNINGS
def test_outer_figure_of_the_draws() -> None:
    draws = build_frame(outer_draws())
    assert plot.detect_kind(draws) == "outer"
    fig = render(plot.outer_figure(draws))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "p25-p75 of the draws" in labels and "p05-p95 of the draws" in labels and "draws" in labels
    dots = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "draws")
    assert len(dots.get_xdata()) == 20
    assert fig.get_suptitle() == "baseline: spread over 20 outer draws of degraded.prob"
    # against the drawn parameter: running percentile bands, the median through every draw
    fig = render(plot.outer_figure(draws, y="p_cell_window", x="degraded.prob"))
    (ax,) = fig.axes
    assert ax.get_xlabel() == "degraded.prob (probability per run)"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "p05-p95 of the draws (running)" in labels
    median = next(ln for ln in ax.get_lines() if ln.get_label() == "median (p50)")
    assert list(median.get_xdata()) == sorted(draws["degraded.prob"].to_list())
    assert ax.get_title(loc="right").startswith("Monte Carlo 95% half-width (mean within a draw): ")


@NO_WARNINGS
def test_outer_figure_open_and_undefined_percentiles() -> None:
    summary = pl.DataFrame(
        {
            "scenario": ["a", "b", "c"],
            "estimate": ["p_cell_window"] * 3,
            "draws": [20] * 3,
            "finite_draws": [20, 20, 0],
            "p05": [0.0, 1e-5, NAN],
            "p50": [1e-3, 1e-4, NAN],
            "p95": [1e-2, INF, NAN],
            "mc_half_width_mean": [1e-4, 5e-5, NAN],
        }
    )
    fig = render(plot.outer_figure(summary, logy=True))
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert edge_markers(ax, "^") == [1.0, 1.0]  # b's p95 is inf: its box reaches the top edge
    assert edge_markers(ax, "v") == [0.0, 0.0]  # a's p05 is 0: the bottom edge of the log axis
    assert "n/a" in notes(ax)  # c: no finite draw
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert plot.NO_UPPER_BOUND in labels and plot.ZERO_LOWER_BOUND in labels


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


def test_detect_new_kinds_and_inputs() -> None:
    assert plot.detect_kind(calibration_curve()) == "calibration"
    assert plot.detect_kind(sensitivity_table()) == "sensitivity"
    assert plot.detect_kind(build_frame(outer_summary(outer_draws()))) == "outer"
    assert plot.detect_kind(build_frame(outer_draws())) == "outer"
    assert plot.detect_kind(grid_sweep()) is None  # a sweep needs its axes named
    assert set(plot.KINDS) == {k.value for k in PlotKind}  # riskmc plot --kind lists every kind
    # the configuration's sections, as riskmc.config defines them
    assert {key.split(".")[0] for key in KEYS if "." in key} == plot.CONFIG_SECTIONS
    assert plot.input_columns(grid_sweep()) == [
        "write.latency.scale",
        "window.hours",
        "write.latency",
        "degraded.prob",
        "cleanup.keep_generations",
        "mitigations",
    ]
    assert plot.varying_inputs(grid_sweep(), ["write.latency.scale"]) == ["degraded.prob"]


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
    assert_one_error_line(
        invoke(["plot", cmp_csv, "--kind", "compare", "--x", "a"]),
        "--kind sweep and outer only",
        "not --kind compare",
    )
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


def test_cli_new_kinds(tmp_path: Path) -> None:
    tables = {
        "baseline_sensitivity": sensitivity_table(),
        "baseline_outer_summary": build_frame(outer_summary(outer_draws(), ["degraded.prob"])),
        "baseline_outer": build_frame(outer_draws()),
    }
    for name, table in tables.items():
        path = write_table(table, tmp_path / name, "csv")[0]
        result = invoke(["plot", path, "-q"])
        assert result.exit_code == 0, (name, result.stderr)
        assert result.stderr == ""
        assert_png(tmp_path / f"{name}.png")
    # --x/--y on an outer table choose its estimate and column, and keep it an outer figure
    result = invoke(["plot", tmp_path / "baseline_outer.csv", "--x", "degraded.prob", "--y", "p_cell_window"])
    assert result.exit_code == 0, result.stderr
    result = invoke(
        ["plot", tmp_path / "baseline_outer.csv", "--kind", "outer", "--y", "nope", "--out", tmp_path / "n"]
    )
    assert_one_error_line(result, "--y 'nope'")
    # the real tables of results/: a sweep of two keys at once
    sweep = write_table(grid_sweep(), tmp_path / "grid", "csv")[0]
    result = invoke(["plot", sweep, "--x", "degraded.prob", "--y", "p_cell_window", "-q"])
    assert result.exit_code == 0, result.stderr


def test_cli_new_kind_errors(compare_csv: Path, tmp_path: Path) -> None:
    sensitivity = write_table(sensitivity_table(), tmp_path / "s_sensitivity", "csv")[0]
    outer = write_table(build_frame(outer_draws()), tmp_path / "o_outer", "csv")[0]
    assert_one_error_line(invoke(["plot", sensitivity, "--logx"]), "do not apply to --kind sensitivity")
    assert_one_error_line(
        invoke(["plot", sensitivity, "--kind", "sensitivity", "--x", "a"]),
        "--x/--y apply to --kind sweep and outer only, not --kind sensitivity",
    )
    assert_one_error_line(
        invoke(["plot", outer, "--kind", "outer", "--hue", "a"]), "--hue applies to --kind sweep only"
    )
    assert_one_error_line(
        invoke(["plot", compare_csv, "--kind", "outer"]), "--kind outer", "has neither the columns"
    )
    assert_one_error_line(invoke(["plot", compare_csv, "--kind", "calibration"]), "no column 'value'")
    assert_one_error_line(invoke(["plot", compare_csv, "--kind", "sensitivity"]), "no column 'output'")
    line = assert_one_error_line(invoke(["plot", compare_csv, "--kind", "pie"]), "--kind")
    for kind in ("calibration", "sensitivity", "outer"):
        assert kind in line
    assert not list(tmp_path.glob("*.png"))


def test_cli_without_matplotlib(compare_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert_one_error_line(invoke(["plot", compare_csv]), "matplotlib", "pip install 'riskmc[plot]'")
    assert not (tmp_path / "compare.png").exists()
