"""``riskmc plot RESULTS``: a results table as a PNG figure."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from riskmc.cli.core import CliError, app, command_line, one_line
from riskmc.cli.files import check_writable, names_directory
from riskmc.cli.options import QuietOption

if TYPE_CHECKING:
    import polars as pl


class PlotKind(StrEnum):
    """``--kind``: which figure ``riskmc plot`` draws."""

    auto = "auto"
    sweep = "sweep"
    compare = "compare"
    exceedance = "exceedance"
    calibration = "calibration"
    sensitivity = "sensitivity"
    outer = "outer"


#: Kinds that take --x/--y (outer: the column to show the spread against, the estimate).
AXES_KINDS = (PlotKind.sweep, PlotKind.outer)
#: Kinds whose axes are fixed: --logx/--logy are refused, with the reason.
FIXED_AXES = {
    PlotKind.compare: "its risk ratio axis is always log",
    PlotKind.sensitivity: "its index axis is always linear",
}


ResultsArgument = Annotated[
    Path,
    typer.Argument(
        metavar="RESULTS",
        help="Results table (.csv or .parquet): of 'riskmc compare', 'riskmc run --exceedance', 'riskmc "
        "sweep' (with --outer: the draws or the _summary), 'riskmc calibrate' (its _curve) or 'riskmc "
        "sensitivity'.",
        show_default=False,
    ),
]
PlotOutOption = Annotated[
    str | None,
    typer.Option(
        "--out",
        metavar="PATH",
        help="PNG file to write; its suffix is replaced by .png. A directory (existing, or given with a "
        "trailing /) gets <RESULTS name>.png inside. (default: RESULTS with the suffix .png)",
        show_default=False,
    ),
]
XOption = Annotated[
    str | None,
    typer.Option(
        "--x",
        metavar="PARAM",
        help="Sweep: the column on the x axis, e.g. degraded.prob. Outer: the point or parameter column "
        "to show the spread against (default: one that differs between the rows, if any).",
        show_default=False,
    ),
]
YOption = Annotated[
    str | None,
    typer.Option(
        "--y",
        metavar="METRIC",
        help="Sweep: the column on the y axis, e.g. p_cell_window (its _lo/_hi columns give the band). "
        "Outer: the estimate (default: p_cell_window and impact_per_year_min, a panel each).",
        show_default=False,
    ),
]
HueOption = Annotated[
    str | None,
    typer.Option(
        "--hue",
        metavar="COLUMN",
        help="Sweep: one line per value of this column (and per combination of the other swept keys, which "
        "are never joined by one line).",
        show_default=False,
    ),
]
KindOption = Annotated[
    PlotKind,
    typer.Option(
        "--kind",
        case_sensitive=False,
        help="Figure to draw; auto: by the table's columns (compare, exceedance, calibration, sensitivity, "
        "outer), but a sweep when --hue, or --x/--y on a table other than an outer one, are given.",
    ),
]
LogxOption = Annotated[
    bool | None,
    typer.Option(
        "--logx/--no-logx",
        help="Force a log (or a linear) x axis; not with --kind compare/sensitivity. (default: log when the "
        "values are positive and span more than two decades; one for exceedance thresholds and "
        "calibration grids)",
        show_default=False,
    ),
]
LogyOption = Annotated[
    bool | None,
    typer.Option(
        "--logy/--no-logy",
        help="Force a log (or a linear) y axis; not with --kind compare/sensitivity. (default: log when the "
        "values are positive and span more than two decades)",
        show_default=False,
    ),
]


def _read_results(path: Path) -> pl.DataFrame:
    """The results table at ``path``, or a CliError naming it."""
    import polars as pl

    from riskmc.tables import read_table

    if not path.exists():
        raise CliError(f"{path}: no such file")
    if path.is_dir():
        raise CliError(f"{path}: is a directory, not a results table")
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise CliError(f"{path}: not a results table (expected a .csv or .parquet file)")
    try:
        table = read_table(path)
    except (OSError, ValueError, pl.exceptions.PolarsError) as e:
        raise CliError(f"{path}: cannot read the table: {one_line(e)}") from None
    if table.height == 0:
        raise CliError(f"{path}: the table has no rows")
    return table


def _undetected(plots: Any, table: pl.DataFrame, path: Path) -> CliError:
    """The error for a table whose columns name no kind of figure."""
    if "param" in table.columns and "value_method" in table.columns:
        curve = path.with_name(f"{path.stem}_curve{path.suffix}")
        return CliError(f"{path}: the result row of riskmc calibrate; plot its curve, {curve}")
    kinds = {**plots.KIND_COLUMNS, "outer": plots.OUTER_SUMMARY_COLUMNS}
    columns = ", ".join(f"{'/'.join(cols)} ({kind})" for kind, cols in kinds.items())
    return CliError(
        f"{path}: cannot tell what to plot: the table has none of the columns {columns}, nor "
        f"{'/'.join(plots.OUTER_DRAWS_COLUMNS)} (outer draws); for a sweep give --x PARAM --y METRIC"
    )


def _plot_kind(
    plots: Any,
    kind: PlotKind,
    table: pl.DataFrame,
    path: Path,
    x: str | None,
    y: str | None,
    hue: str | None,
    log_axes: bool,
) -> PlotKind:
    """The kind of figure to draw, checked against the options and the table's columns."""
    axes = x is not None or y is not None
    if kind is PlotKind.auto:
        detected = plots.detect_kind(table)
        if hue is not None or (axes and detected != "outer"):
            detected = "sweep"  # --x/--y name a sweep's axes, except on an outer table
        if detected is None:
            raise _undetected(plots, table, path)
        kind = PlotKind(detected)
    if hue is not None and kind is not PlotKind.sweep:
        raise CliError(f"--hue applies to --kind sweep only, not --kind {kind.value}")
    if axes and kind not in AXES_KINDS:
        raise CliError(f"--x/--y apply to --kind sweep and outer only, not --kind {kind.value}")
    if kind in FIXED_AXES and log_axes:
        raise CliError(f"--logx/--logy do not apply to --kind {kind.value} ({FIXED_AXES[kind]})")
    missing = [c for c in plots.KIND_COLUMNS.get(kind.value, ()) if c not in table.columns]
    if missing:
        raise CliError(f"--kind {kind.value}: {path} has no column {missing[0]!r}; is it the right table?")
    if kind is PlotKind.outer and not (
        all(c in table.columns for c in plots.OUTER_SUMMARY_COLUMNS)
        or all(c in table.columns for c in plots.OUTER_DRAWS_COLUMNS)
    ):
        raise CliError(
            f"--kind outer: {path} has neither the columns {'/'.join(plots.OUTER_SUMMARY_COLUMNS)} (the "
            f"summary) nor {'/'.join(plots.OUTER_DRAWS_COLUMNS)} (the draws); is it the right table?"
        )
    if kind is PlotKind.sweep and (x is None or y is None):
        raise CliError("a sweep figure needs both --x PARAM and --y METRIC")
    return kind


