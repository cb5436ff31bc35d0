"""Pieces every figure shares: the errors, the (lazy) matplotlib import, units and number
formatting, the figure and its axes, and writing the PNG with its provenance caption."""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from riskmc.tables import write_atomically
from riskmc.text import label_number

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

#: Resolution of the PNG files.
DPI = 130
#: A log axis is chosen automatically when positive values span more than this many decades.
AUTO_LOG_DECADES = 2.0
#: More combinations of the other swept inputs than this are drawn as points, not lines
#: (a legend of more entries cannot be read).
MAX_LINES = 12

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


#: An estimate for a label (riskmc.text.label_number).
_fmt = label_number


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


# -- figures and axes ------------------------------------------------------------------------------


def auto_log(values: np.ndarray, decades: float = AUTO_LOG_DECADES) -> bool:
    """A log axis suits ``values`` when all finite ones are positive and span more than
    ``decades`` decades."""
    v = values[np.isfinite(values)]
    if v.size < 2 or np.any(v <= 0):
        return False
    return bool(math.log10(float(v.max()) / float(v.min())) > decades)


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


# -- files -----------------------------------------------------------------------------------------


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
