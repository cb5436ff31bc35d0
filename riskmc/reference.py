"""The exact reference simulator (the oracle) of one cell over one window.

This module follows docs/model.md sections 2 and 3 literally, event by event, with a
``heapq`` event loop.  It is deliberately slow and plain: the compiled engine is tested
against it trial by trial (same :class:`~riskmc.model.CellRandomness`), so every rule below
is written so that it can be read next to the text of docs/model.md.

Public API
----------
* :func:`simulate_cell` -- one cell-window, optionally with a post-mortem trace.
* :class:`IndependentRandomness` -- a plain, literal sampler of a cell's random inputs.
* :class:`ScriptedRandomness` -- explicit random inputs, for tests and worked examples.
* :func:`draw_run` -- one run's (degraded, write durations), literally from docs/model.md.
* :func:`trial_generator` / :func:`simulate_many` -- seeded trials, one generator each.

Conventions and the corner cases the model text leaves open (each is also noted where it is
implemented):

* Enactors are 0..K-1, endpoints 0..E-1 (written in that order), generations 0, 1, 2, ...
  with P_0 = 0.  Generation g >= 1 is "published at s" when P_g <= s.
* Same-instant order: write completions, then clean-ups, then decisions (wakes and write
  begins); within each kind by enactor index.  Events are processed one at a time in that
  order, so the cell state moves through that sequence.  A write begins at the completion
  instant of the previous write, but as a decision, i.e. after every completion and
  clean-up of that instant (so ``recheck`` and ``lease`` see them).
* Freeze: the event is detected right after the single state change that first makes an
  endpoint point to a deleted generation (a write completion or a clean-up); everything
  later in the processing order, including completions and clean-ups at the same instant
  by enactors of higher index, does not take effect.  A write-caused event therefore
  affects exactly the written endpoint; a clean-up-caused one every endpoint pointing to a
  generation deleted by it.
* A degenerate zero-duration write completes at its own begin instant; it is then processed
  right after the decision that began it (heap order), before the remaining decisions of
  that instant.
* Only events at times t <= T are processed; an event at exactly T counts.
* ``runs_started`` counts run starts processed (all at t <= t_end, before the freeze);
  ``runs_abandoned`` counts runs stopped by ``recheck``, ``conditional_write``,
  ``deadline`` or ``lease`` (a lease-denied wake is not a run).
* When several mitigations would abandon the same write begin, the trace names the first of
  deadline, recheck, lease (the outcome is the same whichever is named).
* ``lease``: taking the lease counts as a renewal (expiry = take time + seconds); a write
  begin at exactly the expiry instant renews (expired means now > expiry); the run's first
  write begins at the take instant, so it never finds the lease expired.
* ``deadline``: a write beginning exactly ``seconds`` after the run began is allowed ("more
  than" is strict); likewise ``cleanup_min_age`` is strict (P_g < c - age).
* ``cleanup_skip_active`` spares only generations pointed to at the clean-up instant.
* ``mean_plan_age_s`` is 0.0 when t_end == 0 (an empty averaging interval).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np

from riskmc.model import CellOutcome, CellParams, CellRandomness

__all__ = [
    "IndependentRandomness",
    "ScriptedRandomness",
    "TraceRecord",
    "draw_run",
    "simulate_cell",
    "simulate_many",
    "trial_generator",
]

TraceRecord = dict[str, Any]

# Processing order of the kinds of events that share an instant (docs/model.md section 2).
_WRITE_DONE = 0
_CLEANUP = 1
_DECISION = 2  # wakes and write begins (each enactor has at most one pending event)


def _validate(params: CellParams) -> None:
    if params.enactors < 1:
        raise ValueError("enactors must be >= 1")
    if params.endpoints < 1:
        raise ValueError("endpoints must be >= 1")
    if not params.poll_s > 0:
        raise ValueError("poll_s must be > 0")
    if params.keep_generations < 0:
        raise ValueError("keep_generations must be >= 0")
    if params.window_s < 0:
        raise ValueError("window_s must be >= 0")


# --------------------------------------------------------------------------------------
# Randomness
# --------------------------------------------------------------------------------------


def _write_attempts(rng: np.random.Generator, r: float, params: CellParams) -> tuple[int, float]:
    """Attempts N and backoff B_1 + ... + B_{N-1} of one write (latencies drawn by caller).

    Loop over attempts a = 1, 2, ...: attempt a fails with probability r; after a failed
    attempt the enactor waits B_a = V_a * min(backoff_cap, backoff_base * 2^(a-1)),
    V_a ~ Uniform(0, 1) ("full jitter"), and tries again.
    """
    attempt = 1
    backoff = 0.0
    while rng.random() < r:  # attempt `attempt` failed
        v = rng.random()
        backoff += v * min(params.backoff_cap_s, params.backoff_base_s * 2.0 ** (attempt - 1))
        attempt += 1
    return attempt, backoff


def draw_run(params: CellParams, rng: np.random.Generator) -> tuple[bool, np.ndarray]:
    """One run's random inputs, literally from docs/model.md: (degraded, D_1..D_E).

    The run is degraded with probability ``degraded_prob``; its attempts then fail with
    ``degraded_fail_prob`` instead of ``fail_prob``.  Write j's duration is
    D_j = L_1 + ... + L_N + B_1 + ... + B_{N-1} (see :func:`_write_attempts`), the latencies
    L_a i.i.d. from ``write_latency`` (drawn in one call per run, in write/attempt order).
    """
    degraded = bool(rng.random() < params.degraded_prob)
    r = params.degraded_fail_prob if degraded else params.fail_prob
    if not 0.0 <= r < 1.0:
        raise ValueError(f"attempt failure probability must be in [0, 1), got {r}")
    attempts: list[int] = []
    backoffs: list[float] = []
    for _ in range(params.endpoints):
        n_attempts, backoff = _write_attempts(rng, r, params)
        attempts.append(n_attempts)
        backoffs.append(backoff)
    latencies = np.asarray(params.write_latency.rvs(rng, size=sum(attempts)), dtype=float)
    durations = np.empty(params.endpoints)
    first = 0
    for j, n_attempts in enumerate(attempts):
        durations[j] = float(latencies[first : first + n_attempts].sum()) + backoffs[j]
        first += n_attempts
    return degraded, durations


class IndependentRandomness:
    """A cell's random inputs drawn plainly from its own generator (docs/model.md section 2).

    Independent child streams (``rng.spawn``) for the planner, the wake offsets and each
    enactor's runs make the values independent of the order in which they are asked for.
    Every value is memoised: repeated calls return the same values.
    """

    _CHUNK = 64  # planner intervals drawn per call to the distribution

    def __init__(self, params: CellParams, rng: np.random.Generator) -> None:
        _validate(params)
        self._params = params
        planner_rng, wake_rng, runs_rng = rng.spawn(3)
        self._planner_rng = planner_rng
        self._publications: list[float] = []  # P_1, P_2, ... drawn so far
        # U_k ~ Uniform(0, poll), one per enactor.
        self._wake_offsets = [float(u) for u in wake_rng.uniform(0.0, params.poll_s, size=params.enactors)]
        self._run_rngs = runs_rng.spawn(params.enactors)
        self._runs: list[list[tuple[bool, np.ndarray]]] = [[] for _ in range(params.enactors)]

    def _draw_more_publications(self) -> None:
        intervals = self._params.planner_interval.rvs(self._planner_rng, size=self._CHUNK)
        last = self._publications[-1] if self._publications else 0.0
        for x in np.asarray(intervals, dtype=float):
            last = last + float(x)  # P_g = X_1 + ... + X_g
            self._publications.append(last)

    def publication_times(self) -> Iterator[float]:
        g = 0
        while True:
            if g == len(self._publications):
                self._draw_more_publications()
            yield self._publications[g]
            g += 1

    def wake_offset(self, k: int) -> float:
        return self._wake_offsets[k]

    def run_draws(self, k: int, n: int) -> tuple[bool, np.ndarray]:
        runs = self._runs[k]
        while len(runs) <= n:  # runs of enactor k are drawn in order n = 0, 1, 2, ...
            degraded, durations = draw_run(self._params, self._run_rngs[k])
            durations.setflags(write=False)
            runs.append((degraded, durations))
        return runs[n]


class ScriptedRandomness:
    """Explicit random inputs (tests and worked examples).

    ``runs`` maps (enactor, run index) to (degraded, durations of writes 0..E-1);
    ``default_run`` is used for every missing key (a missing key without a default is an
    error).  ``requested`` records the (k, n) keys in the order the simulator asked.
    """

    def __init__(
        self,
        publication_times: Sequence[float],
        wake_offsets: Sequence[float],
        runs: Mapping[tuple[int, int], tuple[bool, Sequence[float]]] | None = None,
        default_run: tuple[bool, Sequence[float]] | None = None,
    ) -> None:
        times = [float(p) for p in publication_times]
        if any(b < a for a, b in itertools.pairwise(times)):
            raise ValueError("publication times must be non-decreasing")
        self._publications = times
        self._wake_offsets = [float(u) for u in wake_offsets]
        self._runs = dict(runs or {})
        self._default_run = default_run
        self.requested: list[tuple[int, int]] = []

    def publication_times(self) -> Iterator[float]:
        return iter(self._publications)

    def wake_offset(self, k: int) -> float:
        return self._wake_offsets[k]

    def run_draws(self, k: int, n: int) -> tuple[bool, np.ndarray]:
        self.requested.append((k, n))
        if (k, n) in self._runs:
            degraded, durations = self._runs[(k, n)]
        elif self._default_run is not None:
            degraded, durations = self._default_run
        else:
            raise KeyError(f"no scripted run for enactor {k}, run {n} and no default_run")
        return bool(degraded), np.asarray(durations, dtype=float)


# --------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------


class _Planner:
    """Lazily consumed publication times; ``times[g]`` is P_g (P_0 = 0)."""

    def __init__(self, publications: Iterator[float]) -> None:
        self._source = publications
        self.times: list[float] = [0.0]
        self._next: float | None = next(self._source, None)

    def newest_at(self, s: float) -> int:
        """The newest generation published at s (largest g with P_g <= s)."""
        while self._next is not None and self._next <= s:
            self.times.append(float(self._next))
            self._next = next(self._source, None)
        return len(self.times) - 1


@dataclass
class _Run:
    """An enactor's run in progress."""

    n: int  # run index of this enactor (0-based, counting every started run)
    gen: int  # the generation g it applies (held in memory)
    start: float  # the wake time s at which it began
    durations: list[float]  # D_1..D_E
    write: int = 0  # the write (0-based endpoint index) in flight or about to begin


