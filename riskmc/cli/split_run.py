"""``riskmc run CONFIG --estimator split``: p_cell_window by adaptive multilevel splitting
(``riskmc.estimators.split``; docs/model.md section 8, "split"), its results row and a
summary.  The other estimates of ``run`` need a sample of windows, which splitting does not
draw: options that ask for them are refused in one line."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from riskmc.cli.core import CliError, command_line, config_error_message
from riskmc.cli.files import output_base, save_table
from riskmc.cli.options import Estimator, count_parser
from riskmc.cli.progress import trial_progress
from riskmc.cli.summaries import format_estimate, format_number, print_json, print_lines
from riskmc.errors import ConfigError

if TYPE_CHECKING:
    from riskmc.config import Config
    from riskmc.estimators.split import SplitResult, SplitSetup, SplitSpec

MAX_REPLICATES = 100_000

ReplicatesOption = Annotated[
    int | None,
    typer.Option(
        "--replicates",
        parser=count_parser(2, MAX_REPLICATES),
        metavar="R",
        help="With --estimator split and no --target-rel-err: independent splitting replicates "
        "(default: 20); in sweep, sensitivity, calibrate and compare: per point, model run, grid "
        "point or scenario.",
        show_default=False,
    ),
]


def refuse(options: Mapping[str, object]) -> None:
    """One line for the first option given that split cannot honour."""
    for option, value in options.items():
        if value not in (None, False, [], ()):
            raise CliError(f"{option}: not with --estimator split (it estimates p_cell_window only)")


#: Trajectories a replicate simulates per initial one, at least (a level kills k of N and a
#: replicate climbs about ln(1/p) N / k levels: at p = 1e-3, 7 N / k; the check is a floor).
MIN_TRAJECTORY_FACTOR = 4.0


def check_split_size(
    cfg: Config,
    seed: int,
    setup: SplitSetup,
    threads: int,
    memory_budget: int | str | None,
    replicates: int | None,
    max_seconds: float | None,
    at_once: str = "--threads",
    has_max_seconds: bool = True,
) -> None:
    """Refuse in one line what would not fit in memory or would run for absurdly long (and,
    through the engine's probe, what breaks the layout's limits); ``threads`` replicates at
    once, set by the option ``at_once``; ``replicates`` in all (None: bounded by time);
    ``has_max_seconds``: whether the command can bound its time instead."""
    from riskmc import budget
    from riskmc.estimators import split as S

    limit = budget.default_memory_budget() if memory_budget is None else int(memory_budget)
    live = max(1, min(threads, os.cpu_count() or 1))  # (split runs at most one replicate a core)
    memory = budget.BASE_BYTES + live * S.state_bytes(setup, S.DEFAULT_PARTICLES)
    if memory > limit:
        raise CliError(
            f"{at_once}: --estimator split would need about {budget.format_bytes(memory)} of memory "
            f"({live} replicates at once of {S.DEFAULT_PARTICLES} trajectories), above the budget of "
            f"{budget.format_bytes(limit)} (--memory-budget; default half this machine's memory)"
        )
    try:
        cost = budget.window_cost(cfg, seed)
    except ConfigError as e:
        raise CliError(config_error_message(e)) from None
    if max_seconds is None and replicates is not None:
        cpu_s = replicates * S.DEFAULT_PARTICLES * MIN_TRAJECTORY_FACTOR * cost.cpu_s_per_window
        if not cpu_s <= budget.MAX_CPU_SECONDS:
            raise CliError(
                f"--replicates: would take at least {cpu_s / 86400:,.3g} CPU-days; the limit is "
                f"{budget.MAX_CPU_SECONDS / 86400:g} CPU-days"
                + (" (or bound it with --max-seconds)" if has_max_seconds else "")
            )


def split_spec(
    estimator: Estimator, trials: int | None, defensive: float, replicates: int | None, per: str
) -> SplitSpec | None:
    """The splitting of a command that runs many configurations (``per``: "each point", "each
    model run") under --estimator split (None: samples of windows), or a CliError for an
    option that does not go with the estimator."""
    from riskmc.estimators import DEFAULT_DEFENSIVE
    from riskmc.estimators.split import DEFAULT_REPLICATES, SplitSpec

    if estimator is not Estimator.splitting:
        if replicates is not None:
            raise CliError("--replicates: only with --estimator split")
        return None
    if trials is not None:
        raise CliError(f"--trials: not with --estimator split ({per} runs --replicates replicates)")
    if defensive != DEFAULT_DEFENSIVE:
        raise CliError("--defensive: not with --estimator split")
    return SplitSpec(DEFAULT_REPLICATES if replicates is None else replicates)


def check_split_points(
    configs: Sequence[Config],
    seed: int,
    spec: SplitSpec,
    processes: int,
    memory_budget: int | str | None,
    runs: int,
    at_once: str = "--workers",
) -> None:
    """Refuse in one line a configuration among ``configs`` (a spread of the points) that split
    does not take, naming the key, or ``runs`` splitting runs of ``spec.replicates`` that would
    not fit in memory (``processes`` at once) or would run absurdly long."""
    from riskmc.estimators.split import check_supported

    for point in configs:
        try:
            setup = check_supported(point)
        except ConfigError as e:
            raise CliError(config_error_message(e)) from None
        total = spec.replicates * runs
        check_split_size(point, seed, setup, processes, memory_budget, total, None, at_once, False)


def run_split(
    cfg: Config,
    seed: int,
    *,
    out: str | None,
    formats: tuple[str, ...],
    replicates: int | None,
    target_rel_err: float | None,
    max_seconds: float | None,
    threads: int,
    memory_budget: int | str | None,
    as_json: bool,
    quiet: bool,
    chosen: str | None = None,
) -> SplitResult | None:
    """``chosen``: why ``auto`` chose split (None: --estimator split).  Under auto a pilot
    whose replicates are heavy-tailed ends split before anything is written: that result is
    returned, for the caller to sample windows instead (None: split's answer is written)."""
    from riskmc.estimators import DEFAULT_MAX_SECONDS
    from riskmc.estimators import split as S
    from riskmc.provenance import provenance

    if target_rel_err is not None and replicates is not None:
        raise CliError("--replicates: not with --target-rel-err (the target decides)")
    base, _ = output_base(out, cfg.name, formats)
    fixed = (S.DEFAULT_REPLICATES if replicates is None else replicates) if target_rel_err is None else None
    setup = S.check_supported(cfg)
    check_split_size(cfg, seed, setup, threads, memory_budget, fixed, max_seconds)
    wall = time.monotonic()
    # as the other estimators: a target without --max-seconds stops at their default
    default = DEFAULT_MAX_SECONDS if target_rel_err is not None else math.inf
    limit = default if max_seconds is None else max_seconds
    total = S.DEFAULT_REPLICATES if replicates is None else replicates
    with trial_progress(
        total if target_rel_err is None else S.PILOT_REPLICATES, cfg.name, "replicates"
    ) as bar:
        last = [0]

        def tick(done: int, _of: int) -> None:
            if bar is not None:
                bar(max(done - last[0], 0))
                last[0] = done

        result = S.split(
            cfg, seed, replicates=replicates, target_rel_err=target_rel_err, max_seconds=limit,
            threads=threads, progress=tick, setup=setup, give_up_heavy=chosen is not None,
        )  # fmt: skip
    if result.stopped_by == "heavy-tailed":
        return result
    elapsed = time.monotonic() - wall
    p = result.estimate
    row = result.row()
    row["elapsed_s"] = elapsed  # the command's, its pilot and checks included
    meta = provenance(cfg, seed=seed, estimator=result.short, command=command_line())
    written = save_table([row], base, formats, metadata=meta)
    if as_json:
        print_json(row)
        return None
    if quiet:
        return None
    stops = {
        "trials": "the replicates asked for",
        "target": "target reached",
        "replicates": "the replicates the pilot asked for, their interval wider than the target",
        "max-seconds": "--max-seconds reached first",
        "pilot": "the pilot saw no event",
    }
    lines = [
        ("scenario", cfg.name),
        (
            "estimator",
            f"split: adaptive multilevel splitting, {result.particles} trajectories, k = {result.kill}"
            + (f" (auto: {chosen.removeprefix('split: ')})" if chosen else ""),
        ),
        (
            "replicates",
            f"{len(result.replicates)}"
            + (f" after a pilot of {len(result.pilot)}" if result.pilot else "")
            + f" (seed {seed}); {result.trajectories:,} trajectories",
        ),
        (
            "stopped by",
            stops[result.stopped_by]
            + (f": rel_err {format_number(S.t_rel_err(p), 3)}" if target_rel_err else ""),
        ),
        ("p_cell_window", format_estimate(p, "p_cell_window")),
        ("p_region_window", format_estimate(p, "p_region_window") + "  (one cell per region-window)"),
        (
            "note",
            "split estimates p_cell_window only; the other estimates need --estimator naive, is or rare"
            + (" (auto splits only under --target-rel-err)" if chosen else ""),
        ),
    ]
    if result.spread > S.HEAVY_SPREAD:
        lines.append(("note", heavy_note(result.spread) + ": the t interval is likely too narrow"))
    lines.append(("elapsed", f"{elapsed:.2f} s ({result.cpu_s:.1f} CPU-s)"))
    print_lines(lines, written)
    return None


def heavy_note(spread: float) -> str:
    """What a spread above HEAVY_SPREAD says (docs/model.md section 8, "split")."""
    return (
        f"the replicates spread {spread:.1f} times what splitting with an ideal score would: they are "
        "heavy-tailed (the score misses part of the mechanism, e.g. planner bursts)"
    )