def _table_provenance(path: Path) -> dict[str, str]:
    """The provenance of the table at ``path``, from its Parquet twin; empty when there is
    none (a CSV alone, or a table written before provenance)."""
    from riskmc.provenance import read_provenance

    try:
        return read_provenance(path.with_suffix(".parquet"))
    except Exception:  # no Parquet twin, or not one riskmc wrote: no provenance
        return {}


def _calibrate_options(command: str) -> dict[str, Any]:
    """``--param``, ``--observed-events`` and ``--exposure-cell-hours`` of a ``riskmc calibrate``
    command line (as its provenance records it)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return {}
    if "calibrate" not in words:
        return {}
    names = {
        "--param": "param",
        "--observed-events": "observed_events",
        "--exposure-cell-hours": "exposure_cell_hours",
    }
    out: dict[str, Any] = {}
    for i, word in enumerate(words):
        option, eq, value = word.partition("=")
        if option not in names:
            continue
        if not eq:
            if i + 1 >= len(words):
                continue
            value = words[i + 1]
        out[names[option]] = value
    return out


def _calibration_context(path: Path, meta: Mapping[str, str]) -> dict[str, Any]:
    """What a calibration curve's table does not hold: the key, the observed count and the
    calibrated value.  From the result table beside the curve (``X_curve`` -> ``X``) when it
    comes from the same command, else from the command line in the curve's provenance."""
    from riskmc.tables import read_table

    context = _calibrate_options(meta.get("command", ""))
    stem = path.stem.removesuffix("_curve")
    if stem == path.stem:
        return context
    for suffix in (".parquet", ".csv"):
        beside = path.with_name(stem + suffix)
        if not beside.is_file():
            continue
        other = _table_provenance(beside).get("command")
        if other is not None and meta.get("command") not in (None, other):
            return context  # the result of another calibration, with the same name
        try:
            row = read_table(beside).row(0, named=True)
        except Exception:  # unreadable, or no row: the curve's own provenance must do
            return context
        if "param" in row and context.get("param", row["param"]) == row["param"]:
            context.update(row)
        return context
    return context


