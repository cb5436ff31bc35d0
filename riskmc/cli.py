"""The ``riskmc`` command line (typer): ``riskmc run CONFIG``, ``riskmc compare CONFIG``,
``riskmc explain CONFIG``, ``riskmc plot RESULTS``, ``riskmc version``.

Conventions every command follows (the helpers below implement them, so that new commands
-- compare, sweep, explain, plot, calibrate -- get them by using the helpers):

* A user mistake (bad config, bad option value, unwritable output) ends with ONE line on
  stderr, ``error: <what>: <problem>``, and exit code 2; never a traceback.  Commands raise
  :class:`CliError` (or let a :class:`~riskmc.config.ConfigError` through);
  :class:`RiskmcGroup` prints it.  typer's own usage errors (``--trials 0``, an unknown
  option or command) are printed the same way.
* Ctrl-C exits 130 with one line; result files are written atomically
  (:mod:`riskmc.tables`), so an interrupted command leaves the previous results intact.
* Results and summaries go to stdout; progress bars go to stderr, and only when stderr is a
  terminal (:func:`trial_progress`).
* Shared options are ``Annotated`` aliases (:data:`TrialsOption`, :data:`SetOption`, ...),
  so every command spells and checks them the same way.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from typer.core import TyperGroup

from riskmc import __version__, rare
from riskmc import calibrate as cal
from riskmc import compare as cmp
from riskmc import execute as exe
from riskmc import explain as ex
from riskmc import outer as outer_mod
from riskmc import plot as plots
from riskmc import sensitivity as sens
from riskmc import sweep as sw
from riskmc.config import Config, ConfigError, load_config
from riskmc.estimates import CONFIDENCE, Estimate
from riskmc.region import events_frame, exceedance_frame, run_region_scenario
from riskmc.scenario import DEFAULT_CHUNK_TRIALS, ScenarioResult
from riskmc.tables import read_table, table_paths, write_table

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "CliError",
    "RiskmcGroup",
    "TableFormat",
    "app",
    "format_number",
    "load_scenario",
    "output_base",
    "save_table",
    "trial_progress",
]

#: Exit code of every user mistake (as click/typer use for usage errors).
EXIT_USAGE = 2
#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

#: Where results go when ``--out`` is not given: ``results/<scenario name>.*``.
DEFAULT_RESULTS_DIR = Path("results")


# -- errors --------------------------------------------------------------------------------------


class CliError(Exception):
    """A user-facing problem: printed as one ``error: <message>`` line, then exit."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def one_line(text: object) -> str:
    """``text`` with its lines joined by spaces: every error is exactly one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def print_error(message: str) -> None:
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)


def config_error_message(err: ConfigError, path: str | os.PathLike[str] | None = None) -> str:
    """``<path>: problem`` for a file that cannot be read, else ``config key 'k': problem``."""
    if path is not None and err.key == os.fspath(path):
        return f"{err.key}: {err.problem}"
    return f"config key {err.key!r}: {err.problem}"


def _usage_message(err: typer.TyperException) -> str:
    """typer's message for a usage error, lower-cased like ours, with a pointer to --help."""
    message = one_line(err.format_message())
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    ctx = getattr(err, "ctx", None)
    command_path = getattr(ctx, "command_path", None)
    if command_path:
        message = f"{message} (see '{command_path} --help')"
    return message


