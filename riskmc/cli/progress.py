"""Progress on stderr, drawn only when it is a terminal (nothing in CI logs and pipes)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from riskmc.cli.summaries import format_number

__all__ = ["target_progress", "trial_progress"]


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def trial_progress(
    total: int, description: str, unit: str = "trials"
) -> Iterator[Callable[[int], None] | None]:
    """A progress callback (units done, e.g. the trials of a block) drawing a bar on stderr,
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


@contextmanager
def stage_progress(
    description: str,
) -> Iterator[Callable[[str, int], Callable[[int], None] | None]]:
    """A ``step(stage, total)`` callback for work in stages (``riskmc report``): each call
    starts a bar for the stage (the previous one is complete) and returns its progress
    callback.  Only when stderr is a terminal; elsewhere ``step`` returns None."""
    if not _stderr_is_terminal():
        yield lambda _stage, _total: None
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    current: list[tuple[TaskID, int]] = []  # the stage running: its task and total

    def finish() -> None:
        for task, total in current:
            progress.update(task, completed=total)

    def step(stage: str, total: int) -> Callable[[int], None]:
        finish()
        task = progress.add_task(escape(f"{description}: {stage}"), total=max(total, 1))
        current[:] = [(task, max(total, 1))]
        return lambda n: progress.advance(task, n)

    with progress:
        yield step
        finish()
