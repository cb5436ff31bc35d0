"""``riskmc sweep CONFIG``: grids, space-filling designs and nested uncertainty (``--outer``)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from riskmc.cli.budget import check_size, spread
from riskmc.cli.core import CliError, app, command_line, interruption
from riskmc.cli.files import check_writable, load_scenario, output_base, read_existing, save_table
from riskmc.cli.options import (
    DEFAULT_DEFENSIVE,
    MAX_POINTS,
    ConfigArgument,
    DefensiveOption,
    Estimator,
    EstimatorOption,
    FormatOption,
    JsonRowsOption,
    MemoryBudgetOption,
    QuietOption,
    SeedOption,
    SetOption,
    TableFormat,
    TrialsOption,
    default_threads,
)
from riskmc.cli.progress import trial_progress
from riskmc.cli.split_run import ReplicatesOption, check_split_points, split_spec
from riskmc.cli.summaries import CONFIDENCE, format_number, print_json, print_table, with_ci
from riskmc.cli.workers import SchedulerOption, WorkersOption, executor_for

if TYPE_CHECKING:
    from riskmc.config import Config

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
        max=MAX_POINTS,
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
OuterOption = Annotated[
    int | None,
    typer.Option(
        "--outer",
        min=1,
        max=MAX_POINTS,
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
    sw: Any, grid: Sequence[str] | None, lhs: int | None, ranges: Sequence[str] | None, sobol: bool, seed: int
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


def _cell(value: object) -> str:
    return format_number(value) if isinstance(value, float) else "" if value is None else str(value)


def print_sweep_summary(
    name: str,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    size: str,
    seed: int,
    ran: int,
    elapsed_s: float,
    written: Sequence[Path],
) -> None:
    """A plain-text table of a sweep on stdout: one line per point, swept keys and p_cell_window.
    ``size``: what each point ran ("5,000 trials", "20 split replicates")."""
    headers = ("point", *keys, "p_cell_window")
    table = [
        (
            str(row["point"]),
            *(_cell(row.get(k)) for k in keys),
            with_ci(row, "p_cell_window"),
        )
        for row in rows
    ]
    level = f"{CONFIDENCE:.0%}"
    print(
        f"sweep {name}: {len(rows)} points x {size} (seed {seed}), the same random numbers at every "
        f"point; {ran} run, {len(rows) - ran} reused"
    )
    print(f"[{level} CI]")
    print_table(headers, table, elapsed_s, written)


def print_outer_summary(
    name: str,
    summary: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    size: str,
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
        f"outer {name}: {draws} draws of {', '.join(keys)} x {size} (seed {seed}), the same "
        f"random numbers at every draw; {ran} run, {reused} reused"
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
    outer_mod: Any,
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
    estimator: EstimatorOption = Estimator.auto,
    defensive: DefensiveOption = DEFAULT_DEFENSIVE,
    resume: ResumeOption = False,
    memory_budget: MemoryBudgetOption = None,
    as_json: JsonRowsOption = False,
    quiet: QuietOption = False,
    replicates: ReplicatesOption = None,
) -> None:
    """Sweep parameters over a grid or a space-filling design; one results row per point.

    Every point runs on the same trials, seed and estimator plan (resolved once, on the base
    configuration): common random numbers.  The output is
    rewritten (atomically) as each point finishes, so an interrupted sweep leaves a valid
    table, and --resume skips the points already in it (same config_hash, seed and trials).

    --outer N instead draws the parameters given as distribution tables N times (nested
    uncertainty): one row per draw, and a summary of each estimate over the draws.

    With --estimator split every point estimates p_cell_window alone, by --replicates
    splitting replicates on the same seed (docs/model.md section 8, "split").
    """
    from riskmc import estimators
    from riskmc import execute as exe
    from riskmc import outer as outer_mod
    from riskmc import sweep as sw
    from riskmc.tables import table_paths

    cfg = load_scenario(config, overrides or [])
    n = cfg.trials if trials is None else trials
    s = cfg.seed if seed is None else seed
    spec = split_spec(estimator, trials, defensive, replicates, "each point")
    executor = executor_for(workers, scheduler, default_threads())
    if outer is not None:
        points, keys = _outer_points(outer_mod, cfg, outer, s, grid, lhs, ranges, sobol)
        index_column, kind = "outer", "outer"
    else:
        points, keys = _sweep_points(sw, grid, lhs, ranges, sobol, s)
        index_column, kind = "point", "sweep"
    base, paths = output_base(out, f"{cfg.name}_{kind}", fmt.formats)
    summary_base = paths[0].with_name(f"{paths[0].stem}_summary.csv")
    if outer is not None:
        for path in table_paths(summary_base, fmt.formats):
            check_writable(path, "--out")
    # one point's sample is held by each process at a time; every row until the table is written
    local = getattr(executor, "workers", 1)
    if spec is None:
        check_size(
            cfg,
            s,
            memory_budget,
            windows_kept=n,
            windows_total=n * len(points),
            option="--trials" if trials is not None else "trials",
            processes=min(local, len(points)),
            rows=len(points),
            points=[(f"{index_column} {i}", sw.point_config(cfg, points[i])) for i in spread(len(points))],
        )
    else:
        corners = [sw.point_config(cfg, points[i]) for i in spread(len(points))]
        check_split_points(corners, s, spec, min(local, len(points)), memory_budget, len(points))
    existing = read_existing(paths, index_column) if resume else []
    estimator_plan = (
        estimators.resolve(cfg, s, estimator.value, defensive=defensive) if spec is None else spec
    )
    plan = sw.plan_sweep(cfg, points, n, s, plan=estimator_plan, existing=existing, index_column=index_column)
    from riskmc.provenance import provenance

    meta = provenance(
        cfg, seed=s, estimator=estimator_plan.short, command=command_line(), extra={"points": len(points)}
    )
    done: dict[int, dict[str, object]] = dict(plan.reused)
    ran = 0
    written: list[Path] = []

    def finished(row: dict[str, object]) -> None:
        nonlocal ran, written
        ran += 1
        done[int(str(row[index_column]))] = row
        written = save_table([done[i] for i in sorted(done)], base, fmt.formats, metadata=meta)

    skipped = f" ({len(plan.reused)} resumed, skipped)" if plan.reused else ""
    start = time.perf_counter()
    try:
        with executor:
            with trial_progress(len(plan.tasks), f"{cfg.name} {kind}{skipped}", unit="points") as progress:
                rows = sw.run_plan(plan, executor, progress, finished)
    except exe.ExecutorError as e:
        kept = f"; {ran} finished point(s) are in {base} (--resume continues)" if ran else ""
        raise CliError(f"--scheduler {scheduler!r}: {e}{kept}") from None
    except KeyboardInterrupt as e:
        what, code = interruption(e)
        kept = f"{ran} finished point(s) are in {base}" if ran else "no point finished; nothing was written"
        raise CliError(f"interrupted ({what}); {kept} (--resume continues)", code) from None
    elapsed = time.perf_counter() - start
    size = f"{n:,} trials" if spec is None else f"{spec.replicates:,} split replicates"
    if not written or ran == 0:
        written = save_table(rows, base, fmt.formats, metadata=meta)
    if outer is None:
        if as_json:
            print_json(rows)
        elif not quiet:
            print_sweep_summary(cfg.name, rows, keys, size, s, ran, elapsed, written)
        return
    summary = outer_mod.outer_summary(rows, keys)
    written += save_table(summary, summary_base, fmt.formats, metadata=meta)
    if as_json:  # the draws and their summary: {"draws": [...], "summary": [...]}
        print_json({"draws": rows, "summary": summary})
    elif not quiet:
        print_outer_summary(cfg.name, summary, keys, size, s, ran, len(plan.reused), elapsed, written)
