"""The figure of a ``riskmc compare`` table: :func:`compare_figure`."""

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
    _fmt_value,
    _log_axis,
    _new_figure,
    _plain_ticks,
    _style,
    unit_of,
)
from riskmc.plot.detect import COMPARE_COLUMNS, _numeric, _optional_numeric, check_column, scenario_title
from riskmc.plot.ends import _interval, _open_note, _shown, _shown_mask, _span

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The label of the reference row of a compare table.
BASELINE = "baseline"


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
