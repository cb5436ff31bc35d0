"""Figures of result tables: ``riskmc plot`` (matplotlib, the optional ``plot`` extra).

Three kinds of table, three figures, each built by a plain function that returns a
:class:`matplotlib.figure.Figure` (object-oriented API with an Agg canvas attached: no
pyplot, no global backend switch, nothing shown on screen):

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
  per value of an optional hue column.

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from riskmc.tables import write_atomically

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

__all__ = [
    "COMPARE_COLUMNS",
    "DPI",
    "EXCEEDANCE_COLUMNS",
    "KINDS",
    "MissingMatplotlib",
    "PlotError",
    "auto_log",
    "check_column",
    "compare_figure",
    "describe",
    "detect_kind",
    "exceedance_figure",
    "require_matplotlib",
    "save_png",
    "scenario_title",
    "sweep_figure",
    "unit_of",
]

#: Kinds of figure; "auto" tells the kind from the table's columns (:func:`detect_kind`).
KINDS = ("auto", "sweep", "compare", "exceedance")
#: Columns that make a table a ``riskmc compare`` table.
COMPARE_COLUMNS = ("mitigation", "risk_ratio")
#: Columns that make a table a loss-exceedance table.
EXCEEDANCE_COLUMNS = ("threshold_min", "p_exceed")
#: Resolution of the PNG files.
DPI = 130
#: The label of the reference row of a compare table.
BASELINE = "baseline"
#: A log axis is chosen automatically when positive values span more than this many decades.
AUTO_LOG_DECADES = 2.0

INSTALL_HINT = "pip install 'riskmc[plot]'"

_TITLE_SIZE = 13
_LABEL_SIZE = 11
_TICK_SIZE = 10
_NOTE_SIZE = 9


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
    """``"compare"`` or ``"exceedance"`` from the table's columns, else None (a sweep needs
    its axes named)."""
    if _has(df, COMPARE_COLUMNS):
        return "compare"
    if _has(df, EXCEEDANCE_COLUMNS):
        return "exceedance"
    return None


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
    positive = values[np.isfinite(values) & (values > 0)]
    left = 10.0 ** math.floor(math.log10(float(positive.min())) - 0.5)
    right = max(float(positive.max()), 1.0) * 2.0
    ax.set_xlim(left, right)
    _log_axis(ax, "x", left, right)

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
        if est > 0 and lo > 0:
            ax.errorbar(
                [est],
                [yk],
                xerr=[[est - lo], [hi - est]],
                fmt="o",
                color=color,
                markersize=6,
                capsize=4,
                elinewidth=1.8,
            )
            continue
        # The interval reaches 0: an arrow from the upper bound to the axis' lower edge.
        c = zero_color if est == 0 else color
        ax.annotate(
            "",
            xy=(left, yk),
            xytext=(hi, yk),
            arrowprops={"arrowstyle": "-|>", "color": c, "lw": 1.8, "shrinkA": 0, "shrinkB": 0},
        )
        ax.plot([hi], [yk], marker="|", markersize=12, markeredgewidth=1.8, color=c)
        if est > 0:
            ax.plot([est], [yk], "o", color=c, markersize=6)
            continue
        n_events = None if events is None or not math.isfinite(events[i]) else int(events[i])
        what = f"{n_events:,} events" if n_events is not None else "risk ratio 0"
        ax.text(
            hi * 1.25,
            yk,
            f"{what}: risk ratio 0,\n95% upper bound {_fmt(hi)}",
            ha="left",
            va="center",
            fontsize=_NOTE_SIZE,
            color=c,
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
        ok = np.isfinite(est_i)
        err_lo = np.where(np.isfinite(lo_i), est_i - lo_i, 0.0)
        err_hi = np.where(np.isfinite(hi_i), hi_i - est_i, 0.0)
        ax_imp.errorbar(
            est_i[ok],
            y[ok],
            xerr=[err_lo[ok], err_hi[ok]],
            fmt="o",
            color="C1",
            markersize=6,
            capsize=4,
            elinewidth=1.8,
        )
        ax_imp.axvline(0.0, color="0.3", linewidth=1.0)
        base_imp = _optional_numeric(df, "impact_per_year_min")
        if base_row is not None and base_imp is not None and math.isfinite(base_imp[base_row]):
            ax_imp.axvline(
                float(base_imp[base_row]),
                color="0.3",
                linestyle="--",
                linewidth=1.2,
                label=f"the baseline's whole impact ({_fmt(float(base_imp[base_row]))})",
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
        band_lo = np.clip(np.nan_to_num(lo[pos], nan=bottom), bottom, 1.0)
        band_hi = np.clip(np.nan_to_num(hi[pos], nan=bottom), bottom, 1.0)
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


def _hue_groups(df: pl.DataFrame, hue: str | None) -> list[tuple[str | None, np.ndarray]]:
    """(label, row indices) per hue value: numbers in numeric order, else first appearance."""
    if hue is None:
        return [(None, np.arange(df.height))]
    values = df[hue].to_list()
    keys: list[Any] = list(dict.fromkeys(values))
    numeric = df[hue].dtype.is_numeric()
    if numeric:
        keys.sort(key=lambda v: (v is None, v if v is not None else 0))
    out: list[tuple[str | None, np.ndarray]] = []
    for key in keys:
        idx = np.array(
            [i for i, v in enumerate(values) if v == key or (v is None and key is None)], dtype=int
        )
        label = "(none)" if key is None else (_fmt_value(float(key)) if numeric else str(key))
        out.append((label, idx))
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

    groups = _hue_groups(df, hue)
    fig = _new_figure(8.0, 5.2)
    ax = fig.subplots()
    many = len(groups) > 10
    if many:
        from matplotlib import colormaps

        cmap = colormaps["viridis"]
    for g, (label, idx) in enumerate(groups):
        idx = idx[ok[idx]]
        if idx.size == 0:
            continue
        idx = idx[np.argsort(xv[idx], kind="stable")]
        xs = xv[idx]
        dup = np.flatnonzero(np.diff(xs) == 0)
        if dup.size:
            same = idx[np.isin(xs, xs[dup])]
            where = f" (at {hue} = {label})" if hue is not None else ""
            raise PlotError(
                f"several rows have {x} = {_fmt_value(float(xs[dup[0]]))}{where}: give --hue COLUMN to draw "
                f"one line per value{_duplicate_hint(df, same, (x, y))}"
            )
        color = cmap(g / max(len(groups) - 1, 1)) if many else f"C{g % 10}"
        if lo is not None and hi is not None:
            blo, bhi = lo[idx], hi[idx]
            good = np.isfinite(blo) & np.isfinite(bhi)
            if good.any():
                if logy:
                    floor = float(np.min(yv[ok][yv[ok] > 0])) / 10.0
                    blo = np.maximum(blo, floor)
                ax.fill_between(xs, blo, bhi, where=good, color=color, alpha=0.18, linewidth=0)
        ax.plot(xs, yv[idx], "o-", color=color, markersize=4, linewidth=1.8, label=label)

    if logx:
        _log_axis(ax, "x", float(np.min(xv[ok])), float(np.max(xv[ok])))
    else:
        _plain_ticks(ax, "x")
    if logy:
        _log_axis(ax, "y", float(np.min(yv[ok])), float(np.max(yv[ok])))
    else:
        _plain_ticks(ax, "y")
    ax.set_xlabel(describe(x) + (", log scale" if logx else ""), fontsize=_LABEL_SIZE)
    ax.set_ylabel(describe(y) + (", log scale" if logy else ""), fontsize=_LABEL_SIZE)
    _style(ax)
    if logy:
        ax.grid(True, which="minor", alpha=0.12, linewidth=0.6)
    handles, _labels = ax.get_legend_handles_labels()
    band = lo is not None and hi is not None
    if hue is not None and handles:
        ax.legend(
            title=hue,
            fontsize=_NOTE_SIZE,
            title_fontsize=_NOTE_SIZE,
            framealpha=0.9,
            ncols=2 if len(groups) > 8 else 1,
            loc="best",
        )
    scenario = title or scenario_title(df)
    head = f"{y} against {x}" + (f", by {hue}" if hue else "")
    if scenario:
        head = f"{scenario}: {head}"
    fig.suptitle(head, fontsize=_TITLE_SIZE)
    if band:
        ax.set_title("shaded: 95% CI", fontsize=_NOTE_SIZE, color="0.35", loc="right")
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