class RiskmcGroup(TyperGroup):
    """The app's command group: turns every expected failure into one ``error:`` line.

    ``invoke`` handles what commands raise (CliError, ConfigError, KeyboardInterrupt);
    ``main`` handles typer's own usage errors, which it would otherwise print as a
    multi-line box.  Commands must return None (a returned int would be the exit code).
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as e:
            print_error(e.message)
            raise typer.Exit(e.exit_code) from None
        except ConfigError as e:
            print_error(config_error_message(e))
            raise typer.Exit(EXIT_USAGE) from None
        except KeyboardInterrupt:
            print_error("interrupted (Ctrl-C); no partial result file was written")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except typer.TyperException as e:  # typer's usage errors: bad values, unknown options
            if type(e).__name__ != "NoArgsIsHelpError":  # (that one has printed the help)
                print_error(_usage_message(e))
            code = int(getattr(e, "exit_code", EXIT_USAGE))
        except typer.Abort:
            print_error("aborted")
            code = 1
        else:
            # Non-standalone typer returns the exit code of typer.Exit, or the command's
            # return value (None for ours).
            code = rv if isinstance(rv, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)


# -- shared options ------------------------------------------------------------------------------


class TableFormat(StrEnum):
    """``--format``: which result files to write."""

    csv = "csv"
    parquet = "parquet"
    both = "both"

    @property
    def formats(self) -> tuple[str, ...]:
        return ("csv", "parquet") if self is TableFormat.both else (self.value,)


def _check_overrides(values: list[str] | None) -> list[str]:
    """``--set`` values must look like KEY=VALUE (the config checks KEY and VALUE)."""
    for item in values or []:
        key, eq, _ = item.partition("=")
        if not eq or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE (e.g. --set write.fail_prob=0.02)")
    return list(values or [])


ConfigArgument = Annotated[
    Path,
    typer.Argument(
        metavar="CONFIG", help="Scenario file (TOML, see MODEL.md section 7).", show_default=False
    ),
]
TrialsOption = Annotated[
    int | None,
    typer.Option(
        "--trials",
        min=1,
        metavar="N",
        help="Trials (region-windows) to simulate (default: the config's trials).",
    ),
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed", min=0, metavar="S", help="Root seed of all random streams (default: the config's seed)."
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        callback=_check_overrides,
        help="Override a config key, e.g. --set write.fail_prob=0.02 (VALUE is TOML); repeatable.",
    ),
]
OutOption = Annotated[
    str | None,
    typer.Option(
        "--out",
        metavar="PATH",
        help="Result file path; its suffix is replaced by .csv/.parquet. A directory (existing, or "
        "given with a trailing /) gets <scenario name>.* inside. (default: results/<scenario name>)",
        show_default=False,
    ),
]
FormatOption = Annotated[
    TableFormat,
    typer.Option("--format", case_sensitive=False, help="Result file format(s) to write."),
]
ChunkTrialsOption = Annotated[
    int,
    typer.Option("--chunk-trials", min=1, metavar="N", help="Trials per engine chunk (speed/memory only)."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print no summary.")]
RunMitigationOption = Annotated[
    list[str] | None,
    typer.Option(
        "--mitigation",
        metavar="NAME",
        help="Enable a mitigation of MODEL.md section 5 (parameters from the config's "
        "mitigations.NAME table, else defaults); repeatable, comma-separated or a+b.",
        show_default=False,
    ),
]
EventsOption = Annotated[
    str | None,
    typer.Option(
        "--events",
        metavar="PATH",
        help="Also write one row per simulated event (trial, cell, time, affected endpoints, weight, "
        "duration, impact) to PATH.csv/.parquet.",
        show_default=False,
    ),
]
ExceedanceOption = Annotated[
    str | None,
    typer.Option(
        "--exceedance",
        metavar="PATH",
        help="Also write the loss-exceedance table (threshold_min against P(annual impact > threshold), "
        "with CIs) to PATH.csv/.parquet.",
        show_default=False,
    ),
]


class Estimator(StrEnum):
    """``--estimator``: how p_cell_window (and the estimates resting on it) is estimated."""

    auto = "auto"
    naive = "naive"
    importance = "is"


def _positive(value: float | None) -> float | None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise typer.BadParameter(f"must be a number > 0, got {value}")
    return value


EstimatorOption = Annotated[
    Estimator,
    typer.Option(
        "--estimator",
        case_sensitive=False,
        help="naive: plain Monte Carlo over every cell of each region-window; is: importance "
        "sampling on degraded runs (cell 0 of each tilted window, the region there by exchangeable "
        "cells; README: rare events); auto: is when a 1,000-trial pilot sees fewer than "
        f"{rare.AUTO_NAIVE_HITS} events and expects fewer than "
        f"{rare.AUTO_IS_BELOW:g} (but some) degraded runs per cell-window, else naive.",
    ),
]
TargetOption = Annotated[
    float | None,
    typer.Option(
        "--target-rel-err",
        metavar="X",
        callback=_positive,
        help="Add blocks of 1,000 trials until p_cell_window's CI half-width / estimate <= X with at "
        "least --min-hits events (or until --max-seconds / --max-trials).",
        show_default=False,
    ),
]
MaxSecondsOption = Annotated[
    float | None,
    typer.Option(
        "--max-seconds",
        metavar="S",
        callback=_positive,
        help=f"With --target-rel-err: stop after about S seconds. (default: {rare.DEFAULT_MAX_SECONDS:g})",
        show_default=False,
    ),
]
MaxTrialsOption = Annotated[
    int | None,
    typer.Option(
        "--max-trials",
        min=1,
        metavar="N",
        help=f"With --target-rel-err: stop after N trials. (default: {rare.DEFAULT_MAX_TRIALS:,})",
        show_default=False,
    ),
]
MinHitsOption = Annotated[
    int | None,
    typer.Option(
        "--min-hits",
        min=1,
        metavar="N",
        help=f"With --target-rel-err: events needed before the target may stop the run (for is: "
        "effective events, Kish's (sum w)^2 / sum w^2). "
        f"(default: {rare.DEFAULT_MIN_HITS})",
        show_default=False,
    ),
]


# -- shared steps --------------------------------------------------------------------------------


def load_scenario(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Config:
    """The validated config, or a CliError naming the file or the key."""
    try:
        return load_config(path, overrides)
    except ConfigError as e:
        raise CliError(config_error_message(e, path)) from None


def _safe_name(name: str) -> str:
    """A scenario name usable as a file name (no path separators)."""
    for sep in (os.sep, os.altsep or os.sep, "/"):
        name = name.replace(sep, "_")
    return name.strip() or "results"


def _check_writable(path: Path, option: str) -> None:
    """Fail before a long run if ``path`` obviously cannot be written."""
    try:
        if path.is_dir():
            raise CliError(f"{option} {path}: is a directory")
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if ancestor.exists() and not ancestor.is_dir():
            raise CliError(f"{option} {path}: {ancestor} is not a directory")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise CliError(f"{option} {path}: no permission to write in {ancestor}")
    except OSError as e:
        raise CliError(f"{option} {path}: {e.strerror or e}") from None


def output_base(
    out: str | None, name: str, formats: Sequence[str], option: str = "--out"
) -> tuple[Path, list[Path]]:
    """The base path for :func:`riskmc.tables.write_table` and the files it will write.

    ``out`` None: ``results/<name>``.  An existing directory, or ``out`` ending in a path
    separator: ``<out>/<name>``.  The targets are checked for writability up front.
    """
    if out is not None and not out.strip():
        raise CliError(f"{option} {out!r}: must name a file")
    if out is None or out.endswith(("/", os.sep)) or Path(out).is_dir():
        # Spelt <name>.csv so that only the ".csv" is replaced: a dotted scenario name
        # ("baseline.v2") stays whole.
        directory = DEFAULT_RESULTS_DIR if out is None else Path(out)
        base = directory / f"{_safe_name(name)}.csv"
    else:
        base = Path(out)
        if base.name in ("", ".", ".."):
            raise CliError(f"{option} {out!r}: must name a file")
    paths = table_paths(base, formats)
    for p in paths:
        _check_writable(p, option)
    return base, paths


def save_table(
    rows: Sequence[Mapping[str, Any]] | pl.DataFrame,
    base: Path,
    formats: Sequence[str],
    option: str = "--out",
) -> list[Path]:
    """:func:`riskmc.tables.write_table` (rows or a DataFrame), with a file system failure as a
    CliError naming ``option``."""
    try:
        return write_table(rows, base, formats)
    except OSError as e:
        where = Path(e.filename) if isinstance(e.filename, str) and e.filename else base
        if where.name.endswith(".tmp"):  # the temporary file: name its directory instead
            where = where.parent
        raise CliError(f"{option} {base}: cannot write {where}: {e.strerror or e}") from None


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def trial_progress(
    total: int, description: str, unit: str = "trials"
) -> Iterator[Callable[[int], None] | None]:
    """A progress callback (units done, e.g. the trials of a chunk) drawing a bar on stderr,
    or None.

    The bar (done / total ``unit``, elapsed, ETA) is shown only when stderr is a terminal;
    in CI logs and pipes nothing is drawn.
    """
    if not _stderr_is_terminal():
        yield None
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with progress:
        task = progress.add_task(escape(description), total=total)
        yield lambda n: progress.advance(task, n)


@contextmanager
def target_progress(description: str, target: float) -> Iterator[Callable[[int, float], None] | None]:
    """A progress callback (trials added, current relative error) for a run with a stopping
    rule: trials so far, the relative error against the target, elapsed time (the total is
    not known in advance).  Only when stderr is a terminal."""
    if not _stderr_is_terminal():
        yield None
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,.0f} trials"),
        TextColumn("rel_err {task.fields[rel_err]} (target " + format_number(target) + ")"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with progress:
        task = progress.add_task(escape(description), total=None, rel_err="-")
        yield lambda n, rel: progress.update(task, advance=n, rel_err=format_number(rel, 3))


# -- summaries -----------------------------------------------------------------------------------


def format_number(x: float, digits: int = 4) -> str:
    """``digits`` significant digits; scientific notation for small (< 0.01) or huge values."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if abs(x) < 1e-2 or abs(x) >= 1e6:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def format_estimate(e: Estimate) -> str:
    ci = e.confidence_interval
    level = f"{CONFIDENCE:.0%}"
    return (
        f"{format_number(e.estimate)}  [{level} CI {format_number(ci.low)}, "
        f"{format_number(ci.high)}; {e.method}]"
    )


