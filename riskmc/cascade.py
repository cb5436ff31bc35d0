"""The downstream cascade: the blast radius of a DNS outage beyond DNS (docs/model.md section 5b).

The race simulation (docs/model.md sections 2 to 4) ends with an outage of R minutes during
which the regional endpoint resolves to nothing.  In October 2025 the harm did not end with
it: EC2's DropletWorkflow Manager (DWFM) had lost its leases on the fleet and collapsed while
re-establishing them, Network Manager then fell behind with the delayed network state, and
NLB health checks removed healthy capacity.  This module is the deterministic core of that
cascade, applied per event to R and to parameters that may themselves be drawn per event.

Every step is elementwise numpy arithmetic (no random numbers, no loops, no transcendental
functions), so a million events take about 0.2 s, and a vector of events gives bit for
bit what its elements give one by one.

Time is in minutes after impact start (the empty record; 23:48 PDT in the incident).
Instants end in ``_at_min`` and are NaN for a phase that does not happen; durations end in
``_min``.  The equations, the calibration and what is left out: docs/model.md section 5b.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

__all__ = ["INCIDENT_OUTAGE_MIN", "CascadeOutcome", "CascadeParams", "cascade", "timeline"]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

#: The incident's outage: 23:48 PDT (impact begins) to 02:25 (DNS information restored).
INCIDENT_OUTAGE_MIN = 157.0


@dataclass(frozen=True, eq=False)  # eq=False: fields may be arrays, whose == is elementwise
class CascadeParams:
    """The cascade's parameters: floats, or arrays broadcast against the outages.

    Fractions are of the EC2 fleet (droplets) or of an affected NLB's capacity; work is in
    minutes of the working system's capacity.  Every default is fixed by one fact of AWS's
    post-event summary, with the incident's outage R = 157 min (times PDT, minutes after
    23:48); the comment says which.  The four operator delays are the incident's own and the
    first to draw per event.
    """

    # -- (1) lease lapse: lapse times spread uniformly over [grace, grace + spread] --------
    #: A lease outlives a few missed check-ins ("every few minutes"); only "from 23:48" fixes
    #: it, as small.
    lease_grace_min: float | Floats = 5.0
    #: The last lease lapses at 02:24 = 156 min: grace + spread = 156.
    lease_spread_min: float | Floats = 151.0
    # -- (2) DWFM recovery ------------------------------------------------------------------
    #: Throttled DWFM re-established every lease from 04:14 to 05:28 (74 min), the whole
    #: fleet having lapsed; a throttle admits work without wasting capacity, so this is also
    #: DWFM's capacity.  0.0135 (74.1 min for the fleet): 1/74 rounded to a number a
    #: configuration file can write exactly.
    dwfm_rate_per_min: float | Floats = 0.0135
    #: Lease work not completed within this is re-queued.  Not public; the incident only
    #: says it is below 74 min (the whole fleet's work), as the collapse happened.  With 15 a
    #: backlog above 15/74 = 20% of the fleet collapses, i.e. outages above 35.6 min.
    work_timeout_min: float | Floats = 15.0
    #: Engineers throttled DWFM and restarted hosts at 04:14, 109 min after 02:25.  A
    #: rehearsed recovery procedure is a smaller value.
    intervention_delay_min: float | Floats = 109.0
    #: AWS's fix: DWFM admits work by the size of its waiting queue, so it never collapses.
    queue_throttle: bool | Bools = False
    #: Cached DNS records expired at 02:40, 15 min after 02:25 (DynamoDB fully recovered).
    dns_cache_ttl_min: float | Floats = 15.0
    # -- (3) Network Manager: a fluid queue fed from the moment every lease is back ---------
    #: Network Manager minutes of delayed network state per fleet-minute without a lease:
    #: the incident's 222.5 fleet-minutes must give the 321.25 min of work that ends the
    #: propagation delay at 10:36 (648 min): 321.25 / 222.5 = 1.444.
    propagation_work_min_per_lapse_min: float | Floats = 1.444
    #: Delayed work arrives this many times faster than Network Manager processes it.  The
    #: incident identifies only tolerance / (ratio - 1) for the two tolerances below (53 and
    #: 2 min); 1.25 makes the health-check tolerance a plausible 30 s.
    propagation_arrival_ratio: float | Floats = 1.25
    #: New instances lack connectivity while the propagation delay exceeds this: latency
    #: rose at 06:21, 53 min after 05:28, so tolerance = 53 x (1.25 - 1).
    propagation_tolerance_min: float | Floats = 13.25
    # -- (4) NLB ----------------------------------------------------------------------------
    #: NLB health checks fail for a new target whose network state is later than this (a
    #: few 10 s checks): errors began at 05:30, 2 min after 05:28, so 2 x (1.25 - 1).
    health_check_tolerance_min: float | Floats = 0.5
    #: Engineers disabled automatic AZ failover at 09:36, 246 min after the errors began.
    failover_disable_delay_min: float | Floats = 246.0
    #: Operators' request throttles (imposed with the intervention) were relaxed from 11:23
    #: until 13:50, EC2 fully recovered 194 min after propagation was normal at 10:36.
    throttle_release_min: float | Floats = 194.0
    #: Automatic failover re-enabled at 14:09, 19 min after EC2 recovered at 13:50.
    failover_reenable_delay_min: float | Floats = 19.0
    #: Share of an affected NLB's capacity the flapping AZ failover holds out of DNS.  Not
    #: public: one AZ of a three-AZ load balancer.
    nlb_removed_fraction: float | Floats = 0.333
    #: AWS's fix, velocity control: the share of an NLB's capacity failover may remove per
    #: interval; as flapping targets return within an interval, it caps the share out of
    #: service.  None (or inf) = off.
    velocity_cap: float | Floats | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "queue_throttle":
                if np.asarray(value).dtype != np.bool_:
                    raise ValueError(f"cascade.{f.name} must be a boolean, got {value!r}")
                continue
            if value is None:
                if f.name == "velocity_cap":
                    continue
                raise ValueError(f"cascade.{f.name} must be a number")
            x = np.asarray(value, dtype=float)
            lo, lo_open, hi = _RANGES.get(f.name, (0.0, False, np.inf))
            finite_ok = f.name == "velocity_cap" or np.isfinite(x).all()
            below = (x <= lo) if lo_open else (x < lo)
            above = (x > hi) & np.isfinite(x)
            if np.isnan(x).any() or not finite_ok or below.any() or above.any():
                what = f"{'>' if lo_open else '>='} {lo:g}" + (f" and <= {hi:g}" if hi < np.inf else "")
                raise ValueError(f"cascade.{f.name} must be {what} (finite), got {value!r}")


#: (low, low excluded, high) of the fields that are not plain finite numbers >= 0.
_RANGES: dict[str, tuple[float, bool, float]] = {
    "lease_spread_min": (0.0, True, np.inf),
    "dwfm_rate_per_min": (0.0, True, np.inf),
    "work_timeout_min": (0.0, True, np.inf),
    "propagation_arrival_ratio": (1.0, True, np.inf),
    "nlb_removed_fraction": (0.0, False, 1.0),
    "velocity_cap": (0.0, False, 1.0),
}


@dataclass(frozen=True, eq=False)
class CascadeOutcome:
    """Per event (arrays of the broadcast shape of outages and parameters)."""

    outage_min: Floats
    #: Share of the fleet whose lease lapsed by the time DNS returned.
    lapsed_fraction: Floats
    #: Fleet-minutes without a lease (the lapsed share integrated until every lease is back).
    lapse_area_min: Floats
    collapse: Bools
    #: Minutes after DNS restoration until every lease is back.
    leases_restored_min: Floats
    #: Network Manager minutes of delayed network state.
    propagation_backlog_min: Floats
    #: Minutes during which new instances launch without connectivity.
    propagation_impaired_min: Floats
    #: EC2 launch-impairment minutes from impact start, the DNS outage included.
    ec2_impaired_min: Floats
    #: NLB minutes from the first errors until failover is back in automatic operation.
    nlb_impact_min: Floats
    #: Share of an affected NLB's capacity held out of DNS while errors last.
    nlb_removed_fraction: Floats
    #: That share x minutes of errors (capacity-minutes of one affected NLB).
    nlb_capacity_lost: Floats
    # instants, minutes after impact start; NaN when the phase does not happen
    lapse_begins_at_min: Floats
    all_lapsed_at_min: Floats
    dynamodb_recovered_at_min: Floats
    collapse_at_min: Floats
    intervention_at_min: Floats
    leases_restored_at_min: Floats
    nlb_errors_at_min: Floats
    propagation_latency_at_min: Floats
    failover_disabled_at_min: Floats
    nlb_errors_end_at_min: Floats
    propagation_normal_at_min: Floats
    ec2_recovered_at_min: Floats
    failover_reenabled_at_min: Floats


def _floats(value: float | Floats) -> Floats:
    return np.asarray(value, dtype=float)


def cascade(outage_min: npt.ArrayLike, params: CascadeParams | None = None) -> CascadeOutcome:
    """The cascade of each outage (minutes, >= 0) under ``params`` (default: the incident's)."""
    p = CascadeParams() if params is None else params
    r0 = np.asarray(outage_min, dtype=float)
    if not np.isfinite(r0).all() or (r0 < 0).any():
        raise ValueError("outage durations must be finite and >= 0 minutes")
    numbers = (
        *(p.lease_grace_min, p.lease_spread_min, p.dwfm_rate_per_min, p.work_timeout_min),
        *(p.intervention_delay_min, p.dns_cache_ttl_min, p.propagation_work_min_per_lapse_min),
        *(p.propagation_arrival_ratio, p.propagation_tolerance_min, p.health_check_tolerance_min),
        *(p.failover_disable_delay_min, p.throttle_release_min, p.failover_reenable_delay_min),
        *(p.nlb_removed_fraction, np.inf if p.velocity_cap is None else p.velocity_cap),
    )
    arrays = np.broadcast_arrays(r0, *map(_floats, numbers), np.asarray(p.queue_throttle, dtype=bool))
    r, grace, spread, rate, timeout, delay, cache, work, ratio, tol, hc = arrays[:11]
    disable, release, reenable, removed, cap, throttle = arrays[11:]
    nan = np.full(r.shape, np.nan)

    # (1) Lease lapse.  Lapse times are uniform on [grace, grace + spread]: the summary
    # gives only the interval.  The lapsed share rises linearly while DNS is down.
    all_lapsed = grace + spread
    lapsed = np.clip((r - grace) / spread, 0.0, 1.0)
    ramp = np.clip(r - grace, 0.0, spread)
    outage_area = ramp * ramp / (2.0 * spread) + np.maximum(r - all_lapsed, 0.0)

    # (2) DWFM.  The backlog, taken on at once, shares DWFM's capacity: an attempt needs
    # lapsed / rate minutes, and if that exceeds the timeout none completes (re-queued, no
    # progress) until the operators intervene, who cannot before the first timeouts show.
    work_min = lapsed / rate
    collapse = (work_min > timeout) & ~throttle
    stall = np.where(collapse, np.maximum(delay, timeout), 0.0)
    leases_restored = stall + work_min
    leases_at = r + leases_restored
    # Fleet-minutes without a lease: at the peak while stalled; then, shared capacity
    # returns every lease at the end of the work, while throttled admission (operators' or
    # the queue's) returns them one batch after another, linearly.
    returned_in_batches = collapse | throttle
    lapse_area = outage_area + lapsed * (stall + work_min * np.where(returned_in_batches, 0.5, 1.0))

    # (3) Network Manager.  The delayed state W arrives from leases_at on at `ratio` times
    # the processing rate, so the propagation delay grows as (ratio - 1) t until W / ratio,
    # then falls at 1 and is zero at W; a delay above a tolerance T lasts from
    # T / (ratio - 1) to W - T, i.e. exactly when W > T ratio / (ratio - 1).
    backlog = work * lapse_area
    impaired_min = np.maximum(backlog - tol * ratio / (ratio - 1.0), 0.0)
    impaired = impaired_min > 0.0
    latency_at = np.where(impaired, leases_at + tol / (ratio - 1.0), nan)
    normal_at = np.where(impaired, leases_at + backlog - tol, nan)
    # EC2 is whole once propagation is normal and, after a collapse, the operators'
    # request throttles (imposed with the intervention) are released.
    ec2_at = np.where(impaired, normal_at, leases_at) + np.where(collapse, release, 0.0)
    # Impaired: until leases are back, while propagation lags, and while throttled.
    ec2_impaired = np.where(collapse, ec2_at, leases_at + impaired_min)

    # (4) NLB.  Health checks flap while the delay exceeds their tolerance; AZ failover
    # then holds `removed` of the capacity out (at most the velocity cap) until the errors
    # end by themselves or operators disable failover, re-enabled once EC2 and the
    # flapping are over.  Velocity control leaves these times as they are.
    flap_min = np.maximum(backlog - hc * ratio / (ratio - 1.0), 0.0)
    flaps = flap_min > 0.0
    errors_at = np.where(flaps, leases_at + hc / (ratio - 1.0), nan)
    disabled = flap_min > disable
    disabled_at = np.where(disabled, errors_at + disable, nan)
    reenabled_at = np.where(disabled, np.maximum(ec2_at, errors_at + flap_min) + reenable, nan)
    errors_end_at = np.where(disabled, disabled_at, errors_at + flap_min)
    nlb_impact = np.where(disabled, reenabled_at - errors_at, flap_min)
    share = np.minimum(removed, cap)
    capacity_lost = share * np.minimum(flap_min, disable)

    return CascadeOutcome(
        outage_min=r.copy(),
        lapsed_fraction=lapsed,
        lapse_area_min=lapse_area,
        collapse=collapse,
        leases_restored_min=leases_restored,
        propagation_backlog_min=backlog,
        propagation_impaired_min=impaired_min,
        ec2_impaired_min=ec2_impaired,
        nlb_impact_min=nlb_impact,
        nlb_removed_fraction=share.copy(),
        nlb_capacity_lost=capacity_lost,
        lapse_begins_at_min=np.where(r > grace, grace, nan),
        all_lapsed_at_min=np.where(r >= all_lapsed, all_lapsed, nan),
        dynamodb_recovered_at_min=np.where(r > 0.0, r + cache, nan),
        collapse_at_min=np.where(collapse, r + timeout, nan),
        intervention_at_min=np.where(collapse, r + stall, nan),
        leases_restored_at_min=np.where(lapsed > 0.0, leases_at, nan),
        nlb_errors_at_min=errors_at,
        propagation_latency_at_min=latency_at,
        failover_disabled_at_min=disabled_at,
        nlb_errors_end_at_min=errors_end_at,
        propagation_normal_at_min=normal_at,
        ec2_recovered_at_min=ec2_at,
        failover_reenabled_at_min=reenabled_at,
    )


def timeline(outcome: CascadeOutcome, i: int) -> list[tuple[float, str]]:
    """Event ``i``'s cascade as (minutes after impact start, what happens), in time order
    (the flat index of an outcome of any shape); told the way the post-event summary tells it."""

    def at(name: str) -> float:
        return float(np.reshape(getattr(outcome, name), -1)[i])

    lapsed, collapse = at("lapsed_fraction"), bool(np.reshape(outcome.collapse, -1)[i])
    # errors that end by themselves, not by operators disabling failover
    natural_end = at("nlb_errors_end_at_min") if np.isnan(at("failover_disabled_at_min")) else np.nan
    lines = [
        (0.0, "DynamoDB's regional endpoint resolves to nothing; DWFM's lease checks through it fail"),
        (
            at("lapse_begins_at_min"),
            "DWFM leases begin to time out across the fleet; a droplet without one takes no new launches",
        ),
        (at("all_lapsed_at_min"), "leases have timed out on every droplet: no new instance can launch"),
        (
            at("outage_min"),
            f"DNS information restored; DWFM begins re-establishing the leases of {lapsed:.0%} of droplets"
            if lapsed > 0.0
            else "DNS information restored before any DWFM lease has timed out",
        ),
        (at("dynamodb_recovered_at_min"), "cached DNS records have expired: DynamoDB has recovered"),
        (
            at("collapse_at_min"),
            "lease work times out before it completes and is re-queued: DWFM is in congestive "
            "collapse and makes no progress",
        ),
        (
            at("intervention_at_min"),
            "engineers throttle DWFM's incoming work, restart DWFM hosts selectively and throttle "
            "EC2 requests",
        ),
        (
            at("leases_restored_at_min"),
            "leases re-established on all droplets; Network Manager starts on the backlog of "
            "delayed network state",
        ),
        (
            at("nlb_errors_at_min"),
            "NLB health checks fail for new instances whose network state has not propagated; "
            f"AZ DNS failover removes {at('nlb_removed_fraction'):.0%} of affected NLBs' capacity",
        ),
        (
            at("propagation_latency_at_min"),
            "network propagation latency rises: new instances launch without connectivity",
        ),
        (
            at("failover_disabled_at_min"),
            "engineers disable automatic NLB health check failover: healthy capacity back in service",
        ),
        (natural_end, "NLB health checks pass again"),
        (at("propagation_normal_at_min"), "network propagation times back to normal"),
        (
            at("ec2_recovered_at_min"),
            "request throttles removed: EC2 has fully recovered"
            if collapse
            else "EC2 launches have fully recovered",
        ),
        (at("failover_reenabled_at_min"), "automatic NLB health check failover re-enabled"),
    ]
    # stable sort: entries at the same minute keep their causal order
    return sorted(((t, text) for t, text in lines if not np.isnan(t)), key=lambda e: e[0])
