"""Figures of result tables: ``riskmc plot`` (matplotlib, the optional ``plot`` extra).

Six kinds of table, six figures, each built by a plain function ``f(df, *, title=None, ...)``
that returns a :class:`matplotlib.figure.Figure` (object-oriented API with an Agg canvas
attached: no pyplot, no global backend switch, nothing shown on screen):

* :func:`compare_figure` -- a table of ``riskmc compare`` (columns ``mitigation`` and
  ``risk_ratio``): each mitigation's risk ratio with its 95% interval on a log axis, the
  baseline as the reference line at 1, and (when the table has it) the impact saved per
  region-year in a second panel.  A risk ratio of 0 (no event with the mitigation) cannot sit
  on a log axis: its interval is drawn as an arrow from the upper bound down to the axis'
  lower edge and labelled "0 events".
* :func:`exceedance_figure` -- a loss-exceedance table (``riskmc run --exceedance``; columns
  ``threshold_min`` and ``p_exceed``): P(annual impact > threshold) against the threshold,
  with the pointwise interval as a band.  The threshold 0 (P(any impact in a year)) is drawn
  as a horizontal reference line, since neither a log axis nor a readable linear one holds it
  next to the other thresholds.
* :func:`sweep_figure` -- any table with one row per parameter value (``riskmc sweep``): a
  metric against a parameter, with the metric's ``_lo``/``_hi`` interval as a band, one line
  per value of an optional hue column.  Rows that differ in another swept input (a
  configuration column other than x and hue) are never joined: one line per combination of
  those inputs, or points only when each combination has a single row (a space-filling
  design).
* :func:`calibration_figure` -- the curve of ``riskmc calibrate`` (``*_calibration_curve``;
  columns ``value`` and ``expected_events``): the expected events over the exposure against
  the calibrated parameter (its key on the x axis), the Monte Carlo interval as a band, the
  observed count (with its exact Poisson interval) as the reference line and the calibrated
  value (with its interval) when known.
* :func:`sensitivity_figure` -- a table of ``riskmc sensitivity`` (columns ``output``,
  ``input``, ``first_order``, ``total_order``): first-order and total Sobol' indices per input
  with their bootstrap intervals, one panel per output; an undefined (NaN) index reads "n/a".
* :func:`outer_figure` -- the tables of ``riskmc sweep --outer``: the summary (columns
  ``estimate`` and ``p50``) or the draws (column ``outer``): the percentile bands of an
  estimate over the outer (parameter) draws (5th-95th and, from the draws, 25th-75th shaded;
  the median as a line or mark) with the mean Monte Carlo half-width within a draw beside
  them; against a point or parameter column when one is given or varies.

Every interval end an axis cannot show -- infinite or NaN, or at most 0 on a log axis -- is
drawn as an arrow or a band reaching the axis' edge, with a marker or a note saying which
("no upper bound"), never left out and never handed to matplotlib as a non-finite value.

:func:`detect_kind` tells the kind from the columns, :func:`save_png` writes a figure
atomically (temporary file in the target's directory, then :func:`os.replace`).  Problems
with the table or the requested columns raise :class:`PlotError`, whose message is meant
for the user as it is; a missing matplotlib raises :class:`MissingMatplotlib` (a
:class:`PlotError`) telling how to install it.  matplotlib is imported only when a figure is
made, so this module imports without it.
"""

from __future__ import annotations

import difflib
import importlib
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from riskmc.tables import write_atomically

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

__all__ = [
    "CALIBRATION_COLUMNS",
    "COMPARE_COLUMNS",
    "CONFIG_SECTIONS",
    "DPI",
    "EXCEEDANCE_COLUMNS",
    "KINDS",
    "KIND_COLUMNS",
    "OUTER_DRAWS_COLUMNS",
    "OUTER_SUMMARY_COLUMNS",
    "SENSITIVITY_COLUMNS",
    "MissingMatplotlib",
    "PlotError",
    "auto_log",
    "calibration_figure",
    "check_column",
    "compare_figure",
    "describe",
    "detect_kind",
    "exceedance_figure",
    "input_columns",
    "outer_figure",
    "require_matplotlib",
    "save_png",
    "scenario_title",
    "sensitivity_figure",
    "sweep_figure",
    "unit_of",
    "varying_inputs",
]

#: Kinds of figure; "auto" tells the kind from the table's columns (:func:`detect_kind`).
KINDS = ("auto", "sweep", "compare", "exceedance", "calibration", "sensitivity", "outer")
#: Columns that make a table a ``riskmc compare`` table.
COMPARE_COLUMNS = ("mitigation", "risk_ratio")
#: Columns that make a table a loss-exceedance table.
EXCEEDANCE_COLUMNS = ("threshold_min", "p_exceed")
#: Columns that make a table the curve of ``riskmc calibrate``.
CALIBRATION_COLUMNS = ("value", "expected_events")
#: Columns that make a table one of ``riskmc sensitivity``.
SENSITIVITY_COLUMNS = ("output", "input", "first_order", "total_order")
#: Columns that make a table the summary of ``riskmc sweep --outer``.
OUTER_SUMMARY_COLUMNS = ("estimate", "p50")
#: Columns that make a table the draws of ``riskmc sweep --outer`` (one row per draw).
OUTER_DRAWS_COLUMNS = ("outer",)
#: The columns each kind needs (an outer table needs those of the summary or of the draws).
KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "compare": COMPARE_COLUMNS,
    "exceedance": EXCEEDANCE_COLUMNS,
    "calibration": CALIBRATION_COLUMNS,
    "sensitivity": SENSITIVITY_COLUMNS,
}
#: Top-level sections of the configuration: a dotted column under one of them (or the
#: ``mitigations`` column) holds an input of the run.  Kept in step with riskmc.config.KEYS
#: by a test, since importing riskmc.config here would import scipy.stats for every figure.
CONFIG_SECTIONS = frozenset(
    (
        "window",
        "planner",
        "enactors",
        "endpoints",
        "write",
        "degraded",
        "cleanup",
        "region",
        "repair",
        "mitigations",
    )
)
#: Resolution of the PNG files.
DPI = 130
#: The label of the reference row of a compare table.
BASELINE = "baseline"
#: A log axis is chosen automatically when positive values span more than this many decades.
AUTO_LOG_DECADES = 2.0
#: More combinations of the other swept inputs than this are drawn as points, not lines
#: (a legend of more entries cannot be read).
MAX_LINES = 12
#: Estimates an outer figure shows when none is asked for (those of riskmc sensitivity).
OUTER_ESTIMATES = ("p_cell_window", "impact_per_year_min")
#: Percentiles an outer figure computes from the draws (the summary has 5, 50 and 95 only).
OUTER_PERCENTILES = (5, 25, 50, 75, 95)

INSTALL_HINT = "pip install 'riskmc[plot]'"

_TITLE_SIZE = 13
_LABEL_SIZE = 11
_TICK_SIZE = 10
_NOTE_SIZE = 9
_SMALL_SIZE = 8


class PlotError(ValueError):
    """A table or a request that cannot be plotted; the message is for the user as it is."""


class MissingMatplotlib(PlotError):
    """matplotlib is not installed."""


def require_matplotlib() -> None:
    """Raise :class:`MissingMatplotlib`, with the install command, if matplotlib is absent."""
    try:
        for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
            importlib.import_module(module)
    except ImportError:
        raise MissingMatplotlib(
            f"plotting needs matplotlib, which is not installed: {INSTALL_HINT}"
        ) from None


# -- units and labels ------------------------------------------------------------------------------

_UNITS: dict[str, str] = {
    "p_cell_window": "probability per cell-window",
    "p_region_window": "probability per region-window",
    "p_region_year": "probability per region-year",
    "p_exceed": "probability",
    "mean_plan_age_s": "seconds",
    "plan_age_change_s": "seconds",
    "runs_per_hour": "runs per cell-hour",
    "abandoned_runs_per_hour": "runs per cell-hour",
    "events_per_region_year": "events per region-year",
    "impact_given_event_min": "region-traffic-minutes",
    "impact_per_year_min": "region-traffic-minutes per region-year",
    "impact_per_year_p99_min": "region-traffic-minutes per region-year",
    "impact_per_year_cvar99_min": "region-traffic-minutes per region-year",
    "impact_reduction_min": "region-traffic-minutes per region-year",
    "threshold_min": "region-traffic-minutes per region-year",
    "cells_per_event_window": "cells",
    "risk_ratio": "ratio to the baseline",
    "rel_err": "relative half-width",
    "trials": "region-windows",
    "events": "cell-windows with an event",
    "ess": "trials",
    "elapsed_s": "seconds",
    "window.hours": "hours",
    "planner.interval": "seconds",
    "enactors.count": "Enactors per cell",
    "enactors.poll_interval": "seconds",
    "endpoints.count": "endpoints per cell",
    "write.latency": "seconds",
    "write.fail_prob": "probability per attempt",
    "write.backoff_base": "seconds",
    "write.backoff_cap": "seconds",
    "degraded.prob": "probability per run",
    "degraded.fail_prob": "probability per attempt",
    "cleanup.keep_generations": "generations",
    "region.cells": "cells per region",
    "region.shock.prob": "probability per region-window",
    "region.shock.degraded_prob": "probability per run",
    "repair.duration": "seconds",
    "mitigations.cleanup_min_age.age": "seconds",
    "mitigations.deadline.seconds": "seconds",
    "mitigations.lease.seconds": "seconds",
}