def _with_ci(row: Mapping[str, Any], name: str) -> str:
    """``value [lo, hi]`` of an estimate's columns in a result row (the value alone for the
    compare reference row)."""
    value = format_number(float(row[name]))
    if row.get(f"{name}_method") == cmp.REFERENCE_METHOD:
        return f"{value} (reference)"
    return f"{value} [{format_number(float(row[f'{name}_lo']))}, {format_number(float(row[f'{name}_hi']))}]"


def print_table(
    headers: Sequence[str], table: Sequence[Sequence[str]], elapsed_s: float, written: Sequence[Path]
) -> None:
    """Columns padded to their widest cell, then the elapsed time and the files written."""
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print(f"elapsed  {elapsed_s:.2f} s")
    for i, path in enumerate(written):
        print(f"{'wrote' if i == 0 else '':<9}{path}")


def print_compare_summary(
    name: str,
    rows: Sequence[Mapping[str, Any]],
    trials: int,
    seed: int,
    elapsed_s: float,
    written: Sequence[Path],
) -> None:
    """A compact plain-text table of a comparison on stdout: one line per scenario."""
    headers = ("scenario", "p_cell_window", "risk_ratio", "plan_age_change_s", "abandoned_runs_per_hour")
    table = [
        (
            str(row["mitigation"]),
            _with_ci(row, "p_cell_window"),
            _with_ci(row, "risk_ratio"),
            _with_ci(row, "plan_age_change_s"),
            format_number(float(row["abandoned_runs_per_hour"])),
        )
        for row in rows
    ]
    level = f"{CONFIDENCE:.0%}"
    methods = [str(r["risk_ratio_method"]) for r in rows if r["risk_ratio_method"] != cmp.REFERENCE_METHOD]
    method = methods[0].split(":")[0] if methods else cmp.RISK_RATIO_METHOD
    estimator = str(rows[0].get("estimator", "naive"))
    print(
        f"compare {name}: {len(rows)} scenarios x {trials:,} trials (seed {seed}), the same trials in each; "
        f"{estimator} estimator"
    )
    print(f"[{level} CI; risk_ratio and plan_age_change_s paired with the baseline: {method}, paired-t]")
    print_table(headers, table, elapsed_s, written)


def print_summary(
    result: ScenarioResult, written: Sequence[Path], notes: Sequence[tuple[str, str]] = ()
) -> None:
    """A short plain-text summary of one run on stdout (``notes``: extra lines after the
    counts, such as the estimator and why the run stopped)."""
    lines: list[tuple[str, str]] = [
        ("scenario", result.config.name),
        ("trials", f"{result.trials:,}  (seed {result.seed})"),
        ("events", f"{result.events:,}"),
        *notes,
    ]
    lines += [(name, format_estimate(e)) for name, e in result.estimates.items()]
    rate = f"{result.trials / result.elapsed_s:,.0f} trials/s" if result.elapsed_s > 0 else "-"
    lines.append(("elapsed", f"{result.elapsed_s:.2f} s  ({rate})"))
    for i, path in enumerate(written):
        lines.append(("wrote" if i == 0 else "", str(path)))
    width = max(len(label) for label, _ in lines) + 2
    for label, text in lines:
        print(f"{label:<{width}}{text}")


# -- the app -------------------------------------------------------------------------------------

