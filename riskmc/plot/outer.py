"""The figure of the tables of ``riskmc sweep --outer`` (the summary or the draws):
:func:`outer_figure`, with the spreads of an estimate over the draws it draws."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from riskmc.plot.common import (
    _LABEL_SIZE,
    _NOTE_SIZE,
    _SMALL_SIZE,
    _TITLE_SIZE,
    MAX_LINES,
    PlotError,
    _fmt,
    _fmt_value,
    _log_axis,
    _new_figure,
    _plain_ticks,
    _style,
    auto_log,
    describe,
    unit_of,
)
from riskmc.plot.detect import (
    OUTER_DRAWS_COLUMNS,
    OUTER_SUMMARY_COLUMNS,
    _distinct,
    _first,
    _groups,
    _has,
    _number,
    _numeric,
    _optional_numeric,
    check_column,
    scenario_title,
    varying_inputs,
)
from riskmc.plot.ends import _band, _interval, _mark_open_ends, _open_end_legend, _shown, _shown_mask, _span

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Estimates an outer figure shows when none is asked for (those of riskmc sensitivity).
OUTER_ESTIMATES = ("p_cell_window", "impact_per_year_min")
#: Percentiles an outer figure computes from the draws (the summary has 5, 50 and 95 only).
OUTER_PERCENTILES = (5, 25, 50, 75, 95)


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


def _mc_bar(ax: Axes, x: float, s: _Spread, edges: tuple[float, float], logy: bool) -> None:
    """The Monte Carlo half-width of the draws' median, as a thin bar at ``x``."""
    m = s.percentiles.get(50, math.nan)
    if math.isfinite(s.mc_half_width) and math.isfinite(m):
        _interval(
            ax,
            x,
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
                _mc_bar(ax, s.x, s, edges, logy)
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
            _mc_bar(ax, k + width + 0.1, s, edges, logy)
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
