"""The downstream cascade's estimates (docs/model.md sections 5b and 8): what an event costs
beyond DNS, per event window and per region-year, with intervals.

Per region-window with an event, the regional cascade (:func:`riskmc.cascade.cascade`) runs
on the outage R of its first event cell (the engine's own draw, read at its address,
:func:`riskmc.engine.repair_durations`) and the window's cascade parameters
(:func:`riskmc.params.sample_cascade`, at their own addresses: scenarios share them).  A
window without an event costs nothing downstream.  The estimates are those of the impact
(:mod:`riskmc.estimators.quantities`) applied to the cascade's per-window values:

* ``p_collapse_given_event``: the weighted share of event windows whose DWFM collapses
  (Wilson at the effective sample size);
* ``ec2_impaired_given_event_min``, ``nlb_capacity_lost_given_event``: means over event
  windows (BCa bootstrap of the ratio);
* ``ec2_impaired_per_year_min`` and ``nlb_capacity_lost_per_year`` (t on the mean per
  window x n_w), with their p99 and CVaR (the compound year model): sums over a year's events, each
  event's impairment counted whole (so, unlike the impact, not capped at the year's minutes:
  where events come faster than their cascades end they overlap, and the sum says so).

What the sample cannot see is bounded as for the impact: an unseen stratum's event windows
(at most the estimates' ``region_bound`` of the windows) cost at most the cascade's linear
bound in R, (1 + k)(E[R] + max(D, tau) + 1 / mu) + rho minutes of EC2 impairment and
min(removed, cap) x the failover disable delay of NLB capacity, at the largest parameters
of the sample's windows; a collapse share is in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from riskmc import estimates as est
from riskmc.cascade import CascadeOutcome, cascade
from riskmc.config import Config
from riskmc.engine import repair_durations
from riskmc.estimates import ConfidenceInterval, Estimate
from riskmc.estimators.plan import Plan
from riskmc.estimators.quantities import (
    Estimates,
    _mix_unseen,
    _ratio_bca,
    per_year_mean,
    windows_per_year,
    with_unseen_tail,
)
from riskmc.estimators.sample import WindowSample
from riskmc.estimators.year import YEAR_RESAMPLES, year_summary
from riskmc.params import sample_cascade, sample_windows

__all__ = ["CASCADE_ESTIMATES", "WindowCascade", "cascade_estimates", "window_cascade"]

CASCADE_ESTIMATES = (
    "p_collapse_given_event",
    "ec2_impaired_given_event_min",
    "nlb_capacity_lost_given_event",
    "ec2_impaired_per_year_min",
    "ec2_impaired_per_year_p99_min",
    "ec2_impaired_per_year_cvar99_min",
    "nlb_capacity_lost_per_year",
    "nlb_capacity_lost_per_year_p99",
    "nlb_capacity_lost_per_year_cvar99",
)

#: Windows whose cascade parameters are drawn at once when bounding an unseen event.
_CHUNK = 200_000


@dataclass(frozen=True)
class WindowCascade:
    """The cascade of every window of a sample: per-window values (0 without an event) and,
    for the event windows (``rows``), the outages and the full outcome."""

    rows: np.ndarray
    outage_min: np.ndarray
    outcome: CascadeOutcome
    collapse: np.ndarray
    ec2_min: np.ndarray
    nlb_lost: np.ndarray
    ec2_bound_min: float
    nlb_bound: float

    def annual_columns(self) -> np.ndarray:
        """The per-window values whose annual tails the year model gives with the impact's:
        (n, 2), EC2 impairment and NLB capacity lost."""
        return np.column_stack([self.ec2_min, self.nlb_lost])


def _bounds(config: Config, seed: int, sample: WindowSample) -> tuple[float, float]:
    """The largest possible mean cascade of an event in any window of the sample (module
    docstring), in EC2 minutes and NLB capacity-minutes."""
    repair_mean_min = float(np.max(sample.repair_mean_s)) / 60.0 if sample.n else 0.0
    ec2 = nlb = 0.0
    for lo in range(0, sample.n, _CHUNK):
        p = sample_cascade(config, seed, sample.trials[lo : lo + _CHUNK])
        k = np.max(p.propagation_work_min_per_lapse_min)
        stall = np.max(np.maximum(p.intervention_delay_min, p.work_timeout_min))
        work = np.max(1.0 / np.asarray(p.dwfm_rate_per_min, dtype=float))
        ec2 = max(ec2, float((1.0 + k) * (repair_mean_min + stall + work) + np.max(p.throttle_release_min)))
        cap = math.inf if p.velocity_cap is None else p.velocity_cap
        share = np.minimum(p.nlb_removed_fraction, cap)
        nlb = max(nlb, float(np.max(share * np.asarray(p.failover_disable_delay_min, dtype=float))))
    return ec2, nlb


def window_cascade(config: Config, seed: int, sample: WindowSample) -> WindowCascade:
    """The cascade of each event window of ``sample`` (drawn from ``config`` and ``seed``)."""
    rows = np.flatnonzero(sample.events > 0)
    trials = sample.trials[rows]
    outage_s = repair_durations(
        sample_windows(config, seed, trials).batch(seed), sample.first_event_cell[rows]
    )
    outage_min = outage_s / 60.0
    outcome = cascade(outage_min, sample_cascade(config, seed, trials))
    collapse, ec2, nlb = (np.zeros(sample.n) for _ in range(3))
    collapse[rows] = outcome.collapse
    ec2[rows] = outcome.ec2_impaired_min
    nlb[rows] = outcome.nlb_capacity_lost
    ec2_bound, nlb_bound = _bounds(config, seed, sample)
    return WindowCascade(rows, outage_min, outcome, collapse, ec2, nlb, ec2_bound, nlb_bound)


def cascade_estimates(
    wc: WindowCascade,
    seed: int,
    sample: WindowSample,
    plan: Plan,
    estimates: Estimates,
    n_resamples: int = YEAR_RESAMPLES,
) -> dict[str, Estimate]:
    """:data:`CASCADE_ESTIMATES` of the cascade ``wc`` of ``sample`` (module docstring).  The
    annual tails of the EC2 impairment and the NLB capacity are ``estimates.year.extra`` when
    :func:`estimate` had :meth:`WindowCascade.annual_columns` as its extra impacts (one year
    model for all), else the same years recomputed with them."""
    label = plan.label
    w = sample.weight
    n_w = windows_per_year(sample)
    unseen = estimates.unseen
    bound, seen_lo = estimates.region_bound, estimates.values["p_region_window"].confidence_interval.low
    upper_tail = (1.0 - est.CONFIDENCE) / 2.0 / (1 + len(unseen))
    p_rw_hi = estimates.values["p_region_window"].confidence_interval.high
    out: dict[str, Estimate] = {}
    if wc.rows.size == 0:
        none = f"n/a: no event in {sample.n} region-windows"
        for name in CASCADE_ESTIMATES[:3]:
            out[name] = Estimate(math.nan, ConfidenceInterval(math.nan, math.nan), none)
        bound_text = f"{label}: no event; bound n_w x p_region_window_hi x the cascade's bound per event"
        markov = f"{label}: no event; Markov bound E[annual] / 0.01 from ec2_impaired_per_year_min_hi"
        ec2_hi = n_w * p_rw_hi * wc.ec2_bound_min
        nlb_hi = n_w * p_rw_hi * wc.nlb_bound
        tail_hi = ec2_hi / 0.01
        out["ec2_impaired_per_year_min"] = Estimate(0.0, ConfidenceInterval(0.0, ec2_hi), bound_text)
        out["ec2_impaired_per_year_p99_min"] = Estimate(0.0, ConfidenceInterval(0.0, tail_hi), markov)
        out["ec2_impaired_per_year_cvar99_min"] = Estimate(0.0, ConfidenceInterval(0.0, tail_hi), markov)
        out["nlb_capacity_lost_per_year"] = Estimate(0.0, ConfidenceInterval(0.0, nlb_hi), bound_text)
        nlb_markov = markov.replace("ec2_impaired_per_year_min_hi", "nlb_capacity_lost_per_year_hi")
        for name in ("nlb_capacity_lost_per_year_p99", "nlb_capacity_lost_per_year_cvar99"):
            out[name] = Estimate(0.0, ConfidenceInterval(0.0, nlb_hi / 0.01), nlb_markov)
        return {name: out[name] for name in CASCADE_ESTIMATES}
    ev = wc.rows
    we = w[ev]
    collapse = est.bounded_ratio(we * wc.collapse[ev], we, f"{label}: share of event windows with a collapse")
    out["p_collapse_given_event"] = _mix_unseen(collapse, seen_lo, bound, 0.0, 1.0)
    given = _ratio_bca(we * wc.ec2_min[ev], we, seed, label)
    out["ec2_impaired_given_event_min"] = _mix_unseen(given, seen_lo, bound, 0.0, wc.ec2_bound_min)
    given = _ratio_bca(we * wc.nlb_lost[ev], we, seed, label)
    out["nlb_capacity_lost_given_event"] = _mix_unseen(given, seen_lo, bound, 0.0, wc.nlb_bound)
    unseen_ec2 = n_w * bound * wc.ec2_bound_min
    bound_note = "; + the unobserved stratum's bound" if unseen_ec2 > 0 else ""
    method = f"{label}: t on the mean EC2 impairment per region-window x n_w"
    out["ec2_impaired_per_year_min"] = per_year_mean(
        wc.ec2_min, w, n_w, unseen_ec2, upper_tail, method, bound_note
    )
    year = estimates.year
    if year is None or len(year.extra) < 2:
        # (a run whose year model had another cascade: the same years, this cascade's columns)
        year = year_summary(
            sample.n,
            n_w,
            we,
            np.column_stack([sample.impact_min[ev], wc.annual_columns()[ev]]),
            seed,
            n_resamples=n_resamples,
            label=label,
            upper_tail=upper_tail,
        )
    unseen_nlb = n_w * bound * wc.nlb_bound
    (ec2_p99, ec2_cvar), (nlb_p99, nlb_cvar) = year.extra[0], year.extra[1]
    if unseen:
        ec2_p99, ec2_cvar = with_unseen_tail(ec2_p99, ec2_cvar, unseen_ec2)
        nlb_p99, nlb_cvar = with_unseen_tail(nlb_p99, nlb_cvar, unseen_nlb)
    out["ec2_impaired_per_year_p99_min"] = ec2_p99
    out["ec2_impaired_per_year_cvar99_min"] = ec2_cvar
    method = f"{label}: t on the mean NLB capacity lost per region-window x n_w"
    note = "; + the unobserved stratum's bound" if unseen_nlb > 0 else ""
    out["nlb_capacity_lost_per_year"] = per_year_mean(
        wc.nlb_lost, w, n_w, unseen_nlb, upper_tail, method, note
    )
    out["nlb_capacity_lost_per_year_p99"] = nlb_p99
    out["nlb_capacity_lost_per_year_cvar99"] = nlb_cvar
    return {name: out[name] for name in CASCADE_ESTIMATES}
