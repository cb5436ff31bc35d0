"""``riskmc run CONFIG``: one scenario, its results row, and optionally its events and
loss-exceedance tables."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    MaxSecondsOption,
    MaxTrialsOption,
    MemoryBudgetOption,
    MinHitsOption,
    MitigationOption,
    OutOption,
    QuietOption,
    SeedOption,
    SetOption,
    TableFormat,
    TargetOption,
    ThreadsOption,
    TrialsOption,
    default_threads,
    mitigation_names,
)
from riskmc.cli.progress import target_progress, trial_progress
from riskmc.cli.split_run import ReplicatesOption, heavy_note, refuse, run_split
from riskmc.cli.summaries import format_estimate, format_number, impact_words, print_json, print_lines
from riskmc.cli.workers import SchedulerOption, WorkersOption, executor_for
from riskmc.errors import ConfigError

if TYPE_CHECKING:
    from riskmc.config import Config
    from riskmc.estimators.split import SplitResult

EventsOption = Annotated[
    str | None,
    typer.Option(
        "--events",
        metavar="PATH",
        help="Also write one row per simulated event (trial, cell, time, cause, affected endpoints, "
        "weight, duration, impact, and the window's importance weight) to PATH.csv/.parquet.",
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
CascadeExceedanceOption = Annotated[
    str | None,
    typer.Option(
        "--cascade-exceedance",
        metavar="PATH",
        help="Also write the loss-exceedance table of the downstream cascade's EC2 launch-impairment "
        "minutes per region-year (docs/model.md section 5b) to PATH.csv/.parquet.",
        show_default=False,
    ),
]


def with_mitigation_options(cfg: Config, values: list[str] | None) -> Config:
    """The config with ``--mitigation`` names enabled, or a CliError naming the option."""
    names = mitigation_names(values)
    if not names:
        return cfg
    from riskmc.compare import with_mitigations

    try:
        return with_mitigations(cfg, names)
    except ConfigError as e:
        raise CliError(f"--mitigation: {e.problem}") from None


@app.command()
def run(
    config: ConfigArgument,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    overrides: SetOption = None,
    out: OutOption = None,
    fmt: FormatOption = TableFormat.both,
    events: EventsOption = None,
    exceedance: ExceedanceOption = None,
    cascade_exceedance: CascadeExceedanceOption = None,
    mitigations: MitigationOption = None,
    estimator: EstimatorOption = Estimator.auto,
    defensive: DefensiveOption = DEFAULT_DEFENSIVE,
    target_rel_err: TargetOption = None,
    max_seconds: MaxSecondsOption = None,
    max_trials: MaxTrialsOption = None,
    min_hits: MinHitsOption = None,
    threads: ThreadsOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    memory_budget: MemoryBudgetOption = None,
    as_json: JsonRowsOption = False,
    quiet: QuietOption = False,
    replicates: ReplicatesOption = None,
) -> None:
    """Simulate one scenario; write its results row (CSV and/or Parquet) and a summary.

    A trial is a region-window: region.cells cells observed for window.hours, every cell
    simulated.  The row has the cell, region and year estimates, each with its 95% interval
    and method, and the two strata of events (with and without a degraded run).  With
    --target-rel-err the run adds trials until p_cell_window is that precise.

    With --estimator split: p_cell_window alone, by adaptive multilevel splitting in
    independent replicates (docs/model.md section 8, "split"); auto chooses it under
    --target-rel-err where the pilot barely sees the event and no degraded run is rare
    (section 8, "auto").
    """
    started = time.monotonic()
    cfg = with_mitigation_options(load_scenario(config, overrides or []), mitigations)
    # the options split cannot honour (it estimates p_cell_window alone, in replicates)
    not_split = {
        "--trials": trials, "--events": events, "--exceedance": exceedance,
        "--cascade-exceedance": cascade_exceedance, "--max-trials": max_trials,
        "--min-hits": min_hits, "--workers": workers, "--scheduler": scheduler,
        "--defensive": None if defensive == DEFAULT_DEFENSIVE else defensive,
    }  # fmt: skip

    def splitting(chosen: str | None) -> SplitResult | None:
        return run_split(
            cfg, cfg.seed if seed is None else seed, out=out, formats=fmt.formats,
            replicates=replicates, target_rel_err=target_rel_err, max_seconds=max_seconds,
            threads=default_threads() if threads is None else threads, memory_budget=memory_budget,
            as_json=as_json, quiet=quiet, chosen=chosen,
        )  # fmt: skip

    if estimator is Estimator.splitting:
        refuse(not_split)
        splitting(None)
        return
    if replicates is not None:
        raise CliError("--replicates: only with --estimator split")
    if target_rel_err is None:
        for option, value in (("--max-trials", max_trials), ("--min-hits", min_hits)):
            if value is not None:
                raise CliError(
                    f"{option}: only with --target-rel-err (without it the run takes --trials trials)"
                )
    elif trials is not None:
        raise CliError(
            "--trials: not with --target-rel-err (the target decides; cap the trials with --max-trials)"
        )
    base, _ = output_base(out, cfg.name, fmt.formats)
    events_base = output_base(events, f"{cfg.name}_events", fmt.formats, "--events")[0] if events else None
    exceed_base = (
        output_base(exceedance, f"{cfg.name}_exceedance", fmt.formats, "--exceedance")[0]
        if exceedance
        else None
    )
    cascade_base = (
        output_base(
            cascade_exceedance, f"{cfg.name}_cascade_exceedance", fmt.formats, "--cascade-exceedance"
        )[0]
        if cascade_exceedance
        else None
    )
    from riskmc import estimators
    from riskmc.events import events_frame, exceedance_frame
    from riskmc.provenance import provenance

    s = cfg.seed if seed is None else seed
    n_threads = default_threads() if threads is None else threads
    if target_rel_err is None:
        windows, option = (cfg.trials, "trials") if trials is None else (trials, "--trials")
    else:
        windows = estimators.DEFAULT_MAX_TRIALS if max_trials is None else max_trials
        option = "--max-trials"
    executor = executor_for(workers, scheduler, 1)
    local = getattr(executor, "workers", 1)
    check_size(
        cfg,
        s,
        memory_budget,
        windows_kept=windows,
        windows_total=windows,
        option=option,
        threads=n_threads,
        processes=local,
        time_bounded=target_rel_err is not None or max_seconds is not None,
        events=events_base is not None,
    )
    fallback: str | None = None
    if estimator is Estimator.auto:
        # with a target and nothing split refuses, auto may split (docs/model.md section 8)
        split_allowed = target_rel_err is not None and not any(
            value not in (None, False, [], ()) for value in not_split.values()
        )
        choice = estimators.choose(
            cfg, s, split_allowed=split_allowed, defensive=defensive, threads=n_threads
        )
        plan = choice.plan if choice.plan is not None else estimators.naive_plan()
        if choice.plan is None:
            gave_up = splitting(choice.reason)
            if gave_up is None:
                return
            # heavy-tailed replicates: their interval would be too narrow; sample windows in
            # the time left (docs/model.md section 8, "auto")
            limit = estimators.DEFAULT_MAX_SECONDS if max_seconds is None else max_seconds
            max_seconds = max(limit - (time.monotonic() - started), 1.0)
            fallback = (
                f"auto: split's {len(gave_up.replicates)}-replicate pilot ({gave_up.cpu_s:.1f} CPU-s) said "
                f"{heavy_note(gave_up.spread)}; plain Monte Carlo instead"
            )
    else:
        plan = estimators.resolve(cfg, s, estimator.value, defensive=defensive, threads=n_threads)
    kwargs: dict[str, Any] = {
        "seed": s,
        "trials": trials,
        "target_rel_err": target_rel_err,
        "max_seconds": max_seconds,
        "max_trials": max_trials,
        "min_hits": estimators.DEFAULT_MIN_HITS if min_hits is None else min_hits,
        "threads": n_threads,
        "executor": executor,
    }
    from riskmc.execute import ExecutorError

    try:
        with executor:
            if target_rel_err is None:
                with trial_progress(cfg.trials if trials is None else trials, cfg.name) as bar:
                    tick = (lambda k, _e: bar(k)) if bar else None
                    result = estimators.run(cfg, plan, progress=tick, **kwargs)
            else:
                with target_progress(cfg.name, target_rel_err) as progress:
                    result = estimators.run(cfg, plan, progress=progress, **kwargs)
    except ExecutorError as e:
        raise CliError(f"--scheduler {scheduler!r}: {e}") from None
    meta = provenance(cfg, seed=s, estimator=plan.short, command=command_line())
    written = save_table([result.row()], base, fmt.formats, metadata=meta)
    if events_base is not None:
        written += save_table(events_frame(result), events_base, fmt.formats, "--events", meta)
    if exceed_base is not None:
        written += save_table(exceedance_frame(result), exceed_base, fmt.formats, "--exceedance", meta)
    if cascade_base is not None:
        table = exceedance_frame(result, quantity="ec2_impaired_per_year_min")
        written += save_table(table, cascade_base, fmt.formats, "--cascade-exceedance", meta)
    if as_json:
        print_json(result.row())
    elif not quiet:
        print_run_summary(result, written, [] if fallback is None else [fallback])


_STOPS = {
    "target": "target reached",
    "max-seconds": "--max-seconds reached first",
    "max-trials": "--max-trials reached before the target",
    "trials": "the trials asked for",
}
#: The barely boosted share of p_cell_window above which the summary says so.
BARELY_NOTE = 0.5
_STRATA_TEXT = {
    "no_degraded": "  without a degraded run",
    "degraded": "  with a degraded run",
    "barely_boosted": "  barely boosted by the proposal",  # rare's (docs/model.md section 8)
}


def print_run_summary(result: Any, written: Sequence[Path], notes: Sequence[str] = ()) -> None:
    """A short plain-text summary of one run (a riskmc.estimators.Run) on stdout; ``notes``
    (how the estimator was chosen) after its own."""
    smp, est, plan = result.sample, result.estimates, result.plan
    p = est.values["p_cell_window"]
    lines: list[tuple[str, str]] = [("scenario", result.config.name)]
    if plan.tilts:
        lines.append(
            ("estimator", f"{plan.label}; pilot: {plan.runs_per_window:,.0f} runs per region-window")
        )
    else:
        lines.append(("estimator", "naive (plain Monte Carlo)"))
    lines.append(
        ("trials", f"{smp.n:,} region-windows, {int(smp.cells.sum()):,} cell-windows (seed {result.seed})")
    )
    under = " drawn under the proposal" if plan.tilts else ""
    lines.append(("events", f"{result.events:,} cell-windows with an event{under}"))
    if plan.tilts:
        lines.append(
            ("ess", f"{format_number(est.ess)} (effective events {format_number(est.effective_hits)})")
        )
    stop = _STOPS[result.stopped_by]
    if result.stopped_by == "target":
        stop += f": rel_err {format_number(p.rel_err, 3)} <= {format_number(result.target_rel_err, 3)}"
    lines.append(("stopped by", stop))
    for name, e in est.values.items():
        lines.append((name, _estimate_text(name, e)))
        if name == "p_cell_window":
            for stratum, es in est.strata.items():
                lines.append((_STRATA_TEXT[stratum], _estimate_text(name, es)))
    for name, e in result.cascade_estimates.items():
        lines.append((name, _estimate_text(name, e)))
    if est.unseen:
        lines.append(
            (
                "note",
                f"no event {' or '.join(_STRATA_TEXT[s].strip() for s in est.unseen)} in the sample: "
                "its bound is in every upper end above",
            )
        )
    from riskmc.estimates import BARELY_BOOSTED

    share = est.barely_boosted_share
    if plan.tilts and share > BARELY_NOTE:
        lines.append(
            (
                "note",
                f"{share:.0%} of p_cell_window comes from {_windows(est.barely_boosted_events)} the "
                f"proposal barely boosted (weight >= {BARELY_BOOSTED:g}): for them the sample is plain Monte "
                "Carlo, and with few of them the interval is too narrow (docs/model.md section 8)",
            )
        )
    lines.extend(("note", note) for note in notes)
    lines.append(("methods", "short names here; the full text is in the *_method columns of the file"))
    lines.append(("impact", "in region-traffic-minutes: minutes x the share of the region's traffic lost"))
    rate = f"{smp.n / result.elapsed_s:,.0f} region-windows/s" if result.elapsed_s > 0 else "-"
    lines.append(("elapsed", f"{result.elapsed_s:.2f} s  ({rate})"))
    print_lines(lines, written)


def _windows(n: int) -> str:
    return f"{n:,} event window{'' if n == 1 else 's'}"


def _estimate_text(name: str, e: Any) -> str:
    text = format_estimate(e, name)
    words = impact_words(name, e.estimate, e.confidence_interval.high)
    return f"{text}  {words}" if words else text
