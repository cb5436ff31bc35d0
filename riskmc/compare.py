"""Mitigation comparison: a baseline and mitigated scenarios, paired on common random numbers.

MODEL.md section 6: per mitigation, paired with the baseline on common random numbers,
``risk_ratio`` (+ CI) and ``impact_reduction_min`` (+ CI), next to every estimate of a plain
run, so that the benefit of a fix (fewer events) is read next to its costs (plan freshness,
abandoned runs).

* :func:`scenarios` builds the scenario configs: the baseline (every mitigation removed),
  then one config per requested mitigation or ``+``-combination.
* :func:`risk_ratio`, :func:`mean_difference` (paired) and :func:`unpaired_mean_difference`
  (Welch, for reference) turn the per-trial outcomes of two scenarios into estimates.
* :func:`compare_scenarios` simulates any list of scenarios on the same trials and seed and
  returns one row per scenario; :func:`compare` is ``compare_scenarios(scenarios(...))``.

**Why pairing works.**  Every random input is drawn from a stream addressed by (seed, block,
purpose, ...) (see :mod:`riskmc.draws`), so trial i of two scenarios with the same seed
sees the same planner times, wake offsets, degraded-flag uniforms and write delays whatever
mitigation or swept value differs.  The two outcomes of trial i coincide until the two
timelines diverge (a mitigation abandons a run, an extra run is degraded), so they are
positively correlated, often strongly, and the variance of a *difference* (or of the log
of a ratio) is much smaller than for two independent runs.  The paired intervals below use that; intervals
for independent samples (Welch, or a log-ratio of two unpaired proportions) stay valid on
such data but are needlessly wide (and would be too narrow if the correlation were
negative).  Pairing is by trial index: the arrays passed to the estimators must hold the
same trials of the same seed, in the same order.

**Engines without a mitigation.**  An engine that lacks a mitigation raises
``NotImplementedError`` from ``simulate`` (the vectorized engine did for all of MODEL.md
section 5 until issue 3); :func:`compare_scenarios` probes each mitigated scenario with a
one-trial run first, so that this surfaces in a fraction of a second, naming the scenario,
instead of after the baseline's run.  Nothing here depends on which mitigations exist:
scenario pairs that differ in any other parameter (``degraded.prob``,
``cleanup.keep_generations``, ...) are compared the same way.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.stats

from riskmc import rare
from riskmc.config import MITIGATIONS, Config, ConfigError, parse_config
from riskmc.estimates import CONFIDENCE, ConfidenceInterval, Estimate
from riskmc.region import RegionResults, RegionRun, run_region_scenario, windows_per_year
from riskmc.scenario import DEFAULT_CHUNK_TRIALS, HOURS_PER_YEAR, simulate

__all__ = [
    "BASELINE",
    "DEFAULT_PARAMS",
    "REFERENCE_METHOD",
    "RISK_RATIO_METHOD",
    "compare",
    "compare_scenarios",
    "compare_weighted",
    "engine_supports",
    "mean_difference",
    "paired_table",
    "parse_names",
    "risk_ratio",
    "risk_ratio_from_table",
    "scenarios",
    "unpaired_mean_difference",
    "weighted_mean_difference",
    "weighted_risk_ratio",
]

#: Label of the reference scenario (every mitigation removed); always the first row.
BASELINE = "baseline"

#: ``_method`` of the baseline row's comparison columns (the baseline against itself).
REFERENCE_METHOD = "reference"

#: ``_method`` of ``risk_ratio``.
RISK_RATIO_METHOD = "bonett-price-hybrid-wilson"

#: ``_method`` of ``impact_reduction_min`` until the region/impact layer exists.

#: Parameters a mitigation gets when the config has no ``[mitigations.NAME]`` table (or the
#: table lacks the parameter).  Plain defaults for the *default* configuration (MODEL.md
#: section 7 defaults: a plan every 30 s on average, polls every 5 s, E = 20 endpoints,
#: clean-up keeps G = 10 generations, i.e. a plan is deletable about 300 s after a newer one
#: is published; a healthy run of 20 writes of ~0.1 s takes a few seconds, a degraded one at
#: ``degraded.fail_prob = 0.5`` and a 2 s backoff cap some tens of seconds):
#:
#: * ``deadline.seconds = 60``: MODEL.md section 7's own example; about 20 healthy runs long,
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
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "cleanup_min_age": {"age": 300.0},
    "deadline": {"seconds": 60.0},
    "lease": {"seconds": 30.0},
    "empty_guard": {"repair": {"dist": "lognorm", "s": 0.5, "scale": 120}},
}

_Z = float(scipy.stats.norm.ppf(0.5 + CONFIDENCE / 2))
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

    A name is one mitigation of MODEL.md section 5 or a ``+``-combination
    (``recheck+deadline``).  The mitigations of a combination are put in MODEL.md's order,
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
    (also those it enables).  ``names`` None: the baseline and each mitigation of MODEL.md
    section 5 alone, in the model's order; otherwise the baseline and the named ones (see
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


def _wilson(x: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score limits for x successes in n (n > 0) at critical value z."""
    centre = 2.0 * x + z * z
    half = z * math.sqrt(z * z + 4.0 * x * (1.0 - x / n))
    denom = 2.0 * (n + z * z)
    return max(0.0, (centre - half) / denom), min(1.0, (centre + half) / denom)


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
    z = a / (b + c) * _Z
    l1, u1 = _wilson(n_other, n_star, z)
    l2, u2 = _wilson(n_base, n_star, z)
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


