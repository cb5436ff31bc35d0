"""``riskmc calibrate CONFIG``: one parameter calibrated to an observed count over an exposure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from riskmc.cli.budget import check_size
from riskmc.cli.core import CliError, app, command_line, config_error_message
from riskmc.cli.files import load_scenario, names_directory, output_base, save_table
from riskmc.cli.options import (
    DEFAULT_DEFENSIVE,
    MAX_POINTS,
    ConfigArgument,
    DefensiveOption,
    Estimator,
    EstimatorOption,
    FormatOption,
    MemoryBudgetOption,
    QuietOption,
    SeedOption,
    SetOption,
    TableFormat,
    ThreadsOption,
    TrialsOption,
    default_threads,
    positive,
)
from riskmc.cli.progress import trial_progress
from riskmc.cli.split_run import ReplicatesOption, check_split_points, split_spec
from riskmc.cli.summaries import format_estimate, format_number, print_lines
from riskmc.cli.workers import SchedulerOption, WorkersOption, executor_for
from riskmc.errors import ConfigError

if TYPE_CHECKING:
    from riskmc.config import Config
    from riskmc.estimators import Plan
    from riskmc.estimators.split import SplitSpec

#: Grid points of the curve (riskmc.calibrate.DEFAULT_POINTS).
DEFAULT_POINTS = 13

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


def _grid_ends(cal: Any, cfg: Config, param: str, low: float | None, high: float | None, points: int) -> Any:
    """The configurations at both ends of the calibration grid, for the size check."""
    try:
        thetas = cal.grid(cfg, param, low, high, points)
        return [
            (f"--param {param}={t:g}", cal._override(cfg, param, float(t))) for t in (thetas[0], thetas[-1])
        ]
    except cal.CalibrationError as e:
        raise CliError(str(e)) from None
    except ConfigError as e:
        raise CliError(config_error_message(e)) from None


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
            callback=positive,
            help="Cell-hours of operation over which they were observed (cells x hours).",
        ),
    ],
    low: Annotated[
        float | None,
        typer.Option(
            "--low",
            metavar="V",
            callback=positive,
            help="Grid's low end (default: value / 1000).",
            show_default=False,
        ),
    ] = None,
    high: Annotated[
        float | None,
        typer.Option(
            "--high",
            metavar="V",
            callback=positive,
            help="Grid's high end (default: value x 1000, at most 0.5 for a probability).",
            show_default=False,
        ),
    ] = None,
    points: Annotated[
        int, typer.Option("--points", min=3, max=MAX_POINTS, metavar="N", help="Grid points (log-spaced).")
    ] = DEFAULT_POINTS,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    overrides: SetOption = None,
    estimator: EstimatorOption = Estimator.auto,
    defensive: DefensiveOption = DEFAULT_DEFENSIVE,
    threads: ThreadsOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    out: CalibrateOutOption = None,
    fmt: FormatOption = TableFormat.both,
    memory_budget: MemoryBudgetOption = None,
    quiet: QuietOption = False,
    replicates: ReplicatesOption = None,
) -> None:
    """Calibrate one parameter so that the expected events over an exposure equal a count.

    The value at which the expected events over the exposure equal the observed count, with
    a 95% interval (exact Poisson for the count, widened by the Monte Carlo error of the
    curve).  A count that no value in the grid can reproduce (the curve's floor is above
    it, or its top below) is refused, with the floor or the top.  With --estimator split
    every grid point is --replicates splitting replicates (docs/model.md section 8)."""
    from riskmc import calibrate as cal
    from riskmc import estimators
    from riskmc.execute import ExecutorError

    cfg = load_scenario(config, overrides or [])
    spec = split_spec(estimator, trials, defensive, replicates, "each grid point")
    if spec is not None and (workers is not None or scheduler is not None):
        raise CliError("--workers/--scheduler: not with --estimator split (its replicates use --threads)")
    base, _ = output_base(out, f"{cfg.name}_calibration", fmt.formats)
    # the curve beside the row: <dir>/<name>_calibration_curve.*, or PATH_curve.* for --out PATH
    curve_out = out
    if out is not None and not names_directory(out):
        curve_out = str(Path(out).with_name(Path(out).stem + "_curve" + Path(out).suffix))
    curve_base, _ = output_base(curve_out, f"{cfg.name}_calibration_curve", fmt.formats)
    n_threads = default_threads() if threads is None else threads
    s = cfg.seed if seed is None else seed
    t = cfg.trials if trials is None else trials
    executor = executor_for(workers, scheduler, 1)
    ends = _grid_ends(cal, cfg, param, low, high, points)
    if spec is None:
        check_size(
            cfg,
            s,
            memory_budget,
            windows_kept=t,
            windows_total=t * points,
            option="--trials" if trials is not None else "trials",
            threads=n_threads,
            processes=getattr(executor, "workers", 1),
            rows=points,
            points=ends,
        )
    else:
        check_split_points([c for _, c in ends], s, spec, n_threads, memory_budget, points, "--threads")
    try:
        plan: Plan | SplitSpec = (
            spec
            if spec is not None
            else estimators.resolve(cfg, s, estimator.value, defensive=defensive, threads=n_threads)
        )
        with executor, trial_progress(points, f"calibrate {param}", "points") as progress:
            result = cal.calibrate(
                cfg,
                param,
                observed_events,
                exposure_cell_hours,
                low=low,
                high=high,
                points=points,
                trials=trials,
                seed=s,
                plan=plan,
                threads=n_threads,
                progress=progress,
                executor=executor,
            )
    except cal.CalibrationError as e:
        raise CliError(str(e)) from None
    except ConfigError as e:
        raise CliError(config_error_message(e)) from None
    except ExecutorError as e:
        raise CliError(f"--scheduler {scheduler!r}: {e}") from None
    from riskmc.provenance import provenance

    meta = provenance(cfg, seed=s, estimator=plan.short, command=command_line())
    written = save_table([result.row()], base, fmt.formats, metadata=meta)
    written += save_table(result.curve, curve_base, fmt.formats, metadata=meta)
    if quiet:
        return
    lines = [
        ("config", f"{cfg.name}  ({result.estimator} estimator, seed {result.seed})"),
        (
            "trials",
            f"{result.trials:,} per grid point, {points} points"
            if spec is None
            else f"{spec.replicates:,} split replicates per grid point, {points} points",
        ),
        ("observed", f"{observed_events} event(s) over {format_number(exposure_cell_hours)} cell-hours"),
        (param, format_estimate(result.value)),
        ("elapsed", f"{result.elapsed_s:.1f} s"),
    ]
    print_lines(lines, written)
