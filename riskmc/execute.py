"""Pluggable executors: apply a function to items in this process, a local pool, or Dask.

An *executor* has one method, ``map(fn, items)``, yielding ``(index, fn(items[index]))``
pairs (in completion order when it runs items in parallel), and is a context manager that
holds its resources (a pool, a cluster connection) between ``__enter__`` and ``__exit__``.
``fn`` and the items must be picklable: a top-level function and plain data.  Results do
not depend on the executor as long as ``fn`` is deterministic in its item (every riskmc
random stream depends only on the seed and the trial, see :mod:`riskmc.streams`).

* :class:`LocalExecutor` (``workers`` 1: in this process, in order; more: a
  :class:`concurrent.futures.ProcessPoolExecutor` with the *spawn* start method, so there
  is no fork after polars' or numpy's threads have started).
* :class:`DaskExecutor`: the workers of an existing ``dask.distributed`` cluster, reached
  at its scheduler address.  Dask is an optional extra (``pip install 'riskmc[dask]'``)
  imported only here, only when such an executor is used: the rest of riskmc needs none
  of it.  The cluster's workers must be able to import the same riskmc version.

:func:`map_points` is the one-call form for local work.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor, wait
from types import TracebackType
from typing import Any, Protocol, TypeVar

__all__ = [
    "DASK_INSTALL_HINT",
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "LocalExecutor",
    "make_executor",
    "map_points",
]

T = TypeVar("T")
R = TypeVar("R")

#: What to run when dask is missing.
DASK_INSTALL_HINT = "pip install 'riskmc[dask]'"

#: Seconds to wait for a Dask scheduler to answer before giving up.
DEFAULT_CONNECT_TIMEOUT_S = 10.0
#: The environment variable that changes it (seconds; e.g. a slow network, or a test).
TIMEOUT_VARIABLE = "RISKMC_SCHEDULER_TIMEOUT"
#: Extra seconds after which a connection still not made is abandoned (see DaskExecutor).
CONNECT_GRACE_S = 5.0
#: Seconds between two readings of a Dask cluster's size (the tasks kept in flight follow it).
WINDOW_RESIZE_S = 5.0
#: A scheduler address: protocol://host:port (host names, IPv4, or [IPv6]).
_ADDRESS = re.compile(r"(tcp|tls|ws|wss|ucx)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}")


class ExecutorError(RuntimeError):
    """An executor cannot run at all (dask missing, scheduler unreachable); one line."""


def _timeout_from_environment() -> float:
    """Seconds to wait for a Dask scheduler (to answer, or to come back after a lost
    connection): $RISKMC_SCHEDULER_TIMEOUT, default :data:`DEFAULT_CONNECT_TIMEOUT_S`."""
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_CONNECT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.1 <= value <= 3600.0:
        raise ExecutorError(f"${TIMEOUT_VARIABLE}={text!r}: must be a number of seconds in [0.1, 3600]")
    return value


class Executor(Protocol):
    """What :func:`riskmc.sweep.run_sweep` needs from a backend."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """``(index, fn(items[index]))`` for every item, in any order."""
        ...

    def describe(self) -> str:
        """Where the work runs, for messages ("2 local processes", "dask at tcp://...")."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


# -- local processes -------------------------------------------------------------------------------

#: Seconds between a worker's checks that the process that started it is still alive.
PARENT_POLL_S = 0.5


