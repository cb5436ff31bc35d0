"""``riskmc plot RESULTS``: a results table as a PNG figure."""

from __future__ import annotations

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


ResultsArgument = Annotated[
    Path,
    typer.Argument(
        metavar="RESULTS",
        help="Results table (.csv or .parquet): of 'riskmc compare', 'riskmc run --exceedance', or a sweep.",
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
        help="Sweep: the column on the x axis, e.g. degraded.prob.",
        show_default=False,
    ),
]
YOption = Annotated[
    str | None,
    typer.Option(
        "--y",
        metavar="METRIC",
        help="Sweep: the column on the y axis, e.g. p_cell_window (its _lo/_hi columns give the band).",
        show_default=False,
    ),
]
HueOption = Annotated[
    str | None,
    typer.Option(
        "--hue", metavar="COLUMN", help="Sweep: one line per value of this column.", show_default=False
    ),
]
KindOption = Annotated[
    PlotKind,
    typer.Option(
        "--kind",
        case_sensitive=False,
        help="Figure to draw; auto: sweep when --x/--y are given, else compare or exceedance by the "
        "table's columns.",
    ),
]
LogxOption = Annotated[
    bool | None,
    typer.Option(
        "--logx/--no-logx",
        help="Force a log (or a linear) x axis. (default: log when the values are positive and span "
        "more than two decades; one for exceedance thresholds)",
        show_default=False,
    ),
]
LogyOption = Annotated[
    bool | None,
    typer.Option(
        "--logy/--no-logy",
        help="Force a log (or a linear) y axis. (default: log when the values are positive and span "
        "more than two decades)",
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


def _plot_kind(
    plots: Any,
    kind: PlotKind,
    table: pl.DataFrame,
    path: Path,
    x: str | None,
    y: str | None,
    hue: str | None,
    log_axes: bool,
) -> str:
    """The kind of figure to draw, checked against the options and the table's columns."""
    sweep_axes = x is not None or y is not None or hue is not None
    if kind is PlotKind.auto:
        detected = "sweep" if sweep_axes else plots.detect_kind(table)
        if detected is None:
            raise CliError(
                f"{path}: cannot tell what to plot: the table has neither {'/'.join(plots.COMPARE_COLUMNS)} "
                f"(riskmc compare) nor {'/'.join(plots.EXCEEDANCE_COLUMNS)} (riskmc run --exceedance) "
                "columns; for a sweep give --x PARAM --y METRIC"
            )
        kind = PlotKind(detected)
    if kind is not PlotKind.sweep and sweep_axes:
        raise CliError(f"--x/--y/--hue apply to --kind sweep only, not --kind {kind.value}")
    if kind is PlotKind.compare and log_axes:
        raise CliError("--logx/--logy do not apply to --kind compare (its risk ratio axis is always log)")
    needed = {PlotKind.compare: plots.COMPARE_COLUMNS, PlotKind.exceedance: plots.EXCEEDANCE_COLUMNS}
    missing = [c for c in needed.get(kind, ()) if c not in table.columns]
    if missing:
        raise CliError(f"--kind {kind.value}: {path} has no column {missing[0]!r}; is it the right table?")
    if kind is PlotKind.sweep and (x is None or y is None):
        raise CliError("a sweep figure needs both --x PARAM and --y METRIC")
    return kind.value


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

    sweep: --x PARAM --y METRIC [--hue COLUMN]: METRIC against PARAM, one line per COLUMN value.

    The PNG goes next to RESULTS (same name, suffix .png) unless --out says otherwise.
    """
    from riskmc import plot as plots

    table = _read_results(results)
    chosen = _plot_kind(plots, kind, table, results, x, y, hue, logx is not None or logy is not None)
    path = _plot_path(out, results)
    try:
        plots.require_matplotlib()
        if chosen == "compare":
            fig = plots.compare_figure(table)
        elif chosen == "exceedance":
            stem = results.stem.removesuffix("_exceedance") or results.stem
            fig = plots.exceedance_figure(
                table, title=plots.scenario_title(table, stem), logx=logx, logy=logy
            )
        else:
            assert x is not None and y is not None  # checked by _plot_kind
            fig = plots.sweep_figure(table, x, y, hue, logx=logx, logy=logy)
    except plots.PlotError as e:
        raise CliError(str(e)) from None
    # the PNG carries its table's provenance (from the Parquet twin) and its own command
    from riskmc.provenance import PREFIX, provenance, read_provenance

    meta = provenance(None, command=command_line())
    source = results.with_suffix(".parquet")
    try:
        meta.update({f"{PREFIX}table_{k}": v for k, v in read_provenance(source).items()})
    except Exception:  # no Parquet twin, or one written before provenance: the command only
        pass
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