def unit_of(column: str) -> str | None:
    """The unit of a result column or configuration key (None when it has none we know)."""
    if column in _UNITS:
        return _UNITS[column]
    for suffix in ("_lo", "_hi"):
        if column.endswith(suffix) and column[: -len(suffix)] in _UNITS:
            return _UNITS[column[: -len(suffix)]]
    if column.endswith(("_s", ".seconds")):
        return "seconds"
    if column.endswith("_min"):
        return "region-traffic-minutes"
    if column.startswith("p_") or column.endswith(("_prob", ".prob")):
        return "probability"
    if column.endswith("_per_hour"):
        return "per cell-hour"
    return None


def describe(column: str) -> str:
    """An axis label: the column with its unit, e.g. ``degraded.prob (probability per run)``."""
    unit = unit_of(column)
    return f"{column} ({unit})" if unit else column


def _fmt(x: float, digits: int = 3) -> str:
    """An estimate for a label: ``digits`` significant digits, trailing zeros kept (0.700,
    1.00), thousands separators from 1,000 on, scientific only when tiny or huge."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if abs(x) < 1e-3 or abs(x) >= 1e9:
        return f"{x:.{digits - 1}e}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:#.{digits}g}".rstrip(".")


def _fmt_value(x: float) -> str:
    """A parameter value for a legend or a message: as short as it is exact (2, 0.001, 1e-05)."""
    if math.isfinite(x) and x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}" if abs(x) >= 10000 else str(int(x))
    return f"{x:.6g}"


def _fmt_tick(x: float, _pos: object = None) -> str:
    """Tick labels on log axes: 0.001, 0.01, ..., 10, 100, 1,000 (no 10^k notation)."""
    if x <= 0 or not math.isfinite(x):
        return ""
    if x < 1e-4 or x >= 1e7:
        return f"{x:.0e}"
    if x >= 1000:
        return f"{x:,.0f}"
    return f"{x:.6g}"


# -- table checks ----------------------------------------------------------------------------------


def check_column(df: pl.DataFrame, name: str, what: str) -> None:
    """Raise a :class:`PlotError` naming ``what`` (e.g. ``--x``) when ``name`` is not a column,
    with the closest column name as a suggestion."""
    if name in df.columns:
        return
    close = difflib.get_close_matches(name, df.columns, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise PlotError(f"{what} {name!r}: no such column in the table{hint}")


def _numeric(df: pl.DataFrame, name: str, what: str) -> np.ndarray:
    """Column ``name`` as float64 (nulls -> NaN); a :class:`PlotError` when it is not numeric."""
    check_column(df, name, what)
    s = df[name]
    if s.dtype == pl.Boolean:
        return s.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    if not s.dtype.is_numeric():
        if s.dtype in (pl.String, pl.Utf8):
            cast = s.cast(pl.Float64, strict=False)
            bad = s.is_not_null() & s.str.strip_chars().ne("") & cast.is_null()
            if not bad.any():
                return cast.fill_null(float("nan")).to_numpy()
            example = s.filter(bad)[0]
            raise PlotError(f"{what} {name!r}: column is not numeric (it holds e.g. {example!r})")
        raise PlotError(f"{what} {name!r}: column is not numeric ({s.dtype})")
    return s.cast(pl.Float64).fill_null(float("nan")).to_numpy()


def _optional_numeric(df: pl.DataFrame, name: str) -> np.ndarray | None:
    """Column ``name`` as float64 when it exists and is numeric, else None."""
    if name not in df.columns:
        return None
    try:
        return _numeric(df, name, "column")
    except PlotError:
        return None


def _has(df: pl.DataFrame, columns: Sequence[str]) -> bool:
    return all(c in df.columns for c in columns)


def detect_kind(df: pl.DataFrame) -> str | None:
    """The kind of figure the table's columns call for (``compare``, ``exceedance``,
    ``calibration``, ``sensitivity`` or ``outer``), else None (a sweep needs its axes named)."""
    for kind, columns in KIND_COLUMNS.items():
        if _has(df, columns):
            return kind
    if _has(df, OUTER_SUMMARY_COLUMNS) or _has(df, OUTER_DRAWS_COLUMNS):
        return "outer"
    return None


def input_columns(df: pl.DataFrame) -> list[str]:
    """The table's configuration columns (swept keys, drawn parameters and the values every
    results row carries), in table order."""
    return [
        c for c in df.columns if c == "mitigations" or (c.split(".", 1)[0] in CONFIG_SECTIONS and "." in c)
    ]


def varying_inputs(df: pl.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """The configuration columns that differ between rows, other than ``exclude``.

    A column holding a distribution table (``write.latency``) is left out when a parameter
    inside it is a column too (``write.latency.scale``, swept or excluded): it varies only
    because that parameter does.  Likewise ``mitigations`` beside ``mitigations.*``."""
    varying = [c for c in input_columns(df) if c not in exclude and df[c].n_unique() > 1]
    named = [*varying, *exclude]
    return [c for c in varying if not any(other.startswith(f"{c}.") for other in named)]


def scenario_title(df: pl.DataFrame, default: str | None = None) -> str | None:
    """The scenario the table is about: its ``scenario`` column (``name+mitigation`` of a
    compare table reduced to ``name``), several joined by commas, or ``default``."""
    if "scenario" not in df.columns or df.height == 0:
        return default
    names: list[str] = []
    mitigations = df["mitigation"].to_list() if "mitigation" in df.columns else [None] * df.height
    for name, mitigation in zip(df["scenario"].to_list(), mitigations, strict=True):
        if name is None:
            continue
        name = str(name)
        if mitigation and name.endswith(f"+{mitigation}"):
            name = name[: -len(mitigation) - 1]
        if name not in names:
            names.append(name)
    if not names:
        return default
    if len(names) > 3:
        return ", ".join(names[:3]) + f", ... ({len(names)} scenarios)"
    return ", ".join(names)


def auto_log(values: np.ndarray, decades: float = AUTO_LOG_DECADES) -> bool:
    """A log axis suits ``values`` when all finite ones are positive and span more than
    ``decades`` decades."""
    v = values[np.isfinite(values)]
    if v.size < 2 or np.any(v <= 0):
        return False
    return bool(math.log10(float(v.max()) / float(v.min())) > decades)


# -- figures: shared pieces ----------------------------------------------------------------------


def _new_figure(width: float, height: float) -> Figure:
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Axes) -> None:
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.grid(True, which="major", alpha=0.3, linewidth=0.8)


def _log_axis(ax: Axes, axis: str, lo: float, hi: float) -> None:
    """Put ``axis`` ('x' or 'y') on a log scale with plain-number tick labels."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    target: Axis
    if axis == "x":
        ax.set_xscale("log")
        target = ax.xaxis
    else:
        ax.set_yscale("log")
        target = ax.yaxis
    target.set_major_formatter(FuncFormatter(_fmt_tick))
    # Label the minor ticks only when the axis spans less than about a decade (else they crowd).
    if lo > 0 and hi > 0 and math.log10(hi / lo) < 1.2:
        target.set_minor_formatter(FuncFormatter(_fmt_tick))
    else:
        target.set_minor_formatter(NullFormatter())