def _watch_parent(parent: int) -> None:
    """A pool worker's initializer: leave when the parent is gone.

    A parent killed with SIGKILL cannot shut its pool down, and its workers (and
    multiprocessing's resource tracker, which waits for them) would otherwise keep running,
    holding the parent's pipes open.  A daemon thread notices that the worker was re-parented
    and ends the process.  Ctrl-C and SIGTERM are the parent's to handle: the workers ignore
    both (a terminal sends Ctrl-C to the whole process group), and the parent ends them.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(PARENT_POLL_S)

    threading.Thread(target=watch, name="riskmc-parent-watch", daemon=True).start()


class LocalExecutor:
    """``workers`` 1: in this process, in order; more: a pool of spawned processes.

    Inside ``with`` the pool is started at the first :meth:`map` of more than one item and
    kept for the following ones (a comparison of eight scenarios pays the processes' start
    and the kernels' load once, not eight times), and ended at the ``with``'s exit.  Outside
    ``with`` each :meth:`map` has a pool of its own of ``min(workers, len(items))`` processes.
    No process is started for zero or one item.
    """

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._depth = 0
        self._pool: ProcessPoolExecutor | None = None

    def describe(self) -> str:
        return "this process" if self.workers == 1 else f"{self.workers} local processes"

    def __enter__(self) -> LocalExecutor:
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth = max(0, self._depth - 1)
        if self._depth == 0 and self._pool is not None:
            pool, self._pool = self._pool, None
            if exc_type is not None:
                _terminate_workers(pool)  # an error or an interruption: nothing left to wait for
            pool.shutdown(wait=True, cancel_futures=True)

    def _start(self, processes: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_watch_parent,
            initargs=(os.getpid(),),
        )

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """At most two items a worker in flight, submitted as earlier ones finish.  Closing
        the iterator (the caller has what it needs: a stopping rule met) lets the items
        running end and drops the rest; an exception in ``fn`` or an interruption ends the
        processes at once and re-raises."""
        if self.workers == 1 or len(items) <= 1:
            for i, item in enumerate(items):
                yield i, fn(item)
            return
        kept = self._depth > 0
        if kept:
            if self._pool is None:
                self._pool = self._start(self.workers)
            executor = self._pool
        else:
            executor = self._start(min(self.workers, len(items)))
        # A bounded window, not every item at once: a stop leaves little to cancel, and no
        # feeder thread blocked on a long queue of pickled items when processes are ended.
        window = 2 * self.workers
        queue = iter(enumerate(items))
        pending: dict[Future[R], int] = {}

        def fill() -> None:
            while len(pending) < window:
                nxt = next(queue, None)
                if nxt is None:
                    return
                pending[executor.submit(fn, nxt[1])] = nxt[0]

        ended = False
        try:
            fill()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: pending[f]):
                    index = pending.pop(future)
                    yield index, future.result()
                fill()
            ended = True
        except GeneratorExit:
            ended = True  # closed by the caller: the few items running finish, none is started
            raise
        finally:
            for future in pending:
                future.cancel()  # those not started; a kept pool runs the next map's items next
            if not ended:
                # An error or an interruption: the items still running are abandoned, so end
                # their processes now rather than wait for them (a kept pool is replaced).
                _terminate_workers(executor)
                if kept:
                    self._pool = None
            if not ended or not kept:
                executor.shutdown(wait=True, cancel_futures=True)


def _terminate_workers(executor: ProcessPoolExecutor) -> None:
    """SIGTERM to every process of the pool (``_processes`` is the pool's own table of them;
    the public API only waits for running work to end)."""
    for process in list(getattr(executor, "_processes", {}).values()):
        try:
            process.terminate()
        except (OSError, ValueError, AttributeError):  # already gone
            pass


def map_points(fn: Callable[[T], R], items: Sequence[T], workers: int = 1) -> Iterator[tuple[int, R]]:
    """``(index, fn(item))`` for every item: in order with ``workers`` 1, else in completion
    order from a process pool of ``min(workers, len(items))`` spawned processes."""
    return LocalExecutor(workers).map(fn, items)


# -- Dask ------------------------------------------------------------------------------------------


def _import_distributed() -> Any:
    """The ``distributed`` module, or an ExecutorError telling how to install it."""
    try:
        import distributed
    except ImportError:
        raise ExecutorError(
            f"dask.distributed is not installed; it is an optional extra: {DASK_INSTALL_HINT}"
        ) from None
    return distributed


#: Loggers of Dask's client side, whose messages about a lost connection would repeat (in
#: several lines, some with tracebacks) what the ExecutorError says in one.
_CLIENT_LOGGERS = ("distributed.client", "distributed.core", "distributed.comm", "distributed.batched")


def _quiet_client_logs() -> list[tuple[logging.Logger, int]]:
    """Raise the client-side Dask loggers to CRITICAL; their former levels, to restore."""
    saved = []
    for name in _CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.CRITICAL)
    return saved


def _failure_text(error: BaseException) -> str:
    """A cluster failure in a few words (Dask's own messages name a task key and a remedy)."""
    text = " ".join(str(error).split())
    # (which of these Dask raises when the scheduler dies depends on timing: a cancelled
    # task, or the closed comm a result was awaited on)
    closed = type(error).__name__ in ("CommClosedError", "StreamClosedError")
    if closed or "scheduler-connection-lost" in text or "lost the connection to the scheduler" in text:
        return "the connection to the scheduler was lost"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _is_cluster_failure(error: BaseException) -> bool:
    """Whether ``error`` is Dask's (a worker died, the task or connection was lost), not the
    task's own exception (which Dask re-raises with its original type)."""
    return isinstance(error, CancelledError | asyncio.CancelledError) or type(error).__module__.startswith(
        ("distributed.", "dask.")
    )


class DaskExecutor:
    """The workers of an existing dask.distributed cluster (``Client(address)``).

    Every item is one task, submitted with ``pure=False`` (never deduplicated or served
    from a cache: each is a fresh call) and collected with ``as_completed``.  The client is
    opened in ``__enter__`` (so an unreachable scheduler fails before anything runs) and
    closed in ``__exit__``; the cluster itself is left running.  Closing the iterator early
    cancels the tasks not yet finished.
    """

    def __init__(self, address: str, connect_timeout_s: float | None = None) -> None:
        if connect_timeout_s is None:
            connect_timeout_s = _timeout_from_environment()
        if not address.strip():
            raise ExecutorError("the scheduler address is empty (e.g. tcp://127.0.0.1:8786)")
        self.address = address.strip()
        self.connect_timeout_s = connect_timeout_s
        self._client: Any = None
        self._quiet: list[tuple[logging.Logger, int]] = []

    def describe(self) -> str:
        return f"the dask cluster at {self.address}"

    def __enter__(self) -> DaskExecutor:
        if self._client is None:
            _import_distributed()  # (its import configures its loggers: quiet them after it)
            self._quiet = _quiet_client_logs()
            self._client = self._connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        try:
            if client is not None:
                client.close()
        finally:
            # After a failure Dask's client may still log its reconnection attempts from its
            # own thread: its loggers then stay quiet for the rest of the process.
            if exc_type is None:
                for logger, level in self._quiet:
                    logger.setLevel(level)
            self._quiet = []

    def _connect(self) -> Any:
        if not _ADDRESS.fullmatch(self.address):
            raise ExecutorError(
                f"{self.address!r} is not a scheduler address (expected e.g. tcp://10.0.0.5:8786)"
            )
        distributed = _import_distributed()
        # Client(timeout=...) bounds the connection, not a handshake with something that is
        # not a scheduler (an HTTP server answers and then says nothing): connect in a
        # thread, and give up on it at a deadline of our own.
        box: dict[str, Any] = {}

        def connect() -> None:
            try:
                box["client"] = distributed.Client(
                    self.address, timeout=self.connect_timeout_s, set_as_default=False
                )
            except BaseException as e:  # reported by the caller
                box["error"] = e

        thread = threading.Thread(target=connect, name="riskmc-dask-connect", daemon=True)
        thread.start()
        thread.join(self.connect_timeout_s + CONNECT_GRACE_S)
        if thread.is_alive():
            raise ExecutorError(
                f"cannot connect to the dask scheduler at {self.address}: no answer from a scheduler "
                f"within {self.connect_timeout_s + CONNECT_GRACE_S:g} s"
            )
        error = box.get("error")
        if error is not None:
            text = " ".join(str(error).split()) or type(error).__name__
            if isinstance(error, MemoryError):  # junk read as a message length
                text = "the other end does not speak the dask protocol"
            raise ExecutorError(f"cannot connect to the dask scheduler at {self.address}: {text}") from None
        return box["client"]

    def _window(self, client: Any) -> int:
        """Tasks to keep in flight: two per worker thread of the cluster as it is now (at
        least two), so that no thread waits for its next task and a stop, or a cluster
        shared with others, has little queued."""
        try:
            threads = sum(client.nthreads().values())
        except Exception:  # the scheduler is going away: the tasks in flight will say so
            threads = 1
        return max(2, 2 * int(threads))

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Tasks submitted as earlier ones finish, two per worker thread in flight (the
        cluster's size read again every few seconds: workers may join).  A worker lost
        mid-task is Dask's to handle (the scheduler runs its tasks elsewhere, up to its
        ``allowed-failures``); a cluster failure ends the map with an ExecutorError."""
        if not items:
            return
        own = self._client is None
        client = self._connect() if own else self._client
        distributed = _import_distributed()
        queue = iter(enumerate(items))
        index: dict[Any, int] = {}
        completed = distributed.as_completed([], loop=client.loop)
        window, sized = self._window(client), time.monotonic()

        def fill() -> None:
            while len(index) < window:
                nxt = next(queue, None)
                if nxt is None:
                    return
                future = client.submit(fn, nxt[1], pure=False)
                index[future] = nxt[0]
                completed.add(future)

        try:
            fill()
            for future in completed:
                i = index.pop(future)
                try:
                    result = future.result()
                except Exception as e:
                    if _is_cluster_failure(e):
                        raise ExecutorError(
                            f"the dask cluster at {self.address} failed: {_failure_text(e)}"
                        ) from e
                    raise  # the task's own exception, as raised in the worker
                yield i, result
                if time.monotonic() - sized > WINDOW_RESIZE_S:
                    window, sized = self._window(client), time.monotonic()
                fill()
        finally:
            unfinished = [f for f in index if not f.done()]
            if unfinished:
                try:
                    client.cancel(unfinished)
                except Exception:  # the scheduler is gone: nothing to cancel there
                    pass
            if own:
                client.close()


def make_executor(workers: int = 1, scheduler: str | None = None) -> LocalExecutor | DaskExecutor:
    """A :class:`DaskExecutor` for ``scheduler`` if given, else a :class:`LocalExecutor`."""
    if scheduler is not None:
        return DaskExecutor(scheduler)
    return LocalExecutor(workers)
