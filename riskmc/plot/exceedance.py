"""The figure of a loss-exceedance table: :func:`exceedance_figure`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from riskmc.plot.common import (
    _LABEL_SIZE,
    _NOTE_SIZE,
    _TITLE_SIZE,
    PlotError,
    _fmt,
    _log_axis,
    _new_figure,
    _plain_ticks,
    _style,
    auto_log,
)
from riskmc.plot.detect import EXCEEDANCE_COLUMNS, _numeric, _optional_numeric, check_column, scenario_title

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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

    # the table of the cascade's EC2 impairment (riskmc run --cascade-exceedance) says so
    cascade = "quantity" in df.columns and df.height > 0 and df["quantity"][0] == "ec2_impaired_per_year_min"
    what = "annual EC2 launch impairment" if cascade else "annual impact"
    if zero.any():
        i = int(np.flatnonzero(zero)[-1])
        p0 = float(p[i])
        ci = ""
        if lo is not None and hi is not None and math.isfinite(lo[i]) and math.isfinite(hi[i]):
            ci = f" [{_fmt(float(lo[i]))}, {_fmt(float(hi[i]))}]"
        ax.axhline(p0, color="0.35", linestyle=":", linewidth=1.4, label=f"P({what} > 0) = {_fmt(p0)}{ci}")
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
    unit = "minutes per region-year" if cascade else "region-traffic-minutes per region-year"
    ax.set_xlabel(f"threshold: {what} ({unit})" + (", log scale" if logx else ""), fontsize=_LABEL_SIZE)
    ax.set_ylabel(
        f"probability P({what} > threshold)" + (", log scale" if logy else ""), fontsize=_LABEL_SIZE
    )
    _style(ax)
    ax.legend(loc="lower left", fontsize=_NOTE_SIZE, framealpha=0.9)
    scenario = title or scenario_title(df) or "exceedance"
    fig.suptitle(f"{scenario}: loss exceedance of the {what}", fontsize=_TITLE_SIZE)
    return fig
