"""The figure of a ``riskmc sensitivity`` table (Sobol' indices): :func:`sensitivity_figure`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from riskmc.plot.common import (
    _LABEL_SIZE,
    _NOTE_SIZE,
    _SMALL_SIZE,
    _TITLE_SIZE,
    PlotError,
    _new_figure,
    _plain_ticks,
    _style,
)
from riskmc.plot.detect import (
    SENSITIVITY_COLUMNS,
    _distinct,
    _first,
    _number,
    _numeric,
    _optional_numeric,
    check_column,
    scenario_title,
)
from riskmc.plot.ends import _interval, _span

if TYPE_CHECKING:
    from matplotlib.figure import Figure


#: (column, legend label, marker, colour, offset from the input's row) of the two indices.
_SOBOL_INDICES = (
    ("first_order", "first order S1", "o", "C0", -0.17),
    ("total_order", "total ST", "s", "C1", 0.17),
)


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
