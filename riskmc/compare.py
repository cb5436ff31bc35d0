"""Mitigation comparison: a baseline and mitigated scenarios, paired on common random numbers.

docs/model.md section 8: per mitigation, paired with the baseline on common random numbers,
``risk_ratio`` (+ CI), ``plan_age_change_s`` and ``impact_reduction_min`` (+ CI), next to
every estimate of a plain run, so that the benefit of a fix (fewer events, less impact) is
read next to its costs (plan freshness, abandoned runs).

* :func:`scenarios` builds the scenario configs: the baseline (every mitigation removed),
  then one config per requested mitigation or ``+``-combination.
* :func:`compare` runs every scenario on the SAME trials, seed and estimator plan (resolved
  once, on the baseline) and returns one row per scenario.
* :func:`risk_ratio` (Bonett-Price, paired binary outcomes), :func:`weighted_risk_ratio`,
  :func:`mean_difference`, :func:`weighted_mean_difference` and
  :func:`unpaired_mean_difference` (Welch, for reference) are the paired estimators.

**Why pairing works.**  Every random number is addressed by (seed; trial, cell, purpose,
enactor, run, write, attempt) (:mod:`riskmc.engine.kernel`), so window i of two scenarios
with the same seed sees the same planner times, wake offsets, degraded-flag uniforms, write
delays, repair durations and (under importance sampling) mixture component, whatever
mitigation differs.  The two outcomes of window i coincide until the timelines diverge, so
they are positively correlated, often strongly, and the variance of a *difference* (or of
the log of a ratio) is much smaller than for two independent runs.  Pairing is by trial
index: the arrays passed to the estimators must hold the same trials of the same seed.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.stats

from riskmc.config import MITIGATIONS, Config, ConfigError, parse_config
from riskmc.estimates import CONFIDENCE, Z95, ConfidenceInterval, Estimate, wilson_bounds

if TYPE_CHECKING:  # the estimators (and the engine, numba) load only when a comparison runs,
    # so that naming a mitigation wrongly is answered at once
    from riskmc.estimators import Plan, Run
    from riskmc.estimators.split import SplitResult, SplitSpec
    from riskmc.execute import Executor

__all__ = [
    "BASELINE",
    "DEFAULT_PARAMS",
    "REFERENCE_METHOD",
    "RISK_RATIO_METHOD",
    "compare",
    "compare_split",
    "mean_difference",
    "paired_table",
    "parse_names",
    "replicate_risk_ratio",
    "risk_ratio",
    "risk_ratio_from_table",
    "scenarios",
    "unpaired_mean_difference",
    "weighted_mean_difference",
    "weighted_risk_ratio",
    "with_mitigations",
]

#: Label of the reference scenario (every mitigation removed); always the first row.
BASELINE = "baseline"

#: ``_method`` of the baseline row's comparison columns (the baseline against itself).
REFERENCE_METHOD = "reference"

#: ``_method`` of ``risk_ratio``.
RISK_RATIO_METHOD = "bonett-price-hybrid-wilson"

#: Parameters a mitigation gets when the config has no ``[mitigations.NAME]`` table (or the
#: table lacks the parameter).  Plain defaults for the *default* configuration (docs/model.md
#: section 6 defaults: a plan every 30 s on average, polls every 5 s, E = 20 endpoints,
#: clean-up keeps G = 10 generations, i.e. a plan is deletable about 300 s after a newer one
#: is published; a healthy run of 20 writes of ~0.1 s takes a few seconds, a degraded one at
#: ``degraded.fail_prob = 0.5`` and a 2 s backoff cap some tens of seconds):
#:
#: * ``deadline.seconds = 60``: about 20 healthy runs long,
#:   so it stops only runs that are badly stuck, and a fifth of the ~300 s a run's plan
#:   needs to become deletable, so a stopped run can no longer write a deleted plan.
#: * ``lease.seconds = 30``: renewed at each write's begin, so it bounds one *write*: far
#:   longer than a healthy write (~0.1 s) and than most retried ones (a few seconds at a
#:   2 s backoff cap), so a live holder keeps it; and a stuck holder blocks the other
#:   Enactors for at most six polls.
#: * ``cleanup_min_age.age = 300``: about the default clean-up horizon (10 generations of
#:   30 s), so a plan that any plausible in-flight run (seconds to a minute) still holds is
#:   never deleted, while the plans the baseline deletes are mostly that old anyway.
#: * ``empty_guard.repair = lognorm(s=0.5, scale=120)`` seconds: automated detection and
#:   rollback with a median of 2 minutes (a health check noticing an empty record within a
#:   minute plus a re-apply), against the 157-minute manual repair of the incident
#:   (``repair.duration`` median 9420 s).
#:
#: Configurations with other time scales should set their own in ``[mitigations.NAME]``
#: tables (``enabled = false`` keeps them for ``riskmc compare`` without enabling them), as
#: ``configs/compare.toml`` does.
#: * ``nlb_velocity_control.cap = 0.1``: AZ failover may take at most a tenth of an NLB's
#:   capacity out of service (AWS's velocity control; the incident's flapping took a whole
#:   zone, a third, in the cascade's calibration).
#: * ``rehearsed_recovery.delay = 30`` minutes: with a tested DWFM recovery procedure the
#:   operators act half an hour after DNS returns instead of the incident's 109 minutes
#:   (detection, a runbook, the throttle).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "nlb_velocity_control": {"cap": 0.1},
    "rehearsed_recovery": {"delay": 30.0},
    "cleanup_min_age": {"age": 300.0},
    "deadline": {"seconds": 60.0},
    "lease": {"seconds": 30.0},
    "empty_guard": {"repair": {"dist": "lognorm", "s": 0.5, "scale": 120}},
}

_NAN = float("nan")


# -- scenarios -------------------------------------------------------------------------------------


def _unknown(part: str, name: str) -> ConfigError:
    close = difflib.get_close_matches(part, list(MITIGATIONS), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    where = f" in {name!r}" if name != part else ""
    return ConfigError(
        "mitigations",
        f"unknown mitigation {part!r}{where}{hint}; known: {', '.join(MITIGATIONS)} "
        "(combine with '+', e.g. recheck+deadline)",
    )


def parse_names(names: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Mitigation scenario names to ``(label, mitigations)``, checked.

    A name is one mitigation of docs/model.md section 3 or a ``+``-combination
    (``recheck+deadline``).  The mitigations of a combination are put in docs/model.md's order,
    which is also the label (``deadline+recheck`` -> ``recheck+deadline``), so the same
    scenario always has the same label.  ``baseline`` is accepted and ignored (the baseline
    is always included).  An unknown or empty name, a mitigation repeated within a name, or
    a scenario given twice raises :class:`ConfigError` keyed ``mitigations``.
    """
    if isinstance(names, str):
        names = [names]
    order = {m: i for i, m in enumerate(MITIGATIONS)}
    out: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for name in names:
        text = str(name).strip()
        if text == BASELINE:
            continue
        parts = [p.strip() for p in text.split("+")]
        if not text or any(not p for p in parts):
            raise ConfigError(
                "mitigations",
                f"empty mitigation name in {name!r} (expected e.g. recheck or recheck+deadline)",
            )
        for part in parts:
            if part not in MITIGATIONS:
                raise _unknown(part, text)
        if len(set(parts)) != len(parts):
            raise ConfigError("mitigations", f"{name!r} names a mitigation more than once")
        ms = tuple(sorted(parts, key=order.__getitem__))
        label = "+".join(ms)
        if label in seen:
            raise ConfigError("mitigations", f"scenario {label!r} is given more than once")
        seen.add(label)
        out.append((label, ms))
    return out


