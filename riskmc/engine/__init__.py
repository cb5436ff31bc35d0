"""The engine: every cell of a batch of region-windows through the compiled kernel.

The numba code is in :mod:`riskmc.engine.kernel` (docs/model.md
section 7).  This module is its Python face:

* :func:`seed_key`: the Philox key of a seed (0 <= seed < 2^64).
* :class:`Batch`: the kernel's inputs for a set of region-windows (``riskmc.params`` builds it).
* :func:`simulate`: every cell of every window of a batch, on one thread or several; the
  per-window sums the estimators need (:data:`WINDOW_COLUMNS`).  Each window is simulated
  on one thread from its own addresses, so the result does not depend on the thread count,
  the batch a window is in, or its position there.
* :func:`simulate_cell`: one cell-window's outcome and its affected endpoints.
* :class:`AddressedRandomness`: the very random inputs the engine uses, as the reference
  simulator's :class:`~riskmc.model.CellRandomness`, so that it replays a trial exactly.
* :class:`CellState`: one cell-window's whole state, which can be advanced to a time, copied
  and resumed (for estimators that restart a trial from a saved state).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from riskmc.engine import kernel as K

__all__ = [
    "STATE_ARRAYS",
    "WINDOW_COLUMNS",
    "AddressedRandomness",
    "Batch",
    "CellResult",
    "CellState",
    "EngineError",
    "cell_state_layout",
    "repair_durations",
    "seed_key",
    "simulate",
    "simulate_cell",
]

#: The per-window sums of :func:`simulate`, in column order.
WINDOW_COLUMNS = (
    "events",
    "events_nodeg",
    "impact_min",
    "impact_nodeg_min",
    "runs",
    "degraded",
    "abandoned",
    "mean_plan_age_s",
    "observed_h",
    "first_event_cell",
    "error",
    "log_slow_ratio",
    "ce_attempts",
    "ce_tail_variable",
    "ce_tail_wins",
    "ce_burst",
)

_ERRORS = {
    K.E_ATTEMPTS: "a write needed more than 65,536 attempts, beyond the engine's address layout "
    "(write.fail_prob or degraded.fail_prob too close to 1)",
    K.E_GENERATIONS: f"a window published {K.MAX_GENERATIONS:,} plan generations (planner.interval too "
    "short for window.hours)",
    K.E_RUNS: "an Enactor started 2^32 or more runs in one window",
    K.E_CONTINUATION: "a sampler used up its 255 continuation blocks (a rejection loop that should "
    "stop within a few; please report the configuration)",
}


class EngineError(RuntimeError):
    """A simulation the engine's random-number layout cannot address (the message says which
    limit and the configuration keys behind it)."""


def seed_key(seed: int) -> tuple[np.uint64, np.uint64]:
    """The Philox key (two 32-bit words) of a seed in [0, 2^64)."""
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2^64), got {seed}")
    return np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)


@dataclass(frozen=True)
class Batch:
    """The kernel's inputs for a set of region-windows: float and integer columns per window
    (kernel F_* and I_*), the endpoint weights (empty: uniform) and the values of empirical
    distributions (empty when not used)."""

    seed: int
    fp: np.ndarray
    ip: np.ndarray
    weights: np.ndarray
    emp_planner: np.ndarray
    emp_latency: np.ndarray
    emp_repair: np.ndarray

    @property
    def n(self) -> int:
        return int(self.fp.shape[0])

    @property
    def key(self) -> tuple[np.uint64, np.uint64]:
        return seed_key(self.seed)


def _log_tail_ratio(kind: int, y: np.ndarray, a: float) -> np.ndarray:
    """log of a tilted tail variable's density over the model's: a normal shifted to mean a,
    or a standard exponential at rate e^-a."""
    if kind == K.D_LOGNORM:
        return a * y - a * a / 2.0
    theta = np.exp(-a)
    return np.log(theta) - (theta - 1.0) * y


def _tilted_fail_prob(r: float, rs: float) -> float:
    """A run's fail probability in the retry-slow component: max(r, rs), 0 kept at 0."""
    return max(r, rs) if r > 0.0 else r


def _raise_errors(codes: np.ndarray, trials: np.ndarray) -> None:
    bad = np.flatnonzero(codes != 0)
    if bad.size:
        i = int(bad[0])
        text = _ERRORS.get(int(codes[i]), f"engine error {int(codes[i])}")
        raise EngineError(f"trial {int(trials[i])}: {text}")


