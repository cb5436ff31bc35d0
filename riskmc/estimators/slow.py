"""Slow runs: the per-run part of the importance-sampling proposal (docs/model.md section 8).

An event that needs no degraded run needs an ordinary run that is slow: a write whose
latency is far in its tail, or writes that fail and back off many times.  Under ``rare``
every run of the tilted component is, independently of its degraded flag,

* *tail-slow* with probability ``q_tail``: one of its E writes (uniformly chosen) has the
  tail variable of its first latency tilted by ``tail`` (a lognormal's normal shifted to mean
  a, or the standard exponential -log u of the inversion kinds drawn at rate e^-a), so that
  this one write alone takes about the time the race needs;
* *retry-slow* with probability ``q_retry``: its attempts fail with ``fail_prob`` (at least
  the run's own probability; 0 stays 0), so that its retries and backoffs add up to that
  time;
* otherwise drawn from the model.

The choice is the second uniform of the run's own Philox block (its first is the degraded
flag's), so compared scenarios share it.  The run's likelihood ratio of this mixture to the
model, rho = (1 - q_tail - q_retry) + q_tail mean_j t_j + q_retry (r_s/r)^F ((1 - r_s)/(1 -
r))^E, depends only on what the run drew (the first tail variables, F its attempts beyond
the first), so it is evaluated for every run of every window, those drawn from the model
included; the engine sums log rho per window and the window's L gains the product.
Likewise the planner's generations, in blocks of G + 1: a block is *bursty* with
probability ``q_burst``, its intervals' tail variables tilted by ``burst`` < 0 (shorter).

**The time the race needs.**  A run of generation g empties a record when, before its last
write, G + 1 newer generations have been published and a peer has applied one of them and
cleaned up.  So it must take about tau = (G + 1) x (planner interval) + E x (write latency) +
poll (typical values: means, or medians where a mean is infinite); the tilts aim at a run
of that length: the tail tilt puts the slowed write's tail variable at the value whose
latency is tau (its mean there), the retry tilt chooses the fail probability whose expected
run time is tau.  Any choice is unbiased (the ratio is exact); this one decides only the
variance.  :func:`cross_entropy` then refits them on pilots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.optimize

from riskmc.engine import kernel as K
from riskmc.params import UseDist, WindowParams

__all__ = [
    "MAX_FAIL_PROB",
    "MIN_TAIL",
    "NO_SLOW_RUNS",
    "SlowRuns",
    "choose",
    "cross_entropy",
    "needed_run_time",
]

#: Largest retry-slow fail probability (mean attempts per write 1 / (1 - r) = 50).
MAX_FAIL_PROB = 0.98
#: A tail tilt below this (the race needs no rare latency) is not worth its variance.
MIN_TAIL = 1.0
#: A burst tilt closer to 0 than this is not worth its variance.
MIN_BURST = 0.1
#: Largest probability of a bursty planner block.
MAX_BURST_Q = 0.5
#: A retry-slow fail probability is at least r + this x (1 - r).
MIN_RETRY_STEP = 0.1
#: Each cross-entropy step moves a parameter this share of the way to its fitted value.
CE_SMOOTHING = 0.5


@dataclass(frozen=True)
class SlowRuns:
    """The slow-run components of the proposal (module docstring)."""

    q_tail: float = 0.0
    tail: float = 0.0  # a: the tilt of the slowed write's tail variable
    q_retry: float = 0.0
    fail_prob: float = 0.0  # r_s of a retry-slow run
    q_burst: float = 0.0  # per block of burst_len planner generations
    burst: float = 0.0  # the tilt (< 0) of a bursty block's intervals' tail variables
    burst_len: int = 1

    def __post_init__(self) -> None:
        if not (0.0 <= self.q_tail and 0.0 <= self.q_retry and self.q_tail + self.q_retry < 1.0):
            raise ValueError("slow runs need q_tail, q_retry >= 0 with q_tail + q_retry < 1")
        if not (0.0 <= self.fail_prob < 1.0 and math.isfinite(self.tail)):
            raise ValueError("slow runs need 0 <= fail_prob < 1 and a finite tail tilt")
        if not (0.0 <= self.q_burst < 1.0 and math.isfinite(self.burst) and self.burst_len >= 1):
            raise ValueError("planner bursts need 0 <= q_burst < 1, a finite tilt and burst_len >= 1")

    @property
    def on(self) -> bool:
        return self.q_tail > 0.0 or self.q_retry > 0.0 or self.q_burst > 0.0

    @property
    def short(self) -> str:
        parts = []
        if self.q_tail > 0.0:
            parts.append(f"tail {self.q_tail:.3g} a={self.tail:.3g}")
        if self.q_retry > 0.0:
            parts.append(f"retry {self.q_retry:.3g} r={self.fail_prob:.3g}")
        if self.q_burst > 0.0:
            parts.append(f"bursts {self.q_burst:.3g}/{self.burst_len} a={self.burst:.3g}")
        return ", ".join(parts)

    def columns(self, fp: np.ndarray, drawn: np.ndarray) -> None:
        """Write the kernel's slow-run columns of a batch: the density's probabilities in
        every window, the drawing ones only where ``drawn`` (the tilted component)."""
        fp[:, K.F_QL] = self.q_tail
        fp[:, K.F_QR] = self.q_retry
        fp[:, K.F_QL_DRAW] = np.where(drawn, self.q_tail, 0.0)
        fp[:, K.F_QR_DRAW] = np.where(drawn, self.q_retry, 0.0)
        fp[:, K.F_TAIL] = self.tail
        fp[:, K.F_RS] = self.fail_prob
        fp[:, K.F_QB] = self.q_burst
        fp[:, K.F_QB_DRAW] = np.where(drawn, self.q_burst, 0.0)
        fp[:, K.F_BURST] = self.burst
        fp[:, K.F_BURST_LEN] = self.burst_len


#: No slow runs: every ordinary run drawn from the model.
NO_SLOW_RUNS = SlowRuns()


def _typical(dist: UseDist) -> float:
    """A distribution's typical value over the windows: the median of its means, or of its
    medians where a mean is infinite."""
    mean = dist.mean()
    return float(np.median(mean if np.all(np.isfinite(mean)) else dist.median()))


def needed_run_time(params: WindowParams) -> float:
    """tau, seconds: the run time the race needs (module docstring), typical over windows."""
    G = float(np.median(params.keep_generations))
    E = float(np.median(params.endpoints))
    return (
        (G + 1.0) * _typical(params.planner) + E * _typical(params.latency) + float(np.median(params.poll_s))
    )


def _tilt_to(dist: UseDist, target: float) -> float:
    """a: the tilt whose tail variable (a normal's mean, an exponential's mean e^a) gives the
    latency or interval ``target``; NaN for a kind without a tail variable or a target below
    the distribution's location."""
    if dist.code not in K.TAIL_KINDS:
        return math.nan
    p = np.median(dist.params, axis=0)
    code = dist.code
    loc, scale = (p[0], p[1]) if code == K.D_EXPON else (p[1], p[2])
    x = (target - loc) / scale
    if not x > 0.0:
        return math.nan
    if code == K.D_LOGNORM:
        return float(math.log(x) / p[0])
    if code == K.D_EXPON:
        y = x
    elif code == K.D_WEIBULL_MIN:
        y = x ** p[0]
    elif code == K.D_LOMAX:
        y = p[0] * math.log1p(x)
    else:  # Pareto
        if not x > 1.0:
            return math.nan
        y = p[0] * math.log(x)
    return float(math.log(y)) if y > 0.0 else math.nan