class _CellSimulation:
    def __init__(self, params: CellParams, randomness: CellRandomness, trace: bool) -> None:
        _validate(params)
        self.p = params
        self.m = params.mitigations
        self.rnd = randomness
        self.tracing = trace
        self.records: list[TraceRecord] = []
        self.planner = _Planner(iter(randomness.publication_times()))
        self.logged_publications = 0  # generations whose publish record is written

        E, K = params.endpoints, params.enactors
        self.pointing = [0] * E  # A_e: every endpoint points to generation 0 at t = 0
        self.since = [0.0] * E  # when A_e last changed (plan-age integral)
        self.age_integral = 0.0  # sum over endpoints of the integral of t - P_{A_e(t)}
        self.highest = 0  # H(t)
        self.deleted: set[int] = set()
        self.scan_from = 0  # every generation below this one is deleted

        self.runs: list[_Run | None] = [None] * K
        self.run_counts = [0] * K  # runs started by each enactor
        self.runs_started = 0
        self.runs_abandoned = 0
        self.runs_degraded = 0

        self.lease_holder: int | None = None
        self.lease_renewed = 0.0

        self.event_time: float | None = None
        self.affected: tuple[int, ...] = ()

        # (t, phase, k, kind); each enactor has exactly one pending event, so (t, phase, k)
        # is unique and `kind` never takes part in the ordering.
        self.queue: list[tuple[float, int, int, str]] = []
        for k in range(K):
            self._schedule(float(randomness.wake_offset(k)), _DECISION, k, "wake")

    # ---- helpers --------------------------------------------------------------------

    def _schedule(self, t: float, phase: int, k: int, kind: str) -> None:
        heapq.heappush(self.queue, (t, phase, k, kind))

    def _record(
        self,
        t: float,
        kind: str,
        enactor: int | None = None,
        gen: int | None = None,
        endpoint: int | None = None,
        **extra: Any,
    ) -> None:
        if self.tracing:
            rec: TraceRecord = {
                "t": float(t),
                "kind": kind,
                "enactor": enactor,
                "gen": gen,
                "endpoint": endpoint,
            }
            rec.update(extra)
            self.records.append(rec)

    def _log_publications(self, t: float) -> None:
        """Publish records for every generation published at or before t (trace only)."""
        if not self.tracing:
            return
        self.planner.newest_at(t)
        while self.logged_publications + 1 < len(self.planner.times):
            self.logged_publications += 1
            g = self.logged_publications
            self._record(self.planner.times[g], "publish", gen=g)

    def _set_endpoint(self, e: int, g: int, t: float) -> None:
        """A_e <- g at time t, closing the plan-age integral of the previous plan."""
        t0 = self.since[e]
        p = self.planner.times[self.pointing[e]]
        self.age_integral += (t - t0) * ((t0 + t) / 2.0 - p)  # integral of (u - p) du
        self.pointing[e] = g
        self.since[e] = t

    def _detect_event(self, t: float, cause: str, k: int) -> bool:
        """Freeze the cell if some endpoint now points to a deleted generation."""
        affected = tuple(e for e in range(self.p.endpoints) if self.pointing[e] in self.deleted)
        if not affected:
            return False
        self.event_time = t
        self.affected = affected
        self._record(
            t,
            "event",
            enactor=k,
            cause=cause,
            affected=list(affected),
            affected_gens=[self.pointing[e] for e in affected],
        )
        return True

    def _release_lease(self, k: int) -> None:
        if self.lease_holder == k:  # only if it still holds it
            self.lease_holder = None

    def _lease_expired(self, now: float) -> bool:
        assert self.m.lease_s is not None
        return now > self.lease_renewed + self.m.lease_s

    def _abandon(self, k: int, t: float, reason: str) -> None:
        """docs/model.md section 2, step 6: stop at once, no further writes, no clean-up, wake at t + poll."""
        run = self.runs[k]
        assert run is not None
        self.runs[k] = None
        self.runs_abandoned += 1
        if self.m.lease_s is not None:
            self._release_lease(k)
        self._record(
            t,
            "abandon",
            enactor=k,
            gen=run.gen,
            reason=reason,
            run=run.n,
            write=run.write,
            H=self.highest,
        )
        self._schedule(t + self.p.poll_s, _DECISION, k, "wake")

    # ---- event handlers -------------------------------------------------------------

    def _on_wake(self, k: int, s: float) -> None:
        g = self.planner.newest_at(s)  # 1. newest published generation at s
        self._record(s, "wake", enactor=k, gen=g, H=self.highest)
        if g <= self.highest:  # 2. start-time check against the cell-wide H(s)
            self._record(s, "check_fail", enactor=k, gen=g, H=self.highest)
            self._schedule(s + self.p.poll_s, _DECISION, k, "wake")
            return
        self._record(s, "check_pass", enactor=k, gen=g, H=self.highest)
        if self.m.lease_s is not None:
            if self.lease_holder is None or self._lease_expired(s):
                # Taking the lease counts as a renewal: expiry = s + seconds.
                self.lease_holder = k
                self.lease_renewed = s
            else:  # held by another enactor and not expired: sleep, no run
                self._record(
                    s,
                    "lease_denied",
                    enactor=k,
                    gen=g,
                    holder=self.lease_holder,
                    expiry=self.lease_renewed + self.m.lease_s,
                )
                self._schedule(s + self.p.poll_s, _DECISION, k, "wake")
                return
        # 3. Start a run: the n-th run of enactor k takes the n-th run draws.
        n = self.run_counts[k]
        self.run_counts[k] += 1
        self.runs_started += 1
        degraded, durations = self.rnd.run_draws(k, n)
        self.runs_degraded += int(bool(degraded))
        durations_list = [float(d) for d in np.asarray(durations, dtype=float)]
        if len(durations_list) != self.p.endpoints:
            raise ValueError(
                f"run_draws({k}, {n}) gave {len(durations_list)} durations, expected {self.p.endpoints}"
            )
        run = _Run(n=n, gen=g, start=s, durations=durations_list)
        self.runs[k] = run
        self._record(
            s,
            "run_start",
            enactor=k,
            gen=g,
            run=n,
            degraded=bool(degraded),
            durations=durations_list,
        )
        self._begin_write(k, s)

    def _begin_write(self, k: int, b: float) -> None:
        """Write `run.write` begins at b (write 0 at the wake time s)."""
        run = self.runs[k]
        assert run is not None
        j = run.write
        if j > 0:  # the first write (j = 0) is never subject to these checks
            if self.m.deadline_s is not None and b - run.start > self.m.deadline_s:
                self._abandon(k, b, "deadline")
                return
            if self.m.recheck and run.gen < self.highest:
                self._abandon(k, b, "recheck")
                return
        if self.m.lease_s is not None:
            if self.lease_holder != k or self._lease_expired(b):
                self._abandon(k, b, "lease")
                return
            self.lease_renewed = b  # the holder renews at each write's begin
        d = run.durations[j]
        self._record(
            b,
            "write_begin",
            enactor=k,
            gen=run.gen,
            endpoint=j,
            write=j,
            duration=d,
            completes_at=b + d,
        )
        self._schedule(b + d, _WRITE_DONE, k, "write_done")

    def _on_write_done(self, k: int, f: float) -> bool:
        """Write completion at f; returns True if it caused the event."""
        run = self.runs[k]
        assert run is not None
        j, g = run.write, run.gen
        current = self.pointing[j]
        if self.m.conditional_write and current > g:  # compare-and-set rejects
            self._record(f, "write_rejected", enactor=k, gen=g, endpoint=j, current=current)
            self._abandon(k, f, "conditional_write")
            return False
        # Takes effect atomically, even if g has been deleted meanwhile.
        self._set_endpoint(j, g, f)
        self.highest = max(self.highest, g)
        self._record(
            f,
            "write_done",
            enactor=k,
            gen=g,
            endpoint=j,
            replaced=current,
            deleted_gen=g in self.deleted,
            H=self.highest,
        )
        if self._detect_event(f, "write", k):
            return True
        if j == self.p.endpoints - 1:
            self._schedule(f, _CLEANUP, k, "cleanup")  # c = f_E, same instant
        else:
            run.write = j + 1
            self._schedule(f, _DECISION, k, "write_begin")
        return False

    def _on_cleanup(self, k: int, c: float) -> bool:
        """Clean-up at c = f_E; returns True if it caused the event."""
        run = self.runs[k]
        assert run is not None
        g = run.gen
        limit = g - self.p.keep_generations  # every generation < g - G is deletable ...
        min_age = self.m.cleanup_min_age_s
        active = set(self.pointing) if self.m.cleanup_skip_active else set()
        newly_deleted: list[int] = []
        spared_active: list[int] = []
        for old in range(self.scan_from, max(limit, 0)):
            if old in self.deleted:
                continue
            # ... if published more than `age` seconds before c (P is non-decreasing) ...
            if min_age is not None and not self.planner.times[old] < c - min_age:
                break
            # ... and, with cleanup_skip_active, not pointed to by an endpoint now.
            if old in active:
                spared_active.append(old)
                continue
            self.deleted.add(old)
            newly_deleted.append(old)
        while self.scan_from in self.deleted:
            self.scan_from += 1
        extra: dict[str, Any] = {"deleted_below": limit, "deleted": newly_deleted}
        if self.m.cleanup_skip_active:
            extra["spared_active"] = spared_active
        if min_age is not None:
            extra["min_age_cutoff"] = c - min_age
        self._record(c, "cleanup", enactor=k, gen=g, run=run.n, **extra)
        if self._detect_event(c, "cleanup", k):
            return True
        # The run ends: release the lease if still held, wake again at c + poll.
        self.runs[k] = None
        if self.m.lease_s is not None:
            self._release_lease(k)
        self._schedule(c + self.p.poll_s, _DECISION, k, "wake")
        return False

    # ---- main loop ------------------------------------------------------------------

    def run(self) -> CellOutcome:
        T = float(self.p.window_s)
        while self.queue and self.queue[0][0] <= T:
            t, _phase, k, kind = heapq.heappop(self.queue)
            self._log_publications(t)
            if kind == "write_done":
                frozen = self._on_write_done(k, t)
            elif kind == "cleanup":
                frozen = self._on_cleanup(k, t)
            elif kind == "write_begin":
                self._begin_write(k, t)
                frozen = False
            else:
                self._on_wake(k, t)
                frozen = False
            if frozen:
                break

        t_end = self.event_time if self.event_time is not None else T
        if self.event_time is None:
            self._log_publications(T)
        for e in range(self.p.endpoints):  # close every endpoint's plan-age integral
            self._set_endpoint(e, self.pointing[e], t_end)
        mean_age = self.age_integral / (self.p.endpoints * t_end) if t_end > 0 else 0.0
        return CellOutcome(
            event=self.event_time is not None,
            event_time_s=self.event_time if self.event_time is not None else float("inf"),
            affected=self.affected,
            mean_plan_age_s=float(mean_age),
            runs_started=self.runs_started,
            runs_abandoned=self.runs_abandoned,
            runs_degraded=self.runs_degraded,
        )