#: Windows per thread task: large enough to amortise a call into the kernel, small for balance.
_TASK = 16


def simulate(batch: Batch, threads: int = 1) -> np.ndarray:
    """Every cell of every window: an (n, len(WINDOW_COLUMNS)) array of per-window sums.

    ``threads`` > 1 (at most the cores numba sees) runs the windows on that many threads, in
    tasks of :data:`_TASK` windows taken one at a time (windows differ in cost: a thread that
    drew the slow ones would leave the others idle at the end); each window is on one thread,
    so the rows are the same whatever the thread count.  A window the address layout cannot
    hold raises :class:`EngineError` naming its trial."""
    k0, k1 = batch.key
    args = (k0, k1, batch.fp, batch.ip, batch.weights, batch.emp_planner, batch.emp_latency, batch.emp_repair)
    n = batch.n
    import numba

    threads = min(int(threads), int(getattr(numba.config, "NUMBA_NUM_THREADS", 1)), -(-n // _TASK))
    out = np.empty((n, K.NW))
    if threads > 1:

        def windows_from(lo: int) -> None:
            K.simulate_windows(*args, out, lo, min(n, lo + _TASK))

        _on_threads(windows_from, range(0, n, _TASK), threads)
    else:
        K.simulate_windows(*args, out, 0, n)
    _raise_errors(out[:, K.W_ERROR], batch.ip[:, K.I_TRIAL])
    return out


def _on_threads(task: Callable[[int], None], items: range, threads: int) -> None:
    """``task(item)`` for every item, on ``threads`` daemon threads that each take the next
    item when done with one (the kernel releases the GIL).  Daemon threads, joined from the
    main thread: Ctrl-C or SIGTERM reaches the main thread at once (a join is interruptible,
    a call into compiled code is not), and the process can then end without waiting for the
    task a thread is in; the first exception of a task is raised here."""
    todo = iter(items)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        while not errors:
            with lock:
                item = next(todo, None)
            if item is None:
                return
            try:
                task(item)
            except BaseException as exc:  # handed to the main thread
                errors.append(exc)

    workers = [threading.Thread(target=work, daemon=True, name=f"riskmc-engine-{i}") for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]


def repair_durations(batch: Batch, cells: np.ndarray) -> np.ndarray:
    """R, seconds, of an event of cell ``cells[i]`` of window i of the batch: the number the
    engine draws for that cell's event (its address holds no path), read without a replay."""
    k0, k1 = batch.key
    cells = np.asarray(cells, dtype=np.int64)
    if cells.shape != (batch.n,):
        raise ValueError(f"one cell per window: {batch.n} windows, cells of shape {cells.shape}")
    return K.repair_durations(k0, k1, batch.fp, batch.ip, cells, batch.emp_repair)


@dataclass(frozen=True)
class CellResult:
    """One cell-window's outcome."""

    event: bool
    observed_s: float  # t* with an event, else T
    affected: tuple[int, ...]  # endpoints pointing to a deleted plan at t*
    affected_weight: float
    mean_plan_age_s: float
    runs_started: int
    runs_degraded: int
    runs_abandoned: int
    cause: str  # "write", "cleanup" or ""
    repair_s: float  # R of the event (0 without one)


def simulate_cell(batch: Batch, row: int, cell: int) -> CellResult:
    """Cell ``cell`` of window ``row`` of the batch, from t = 0 to its end."""
    return CellState(batch, row, cell).advance().result()


class AddressedRandomness:
    """Cell ``cell`` of window ``row``'s random inputs, read from the engine's addresses (a
    :class:`~riskmc.model.CellRandomness` for the reference simulator)."""

    def __init__(self, batch: Batch, row: int, cell: int) -> None:
        self.batch, self.row, self.cell = batch, int(row), int(cell)
        self.k0, self.k1 = batch.key
        self.fp, self.ip = batch.fp[self.row], batch.ip[self.row]
        self.trial = int(self.ip[K.I_TRIAL])

    def publication_times(self) -> Iterator[float]:
        t = 0.0
        g = 1
        while True:
            t = t + self._interval(g)[0]
            yield t
            g += 1

    def _interval(self, g: int) -> tuple[float, float, float]:
        """X_g as the engine draws it (planner bursts included), its tail variable, its block's flag."""
        x, y, bursty = K.planner_draw(
            self.k0, self.k1, self.trial, self.cell, g, self.fp, self.ip, self.batch.emp_planner
        )
        return float(x), float(y), float(bursty)

    def planner_log_ratio(self, drawn: int) -> float:
        """log of the planner-burst likelihood ratio of intervals X_1 .. X_drawn (docs/model.md
        section 8: per block of B generations, (1 - q_b) + q_b x the product of its intervals'
        tail density ratios, the last block with the intervals drawn so far)."""
        qb = float(self.fp[K.F_QB])
        if qb == 0.0:
            return 0.0
        kind, a, B = int(self.ip[K.I_PLANNER]), float(self.fp[K.F_BURST]), int(self.fp[K.F_BURST_LEN])
        y = np.array([self._interval(g)[1] for g in range(1, drawn + 1)])
        log_t = _log_tail_ratio(kind, y, a)
        sums = [float(log_t[i : i + B].sum()) for i in range(0, drawn, B)]
        return float(sum(np.logaddexp(np.log1p(-qb), np.log(qb) + v) for v in sums))

    def wake_offset(self, k: int) -> float:
        return float(K.draw_wake(self.k0, self.k1, self.trial, self.cell, k)) * float(self.fp[K.F_POLL])

    def run_draws(self, k: int, n: int) -> tuple[bool, np.ndarray]:
        degraded, draws = self.draws(k, n)
        return degraded, draws[0]

    def draws(self, k: int, n: int) -> tuple[bool, np.ndarray]:
        """Run n of enactor k as the kernel draws it: its degraded flag, then its slow-run
        component (docs/model.md section 8) from the block's second uniform; (degraded,
        (durations, attempts, first tail variables) per write)."""
        fp = self.fp
        u_degraded, u_slow = K.draw_run(self.k0, self.k1, self.trial, self.cell, k, n)
        degraded = bool(u_degraded < fp[K.F_PDEG])
        r = float(fp[K.F_R1] if degraded else fp[K.F_R0])
        ql_draw = float(fp[K.F_QL_DRAW]) if int(self.ip[K.I_LATENCY]) in K.TAIL_KINDS else 0.0
        qr_draw = float(fp[K.F_QR_DRAW])
        endpoints = int(self.ip[K.I_E])
        jstar = -1
        if u_slow < ql_draw:
            jstar = min(int(u_slow / ql_draw * endpoints), endpoints - 1)
        elif u_slow < ql_draw + qr_draw:
            r = _tilted_fail_prob(r, float(fp[K.F_RS]))
        draws = K.draw_durations(
            self.k0,
            self.k1,
            self.trial,
            self.cell,
            k,
            n,
            fp,
            self.ip,
            self.batch.emp_latency,
            r,
            jstar,
            float(fp[K.F_TAIL]) if jstar >= 0 else 0.0,
        )
        return degraded, draws

    def run_log_ratio(self, k: int, n: int) -> float:
        """log rho of run n of enactor k: its likelihood ratio under the slow-run mixture to
        the model, from its draws (docs/model.md section 8; the kernel sums the same per
        window in ``log_slow_ratio``)."""
        fp = self.fp
        kind = int(self.ip[K.I_LATENCY])
        ql = float(fp[K.F_QL]) if kind in K.TAIL_KINDS else 0.0
        qr = float(fp[K.F_QR])
        if ql == 0.0 and qr == 0.0:
            return 0.0
        degraded, draws = self.draws(k, n)
        attempts, y = draws[1], draws[2]
        rb = float(fp[K.F_R1] if degraded else fp[K.F_R0])
        rt = _tilted_fail_prob(rb, float(fp[K.F_RS]))
        a = float(fp[K.F_TAIL])
        terms = [np.log1p(-ql - qr)]
        if ql > 0.0:
            terms.append(np.log(ql) + np.logaddexp.reduce(_log_tail_ratio(kind, y, a)) - np.log(y.size))
        if qr > 0.0:
            extra = float(attempts.sum() - attempts.size)
            log_r = 0.0 if rt == rb else extra * np.log(rt / rb) + attempts.size * np.log((1 - rt) / (1 - rb))
            terms.append(np.log(qr) + log_r)
        return float(np.logaddexp.reduce(terms))


def cell_state_layout(
    enactors: int, endpoints: int, publications: int = 1024
) -> dict[str, tuple[tuple[int, ...], type]]:
    """The arrays of one cell-window's state, in :func:`kernel.advance_cell`'s argument
    order: name -> (shape, dtype).  ``pub`` holds the publication times (advance_cell grows
    it when it must)."""
    return {
        "sf": ((K.NSF,), np.float64),
        "si": ((K.NSI,), np.int64),
        "ef": ((enactors, K.NEF), np.float64),
        "ei": ((enactors, K.NEI), np.int64),
        "pf": ((endpoints, K.NPF), np.float64),
        "A": ((endpoints,), np.int64),
        "dur": ((enactors, int(K.padded(endpoints))), np.float64),  # rows as run_durations fills them
        "spared": ((endpoints,), np.int64),
        "pub": ((publications,), np.float64),
    }


#: The names of a cell-window's state arrays, in advance_cell's argument order.
STATE_ARRAYS = tuple(cell_state_layout(1, 1))


class CellState:
    """The whole state of one cell-window (kernel SF_*, SI_*, EF_*, EI_*, PF_* layouts): a
    few small arrays (:func:`cell_state_layout`), so that it can be advanced to a time,
    copied and resumed exactly."""

    sf: np.ndarray
    si: np.ndarray
    ef: np.ndarray
    ei: np.ndarray
    pf: np.ndarray
    A: np.ndarray
    dur: np.ndarray
    spared: np.ndarray
    pub: np.ndarray

    def __init__(self, batch: Batch, row: int, cell: int) -> None:
        self.batch, self.row, self.cell = batch, int(row), int(cell)
        ip = batch.ip[self.row]
        layout = cell_state_layout(int(ip[K.I_K]), int(ip[K.I_E]))
        for name, (shape, dtype) in layout.items():
            setattr(self, name, np.zeros(shape, dtype))
        k0, k1 = batch.key
        K.init_cell(
            k0,
            k1,
            int(ip[K.I_TRIAL]),
            self.cell,
            batch.fp[self.row],
            ip,
            batch.emp_planner,
            self.sf,
            self.si,
            self.ef,
            self.ei,
            self.pf,
            self.A,
            self.pub,
        )

    @property
    def finished(self) -> bool:
        return int(self.si[K.SI_EVENT]) != 0

    def advance(self, until: float = np.inf) -> CellState:
        """Simulate up to (not past) time ``until``, or to the event or the window's end."""
        k0, k1 = self.batch.key
        b = self.batch
        self.pub = K.advance_cell(
            k0,
            k1,
            int(b.ip[self.row, K.I_TRIAL]),
            self.cell,
            b.fp[self.row],
            b.ip[self.row],
            b.emp_planner,
            b.emp_latency,
            self.sf,
            self.si,
            self.ef,
            self.ei,
            self.pf,
            self.A,
            self.dur,
            self.spared,
            self.pub,
            float(until),
        )
        _raise_errors(self.si[K.SI_ERROR : K.SI_ERROR + 1], b.ip[self.row : self.row + 1, K.I_TRIAL])
        return self

    def copy(self) -> CellState:
        other = object.__new__(CellState)
        other.batch, other.row, other.cell = self.batch, self.row, self.cell
        for name in STATE_ARRAYS:
            setattr(other, name, getattr(self, name).copy())
        return other

    def result(self) -> CellResult:
        """The outcome of a finished cell."""
        if not self.finished:
            raise ValueError("the cell-window has not finished; advance it first")
        b = self.batch
        k0, k1 = b.key
        out = np.empty(K.NC)
        affected = np.zeros(self.A.size, np.bool_)
        K.cell_outcome(
            k0,
            k1,
            int(b.ip[self.row, K.I_TRIAL]),
            self.cell,
            b.fp[self.row],
            b.ip[self.row],
            b.weights,
            b.emp_repair,
            self.sf,
            self.si,
            self.A,
            self.spared,
            out,
            affected,
        )
        _raise_errors(out[K.C_ERROR : K.C_ERROR + 1], b.ip[self.row : self.row + 1, K.I_TRIAL])
        return CellResult(
            event=bool(out[K.C_EVENT]),
            observed_s=float(out[K.C_T_END]),
            affected=tuple(int(e) for e in np.flatnonzero(affected)),
            affected_weight=float(out[K.C_WEIGHT]),
            mean_plan_age_s=float(out[K.C_AGE]),
            runs_started=int(out[K.C_RUNS]),
            runs_degraded=int(out[K.C_DEGRADED]),
            runs_abandoned=int(out[K.C_ABANDONED]),
            cause={K.CAUSE_WRITE: "write", K.CAUSE_CLEANUP: "cleanup"}.get(int(out[K.C_CAUSE]), ""),
            repair_s=float(out[K.C_REPAIR]),
        )
