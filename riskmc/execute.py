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
#: Extra seconds after which a connection still not made is abandoned (see DaskExecutor).
CONNECT_GRACE_S = 5.0
#: A scheduler address: protocol://host:port (host names, IPv4, or [IPv6]).
_ADDRESS = re.compile(r"(tcp|tls|ws|wss|ucx)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}")


class ExecutorError(RuntimeError):
    """An executor cannot run at all (dask missing, scheduler unreachable); one line."""


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

    The pool is created per :meth:`map` call with ``min(workers, len(items))`` processes
    (no process is started for zero or one item).
    """

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers

    def describe(self) -> str:
        return "this process" if self.workers == 1 else f"{self.workers} local processes"

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """At most two items a worker in flight, submitted as earlier ones finish.  Closing
        the iterator (the caller has what it needs: a stopping rule met) lets the items
        running end and drops the rest; an exception in ``fn`` or an interruption ends the
        processes at once and re-raises."""
        if self.workers == 1 or len(items) <= 1:
            for i, item in enumerate(items):
                yield i, fn(item)
            return
        context = multiprocessing.get_context("spawn")
        executor = ProcessPoolExecutor(
            max_workers=min(self.workers, len(items)),
            mp_context=context,
            initializer=_watch_parent,
            initargs=(os.getpid(),),
        )
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
            if not ended:
                # An error or an interruption: the items still running are abandoned, so end
                # their processes now rather than wait for them.
                _terminate_workers(executor)
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

    def __init__(self, address: str, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        if not address.strip():
            raise ExecutorError("the scheduler address is empty (e.g. tcp://127.0.0.1:8786)")
        self.address = address.strip()
        self.connect_timeout_s = connect_timeout_s
        self._client: Any = None

    def describe(self) -> str:
        return f"the dask cluster at {self.address}"

    def __enter__(self) -> DaskExecutor:
        if self._client is None:
            self._client = self._connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

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

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        if not items:
            return
        own = self._client is None
        client = self._connect() if own else self._client
        distributed = _import_distributed()
        futures: list[Any] = []
        try:
            futures = [client.submit(fn, item, pure=False) for item in items]
            index = {future.key: i for i, future in enumerate(futures)}
            for future in distributed.as_completed(futures, loop=client.loop):
                try:
                    result = future.result()
                except Exception as e:
                    if _is_cluster_failure(e):
                        text = " ".join(str(e).split())
                        raise ExecutorError(
                            f"the dask cluster at {self.address} failed: {type(e).__name__}"
                            + (f": {text}" if text else "")
                        ) from e
                    raise  # the task's own exception, as raised in the worker
                yield index[future.key], result
        finally:
            unfinished = [f for f in futures if not f.done()]
            if unfinished:
                client.cancel(unfinished)
            if own:
                client.close()


def make_executor(workers: int = 1, scheduler: str | None = None) -> LocalExecutor | DaskExecutor:
    """A :class:`DaskExecutor` for ``scheduler`` if given, else a :class:`LocalExecutor`."""
    if scheduler is not None:
        return DaskExecutor(scheduler)
    return LocalExecutor(workers)
