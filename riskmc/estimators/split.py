"""``split``: adaptive multilevel splitting of p_cell_window, for an event of any cause
(docs/model.md section 8, "split").

Generalized adaptive multilevel splitting (GAMS; Brehier, Gazeau, Goudenege, Lelievre and
Rousset, Ann. Appl. Probab. 26, 2016) on the engine's copyable cell state:

* A cell-window is observed on a grid of ``step`` seconds.  Its **score** at a grid time is
  a function of its past only (:func:`score`): over the runs in progress, the log
  probability that the generations still needed to delete the run's plan are published
  within its expected remaining time; above that, once a peer runs a plan that will delete
  it, 1 plus the peer's progress; an event scores :data:`EVENT_SCORE`.
* N trajectories run to the end of their window.  At each iteration the level z is the k-th
  smallest of their largest scores; those at or below it are replaced by clones of the
  others (chosen uniformly), each taken at the first grid time its parent's score exceeded
  z and continued under its own Philox key.  What a clone inherits that the past has not
  revealed is drawn again from its law given the past (:func:`redraw_hidden`): the next
  planner interval given that it has not ended (while a published plan is unapplied), the
  write in flight given its elapsed time
  (its attempts so far kept), the writes not begun.  The estimate
  prod_j (1 - K_j / N) x (events / N) is unbiased whatever the score; the score decides
  only the variance.
* Independent replicates, each a pure function of (seed, replicate), give a Student-t
  interval (:func:`split`); with a target relative error a pilot of replicates fixes the
  number of further replicates, and the interval is theirs alone (a two-stage rule: without
  a time limit the stopping never looks at the values it reports).

What it supports: one cell per region-window, no sampled parameter, no common-cause shock
(:func:`check_supported` says which key stands in the way, in one line).  Mitigations act
in the engine the trajectories run on, and none changes the law of what a clone draws
again (a write's duration, a planner interval), so every one is supported.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats
from numba import njit

from riskmc import __version__
from riskmc import estimates as est
from riskmc.config import Config
from riskmc.engine import STATE_ARRAYS, cell_state_layout
from riskmc.engine import kernel as K
from riskmc.errors import ConfigError
from riskmc.estimates import ConfidenceInterval, Estimate
from riskmc.streams import Purpose, stream

__all__ = [
    "DEFAULT_KILL",
    "DEFAULT_PARTICLES",
    "DEFAULT_REPLICATES",
    "HEAVY_SPREAD",
    "PILOT_REPLICATES",
    "SplitResult",
    "SplitSpec",
    "check_supported",
    "split",
    "split_replicate",
    "spread_ratio",
]

_JIT: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}

DEFAULT_PARTICLES = 500
DEFAULT_KILL = 50
DEFAULT_REPLICATES = 20
#: Replicates of the pilot stage under a target relative error.
PILOT_REPLICATES = 10
#: Replicates that spread more than this many times what an ideal score gives
#: (:func:`spread_ratio`) are taken as heavy-tailed: their t interval is too narrow.
HEAVY_SPREAD = 3.0
EVENT_SCORE = 1e9
NO_RUN_SCORE = -1e6
#: Grid steps between looks while no run in progress has seen a newer plan published.
COARSE = 4
#: Attempts of a write in flight a clone can hold (a write with more is kept as drawn).
MAX_ATTEMPTS = 64
#: Publication times a trajectory can hold (four times the expected count and 1,024 more;
#: a window publishing more is an error, with odds far below any other of the run's).
MAX_PUBLICATIONS = 1 << 22
_MAX_ITERATIONS = 1_000_000


# -- the score ----------------------------------------------------------------------------


@njit(**_JIT)
def _log_poisson_at_least(n, rho):  # type: ignore[no-untyped-def]
    """log P(N >= n), N Poisson with mean rho."""
    if n <= 0:
        return 0.0
    if rho <= 0.0:
        return NO_RUN_SCORE
    log_term = -rho + n * math.log(rho) - math.lgamma(n + 1.0)
    total, term, i = 1.0, 1.0, n
    while term > 1e-17 * total and i < n + 100_000:
        i += 1
        term *= rho / i
        total += term
    return max(min(log_term + math.log(total), 0.0), NO_RUN_SCORE)


@njit(**_JIT)
def _softplus(x):  # type: ignore[no-untyped-def]
    return x + math.log1p(math.exp(-x)) if x > 0.0 else math.log1p(math.exp(x))


@njit(**_JIT)
def _next_tick(t, scheduled, poll):  # type: ignore[no-untyped-def]
    """An idle enactor's first poll tick after t, from its scheduled wake (which the engine
    may have moved past ticks that would find nothing newer: that move reads the next
    publication, which is not of the past)."""
    if scheduled - poll <= t:
        return scheduled
    w = scheduled - math.floor((scheduled - t) / poll) * poll
    return w if w > t else w + poll


@njit(**_JIT)
def _residual(t, k, fp, ip, ef, ei, dur, mean_d):  # type: ignore[no-untyped-def]
    """The expected remaining time of enactor k's run given its past: its write in flight
    given its elapsed time (a lognormal latency without retries in closed form, else the
    mean write less the elapsed time) and its writes not begun at the mean."""
    w = ei[k, K.EI_WRITE]
    rest = 0.0
    if ei[k, K.EI_KIND] == K.K_DONE:
        r = fp[K.F_R1] if ei[k, K.EI_DEGRADED] == 1 else fp[K.F_R0]
        e = t - (ef[k, K.EF_T] - dur[k, w])  # (the write's begin is of the past)
        f = K.F_LATENCY
        if r == 0.0 and ip[K.I_LATENCY] == K.D_LOGNORM and e > fp[f + 1]:
            s, loc, scale = fp[f], fp[f + 1], fp[f + 2]
            ze = math.log((e - loc) / scale) / s
            ratio = math.erfc((ze - s) / math.sqrt(2.0)) / max(math.erfc(ze / math.sqrt(2.0)), 1e-300)
            rest = max(loc + scale * math.exp(0.5 * s * s) * ratio - e, 0.0)
        else:
            rest = max(mean_d - e, 0.0)
        w += 1
    return rest + (ip[K.I_E] - w) * mean_d


@njit(**_JIT)
def score(t, si, ef, ei, dur, fp, ip, mean_interval, mean_d):  # type: ignore[no-untyped-def]
    """How close the cell is to its event, from its past only (module docstring)."""
    if si[K.SI_EVENT] == K.CAUSE_WRITE or si[K.SI_EVENT] == K.CAUSE_CLEANUP:
        return EVENT_SCORE
    G = ip[K.I_G]
    n_k = ip[K.I_K]
    n_e = ip[K.I_E]
    best = NO_RUN_SCORE
    for k in range(n_k):
        kind = ei[k, K.EI_KIND]
        if kind != K.K_DONE and kind != K.K_BEGIN:
            continue
        g = ei[k, K.EI_GEN]
        behind = min(si[K.SI_NEWEST] - g, G + 1)
        peer = -1.0  # the progress of a peer's run whose clean-up will delete g
        for m in range(n_k):
            if m != k and ei[m, K.EI_KIND] != K.K_WAKE and ei[m, K.EI_GEN] >= g + G + 1:
                peer = max(peer, ei[m, K.EI_WRITE] / n_e)
        if peer >= 0.0:
            level = 1.0 + peer
        else:
            rest = _residual(t, k, fp, ip, ef, ei, dur, mean_d)
            n_idle, next_wake = 0, np.inf
            for m in range(n_k):
                if m != k and ei[m, K.EI_KIND] == K.K_WAKE:
                    n_idle += 1
                    scheduled = ef[m, K.EF_T]
                    tick = _next_tick(t, scheduled, fp[K.F_POLL]) if scheduled < np.inf else t + fp[K.F_POLL]
                    next_wake = min(next_wake, tick)
            peer_run = n_e * mean_d
            if behind >= G + 1:  # published: the next idle peer's wake and run before this run ends
                level = -_softplus(-(rest - (next_wake - t) - peer_run) / mean_d)
            else:  # the publications still needed, then a peer's wake and run
                slack = rest - fp[K.F_POLL] / (n_idle + 1.0) - peer_run
                rho = mean_d * _softplus(slack / mean_d) / mean_interval
                level = _log_poisson_at_least(G + 1 - behind, rho)
        best = max(best, level)
    return best


# -- trajectories on the grid -------------------------------------------------------------


@njit(inline="always", **_JIT)  # (a call with its many arrays costs more than its body)
def _publish_to(k0, k1, fp, ip, emp, sf, si, pub, t):  # type: ignore[no-untyped-def]
    """Publish every generation due by t, as a wake at t would (the same addresses)."""
    newest, newest_pub, next_pub = si[K.SI_NEWEST], sf[K.SF_NEWEST_PUB], sf[K.SF_NEXT_PUB]
    while next_pub <= t:
        newest += 1
        newest_pub = next_pub
        if newest + 1 >= pub.size:
            raise ValueError("more generations than a split trajectory holds")
        pub[newest] = newest_pub
        next_pub = newest_pub + K._interval(k0, k1, 0, 0, newest + 1, fp, ip, emp)
    si[K.SI_NEWEST], sf[K.SF_NEWEST_PUB], sf[K.SF_NEXT_PUB] = newest, newest_pub, next_pub


@njit(**_JIT)
def _next_time(t, step, T, si, ef, ei, dur, ip):  # type: ignore[no-untyped-def]
    """The next grid time to look at, a function of the state (so a replay looks at the same
    times): while no run is in progress (the score is then its least, so no level is first
    exceeded there) the first at or after the next occurrence; while every write in flight
    has been so for e >= 8 steps, about e / 8 later (a stalled write's future scales with
    its elapsed time); while no run in progress has seen a newer plan published, COARSE
    steps later; else the next."""
    i = np.int64(round(t / step))
    nxt = T
    idle = True
    youngest = np.inf
    overtaken = False
    for k in range(ip[K.I_K]):
        kind = ei[k, K.EI_KIND]
        if (kind == K.K_DONE or kind == K.K_BEGIN) and si[K.SI_NEWEST] > ei[k, K.EI_GEN]:
            overtaken = True
        if kind == K.K_DONE:
            idle = False
            youngest = min(youngest, t - (ef[k, K.EF_T] - dur[k, ei[k, K.EI_WRITE]]))
        elif kind == K.K_BEGIN:
            idle = False
            youngest = 0.0
        nxt = min(nxt, ef[k, K.EF_T])
    j = i + 1
    if idle:
        j = max(j, np.int64(math.ceil(nxt / step)))
    elif youngest >= 8.0 * step:
        j = i + np.int64(youngest / (8.0 * step))
    elif not overtaken:
        j = i + COARSE
    return min(j * step, T)


@njit(inline="always", **_JIT)  # (a call with its many arrays costs more than its body)
def _advance(k0, k1, t, fp, ip, emp_p, emp_l, sf, si, ef, ei, pf, A, dur, spared, pub, w):  # type: ignore[no-untyped-def]
    """Advance to look time t.  The engine closes the window as soon as its next occurrence
    is past T, which reads draws not yet revealed (a write's completion): split keeps the
    window open to T, so that its looks and a clone's redraws never depend on them (only
    the engine's closing bookkeeping, which split does not read, is repeated).  Where no
    occurrence is due by t before the window's end the engine would change nothing but
    that bookkeeping (at T each time, so done once at T as well), and is not called."""
    due = t >= fp[K.F_T]
    for k in range(ip[K.I_K]):
        due = due or ef[k, K.EF_T] <= t
    if due:
        K.advance_cell_with(
            k0, k1, 0, 0, fp, ip, emp_p, emp_l, sf, si, ef, ei, pf, A, dur, spared, pub, t, w[0], w[1], w[2]
        )
        if si[K.SI_EVENT] == K.WINDOW_OVER and t < fp[K.F_T]:
            si[K.SI_EVENT] = 0
    if si[K.SI_EVENT] == 0:
        _publish_to(k0, k1, fp, ip, emp_p, sf, si, pub, t)


@njit(**_JIT)
def run_to_end(
    idx, keys, t0, floor, fp, ip, emp_p, emp_l, sf, si, ef, ei, pf, A, dur, spared, pub, step, mi, md
):  # type: ignore[no-untyped-def]
    """Continue trajectories ``idx`` from their states at t0 to their event or window end;
    their largest scores (the state's own at t0 included, and at least ``floor``: a clone's
    score where it was taken, which its redraws may have moved by a rounding)."""
    T = fp[K.F_T]
    out = np.empty(idx.size)
    w = K.scratch(ip[K.I_E])  # (once: a look is cheap, an allocation at each is not)
    for n in range(idx.size):
        i = idx[n]
        t = t0[i]
        # one trajectory's arrays, taken once (a view at every look costs its reference counts)
        sf_i, si_i, ef_i, ei_i, dur_i = sf[i], si[i], ef[i], ei[i], dur[i]
        pf_i, A_i, spared_i, pub_i = pf[i], A[i], spared[i], pub[i]
        k0, k1 = keys[i, 0], keys[i, 1]
        best = max(score(t, si_i, ef_i, ei_i, dur_i, fp, ip, mi, md), floor[i])
        while si_i[K.SI_EVENT] == 0 and si_i[K.SI_ERROR] == 0 and t < T:
            t = _next_time(t, step, T, si_i, ef_i, ei_i, dur_i, ip)
            _advance(
                k0, k1, t, fp, ip, emp_p, emp_l, sf_i, si_i, ef_i, ei_i, pf_i, A_i, dur_i, spared_i, pub_i, w
            )
            best = max(best, score(t, si_i, ef_i, ei_i, dur_i, fp, ip, mi, md))
        if si[i, K.SI_ERROR] != 0:
            raise ValueError("the engine failed on a split trajectory (an attempt or generation limit)")
        if best != best:
            raise ValueError("a split trajectory's score is not a number")
        out[n] = best
    return out


@njit(**_JIT)
def _first_above(
    k0, k1, t, z, floor, fp, ip, emp_p, emp_l, sf, si, ef, ei, pf, A, dur, spared, pub, step, mi, md
):  # type: ignore[no-untyped-def]
    """Replay a trajectory from its origin state (in place) to the first grid time its score
    exceeds z; that time and that score.  At the origin the score is at least ``floor``, as
    :func:`run_to_end` counted it."""
    T = fp[K.F_T]
    w = K.scratch(ip[K.I_E])
    now = max(score(t, si, ef, ei, dur, fp, ip, mi, md), floor)
    while now <= z:
        if si[K.SI_EVENT] != 0 or t >= T:
            raise ValueError("a split parent's replay never exceeded its level")
        t = _next_time(t, step, T, si, ef, ei, dur, ip)
        _advance(k0, k1, t, fp, ip, emp_p, emp_l, sf, si, ef, ei, pf, A, dur, spared, pub, w)
        now = score(t, si, ef, ei, dur, fp, ip, mi, md)
    return t, now


# -- what a clone draws again -------------------------------------------------------------


@njit(**_JIT)
def _lognorm_beyond(s, loc, scale, x, v):  # type: ignore[no-untyped-def]
    """A lognormal (s, loc, scale) given that it exceeds x, by inversion of v in (0, 1)."""
    if x <= loc:
        return loc + scale * math.exp(s * -K.ndtri(v))
    zx = math.log((x - loc) / scale) / s
    tail = 0.5 * math.erfc(zx / math.sqrt(2.0))  # P(Z > zx)
    return max(loc + scale * math.exp(s * -K.ndtri(v * tail)), x)


@njit(**_JIT)
def _latency_beyond(kind, p0, p1, p2, x, v):  # type: ignore[no-untyped-def]
    """A latency given that it exceeds x (lognormal or exponential), by inversion of v."""
    if kind == K.D_LOGNORM:
        return _lognorm_beyond(p0, p1, p2, x, v)
    return max(x, p0) + p1 * -math.log(v)  # expon (loc, scale): memoryless beyond loc


@njit(**_JIT)
def composition(k0, k1, k, n, j, fp, ip, emp, r, logr, out):  # type: ignore[no-untyped-def]
    """The phase ends of write j of enactor k's run n as the engine draws it (the draws of
    :func:`~riskmc.engine.kernel.write_duration`), from the write's begin: out[2a - 2] the
    end of attempt a's latency, out[2a - 1] the end of backoff B_a.  Their count; -1 when
    they do not fit in ``out``."""
    c0 = K.U64(0)
    c1 = K.word1(K.P_ATTEMPT, 0, 0, k)
    c2 = K.U64(n)
    c3 = K.U64(j) << K._S16
    f = K.F_LATENCY
    kind = ip[K.I_LATENCY]
    o0, o1, o2, o3 = K.philox(c0, c1, c2, c3, k0, k1)
    acc = K.sample(
        kind, fp[f], fp[f + 1], fp[f + 2], fp[f + 3], emp, K.bits64(o0, o1), c0, c1, c2, c3, k0, k1
    )
    out[0] = acc
    u = K.u_oc(K.bits64(o2, o3))
    if u > r:
        return 1
    extra = max(np.int64(math.floor(K.log_(u) / logr)), 1)
    if 2 * extra + 1 > out.size:
        return -1
    b = fp[K.F_BASE]
    for a in range(1, extra + 1):
        c3a = c3 | K.U64(a)
        o0, o1, o2, o3 = K.philox(c0, c1, c2, c3a, k0, k1)
        latency = K.sample(
            kind, fp[f], fp[f + 1], fp[f + 2], fp[f + 3], emp, K.bits64(o0, o1), c0, c1, c2, c3a, k0, k1
        )
        acc += K.u_open(K.bits64(o2, o3)) * min(fp[K.F_CAP], b)
        out[2 * a - 1] = acc
        acc += latency
        out[2 * a] = acc
        b *= 2.0
    return 2 * extra + 1


@njit(**_JIT)
def _redraw_in_flight(k0, k1, pk0, pk1, t, u, fp, ip, emp_l, k, ef, ei, dur, comp, compi):  # type: ignore[no-untyped-def]
    """Enactor k's write in flight given its elapsed time: its attempts so far kept, the
    phase in progress (a latency or a backoff) given its elapsed part, the rest afresh:
    u[0] draws the phase's remainder, u[1] the further failures (geometric, by inversion as
    the engine draws them: an attempt fails with probability r whatever its latency), and
    each further attempt a reads the block (write << 16 | a) of the clone's key k0, k1,
    which the clone's engine never reads (the write is in flight).  ``comp[k]`` holds the
    phase ends of a write a clone drew (``compi[k]``: their count, -1 when they did not
    fit, and the write's identity); a write the engine drew is recomposed from the
    parent's key pk0, pk1.  A write that cannot be recomposed is kept as drawn."""
    kind = ip[K.I_LATENCY]
    if kind != K.D_LOGNORM and kind != K.D_EXPON:
        return  # kept as drawn: valid, only less diverse
    w = ei[k, K.EI_WRITE]
    n = ei[k, K.EI_RUNS] - 1
    r = fp[K.F_R1] if ei[k, K.EI_DEGRADED] == 1 else fp[K.F_R0]
    log_r = K.log_(r) if r > 0.0 else -1.0
    ident = n * ip[K.I_E] + w + 1
    if compi[k, 1] == ident:
        count = compi[k, 0]
    else:
        count = composition(pk0, pk1, k, n, w, fp, ip, emp_l, r, log_r, comp[k])
    if count < 0:
        return
    begun = ef[k, K.EF_T] - dur[k, w]
    e = t - begun
    i = 0
    while i < count and comp[k, i] <= e:
        i += 1
    if i >= count:  # (rounding: the write ends at t)
        return
    f = K.F_LATENCY
    p0, p1, p2, p3 = fp[f], fp[f + 1], fp[f + 2], fp[f + 3]
    start = comp[k, i - 1] if i > 0 else 0.0
    attempt = i // 2 + 1  # whose latency (i even) or backoff (i odd) is in progress
    if i % 2 == 0:
        acc = start + _latency_beyond(kind, p0, p1, p2, e - start, u[0])
        failures = 0  # further failures, the one in progress included
        if r > 0.0 and u[1] <= r:
            failures = max(np.int64(math.floor(K.log_(u[1]) / log_r)), 1)
    else:
        x = e - start
        cap = min(fp[K.F_CAP], fp[K.F_BASE] * 2.0 ** (attempt - 1))
        acc = start + x + u[0] * (cap - x)  # the jitter given B_a > x: uniform on (x, cap)
        failures = 0  # the next attempt is due; it and those after may fail
        if r > 0.0 and u[1] <= r:
            failures = max(np.int64(math.floor(K.log_(u[1]) / log_r)), 1)
        failures += 1  # (counting the attempt a + 1 as a further one, without its backoff first)
    if attempt + failures >= K.MAX_ATTEMPTS:
        return  # (the engine's own limit; kept as drawn, its composition untouched)
    comp[k, i] = acc
    i += 1
    c0 = K.U64(0)
    c1 = K.word1(K.P_ATTEMPT, 0, 0, k)
    c2 = K.U64(n)
    c3 = K.U64(w) << K._S16
    fits = True
    first_backoff = i % 2 == 1  # after a latency: a backoff first; after a backoff: a latency
    for a in range(attempt, attempt + failures):
        c3a = c3 | K.U64(a)
        o0, o1, o2, o3 = K.philox(c0, c1, c2, c3a, k0, k1)
        if first_backoff or a > attempt:
            acc += K.u_open(K.bits64(o2, o3)) * min(fp[K.F_CAP], fp[K.F_BASE] * 2.0 ** (a - 1))
            fits = fits and i < comp.shape[1]
            if fits:
                comp[k, i] = acc
            i += 1
        acc += K.sample(kind, p0, p1, p2, p3, emp_l, K.bits64(o0, o1), c0, c1, c2, c3a, k0, k1)
        fits = fits and i < comp.shape[1]
        if fits:
            comp[k, i] = acc
        i += 1
    dur[k, w] = acc
    ef[k, K.EF_T] = begun + acc
    compi[k, 0] = i if fits else -1
    compi[k, 1] = ident


@njit(**_JIT)
def redraw_hidden(k0, k1, pk0, pk1, t, u, fp, ip, emp_l, sf, si, ef, ei, dur, comp, compi):  # type: ignore[no-untyped-def]
    """Draw again, from their law given the past, what a clone inherits unrevealed (its new
    key k0, k1; its parent's pk0, pk1; ``u`` its uniforms)."""
    if si[K.SI_EVENT] != 0:
        return
    n_k = ip[K.I_K]
    # The next interval, given that it has not ended: only while a published plan is not yet
    # applied (H < newest).  Once one is (H == newest) the engine moves idle enactors' wakes
    # past the next publication, so their wake times (which the score reads) carry it: it
    # is kept then, and the rule "redraw or keep" reads the past only.
    if ip[K.I_PLANNER] == K.D_EXPON and si[K.SI_H] < si[K.SI_NEWEST]:
        loc, scale = fp[K.F_PLANNER], fp[K.F_PLANNER + 1]
        newest_pub = sf[K.SF_NEWEST_PUB]
        if t - newest_pub < loc:  # X > t - P says nothing
            sf[K.SF_NEXT_PUB] = newest_pub + loc + scale * -math.log(u[0])
        else:
            sf[K.SF_NEXT_PUB] = t + scale * -math.log(u[0])
    for k in range(n_k):
        kind = ei[k, K.EI_KIND]
        if kind != K.K_DONE and kind != K.K_BEGIN:
            continue
        r = fp[K.F_R1] if ei[k, K.EI_DEGRADED] == 1 else fp[K.F_R0]
        log_r = K.log_(r) if r > 0.0 else -1.0
        first = ei[k, K.EI_WRITE]
        if kind == K.K_DONE:
            _redraw_in_flight(
                k0, k1, pk0, pk1, t, u[1 + 2 * k : 3 + 2 * k], fp, ip, emp_l, k, ef, ei, dur, comp, compi
            )
            first += 1
        for m in range(first, ip[K.I_E]):  # not begun: independent of the past
            d, attempts = K.write_duration(
                k0, k1, 0, 0, k, ei[k, K.EI_RUNS] - 1, m, fp, ip, emp_l, r, log_r, 0.0
            )
            if attempts < 0 or d != d:
                si[K.SI_ERROR] = K.E_ATTEMPTS if attempts < 0 else K.E_CONTINUATION
            dur[k, m] = d


@njit(**_JIT)
def branch(
    killed,
    parents,
    z,
    keys,
    new_keys,
    u,
    t_origin,
    floor,
    fp,
    ip,
    emp_p,
    emp_l,
    o_sf,
    o_si,
    o_ef,
    o_ei,
    o_pf,
    o_A,
    o_dur,
    o_spared,
    o_pub,
    o_comp,
    o_compi,
    sf,
    si,
    ef,
    ei,
    pf,
    A,
    dur,
    spared,
    pub,
    comp,
    compi,
    step,
    mi,
    md,
):  # type: ignore[no-untyped-def]
    """Replace each killed trajectory by a clone of its parent at the parent's first grid
    time above z (replayed from the parent's origin), with a new key and its unrevealed
    draws drawn again; the clone's state there becomes its origin.  Every parent's origin is
    read before any is overwritten (a killed trajectory is never a parent)."""
    for n in range(killed.size):
        dst, src = killed[n], parents[n]
        sf[dst] = o_sf[src]
        si[dst] = o_si[src]
        ef[dst] = o_ef[src]
        ei[dst] = o_ei[src]
        pf[dst] = o_pf[src]
        A[dst] = o_A[src]
        dur[dst] = o_dur[src]
        spared[dst] = o_spared[src]
        pub[dst] = o_pub[src]
        comp[dst] = o_comp[src]
        compi[dst] = o_compi[src]
        t, at = _first_above(
            keys[src, 0],
            keys[src, 1],
            t_origin[src],
            z,
            floor[src],
            fp,
            ip,
            emp_p,
            emp_l,
            sf[dst],
            si[dst],
            ef[dst],
            ei[dst],
            pf[dst],
            A[dst],
            dur[dst],
            spared[dst],
            pub[dst],
            step,
            mi,
            md,
        )
        redraw_hidden(
            new_keys[n, 0],
            new_keys[n, 1],
            keys[src, 0],
            keys[src, 1],
            t,
            u[n],
            fp,
            ip,
            emp_l,
            sf[dst],
            si[dst],
            ef[dst],
            ei[dst],
            dur[dst],
            comp[dst],
            compi[dst],
        )
        t_origin[dst] = t
        floor[dst] = at
    for n in range(killed.size):
        dst = killed[n]
        keys[dst] = new_keys[n]
        o_sf[dst] = sf[dst]
        o_si[dst] = si[dst]
        o_ef[dst] = ef[dst]
        o_ei[dst] = ei[dst]
        o_pf[dst] = pf[dst]
        o_A[dst] = A[dst]
        o_dur[dst] = dur[dst]
        o_spared[dst] = spared[dst]
        o_pub[dst] = pub[dst]
        o_comp[dst] = comp[dst]
        o_compi[dst] = compi[dst]


@njit(**_JIT)
def _mean_duration(fp, ip, emp_l):  # type: ignore[no-untyped-def]
    """The mean write duration outside a degraded run, from 20,000 addressed draws (a
    constant of the score only)."""
    r = fp[K.F_R0]
    log_r = K.log_(r) if r > 0.0 else -1.0
    total = 0.0
    for i in range(20_000):
        total += K.write_duration(K.U64(7), K.U64(11), 0, 0, 0, i, 0, fp, ip, emp_l, r, log_r, 0.0)[0]
    return total / 20_000


@njit(**_JIT)
def _init_all(keys, fp, ip, emp_p, sf, si, ef, ei, pf, A, pub):  # type: ignore[no-untyped-def]
    for i in range(keys.shape[0]):
        K.init_cell(
            keys[i, 0], keys[i, 1], 0, 0, fp, ip, emp_p, sf[i], si[i], ef[i], ei[i], pf[i], A[i], pub[i]
        )


# -- the estimator ------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitSetup:
    """A supported configuration's kernel inputs and the constants of the score."""

    fp: np.ndarray
    ip: np.ndarray
    emp_planner: np.ndarray
    emp_latency: np.ndarray
    mean_interval: float
    mean_duration: float
    step: float
    publications: int  # the publication times a trajectory holds


def check_supported(config: Config) -> SplitSetup:
    """The setup of a configuration ``split`` supports; a ConfigError naming the key that
    stands in the way otherwise (decided from the configuration, not from a sample)."""
    from riskmc.config import CASCADE_MITIGATIONS, KEYS
    from riskmc.distributions import DistSpec
    from riskmc.params import sample_windows

    for key, value in config.values.items():
        # (the cascade's parameters do not touch the race, which is all split estimates)
        if isinstance(value, DistSpec) and KEYS[key].kind != "use" and not key.startswith("cascade."):
            raise ConfigError(key, "--estimator split needs it fixed, not sampled per region-window")
    for name, params in config.mitigations.items():
        if name in CASCADE_MITIGATIONS:  # (downstream of the race too)
            continue
        for param, value in params.items():
            path = f"mitigations.{name}.{param}"
            spec = KEYS.get(path)
            if isinstance(value, DistSpec) and (spec is None or spec.kind != "use"):
                raise ConfigError(path, "--estimator split needs it fixed, not sampled per region-window")
    if config.values["region.cells"] != 1:
        raise ConfigError("region.cells", "--estimator split needs one cell per region-window")
    if float(config.values["region.shock.prob"]) > 0:  # type: ignore[arg-type]
        raise ConfigError("region.shock.prob", "--estimator split does not support a common-cause shock")
    batch = sample_windows(config, 0, 2).batch(0)
    fp, ip = batch.fp[0].copy(), batch.ip[0].copy()
    intervals = K.draws_of(
        int(ip[K.I_PLANNER]), *fp[K.F_PLANNER : K.F_PLANNER + 4], batch.emp_planner,
        np.arange(20_000, dtype=np.int64), K.P_PLANNER, 0, 0, K.U64(3), K.U64(5),
    )  # fmt: skip
    mean_interval = float(np.mean(intervals))
    # a trajectory's publication times: four times the mean count, and room to spare
    expected = float(fp[K.F_T]) / mean_interval if mean_interval > 0 else math.inf
    if not 4.0 * expected + 1024 <= MAX_PUBLICATIONS:
        raise ConfigError(
            "planner.interval",
            f"--estimator split holds at most {MAX_PUBLICATIONS:,} generations a window; about "
            f"{expected:,.0f} are expected in window.hours = {config.values['window.hours']}",
        )
    publications = 1 << max(12, math.ceil(math.log2(4.0 * expected + 1024)))
    mean_d = float(_mean_duration(fp, ip, batch.emp_latency))
    return SplitSetup(
        fp=fp,
        ip=ip,
        emp_planner=batch.emp_planner,
        emp_latency=batch.emp_latency,
        mean_interval=mean_interval,
        mean_duration=mean_d,
        # a grid fine enough to branch within a run: half a mean write, at most 0.25 s
        step=float(min(0.25, max(mean_d / 2.0, 1e-3))),
        publications=publications,
    )


def _layout(setup: SplitSetup) -> dict[str, tuple[tuple[int, ...], type]]:
    """A trajectory's arrays: the engine's cell state (its publication times sized for the
    window), then the phase ends of each enactor's write in flight and their count and
    identity."""
    n_k, n_e = int(setup.ip[K.I_K]), int(setup.ip[K.I_E])
    return {
        **cell_state_layout(n_k, n_e, setup.publications),
        "comp": ((n_k, 2 * MAX_ATTEMPTS + 1), np.float64),
        "compi": ((n_k, 2), np.int64),
    }


def _state(setup: SplitSetup, n: int) -> dict[str, np.ndarray]:
    return {name: np.zeros((n, *shape), dtype) for name, (shape, dtype) in _layout(setup).items()}


def state_bytes(setup: SplitSetup, particles: int) -> int:
    """The bytes one replicate's trajectories hold (their states and their origins)."""
    per = sum(math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype in _layout(setup).values())
    return 2 * particles * per


@dataclass(frozen=True)
class SplitSpec:
    """``split`` with a fixed number of replicates: what a sweep point runs (the estimator
    of each point, as a :class:`~riskmc.estimators.Plan` is for sampled windows)."""

    replicates: int = DEFAULT_REPLICATES
    particles: int = DEFAULT_PARTICLES
    kill: int = DEFAULT_KILL
    threads: int = 1  # replicates at once (the results do not depend on it)

    def __post_init__(self) -> None:
        if self.replicates < 2 or not 1 <= self.kill < self.particles:
            raise ValueError("split needs at least 2 replicates and 1 <= kill < particles")

    @property
    def short(self) -> str:
        return f"split(N={self.particles}, k={self.kill})"

    def run(self, config: Config, seed: int, threads: int | None = None) -> SplitResult:
        """:func:`split` of ``config`` with these replicates and settings (on ``threads``,
        default this spec's: the results do not depend on them)."""
        return split(
            config,
            seed,
            replicates=self.replicates,
            particles=self.particles,
            kill=self.kill,
            threads=self.threads if threads is None else threads,
        )


class Interrupted(Exception):
    """A replicate ended early because the run was interrupted."""


@dataclass(frozen=True)
class Replicate:
    """One GAMS estimate: p, its iterations and the trajectories it simulated."""

    p: float
    iterations: int
    trajectories: int
    events: int


def split_replicate(
    setup: SplitSetup,
    seed: int,
    replicate: int,
    particles: int,
    kill: int,
    stop: threading.Event | None = None,
) -> Replicate:
    """One GAMS estimate of p_cell_window: a pure function of (seed, replicate).  ``stop``,
    once set, ends it at its next iteration (Interrupted)."""
    rng = stream(seed, replicate, Purpose.SPLIT)
    fp, ip, emp_p, emp_l = setup.fp, setup.ip, setup.emp_planner, setup.emp_latency
    n = particles
    scalars = (setup.step, setup.mean_interval, setup.mean_duration)
    origin = _state(setup, n)
    keys = rng.integers(0, 2**32, size=(n, 2), dtype=np.uint64)
    _init_all(keys, fp, ip, emp_p, *(origin[m] for m in ("sf", "si", "ef", "ei", "pf", "A", "pub")))
    state = {m: v.copy() for m, v in origin.items()}
    t_origin = np.zeros(n)
    floor = np.full(n, -np.inf)
    engine = [state[m] for m in STATE_ARRAYS]
    best = run_to_end(np.arange(n), keys, t_origin, floor, fp, ip, emp_p, emp_l, *engine, *scalars)
    log_p, simulated = 0.0, n
    n_uniforms = 1 + 2 * int(ip[K.I_K])
    for iteration in range(_MAX_ITERATIONS):
        if stop is not None and stop.is_set():
            raise Interrupted
        z = np.partition(best, kill - 1)[kill - 1]
        if z >= EVENT_SCORE:
            break
        killed = np.flatnonzero(best <= z)
        alive = np.flatnonzero(best > z)
        if alive.size == 0:  # every trajectory at the level: extinct
            return Replicate(0.0, iteration, simulated, 0)
        log_p += math.log1p(-killed.size / n)
        parents = alive[rng.integers(0, alive.size, size=killed.size)]
        new_keys = rng.integers(0, 2**32, size=(killed.size, 2), dtype=np.uint64)
        u = 1.0 - rng.random((killed.size, n_uniforms))  # in (0, 1]: logs and quantiles finite
        branch(
            killed, parents, z, keys, new_keys, u, t_origin, floor, fp, ip, emp_p, emp_l,
            *(origin[m] for m in origin), *(state[m] for m in state), *scalars,
        )  # fmt: skip
        best[killed] = run_to_end(killed, keys, t_origin, floor, fp, ip, emp_p, emp_l, *engine, *scalars)
        simulated += killed.size
    else:
        raise ValueError(f"more than {_MAX_ITERATIONS:,} levels in one replicate")
    events = int(np.count_nonzero(best >= EVENT_SCORE))
    return Replicate(math.exp(log_p) * events / n, iteration, simulated, events)


@dataclass(frozen=True)
class SplitResult:
    """A ``split`` run: p_cell_window with its interval, and how it was reached."""

    estimate: Estimate
    replicates: tuple[Replicate, ...]
    pilot: tuple[Replicate, ...]
    particles: int
    kill: int
    stopped_by: str
    cpu_s: float
    config: Config
    seed: int
    target_rel_err: float | None = None
    elapsed_s: float = math.nan

    @property
    def trajectories(self) -> int:
        return sum(r.trajectories for r in self.replicates + self.pilot)

    @property
    def spread(self) -> float:
        """:func:`spread_ratio` of the replicates reported (above :data:`HEAVY_SPREAD`:
        heavy-tailed, the interval too narrow)."""
        return spread_ratio([r.p for r in self.replicates], self.particles)

    @property
    def short(self) -> str:
        """The estimator with its settings, as a row's ``proposal``."""
        return SplitSpec(DEFAULT_REPLICATES, self.particles, self.kill).short

    def row(self) -> dict[str, object]:
        """The results row: p_cell_window (and p_region_window, the same with one cell), how
        it was reached, the parameters; the columns of ``riskmc run``'s row that need a
        sample of windows are absent."""
        p = self.estimate
        row: dict[str, object] = {
            "scenario": self.config.name,
            "estimator": "split",
            "proposal": self.short,
        }
        row.update(p.columns("p_cell_window"))
        row.update(p.columns("p_region_window"))  # one cell per region-window (check_supported)
        row.update(
            {
                "rel_err": t_rel_err(p),
                "replicates": len(self.replicates),
                "pilot_replicates": len(self.pilot),
                "particles": self.particles,
                "kill": self.kill,
                "trajectories": self.trajectories,
                "stopped_by": self.stopped_by,
                "replicate_spread": self.spread,
                "target_rel_err": math.nan if self.target_rel_err is None else self.target_rel_err,
                "seed": self.seed,
                "version": __version__,
                "elapsed_s": self.elapsed_s,
                "cpu_s": self.cpu_s,
            }
        )
        for key, value in self.config.flat().items():
            if key not in ("name", "seed", "trials"):
                row[key] = value
        return row


def replicate_interval(values: np.ndarray, particles: int, label: str) -> Estimate:
    """The mean of independent replicates with a Student-t interval, its lower end clipped at
    0; where every replicate is 0, the zero-hit bound (upper tail (1 - 0.95) / 2, as the
    project's other zero-hit bounds) of the plain windows every replicate starts with (R x N
    windows drawn from the model, none with an event)."""
    x = np.asarray(values, dtype=float)
    r = x.size
    if r and not np.any(x > 0):
        hi = float(1.0 - ((1.0 - est.CONFIDENCE) / 2.0) ** (1.0 / (r * particles)))
        return Estimate(
            0.0,
            ConfidenceInterval(0.0, hi),
            f"{label}: no event; zero-hit bound of the {r * particles:,} initial windows",
            math.nan,
        )
    m = est.mean(x)
    lo = max(m.confidence_interval.low, 0.0)
    return Estimate(
        m.estimate,
        ConfidenceInterval(lo, m.confidence_interval.high),
        f"{label}: t over {r} replicates",
        m.standard_error,
    )


def spread_ratio(values: np.ndarray | Sequence[float], particles: int) -> float:
    """The replicates' relative standard deviation over an ideal score's, sqrt(-ln p / N)
    (splitting with the committor as its score: the number of levels is then Poisson and
    Var(p-hat) / p^2 ~ -ln p / N).  Near 1 where the score follows the mechanism; over 40
    pilots of 10 replicates each, retries at p ~ 7e-5 gave 1.2 to 2.6 (5th to 95th
    percentile), the latency tail at 1.2e-5 1.0 to 2.3, planner bursts (G = 2), whose
    replicates are heavy-tailed, 3.2 to 9.3; NaN without two replicates or a mean in (0, 1)."""
    x = np.asarray(values, dtype=float)
    m = float(x.mean()) if x.size else math.nan
    if x.size < 2 or not 0.0 < m < 1.0:
        return math.nan
    return float(x.std(ddof=1) / m / math.sqrt(-math.log(m) / particles))


def t_rel_err(e: Estimate) -> float:
    """The t interval's half-width over the estimate, before its lower end was clipped at 0
    (inf without an estimate above 0)."""
    if not e.estimate > 0:
        return math.inf
    return (e.confidence_interval.high - e.estimate) / e.estimate


def split(
    config: Config,
    seed: int,
    *,
    replicates: int | None = None,
    target_rel_err: float | None = None,
    max_seconds: float = math.inf,
    particles: int = DEFAULT_PARTICLES,
    kill: int = DEFAULT_KILL,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
    setup: SplitSetup | None = None,
    give_up_heavy: bool = False,
) -> SplitResult:
    """p_cell_window by splitting.  Without a target: ``replicates`` (default
    :data:`DEFAULT_REPLICATES`) replicates.  With one: :data:`PILOT_REPLICATES` pilot
    replicates fix how many more the target needs; those alone give the interval (the
    pilot's when ``max_seconds`` leaves fewer than two of them).  No replicate is started
    that would be expected to end past ``max_seconds`` (but the first); ``threads`` run
    replicates at once (at most one a core), with the same results whatever their number.
    A replicate's failure (a layout limit) is a ConfigError.  With ``give_up_heavy`` (auto's
    choice) a pilot that spreads more than :data:`HEAVY_SPREAD` times an ideal score's ends
    the run there, ``stopped_by`` "heavy-tailed": the caller samples windows instead (a
    pilot cut short by ``max_seconds`` is reported as it is, with its spread)."""
    if not 1 <= kill < particles:
        raise ConfigError("kill", f"must be in [1, particles), got {kill}")
    setup = check_supported(config) if setup is None else setup
    start = time.process_time()
    wall = time.monotonic()
    label = f"split (GAMS, N = {particles}, k = {kill})"
    width = max(1, min(threads, os.cpu_count() or 1))
    stop = threading.Event()
    per_wave = [math.nan]  # seconds a wave of replicates took, last measured

    def one(i: int) -> Replicate:
        return split_replicate(setup, seed, i, particles, kill, stop)

    def stage(first: int, count: int) -> list[Replicate]:
        out: list[Replicate] = []
        pool = ThreadPoolExecutor(max_workers=width) if width > 1 else None
        try:
            while len(out) < count:
                if time.monotonic() - wall + (per_wave[0] if out or first else 0.0) > max_seconds:
                    break
                began = time.monotonic()
                wave = range(first + len(out), first + len(out) + min(width, count - len(out)))
                out.extend(pool.map(one, wave) if pool is not None else [one(i) for i in wave])
                per_wave[0] = time.monotonic() - began
                if progress is not None:
                    progress(first + len(out), first + count)
        except BaseException:
            stop.set()  # the running replicates end at their next level
            raise
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        return out

    def result(e: Estimate, done: list[Replicate], pilot: list[Replicate], stopped: str) -> SplitResult:
        return SplitResult(
            e, tuple(done), tuple(pilot), particles, kill, stopped, time.process_time() - start,
            config, seed, target_rel_err, time.monotonic() - wall,
        )  # fmt: skip

    try:
        if target_rel_err is None:
            n_rep = DEFAULT_REPLICATES if replicates is None else replicates
            done = stage(0, n_rep)
            e = replicate_interval(np.array([r.p for r in done]), particles, label)
            return result(e, done, [], "trials" if len(done) == n_rep else "max-seconds")
        pilot = stage(0, PILOT_REPLICATES)
        values = np.array([r.p for r in pilot])
        if len(pilot) < 2 or not np.any(values > 0):
            e = replicate_interval(values, particles, label + ", the pilot's")
            return result(e, pilot, [], "max-seconds" if len(pilot) < PILOT_REPLICATES else "pilot")
        heavy = spread_ratio(values, particles) > HEAVY_SPREAD
        if give_up_heavy and heavy and len(pilot) == PILOT_REPLICATES:  # (as HEAVY_SPREAD was set)
            e = replicate_interval(values, particles, label + ", the pilot's")
            return result(e, pilot, [], "heavy-tailed")
        q = float(scipy.stats.t.ppf(0.5 + est.CONFIDENCE / 2, len(pilot) - 1))
        ratio = float(values.std(ddof=1) / values.mean())
        needed = max(PILOT_REPLICATES, math.ceil((q * ratio / target_rel_err) ** 2))
        second = stage(len(pilot), needed)
        if len(second) < 2:
            e = replicate_interval(values, particles, label + ", the pilot's")
            return result(e, pilot, [], "max-seconds")
        e = replicate_interval(
            np.array([r.p for r in second]),
            particles,
            label + f", {len(second)} of the {needed} a {len(pilot)}-replicate pilot asked for",
        )
        if len(second) < needed:
            return result(e, second, pilot, "max-seconds")
        # all the pilot asked for: the target is reached only if their interval says so
        return result(e, second, pilot, "target" if t_rel_err(e) <= target_rel_err else "replicates")
    except ValueError as err:  # a layout limit met inside a replicate (the engine's, the buffers')
        raise ConfigError("--estimator", f"split: {err}") from None