def _plain_ticks(ax: Axes, axis: str) -> None:
    """Thousands separators on a linear axis of large numbers, and at most ~6 ticks."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    target.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.6g}"))


# -- interval ends an axis cannot show -------------------------------------------------------------
#
# matplotlib silently drops (or warns about) a non-finite coordinate, and a log axis drops 0:
# an interval [0.2, inf] would lose its line and an estimate of 0 its whole row.  Every
# figure therefore replaces such an end by the axis' edge, and marks it: an arrow, a note or
# an edge marker saying "no upper bound", so that a row is never blank and no warning is given.


def _shown(value: float, log: bool) -> bool:
    """``value`` has a place on the axis: finite, and positive on a log axis."""
    return math.isfinite(value) and (value > 0 or not log)


def _shown_mask(values: np.ndarray, log: bool) -> np.ndarray:
    ok = np.isfinite(values)
    if log:
        ok &= np.where(ok, values, 0.0) > 0
    return ok


def _open_note(value: float, end: str) -> str:
    """What an end the axis cannot show means: ``no upper bound`` (inf), ``upper bound n/a`` (NaN)."""
    return f"{end} bound n/a" if math.isnan(value) else f"no {end} bound"


def _span(values: np.ndarray, log: bool, pad: float = 0.06) -> tuple[float, float]:
    """Axis limits around the values the axis can show, with a margin of ``pad`` of the span
    (in decades on a log axis)."""
    v = values[_shown_mask(values, log)]
    if v.size == 0:
        return (0.1, 10.0) if log else (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    if log:
        a, b = math.log10(lo), math.log10(hi)
        m = max((b - a) * pad, 0.15)
        return 10.0 ** (a - m), 10.0 ** (b + m)
    m = (hi - lo) * pad if hi > lo else (abs(hi) * 0.1 or 1.0)
    return lo - m, hi + m


def _interval(
    ax: Axes,
    at: float,
    est: float,
    lo: float,
    hi: float,
    *,
    edges: tuple[float, float],
    log: bool,
    color: str,
    vertical: bool = False,
    marker: str = "o",
    size: float = 6.0,
    notes: bool = True,
) -> tuple[bool, bool]:
    """The estimate ``est`` with its interval [lo, hi] at position ``at`` (a row, or a column
    when ``vertical``) of an axis whose limits are ``edges``.

    A finite end gets a cap; an end the axis cannot show gets an arrow to the edge instead,
    and (with ``notes``, horizontal only) a note beside it: "no upper bound" / "upper bound
    n/a", and on a linear axis the same for the lower end (a lower end at 0 on a log axis is
    an arrow only: it reaches the axis' side of 0).  The estimate's marker is left out when
    the axis cannot show it.  Returns (lower end open, upper end open)."""
    low_edge, high_edge = edges
    lo_ok, hi_ok = _shown(lo, log), _shown(hi, log)
    a = lo if lo_ok else low_edge
    b = hi if hi_ok else high_edge

    def xy(v: float) -> tuple[float, float]:
        return (at, v) if vertical else (v, at)

    if lo_ok and hi_ok:
        (x0, y0), (x1, y1) = xy(a), xy(b)
        ax.plot([x0, x1], [y0, y1], "-", color=color, linewidth=1.8, solid_capstyle="butt")
    else:
        both = not lo_ok and not hi_ok
        tail, tip = (a, b) if not hi_ok else (b, a)
        ax.annotate(
            "",
            xy=xy(tip),
            xytext=xy(tail),
            annotation_clip=False,
            arrowprops={
                "arrowstyle": "<|-|>" if both else "-|>",
                "color": color,
                "lw": 1.8,
                "shrinkA": 0,
                "shrinkB": 0,
            },
        )
    for v, ok in ((a, lo_ok), (b, hi_ok)):
        if ok:
            x, y = xy(v)
            ax.plot(
                [x], [y], marker="_" if vertical else "|", markersize=11, markeredgewidth=1.8, color=color
            )
    if _shown(est, log):
        x, y = xy(est)
        ax.plot([x], [y], marker=marker, color=color, markersize=size, linestyle="none", zorder=3)
    if notes and not vertical:
        for v, ok, edge, end, sign in (
            (lo, lo_ok, low_edge, "lower", 1),
            (hi, hi_ok, high_edge, "upper", -1),
        ):
            if ok or (end == "lower" and log and not math.isnan(v)):  # <= 0: the arrow says it
                continue
            ax.annotate(
                _open_note(v, end),
                xy=(edge, at),
                xytext=(4 * sign, 2),
                textcoords="offset points",
                ha="left" if sign > 0 else "right",
                va="bottom",
                fontsize=_SMALL_SIZE,
                color=color,
                annotation_clip=False,
            )
    return not lo_ok, not hi_ok


def _band(
    ax: Axes,
    x: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    edges: tuple[float, float],
    log: bool,
    color: Any,
    alpha: float,
    label: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A band from ``lo`` to ``hi`` over ``x``, an end the axis cannot show drawn to its edge
    (the caller marks those: :func:`_edge_marks`); a point with neither end shown gets none.
    Returns the masks of the open lower and upper ends among the points with a band."""
    lo_ok, hi_ok = _shown_mask(lo, log), _shown_mask(hi, log)
    some = lo_ok | hi_ok
    if some.any():
        ax.fill_between(
            x,
            np.where(lo_ok, lo, edges[0]),
            np.where(hi_ok, hi, edges[1]),
            where=some,
            color=color,
            alpha=alpha,
            linewidth=0,
            label=label,
        )
    return some & ~lo_ok, some & ~hi_ok


def _edge_marks(ax: Axes, x: np.ndarray, edge: float, up: bool, color: Any, label: str | None) -> Line2D:
    """Markers on the top (``up``) or bottom edge at ``x``: an interval that runs off the axis."""
    (line,) = ax.plot(
        x,
        np.full(len(x), edge),
        linestyle="none",
        marker="^" if up else "v",
        markersize=7,
        color=color,
        clip_on=False,
        zorder=4,
        label=label,
    )
    return line


# -- compare -----------------------------------------------------------------------------------------


def _mitigation_label(df: pl.DataFrame, i: int, name: str) -> str:
    """``deadline (20 s)``: the mitigation with its numeric parameters from the row."""
    params: list[str] = []
    for part in name.split("+"):
        prefix = f"mitigations.{part}."
        for col in df.columns:
            if not col.startswith(prefix) or not df[col].dtype.is_numeric():
                continue
            value = df[col][i]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            unit = " s" if unit_of(col) == "seconds" else ""
            params.append(f"{_fmt_value(float(value))}{unit}")
    return f"{name} ({', '.join(params)})" if params else name


def compare_figure(df: pl.DataFrame, *, title: str | None = None) -> Figure:
    """Risk ratio (and impact saved) per mitigation of a ``riskmc compare`` table."""
    for col in COMPARE_COLUMNS:
        check_column(df, col, "compare table needs column")
    if df.height == 0:
        raise PlotError("the compare table has no rows")
    rr = _numeric(df, "risk_ratio", "column")
    rr_lo = _optional_numeric(df, "risk_ratio_lo")
    rr_hi = _optional_numeric(df, "risk_ratio_hi")
    if rr_lo is None or rr_hi is None:
        rr_lo, rr_hi = rr.copy(), rr.copy()
    names = [str(m) for m in df["mitigation"].to_list()]
    methods = df["risk_ratio_method"].to_list() if "risk_ratio_method" in df.columns else [None] * df.height
    is_base = np.array([n == BASELINE or m == "reference" for n, m in zip(names, methods, strict=True)])
    rows = np.flatnonzero(~is_base)
    if rows.size == 0:
        raise PlotError("the compare table has no mitigation besides the baseline")
    base_row = int(np.flatnonzero(is_base)[0]) if is_base.any() else None

    imp = _optional_numeric(df, "impact_reduction_min")
    imp_lo = _optional_numeric(df, "impact_reduction_min_lo")
    imp_hi = _optional_numeric(df, "impact_reduction_min_hi")
    with_impact = imp is not None and bool(np.any(np.isfinite(imp[rows])))

    n = rows.size
    height = 1.6 + 0.62 * n
    fig = _new_figure(12.0 if with_impact else 8.0, height)
    if with_impact:
        ax, ax_imp = fig.subplots(1, 2, width_ratios=[1.25, 1.0])
    else:
        ax, ax_imp = fig.subplots(1, 1), None
    y = np.arange(n, dtype=float)
    events = _optional_numeric(df, "events")

    # Log axis limits: half a decade or more below the smallest positive value, so that an
    # interval reaching 0 shows as a visible arrow to the edge.
    ests, los, his = rr[rows], rr_lo[rows], rr_hi[rows]
    values = np.concatenate([ests, los, his, [1.0]])
    positive = values[_shown_mask(values, True)]
    left = 10.0 ** math.floor(math.log10(float(positive.min())) - 0.5)
    right = max(float(positive.max()), 1.0) * 2.0
    ax.set_xlim(left, right)
    _log_axis(ax, "x", left, right)

    def where_on_axis(v: float) -> float:
        """Position of ``v`` across the log axis, 0 at the left edge and 1 at the right."""
        return math.log(v / left) / math.log(right / left)

    color = "C0"
    zero_color = "C2"
    labels: list[str] = []
    for k, i in enumerate(rows):
        est, lo, hi = float(ests[k]), float(los[k]), float(his[k])
        name = _mitigation_label(df, int(i), names[i])
        labels.append(f"{name}\n{_fmt(est)} [{_fmt(lo)}, {_fmt(hi)}]")
        yk = y[k]
        if not math.isfinite(est):
            ax.text(
                math.sqrt(left * right),
                yk,
                "no estimate (the baseline has no event)",
                ha="center",
                va="center",
                fontsize=_NOTE_SIZE,
                color="0.35",
            )
            continue
        zero = est == 0
        _interval(
            ax,
            yk,
            est,
            lo,
            hi,
            edges=(left, right),
            log=True,
            color=zero_color if zero else color,
            notes=not zero,
        )
        if not zero:
            continue
        # A ratio of 0 has no place on the log axis: the arrow to the lower edge says it, and
        # the note says how many events and the upper bound.  The note sits over the arrow,
        # ending at the upper bound when that is in the right half (it would run off the axis).
        n_events = None if events is None or not math.isfinite(events[i]) else int(events[i])
        what = f"{n_events:,} events" if n_events is not None else "risk ratio 0"
        bound = f"95% upper bound {_fmt(hi)}" if _shown(hi, True) else _open_note(hi, "upper")
        note = f"{what}: risk ratio 0, {bound}"
        if not _shown(hi, True):
            at, offset, ha, va = math.sqrt(left * right), (0, 2), "center", "bottom"
        elif where_on_axis(hi) > 0.5:
            at, offset, ha, va = hi, (-4, 2), "right", "bottom"
        else:
            at, offset, ha, va = hi, (7, 0), "left", "center"
        ax.annotate(
            note,
            xy=(at, yk),
            xytext=offset,
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=_NOTE_SIZE,
            color=zero_color,
        )

    ax.axvline(1.0, color="0.3", linestyle="--", linewidth=1.2, label="baseline (risk ratio 1)")
    ax.set_yticks(y, labels=labels)
    ax.set_ylim(n - 0.5, -0.5)  # first mitigation on top
    ax.set_xlabel("risk ratio p(mitigation) / p(baseline), log scale", fontsize=_LABEL_SIZE)
    ax.set_title("probability of the event, relative to the baseline", fontsize=_LABEL_SIZE)
    _style(ax)
    ax.grid(False, axis="y")
    ax.legend(loc="lower left", fontsize=_NOTE_SIZE, framealpha=0.9)

    if ax_imp is not None and imp is not None:
        lo_i = imp_lo[rows] if imp_lo is not None else imp[rows]
        hi_i = imp_hi[rows] if imp_hi is not None else imp[rows]
        est_i = imp[rows]
        base_imp = _optional_numeric(df, "impact_per_year_min")
        base_value = (
            float(base_imp[base_row])
            if base_row is not None and base_imp is not None and math.isfinite(base_imp[base_row])
            else None
        )
        edges = _span(
            np.concatenate([est_i, lo_i, hi_i, [0.0] if base_value is None else [0.0, base_value]]), False
        )
        ax_imp.set_xlim(*edges)
        for k in range(n):
            if math.isfinite(est_i[k]) or math.isfinite(lo_i[k]) or math.isfinite(hi_i[k]):
                _interval(
                    ax_imp,
                    y[k],
                    float(est_i[k]),
                    float(lo_i[k]),
                    float(hi_i[k]),
                    edges=edges,
                    log=False,
                    color="C1",
                )
            else:
                ax_imp.text(
                    sum(edges) / 2, y[k], "n/a", ha="center", va="center", fontsize=_NOTE_SIZE, color="0.35"
                )
        ax_imp.axvline(0.0, color="0.3", linewidth=1.0)
        if base_value is not None:
            ax_imp.axvline(
                base_value,
                color="0.3",
                linestyle="--",
                linewidth=1.2,
                label=f"the baseline's whole impact ({_fmt(base_value)})",
            )
            ax_imp.legend(loc="lower left", fontsize=_NOTE_SIZE, framealpha=0.9)
        right_labels = [
            f"{_fmt(float(e))}\n[{_fmt(float(a))}, {_fmt(float(b))}]" if math.isfinite(e) else "n/a"
            for e, a, b in zip(est_i, lo_i, hi_i, strict=True)
        ]
        ax_imp.yaxis.tick_right()
        ax_imp.set_yticks(y, labels=right_labels)
        ax_imp.set_ylim(n - 0.5, -0.5)
        ax_imp.set_xlabel("impact saved (region-traffic-minutes per region-year)", fontsize=_LABEL_SIZE)
        ax_imp.set_title("impact saved per region-year", fontsize=_LABEL_SIZE)
        _plain_ticks(ax_imp, "x")
        _style(ax_imp)
        ax_imp.grid(False, axis="y")

    scenario = title or scenario_title(df) or "compare"
    head = f"{scenario}: mitigations against the baseline (95% CIs"
    if base_row is not None:
        p = _optional_numeric(df, "p_cell_window")
        trials = _optional_numeric(df, "trials")
        if p is not None and math.isfinite(p[base_row]):
            head += f"; baseline p_cell_window {_fmt(float(p[base_row]))}"
        if trials is not None and math.isfinite(trials[base_row]):
            head += f"; {int(trials[base_row]):,} trials per scenario"
    fig.suptitle(head + ")", fontsize=_TITLE_SIZE)
    return fig


