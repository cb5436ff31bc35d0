"""Interval ends an axis cannot show: intervals, bands and the markers and notes at the axis' edge.

matplotlib silently drops (or warns about) a non-finite coordinate, and a log axis drops 0:
an interval [0.2, inf] would lose its line and an estimate of 0 its whole row.  Every
figure therefore replaces such an end by the axis' edge, and marks it: an arrow, a note or
an edge marker saying "no upper bound", so that a row is never blank and no warning is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from riskmc.plot.common import _SMALL_SIZE

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.lines import Line2D


#: Legend entries of the edge markers (:func:`_edge_marks`).
NO_UPPER_BOUND = "no upper bound (inf or n/a): drawn to the top edge"
NO_LOWER_BOUND = "no lower bound (-inf or n/a): drawn to the bottom edge"
ZERO_LOWER_BOUND = "lower bound 0: drawn to the bottom edge"


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


def _y_edges(values: Sequence[np.ndarray | None], log: bool) -> tuple[float, float]:
    return _span(np.concatenate([v for v in values if v is not None]), log, pad=0.05)


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