def _mitigation_params(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Parameters of ``name``: the config's ``[mitigations.NAME]`` table over the defaults."""
    params: dict[str, Any] = copy.deepcopy(DEFAULT_PARAMS.get(name, {}))
    table = raw.get("mitigations")
    sub = table.get(name) if isinstance(table, Mapping) else None
    if isinstance(sub, Mapping):  # (a bool is the shorthand ``recheck = true``: no params)
        params.update({k: copy.deepcopy(v) for k, v in sub.items() if k != "enabled"})
    return params


def _scenario_config(config: Config, label: str, mitigations: Sequence[str]) -> Config:
    raw: dict[str, Any] = copy.deepcopy(config.raw)
    enabled = {m: {**_mitigation_params(config.raw, m), "enabled": True} for m in mitigations}
    raw.pop("mitigations", None)
    if enabled:
        raw["mitigations"] = enabled
    raw["name"] = f"{config.name}+{label}"
    return parse_config(raw, config.source)


def with_mitigations(config: Config, names: Sequence[str]) -> Config:
    """``config`` with the named mitigations (or ``a+b`` combinations) enabled as well, with
    parameters as in :func:`scenarios`; named ``<name>+<labels>``."""
    chosen = parse_names(names)
    if not chosen:
        return config
    raw: dict[str, Any] = copy.deepcopy(config.raw)
    table = raw.get("mitigations")
    table = dict(table) if isinstance(table, Mapping) else {}
    for _, ms in chosen:
        for m in ms:
            table[m] = {**_mitigation_params(config.raw, m), "enabled": True}
    raw["mitigations"] = table
    raw["name"] = "+".join([config.name, *(label for label, _ in chosen)])
    return parse_config(raw, config.source)


def scenarios(config: Config, names: Sequence[str] | None = None) -> list[tuple[str, Config]]:
    """``(label, config)`` of the baseline and each requested mitigation scenario.

    The first is always ``("baseline", ...)``: ``config`` with every mitigation removed
    (also those it enables).  ``names`` None: the baseline and each mitigation of docs/model.md
    section 3 alone, in the model's order; otherwise the baseline and the named ones (see
    :func:`parse_names`; ``[]`` gives the baseline only).

    A scenario enables exactly its mitigations, with parameters from the config's
    ``[mitigations.NAME]`` table when it has one (enabled or not: ``enabled = false`` keeps
    the parameters without enabling them), else from :data:`DEFAULT_PARAMS`.  Each config is
    built by :func:`~riskmc.config.parse_config` on a modified copy of ``config.raw``, so it
    is validated like a file (a bad parameter raises ConfigError naming its key) and is
    named ``<config name>+<label>``.  Everything but the mitigations is ``config``'s.
    """
    chosen = [(m, (m,)) for m in MITIGATIONS] if names is None else parse_names(names)
    out = [(BASELINE, _scenario_config(config, BASELINE, ()))]
    out += [(label, _scenario_config(config, label, ms)) for label, ms in chosen]
    return out


# -- paired estimators -----------------------------------------------------------------------------


def _bools(x: np.ndarray | Sequence[bool], what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{what} must be a 1-d array of per-trial outcomes, got shape {a.shape}")
    return a.astype(bool)


def paired_table(base_events: np.ndarray, other_events: np.ndarray) -> tuple[int, int, int, int]:
    """The paired 2x2 table ``(both, other_only, base_only, neither)`` of two event arrays."""
    b = _bools(base_events, "base_events")
    o = _bools(other_events, "other_events")
    if b.size != o.size:
        raise ValueError(f"paired outcomes need the same trials: {b.size} base vs {o.size} other")
    both = int(np.count_nonzero(b & o))
    other_only = int(np.count_nonzero(o & ~b))
    base_only = int(np.count_nonzero(b & ~o))
    return both, other_only, base_only, b.size - both - other_only - base_only


def risk_ratio_from_table(both: int, other_only: int, base_only: int, neither: int = 0) -> Estimate:
    """p_other / p_base from a paired 2x2 table, with the Bonett-Price hybrid Wilson CI.

    The table counts trials: ``both`` with an event in both scenarios, ``other_only`` only
    in the other (mitigated) one, ``base_only`` only in the baseline, ``neither`` in neither
    (it does not enter the interval: the ratio of paired proportions is estimated from the
    trials with an event somewhere).  See :func:`risk_ratio` for the method and the zero
    cases.  ``standard_error`` is the delta-method one of the ratio (NaN when a margin is 0).
    """
    counts = (both, other_only, base_only, neither)
    if any(c < 0 for c in counts):
        raise ValueError(f"paired table counts must be >= 0, got {counts}")
    n_other = both + other_only  # n_1+ of Bonett & Price: events with the mitigation
    n_base = both + base_only  # n_+1: events in the baseline
    n_star = both + other_only + base_only  # trials with an event in either
    if n_star == 0:
        return Estimate(_NAN, ConfidenceInterval(0.0, math.inf), RISK_RATIO_METHOD)
    # Bonett & Price (2006), eqs. for the hybrid interval: z adjusted so that combining the
    # two Wilson intervals matches the variance of log(ratio) of the (+1)-adjusted estimates.
    a = math.sqrt((other_only + base_only + 2.0) / ((n_other + 1.0) * (n_base + 1.0)))
    b = math.sqrt((1.0 - (n_other + 1.0) / (n_star + 2.0)) / (n_other + 1.0))
    c = math.sqrt((1.0 - (n_base + 1.0) / (n_star + 2.0)) / (n_base + 1.0))
    z = a / (b + c) * Z95
    l1, u1 = wilson_bounds(n_other / n_star, n_star, z, z)
    l2, u2 = wilson_bounds(n_base / n_star, n_star, z, z)
    low = l1 / u2  # u2 > 0 always (Wilson upper limit with n_star > 0)
    if n_base == 0:
        # The ratio is undefined (0 baseline events): NaN estimate, no finite upper bound;
        # the lower bound l1/u2 is still a valid (and, with events in the other, positive) one.
        return Estimate(_NAN, ConfidenceInterval(low, math.inf), RISK_RATIO_METHOD)
    ratio = n_other / n_base
    high = u1 / l2  # l2 > 0 here: finite, and > 0 even when n_other == 0
    se = ratio * math.sqrt((other_only + base_only) / (n_other * n_base)) if n_other > 0 else _NAN
    return Estimate(ratio, ConfidenceInterval(low, high), RISK_RATIO_METHOD, se)


def risk_ratio(base_events: np.ndarray, other_events: np.ndarray) -> Estimate:
    """p_other / p_base of two scenarios on the same trials, with a 95% CI for paired data.

    ``base_events[i]`` and ``other_events[i]`` are the event indicators of trial i in the
    two scenarios (same seed and trial index: common random numbers).  The interval is the
    *hybrid Wilson score* interval of

        D. G. Bonett and R. M. Price (2006), "Confidence intervals for a ratio of binomial
        proportions based on paired data", Statistics in Medicine 25(17):3039-3047,
        doi:10.1002/sim.2440,

    one of the two intervals recommended for the paired ratio by M. W. Fagerland, S.
    Lydersen and P. Laake (2014), "Recommended tests and confidence intervals for paired
    binomial proportions", Statistics in Medicine 33(16):2850-2875 (the other is Tang, Tang
    & Chan's 2003 score interval, which needs an iterative solve): Wilson intervals
    [l1, u1] for the mitigated and [l2, u2] for the baseline proportion among the n* trials
    with an event in either, both at a critical value z* = z * A / (B + C) that carries the
    pairing (A is the standard error of log(ratio) from the (+1)-adjusted paired table, B
    and C those of the two log-proportions), combined as [l1 / u2, u1 / l2].  Closed form,
    good coverage down to small counts, and honest at zero:

    * 0 events with the mitigation (``p_other`` = 0, e.g. ``conditional_write``): estimate 0,
      interval [0, U] with U = z*^2 / n* finite and > 0 -- "at most U", never [0, 0];
    * 0 events in the baseline: the ratio is undefined, so the estimate is NaN and the
      interval [L, inf): its infinite upper bound says that the data cannot bound the ratio
      (L is still a valid lower bound, > 0 when the mitigated scenario has events);
    * 0 events in both: NaN, [0, inf).
    """
    return risk_ratio_from_table(*paired_table(base_events, other_events))


def _paired_values(base_values: np.ndarray, other_values: np.ndarray) -> np.ndarray:
    b = np.asarray(base_values, dtype=float)
    o = np.asarray(other_values, dtype=float)
    if b.ndim != 1 or o.ndim != 1 or b.size != o.size:
        raise ValueError(f"paired values need 1-d arrays over the same trials, got {b.shape} and {o.shape}")
    d = o - b
    return d[np.isfinite(d)]


def mean_difference(base_values: np.ndarray, other_values: np.ndarray) -> Estimate:
    """mean(other - base) over paired trials with a paired Student-t interval.

    Trial i of both arrays must be the same trial (common random numbers).  The interval is
    the one-sample t interval of the per-trial differences (``scipy.stats.ttest_rel``'s),
    method ``paired-t``; pairs with a non-finite value are dropped.  Identical inputs give
    a zero-width interval at 0 (the differences have no variance).
    """
    d = _paired_values(base_values, other_values)
    n = d.size
    if n == 0:
        return Estimate(_NAN, ConfidenceInterval(_NAN, _NAN), "paired-t")
    m = float(d.mean())
    if n == 1:
        return Estimate(m, ConfidenceInterval(-math.inf, math.inf), "paired-t")
    se = float(d.std(ddof=1) / math.sqrt(n))
    q = float(scipy.stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))
    return Estimate(m, ConfidenceInterval(m - q * se, m + q * se), "paired-t", se)


def unpaired_mean_difference(base_values: np.ndarray, other_values: np.ndarray) -> Estimate:
    """mean(other) - mean(base) as if the samples were independent: Welch's t interval.

    What two independent runs (different seeds) would give; on common random numbers it is
    valid but needlessly wide, which is what :func:`mean_difference` gains.  Method
    ``welch-t``; non-finite values are dropped from each sample.
    """
    b = np.asarray(base_values, dtype=float)
    o = np.asarray(other_values, dtype=float)
    b, o = b[np.isfinite(b)], o[np.isfinite(o)]
    if b.size == 0 or o.size == 0:
        return Estimate(_NAN, ConfidenceInterval(_NAN, _NAN), "welch-t")
    m = float(o.mean() - b.mean())
    if b.size < 2 or o.size < 2:
        return Estimate(m, ConfidenceInterval(-math.inf, math.inf), "welch-t")
    vb, vo = float(b.var(ddof=1)) / b.size, float(o.var(ddof=1)) / o.size
    se = math.sqrt(vb + vo)
    if se == 0.0:
        return Estimate(m, ConfidenceInterval(m, m), "welch-t", 0.0)
    df = (vb + vo) ** 2 / (vb**2 / (b.size - 1) + vo**2 / (o.size - 1))
    q = float(scipy.stats.t.ppf(0.5 + CONFIDENCE / 2, df))
    return Estimate(m, ConfidenceInterval(m - q * se, m + q * se), "welch-t", se)


# -- the comparison --------------------------------------------------------------------------------


def _reference_estimates(events: int) -> tuple[Estimate, Estimate, Estimate]:
    """The reference row's risk ratio, plan-age change and impact saved: exact by definition
    (1, 0, 0; the ratio is undefined without a reference event)."""
    rr = (
        Estimate(1.0, ConfidenceInterval(1.0, 1.0), REFERENCE_METHOD, 0.0)
        if events > 0
        else Estimate(_NAN, ConfidenceInterval(_NAN, _NAN), REFERENCE_METHOD)
    )
    zero = Estimate(0.0, ConfidenceInterval(0.0, 0.0), REFERENCE_METHOD, 0.0)
    return rr, zero, zero


def weighted_risk_ratio(base_values: np.ndarray, other_values: np.ndarray) -> Estimate:
    """mean(other) / mean(base) of per-window values (y = w e / C) over the same windows,
    each scenario weighted with its own likelihood ratios under one shared plan.

    Delta method on log R with the pairing: Var(log R) ~ Var(y_o / mean_o - y_b / mean_b) / n,
    the interval exp(log R +- z SE) (a ratio is closer to normal on the log scale, and the
    interval stays positive).  With no event in the other scenario R = 0, bounded by the
    callers (:func:`_risk_ratio`, :func:`_stratum_risk_ratio`) from the scenarios' own intervals."""
    yb = np.asarray(base_values, dtype=float)
    yo = np.asarray(other_values, dtype=float)
    method = "ratio of weighted means, paired delta method on log R"
    n = yb.size
    mb, mo = float(yb.mean()) if n else 0.0, float(yo.mean()) if n else 0.0
    if mb <= 0.0:
        return Estimate(_NAN, ConfidenceInterval(_NAN, _NAN), f"{method}: no reference event")
    if mo <= 0.0:
        return Estimate(0.0, ConfidenceInterval(0.0, math.inf), f"{method}: no event in this scenario")
    r = mo / mb
    se = float(np.std(yo / mo - yb / mb, ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return Estimate(r, ConfidenceInterval(r * math.exp(-Z95 * se), r * math.exp(Z95 * se)), method, r * se)


def weighted_mean_difference(
    base_weights: np.ndarray, base_values: np.ndarray, other_weights: np.ndarray, other_values: np.ndarray
) -> Estimate:
    """r_other - r_base, r = sum(w x) / sum(w) (self-normalised: the weights' common factor
    cancels, which matters for quantities of normal operation such as plan age), over the
    same windows; delta method with the pairing: the per-window influence w_o (x_o - r_o) /
    mean(w_o) - w_b (x_b - r_b) / mean(w_b), Student t.  With weights 1, the paired t."""
    wb, xb = np.asarray(base_weights, float), np.asarray(base_values, float)
    wo, xo = np.asarray(other_weights, float), np.asarray(other_values, float)
    ok = np.isfinite(xb) & np.isfinite(xo)
    wb, xb, wo, xo = wb[ok], xb[ok], wo[ok], xo[ok]
    method = "self-normalised paired difference, delta-method t"
    n = xb.size
    if n < 2 or wb.sum() <= 0 or wo.sum() <= 0:
        return Estimate(_NAN, ConfidenceInterval(_NAN, _NAN), method)
    rb, ro = float(np.sum(wb * xb) / wb.sum()), float(np.sum(wo * xo) / wo.sum())
    influence = wo * (xo - ro) / wo.mean() - wb * (xb - rb) / wb.mean()
    se = float(influence.std(ddof=1) / math.sqrt(n))
    q = float(scipy.stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))
    d = ro - rb
    return Estimate(d, ConfidenceInterval(d - q * se, d + q * se), method, se)


def _per_cell(run: Run, stratum: str | None = None) -> np.ndarray:
    """w e / C per window: every event, or one stratum's (``no_degraded``, ``degraded``)."""
    s = run.sample
    events = {None: s.events, "no_degraded": s.events_nodeg, "degraded": s.events_deg}[stratum]
    return s.weight * events / s.cells


def _stratum_risk_ratio(base: Run, other: Run, stratum: str) -> Estimate:
    """The risk ratio within one stratum of events (paired delta method on log R); a stratum
    without a hit in the other scenario gets [0, its zero-hit bound / the baseline's lower
    end], one without a hit in the baseline is undefined."""
    rr = weighted_risk_ratio(_per_cell(base, stratum), _per_cell(other, stratum))
    b = base.estimates.strata[stratum].confidence_interval
    o = other.estimates.strata[stratum].confidence_interval
    if rr.estimate == 0.0:
        hi = o.high / b.low if b.low > 0 else math.inf
        return Estimate(0.0, ConfidenceInterval(0.0, hi), f"{rr.method}; upper end from the zero-hit bound")
    barely = stratum in base.estimates.barely_unseen or stratum in other.estimates.barely_unseen
    if barely and not math.isnan(rr.estimate):
        # rare: a part of the stratum a sample could not show is bounded in its intervals
        return _widened(rr, b, o, "intervals (barely boosted events unseen)")
    return rr


def _widened(rr: Estimate, base: ConfidenceInterval, other: ConfidenceInterval, why: str) -> Estimate:
    """A paired ratio widened to the ratio of the two scenarios' intervals, which hold the
    bounds of what their samples could not show."""
    lo = min(rr.confidence_interval.low, other.low / base.high) if base.high > 0 else 0.0
    hi = max(
        rr.confidence_interval.high if rr.estimate > 0 else 0.0,
        other.high / base.low if base.low > 0 else math.inf,
    )
    return Estimate(
        rr.estimate,
        ConfidenceInterval(lo, hi),
        f"{rr.method}; widened to the ratio of the two {why}",
        rr.standard_error,
    )


def _risk_ratio(base: Run, other: Run) -> Estimate:
    """The paired risk ratio: Bonett-Price on the event indicators of a plain sample of
    one-cell windows (exact small-count behaviour), else the paired delta method on log R;
    widened by the scenarios' own intervals where a stratum is unobserved (the bounds of
    what the sample cannot see are in those) or the other scenario has no event."""
    sb, so = base.sample, other.sample
    if not base.plan.tilts and np.all(sb.cells == 1):
        return risk_ratio(sb.events > 0, so.events > 0)
    rr = weighted_risk_ratio(_per_cell(base), _per_cell(other))
    pb = base.estimates.values["p_cell_window"].confidence_interval
    po = other.estimates.values["p_cell_window"].confidence_interval
    if math.isnan(rr.estimate):  # no event in the baseline: R is undefined, but bounded below
        lo = po.low / pb.high if pb.high > 0 else 0.0
        return Estimate(
            math.nan,
            ConfidenceInterval(lo, math.inf),
            f"{rr.method}; lower end the ratio of the two p_cell_window intervals",
        )
    unseen = base.estimates.unseen or other.estimates.unseen or rr.estimate == 0.0
    if not unseen:
        return rr
    return _widened(rr, pb, po, "p_cell_window intervals (unobserved strata or no event)")


def _saved_per_year(
    base: Run,
    other: Run,
    values: tuple[np.ndarray, np.ndarray],
    bounds: tuple[Estimate, Estimate],
    note: str,
    widen_low: bool = True,
) -> Estimate:
    """A quantity per region-year saved (baseline - other): the paired mean difference of
    w x value per window, x n_w; widened by the two runs' own bounds (``bounds``: their
    per-year estimates) where a sample has an unobserved stratum or a scenario no event (its
    value is then known only to be at most its bound, which a paired difference of zeros
    cannot show).  ``widen_low`` False: the other scenario cannot cost more on any event."""
    from riskmc.estimators import windows_per_year

    sb, so = base.sample, other.sample
    vb, vo = values
    diff = mean_difference(so.weight * vo, sb.weight * vb)
    n_w = windows_per_year(sb)
    ci = diff.confidence_interval
    lo, hi = ci.low * n_w, ci.high * n_w
    eb, eo = bounds
    method = f"{diff.method} x windows per region-year"
    if other.estimates.unseen or base.estimates.unseen or not (sb.events.any() and so.events.any()):
        if widen_low:
            lo -= max(0.0, eo.confidence_interval.high - eo.estimate)
        hi += max(0.0, eb.confidence_interval.high - eb.estimate)
        method += f"; widened by the {note} of unobserved strata or of a scenario without events"
    return Estimate(diff.estimate * n_w, ConfidenceInterval(lo, hi), method, diff.standard_error * n_w)


def _impact_reduction(base: Run, other: Run) -> Estimate:
    """Expected annual impact saved (baseline - other), region-traffic-minutes per region-year."""
    name = "impact_per_year_min"
    bounds = (base.estimates.values[name], other.estimates.values[name])
    return _saved_per_year(
        base, other, (base.sample.impact_min, other.sample.impact_min), bounds, "impact bounds"
    )


def _cascade_saved(base: Run, other: Run, name: str, values: str) -> Estimate:
    """A cascade quantity per region-year saved, paired as the impact is."""
    pair = (getattr(base.cascade, values), getattr(other.cascade, values))
    bounds = (base.cascade_estimates[name], other.cascade_estimates[name])
    widen_low = not _never_costs_more(base.config, other.config)
    return _saved_per_year(base, other, pair, bounds, "bounds", widen_low)


def comparison_columns(base: Run, other: Run, reference: bool) -> dict[str, object]:
    """``risk_ratio`` (and ``risk_ratio_<stratum>`` within each stratum of events),
    ``plan_age_change_s`` and ``impact_reduction_min`` of ``other``, paired with ``base``
    window by window (both on the same trials and plan)."""
    sb, so = base.sample, other.sample
    strata: dict[str, Estimate] = {}
    if reference:
        rr, age, impact = _reference_estimates(int(np.count_nonzero(sb.events)))
        ec2 = nlb = age
        for stratum, count in (("no_degraded", sb.events_nodeg), ("degraded", sb.events_deg)):
            strata[stratum] = _reference_estimates(int(np.count_nonzero(count)))[0]
    else:
        rr = _risk_ratio(base, other)
        age = weighted_mean_difference(sb.weight, sb.mean_plan_age_s, so.weight, so.mean_plan_age_s)
        impact = _impact_reduction(base, other)
        ec2 = _cascade_saved(base, other, "ec2_impaired_per_year_min", "ec2_min")
        nlb = _cascade_saved(base, other, "nlb_capacity_lost_per_year", "nlb_lost")
        from riskmc.estimators import STRATA

        strata = {s: _stratum_risk_ratio(base, other, s) for s in STRATA}
    cols: dict[str, object] = {}
    cols.update(rr.columns("risk_ratio"))
    for stratum, e in strata.items():
        cols.update(e.columns(f"risk_ratio_{stratum}"))
    cols.update(age.columns("plan_age_change_s"))
    cols.update(impact.columns("impact_reduction_min"))
    cols.update(ec2.columns("ec2_impaired_saved_min"))
    cols.update(nlb.columns("nlb_capacity_saved"))
    return cols


def _row(label: str, result: Mapping[str, object], comparison: Mapping[str, object]) -> dict[str, object]:
    """A run's row with ``mitigation`` after ``scenario`` and the comparison columns after
    the estimates (before ``rel_err``)."""
    row: dict[str, object] = {}
    for key, value in result.items():
        if key == "rel_err":
            row.update(comparison)
        row[key] = value
        if key == "scenario":
            row["mitigation"] = label
    return row


def _same_events(base: Config, other: Config) -> bool:
    """Whether two scenarios differ only in mitigations of the cascade (their race, hence
    their events, identical: the engine never reads those)."""
    from riskmc.config import CASCADE_MITIGATIONS

    race = {m: p for m, p in other.mitigations.items() if m not in CASCADE_MITIGATIONS}
    base_race = {m: p for m, p in base.mitigations.items() if m not in CASCADE_MITIGATIONS}
    return race == base_race and base.values == other.values and base.weights == other.weights


def _never_costs_more(base: Config, other: Config) -> bool:
    """Whether ``other`` is ``base`` plus queue throttling or velocity control only: the same
    events, none of which can cost more downstream (section 5b's monotonicity, tested), so an
    unseen event saves at least nothing and widens only the upper end of what is saved.  (A
    rehearsed recovery's delay could be longer than the scenario's own: not assumed.)"""
    added = set(other.mitigations) - set(base.mitigations)
    return _same_events(base, other) and added <= {"queue_throttle", "nlb_velocity_control"}


def compare(
    config: Config,
    names: Sequence[str] | None = None,
    *,
    trials: int | None = None,
    seed: int | None = None,
    plan: Plan | None = None,
    estimator: str = "auto",
    threads: int = 1,
    progress: Callable[[int], None] | None = None,
    built: Sequence[tuple[str, Config]] | None = None,
    executor: Executor | None = None,
) -> list[dict[str, object]]:
    """The mitigation comparison of ``config``: :func:`scenarios` (or ``built``, what the
    caller already built from the same config and names), every one on trials [0, trials)
    of ``seed`` (default the config's) under one plan (``plan``, else resolved from
    ``estimator`` on the baseline).  One row per scenario, baseline first; ``progress`` gets
    the windows done after each block, over all scenarios.  ``executor``: where each
    scenario's blocks run (:func:`riskmc.estimators.run`; the rows do not depend on it)."""
    from riskmc import estimators

    if plan is None and estimator == "split":  # (resolve's message is the CLI's: explain, report)
        raise ValueError("compare: split has no sample plan; compare_split(config, spec) runs it")
    scenario_list = list(built) if built is not None else scenarios(config, names)
    seed = config.seed if seed is None else seed
    if plan is None:
        plan = estimators.resolve(scenario_list[0][1], seed, estimator, threads=threads)
    tick = None if progress is None else (lambda k, _e: progress(k))
    first = scenario_list[0][1]
    # A fix downstream only has the baseline's events: its sample, with a cascade of its own.
    simulated = [i for i, (_, cfg) in enumerate(scenario_list) if i == 0 or not _same_events(first, cfg)]
    runs = estimators.run_each(
        [scenario_list[i][1] for i in simulated],
        plan,
        seed=seed,
        trials=first.trials if trials is None else trials,
        threads=threads,
        progress=tick,
        executor=executor,
    )
    rows: list[dict[str, object]] = []
    base: Run | None = None
    with contextlib.closing(runs):
        for i, (label, cfg) in enumerate(scenario_list):
            if i in simulated:
                result = next(runs)
            else:
                assert base is not None  # (the baseline is simulated)
                result = estimators.with_config(base, cfg)
                if progress is not None:
                    progress(base.sample.n)
            if base is None:
                base = result
            rows.append(_row(label, result.row(), comparison_columns(base, result, reference=result is base)))
    return rows


def replicate_risk_ratio(base: Sequence[float], other: Sequence[float]) -> Estimate:
    """mean(other) / mean(base) of paired splitting replicates (replicate r of both scenarios
    a function of the same (seed, r): the pairs are independent and identically distributed).
    Delta method on log R with the pairing, Var(log R) ~ Var(o_r / mean_o - b_r / mean_b) / R,
    and a Student t quantile on R - 1 degrees of freedom (R is small), exp(log R +- t SE).
    Without an event in ``other``: 0, its upper end from the scenarios' own intervals
    (:func:`compare_split`)."""
    b, o = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    method = f"ratio of paired split replicates' means, delta method on log R, t over {b.size}"
    mb, mo = float(b.mean()), float(o.mean())
    if mb <= 0.0:
        return Estimate(_NAN, ConfidenceInterval(_NAN, _NAN), f"{method}: no reference event")
    if mo <= 0.0:
        return Estimate(0.0, ConfidenceInterval(0.0, math.inf), f"{method}: no event in this scenario")
    r = mo / mb
    se = float(np.std(o / mo - b / mb, ddof=1) / math.sqrt(b.size))
    q = float(scipy.stats.t.ppf(0.5 + CONFIDENCE / 2, b.size - 1))
    return Estimate(r, ConfidenceInterval(r * math.exp(-q * se), r * math.exp(q * se)), method, r * se)


def _split_ratio(base: SplitResult, other: SplitResult) -> Estimate:
    """The risk ratio of two split runs of the same replicates; without an event in ``other``
    its upper end is the other's upper end over the baseline's lower end (inf at 0)."""
    rr = replicate_risk_ratio([r.p for r in base.replicates], [r.p for r in other.replicates])
    if rr.estimate == 0.0:
        lo = base.estimate.confidence_interval.low
        hi = other.estimate.confidence_interval.high / lo if lo > 0 else math.inf
        return Estimate(
            0.0, ConfidenceInterval(0.0, hi), rr.method + "; upper end: its bound / the baseline's low end"
        )
    return rr


def compare_split(
    config: Config,
    names: Sequence[str] | None = None,
    *,
    spec: SplitSpec,
    seed: int | None = None,
    threads: int = 1,
    progress: Callable[[int], None] | None = None,
    built: Sequence[tuple[str, Config]] | None = None,
) -> list[dict[str, object]]:
    """The mitigation comparison under ``split``: every scenario ``spec.replicates`` splitting
    replicates on the same seed (every scenario checked first to be one split takes); one row
    per scenario, baseline first, with ``risk_ratio`` paired replicate by replicate
    (:func:`replicate_risk_ratio`).  p_cell_window alone: the other comparison columns need
    samples of windows.  ``progress(1)`` after each scenario."""
    from dataclasses import replace

    from riskmc.estimators.split import check_supported

    scenario_list = list(built) if built is not None else scenarios(config, names)
    seed = config.seed if seed is None else seed
    for _, cfg in scenario_list:
        check_supported(cfg)
    first = scenario_list[0][1]
    rows: list[dict[str, object]] = []
    base: SplitResult | None = None
    for label, cfg in scenario_list:
        if base is not None and _same_events(first, cfg):  # a fix downstream: the baseline's race
            result = replace(base, config=cfg)
        else:
            result = spec.run(cfg, seed, threads)
        if base is None:
            base = result
            events = sum(r.events for r in result.replicates)
            rr = _reference_estimates(events)[0]
        else:
            rr = _split_ratio(base, result)
        rows.append(_row(label, result.row(), rr.columns("risk_ratio")))
        if progress is not None:
            progress(1)
    return rows
