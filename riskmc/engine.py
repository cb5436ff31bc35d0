"""The vectorized engine: many cell-windows at once, one *run* at a time.

The reference simulator (`riskmc.reference`) steps through every write.  This engine steps
through far fewer occurrences -- enactor wakes and run ends -- across all trials of a chunk
in lockstep, and treats a run's writes as one block:

* At a wake at s, the newest generation g is known and the start-time check needs only
  whether a write of g has completed by s (H never exceeds the newest generation), so a run
  either starts -- and all its write completion times ``f = s + cumsum(D)`` are fixed at
  once -- or the enactor is idle until the next generation is published (the idle wakes in
  between are skipped arithmetically).
* Endpoint state is kept up to a per-trial *horizon*.  At each run end the horizon moves to
  that instant: the pending writes of every in-flight run (at most one per endpoint per
  run) are applied in completion order.  Time order matters only for the plan-age integral
  and for which write an endpoint keeps, so the common case of one in-flight run is a plain
  masked update and only overlapping runs pay for a sort.
* A clean-up can empty the record in two ways (MODEL.md section 2): it deletes a
  generation some endpoint points to (checked at the clean-up, on the state at that
  instant), or it deletes the generation of a run still writing, whose next write then
  empties its endpoint.  The second is scheduled as that slot's next occurrence, so events
  are always found in time order and the trial stops at t*.

No loop here runs per trial: every step is numpy over the trials that have an occurrence.
Loops over enactor slots or pages are bounded by the configuration, not by the trial count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskmc.draws import RUN_PAGE, ChunkDraws
from riskmc.params import TrialParams

#: Generation stored on padding endpoints (beyond a trial's endpoint count): never stale.
_NEVER = np.iinfo(np.int64).max // 4


@dataclass
class CellResults:
    """Per-trial outcomes of a chunk (arrays over rows, in row order)."""

    event: np.ndarray  # bool
    event_time_s: np.ndarray  # inf where no event
    affected: np.ndarray  # bool [rows, max endpoints]
    affected_weight: np.ndarray  # sum of the normalised weights of the affected endpoints
    mean_plan_age_s: np.ndarray
    runs_started: np.ndarray
    runs_abandoned: np.ndarray
    runs_degraded: np.ndarray  # degraded runs among those started (importance-sampling weights)
    window_s: np.ndarray
    observed_s: np.ndarray  # t_end: t* if an event, else the window

    def take(self, rows: np.ndarray | slice) -> CellResults:
        return CellResults(**{k: v[rows] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(parts: list[CellResults]) -> CellResults:
        width = max(p.affected.shape[1] for p in parts)
        out = {}
        for key in parts[0].__dict__:
            arrays = [getattr(p, key) for p in parts]
            if key == "affected":
                arrays = [np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in arrays]
            out[key] = np.concatenate(arrays)
        return CellResults(**out)


class _Cells:
    """The state of every trial of a chunk; methods are the occurrence handlers."""

    def __init__(self, params: TrialParams, draws: ChunkDraws, active: np.ndarray) -> None:
        n = params.n
        self.params, self.draws = params, draws
        self.K, self.E = params.enactors, params.endpoints
        self.T, self.poll, self.G = params.window_s, params.poll_s, params.keep_generations
        kmax, emax = draws.n_enactors, draws.n_writes
        self.kmax, self.emax = kmax, emax
        self.jj = np.arange(emax)
        self.P = draws.publication_times(self.T)  # [n, W]; P[:, 0] = 0; +inf padded
        wake = draws.wake_uniforms() * self.poll[:, None]
        # per enactor slot
        self.next_t = np.where(np.arange(kmax)[None, :] < self.K[:, None], wake, np.inf)
        self.running = np.zeros((n, kmax), bool)
        self.stale = np.zeros((n, kmax), bool)  # the run's generation has been deleted
        self.cleans = np.zeros((n, kmax), bool)
        self.run_n = np.zeros((n, kmax), np.int64)
        self.gen = np.zeros((n, kmax), np.int64)
        self.gen_pub = np.zeros((n, kmax))
        self.applied = np.zeros((n, kmax), np.int64)  # writes of the run already applied
        self.f = np.full((n, kmax, emax), np.inf)  # completion times of the run's effective writes
        self.start_t = np.zeros((n, kmax))
        self.end_t = np.full((n, kmax), np.inf)  # last effective write, or the abandoning instant
        self.n_eff = np.zeros((n, kmax), np.int64)  # writes of the run that take effect
        self.conflict_t = np.full((n, kmax), np.inf)  # conditional_write: next write to check
        # per trial
        self.top_gen = np.zeros(n, np.int64)  # newest generation any started run writes
        self.top_first = np.zeros(n)  # earliest first-write completion of those runs
        self.del_below = np.zeros(n, np.int64)  # generations < this are deleted
        self.A = np.where(self.jj[None, :] < self.E[:, None], 0, _NEVER).astype(np.int64)
        self.A_pub = np.zeros((n, emax))  # publication time of the generation on each endpoint
        self.A_since = np.zeros((n, emax))  # time of the last change of each endpoint
        self.pub_integral = np.zeros(n)  # sum over endpoints of the integral of P_{A_e(t)} dt
        # "Ordered" trials: no endpoint has ever gone back to an older generation, so every
        # endpoint points to the newest finished generation `last_gen` from `front` (its first
        # write there) on, and the per-endpoint arrays above are not kept up to date.
        self.real = self.jj[None, :] < self.E[:, None]
        self.uneven = bool(np.any(self.E != emax))  # some trials have fewer endpoints than others
        self.ordered = np.ones(n, bool)
        self.last_gen = np.zeros(n, np.int64)
        self.last_pub = np.zeros(n)
        self.front = np.zeros((n, emax))
        self.front_sum = np.zeros(n)
        self.newest = np.zeros(n, np.int64)
        self.event_time = np.full(n, np.inf)
        self.affected = np.zeros((n, emax), bool)
        self.t_end = self.T.copy()
        self.runs_started = np.zeros(n, np.int64)
        self.runs_abandoned = np.zeros(n, np.int64)
        self.runs_degraded = np.zeros(n, np.int64)
        self.done = ~active
        self.next_t[self.done] = np.inf
        # mitigations (MODEL.md section 5): the same set for every trial of a scenario
        m = params.mitigations
        self.recheck = "recheck" in m
        self.conditional = "conditional_write" in m
        self.skip_active = "cleanup_skip_active" in m
        self.min_age = _values(m, "cleanup_min_age", "age")
        self.deadline = _values(m, "deadline", "seconds")
        self.lease = _values(m, "lease", "seconds")
        self.holder = np.full(n, -1, np.int64)  # lease holder's enactor slot (-1: nobody)
        self.holder_run = np.zeros(n, np.int64)  # ... and which of its runs holds it
        # Rejected writes and spared generations depend on the exact endpoint state at each
        # write or clean-up: those mitigations keep every trial's state explicit throughout.
        self.always_explicit = self.conditional or self.skip_active
        if self.always_explicit:
            self.ordered[:] = False
            self.applied[:] = emax

    # ---------------------------------------------------------------- endpoint state
    def _apply(
        self, rows: np.ndarray, mask: np.ndarray, times: np.ndarray, gens: np.ndarray, pubs: np.ndarray
    ) -> None:
        """Apply one write per masked endpoint (``times`` in completion order across calls)."""
        since = self.A_since[rows]
        pub = self.A_pub[rows]
        t = np.where(mask, times, since)
        self.pub_integral[rows] += (pub * (t - since)).sum(axis=1)
        self.A_since[rows] = t
        self.A_pub[rows] = np.where(mask, pubs, pub)
        self.A[rows] = np.where(mask, gens, self.A[rows])

    def advance(self, rows: np.ndarray, t: np.ndarray) -> None:
        """Apply, in completion order, every pending write completed by t[i] in trial rows[i]."""
        if rows.size == 0:
            return
        has = np.zeros((rows.size, self.kmax), bool)
        for k in range(self.kmax):
            applied = self.applied[rows, k]
            nxt = np.minimum(applied, self.emax - 1)
            has[:, k] = self.running[rows, k] & (applied < self.emax) & (self.f[rows, k, nxt] <= t)
        count = has.sum(axis=1)
        one = count == 1
        if one.any():
            r, tt = rows[one], t[one]
            k = has[one].argmax(axis=1)
            fr = self.f[r, k]
            due = fr <= tt[:, None]
            mask = due & (self.jj[None, :] >= self.applied[r, k][:, None])
            gens = self.gen[r, k][:, None]
            if self.conditional:
                mask = self._reject(r, np.broadcast_to(k[:, None], mask.shape), mask, gens, fr)
            self._apply(r, mask, fr, gens, self.gen_pub[r, k][:, None])
            self.applied[r, k] = np.minimum(due.sum(axis=1), self.n_eff[r, k])
        many = count > 1
        if many.any():
            r, tt = rows[many], t[many]
            fr = self.f[r]  # [m, K, E]
            due = fr <= tt[:, None, None]
            pending = self.running[r][:, :, None] & (self.jj[None, None, :] >= self.applied[r][:, :, None])
            cand = np.where(due & pending, fr, np.inf)
            order = np.argsort(cand, axis=1, kind="stable")
            times = np.take_along_axis(cand, order, axis=1)
            gens = np.take_along_axis(np.broadcast_to(self.gen[r][:, :, None], cand.shape), order, axis=1)
            pubs = np.take_along_axis(np.broadcast_to(self.gen_pub[r][:, :, None], cand.shape), order, axis=1)
            for rank in range(self.kmax):
                mask = np.isfinite(times[:, rank])
                if self.conditional:
                    mask = self._reject(r, order[:, rank], mask, gens[:, rank], times[:, rank])
                self._apply(r, mask, times[:, rank], gens[:, rank], pubs[:, rank])
            self.applied[r] = np.minimum(due.sum(axis=2), self.n_eff[r])

    def _reject(
        self, rows: np.ndarray, slot: np.ndarray, mask: np.ndarray, gens: np.ndarray, times: np.ndarray
    ) -> np.ndarray:
        """conditional_write: a write lands only if the endpoint's generation is <= its own;
        a rejected write abandons its run at that instant.  Returns the writes that land.

        Rejections happen only at the instants the engine scheduled as conflicts, so a
        rejected write is the last of its run in this batch."""
        rejected = mask & (gens < self.A[rows])
        if rejected.any():
            ri, e = np.nonzero(rejected)
            s = slot[ri, e]
            self._truncate(rows[ri], s, e, times[ri, e], at_write=True)
            mask = mask & ~rejected
        return mask

    def materialize(self, rows: np.ndarray) -> None:
        """Switch ordered trials to explicit per-endpoint state, exact from here on."""
        rows = rows[self.ordered[rows]]
        if rows.size == 0:
            return
        real = self.real[rows]
        self.A[rows] = np.where(real, self.last_gen[rows][:, None], _NEVER)
        self.A_pub[rows] = np.where(real, self.last_pub[rows][:, None], 0.0)
        self.A_since[rows] = self.front[rows]
        # in-flight writes are all later than the front; finished runs are fully applied
        self.applied[rows] = np.where(self.running[rows], 0, self.emax)
        self.applied[rows] = np.minimum(self.applied[rows], self.n_eff[rows])
        self.ordered[rows] = False

    def reorder(self, rows: np.ndarray) -> None:
        """Trials whose enactors are all asleep and whose endpoints all hold one generation
        are ordered again: the front is where the integral has been accounted up to."""
        if self.always_explicit:
            return
        rows = rows[~self.ordered[rows] & ~self.running[rows].any(axis=1)]
        if rows.size == 0:
            return
        A = self.A[rows]
        uniform = np.all((A == A[:, :1]) | ~self.real[rows], axis=1)
        rows = rows[uniform]
        if rows.size == 0:
            return
        self.ordered[rows] = True
        self.last_gen[rows] = self.A[rows, 0]
        self.last_pub[rows] = self.A_pub[rows, 0]
        front = np.where(self.real[rows], self.A_since[rows], 0.0)
        self.front[rows] = front
        self.front_sum[rows] = front.sum(axis=1)

    def finish(self, rows: np.ndarray, t_end: np.ndarray) -> None:
        """Close the trials at t_end: apply what completed by then and close the integral."""
        self.materialize(rows)
        self.advance(rows, t_end)
        self.pub_integral[rows] += (self.A_pub[rows] * (t_end[:, None] - self.A_since[rows])).sum(axis=1)
        self.t_end[rows] = t_end
        self.done[rows] = True

    def empty_record(self, rows: np.ndarray, t: np.ndarray, stale: np.ndarray) -> None:
        """The empty-record event at t in trials rows; ``stale`` marks the affected endpoints."""
        self.event_time[rows] = t
        self.affected[rows] = stale
        self.finish(rows, t)

    # ---------------------------------------------------------------- occurrences
    def newest_generation(self, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Newest generation published at t (P_g <= t); queries per trial never go back in time."""
        g = self.newest[rows]
        for _ in range(2):
            g = g + (self.P[rows, g + 1] <= t)
        behind = np.flatnonzero(self.P[rows, g + 1] <= t)
        if behind.size:  # a long gap: binary search those trials
            r, tt = rows[behind], t[behind]
            last = self.P.shape[1] - 1
            lo = g[behind]
            hi = np.minimum(lo + 64, last)  # gaps are short: search a window first
            hi = np.where(self.P[r, hi] <= tt, last, hi)
            while np.any(hi - lo > 1):
                mid = (lo + hi) // 2
                ok = self.P[r, mid] <= tt
                lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
            g[behind] = lo
        self.newest[rows] = g
        return g

    def wake(self, rows: np.ndarray, k: np.ndarray, t: np.ndarray) -> None:
        g = self.newest_generation(rows, t)
        top = self.top_gen[rows]
        start = (g > top) | ((g == top) & (self.top_first[rows] > t))
        idle = ~start
        if idle.any():
            # Nothing to do until generation g+1 is published: skip the idle wakes between.
            r, kk = rows[idle], k[idle]
            self.next_t[r, kk] = self._first_wake_after(t[idle], self.P[r, g[idle] + 1], self.poll[r])
        if start.any() and self.lease is not None:
            start &= self._take_lease(rows, k, t, start)
        if start.any():
            self.begin_run(rows[start], k[start], t[start], g[start])

    def _take_lease(self, rows: np.ndarray, k: np.ndarray, t: np.ndarray, want: np.ndarray) -> np.ndarray:
        """lease: a wake that passes the start check takes the lease if it is free (nobody,
        or the holder's run has ended) or expired (now > last renewal + seconds); otherwise
        it sleeps for poll.  Returns which wakes got it."""
        assert self.lease is not None
        r, tt = rows[want], t[want]
        h = np.maximum(self.holder[r], 0)
        held = (self.holder[r] >= 0) & self.running[r, h] & (self.run_n[r, h] - 1 == self.holder_run[r])
        # renewals: at the run's start and at each later write begin (f_{j-1}, j < n_eff)
        fr = self.f[r, h]
        renewals = (fr <= tt[:, None]) & (self.jj[None, :] < self.n_eff[r, h][:, None] - 1)
        count = renewals.sum(axis=1)
        last = np.where(count > 0, fr[np.arange(r.size), np.maximum(count - 1, 0)], self.start_t[r, h])
        free = ~held | (tt > last + self.lease[r])
        got = np.zeros(rows.size, bool)
        got[np.flatnonzero(want)[free]] = True
        denied = np.flatnonzero(want)[~free]
        self.next_t[rows[denied], k[denied]] = t[denied] + self.poll[rows[denied]]
        self.holder[rows[got]] = k[got]
        self.holder_run[rows[got]] = self.run_n[rows[got], k[got]]
        return got

    @staticmethod
    def _first_wake_after(base: np.ndarray, publication: np.ndarray, poll: np.ndarray) -> np.ndarray:
        """The first wake base + m*poll (m >= 1) at or after ``publication``.

        Wakes before the next publication are idle for certain (the start-time check fails
        while H holds the newest generation), so the engine jumps over them.
        """
        m = np.maximum(1.0, np.ceil((publication - base) / poll))
        return np.where(np.isfinite(publication), base + m * poll, np.inf)

    def _skip_idle_peers(self, rows: np.ndarray, k: np.ndarray, g: np.ndarray, first: np.ndarray) -> None:
        """A run of g started: a sleeping peer that wakes after its first write completes and
        before g+1 is published will find H = g and stay idle; move it past those wakes now."""
        nxt_pub = self.P[rows, g + 1]
        for k2 in range(self.kmax):
            w = self.next_t[rows, k2]
            idle = (k2 != k) & ~self.running[rows, k2] & (w >= first) & (w < nxt_pub)
            if idle.any():
                r = rows[idle]
                self.next_t[r, k2] = self._first_wake_after(w[idle], nxt_pub[idle], self.poll[r])

    def _check_order(self, rows: np.ndarray, k: np.ndarray, g: np.ndarray, f: np.ndarray) -> None:
        """A new run that will write some endpoint before an older generation's run still in
        flight does ends the ordered shortcut for its trial (before its first write)."""
        back = np.zeros(rows.size, bool)
        for k2 in range(self.kmax):
            older = self.ordered[rows] & (k2 != k) & self.running[rows, k2] & (self.gen[rows, k2] < g)
            if older.any():
                idx = np.flatnonzero(older)
                back[idx] |= np.any(f[idx] < self.f[rows[idx], k2], axis=1)
        if back.any():
            self.materialize(rows[back])

    def begin_run(self, rows: np.ndarray, k: np.ndarray, t: np.ndarray, g: np.ndarray) -> None:
        degraded, durations = self.draws.runs(k, rows, self.run_n[rows, k])
        # f_j = f_{j-1} + D_j, summed left to right exactly as the reference does
        durations[:, 0] += t
        f = np.cumsum(durations, axis=1, out=durations)
        n_writes = self.E[rows]
        if self.uneven:
            f[self.jj[None, :] >= n_writes[:, None]] = np.inf
        n_eff = self._own_abandonment(rows, t, f, n_writes)
        abandoned = n_eff < n_writes
        f[self.jj[None, :] >= n_eff[:, None]] = np.inf
        self._check_order(rows, k, g, f)
        if abandoned.any():  # a partial run breaks the ordered shortcut
            self.materialize(rows[abandoned])
        ar = np.arange(rows.size)
        self.f[rows, k] = f
        self.running[rows, k] = True
        self.stale[rows, k] = False
        self.cleans[rows, k] = ~abandoned
        self.applied[rows, k] = 0
        self.conflict_t[rows, k] = np.inf
        self.gen[rows, k] = g
        self.gen_pub[rows, k] = self.P[rows, g]
        self.start_t[rows, k] = t
        self.n_eff[rows, k] = n_eff
        self.end_t[rows, k] = f[ar, n_eff - 1]
        self.next_t[rows, k] = self.end_t[rows, k]
        self.run_n[rows, k] += 1
        self.runs_started[rows] += 1
        self.runs_degraded[rows] += degraded
        first = f[:, 0]
        newer = g > self.top_gen[rows]
        self.top_first[rows] = np.where(newer, first, np.minimum(self.top_first[rows], first))
        self.top_gen[rows] = np.maximum(self.top_gen[rows], g)
        if self.recheck:
            self._recheck_older(rows, k, g, first)
        if self.conditional:
            for k2 in range(self.kmax):
                older = (k2 != k) & self.running[rows, k2] & (self.gen[rows, k2] < g)
                if older.any():
                    self._schedule_conflict(rows[older], np.full(int(older.sum()), k2))
        self._skip_idle_peers(rows, k, g, first)

    def _own_abandonment(self, rows: np.ndarray, t: np.ndarray, f: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Writes a new run will make before a mitigation stops it by its own clock alone.

        Write j >= 1 begins at f_{j-1}.  ``deadline``: no write begins more than `seconds`
        after the run began.  ``lease``: the holder renews at every write's begin, so it
        finds the lease expired (and abandons) at the first begin more than `seconds` after
        the previous one."""
        n_eff = n.copy()
        begins = f[:, :-1]  # begin of writes 1..E-1
        if self.deadline is not None:
            late = begins - t[:, None] > self.deadline[rows][:, None]
            n_eff = np.minimum(n_eff, _first(late) + 1)
        if self.lease is not None:
            previous = np.concatenate([t[:, None], f[:, :-1]], axis=1)[:, :-1]
            expired = begins > previous + self.lease[rows][:, None]
            n_eff = np.minimum(n_eff, _first(expired) + 1)
        return n_eff

    def _recheck_older(self, rows: np.ndarray, k: np.ndarray, g: np.ndarray, first: np.ndarray) -> None:
        """recheck: once the new run's first write lands (H = g from then on), an older run
        abandons at its next write begin (write completions precede decisions at an instant)."""
        for k2 in range(self.kmax):
            older = (k2 != k) & self.running[rows, k2] & (self.gen[rows, k2] < g)
            if not older.any():
                continue
            r, f1 = rows[older], first[older]
            begins = self.f[r, k2, :-1]  # write j begins at f_{j-1}; inf past the run's end
            blocked = (begins >= f1[:, None]) & (self.jj[None, 1:] < self.n_eff[r, k2][:, None])
            cut = _first(blocked) + 1
            hit = cut < self.n_eff[r, k2]
            if hit.any():
                rr, cc = r[hit], cut[hit]
                self._truncate(rr, np.full(rr.size, k2), cc, self.f[rr, k2, cc - 1], at_write=False)

    def _truncate(
        self, rows: np.ndarray, k: np.ndarray, n_eff: np.ndarray, end: np.ndarray, at_write: bool
    ) -> None:
        """A mitigation stops running runs: only writes < n_eff take effect, the run ends at
        ``end`` (an abandoning write begin, or the rejected write's completion) without a
        clean-up."""
        self.materialize(rows)
        keep = self.jj[None, :] < n_eff[:, None]
        self.f[rows, k] = np.where(keep, self.f[rows, k], np.inf)
        self.n_eff[rows, k] = n_eff
        self.end_t[rows, k] = end
        self.cleans[rows, k] = False
        self.stale[rows, k] &= self.applied[rows, k] < n_eff  # a pending stale write may be gone
        self.conflict_t[rows, k] = np.inf
        self.next_t[rows, k] = np.minimum(self.next_t[rows, k], end) if not at_write else end

    def _schedule_conflict(self, rows: np.ndarray, k: np.ndarray) -> None:
        """conditional_write: the next write of these runs that a newer generation may reach
        first (already on the endpoint, or due earlier from a newer run in flight)."""
        fk = self.f[rows, k]
        g = self.gen[rows, k]
        ahead = (self.jj[None, :] >= self.applied[rows, k][:, None]) & np.isfinite(fk)
        bad = ahead & (self.A[rows] > g[:, None])
        for k2 in range(self.kmax):
            newer = self.running[rows, k2] & (self.gen[rows, k2] > g)
            if newer.any():
                bad |= newer[:, None] & ahead & (self.f[rows, k2] < fk)
        j = _first(bad)
        when = np.where(j < self.emax, fk[np.arange(rows.size), np.minimum(j, self.emax - 1)], np.inf)
        self.conflict_t[rows, k] = when
        self.next_t[rows, k] = np.minimum(self.end_t[rows, k], when)

    def end_run(self, rows: np.ndarray, k: np.ndarray, t: np.ndarray) -> None:
        """A run ends at t: after its last write with a clean-up, or abandoned; then it sleeps."""
        self.runs_abandoned[rows[~self.cleans[rows, k]]] += 1
        ordered = self.ordered[rows]
        if ordered.any():
            self._end_ordered(rows[ordered], k[ordered], t[ordered])
        if not ordered.all():
            self._end_explicit(rows[~ordered], k[~ordered], t[~ordered])
        live = ~self.done[rows]
        r, kk, tt = rows[live], k[live], t[live]
        self.running[r, kk] = False
        wake = tt + self.poll[r]
        # If no generation newer than the top one is published by that wake, and the top
        # one is already written, the wake is idle: go straight to the first useful one.
        nxt_pub = self.P[r, self.top_gen[r] + 1]
        idle = (nxt_pub > wake) & (self.top_first[r] <= wake)
        self.next_t[r, kk] = np.where(idle, self._first_wake_after(tt, nxt_pub, self.poll[r]), wake)
        self.reorder(r[~ordered[live]])

    def _threshold(self, rows: np.ndarray, k: np.ndarray, t: np.ndarray) -> np.ndarray:
        """A clean-up at t by a run of generation g deletes generations below this: g - G,
        and with ``cleanup_min_age`` only those published more than `age` before t."""
        below = self.gen[rows, k] - self.G[rows]
        if self.min_age is not None:
            old_enough = (self.P[rows] < (t - self.min_age[rows])[:, None]).sum(axis=1)  # P_0 = 0
            below = np.minimum(below, old_enough)
        return below

    def _end_ordered(self, rows: np.ndarray, k: np.ndarray, t: np.ndarray) -> None:
        """Run end in an ordered trial: no endpoint can point to a deleted generation here
        (that needs an older write after a newer one), so only the front and the clean-up
        threshold move."""
        g = self.gen[rows, k]
        newer = g > self.last_gen[rows]
        if newer.any():
            r, kk, gg = rows[newer], k[newer], g[newer]
            front = self.f[r, kk]
            for k2 in range(self.kmax):  # a same-generation run may have reached some endpoint first
                same = (k2 != kk) & self.running[r, k2] & (self.gen[r, k2] == gg)
                if same.any():
                    idx = np.flatnonzero(same)
                    front[idx] = np.minimum(front[idx], self.f[r[idx], k2])
            front = np.where(self.real[r], front, 0.0)
            front_sum = front.sum(axis=1)
            self.pub_integral[r] += self.last_pub[r] * (front_sum - self.front_sum[r])
            self.front[r] = front
            self.front_sum[r] = front_sum
            self.last_gen[r] = gg
            self.last_pub[r] = self.gen_pub[r, kk]
        cleans = self.cleans[rows, k]
        r = rows[cleans]
        self.del_below[r] = np.maximum(self.del_below[r], self._threshold(r, k[cleans], t[cleans]))

    def _end_explicit(self, rows: np.ndarray, k: np.ndarray, t: np.ndarray) -> None:
        self.advance(rows, t)
        cleans = self.cleans[rows, k]
        if not cleans.any():
            return
        r, kk, tt = rows[cleans], k[cleans], t[cleans]
        below = self._threshold(r, kk, tt)
        threshold = np.maximum(self.del_below[r], below)
        if not self.skip_active:
            # the clean-up deletes a generation some endpoint points to: the record empties
            stale = self.A[r] < threshold[:, None]
            hit = stale.any(axis=1)
            if hit.any():
                self.empty_record(r[hit], tt[hit], stale[hit])
            ok = ~hit
            r, kk, below, threshold = r[ok], kk[ok], below[ok], threshold[ok]
        self.del_below[r] = threshold
        # Another enactor still writing a generation deleted now empties an endpoint at its
        # next write: make that write its next occurrence.  cleanup_skip_active spares a
        # generation some endpoint points to; a spared one can go at a later clean-up.
        for k2 in range(self.kmax):
            g2 = self.gen[r, k2]
            doomed = (k2 != kk) & self.running[r, k2] & ~self.stale[r, k2]
            if self.skip_active:
                active = np.any((self.A[r] == g2[:, None]) & self.real[r], axis=1)
                doomed &= (g2 < below) & ~active
            else:
                doomed &= g2 < threshold
            rr = r[doomed]
            nxt = self.applied[rr, k2]
            pending = nxt < self.n_eff[rr, k2]
            rr, nxt = rr[pending], nxt[pending]
            self.stale[rr, k2] = True
            self.next_t[rr, k2] = self.f[rr, k2, nxt]

    def stale_write(self, rows: np.ndarray, k: np.ndarray, t: np.ndarray) -> None:
        """A write of a deleted generation completes at t: the record empties -- unless
        conditional_write rejects it (then the run has just been abandoned instead)."""
        self.advance(rows, t)
        if self.skip_active:  # only the generation just written can be deleted (others were active)
            stale = (self.A[rows] == self.gen[rows, k][:, None]) & self.real[rows]
        else:
            stale = self.A[rows] < self.del_below[rows][:, None]
        hit = stale.any(axis=1)
        self.empty_record(rows[hit], t[hit], stale[hit])

    def conflict(self, rows: np.ndarray, k: np.ndarray, t: np.ndarray) -> None:
        """conditional_write: a newer generation may have reached this run's next endpoint
        first.  Apply everything up to t: the write lands or is rejected (ending the run)."""
        self.advance(rows, t)
        self.conflict_t[rows, k] = np.inf
        landed = self.cleans[rows, k] | (self.end_t[rows, k] > t)  # not rejected
        last = landed & (self.end_t[rows, k] == t)
        if last.any():  # it was the run's last write: the run ends here
            self.end_run(rows[last], k[last], t[last])
        on = landed & ~last
        if on.any():
            self._schedule_conflict(rows[on], k[on])

    # ---------------------------------------------------------------- main loop
    def run(self) -> None:
        live = np.flatnonzero(~self.done)
        steps = 0
        while live.size:
            nt = self.next_t[live]
            k = nt.argmin(axis=1)
            t = nt[np.arange(live.size), k]
            over = t > self.T[live]
            if over.any():
                self.finish(live[over], self.T[live[over]])
            go = ~over
            rows, k, t = live[go], k[go], t[go]
            running = self.running[rows, k]
            stale = running & self.stale[rows, k]
            conflict = running & ~stale & (t == self.conflict_t[rows, k])
            ending = running & ~stale & ~conflict
            waking = ~running
            if stale.any():
                self.stale_write(rows[stale], k[stale], t[stale])
            if conflict.any():
                self.conflict(rows[conflict], k[conflict], t[conflict])
            if ending.any():
                self.end_run(rows[ending], k[ending], t[ending])
            if waking.any():
                self.wake(rows[waking], k[waking], t[waking])
            live = rows[~self.done[rows]]
            steps += 1
            if steps % 64 == 0:
                self._release_pages(live)
        self.steps = steps

    def _release_pages(self, live: np.ndarray) -> None:
        for k in range(self.kmax):
            below = int(self.run_n[live, k].min()) // RUN_PAGE if live.size else np.iinfo(np.int64).max
            self.draws.release(k, below)

    def results(self) -> CellResults:
        emax = self.emax
        real = self.jj[None, :] < self.E[:, None]
        weights = self.params.weights
        if weights is None:
            w = np.where(real, 1.0 / self.E[:, None], 0.0)
        else:
            wv = np.asarray(weights, float)
            w = np.zeros((self.E.size, emax))
            w[:, : wv.size] = wv / wv.sum()
        observed = self.t_end
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_age = observed / 2.0 - self.pub_integral / (self.E * observed)
        event = np.isfinite(self.event_time)
        return CellResults(
            event=event,
            event_time_s=self.event_time,
            affected=self.affected & real,
            affected_weight=(w * self.affected).sum(axis=1),
            mean_plan_age_s=mean_age,
            runs_started=self.runs_started,
            runs_abandoned=self.runs_abandoned,
            runs_degraded=self.runs_degraded,
            window_s=self.T,
            observed_s=observed,
        )


def _values(mitigations: dict, name: str, param: str) -> np.ndarray | None:
    """A mitigation's per-trial parameter, or None when the mitigation is off."""
    if name not in mitigations:
        return None
    return np.asarray(mitigations[name][param], dtype=float)


def _first(mask: np.ndarray) -> np.ndarray:
    """Index of the first True along the last axis (its length where there is none)."""
    any_ = mask.any(axis=-1)
    return np.where(any_, mask.argmax(axis=-1), mask.shape[-1])


def simulate_cells(
    params: TrialParams, draws: ChunkDraws, n_used: int | None = None, active: np.ndarray | None = None
) -> CellResults:
    """Simulate the cell-windows of a chunk: rows ``n_used`` and beyond, and rows where
    ``active`` is False, are skipped (their entries in the results mean nothing)."""
    mask = np.ones(params.n, bool) if active is None else np.asarray(active, bool).copy()
    if n_used is not None:
        mask[n_used:] = False
    cells = _Cells(params, draws, mask)
    cells.run()
    return cells.results()
