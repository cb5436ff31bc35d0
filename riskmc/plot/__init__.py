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
made, so this package imports without it.

Modules: ``common`` (errors, the matplotlib import, units and formatting, figure and axes,
the PNG file), ``detect`` (the kinds of table, column checks and reads), ``ends`` (intervals
and the interval ends an axis cannot show), then one module per kind: ``compare``,
``exceedance``, ``sweep``, ``calibration``, ``sensitivity``, ``outer``.
"""

# Names outside __all__ are re-exported as ``X as X``: riskmc.plot.NAME as before the split.
from riskmc.plot.calibration import calibration_figure
from riskmc.plot.calibration import poisson_interval as poisson_interval
from riskmc.plot.common import AUTO_LOG_DECADES as AUTO_LOG_DECADES
from riskmc.plot.common import (
    DPI,
    MissingMatplotlib,
    PlotError,
    auto_log,
    describe,
    require_matplotlib,
    save_png,
    unit_of,
)
from riskmc.plot.common import INSTALL_HINT as INSTALL_HINT
from riskmc.plot.common import MAX_LINES as MAX_LINES
from riskmc.plot.common import _fmt as _fmt
from riskmc.plot.common import provenance_caption as provenance_caption
from riskmc.plot.compare import BASELINE as BASELINE
from riskmc.plot.compare import compare_figure
from riskmc.plot.detect import (
    CALIBRATION_COLUMNS,
    COMPARE_COLUMNS,
    CONFIG_SECTIONS,
    EXCEEDANCE_COLUMNS,
    KIND_COLUMNS,
    KINDS,
    OUTER_DRAWS_COLUMNS,
    OUTER_SUMMARY_COLUMNS,
    SENSITIVITY_COLUMNS,
    check_column,
    detect_kind,
    input_columns,
    scenario_title,
    varying_inputs,
)
from riskmc.plot.ends import NO_LOWER_BOUND as NO_LOWER_BOUND
from riskmc.plot.ends import NO_UPPER_BOUND as NO_UPPER_BOUND
from riskmc.plot.ends import ZERO_LOWER_BOUND as ZERO_LOWER_BOUND
from riskmc.plot.exceedance import exceedance_figure
from riskmc.plot.outer import OUTER_ESTIMATES as OUTER_ESTIMATES
from riskmc.plot.outer import OUTER_PERCENTILES as OUTER_PERCENTILES
from riskmc.plot.outer import outer_figure
from riskmc.plot.sensitivity import sensitivity_figure
from riskmc.plot.sweep import sweep_figure

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
