"""The figure of a table with one row per parameter value (``riskmc sweep``): :func:`sweep_figure`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from riskmc.plot.common import (
    _LABEL_SIZE,
    _NOTE_SIZE,
    _TITLE_SIZE,
    MAX_LINES,
    PlotError,
    _fmt_value,
    _log_axis,
    _new_figure,
    _plain_ticks,
    _style,
    auto_log,
    describe,
)
from riskmc.plot.detect import (
    _groups,
    _numeric,
    _optional_numeric,
    check_column,
    scenario_title,
    varying_inputs,
)
from riskmc.plot.ends import _band, _mark_open_ends, _open_end_legend, _shown_mask, _y_edges

if TYPE_CHECKING:
    from matplotlib.figure import Figure


_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P")


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