def engine_supports(config: Config, seed: int | None = None) -> bool:
    """Whether the vectorized engine can simulate ``config`` (a one-trial probe run)."""
    try:
        simulate(config, 1, config.seed if seed is None else seed)
    except NotImplementedError:
        return False
    return True


def _probe(label: str, config: Config, seed: int) -> None:
    try:
        simulate(config, 1, seed)
    except NotImplementedError as e:
        raise NotImplementedError(f"scenario {label!r}: {e}") from e


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


def _columns(rr: Estimate, age: Estimate, impact: Estimate) -> dict[str, object]:
    cols: dict[str, object] = {}
    cols.update(rr.columns("risk_ratio"))
    cols.update(age.columns("plan_age_change_s"))
    cols.update(impact.columns("impact_reduction_min"))
    return cols


def _comparison_columns(base: RegionRun, other_run: RegionRun, reference: bool) -> dict[str, object]:
    base_cells, other = base.results.cells_layer0, other_run.results.cells_layer0
    events = int(base_cells.event.sum())
    if reference:
        rr, age, impact = _reference_estimates(events)
    else:
        rr = risk_ratio(base_cells.event, other.event)
        age = mean_difference(base_cells.mean_plan_age_s, other.mean_plan_age_s)
        impact = impact_reduction(base.results, other_run.results)
    return _columns(rr, age, impact)


def impact_reduction(base: RegionResults, other: RegionResults) -> Estimate:
    """Expected annual impact saved, region-traffic-minutes per region-year: the paired
    mean of (baseline - other) impact per region-window (the same region-windows, common
    random numbers) times the windows per region-year; paired t interval."""
    diff = mean_difference(other.impact_min, base.impact_min)  # base - other, per window
    n_w = windows_per_year(base)
    ci = diff.confidence_interval
    return Estimate(
        diff.estimate * n_w,
        ConfidenceInterval(ci.low * n_w, ci.high * n_w),
        f"{diff.method} x windows per region-year",
        diff.standard_error * n_w,
    )


