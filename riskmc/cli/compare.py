"""``riskmc compare CONFIG``: the baseline and mitigation scenarios on the same trials."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from riskmc.cli.budget import check_size
from riskmc.cli.core import CliError, app, command_line
from riskmc.cli.files import load_scenario, output_base, save_table
from riskmc.cli.options import (
    DEFAULT_DEFENSIVE,
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
    ThreadsOption,
    TrialsOption,
    default_threads,
    mitigation_names,
    out_help,
)
from riskmc.cli.progress import trial_progress
from riskmc.cli.split_run import ReplicatesOption, check_split_points, split_spec
from riskmc.cli.summaries import format_number, print_json, print_table, with_ci
from riskmc.cli.workers import SchedulerOption, WorkersOption, executor_for
from riskmc.errors import ConfigError

ScenarioOption = Annotated[
    list[str] | None,
    typer.Option(
        "--mitigation",
        metavar="NAME",
        help="Scenario to compare with the baseline: a mitigation of docs/model.md section 3, or a "
        "combination such as recheck+deadline; repeatable, or comma-separated. "
        "(default: each mitigation alone)",
        show_default=False,
    ),
]
CompareOutOption = Annotated[
    str | None, typer.Option("--out", metavar="PATH", help=out_help("_compare"), show_default=False)
]


@app.command()
def compare(
    config: ConfigArgument,
    mitigations: ScenarioOption = None,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    overrides: SetOption = None,
    out: CompareOutOption = None,
    fmt: FormatOption = TableFormat.both,
    estimator: EstimatorOption = Estimator.auto,
    defensive: DefensiveOption = DEFAULT_DEFENSIVE,
    threads: ThreadsOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    memory_budget: MemoryBudgetOption = None,
    as_json: JsonRowsOption = False,
    quiet: QuietOption = False,
    replicates: ReplicatesOption = None,
) -> None:
    """Compare mitigations with the baseline on the same trials (common random numbers).

    The baseline (every mitigation removed) and each scenario run on the same trials, seed
    and estimator plan (resolved once, on the baseline).  One row per scenario: the
    estimates of 'riskmc run', plus, paired with the baseline: risk_ratio,
    plan_age_change_s and impact_reduction_min.

    Parameters come from the config's mitigations.NAME tables (enabled or not), else defaults.
    With --estimator split every scenario is --replicates splitting replicates on the same
    seed: p_cell_window and risk_ratio alone (docs/model.md section 8).
    """
    from riskmc import compare as cmp
    from riskmc import estimators

    cfg = load_scenario(config, overrides or [])
    spec = split_spec(estimator, trials, defensive, replicates, "each scenario")
    names = mitigation_names(mitigations)
    try:
        scenario_list = cmp.scenarios(cfg, names)
    except ConfigError as e:
        raise CliError(f"--mitigation: {e.problem}") from None
    base, _ = output_base(out, f"{cfg.name}_compare", fmt.formats)
    n = cfg.trials if trials is None else trials
    s = cfg.seed if seed is None else seed
    n_threads = default_threads() if threads is None else threads

    def write(rows: list[dict[str, object]], estimator_short: str) -> list[Path]:
        """The table with its provenance (and the rows as JSON with --json)."""
        from riskmc.provenance import provenance

        meta = provenance(cfg, seed=s, estimator=estimator_short, command=command_line())
        written = save_table(rows, base, fmt.formats, metadata=meta)
        if as_json:
            print_json(rows)
        return written

    if spec is not None:
        if workers is not None or scheduler is not None:
            raise CliError("--workers/--scheduler: not with --estimator split (its replicates use --threads)")
        configs = [c for _, c in scenario_list]
        check_split_points(configs, s, spec, n_threads, memory_budget, len(configs), "--threads")
        start = time.perf_counter()
        with trial_progress(len(scenario_list), f"{cfg.name} compare", "scenarios") as progress:
            rows = cmp.compare_split(
                cfg, names, spec=spec, seed=s, threads=n_threads, progress=progress, built=scenario_list
            )
        written = write(rows, spec.short)
        if not (as_json or quiet):
            print_split_compare_summary(
                cfg.name, rows, spec.replicates, s, time.perf_counter() - start, written
            )
        return
    executor = executor_for(workers, scheduler, 1)
    # every scenario's sample is kept until the pairs are estimated
    check_size(
        scenario_list[-1][1],
        s,
        memory_budget,
        windows_kept=n * len(scenario_list),
        windows_total=n * len(scenario_list),
        option="--trials" if trials is not None else "trials",
        threads=n_threads,
        processes=getattr(executor, "workers", 1),
        rows=len(scenario_list),
    )
    start = time.perf_counter()
    plan = estimators.resolve(scenario_list[0][1], s, estimator.value, defensive=defensive, threads=n_threads)
    from riskmc.execute import ExecutorError

    try:
        with executor, trial_progress(n * len(scenario_list), f"{cfg.name} compare") as progress:
            rows = cmp.compare(
                cfg,
                names,
                trials=n,
                seed=s,
                plan=plan,
                threads=n_threads,
                progress=progress,
                built=scenario_list,
                executor=executor,
            )
    except ExecutorError as e:
        raise CliError(f"--scheduler {scheduler!r}: {e}") from None
    written = write(rows, plan.short)
    if not (as_json or quiet):
        print_compare_summary(cfg.name, rows, n, s, time.perf_counter() - start, written)


def print_compare_summary(
    name: str,
    rows: Sequence[Mapping[str, Any]],
    trials: int,
    seed: int,
    elapsed_s: float,
    written: Sequence[Path],
) -> None:
    """A compact plain-text table of a comparison on stdout: one line per scenario."""
    unseen = any(row.get("unobserved_strata") for row in rows)
    headers = ["scenario", "p_cell_window", "risk_ratio"]
    if unseen:  # the total is swamped by what neither sample saw: show each stratum's ratio
        headers += ["rr without degraded run", "rr with degraded run"]
    headers += ["plan_age_change_s", "abandoned/h", "impact saved", "EC2 min saved"]
    table = []
    for row in rows:
        cells = [str(row["mitigation"]), with_ci(row, "p_cell_window"), with_ci(row, "risk_ratio")]
        if unseen:
            cells += [with_ci(row, "risk_ratio_no_degraded"), with_ci(row, "risk_ratio_degraded")]
        cells += [
            with_ci(row, "plan_age_change_s"),
            format_number(float(row["abandoned_runs_per_hour"])),
            with_ci(row, "impact_reduction_min"),
            with_ci(row, "ec2_impaired_saved_min"),
        ]
        table.append(tuple(cells))
    print(
        f"compare {name}: {len(rows)} scenarios x {trials:,} trials (seed {seed}), the same trials in each; "
        f"estimator {rows[0]['proposal']}"
    )
    print(
        "[95% CI; risk_ratio, plan_age_change_s, impact saved (region-traffic-minutes per region-year) and "
        "EC2 launch-impairment minutes saved per region-year (the cascade) paired with the baseline]"
    )
    print_table(headers, table, elapsed_s, written)
    if unseen:
        print(
            "note: a stratum of events with no hit in a scenario (or, under rare, no event in a window "
            "it barely boosted) is only bounded; its bound is in the totals' upper ends (docs/model.md "
            "section 8)"
        )


def print_split_compare_summary(
    name: str,
    rows: Sequence[Mapping[str, Any]],
    replicates: int,
    seed: int,
    elapsed_s: float,
    written: Sequence[Path],
) -> None:
    """The comparison under split on stdout: per scenario p_cell_window and the risk ratio."""
    headers = ["scenario", "p_cell_window", "risk_ratio"]
    table = [(str(r["mitigation"]), with_ci(r, "p_cell_window"), with_ci(r, "risk_ratio")) for r in rows]
    print(
        f"compare {name}: {len(rows)} scenarios x {replicates:,} split replicates (seed {seed}), the same "
        f"replicates' generators in each; estimator {rows[0]['proposal']}"
    )
    print(
        "[95% CI; risk_ratio paired replicate by replicate with the baseline; split estimates p_cell_window]"
    )
    print_table(headers, table, elapsed_s, written)