def _run_time(r: float, endpoints: float, latency: float, base: float, cap: float) -> float:
    """Expected run time at attempt-failure probability r: E writes, each E[L] / (1 - r)
    plus the mean backoffs, sum over a >= 1 of r^a min(cap, base 2^(a-1)) / 2."""
    a = np.arange(1, 4000)
    backoff = float(np.sum(r**a * np.minimum(cap, base * 2.0 ** np.minimum(a - 1, 60)) / 2.0))
    return endpoints * (latency / (1.0 - r) + backoff)


def _retry_tilt(params: WindowParams, tau: float) -> float:
    """r_s: the fail probability whose expected run time is tau (0: retries cannot be tilted,
    or the model's runs already take that long)."""
    r0 = float(np.median(params.fail_prob))
    if not r0 > 0.0:
        return 0.0
    E = float(np.median(params.endpoints))
    latency = _typical(params.latency)
    base, cap = float(np.median(params.backoff_base_s)), float(np.median(params.backoff_cap_s))

    def gap(r: float) -> float:
        return _run_time(r, E, latency, base, cap) - tau

    if gap(r0) >= 0.0:
        return 0.0
    if gap(MAX_FAIL_PROB) <= 0.0:
        return MAX_FAIL_PROB
    return float(scipy.optimize.brentq(gap, r0, MAX_FAIL_PROB, xtol=1e-6))