def _figure(
    plots: Any,
    kind: PlotKind,
    table: pl.DataFrame,
    results: Path,
    meta: Mapping[str, str],
    x: str | None,
    y: str | None,
    hue: str | None,
    logx: bool | None,
    logy: bool | None,
) -> Any:
    """The figure of ``kind`` for the table (a PlotError for a table it cannot draw)."""
    # a title for tables without a scenario column: the scenario of their provenance, else
    # the file's stem without the suffix its command adds
    stem = results.stem
    for suffix in ("_exceedance", "_calibration_curve", "_curve", "_sensitivity"):
        stem = stem.removesuffix(suffix) or stem
    title = plots.scenario_title(table, meta.get("scenario") or stem)
    if kind is PlotKind.compare:
        return plots.compare_figure(table)
    if kind is PlotKind.exceedance:
        return plots.exceedance_figure(table, title=title, logx=logx, logy=logy)
    if kind is PlotKind.calibration:
        context = _calibration_context(results, meta)
        return plots.calibration_figure(table, title=title, result=context, logx=logx, logy=logy)
    if kind is PlotKind.sensitivity:
        return plots.sensitivity_figure(table, title=title)
    if kind is PlotKind.outer:
        return plots.outer_figure(table, title=title, y=y, x=x, logx=logx, logy=logy)
    assert x is not None and y is not None  # checked by _plot_kind
    return plots.sweep_figure(table, x, y, hue, logx=logx, logy=logy)


def _plot_path(out: str | None, results: Path) -> Path:
    """Where the PNG goes: RESULTS with the suffix .png, or ``--out`` (a directory gets
    ``<RESULTS stem>.png``); checked for writability."""
    if out is not None and not out.strip():
        raise CliError(f"--out {out!r}: must name a file")
    if out is None:
        path = results.with_suffix(".png")
    elif names_directory(out):
        path = Path(out) / f"{results.stem}.png"
    else:
        path = Path(out)
        if path.name in ("", ".", ".."):
            raise CliError(f"--out {out!r}: must name a file")
        path = path.with_suffix(".png")
    check_writable(path, "--out")
    return path


@app.command()
def plot(
    results: ResultsArgument,
    out: PlotOutOption = None,
    x: XOption = None,
    y: YOption = None,
    hue: HueOption = None,
    kind: KindOption = PlotKind.auto,
    logx: LogxOption = None,
    logy: LogyOption = None,
    quiet: QuietOption = False,
) -> None:
    """Draw a results table as a PNG figure (needs matplotlib: pip install 'riskmc\\[plot]').

    compare: a table of 'riskmc compare': each mitigation's risk ratio with its 95% CI (log axis).

    exceedance: a table of 'riskmc run --exceedance': P(annual impact > threshold), 95% CI band.

    calibration: the _curve table of 'riskmc calibrate': the expected events against the parameter
    (its key from the result table beside the curve, or the curve's provenance), the observed count
    as the reference line, the calibrated value with its 95% CI.

    sensitivity: a table of 'riskmc sensitivity': S1 and ST per input with 95% CIs, a panel per
    output; an undefined index reads n/a.

    outer: a table of 'riskmc sweep --outer' (the draws, or the _summary) [--y ESTIMATE] [--x COLUMN]:
    percentile bands of the estimate over the draws, the mean Monte Carlo half-width beside them.

    sweep: --x PARAM --y METRIC [--hue COLUMN]: METRIC against PARAM, one line per COLUMN value and
    per combination of the other swept keys (points only when every row differs in them).

    An interval end that is infinite or NaN, or 0 on a log axis, is drawn to the axis' edge and
    marked. The PNG goes next to RESULTS (same name, suffix .png) unless --out says otherwise.
    """
    from riskmc import plot as plots

    table = _read_results(results)
    chosen = _plot_kind(plots, kind, table, results, x, y, hue, logx is not None or logy is not None)
    path = _plot_path(out, results)
    source = _table_provenance(results)
    try:
        plots.require_matplotlib()
        fig = _figure(plots, chosen, table, results, source, x, y, hue, logx, logy)
    except plots.PlotError as e:
        raise CliError(str(e)) from None
    # the PNG carries its table's provenance (from the Parquet twin) and its own command
    from riskmc.provenance import PREFIX, provenance

    meta = provenance(None, command=command_line())
    meta.update({f"{PREFIX}table_{k}": v for k, v in source.items()})
    meta[f"{PREFIX}table"] = str(results)
    try:
        plots.save_png(fig, path, meta)
    except OSError as e:
        where = Path(e.filename) if isinstance(e.filename, str) and e.filename else path
        if where.name.endswith(".tmp"):
            where = where.parent
        raise CliError(f"--out {path}: cannot write {where}: {e.strerror or e}") from None
    if not quiet:
        print(f"wrote {path}")