@overload
def simulate_cell(
    params: CellParams, randomness: CellRandomness, *, trace: Literal[False] = False
) -> CellOutcome: ...


@overload
def simulate_cell(
    params: CellParams, randomness: CellRandomness, *, trace: Literal[True]
) -> tuple[CellOutcome, list[TraceRecord]]: ...


@overload
def simulate_cell(
    params: CellParams, randomness: CellRandomness, *, trace: bool
) -> CellOutcome | tuple[CellOutcome, list[TraceRecord]]: ...


def simulate_cell(
    params: CellParams, randomness: CellRandomness, *, trace: bool = False
) -> CellOutcome | tuple[CellOutcome, list[TraceRecord]]:
    """Simulate one cell over one window of ``params.window_s`` seconds (docs/model.md sections 2, 3).

    With ``trace=True`` also return the chronological, JSON-serialisable list of records
    (keys ``t``, ``kind``, ``enactor``, ``gen``, ``endpoint`` plus kind-specific fields).
    """
    sim = _CellSimulation(params, randomness, trace)
    outcome = sim.run()
    if trace:
        return outcome, sim.records
    return outcome


def trial_generator(seed: int, i: int) -> np.random.Generator:
    """The generator of trial i: ``default_rng(SeedSequence(seed, spawn_key=(i,)))``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,)))


def simulate_many(
    params: CellParams | Sequence[CellParams], n_trials: int | None = None, seed: int = 0
) -> list[CellOutcome]:
    """Independent trials with :class:`IndependentRandomness`, trial i on its own generator.

    ``params`` is either one CellParams (then ``n_trials`` is required) or a sequence, one
    CellParams per trial (then ``n_trials``, if given, must equal its length).
    """
    if isinstance(params, CellParams):
        if n_trials is None:
            raise ValueError("n_trials is required with a single CellParams")
        params_list: Sequence[CellParams] = [params] * n_trials
    else:
        params_list = params
        if n_trials is not None and n_trials != len(params_list):
            raise ValueError("n_trials must equal len(params) when params is a sequence")
    return [
        simulate_cell(p, IndependentRandomness(p, trial_generator(seed, i)))
        for i, p in enumerate(params_list)
    ]