def weighted_risk_ratio(base_values: np.ndarray, other_values: np.ndarray) -> Estimate:
    """mean(other) / mean(base) of y = w 1{event} over the same trials, each scenario with its
    own likelihood ratios under one shared proposal (importance sampling).

    Delta method on log R with the pairing: Var(log R) ~ Var(y_o / mean_o - y_b / mean_b) / n,
    the interval exp(log R +- z SE) (a ratio's sampling distribution is closer to normal on
    the log scale, and the interval stays positive).  With no event in the other scenario
    R = 0 and, importance sampling giving no upper bound without a hit, the interval is
    [0, inf)."""
    yb = np.asarray(base_values, dtype=float)
    yo = np.asarray(other_values, dtype=float)
    method = "importance-sampling ratio of weighted means, paired delta method on log R"
    n = yb.size
    mb, mo = float(yb.mean()) if n else 0.0, float(yo.mean()) if n else 0.0
    if mb <= 0.0:
        return Estimate(_NAN, ConfidenceInterval(_NAN, _NAN), f"{method}: no reference event")
    if mo <= 0.0:
        return Estimate(0.0, ConfidenceInterval(0.0, math.inf), f"{method}: no event in this scenario")
    r = mo / mb
    se = float(np.std(yo / mo - yb / mb, ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    z = float(scipy.stats.norm.ppf(0.5 + CONFIDENCE / 2))
    return Estimate(r, ConfidenceInterval(r * math.exp(-z * se), r * math.exp(z * se)), method, r * se)


def weighted_mean_difference(
    base_weights: np.ndarray, base_values: np.ndarray, other_weights: np.ndarray, other_values: np.ndarray
) -> Estimate:
    """r_other - r_base, r = sum(w x) / sum(w) (self-normalised importance sampling: the
    weights' common factor cancels, which matters for quantities of normal operation such
    as plan age), over the same trials; delta method with the pairing: the per-trial
    influence w_o (x_o - r_o) / mean(w_o) - w_b (x_b - r_b) / mean(w_b), Student t."""
    wb, xb = np.asarray(base_weights, float), np.asarray(base_values, float)
    wo, xo = np.asarray(other_weights, float), np.asarray(other_values, float)
    ok = np.isfinite(xb) & np.isfinite(xo)
    wb, xb, wo, xo = wb[ok], xb[ok], wo[ok], xo[ok]
    method = "weighted (self-normalised) paired difference, delta-method t"
    n = xb.size
    if n < 2 or wb.sum() <= 0 or wo.sum() <= 0:
        return Estimate(_NAN, ConfidenceInterval(_NAN, _NAN), method)
    rb, ro = float(np.sum(wb * xb) / wb.sum()), float(np.sum(wo * xo) / wo.sum())
    influence = wo * (xo - ro) / wo.mean() - wb * (xb - rb) / wb.mean()
    se = float(influence.std(ddof=1) / math.sqrt(n))
    q = float(scipy.stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))
    d = ro - rb
    return Estimate(d, ConfidenceInterval(d - q * se, d + q * se), method, se)


def _weighted_columns(base: rare.RareRun, other: rare.RareRun, reference: bool) -> dict[str, object]:
    """The comparison columns of :func:`_comparison_columns` for importance-sampled runs on the
    same trials and proposal: every per-trial value weighted by its own scenario's w."""
    b, o = base.sample, other.sample
    if reference:
        events = int(np.count_nonzero(b.event))
        rr, age, impact = _reference_estimates(events)
    else:
        rr = weighted_risk_ratio(b.weight * b.event, o.weight * o.event)
        age = weighted_mean_difference(b.weight, b.mean_plan_age_s, o.weight, o.mean_plan_age_s)
        diff = mean_difference(rare.window_impacts(o), rare.window_impacts(b))  # base - other
        n_w = HOURS_PER_YEAR * 3600.0 / float(np.mean(b.window_s))
        ci = diff.confidence_interval
        impact = Estimate(
            diff.estimate * n_w,
            ConfidenceInterval(ci.low * n_w, ci.high * n_w),
            f"weighted {diff.method} x windows per region-year",
            diff.standard_error * n_w,
        )
    return _columns(rr, age, impact)


def compare_weighted(
    scenario_list: Sequence[tuple[str, Config]],
    trials: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    resolved: tuple[str, rare.Proposal | None] | None = None,
) -> list[dict[str, object]]:
    """:func:`compare_scenarios` with importance sampling (:mod:`riskmc.rare`): every
    scenario on the same trials, seed and proposal (from the first scenario's pilot), so
    that trial i of two scenarios shares its random inputs and its tilted degraded flags;
    each scenario weights its trials with its own likelihood ratios.  The risk ratio is
    :func:`weighted_risk_ratio`; plan-age change and impact saved are paired t intervals of
    the weighted per-trial values."""
    if not scenario_list:
        raise ValueError("no scenarios to compare")
    for label, cfg in scenario_list:
        if cfg.mitigations:
            _probe(label, cfg, seed)
    if resolved is None:  # the caller's, when it already ran the pilot (a second would be the same)
        resolved = rare.resolve_estimator(scenario_list[0][1], seed, "is")
    tick = None if progress is None else (lambda k, _e: progress(k))
    runs = [
        (label, rare.run_adaptive(cfg, max_trials=trials, seed=seed, resolved=resolved, progress=tick))
        for label, cfg in scenario_list
    ]
    base = runs[0][1]
    return [_row(label, run, _weighted_columns(base, run, i == 0)) for i, (label, run) in enumerate(runs)]


def _row(label: str, result: RegionRun | rare.RareRun, comparison: Mapping[str, object]) -> dict[str, object]:
    """``RegionRun.row()`` with ``mitigation`` after ``scenario`` and the comparison
    columns after the estimates (before ``rel_err``)."""
    row: dict[str, object] = {}
    placed = False
    for key, value in result.row().items():
        if key == "rel_err" and not placed:
            row.update(comparison)
            placed = True
        row[key] = value
        if key == "scenario":
            row["mitigation"] = label
    if not placed:
        row.update(comparison)
    return row


def compare_scenarios(
    scenario_list: Sequence[tuple[str, Config]],
    trials: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    *,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
) -> list[dict[str, object]]:
    """Simulate each ``(label, config)`` on trials [0, trials) of ``seed``; one row each.

    The first scenario is the reference of the pairing.  A row has every column of
    :meth:`riskmc.region.RegionRun.row` (the estimates of ``riskmc run``), plus
    ``mitigation`` (the label) and, paired with the first scenario trial by trial:

    * ``risk_ratio`` (+ ``_lo``, ``_hi``, ``_method``): p / p_reference, see
      :func:`risk_ratio`;
    * ``plan_age_change_s``: mean change of ``mean_plan_age_s`` (this minus reference),
      :func:`mean_difference` (paired t);
    * ``impact_reduction_min``: expected annual impact saved (reference minus this), in
      region-traffic-minutes per region-year, paired over region-windows, see
      :func:`impact_reduction`.

    The reference row itself gets ``risk_ratio`` 1.0 with the degenerate interval [1, 1],
    ``plan_age_change_s`` and ``impact_reduction_min`` 0.0 with [0, 0], method
    ``reference``: exact by definition,
    not estimates (with 0 reference events the ratio is undefined: NaN, [NaN, NaN]).

    Scenarios with a mitigation are first probed with a one-trial run, so that an engine
    without that mitigation raises ``NotImplementedError`` (naming the scenario) before
    any long run.  ``progress`` is called with the trials done after each engine chunk,
    over all scenarios (total ``trials * len(scenario_list)``).
    """
    if not scenario_list:
        raise ValueError("no scenarios to compare")
    for label, cfg in scenario_list:
        if cfg.mitigations:
            _probe(label, cfg, seed)
    rows: list[dict[str, object]] = []
    base: RegionRun | None = None
    for i, (label, cfg) in enumerate(scenario_list):
        result = run_region_scenario(
            cfg, trials=trials, seed=seed, chunk_trials=chunk_trials, progress=progress
        )
        if base is None:
            base = result  # only the reference's per-trial outcomes are kept beyond its row
        rows.append(_row(label, result, _comparison_columns(base, result, reference=i == 0)))
    return rows


def compare(
    config: Config,
    names: Sequence[str] | None = None,
    trials: int | None = None,
    seed: int | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
    estimator: str = "naive",
) -> list[dict[str, object]]:
    """The mitigation comparison of ``config``: :func:`scenarios` through
    :func:`compare_scenarios` (``estimator`` naive) or :func:`compare_weighted` (``is``;
    ``auto`` picks one from the baseline's pilot, as ``riskmc run`` does).  ``trials`` and
    ``seed`` default to the config's; every scenario runs the same trials of the same seed.
    One row per scenario, baseline first.
    """
    scenario_list = scenarios(config, names)
    trials = config.trials if trials is None else trials
    seed = config.seed if seed is None else seed
    if estimator != "naive":
        resolved = rare.resolve_estimator(scenario_list[0][1], seed, estimator)
        if resolved[0] == "is":
            return compare_weighted(scenario_list, trials, seed, progress, resolved)
    return compare_scenarios(scenario_list, trials, seed, progress, chunk_trials=chunk_trials)