# -- exceedance --------------------------------------------------------------------------------------


def exceedance_figure(
    df: pl.DataFrame,
    *,
    title: str | None = None,
    logx: bool | None = None,
    logy: bool | None = None,
) -> Figure:
    """The loss-exceedance curve P(annual impact > threshold) of an exceedance table.

    ``logx``/``logy`` None: a log axis when the positive thresholds span more than a decade
    (they are log-spaced by construction) / the positive probabilities more than two.
    """
    for col in EXCEEDANCE_COLUMNS:
        check_column(df, col, "exceedance table needs column")
    x = _numeric(df, "threshold_min", "column")
    p = _numeric(df, "p_exceed", "column")
    lo = _optional_numeric(df, "p_exceed_lo")
    hi = _optional_numeric(df, "p_exceed_hi")
    order = np.argsort(x, kind="stable")
    x, p = x[order], p[order]
    lo = lo[order] if lo is not None else None
    hi = hi[order] if hi is not None else None
    ok = np.isfinite(x) & np.isfinite(p)
    zero = ok & (x <= 0)
    pos = ok & (x > 0)
    if not pos.any():
        raise PlotError("the exceedance table has no positive threshold to plot")
    xs, ps = x[pos], p[pos]
    if logx is None:
        logx = auto_log(xs, decades=1.0)
    if logy is None:
        logy = auto_log(ps[ps > 0])

    fig = _new_figure(8.0, 5.2)
    ax = fig.subplots()
    if logy:
        bottom_candidates = ps[ps > 0]
        if lo is not None:
            lo_pos = lo[pos]
            bottom_candidates = np.concatenate(
                [bottom_candidates, lo_pos[np.isfinite(lo_pos) & (lo_pos > 0)]]
            )
        bottom = 10.0 ** math.floor(math.log10(float(bottom_candidates.min())))
    else:
        bottom = 0.0
    if lo is not None and hi is not None:
        # an end that is NaN or beyond the axis is drawn to its edge: an upper bound n/a of a
        # probability is 1 at most, a lower one 0 at least
        band_lo = np.clip(np.nan_to_num(lo[pos], nan=bottom, neginf=bottom), bottom, 1.0)
        band_hi = np.clip(np.nan_to_num(hi[pos], nan=1.0, posinf=1.0), bottom, 1.0)
        ax.fill_between(xs, band_lo, band_hi, color="C0", alpha=0.2, linewidth=0, label="95% CI (pointwise)")
    shown = ps if not logy else np.where(ps > 0, ps, np.nan)
    ax.plot(xs, shown, "o-", color="C0", markersize=3.5, linewidth=1.8, label="estimate")
    if logy and np.any(ps == 0):
        # No simulated year above these thresholds: 0 has no place on a log axis, so mark
        # the points on its lower edge (the band still shows their upper bounds).
        ax.plot(
            xs[ps == 0],
            np.full(int(np.sum(ps == 0)), bottom),
            "v",
            color="C0",
            markersize=7,
            clip_on=False,
            zorder=3,
            label="0 (no simulated year above; at the axis edge)",
        )

    if zero.any():
        i = int(np.flatnonzero(zero)[-1])
        p0 = float(p[i])
        ci = ""
        if lo is not None and hi is not None and math.isfinite(lo[i]) and math.isfinite(hi[i]):
            ci = f" [{_fmt(float(lo[i]))}, {_fmt(float(hi[i]))}]"
        ax.axhline(
            p0, color="0.35", linestyle=":", linewidth=1.4, label=f"P(annual impact > 0) = {_fmt(p0)}{ci}"
        )
    for level, text in ((0.1, "1 year in 10"), (0.01, "1 year in 100")):
        if (logy and level >= bottom) or (not logy and level == 0.1):
            ax.axhline(level, color="C3", linewidth=0.9, alpha=0.5)
            ax.annotate(
                text,
                xy=(1.0, level),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                va="bottom",
                fontsize=_NOTE_SIZE,
                color="C3",
            )

    if logx:
        ax.set_xlim(float(xs.min()) / 1.5, float(xs.max()) * 1.5)
        _log_axis(ax, "x", float(xs.min()) / 1.5, float(xs.max()) * 1.5)
    else:
        _plain_ticks(ax, "x")
    if logy:
        ax.set_ylim(bottom, 1.25)
        _log_axis(ax, "y", bottom, 1.25)
    else:
        ax.set_ylim(0.0, 1.05)
    ax.set_xlabel(
        "threshold: annual impact (region-traffic-minutes per region-year)" + (", log scale" if logx else ""),
        fontsize=_LABEL_SIZE,
    )
    ax.set_ylabel(
        "probability P(annual impact > threshold)" + (", log scale" if logy else ""),
        fontsize=_LABEL_SIZE,
    )
    _style(ax)
    ax.legend(loc="lower left", fontsize=_NOTE_SIZE, framealpha=0.9)
    scenario = title or scenario_title(df) or "exceedance"
    fig.suptitle(f"{scenario}: loss exceedance of the annual impact", fontsize=_TITLE_SIZE)
    return fig


# -- sweep -------------------------------------------------------------------------------------------

#: Legend entries of the edge markers (:func:`_edge_marks`).
NO_UPPER_BOUND = "no upper bound (inf or n/a): drawn to the top edge"
NO_LOWER_BOUND = "no lower bound (-inf or n/a): drawn to the bottom edge"
ZERO_LOWER_BOUND = "lower bound 0: drawn to the bottom edge"

_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P")


