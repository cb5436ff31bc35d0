"""A tiny pluggable executor: apply a function to items, in this process or in a pool.

``map_points(fn, items, workers)`` yields ``(index, fn(items[index]))`` pairs.  With one
worker it runs in this process, in order; with more it uses a
:class:`concurrent.futures.ProcessPoolExecutor` with the *spawn* start method (no fork
after polars' or numpy's threads have started) and yields in completion order.  ``fn``
and the items must be picklable: a top-level function and plain data.  Results do not
depend on the worker count as long as ``fn`` is deterministic in its item (every riskmc
random stream depends only on the seed and the trial).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TypeVar

__all__ = ["map_points"]

T = TypeVar("T")
R = TypeVar("R")


def map_points(fn: Callable[[T], R], items: Sequence[T], workers: int = 1) -> Iterator[tuple[int, R]]:
    """``(index, fn(item))`` for every item: in order with ``workers`` 1, else in completion
    order from a process pool of ``min(workers, len(items))`` spawned processes.

    An exception in ``fn`` (or closing the iterator early, or Ctrl-C) cancels the items
    not yet started and re-raises.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1 or len(items) <= 1:
        for i, item in enumerate(items):
            yield i, fn(item)
        return
    context = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=context)
    try:
        pending: dict[Future[R], int] = {executor.submit(fn, item): i for i, item in enumerate(items)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f]):
                index = pending.pop(future)
                yield index, future.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
