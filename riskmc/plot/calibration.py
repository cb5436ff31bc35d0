"""The figure of the calibration curve of ``riskmc calibrate``: :func:`calibration_figure`, and
the exact Poisson interval of the observed count (:func:`poisson_interval`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from riskmc.plot.common import (
    _LABEL_SIZE,
    _NOTE_SIZE,
    _TITLE_SIZE,
    PlotError,
    _fmt,
    _fmt_value,
    _log_axis,
    _new_figure,
    _plain_ticks,
    _style,
    auto_log,
    describe,
)
from riskmc.plot.detect import (
    CALIBRATION_COLUMNS,
    _first,
    _number,
    _numeric,
    _optional_numeric,
    check_column,
    scenario_title,
)
from riskmc.plot.ends import (
    _band,
    _edge_marks,
    _mark_open_ends,
    _open_end_legend,
    _shown,
    _shown_mask,
    _y_edges,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
