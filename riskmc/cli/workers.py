"""Where a command's independent pieces of work run: local processes or a Dask cluster
(``--workers``, ``--scheduler``), through :mod:`riskmc.execute`.  The numbers do not depend
on the choice: every piece is addressed by its own configuration and seed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from riskmc.cli.core import CliError
from riskmc.cli.options import MAX_WORKERS

if TYPE_CHECKING:
    from riskmc.execute import DaskExecutor, LocalExecutor

__all__ = ["SchedulerOption", "WorkersOption", "executor_for"]

WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=MAX_WORKERS,
        metavar="N",
        help="Local processes running the work in parallel: sweep points, sensitivity model runs, or the "
        "blocks of run, compare and calibrate (results identical). Not with --scheduler. (default: all "
        "cores for sweep; 1 elsewhere, whose engine already uses every core's threads)",
        show_default=False,
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="Run the work on an existing dask.distributed cluster, e.g. tcp://10.0.0.5:8786 (results are "
        "identical; needs pip install 'riskmc\\[dask]' here and riskmc on the workers). Not with --workers.",
        show_default=False,
    ),
]


def executor_for(
    workers: int | None, scheduler: str | None, default_workers: int
) -> LocalExecutor | DaskExecutor:
    """The executor of ``--workers``/``--scheduler`` (they exclude each other), or a CliError."""
    from riskmc import execute as exe

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
    return exe.LocalExecutor(workers if workers is not None else default_workers)