def cross_entropy(slow: SlowRuns, params: WindowParams, weight: np.ndarray, out: np.ndarray) -> SlowRuns:
    """One cross-entropy step: the slow runs refitted to the events of a pilot run under
    ``slow`` (``out`` the engine's window sums, ``weight`` the windows' weights).  Each
    parameter's target is the weighted maximum-likelihood fit of its component to the event
    cells (the weighted events stand for the model's events, so this moves the proposal
    towards the model's law given an event): the retry-slow fail probability the share of
    failed attempts F / (F + E) of the cell's run with most attempts; the tail tilt the
    largest first tail variable of a write (a lognormal's normal; for an exponential the log
    of its mean); the burst tilt likewise from the mean tail variable of the intervals that
    overtook; the split of the slowed share the weighted share of event cells whose most
    tail-like run beats the most retry-like one.  Each moves half-way to its target
    (:data:`CE_SMOOTHING`), and no component is dropped: a tilt stays at least
    :data:`MIN_TAIL` / :data:`MIN_BURST` strong and a share in [0.1, 0.9], since the events
    of one pilot are too few to rule a mechanism out.  Without an event the slow runs are
    kept."""
    events = out[:, K.W_EVENTS]
    total = float(np.sum(weight * events))
    if not total > 0.0:
        return slow

    def mean(column: int) -> float:
        return float(np.sum(weight * out[:, column])) / total

    def toward(old: float, target: float) -> float:
        return old + CE_SMOOTHING * (target - old)

    E = float(np.median(params.endpoints))
    q = slow.q_tail + slow.q_retry
    q_tail, tail, q_retry, fail_prob = slow.q_tail, slow.tail, slow.q_retry, slow.fail_prob
    if slow.q_retry > 0.0:
        f = mean(K.W_CE_F)
        r0 = float(np.median(params.fail_prob))
        fail_prob = min(MAX_FAIL_PROB, max(toward(fail_prob, f / (f + E)), r0 + MIN_RETRY_STEP * (1.0 - r0)))
    if slow.q_tail > 0.0:
        y = mean(K.W_CE_Y)
        target = y if params.latency.code == K.D_LOGNORM else math.log(max(y, 1e-300))
        tail = max(MIN_TAIL, toward(tail, target))
    if slow.q_tail > 0.0 and slow.q_retry > 0.0:
        share = min(0.9, max(0.1, toward(slow.q_tail / q, mean(K.W_CE_TAIL))))
        q_tail, q_retry = q * share, q * (1.0 - share)
    burst = slow.burst
    if slow.q_burst > 0.0:
        y = mean(K.W_CE_BURST)
        target = y if params.planner.code == K.D_LOGNORM else math.log(max(y, 1e-300))
        burst = min(-MIN_BURST, toward(burst, target))
    return replace(slow, q_tail=q_tail, tail=tail, q_retry=q_retry, fail_prob=fail_prob, burst=burst)


def choose(params: WindowParams, q: float) -> SlowRuns:
    """The first slow runs of a proposal for windows like ``params`` (a pilot's), before
    :func:`cross_entropy` refits them: a share q of the runs slowed in all, halved between the
    tail and the retries where both can be tilted, aiming at a run of :func:`needed_run_time`;
    planner blocks of G + 1 generations, about one bursty block per cell-window, their
    intervals at the geometric mean of the typical one and the one at which G + 1 of them fit
    in an ordinary run."""
    tau = needed_run_time(params)
    tail = _tilt_to(params.latency, tau)
    fail_prob = _retry_tilt(params, tau)
    use_tail = tail >= MIN_TAIL
    use_retry = fail_prob > 0.0
    share = q / (int(use_tail) + int(use_retry)) if (use_tail or use_retry) else 0.0
    G = float(np.median(params.keep_generations))
    E = float(np.median(params.endpoints))
    interval = _typical(params.planner)
    # the interval at which G + 1 of them fit in an ordinary run (E latencies and a poll)
    fits = (E * _typical(params.latency) + float(np.median(params.poll_s))) / (G + 1.0)
    burst = _tilt_to(params.planner, math.sqrt(interval * min(fits, interval)))
    generations = float(np.median(params.window_s)) / interval if interval > 0 else 0.0
    use_burst = burst < -MIN_BURST and generations > G + 1.0
    return SlowRuns(
        q_tail=share if use_tail else 0.0,
        tail=tail if use_tail else 0.0,
        q_retry=share if use_retry else 0.0,
        fail_prob=fail_prob if use_retry else 0.0,
        q_burst=min(MAX_BURST_Q, (G + 1.0) / generations) if use_burst else 0.0,
        burst=burst if use_burst else 0.0,
        burst_len=int(G + 1.0) if use_burst else 1,
    )