def _groups(df: pl.DataFrame, columns: Sequence[str]) -> list[tuple[str | None, np.ndarray]]:
    """(label, row indices) per combination of the values of ``columns``: numbers in numeric
    order, text in order of first appearance; the label is the values joined by ", " (None
    when there are no columns, for the one group of every row)."""
    if not columns:
        return [(None, np.arange(df.height))]
    numeric = [df[c].dtype.is_numeric() for c in columns]

    def normal(v: Any) -> Any:
        return None if isinstance(v, float) and math.isnan(v) else v  # NaN != NaN would split rows

    keys = [tuple(normal(v) for v in row) for row in zip(*(df[c].to_list() for c in columns), strict=True)]
    rows: dict[tuple[Any, ...], list[int]] = {}
    for i, key in enumerate(keys):
        rows.setdefault(key, []).append(i)
    first_seen = [
        {v: r for r, v in reversed(list(enumerate(k[j] for k in keys)))} for j in range(len(columns))
    ]

    def order(key: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
        return tuple(
            (v is None, (v if num else first_seen[j][v]) if v is not None else 0)
            for j, (v, num) in enumerate(zip(key, numeric, strict=True))
        )

    out: list[tuple[str | None, np.ndarray]] = []
    for key in sorted(rows, key=order):
        parts = [
            "(none)" if v is None else (_fmt_value(float(v)) if num else str(v))
            for v, num in zip(key, numeric, strict=True)
        ]
        out.append((", ".join(parts), np.array(rows[key], dtype=int)))
    return out


def _duplicate_hint(df: pl.DataFrame, rows: np.ndarray, skip: Sequence[str]) -> str:
    """Columns that vary among ``rows`` and could serve as --hue (configuration-like ones)."""
    sub = df[rows.tolist()]
    out = []
    for col in sub.columns:
        if col in skip or not ("." in col or col in ("scenario", "mitigation", "mitigations", "seed")):
            continue
        if sub[col].n_unique() > 1:
            out.append(col)
    return f"; columns that differ between them: {', '.join(out[:4])}" if out else ""


def _mark_open_ends(
    ax: Axes,
    xs: np.ndarray,
    open_lo: np.ndarray,
    open_hi: np.ndarray,
    edges: tuple[float, float],
    color: Any,
    seen: set[str],
    log: bool,
) -> None:
    """Edge markers where a band or bar runs off the axis; ``seen`` collects the legend
    entries needed (:func:`_open_end_legend`)."""
    if open_hi.any():
        _edge_marks(ax, xs[open_hi], edges[1], True, color, None)
        seen.add(NO_UPPER_BOUND)
    if open_lo.any():
        _edge_marks(ax, xs[open_lo], edges[0], False, color, None)
        seen.add(ZERO_LOWER_BOUND if log else NO_LOWER_BOUND)


def _open_end_legend(ax: Axes, seen: set[str]) -> None:
    """Legend entries (in grey, on no data) for the edge markers drawn."""
    for text in (NO_UPPER_BOUND, ZERO_LOWER_BOUND, NO_LOWER_BOUND):
        if text in seen:
            ax.plot(
                [],
                [],
                linestyle="none",
                marker="^" if text == NO_UPPER_BOUND else "v",
                color="0.3",
                label=text,
            )


def _y_edges(values: Sequence[np.ndarray | None], log: bool) -> tuple[float, float]:
    return _span(np.concatenate([v for v in values if v is not None]), log, pad=0.05)


def sweep_figure(
    df: pl.DataFrame,
    x: str,
    y: str,
    hue: str | None = None,
    *,
    logx: bool | None = None,
    logy: bool | None = None,
    title: str | None = None,
) -> Figure:
    """``y`` against ``x``, one line per value of ``hue``, with the ``y_lo``/``y_hi`` band.

    Rows that differ in another input (:func:`varying_inputs`: a configuration column other
    than ``x`` and ``hue``, e.g. a second swept key) are never joined by one line: each
    combination of those inputs gets its own line, its values in the legend; when no
    combination has two rows (a space-filling design) or there are more than
    :data:`MAX_LINES`, the rows are drawn as points with their intervals as bars.

    ``logx``/``logy`` None: a log axis when the values are positive and span more than two
    decades; True/False forces it (a forced log axis needs positive values)."""
    xv = _numeric(df, x, "--x")
    yv = _numeric(df, y, "--y")
    if hue is not None:
        check_column(df, hue, "--hue")
    if df.height == 0:
        raise PlotError("the table has no rows")
    lo = _optional_numeric(df, f"{y}_lo")
    hi = _optional_numeric(df, f"{y}_hi")
    band = lo is not None and hi is not None
    ok = np.isfinite(xv) & np.isfinite(yv)
    if not ok.any():
        raise PlotError(f"no row has both {x!r} and {y!r}")
    if logx is None:
        logx = auto_log(xv[ok])
    elif logx and np.any(xv[ok] <= 0):
        raise PlotError(f"--logx: {x!r} has values <= 0, which a log axis cannot show")
    if logy is None:
        logy = auto_log(yv[ok])
    elif logy and np.any(yv[ok] <= 0):
        raise PlotError(f"--logy: {y!r} has values <= 0, which a log axis cannot show")

    others = varying_inputs(df, [c for c in (x, y, hue) if c is not None])
    hue_groups = _groups(df, [hue] if hue is not None else [])
    combos = [(label, idx[ok[idx]]) for label, idx in _groups(df, others)]
    combos = [(label, idx) for label, idx in combos if idx.size]
    lines: list[tuple[int, int, str | None, np.ndarray]] = []  # (hue group, combination, label, rows)
    for h, (h_label, h_idx) in enumerate(hue_groups):
        for c, (c_label, c_idx) in enumerate(combos):
            idx = np.intersect1d(h_idx[ok[h_idx]], c_idx)
            if idx.size:
                label = ", ".join(part for part in (h_label, c_label) if part is not None) or None
                lines.append((h, c, label, idx))
    joined = not others or (len(combos) <= MAX_LINES and any(idx.size > 1 for *_, idx in lines))

    fig = _new_figure(8.0, 5.2)
    ax = fig.subplots()
    if logy:
        _log_axis(ax, "y", float(np.min(yv[ok])), float(np.max(yv[ok])))
    edges = _y_edges([yv[ok], lo[ok] if lo is not None else None, hi[ok] if hi is not None else None], logy)
    ax.set_ylim(*edges)
    by_hue = hue is not None
    n_colors = len(hue_groups) if by_hue else (len(combos) if joined and others else 1)
    many = n_colors > 10
    if many:
        from matplotlib import colormaps

        cmap = colormaps["viridis"]

    def color_of(g: int) -> Any:
        return cmap(g / max(n_colors - 1, 1)) if many else f"C{g % 10}"

    seen: set[str] = set()
    if joined:
        for h, c, label, idx in lines:
            idx = idx[np.argsort(xv[idx], kind="stable")]
            xs = xv[idx]
            dup = np.flatnonzero(np.diff(xs) == 0)
            if dup.size:
                same = idx[np.isin(xs, xs[dup])]
                named = ", ".join(([hue] if hue is not None else []) + others)
                where = f" (at {named} = {label})" if label else ""
                raise PlotError(
                    f"several rows have {x} = {_fmt_value(float(xs[dup[0]]))}{where}: give --hue COLUMN to "
                    f"draw one line per value{_duplicate_hint(df, same, (x, y))}"
                )
            color = color_of(h if by_hue else c)
            style = _LINESTYLES[c % len(_LINESTYLES)] if by_hue else "-"
            marker = _MARKERS[c % len(_MARKERS)] if by_hue else "o"
            if lo is not None and hi is not None:
                open_lo, open_hi = _band(
                    ax, xs, lo[idx], hi[idx], edges=edges, log=logy, color=color, alpha=0.18
                )
                _mark_open_ends(ax, xs, open_lo, open_hi, edges, color, seen, logy)
            ax.plot(
                xs,
                yv[idx],
                linestyle=style,
                marker=marker,
                color=color,
                markersize=4,
                linewidth=1.8,
                label=label,
            )
    else:
        # Each row differs from every other in some input: a line through them would join
        # unrelated configurations, so the rows are points, their intervals bars.
        for h, (h_label, h_idx) in enumerate(hue_groups):
            idx = h_idx[ok[h_idx]]
            if idx.size == 0:
                continue
            color = color_of(h)
            xs = xv[idx]
            if lo is not None and hi is not None:
                lo_ok, hi_ok = _shown_mask(lo[idx], logy), _shown_mask(hi[idx], logy)
                some = lo_ok | hi_ok
                bottoms = np.where(lo_ok, lo[idx], edges[0])
                tops = np.where(hi_ok, hi[idx], edges[1])
                ax.vlines(xs[some], bottoms[some], tops[some], color=color, linewidth=1.2, alpha=0.55)
                _mark_open_ends(ax, xs, some & ~lo_ok, some & ~hi_ok, edges, color, seen, logy)
            ax.plot(xs, yv[idx], "o", color=color, markersize=4.5, label=h_label)
    _open_end_legend(ax, seen)

    if logx:
        _log_axis(ax, "x", float(np.min(xv[ok])), float(np.max(xv[ok])))
    else:
        _plain_ticks(ax, "x")
    if not logy:
        _plain_ticks(ax, "y")
    ax.set_xlabel(describe(x) + (", log scale" if logx else ""), fontsize=_LABEL_SIZE)
    ax.set_ylabel(describe(y) + (", log scale" if logy else ""), fontsize=_LABEL_SIZE)
    _style(ax)
    if logy:
        ax.grid(True, which="minor", alpha=0.12, linewidth=0.6)
    handles, _labels = ax.get_legend_handles_labels()
    if handles:
        grouped = ([hue] if hue is not None else []) + (others if joined else [])
        ax.legend(
            title=", ".join(grouped) if grouped else None,
            fontsize=_NOTE_SIZE,
            title_fontsize=_NOTE_SIZE,
            framealpha=0.9,
            ncols=2 if len(handles) > 8 else 1,
            loc="best",
        )
    scenario = title or scenario_title(df)
    head = f"{y} against {x}" + (f", by {hue}" if hue else "")
    if scenario:
        head = f"{scenario}: {head}"
    fig.suptitle(head, fontsize=_TITLE_SIZE)
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        note = f"one line per {shown}" if joined else f"points not joined: the rows differ in {shown}"
        ax.set_title(note, fontsize=_NOTE_SIZE, color="0.35", loc="left")
    if band:
        ax.set_title(
            "shaded: 95% CI" if joined else "bars: 95% CI", fontsize=_NOTE_SIZE, color="0.35", loc="right"
        )
    return fig


# -- calibration -------------------------------------------------------------------------------------


def _first(df: pl.DataFrame, column: str) -> Any:
    """The first non-null value of ``column``; None when the table has no such column."""
    if column not in df.columns:
        return None
    values = df[column].drop_nulls()
    return values[0] if values.len() else None


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a number (or a numeric string), else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def poisson_interval(count: int) -> tuple[float, float]:
    """The exact (Garwood) 95% interval of a Poisson mean from one observed ``count``: that of
    riskmc.calibrate, computed here with scipy.special alone (riskmc.calibrate imports the
    whole simulation stack)."""
    from scipy.special import gammaincinv

    alpha = 0.05
    low = 0.0 if count == 0 else float(gammaincinv(count, alpha / 2))
    return low, float(gammaincinv(count + 1, 1 - alpha / 2))


def calibration_figure(
    df: pl.DataFrame,
    *,
    title: str | None = None,
    param: str | None = None,
    observed_events: int | None = None,
    result: Mapping[str, Any] | None = None,
    logx: bool | None = None,
    logy: bool | None = None,
) -> Figure:
    """The calibration curve of ``riskmc calibrate`` (its ``*_calibration_curve`` table).

    The expected events over the exposure against the calibrated parameter, with the curve's
    95% interval as a band; the observed count as the reference line, with its exact Poisson
    interval; the calibrated value and its interval as a vertical line and band.  The curve
    table holds neither the key nor the count: they come from ``param`` and
    ``observed_events``, else from the table's own ``param``/``observed_events`` columns,
    else from ``result`` (the calibration's result row: ``param``, ``value``, ``value_lo``,
    ``value_hi``, ``observed_events``, ``exposure_cell_hours``; ``riskmc plot`` reads it from
    the table beside the curve, or from the curve's provenance).  The exposure, when not
    given, is the table's expected events over its events per cell-hour.

    ``logx``/``logy`` None: a log axis when the values span more than one decade (the grid is
    log-spaced) / the positive expected events and the count more than two."""
    for col in CALIBRATION_COLUMNS:
        check_column(df, col, "calibration curve needs column")
    if df.height == 0:
        raise PlotError("the calibration curve has no rows")
    info = dict(result or {})
    theta = _numeric(df, "value", "column")
    events = _numeric(df, "expected_events", "column")
    key = param or _first(df, "param") or info.get("param")
    key = str(key) if key else None
    observed = _number(observed_events if observed_events is not None else _first(df, "observed_events"))
    if observed is None:
        observed = _number(info.get("observed_events"))
    if observed is not None and not math.isfinite(observed):
        observed = None
    exposure = _number(_first(df, "exposure_cell_hours")) or _number(info.get("exposure_cell_hours"))
    rate = _optional_numeric(df, "events_per_cell_hour")
    if exposure is None and rate is not None:
        good = np.isfinite(events) & np.isfinite(rate) & (np.nan_to_num(rate) > 0)
        if good.any():
            exposure = float(np.median(events[good] / rate[good]))
    lo = _optional_numeric(df, "expected_events_lo")
    hi = _optional_numeric(df, "expected_events_hi")
    rate_lo = _optional_numeric(df, "events_per_cell_hour_lo")
    rate_hi = _optional_numeric(df, "events_per_cell_hour_hi")
    if (lo is None or hi is None) and exposure is not None and rate_lo is not None and rate_hi is not None:
        lo, hi = rate_lo * exposure, rate_hi * exposure

    order = np.argsort(theta, kind="stable")
    theta, events = theta[order], events[order]
    lo = lo[order] if lo is not None else None
    hi = hi[order] if hi is not None else None
    ok = np.isfinite(theta) & np.isfinite(events)
    if not ok.any():
        raise PlotError("no row of the calibration curve has both 'value' and 'expected_events'")
    xs, ys = theta[ok], events[ok]
    if logx is None:
        logx = auto_log(xs, decades=1.0)
    elif logx and np.any(xs <= 0):
        raise PlotError("--logx: 'value' has values <= 0, which a log axis cannot show")
    reference = np.array([observed]) if observed is not None else np.array([])
    if logy is None:
        logy = auto_log(np.concatenate([ys[ys > 0], reference]))
    count_band = poisson_interval(round(observed)) if observed is not None and observed >= 0 else None

    fig = _new_figure(8.0, 5.2)
    ax = fig.subplots()
    if logy:
        _log_axis(ax, "y", float(np.min(ys[ys > 0], initial=1.0)), float(np.max(ys, initial=1.0)))
    extra = [reference, np.array(count_band or [])]
    edges = _y_edges(
        [ys, lo[ok] if lo is not None else None, hi[ok] if hi is not None else None, *extra], logy
    )
    ax.set_ylim(*edges)
    seen: set[str] = set()
    if lo is not None and hi is not None:
        open_lo, open_hi = _band(
            ax, xs, lo[ok], hi[ok], edges=edges, log=logy, color="C0", alpha=0.2, label="95% CI (Monte Carlo)"
        )
        _mark_open_ends(ax, xs, open_lo, open_hi, edges, "C0", seen, logy)
    shown = _shown_mask(ys, logy)
    ax.plot(xs[shown], ys[shown], "o-", color="C0", markersize=4, linewidth=1.8, label="expected events")
    if not shown.all():
        # no event at these values: 0 has no place on the log axis
        _edge_marks(ax, xs[~shown], edges[0], False, "C0", "0 (no event at this value): at the bottom edge")
    if observed is not None:
        ax.axhline(
            observed, color="C3", linestyle="--", linewidth=1.4, label=f"observed: {_fmt_value(observed)}"
        )
        if count_band is not None:
            a, b = max(count_band[0], edges[0]), count_band[1]
            ax.axhspan(
                a,
                b,
                color="C3",
                alpha=0.08,
                linewidth=0,
                label=f"its exact Poisson 95% CI [{_fmt(a)}, {_fmt(b)}]",
            )
    value = _number(info.get("value"))
    if value is not None and _shown(value, logx):
        v_lo, v_hi = _number(info.get("value_lo")), _number(info.get("value_hi"))
        ci = ""
        if v_lo is not None and v_hi is not None and _shown(v_lo, logx) and _shown(v_hi, logx):
            ax.axvspan(v_lo, v_hi, color="C2", alpha=0.1, linewidth=0)
            ci = f" [{_fmt(v_lo)}, {_fmt(v_hi)}]"
        ax.axvline(value, color="C2", linewidth=1.4, label=f"calibrated: {_fmt(value)}{ci}")
    _open_end_legend(ax, seen)

    if logx:
        _log_axis(ax, "x", float(xs.min()), float(xs.max()))
    else:
        _plain_ticks(ax, "x")
    if not logy:
        _plain_ticks(ax, "y")
    xlabel = describe(key) if key else "the calibrated parameter (its key is not in the table)"
    ax.set_xlabel(xlabel + (", log scale" if logx else ""), fontsize=_LABEL_SIZE)
    over = f"{_fmt(exposure)} cell-hours" if exposure is not None else "the exposure"
    ax.set_ylabel(f"expected events over {over}" + (", log scale" if logy else ""), fontsize=_LABEL_SIZE)
    _style(ax)
    ax.legend(loc="best", fontsize=_NOTE_SIZE, framealpha=0.9)
    unseen = sorted(
        {s for s in df["unobserved_strata"].to_list() if s} if "unobserved_strata" in df.columns else ()
    )
    if unseen:
        ax.set_title(
            f"upper ends include the bound of unseen strata: {', '.join(map(str, unseen))}",
            fontsize=_NOTE_SIZE,
            color="0.35",
            loc="right",
        )
    scenario = title or scenario_title(df) or "calibration"
    fig.suptitle(f"{scenario}: calibration of {key or 'the parameter'}", fontsize=_TITLE_SIZE)
    return fig


# -- sensitivity -------------------------------------------------------------------------------------

#: (column, legend label, marker, colour, offset from the input's row) of the two indices.
_SOBOL_INDICES = (
    ("first_order", "first order S1", "o", "C0", -0.17),
    ("total_order", "total ST", "s", "C1", 0.17),
)


def _distinct(values: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(v for v in values if v is not None))


def sensitivity_figure(df: pl.DataFrame, *, title: str | None = None) -> Figure:
    """First-order and total Sobol' indices of a ``riskmc sensitivity`` table.

    One panel per output (in table order), one row per input: S1 and ST with their 95%
    bootstrap intervals as horizontal bars, 0 and 1 as reference lines.  An undefined index
    (NaN: the output has no variance, or is undefined at some design point) reads "n/a"
    where its marker would be; a panel whose indices are all undefined says why (the
    ``method`` column)."""
    for col in SENSITIVITY_COLUMNS:
        check_column(df, col, "sensitivity table needs column")
    if df.height == 0:
        raise PlotError("the sensitivity table has no rows")
    outputs = _distinct(df["output"].to_list())
    inputs = _distinct(df["input"].to_list())
    if not outputs or not inputs:
        raise PlotError("the sensitivity table names no output or no input")
    values: dict[str, np.ndarray] = {}
    for col, *_rest in _SOBOL_INDICES:
        values[col] = _numeric(df, col, "column")
        for end in ("_lo", "_hi"):
            bound = _optional_numeric(df, f"{col}{end}")
            values[f"{col}{end}"] = bound if bound is not None else values[col]
    edges = _span(np.concatenate([*values.values(), [0.0, 1.0]]), False, pad=0.04)
    out_of = df["output"].to_list()
    in_of = df["input"].to_list()
    methods = df["method"].to_list() if "method" in df.columns else [None] * df.height

    n_in = len(inputs)
    fig = _new_figure(2.6 + 4.6 * len(outputs), 1.9 + 0.62 * n_in)
    axes = fig.subplots(1, len(outputs), sharey=True, squeeze=False)[0]
    rows = np.arange(n_in, dtype=float)
    for ax, output in zip(axes, outputs, strict=True):
        ax.set_xlim(*edges)
        ax.axvline(0.0, color="0.3", linewidth=1.0)
        ax.axvline(1.0, color="0.3", linewidth=1.0, linestyle=":")
        defined = False
        for j, name in enumerate(inputs):
            at = [i for i in range(df.height) if out_of[i] == output and in_of[i] == name]
            if not at:
                ax.text(
                    0.0, rows[j], "  (no row)", ha="left", va="center", fontsize=_SMALL_SIZE, color="0.35"
                )
                continue
            i = at[0]
            for col, _label, marker, color, offset in _SOBOL_INDICES:
                est, lo, hi = (float(values[c][i]) for c in (col, f"{col}_lo", f"{col}_hi"))
                y = rows[j] + offset
                if math.isfinite(est) or math.isfinite(lo) or math.isfinite(hi):
                    _interval(ax, y, est, lo, hi, edges=edges, log=False, color=color, marker=marker)
                if math.isfinite(est):
                    defined = True
                else:
                    ax.text(
                        0.0,
                        y,
                        " n/a",
                        ha="left",
                        va="center",
                        fontsize=_SMALL_SIZE,
                        color=color,
                        fontweight="bold",
                    )
        reason = next((m for o, m in zip(out_of, methods, strict=True) if o == output and m), None)
        if not defined:
            why = str(reason) if reason and str(reason).startswith("undefined") else "every index is NaN"
            ax.text(
                0.5,
                0.5,
                "indices n/a:\n" + _wrap(why, 48),
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=_NOTE_SIZE,
                color="0.3",
                bbox={"facecolor": "white", "edgecolor": "0.7", "alpha": 0.9},
            )
        ax.set_title(str(output), fontsize=_LABEL_SIZE)
        ax.set_xlabel("Sobol' index (share of the output's variance)", fontsize=_LABEL_SIZE)
        _plain_ticks(ax, "x")
        _style(ax)
        ax.grid(False, axis="y")
    axes[0].set_yticks(rows, labels=[str(name) for name in inputs])
    axes[0].set_ylim(n_in - 0.5, -0.5)  # first input on top
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=color, marker=marker, linewidth=1.8, label=f"{label}, 95% CI")
        for _col, label, marker, color, _offset in _SOBOL_INDICES
    ]
    axes[-1].legend(handles=handles, loc="lower right", fontsize=_NOTE_SIZE, framealpha=0.9)
    scenario = title or scenario_title(df) or "sensitivity"
    head = f"{scenario}: Sobol' sensitivity indices (95% bootstrap CIs"
    n = _number(_first(df, "n"))
    runs = _number(_first(df, "n_evaluations"))
    if n is not None:
        head += f"; n = {int(n):,}"
    if runs is not None:
        head += f", {int(runs):,} model runs"
    fig.suptitle(head + ")", fontsize=_TITLE_SIZE)
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


