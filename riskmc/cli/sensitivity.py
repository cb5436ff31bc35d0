"""``riskmc sensitivity CONFIG``: Sobol' indices of log10 p_cell_window and the annual impact."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from riskmc.cli.budget import check_size, spread
from riskmc.cli.core import CliError, app, command_line
from riskmc.cli.files import load_scenario, output_base, save_table
from riskmc.cli.options import (
    DEFAULT_DEFENSIVE,
    MAX_POINTS,
    BaseSamplesOption,
    ConfigArgument,
    DefensiveOption,
    Estimator,
    EstimatorOption,
    FormatOption,
    MemoryBudgetOption,
    QuietOption,
    SeedOption,
    SensitivityRangeOption,
    SetOption,
    TableFormat,
    TrialsOption,
    default_threads,
    out_help,
)
from riskmc.cli.progress import trial_progress
from riskmc.cli.split_run import ReplicatesOption, check_split_points, split_spec
from riskmc.cli.summaries import format_number
from riskmc.cli.workers import SchedulerOption, WorkersOption, executor_for

if TYPE_CHECKING:
    from riskmc.config import Config
    from riskmc.estimators import Plan
    from riskmc.estimators.split import SplitSpec

SensitivityOutOption = Annotated[
    str | None, typer.Option("--out", metavar="PATH", help=out_help("_sensitivity"), show_default=False)
]


def _corners(cfg: Config, specs: list[Any]) -> list[tuple[str, Config]]:
    """The corners of the --range box (the extremes of every input together), spread."""
    combos = list(itertools.product((0.0, 1.0), repeat=len(specs))) if len(specs) <= 11 else []
    combos = [combos[i] for i in spread(len(combos))] + [(0.0,) * len(specs), (1.0,) * len(specs)]
    out = []
    for combo in combos:
        sets = [f"{r.key}={r.value(u)}" for r, u in zip(specs, combo, strict=True)]
        out.append(("the --range corner " + ", ".join(sets), cfg.with_overrides(sets)))
    return out


@app.command()
def sensitivity(
    config: ConfigArgument,
    ranges: SensitivityRangeOption = None,
    n: BaseSamplesOption = 16,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    overrides: SetOption = None,
    estimator: EstimatorOption = Estimator.auto,
    defensive: DefensiveOption = DEFAULT_DEFENSIVE,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    out: SensitivityOutOption = None,
    fmt: FormatOption = TableFormat.both,
    memory_budget: MemoryBudgetOption = None,
    quiet: QuietOption = False,
    replicates: ReplicatesOption = None,
) -> None:
    """First-order and total Sobol' indices of log10 p_cell_window and of the annual impact.

    Every model run uses the same trials, seed and estimator plan (resolved once, on the
    base configuration): common random numbers, so the indices measure the inputs, not Monte
    Carlo noise between points.  Intervals: BCa bootstrap over the N base samples.  The
    model runs N*(d+2) times (d = number of --range).  An output without variance, or
    undefined at some point, has undefined (NaN) indices, the reason in the method column.

    With --estimator split every model run is --replicates splitting replicates, and the
    output is log10 p_cell_window alone (docs/model.md section 8, "split").
    """
    from riskmc import estimators
    from riskmc import sensitivity as sens
    from riskmc import sweep as sw

    cfg = load_scenario(config, overrides or [])
    spec = split_spec(estimator, trials, defensive, replicates, "each model run")
    if not ranges:
        raise CliError("--range: give at least one KEY=LO:HI[:log]")
    if n & (n - 1):
        raise CliError(f"--n: must be a power of 2, got {n}")
    try:
        specs = [sw.parse_range(r) for r in ranges]
        sw.check_unique([r.key for r in specs])
    except sw.SweepError as e:
        raise CliError(f"--range: {e}") from None
    for r in specs:  # an unknown key or an impossible value: one line before any run
        cfg.with_overrides([f"{r.key}={r.value(0.0)}", f"{r.key}={r.value(1.0)}"])
    box = {r.key: (r.lo, r.hi, r.log) for r in specs}
    t = cfg.trials if trials is None else trials
    s = cfg.seed if seed is None else seed
    base, _ = output_base(out, f"{cfg.name}_sensitivity", fmt.formats)
    runs = n * (len(box) + 2)
    if runs > MAX_POINTS:
        raise CliError(
            f"--n: {n} x ({len(box)} ranges + 2) = {runs:,} model runs; the limit is {MAX_POINTS:,}"
        )
    executor = executor_for(workers, scheduler, 1)
    processes = min(getattr(executor, "workers", 1), runs)
    if spec is None:
        check_size(
            cfg,
            s,
            memory_budget,
            windows_kept=t,
            windows_total=t * runs,
            option="--trials" if trials is not None else "trials",
            rows=runs,
            processes=processes,
            points=_corners(cfg, specs),
        )
        plan: Plan | SplitSpec = estimators.resolve(cfg, s, estimator.value, defensive=defensive)
    else:
        if workers is None and scheduler is None:  # this process: its replicates on every core
            spec = replace(spec, threads=default_threads())
        corners = [c for _, c in _corners(cfg, specs)]
        check_split_points(corners, s, spec, max(processes, spec.threads), memory_budget, runs)
        plan = spec
    outputs = sens.DEFAULT_OUTPUTS if spec is None else sens.SPLIT_OUTPUTS
    from riskmc.execute import ExecutorError

    try:
        with executor, trial_progress(runs, f"{cfg.name} sensitivity", "model runs") as progress:
            model = sens.riskmc_model(
                cfg, list(box), outputs, trials=t, seed=s, plan=plan, progress=progress, executor=executor
            )
            result = sens.sobol_indices(model, box, n, seed=s)
    except ExecutorError as e:
        raise CliError(f"--scheduler {scheduler!r}: {e}") from None
    rows = sens.sensitivity_rows(result, output_names=list(outputs))
    from riskmc.provenance import provenance

    meta = provenance(
        cfg, seed=s, estimator=plan.short, command=command_line(), extra={"ranges": " ".join(ranges), "n": n}
    )
    written = save_table(rows, base, fmt.formats, metadata=meta)
    if quiet:
        return
    size = f"{t:,} trials" if spec is None else f"{spec.replicates:,} split replicates"
    print(f"{cfg.name}: Sobol' indices, {result.n_evaluations} model runs of {size} (seed {s}, {plan.short})")
    for o, name in enumerate(outputs):
        if result.reason(o):
            print(f"  {name}: {result.reason(o)}")
    for row in rows:
        s1 = f"{format_number(row['first_order'])} [{format_number(row['first_order_lo'])}, "  # type: ignore[arg-type]
        s1 += f"{format_number(row['first_order_hi'])}]"  # type: ignore[arg-type]
        st = f"{format_number(row['total_order'])} [{format_number(row['total_order_lo'])}, "  # type: ignore[arg-type]
        st += f"{format_number(row['total_order_hi'])}]"  # type: ignore[arg-type]
        print(f"  {row['output']:<22} {row['input']:<28} S1 {s1:<28} ST {st}")
    for path in written:
        print(f"wrote {path}")