app = typer.Typer(
    name="riskmc",
    cls=RiskmcGroup,
    help="Monte Carlo risk estimates for race conditions in automated DNS management.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        print(f"riskmc {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Monte Carlo risk estimates for race conditions in automated DNS management."""


@app.command()
def run(
    config: ConfigArgument,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    overrides: SetOption = None,
    out: OutOption = None,
    fmt: FormatOption = TableFormat.both,
    chunk_trials: ChunkTrialsOption = DEFAULT_CHUNK_TRIALS,
    events: EventsOption = None,
    exceedance: ExceedanceOption = None,
    mitigations: RunMitigationOption = None,
    estimator: EstimatorOption = Estimator.auto,
    target_rel_err: TargetOption = None,
    max_seconds: MaxSecondsOption = None,
    max_trials: MaxTrialsOption = None,
    min_hits: MinHitsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Simulate one scenario; write its results row (CSV and/or Parquet) and a summary.

    A trial is a region-window: region.cells cells observed for window.hours.  The row has
    the cell-level estimates (cell 0 of each region-window) and the region and year ones.
    With --target-rel-err the run adds trials until p_cell_window is that precise.
    """
    cfg = load_scenario(config, overrides or [])
    names = _mitigation_names(mitigations)
    if names:
        try:
            cfg = cmp.with_mitigations(cfg, names)
        except ConfigError as e:
            raise CliError(f"--mitigation: {e.problem}") from None
    if target_rel_err is None:
        for option, value in (
            ("--max-seconds", max_seconds),
            ("--max-trials", max_trials),
            ("--min-hits", min_hits),
        ):
            if value is not None:
                raise CliError(
                    f"{option}: only with --target-rel-err (without it the run takes --trials trials)"
                )
    elif trials is not None:
        raise CliError(
            "--trials: not with --target-rel-err (the target decides; cap the trials with --max-trials)"
        )
    s_seed = cfg.seed if seed is None else seed
    resolved: tuple[str, rare.Proposal | None] = ("naive", None)
    if estimator is not Estimator.naive:
        resolved = rare.resolve_estimator(cfg, s_seed, estimator.value)
    if target_rel_err is not None or resolved[0] != "naive":
        for option, path in (("--events", events), ("--exceedance", exceedance)):
            if path is not None:
                fix = "drop --target-rel-err" if target_rel_err is not None else "add --estimator naive"
                raise CliError(f"{option}: only for a naive run without --target-rel-err ({fix})")
        _run_with_rule(
            cfg, resolved, trials, s_seed, target_rel_err, max_seconds, max_trials, min_hits, out, fmt, quiet
        )
        return
    base, _ = output_base(out, cfg.name, fmt.formats)
    events_base = output_base(events, f"{cfg.name}_events", fmt.formats)[0] if events else None
    exceed_base = output_base(exceedance, f"{cfg.name}_exceedance", fmt.formats)[0] if exceedance else None
    n = cfg.trials if trials is None else trials
    with trial_progress(n, cfg.name) as progress:
        result = run_region_scenario(cfg, trials=n, seed=seed, chunk_trials=chunk_trials, progress=progress)
    written = save_table([result.row()], base, fmt.formats)
    if events_base is not None:
        written += save_table(events_frame(result.results), events_base, fmt.formats, "--events")
    if exceed_base is not None:
        written += save_table(exceedance_frame(result.results), exceed_base, fmt.formats, "--exceedance")
    if not quiet:
        print_summary(result.scenario, written)


def _run_with_rule(
    cfg: Config,
    resolved: tuple[str, rare.Proposal | None],
    trials: int | None,
    seed: int,
    target_rel_err: float | None,
    max_seconds: float | None,
    max_trials: int | None,
    min_hits: int | None,
    out: str | None,
    fmt: TableFormat,
    quiet: bool,
) -> None:
    """``riskmc run`` with importance sampling or a stopping rule (cell 0 of each window)."""
    base, _ = output_base(out, cfg.name, fmt.formats)
    kwargs: dict[str, Any] = {
        "estimator": resolved[0],
        "target_rel_err": target_rel_err,
        "max_seconds": max_seconds,
        "max_trials": trials if target_rel_err is None else max_trials,
        "min_hits": rare.DEFAULT_MIN_HITS if min_hits is None else min_hits,
        "seed": seed,
        "resolved": resolved,
    }
    if target_rel_err is None:
        n = cfg.trials if trials is None else trials
        with trial_progress(n, cfg.name) as bar:
            result = rare.run_adaptive(cfg, progress=(lambda k, _e: bar(k)) if bar else None, **kwargs)
    else:
        with target_progress(cfg.name, target_rel_err) as progress:
            result = rare.run_adaptive(cfg, progress=progress, **kwargs)
    written = save_table([result.row()], base, fmt.formats)
    if quiet:
        return
    p = result.scenario.estimates["p_cell_window"]
    rel_err, ess = p.rel_err, result.scenario.ess
    method = "naive (plain Monte Carlo, every cell of each region-window)"
    if result.proposal is not None:
        method = f"{result.proposal.label}, pilot: {result.proposal.runs_per_window:.1f} runs per cell-window"
    stop = {
        "target": f"target reached: rel_err {format_number(rel_err, 3)} <= "
        f"{format_number(target_rel_err or 0.0, 3)}, {result.scenario.events} >= {result.min_hits} events",
        "max-seconds": "--max-seconds reached before the target",
        "max-trials": "--max-trials reached before the target",
        "trials": "the trials asked for",
    }[result.stopped_by]
    notes = [
        ("estimator", method),
        (
            "ess",
            f"{format_number(ess or 0.0)} (effective hits {format_number(result.effective_hits)})",
        ),
        ("stopped by", stop),
    ]
    print_summary(result.scenario, written, notes)


MitigationOption = Annotated[
    list[str] | None,
    typer.Option(
        "--mitigation",
        metavar="NAME",
        help="Scenario to compare with the baseline: a mitigation of MODEL.md section 5, or a "
        "combination such as recheck+deadline; repeatable, or comma-separated. "
        "(default: each mitigation alone)",
        show_default=False,
    ),
]
CompareOutOption = Annotated[
    str | None,
    typer.Option(
        "--out",
        metavar="PATH",
        help="Result file path; its suffix is replaced by .csv/.parquet. A directory (existing, or "
        "given with a trailing /) gets <scenario name>_compare.* inside. "
        "(default: results/<scenario name>_compare)",
        show_default=False,
    ),
]


def _mitigation_names(values: Sequence[str] | None) -> list[str] | None:
    """``--mitigation`` values split at commas; None when not given (compare every one)."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",")]


@app.command()
def compare(
    config: ConfigArgument,
    mitigations: MitigationOption = None,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    overrides: SetOption = None,
    out: CompareOutOption = None,
    fmt: FormatOption = TableFormat.both,
    chunk_trials: ChunkTrialsOption = DEFAULT_CHUNK_TRIALS,
    estimator: EstimatorOption = Estimator.auto,
    quiet: QuietOption = False,
) -> None:
    """Compare mitigations with the baseline on the same trials (common random numbers).

    The baseline (every mitigation removed) and each scenario run on the same trials and seed
    (with importance sampling: also the same proposal, from the baseline's pilot).

    One row per scenario: the estimates of 'riskmc run', plus paired with the baseline:

    risk_ratio, plan_age_change_s and impact_reduction_min.

    Parameters come from the config's mitigations.NAME tables (enabled or not), else defaults.
    """
    cfg = load_scenario(config, overrides or [])
    names = _mitigation_names(mitigations)
    try:
        if names is not None:
            cmp.parse_names(names)
    except ConfigError as e:
        raise CliError(f"--mitigation: {e.problem}") from None
    scenario_list = cmp.scenarios(cfg, names)
    base, _ = output_base(out, f"{cfg.name}_compare", fmt.formats)
    n = cfg.trials if trials is None else trials
    s = cfg.seed if seed is None else seed
    start = time.perf_counter()
    try:
        resolved: tuple[str, rare.Proposal | None] = ("naive", None)
        if estimator is not Estimator.naive:
            resolved = rare.resolve_estimator(scenario_list[0][1], s, estimator.value)
        with trial_progress(n * len(scenario_list), f"{cfg.name} compare") as progress:
            if resolved[0] == "is":
                rows = cmp.compare_weighted(scenario_list, n, s, progress, resolved)
            else:
                rows = cmp.compare_scenarios(scenario_list, n, s, progress, chunk_trials=chunk_trials)
    except NotImplementedError as e:
        raise CliError(
            f"not yet supported by the vectorized engine: {e} (choose other scenarios with --mitigation)"
        ) from None
    elapsed = time.perf_counter() - start
    written = save_table(rows, base, fmt.formats)
    if not quiet:
        print_compare_summary(cfg.name, rows, n, s, elapsed, written)


TrialOption = Annotated[
    int | None,
    typer.Option("--trial", min=0, metavar="I", help="Trial to show (default: the first with an event)."),
]
SearchOption = Annotated[
    int,
    typer.Option("--search-trials", min=1, metavar="N", help="Trials to search for an event."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the timeline as JSON for tools.")]


@app.command()
def explain(
    config: ConfigArgument,
    seed: SeedOption = None,
    overrides: SetOption = None,
    trial: TrialOption = None,
    mitigations: MitigationOption = None,
    search: SearchOption = 200_000,
    as_json: JsonOption = False,
) -> None:
    """Show one empty-record event as a timeline, the way the post-mortem tells it.

    Finds the first trial with an event (or takes --trial), replays it in the exact reference
    simulator with the same random numbers, and prints which Enactor took which plan when,
    the start-time checks, the slow writes, the other Enactor's run and clean-up, and the
    endpoint that went empty.  With --mitigation NAME, the same trial (same delays) is
    replayed under that mitigation too.
    """
    cfg = load_scenario(config, overrides or [])
    s = cfg.seed if seed is None else seed
    names = _mitigation_names(mitigations) or []
    try:
        alternatives = cmp.scenarios(cfg, names)[1:] if names else []
    except ConfigError as e:
        raise CliError(f"--mitigation: {e.problem}") from None
    if trial is None:
        trial = ex.find_event_trial(cfg, s, search)
        if trial is None:
            raise CliError(f"no empty-record event in the first {search:,} trials of {cfg.name}", exit_code=1)
    main = ex.replay(cfg, s, trial)
    replays = [(label, ex.replay(alt, s, trial)) for label, alt in alternatives]
    if as_json:
        doc = {**main.to_json(), "mitigations": {label: r.to_json() for label, r in replays}}
        print(json.dumps(doc, indent=1))
        return
    print(ex.narrate(main))
    for label, rep in replays:
        print(f"\nthe same trial, the same delays, with {label}:")
        print(ex.narrate(rep, like=main))


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
    elif out.endswith(("/", os.sep)) or Path(out).is_dir():
        path = Path(out) / f"{results.stem}.png"
    else:
        path = Path(out)
        if path.name in ("", ".", ".."):
            raise CliError(f"--out {out!r}: must name a file")
        path = path.with_suffix(".png")
    _check_writable(path, "--out")
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
    table = _read_results(results)
    chosen = _plot_kind(kind, table, results, x, y, hue, logx is not None or logy is not None)
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
    try:
        plots.save_png(fig, path)
    except OSError as e:
        where = Path(e.filename) if isinstance(e.filename, str) and e.filename else path
        if where.name.endswith(".tmp"):
            where = where.parent
        raise CliError(f"--out {path}: cannot write {where}: {e.strerror or e}") from None
    if not quiet:
        print(f"wrote {path}")


GridOption = Annotated[
    list[str] | None,
    typer.Option(
        "--grid",
        metavar="KEY=V1,V2",
        help="Sweep KEY over the listed values (TOML, as in --set); repeatable: the cartesian product.",
        show_default=False,
    ),
]
LhsOption = Annotated[
    int | None,
    typer.Option(
        "--lhs",
        min=1,
        metavar="N",
        help="Sweep N points of a Latin hypercube (or --sobol) over the --range keys.",
        show_default=False,
    ),
]
RangeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--range",
        metavar="KEY=LO:HI[:log]",
        help="With --lhs: the range of KEY, log-spaced with :log; repeatable. Counts are rounded.",
        show_default=False,
    ),
]
SobolOption = Annotated[bool, typer.Option("--sobol", help="With --lhs: a scrambled Sobol' sequence.")]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        metavar="N",
        help="Local processes running points in parallel (results are identical). Not with --scheduler. "
        "(default: all cores)",
        show_default=False,
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="Run the points on an existing dask.distributed cluster, e.g. tcp://10.0.0.5:8786 (results are "
        "identical; needs pip install 'riskmc\\[dask]' here and riskmc on the workers). Not with --workers.",
        show_default=False,
    ),
]
OuterOption = Annotated[
    int | None,
    typer.Option(
        "--outer",
        min=1,
        metavar="N",
        help="Nested uncertainty: N Latin-hypercube draws of the parameters given as distribution tables, "
        "each run on the same trials and seed; one row per draw plus a summary (5th/50th/95th "
        "percentiles, mean Monte Carlo half-width). Not with --grid/--lhs.",
        show_default=False,
    ),
]
ResumeOption = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Reuse the rows of the existing output whose config_hash, seed and trials match a point.",
    ),
]
SweepOutOption = Annotated[
    str | None,
    typer.Option(
        "--out",
        metavar="PATH",
        help="Result file path; its suffix is replaced by .csv/.parquet. A directory (existing, or "
        "given with a trailing /) gets <scenario name>_sweep.* (_outer.* with --outer) inside; --outer "
        "adds <PATH>_summary.*. (default: results/<scenario name>_sweep or _outer)",
        show_default=False,
    ),
]


def _sweep_points(
    grid: Sequence[str] | None, lhs: int | None, ranges: Sequence[str] | None, sobol: bool, seed: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """The sweep's points and swept keys from the options, or a CliError."""
    if grid and (lhs is not None or ranges):
        raise CliError("--grid and --lhs/--range exclude each other: give one kind of sweep")
    if not grid and lhs is None:
        raise CliError("give the points to sweep: --grid KEY=V1,V2 ... or --lhs N --range KEY=LO:HI ...")
    if grid:
        if sobol:
            raise CliError("--sobol applies to --lhs only")
        try:
            points = sw.grid_points(grid)
        except sw.SweepError as e:
            raise CliError(f"--grid {e}") from None
        return points, [sw.parse_grid(g)[0] for g in grid]
    assert lhs is not None
    if not ranges:
        raise CliError("--lhs needs at least one --range KEY=LO:HI[:log]")
    try:
        points = sw.lhs_points(ranges, lhs, seed, "sobol" if sobol else "lhs")
    except sw.SweepError as e:
        raise CliError(f"--range {e}") from None
    return points, [sw.parse_range(r).key for r in ranges]


def _read_existing(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The rows of the first existing output file (for --resume); none if there is none."""
    for path in paths:
        if path.exists():
            try:
                return read_table(path).to_dicts()
            except (OSError, ValueError, pl.exceptions.PolarsError) as e:
                raise CliError(f"--resume: cannot read {path}: {one_line(e)}") from None
    return []


def _cell(value: object) -> str:
    return format_number(value) if isinstance(value, float) else "" if value is None else str(value)


def print_sweep_summary(
    name: str,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    trials: int,
    seed: int,
    ran: int,
    elapsed_s: float,
    written: Sequence[Path],
) -> None:
    """A plain-text table of a sweep on stdout: one line per point, swept keys and p_cell_window."""
    headers = ("point", *keys, "p_cell_window")
    table = [
        (
            str(row["point"]),
            *(_cell(row.get(k)) for k in keys),
            _with_ci(row, "p_cell_window"),
        )
        for row in rows
    ]
    level = f"{CONFIDENCE:.0%}"
    print(
        f"sweep {name}: {len(rows)} points x {trials:,} trials (seed {seed}), the same trials at every "
        f"point; {ran} run, {len(rows) - ran} reused"
    )
    print(f"[{level} CI]")
    print_table(headers, table, elapsed_s, written)


def print_outer_summary(
    name: str,
    summary: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    trials: int,
    seed: int,
    ran: int,
    reused: int,
    elapsed_s: float,
    written: Sequence[Path],
) -> None:
    """The --outer summary on stdout: per estimate, its percentiles over the draws and the mean
    Monte Carlo half-width within a draw."""
    draws = int(summary[0]["draws"]) if summary else 0
    print(
        f"outer {name}: {draws} draws of {', '.join(keys)} x {trials:,} trials (seed {seed}), the same "
        f"trials at every draw; {ran} run, {reused} reused"
    )
    headers = ("estimate", "p05", "p50", "p95", "MC half-width (mean)")
    table = [
        (
            str(row["estimate"]),
            *(_cell(row[c]) for c in ("p05", "p50", "p95", "mc_half_width_mean")),
        )
        for row in summary
    ]
    print_table(headers, table, elapsed_s, written)


def _outer_points(
    cfg: Config,
    outer: int,
    seed: int,
    grid: Sequence[str] | None,
    lhs: int | None,
    ranges: Sequence[str] | None,
    sobol: bool,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The --outer draws and their keys, or a CliError."""
    if grid or lhs is not None or ranges or sobol:
        raise CliError(
            "--outer excludes --grid/--lhs/--range/--sobol: it draws the configuration's own distribution "
            "parameters (fix other keys with --set, one sweep per setting)"
        )
    try:
        points = outer_mod.outer_points(cfg, outer, seed)
    except outer_mod.OuterError as e:
        raise CliError(f"--outer: {e}") from None
    return points, [p.key for p in outer_mod.outer_parameters(cfg)]


def _executor(workers: int | None, scheduler: str | None) -> exe.LocalExecutor | exe.DaskExecutor:
    if scheduler is not None:
        if workers is not None:
            raise CliError(
                "--workers and --scheduler exclude each other: with --scheduler the cluster's workers run "
                "the points"
            )
        try:
            return exe.DaskExecutor(scheduler)
        except exe.ExecutorError as e:
            raise CliError(f"--scheduler {scheduler!r}: {e}") from None
    return exe.LocalExecutor(workers if workers is not None else max(1, os.cpu_count() or 1))


@app.command()
def sweep(
    config: ConfigArgument,
    grid: GridOption = None,
    lhs: LhsOption = None,
    ranges: RangeOption = None,
    sobol: SobolOption = False,
    outer: OuterOption = None,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    overrides: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    out: SweepOutOption = None,
    fmt: FormatOption = TableFormat.both,
    chunk_trials: ChunkTrialsOption = DEFAULT_CHUNK_TRIALS,
    resume: ResumeOption = False,
    quiet: QuietOption = False,
) -> None:
    """Sweep parameters over a grid or a space-filling design; one results row per point.

    Every point runs on the same trials and seed (common random numbers).  The output is
    rewritten (atomically) as each point finishes, so an interrupted sweep leaves a valid
    table, and --resume skips the points already in it (same config_hash, seed and trials).

    --outer N instead draws the parameters given as distribution tables N times (nested
    uncertainty): one row per draw, and a summary of each estimate over the draws.
    """
    cfg = load_scenario(config, overrides or [])
    n = cfg.trials if trials is None else trials
    s = cfg.seed if seed is None else seed
    executor = _executor(workers, scheduler)
    if outer is not None:
        points, keys = _outer_points(cfg, outer, s, grid, lhs, ranges, sobol)
        index_column, kind = "outer", "outer"
    else:
        points, keys = _sweep_points(grid, lhs, ranges, sobol, s)
        index_column, kind = "point", "sweep"
    base, paths = output_base(out, f"{cfg.name}_{kind}", fmt.formats)
    summary_base = paths[0].with_name(f"{paths[0].stem}_summary.csv")
    if outer is not None:
        for path in table_paths(summary_base, fmt.formats):
            _check_writable(path, "--out")
    existing = _read_existing(paths) if resume else []
    plan = sw.plan_sweep(
        cfg, points, n, s, chunk_trials=chunk_trials, existing=existing, index_column=index_column
    )
    done: dict[int, dict[str, object]] = dict(plan.reused)
    ran = 0
    written: list[Path] = []

    def finished(row: dict[str, object]) -> None:
        nonlocal ran, written
        ran += 1
        done[int(str(row[index_column]))] = row
        written = save_table([done[i] for i in sorted(done)], base, fmt.formats)

    skipped = f" ({len(plan.reused)} resumed, skipped)" if plan.reused else ""
    start = time.perf_counter()
    try:
        with executor:
            with trial_progress(len(plan.tasks), f"{cfg.name} {kind}{skipped}", unit="points") as progress:
                rows = sw.run_plan(plan, executor, progress, finished)
    except exe.ExecutorError as e:
        kept = f"; {ran} finished point(s) are in {base} (--resume continues)" if ran else ""
        raise CliError(f"--scheduler {scheduler!r}: {e}{kept}") from None
    except KeyboardInterrupt:
        kept = f"{ran} finished point(s) are in {base}" if ran else "no point finished; nothing was written"
        raise CliError(f"interrupted (Ctrl-C); {kept} (--resume continues)", EXIT_INTERRUPTED) from None
    elapsed = time.perf_counter() - start
    if not written or ran == 0:
        written = save_table(rows, base, fmt.formats)
    if outer is None:
        if not quiet:
            print_sweep_summary(cfg.name, rows, keys, n, s, ran, elapsed, written)
        return
    summary = outer_mod.outer_summary(rows, keys)
    written += save_table(summary, summary_base, fmt.formats)
    if not quiet:
        print_outer_summary(cfg.name, summary, keys, n, s, ran, len(plan.reused), elapsed, written)


SensitivityRangeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--range",
        metavar="KEY=LO:HI[:log]",
        help="An uncertain input: uniform on [LO, HI], log-uniform with :log; repeatable (at least one).",
        show_default=False,
    ),
]
BaseSamplesOption = Annotated[
    int,
    typer.Option(
        "--n", min=2, metavar="N", help="Base sample size, a power of 2: the model runs N*(d+2) times."
    ),
]


@app.command()
def sensitivity(
    config: ConfigArgument,
    ranges: SensitivityRangeOption = None,
    n: BaseSamplesOption = 16,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    overrides: SetOption = None,
    out: OutOption = None,
    fmt: FormatOption = TableFormat.both,
    quiet: QuietOption = False,
) -> None:
    """First-order and total Sobol' indices of log10 p_cell_window and of the annual impact.

    Every model run uses the same trials and seed (common random numbers), so the indices
    measure the inputs, not Monte Carlo noise between points.  Intervals: BCa bootstrap
    over the N base samples.  The model runs N*(d+2) times (d = number of --range).
    """
    cfg = load_scenario(config, overrides or [])
    if not ranges:
        raise CliError("--range: give at least one KEY=LO:HI[:log]")
    if n & (n - 1):
        raise CliError(f"--n: must be a power of 2, got {n}")
    try:
        specs = [sw.parse_range(r) for r in ranges]
    except sw.SweepError as e:
        raise CliError(f"--range: {e}") from None
    for r in specs:  # an unknown key or an impossible value: one line before any run
        cfg.with_overrides([f"{r.key}={r.value(0.0)}", f"{r.key}={r.value(1.0)}"])
    box = {r.key: (r.lo, r.hi, r.log) for r in specs}
    t = cfg.trials if trials is None else trials
    s = cfg.seed if seed is None else seed
    base, _ = output_base(out, f"{cfg.name}_sensitivity", fmt.formats)
    model = sens.riskmc_model(cfg, list(box), trials=t, seed=s)
    result = sens.sobol_indices(model, box, n, seed=s)
    rows = sens.sensitivity_rows(result, output_names=list(sens.DEFAULT_OUTPUTS))
    written = save_table(rows, base, fmt.formats)
    if quiet:
        return
    print(f"{cfg.name}: Sobol' indices, {result.n_evaluations} model runs of {t:,} trials (seed {s})")
    for row in rows:
        s1 = f"{format_number(row['first_order'])} [{format_number(row['first_order_lo'])}, "  # type: ignore[arg-type]
        s1 += f"{format_number(row['first_order_hi'])}]"  # type: ignore[arg-type]
        st = f"{format_number(row['total_order'])} [{format_number(row['total_order_lo'])}, "  # type: ignore[arg-type]
        st += f"{format_number(row['total_order_hi'])}]"  # type: ignore[arg-type]
        print(f"  {row['output']:<22} {row['input']:<28} S1 {s1:<28} ST {st}")
    for path in written:
        print(f"wrote {path}")


CalibrateOutOption = Annotated[
    str | None,
    typer.Option(
        "--out",
        metavar="PATH",
        help="Result file path (suffix replaced by .csv/.parquet); the curve goes to PATH_curve.*. "
        "(default: results/<scenario name>_calibration)",
        show_default=False,
    ),
]


@app.command()
def calibrate(
    config: ConfigArgument,
    param: Annotated[
        str,
        typer.Option("--param", metavar="KEY", help="The real-valued key to calibrate, e.g. degraded.prob."),
    ],
    observed_events: Annotated[
        int,
        typer.Option("--observed-events", min=1, metavar="N", help="Events observed over the exposure."),
    ],
    exposure_cell_hours: Annotated[
        float,
        typer.Option(
            "--exposure-cell-hours",
            metavar="X",
            callback=_positive,
            help="Cell-hours of operation over which they were observed (cells x hours).",
        ),
    ],
    low: Annotated[
        float | None,
        typer.Option(
            "--low",
            metavar="V",
            callback=_positive,
            help="Grid's low end (default: value / 1000).",
            show_default=False,
        ),
    ] = None,
    high: Annotated[
        float | None,
        typer.Option(
            "--high",
            metavar="V",
            callback=_positive,
            help="Grid's high end (default: value x 1000, at most 0.5 for a probability).",
            show_default=False,
        ),
    ] = None,
    points: Annotated[
        int, typer.Option("--points", min=3, metavar="N", help="Grid points (log-spaced).")
    ] = cal.DEFAULT_POINTS,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    overrides: SetOption = None,
    estimator: EstimatorOption = Estimator.auto,
    out: CalibrateOutOption = None,
    fmt: FormatOption = TableFormat.both,
    quiet: QuietOption = False,
) -> None:
    """Find the value of one parameter at which the expected events over an exposure equal
    the observed count, with a 95% interval (exact Poisson for the count, widened by the
    Monte Carlo error of the curve)."""
    cfg = load_scenario(config, overrides or [])
    base, _ = output_base(out, f"{cfg.name}_calibration", fmt.formats)
    # the curve beside the row: <dir>/<name>_calibration_curve.*, or PATH_curve.* for --out PATH
    curve_out = out
    if out is not None and not (out.endswith(("/", os.sep)) or Path(out).is_dir()):
        curve_out = str(Path(out).with_name(Path(out).stem + "_curve" + Path(out).suffix))
    curve_base, _ = output_base(curve_out, f"{cfg.name}_calibration_curve", fmt.formats)
    try:
        with trial_progress(points, f"calibrate {param}", "points") as progress:
            result = cal.calibrate(
                cfg,
                param,
                observed_events,
                exposure_cell_hours,
                low=low,
                high=high,
                points=points,
                trials=trials,
                seed=seed,
                estimator=estimator.value,
                progress=progress,
            )
    except cal.CalibrationError as e:
        raise CliError(str(e)) from None
    except ConfigError as e:
        raise CliError(config_error_message(e)) from None
    written = save_table([result.row()], base, fmt.formats)
    written += save_table(result.curve, curve_base, fmt.formats)
    if quiet:
        return
    v = result.value
    lines = [
        ("config", f"{cfg.name}  ({result.estimator} estimator, seed {result.seed})"),
        ("trials", f"{result.trials:,} per grid point, {points} points"),
        ("observed", f"{observed_events} event(s) over {format_number(exposure_cell_hours)} cell-hours"),
        (param, format_estimate(v)),
        ("elapsed", f"{result.elapsed_s:.1f} s"),
    ]
    for i, path in enumerate(written):
        lines.append(("wrote" if i == 0 else "", str(path)))
    width = max(len(label) for label, _ in lines) + 2
    for label, text in lines:
        print(f"{label:<{width}}{text}")


@app.command()
def version() -> None:
    """Print the riskmc version."""
    print(f"riskmc {__version__}")