# -- outer -------------------------------------------------------------------------------------------

_PERCENTILE_COLUMN = re.compile(r"^p(\d{1,2})$")
_MC_LABEL = "Monte Carlo 95% half-width (mean within a draw)"


@dataclass
class _Spread:
    """An estimate over the outer draws of one group of rows (a point, a value or a window of
    values of a parameter): its percentiles, and the Monte Carlo half-width within a draw."""

    label: str
    x: float
    percentiles: dict[int, float]
    mc_half_width: float
    draws: np.ndarray


def _percentiles_of(values: np.ndarray) -> dict[int, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {q: math.nan for q in OUTER_PERCENTILES}
    return dict(
        zip(OUTER_PERCENTILES, (float(p) for p in np.percentile(finite, OUTER_PERCENTILES)), strict=True)
    )


def _mean_finite(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def _outer_column(df: pl.DataFrame, x: str | None, candidates: Sequence[str]) -> str | None:
    """The column the spreads are drawn against: ``x``, else the first of ``candidates``
    that differs between rows, else None (one group)."""
    if x is not None:
        check_column(df, x, "--x")
        return x
    return next((c for c in candidates if c in df.columns and df[c].n_unique() > 1), None)


def _summary_spreads(
    df: pl.DataFrame, estimate: str, x: str | None
) -> tuple[list[_Spread], str | None, bool]:
    """One spread per summary row of ``estimate`` (its p05, p50, p95, ... columns)."""
    rows = df.filter(pl.col("estimate").cast(pl.String) == estimate)
    if rows.height == 0:
        known = _distinct(df["estimate"].cast(pl.String).to_list())
        more = ", ..." if len(known) > 6 else ""
        raise PlotError(
            f"--y {estimate!r}: no such estimate in the outer summary (it has {', '.join(known[:6])}{more})"
        )
    column = _outer_column(rows, x, [*varying_inputs(rows), "point", "scenario"])
    numeric = column is not None and rows[column].dtype.is_numeric()
    positions = (
        _numeric(rows, column, "--x") if numeric and column is not None else np.full(rows.height, np.nan)
    )
    if column is not None and rows[column].n_unique() < rows.height:
        raise PlotError(f"the outer summary has several rows of {estimate!r} for one value of {column!r}")
    half = _optional_numeric(rows, "mc_half_width_mean")
    spreads = []
    for i, row in enumerate(rows.iter_rows(named=True)):
        pct = {}
        for name, value in row.items():
            m = _PERCENTILE_COLUMN.match(name)
            number = _number(value) if m else None
            if m:
                pct[int(m[1])] = number if number is not None else math.nan
        if column is None:
            label = str(row.get("scenario") or "all draws")
        else:
            value = row[column]
            label = _fmt_value(float(value)) if numeric and value is not None else str(value)
        spreads.append(
            _Spread(
                label,
                float(positions[i]),
                pct,
                float(half[i]) if half is not None else math.nan,
                np.array([]),
            )
        )
    return spreads, column, numeric


def _draws_spreads(df: pl.DataFrame, estimate: str, x: str | None) -> tuple[list[_Spread], str | None, bool]:
    """Spreads computed from the draws: one per value of the x column, or, for a parameter
    with more values than :data:`MAX_LINES` (a drawn one), one per draw over a window of the
    draws nearest in rank (a running percentile band)."""
    y = _numeric(df, estimate, "--y")
    lo, hi = _optional_numeric(df, f"{estimate}_lo"), _optional_numeric(df, f"{estimate}_hi")
    half = (hi - lo) / 2.0 if lo is not None and hi is not None else np.full(df.height, np.nan)
    column = _outer_column(df, x, ["scenario"])
    if column is None:
        label = scenario_title(df) or "all draws"
        return [_Spread(label, math.nan, _percentiles_of(y), _mean_finite(half), y)], None, False
    numeric = df[column].dtype.is_numeric()
    if numeric:
        xv = _numeric(df, column, "--x")
        ok = np.isfinite(xv)
        if len(np.unique(xv[ok])) > MAX_LINES:
            order = np.flatnonzero(ok)[np.argsort(xv[ok], kind="stable")]
            reach = max(2, order.size // 10)
            spreads = []
            for r, i in enumerate(order):
                window = order[max(0, r - reach) : r + reach + 1]
                spreads.append(
                    _Spread(
                        _fmt_value(float(xv[i])),
                        float(xv[i]),
                        _percentiles_of(y[window]),
                        _mean_finite(half[window]),
                        y[[i]],
                    )
                )
            return spreads, column, True
    spreads = []
    for group, idx in _groups(df, [column]):
        position = float(_numeric(df[idx.tolist()], column, "--x")[0]) if numeric else math.nan
        spreads.append(
            _Spread(group or "", position, _percentiles_of(y[idx]), _mean_finite(half[idx]), y[idx])
        )
    return spreads, column, numeric


def _outer_estimates(df: pl.DataFrame, summary: bool, y: str | Sequence[str] | None) -> list[str]:
    if isinstance(y, str):
        return [y]
    if y is not None:
        return list(y)
    available = _distinct(df["estimate"].cast(pl.String).to_list()) if summary else list(df.columns)
    chosen = [e for e in OUTER_ESTIMATES if e in available]
    if chosen:
        return chosen
    if summary and available:
        return available[:1]
    raise PlotError(f"the outer table has none of {', '.join(OUTER_ESTIMATES)}: give --y ESTIMATE")


def _outer_panel(
    ax: Axes, spreads: list[_Spread], estimate: str, continuous: bool, logy: bool | None, running: bool
) -> None:
    """Draw one estimate's spreads on ``ax``: against their numbers (``continuous``; as a
    running band when ``running``), or a box each."""
    levels = sorted({q for s in spreads for q in s.percentiles})
    pairs = [(q, 100 - q) for q in levels if q < 50 and 100 - q in levels]
    medians = np.array([s.percentiles.get(50, math.nan) for s in spreads])
    halves = np.array([s.mc_half_width for s in spreads])
    values = np.concatenate(
        [
            np.array([v for s in spreads for v in s.percentiles.values()]),
            *(s.draws for s in spreads),
            medians - halves,
            medians + halves,
        ]
    )
    if logy is None:
        logy = auto_log(values[np.isfinite(values)])
    if logy:
        shown = values[_shown_mask(values, True)]
        _log_axis(ax, "y", float(shown.min(initial=1.0)), float(shown.max(initial=1.0)))
    edges = _span(values, logy, pad=0.05)
    ax.set_ylim(*edges)
    seen: set[str] = set()
    alphas = np.linspace(0.14, 0.34, max(len(pairs), 1))
    if continuous:
        xs = np.array([s.x for s in spreads])
        for (q, r), alpha in zip(pairs, alphas, strict=False):
            lo = np.array([s.percentiles[q] for s in spreads])
            hi = np.array([s.percentiles[r] for s in spreads])
            label = f"p{q:02d}-p{r:02d} of the draws" + (" (running)" if running else "")
            open_lo, open_hi = _band(
                ax, xs, lo, hi, edges=edges, log=logy, color="C0", alpha=alpha, label=label
            )
            _mark_open_ends(ax, xs, open_lo, open_hi, edges, "C0", seen, logy)
        ok = _shown_mask(medians, logy)
        ax.plot(
            xs[ok],
            medians[ok],
            "-" if running else "o-",
            color="C0",
            linewidth=2.0,
            markersize=4,
            label="median (p50)",
        )
        draws_x = np.concatenate([np.full(s.draws.size, s.x) for s in spreads])
        if not running:
            for s in spreads:
                m = s.percentiles.get(50, math.nan)
                if math.isfinite(s.mc_half_width) and math.isfinite(m):
                    _interval(
                        ax,
                        s.x,
                        m,
                        m - s.mc_half_width,
                        m + s.mc_half_width,
                        edges=edges,
                        log=logy,
                        color="0.2",
                        vertical=True,
                        marker="none",
                        notes=False,
                    )
    else:
        xs = np.arange(len(spreads), dtype=float)
        width = 0.3
        for k, s in enumerate(spreads):
            if not any(math.isfinite(v) for v in s.percentiles.values()):
                ax.text(
                    k,
                    sum(edges) / 2 if not logy else math.sqrt(edges[0] * edges[1]),
                    "n/a",
                    ha="center",
                    va="center",
                    fontsize=_NOTE_SIZE,
                    color="0.35",
                )
                continue
            box = np.array([k - width, k + width])
            for (q, r), alpha in zip(pairs, alphas, strict=False):
                band_label = f"p{q:02d}-p{r:02d} of the draws" if k == 0 else None
                open_lo, open_hi = _band(
                    ax,
                    box,
                    np.full(2, s.percentiles[q]),
                    np.full(2, s.percentiles[r]),
                    edges=edges,
                    log=logy,
                    color="C0",
                    alpha=alpha,
                    label=band_label,
                )
                _mark_open_ends(ax, np.array([k, k]), open_lo, open_hi, edges, "C0", seen, logy)
            m = s.percentiles.get(50, math.nan)
            if _shown(m, logy):
                ax.plot(box, [m, m], "-", color="C0", linewidth=2.4, label="median (p50)" if k == 0 else None)
            if math.isfinite(s.mc_half_width) and math.isfinite(m):
                _interval(
                    ax,
                    k + width + 0.1,
                    m,
                    m - s.mc_half_width,
                    m + s.mc_half_width,
                    edges=edges,
                    log=logy,
                    color="0.2",
                    vertical=True,
                    marker="none",
                    notes=False,
                )
        # the draws over their box's width, spread by draw number (no random jitter): a spread
        # by value would draw a pattern that is not in the data
        draws_x = np.concatenate(
            [k + ((np.arange(s.draws.size) * 5) % 9 - 4) / 4 * width * 0.8 for k, s in enumerate(spreads)]
        )
        ax.set_xticks(xs, labels=[s.label for s in spreads])
        ax.set_xlim(-0.6, len(spreads) - 0.4 + 0.15)
    draws_y = np.concatenate([s.draws for s in spreads])
    shown = _shown_mask(draws_y, logy)
    if shown.any():
        ax.plot(
            draws_x[shown],
            draws_y[shown],
            ".",
            color="0.35",
            markersize=3.5,
            alpha=0.7,
            label="draws",
            zorder=3,
        )
    mean_half = _mean_finite(halves)
    if running and math.isfinite(mean_half):
        # a bar per draw would hide the band: the mean half-width goes in the title instead
        ax.set_title(f"{_MC_LABEL}: {_fmt(mean_half)}", fontsize=_SMALL_SIZE, color="0.35", loc="right")
    elif math.isfinite(mean_half):
        ax.plot([], [], color="0.2", linewidth=1.8, marker="_", markersize=11, label=_MC_LABEL)
    _open_end_legend(ax, seen)
    # the panel's title names the estimate: the axis gives its unit
    ax.set_ylabel((unit_of(estimate) or estimate) + (", log scale" if logy else ""), fontsize=_LABEL_SIZE)
    ax.set_title(estimate, fontsize=_LABEL_SIZE, loc="left" if running else "center")
    if not logy:
        _plain_ticks(ax, "y")
    _style(ax)


def outer_figure(
    df: pl.DataFrame,
    *,
    title: str | None = None,
    y: str | Sequence[str] | None = None,
    x: str | None = None,
    logx: bool | None = None,
    logy: bool | None = None,
) -> Figure:
    """The spread of estimates over the outer (parameter) draws of ``riskmc sweep --outer``.

    ``df`` is the summary (``*_outer_summary``: one row per estimate, its p05, p50, p95 over
    the draws and ``mc_half_width_mean``) or the draws (``*_outer``: one row per draw), from
    which the 5th, 25th, 50th, 75th and 95th percentiles are computed.  One panel per
    estimate ``y`` (default: those of :data:`OUTER_ESTIMATES` in the table): the percentile
    bands shaded, the median as a line or mark, the draws as dots and the mean Monte Carlo
    half-width within a draw as a bar beside them (the parameter uncertainty against the
    noise of one draw).  Against ``x`` (a point or parameter column; default: ``scenario`` or
    another column that differs between the rows): one box per value, or a line with bands
    when the values are numbers -- for a drawn parameter a running band over the draws
    nearest in rank.

    ``logx``/``logy`` None: a log axis when the values are positive and span more than two
    decades."""
    summary = _has(df, OUTER_SUMMARY_COLUMNS)
    if not summary and not _has(df, OUTER_DRAWS_COLUMNS):
        raise PlotError(
            f"an outer table needs the columns {'/'.join(OUTER_SUMMARY_COLUMNS)} (the summary) or "
            f"{'/'.join(OUTER_DRAWS_COLUMNS)} (the draws)"
        )
    if df.height == 0:
        raise PlotError("the outer table has no rows")
    estimates = _outer_estimates(df, summary, y)
    panels = []
    for estimate in estimates:
        spreads, column, numeric = (_summary_spreads if summary else _draws_spreads)(df, estimate, x)
        panels.append((estimate, spreads, column, numeric))
    continuous = all(numeric and len(spreads) > 1 for _e, spreads, _c, numeric in panels)
    wide = max(len(spreads) for _e, spreads, _c, _n in panels)
    width = (5.2 if continuous else 2.4 + 0.9 * wide) + 0.4
    fig = _new_figure(3.0 + width * len(panels), 5.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (estimate, spreads, column, numeric) in zip(axes, panels, strict=True):
        running = numeric and not summary and len(spreads) > MAX_LINES
        if continuous:
            spreads = [s for s in spreads if math.isfinite(s.x)]  # a row without a value has no place
            xs = np.array([s.x for s in spreads])
            log_x = auto_log(xs) if logx is None else logx
            if log_x and np.any(xs[np.isfinite(xs)] <= 0):
                raise PlotError(f"--logx: {column!r} has values <= 0, which a log axis cannot show")
            if log_x:
                _log_axis(ax, "x", float(xs.min()), float(xs.max()))
            else:
                _plain_ticks(ax, "x")
        _outer_panel(ax, spreads, estimate, continuous, logy, running)
        if column is not None:
            ax.set_xlabel(
                describe(column) + (", log scale" if ax.get_xscale() == "log" else ""), fontsize=_LABEL_SIZE
            )
        if not continuous:
            ax.grid(False, axis="x")
    entries: dict[str, Any] = {}  # one legend for every panel: an entry per label, first handle
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    fig.legend(list(entries.values()), list(entries), loc="outside right upper", fontsize=_SMALL_SIZE)
    scenario = title or scenario_title(df) or "outer"
    draws = _number(_first(df, "draws")) if summary else float(df.height)
    parameters = _first(df, "parameters") if summary else ",".join(varying_inputs(df))
    head = (
        f"{scenario}: spread over {int(draws):,} outer draws"
        if draws is not None
        else f"{scenario}: spread over the outer draws"
    )
    if parameters:
        head += f" of {str(parameters).replace(',', ', ')}"
    fig.suptitle(head, fontsize=_TITLE_SIZE)
    return fig


# -- files -------------------------------------------------------------------------------------------


def provenance_caption(meta: Mapping[str, str]) -> str:
    """A one-line caption from provenance metadata: version, scenario, seed, hash, time."""

    def get(key: str) -> str | None:
        return meta.get(f"riskmc_table_{key}") or meta.get(f"riskmc_{key}")

    parts = [f"riskmc {get('version')}" if get("version") else None]
    parts.append(get("scenario"))
    parts.append(f"seed {get('seed')}" if get("seed") else None)
    parts.append(f"config {get('config_hash')[:12]}" if get("config_hash") else None)  # type: ignore[index]
    parts.append(get("created_utc"))
    return " | ".join(p for p in parts if p)


def save_png(fig: Figure, path: str | os.PathLike[str], metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (see :func:`riskmc.tables.write_atomically`);
    ``metadata`` (:func:`riskmc.provenance.provenance`) as its text chunks."""
    meta = {"Software": "riskmc", **(metadata or {})}
    caption = provenance_caption(meta)
    if caption:
        fig.text(0.005, 0.004, caption, ha="left", va="bottom", fontsize=5.5, color="0.5")
    return write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=DPI, metadata=meta))
