"""Scenario configuration: the TOML schema of docs/model.md section 6, validated up front.

A scenario file is checked completely before anything runs, so that a typo or an impossible
value costs the analyst seconds rather than a half-finished sweep.  Every problem raises one
:class:`ConfigError` naming the dotted key (``write.fail_prob``, ``write.latency.scale``) and
what is wrong with it; no KeyError, TypeError or scipy traceback reaches the user.

Kinds of keys (see :data:`KEYS`):

* ``name``, ``seed``, ``trials``: plain values.
* *use* distributions (``planner.interval``, ``write.latency``, ``repair.duration``,
  ``mitigations.empty_guard.repair``): a distribution table drawn afresh at every use, or a
  plain number meaning a constant.
* every other number is a *sampled* parameter: a plain number, or a distribution table that
  the engine draws once per region-window.  Counts must be integers, and as tables need an
  integer-valued (discrete) distribution.  A table whose support leaves the key's valid
  range is rejected here.  (A continuous distribution may touch an *open* end of the range,
  e.g. ``beta`` for a probability in [0, 1): the endpoint has probability zero.  Consumers
  should still clip such draws, since floating point can round onto the endpoint.)

``Config.values`` holds every numeric key with defaults filled in; the engine reads it.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riskmc.distributions import (
    USE_DISTRIBUTIONS,
    DistSpec,
    parse_dist,
    support_text,
    type_name,
)
from riskmc.errors import ConfigError

__all__ = [
    "CASCADE_MITIGATIONS",
    "KEYS",
    "MITIGATIONS",
    "VALUE_KEYS",
    "Config",
    "ConfigError",
    "KeySpec",
    "Range",
    "load_config",
    "lookup",
    "parse_config",
    "parse_value",
]

Value = float | int | DistSpec

#: Smallest non-zero magnitude of a number: below it floating point loses its precision
#: (subnormals), and likelihood ratios built from it underflow.
MIN_MAGNITUDE = 1e-300
#: Largest value of each time-like key (and of the cascade's work ratio), and its unit: beyond
#: them sums and products of times overflow and nothing physical is described.  For a
#: distribution, its 1 - 1e-6 quantile (MAX_QUANTILE).
MAX_VALUES: dict[str, tuple[float, str]] = {
    "window.hours": (876_600.0, "hours (100 years)"),
    "enactors.poll_interval": (1e9, "seconds (about 32 years)"),
    "write.backoff_base": (1e9, "seconds (about 32 years)"),
    "write.backoff_cap": (1e9, "seconds (about 32 years)"),
    "planner.interval": (1e9, "seconds (about 32 years)"),
    "write.latency": (1e9, "seconds (about 32 years)"),
    "repair.duration": (1e9, "seconds (about 32 years)"),
    "mitigations.cleanup_min_age.age": (1e9, "seconds (about 32 years)"),
    "mitigations.deadline.seconds": (1e9, "seconds (about 32 years)"),
    "mitigations.lease.seconds": (1e9, "seconds (about 32 years)"),
    "mitigations.empty_guard.repair": (1e9, "seconds (about 32 years)"),
    "mitigations.rehearsed_recovery.delay": (1e7, "minutes (about 19 years)"),
    **{
        f"cascade.{name}": (1e7, "minutes (about 19 years)")
        for name in (
            *("lease_grace_min", "lease_spread_min", "work_timeout_min", "intervention_delay_min"),
            *("dns_cache_ttl_min", "propagation_tolerance_min", "health_check_tolerance_min"),
            *("failover_disable_delay_min", "throttle_release_min", "failover_reenable_delay_min"),
        )
    },
    # the cascade's backlog is this times the fleet-minutes without a lease (at most ~1e7)
    "cascade.propagation_work_min_per_lapse_min": (1e6, "minutes of work per fleet-minute"),
}
MAX_QUANTILE = 1.0 - 1e-6
#: Smallest value of a rate whose inverse is a time (the whole fleet within 1e7 minutes, the
#: cascade times' bound).  For a distribution, its 1e-6 quantile (MIN_QUANTILE).
MIN_VALUES: dict[str, tuple[float, str]] = {
    "cascade.dwfm_rate_per_min": (1e-7, "per minute (the whole fleet within 1e7 minutes)"),
}
MIN_QUANTILE = 1e-6
#: Largest scenario file read (bytes); empirical samples belong in a file of their own.
MAX_CONFIG_BYTES = 16 * 2**20
#: Longest scenario name (bytes): it names result files, with suffixes such as
#: "_calibration_curve.parquet" and a temporary file's extra characters.
MAX_NAME_BYTES = 160


@dataclass(frozen=True)
class Range:
    """A key's valid range; ``lo_open``/``hi_open`` exclude the endpoint."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, x: float) -> bool:
        if x < self.lo or (x == self.lo and self.lo_open):
            return False
        return not (x > self.hi or (x == self.hi and self.hi_open))

    def contains_support(self, bounds: tuple[float, float], atoms: bool) -> bool:
        """Whether a distribution with support ``bounds`` stays inside the range.

        An open end may coincide with the support's end only for a continuous distribution
        (``atoms`` False), where that endpoint has probability zero.
        """
        lo, hi = bounds
        if math.isnan(lo) or math.isnan(hi) or lo < self.lo or hi > self.hi:
            return False
        if lo == self.lo and self.lo_open and (atoms or not math.isfinite(lo)):
            return False
        return not (hi == self.hi and self.hi_open and (atoms or not math.isfinite(hi)))

    def text(self) -> str:
        """Short human form: ">= 0", "> 0", "in [0, 1)", "in [1, 2^32)"."""
        if self.hi == math.inf:
            return f"{'>' if self.lo_open else '>='} {_bound_text(self.lo)}"
        left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
        return f"in {left}{_bound_text(self.lo)}, {_bound_text(self.hi)}{right}"


def _bound_text(x: float) -> str:
    """A range's end: powers of two as 2^k (the address layout's limits), else as %g."""
    if x >= 1024 and x.is_integer() and math.log2(x).is_integer():
        return f"2^{int(math.log2(x))}"
    return f"{x:g}"


NONNEG = Range(0.0)
POSITIVE = Range(0.0, lo_open=True)
PROB = Range(0.0, 1.0)
PROB_LT1 = Range(0.0, 1.0, hi_open=True)
AT_LEAST_1 = Range(1.0)


@dataclass(frozen=True)
class KeySpec:
    """One configuration key.

    ``kind`` is one of ``name`` (string), ``int`` (plain integer: seed, trials), ``number``
    (sampled real), ``count`` (sampled integer), ``use`` (distribution drawn at every use,
    or a constant), ``weights`` (list of numbers).  ``range`` bounds plain values and the
    support of tables; ``const_range`` (use keys) bounds a plain number where it must be
    stricter than the support (a constant planner interval of 0 would never end).
    ``default`` None with ``required`` means the key must be given (mitigation parameters);
    None without it means "no default value" (name: the file's stem; weights: uniform).
    """

    key: str
    kind: str
    default: Any
    doc: str
    range: Range | None = None
    const_range: Range | None = None
    required: bool = False


def _k(
    key: str,
    kind: str,
    default: Any,
    doc: str,
    rng: Range | None = None,
    const_range: Range | None = None,
    required: bool = False,
) -> tuple[str, KeySpec]:
    return key, KeySpec(key, kind, default, doc, rng, const_range, required)


def _cascade_key(name: str, doc: str, rng: Range = NONNEG) -> tuple[str, KeySpec]:
    """A key of the downstream cascade (docs/model.md section 5b): its default is the
    incident's calibrated value in :class:`riskmc.cascade.CascadeParams`."""
    from riskmc.cascade import CascadeParams

    return _k(f"cascade.{name}", "number", getattr(CascadeParams(), name), doc, rng)


#: The cascade's keys, drawn once per region-window like every sampled parameter.
_CASCADE_KEYS = (
    _cascade_key("lease_grace_min", "DWFM leases begin to lapse this long into the outage, minutes"),
    _cascade_key("lease_spread_min", "minutes over which every lease lapses after the grace", POSITIVE),
    _cascade_key("dwfm_rate_per_min", "share of the fleet DWFM re-establishes per minute", POSITIVE),
    _cascade_key("work_timeout_min", "DWFM lease work not done within this is re-queued, minutes", POSITIVE),
    _cascade_key(
        "intervention_delay_min", "operators act on a collapse this long after DNS returns, minutes"
    ),
    _cascade_key("dns_cache_ttl_min", "cached DNS records expire this long after the repair, minutes"),
    _cascade_key(
        "propagation_work_min_per_lapse_min",
        "Network Manager minutes of delayed work per fleet-minute without a lease",
    ),
    _cascade_key(
        "propagation_arrival_ratio",
        "delayed network work arrives this many times faster than it is processed (> 1)",
        Range(1.0, lo_open=True),
    ),
    _cascade_key("propagation_tolerance_min", "propagation delay new instances tolerate, minutes"),
    _cascade_key("health_check_tolerance_min", "propagation delay NLB health checks tolerate, minutes"),
    _cascade_key(
        "failover_disable_delay_min",
        "operators disable NLB AZ failover this long after errors begin, minutes",
    ),
    _cascade_key("throttle_release_min", "operators' EC2 request throttles are released over this, minutes"),
    _cascade_key(
        "failover_reenable_delay_min", "NLB failover re-enabled this long after EC2 recovers, minutes"
    ),
    _cascade_key(
        "nlb_removed_fraction", "share of an affected NLB's capacity flapping failover removes", PROB
    ),
)

#: Every key of docs/model.md section 6 (mitigation parameters as ``mitigations.NAME.PARAM``).
KEYS: dict[str, KeySpec] = dict(
    [
        _k("name", "name", None, "scenario name; default the file's stem"),
        _k("seed", "int", 20251020, "root seed of all random streams", Range(0.0, 2.0**64, hi_open=True)),
        _k("trials", "int", 100000, "number of region-windows simulated", Range(1.0, 2.0**32, hi_open=True)),
        _k("window.hours", "number", 1.0, "length T of one window, hours", POSITIVE),
        _k(
            "planner.interval",
            "use",
            {"dist": "expon", "scale": 30},
            "time between plan generations, seconds; drawn at every use",
            NONNEG,
            POSITIVE,
        ),
        _k("enactors.count", "count", 3, "enactors K per cell", Range(1.0, 255.0)),
        _k("enactors.poll_interval", "number", 5.0, "enactor poll interval, seconds", POSITIVE),
        _k("endpoints.count", "count", 20, "endpoints E per cell", Range(1.0, 65535.0)),
        _k(
            "endpoints.weights",
            "weights",
            None,
            "traffic share of each endpoint; normalised, default uniform",
        ),
        _k(
            "write.latency",
            "use",
            {"dist": "lognorm", "s": 0.5, "scale": 0.1},
            "latency of one write attempt, seconds; drawn at every use",
            NONNEG,
            NONNEG,
        ),
        _k("write.fail_prob", "number", 0.01, "probability a write attempt fails", PROB_LT1),
        _k("write.backoff_base", "number", 0.05, "first retry backoff cap, seconds", NONNEG),
        _k("write.backoff_cap", "number", 2.0, "maximum retry backoff, seconds", NONNEG),
        _k("degraded.prob", "number", 0.001, "probability a run is degraded", PROB),
        _k(
            "degraded.fail_prob",
            "number",
            0.5,
            "probability a write attempt fails in a degraded run",
            PROB_LT1,
        ),
        _k(
            "cleanup.keep_generations",
            "count",
            10,
            "clean-up keeps generations g-G..g; G, in generations",
            NONNEG,
        ),
        _k("region.cells", "count", 1, "cells C per region", Range(1.0, 4095.0)),
        _k(
            "region.shock.prob",
            "number",
            0.0,
            "probability a region-window is a common-cause shock",
            PROB,
        ),
        _k(
            "region.shock.degraded_prob",
            "number",
            0.0,
            "per-run degraded probability during a shock",
            PROB,
        ),
        _k(
            "repair.duration",
            "use",
            {"dist": "lognorm", "s": 0.5, "scale": 9420},
            "manual repair time of an event, seconds; drawn at every use",
            NONNEG,
            NONNEG,
        ),
        *_CASCADE_KEYS,
        _k(
            "mitigations.cleanup_min_age.age",
            "number",
            None,
            "minimum age of a deletable plan, seconds",
            NONNEG,
            required=True,
        ),
        _k(
            "mitigations.deadline.seconds",
            "number",
            None,
            "no write begins later than this after the run began, seconds",
            POSITIVE,
            required=True,
        ),
        _k(
            "mitigations.lease.seconds",
            "number",
            None,
            "lease duration, seconds",
            POSITIVE,
            required=True,
        ),
        _k(
            "mitigations.nlb_velocity_control.cap",
            "number",
            None,
            "share of an NLB's capacity AZ failover may remove (velocity control)",
            PROB,
            required=True,
        ),
        _k(
            "mitigations.rehearsed_recovery.delay",
            "number",
            None,
            "operators' intervention delay on a DWFM collapse with a rehearsed procedure, minutes",
            NONNEG,
            required=True,
        ),
        _k(
            "mitigations.empty_guard.repair",
            "use",
            None,
            "automated rollback time of an event, seconds; drawn at every use",
            NONNEG,
            NONNEG,
            required=True,
        ),
    ]
)

#: Mitigation name -> its parameter names (docs/model.md section 3), in the model's order.
MITIGATIONS: dict[str, tuple[str, ...]] = {
    "recheck": (),
    "conditional_write": (),
    "cleanup_skip_active": (),
    "cleanup_min_age": ("age",),
    "deadline": ("seconds",),
    "lease": ("seconds",),
    "empty_guard": ("repair",),
    # the downstream cascade's (section 5b): they change no event, only its blast radius
    "queue_throttle": (),
    "nlb_velocity_control": ("cap",),
    "rehearsed_recovery": ("delay",),
}

#: Mitigations that act on the cascade only: a scenario that differs from another only in
#: these has the same events (riskmc.compare reuses its sample).
CASCADE_MITIGATIONS = ("queue_throttle", "nlb_velocity_control", "rehearsed_recovery")

#: The keys of Config.values, in schema order.
VALUE_KEYS = tuple(
    k for k, s in KEYS.items() if s.kind in ("number", "count", "use") and not k.startswith("mitigations.")
)
_SECTIONS = frozenset(
    ".".join(k.split(".")[:i])
    for k in KEYS
    if not k.startswith("mitigations.")
    for i in range(1, k.count(".") + 1)
)
_ALL_PATHS = (
    tuple(k for k in KEYS if not k.startswith("mitigations."))
    + tuple(sorted(_SECTIONS | {"mitigations"}))
    + tuple(f"mitigations.{m}" for m in MITIGATIONS)
)


def _suggest_key(path: str, candidates: Sequence[str] = _ALL_PATHS) -> str:
    """The hint " (did you mean 'a.b'?)": the closest full path, else closest by last part."""
    close = difflib.get_close_matches(path, list(candidates), n=1, cutoff=0.6)
    if not close:
        leaf = path.rsplit(".", 1)[-1]
        by_leaf = {c.rsplit(".", 1)[-1]: c for c in candidates}
        leaves = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.75)
        close = [by_leaf[leaves[0]]] if leaves else []
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- value validation ------------------------------------------------------------------------


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _got(v: object) -> str:
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, Mapping):
        return "a table"
    if isinstance(v, str):
        return f"string {v!r}"
    return f"{type_name(v)} {v!r}"


def _check_plain(key: str, v: float, spec: KeySpec, rng: Range | None) -> None:
    if not math.isfinite(float(v)):
        raise ConfigError(key, f"must be a finite number, got {v}")
    if 0 < abs(float(v)) < MIN_MAGNITUDE:
        raise ConfigError(key, f"must be 0 or at least {MIN_MAGNITUDE:g} in magnitude, got {v}")
    top = MAX_VALUES.get(key)
    if top is not None and float(v) > top[0]:
        raise ConfigError(key, f"must be at most {top[0]:g} {top[1]}, got {v} ({spec.doc})")
    bottom = MIN_VALUES.get(key)
    if bottom is not None and float(v) < bottom[0]:
        raise ConfigError(key, f"must be at least {bottom[0]:g} {bottom[1]}, got {v} ({spec.doc})")
    if rng is not None and not rng.contains(float(v)):
        raise ConfigError(key, f"must be {rng.text()}, got {v} ({spec.doc})")


def _check_upper_quantile(key: str, dist: DistSpec) -> None:
    """A time-like key's distribution must keep its 1 - 1e-6 quantile within MAX_VALUES."""
    top = MAX_VALUES.get(key)
    if top is None:
        return
    q = dist.upper_quantile(MAX_QUANTILE)
    if not q <= top[0]:
        raise ConfigError(
            key,
            f"{dist.describe()} has its {MAX_QUANTILE:.6f} quantile at {q:g}; it must be at most "
            f"{top[0]:g} {top[1]}",
        )


def _check_lower_quantile(key: str, dist: DistSpec) -> None:
    """A rate's distribution must keep its 1e-6 quantile above MIN_VALUES."""
    bottom = MIN_VALUES.get(key)
    if bottom is None:
        return
    q = dist.lower_quantile(MIN_QUANTILE)
    if not q >= bottom[0]:
        raise ConfigError(
            key,
            f"{dist.describe()} has its {MIN_QUANTILE:g} quantile at {q:g}; it must be at least "
            f"{bottom[0]:g} {bottom[1]}",
        )


def _check_support(key: str, dist: DistSpec, spec: KeySpec) -> None:
    rng = spec.range
    if rng is None:
        return
    bounds = dist.support_bounds()
    if not rng.contains_support(bounds, atoms=dist.discrete):
        raise ConfigError(
            key,
            f"{dist.describe()} leaves the valid range: its support is "
            f"{support_text(bounds)}, but values must be {rng.text()} ({spec.doc})",
        )


def _value(key: str, v: object, spec: KeySpec, base_dir: str | None = None) -> Value:
    """Validate the value of a number/count/use key (plain or a distribution table).

    A use key (drawn at every use, by the engine) takes the distributions of
    :data:`~riskmc.distributions.USE_DISTRIBUTIONS`; a sampled number any scipy.stats one."""
    if isinstance(v, Mapping):
        if spec.kind == "use" and isinstance(v.get("dist"), str) and v["dist"] not in USE_DISTRIBUTIONS:
            raise ConfigError(
                f"{key}.dist",
                f"{v['dist']!r}{_suggest_key(v['dist'], list(USE_DISTRIBUTIONS))} cannot be drawn at every "
                "use; the engine draws "
                f"{', '.join(USE_DISTRIBUTIONS)} (or a plain number, a constant); parameters drawn "
                "once per region-window, including those inside this table, may use any scipy.stats "
                "distribution",
            )
        dist = parse_dist(key, v, base_dir)
        if spec.kind == "count" and not dist.integer_valued:
            if dist.samples is not None:
                why = "some of its values are not integers"
            elif not dist.discrete:
                why = f"{dist.name} is continuous"
            else:
                why = "its loc is not an integer"
            raise ConfigError(
                key,
                f"a count needs an integer-valued (discrete) distribution such as randint or poisson; {why}",
            )
        _check_support(key, dist, spec)
        _check_upper_quantile(key, dist)
        _check_lower_quantile(key, dist)
        if (
            spec.const_range is not None
            and dist.samples is not None
            and not spec.const_range.contains(max(dist.samples))
        ):
            top = max(dist.samples)
            must = spec.const_range.text()
            raise ConfigError(key, f"{dist.describe()}: every value is {top:g}; it must be {must}")
        return dist
    if not _is_number(v):
        raise ConfigError(key, f"expected a number or a distribution table, got {_got(v)}")
    assert isinstance(v, (int, float))
    if spec.kind == "count":
        if not isinstance(v, int):
            raise ConfigError(key, f"must be an integer (a count), got {v!r}")
        _check_plain(key, v, spec, spec.range)
        return v
    rng = spec.const_range if spec.kind == "use" else spec.range
    _check_plain(key, v, spec, rng)
    return float(v)


def _plain_int(key: str, v: object, spec: KeySpec) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise ConfigError(key, f"expected an integer, got {_got(v)}")
    if spec.range is not None and not spec.range.contains(v):
        raise ConfigError(key, f"must be {spec.range.text()}, got {v}")
    return v


def _weights(v: object, count: Value) -> tuple[float, ...]:
    key = "endpoints.weights"
    if not isinstance(v, list):
        raise ConfigError(key, f"expected an array of numbers, got {_got(v)}")
    for i, w in enumerate(v):
        if not _is_number(w):
            raise ConfigError(key, f"entry {i + 1} must be a plain number, got {_got(w)}")
        if not math.isfinite(w) or w < 0:
            raise ConfigError(key, f"entry {i + 1} must be a finite number >= 0, got {w}")
    top = max(v, default=0)
    if top <= 0:
        raise ConfigError(key, "weights must have a positive sum")
    v = [w / top for w in v]  # (1e308 + 1e308 would overflow)
    total = math.fsum(v)
    if not isinstance(count, int):
        raise ConfigError(
            key,
            "weights need a plain integer endpoints.count, but endpoints.count is a "
            "distribution; drop the weights or fix the count",
        )
    if len(v) != count:
        raise ConfigError(key, f"has {len(v)} entries but endpoints.count is {count}")
    return tuple(float(w) / total for w in v)


# -- structure ---------------------------------------------------------------------------------


def _check_structure(path: str, table: Mapping[str, Any]) -> None:
    """Reject unknown keys and non-tables where a section is expected (not mitigations)."""
    for k, v in table.items():
        full = f"{path}.{k}" if path else str(k)
        if full == "mitigations":
            continue
        if full in KEYS:
            continue
        if full in _SECTIONS:
            if not isinstance(v, Mapping):
                subkeys = sorted(x[len(full) + 1 :] for x in KEYS if x.startswith(full + "."))
                raise ConfigError(full, f"expected a table with keys {', '.join(subkeys)}, got {_got(v)}")
            _check_structure(full, v)
            continue
        raise ConfigError(full, f"unknown key{_suggest_key(full)}")


def _check_integers(path: str, value: Any) -> None:
    """Every integer anywhere in the data fits in 64 bits: TOML allows any size, and a larger
    one would overflow float conversion (10^309) or a table column later."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_integers(f"{path}.{k}" if path else str(k), v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_integers(f"{path}[{i}]", v)
    elif (
        isinstance(value, int)
        and not isinstance(value, bool)
        and path not in ("seed", "trials")  # plain integers, with ranges of their own
        and not -(2**63) <= value < 2**64
    ):
        raise ConfigError(
            path,
            f"the integer {str(value)[:20]}{'...' if len(str(value)) > 20 else ''} is "
            "too large (integers must lie in [-2^63, 2^64))",
        )


def lookup(data: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted key in TOML data (the raw tables of a scenario)."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _mitigations(data: Mapping[str, Any], base_dir: str | None = None) -> dict[str, dict[str, Value]]:
    found, table = lookup(data, "mitigations")
    if not found:
        return {}
    if not isinstance(table, Mapping):
        raise ConfigError(
            "mitigations",
            f"expected a table of mitigation sub-tables (e.g. [mitigations.deadline]), got {_got(table)}",
        )
    out: dict[str, dict[str, Value]] = {}
    for name, sub in table.items():
        key = f"mitigations.{name}"
        if name not in MITIGATIONS:
            raise ConfigError(
                key,
                f"unknown mitigation (known: {', '.join(MITIGATIONS)})"
                f"{_suggest_key(key, [f'mitigations.{m}' for m in MITIGATIONS])}",
            )
        if isinstance(sub, bool):  # shorthand: recheck = true
            sub = {"enabled": sub}
        if not isinstance(sub, Mapping):
            raise ConfigError(key, f"expected a table (e.g. [{key}]), got {_got(sub)}")
        names = MITIGATIONS[name]
        for p in sub:
            if p != "enabled" and p not in names:
                accepted = ", ".join(("enabled", *names))
                raise ConfigError(
                    f"{key}.{p}",
                    f"unknown parameter of {name} (accepted: {accepted})"
                    f"{_suggest_key(f'{key}.{p}', [f'{key}.{q}' for q in ('enabled', *names)])}",
                )
        enabled = sub.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{key}.enabled", f"expected true or false, got {_got(enabled)}")
        params: dict[str, Value] = {}
        for p in names:
            pkey = f"{key}.{p}"
            spec = KEYS[pkey]
            if p not in sub:
                if enabled:
                    raise ConfigError(pkey, f"required when {name} is enabled ({spec.doc})")
                continue
            params[p] = _value(pkey, sub[p], spec, base_dir)
        if enabled:
            out[name] = params
    return out


# -- overrides -----------------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """VALUE as a TOML value (number, bool, string, array, inline table), else a string."""
    try:
        parsed = tomllib.loads(f"v = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):
        return text
    return parsed["v"] if set(parsed) == {"v"} else text


def _check_override_path(key: str, parts: list[str]) -> None:
    """Reject an override path that names no key, section or mitigation.

    Parts after a numeric key address the inside of a distribution table (e.g.
    ``write.latency.scale``); they are validated when the table is parsed.
    """
    if parts[0] == "mitigations":
        if len(parts) == 1:
            return
        if parts[1] not in MITIGATIONS:
            known = [f"mitigations.{m}" for m in MITIGATIONS]
            raise ConfigError(key, f"unknown mitigation{_suggest_key('.'.join(parts[:2]), known)}")
        if len(parts) == 2:
            return
        names = ("enabled", *MITIGATIONS[parts[1]])
        if parts[2] not in names:
            cands = [f"mitigations.{parts[1]}.{q}" for q in names]
            raise ConfigError(key, f"unknown key{_suggest_key(key, cands)}")
        if len(parts) > 3 and parts[2] == "enabled":
            raise ConfigError(key, "unknown key (enabled is true or false)")
        return
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in _SECTIONS:
            continue
        if prefix in KEYS:
            if i < len(parts) and KEYS[prefix].kind not in ("number", "count", "use"):
                raise ConfigError(key, f"unknown key ({prefix} has no sub-keys)")
            return
        raise ConfigError(key, f"unknown key{_suggest_key(prefix)}")


def _apply_override(data: dict[str, Any], item: str) -> None:
    if "=" not in item:
        raise ConfigError(
            item.strip() or "<override>",
            "an override must look like KEY=VALUE, e.g. write.fail_prob=0.02",
        )
    key, _, text = item.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not key or any(not p.strip() for p in parts):
        raise ConfigError(key or item, "malformed key in override (expected e.g. write.fail_prob)")
    parts = [p.strip() for p in parts]
    _check_override_path(key, parts)
    value = parse_value(text.strip())
    node: dict[str, Any] = data
    for i, part in enumerate(parts[:-1]):
        prefix = ".".join(parts[: i + 1])
        nxt = node.get(part)
        if nxt is None:
            # Editing a parameter inside a defaulted distribution starts from the default.
            spec = KEYS.get(prefix)
            default = spec.default if spec is not None else None
            nxt = copy.deepcopy(default) if isinstance(default, dict) else {}
            node[part] = nxt
        elif not isinstance(nxt, dict):
            if prefix in KEYS:
                problem = (
                    f"{prefix} is a plain value here, not a distribution table; set it whole, "
                    f"e.g. {prefix}='{{dist = \"expon\", scale = 30}}'"
                )
            else:
                problem = f"{prefix} is not a table, cannot set {key} inside it"
            raise ConfigError(key, problem)
        node = nxt
    node[parts[-1]] = value


# -- the config ----------------------------------------------------------------------------------


def _canon(v: Any) -> Any:
    """JSON-ready canonical form: distributions as tables with float parameters."""
    if isinstance(v, DistSpec):
        return {k: _canon(x) for k, x in v.to_table().items()}
    if isinstance(v, Mapping):
        return {str(k): _canon(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    if isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    return str(v)


def _flat_value(v: Value) -> str | int | float:
    return v.describe() if isinstance(v, DistSpec) else v


@dataclass(frozen=True)
class Config:
    """A validated scenario.

    ``values`` maps every numeric key of :data:`KEYS` outside ``mitigations`` (defaults
    filled in) to a plain number (``int`` for counts, ``float`` otherwise) or a
    :class:`DistSpec`.  ``weights`` is normalised to sum 1 (None: uniform).
    ``mitigations`` holds the enabled mitigations only, name -> {param: value}.
    ``raw`` is the TOML data after overrides, from which the config can be re-parsed.
    """

    name: str
    seed: int
    trials: int
    values: Mapping[str, Value] = field(hash=False)
    weights: tuple[float, ...] | None
    mitigations: Mapping[str, Mapping[str, Value]] = field(hash=False)
    source: str = "<string>"
    raw: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)

    def flat(self) -> dict[str, str | int | float]:
        """Every key as a plain value or a distribution's describe() text.

        These become the parameter columns of result tables: ``name``, ``seed``, ``trials``,
        each value key, ``endpoints.weights`` (comma-joined normalised weights, "" if
        uniform), ``mitigations`` (comma-joined enabled names, "" if none) and
        ``mitigations.NAME.PARAM`` for the enabled ones.
        """
        out: dict[str, str | int | float] = {
            "name": self.name,
            "seed": self.seed,
            "trials": self.trials,
        }
        for k, v in self.values.items():
            out[k] = _flat_value(v)
        out["endpoints.weights"] = "" if self.weights is None else ",".join(f"{w:.6g}" for w in self.weights)
        out["mitigations"] = ",".join(self.mitigations)
        for m, params in self.mitigations.items():
            for p, v in params.items():
                out[f"mitigations.{m}.{p}"] = _flat_value(v)
        return out

    def canonical(self) -> dict[str, Any]:
        """The resolved scenario (defaults filled, distributions canonical) as JSON data."""
        return {
            "name": self.name,
            "seed": self.seed,
            "trials": self.trials,
            "values": {k: _canon(v) for k, v in self.values.items()},
            "weights": None if self.weights is None else list(self.weights),
            "mitigations": {m: _canon(dict(p)) for m, p in self.mitigations.items()},
        }

    def hash(self) -> str:
        """sha256 hex of the canonical JSON of the resolved scenario.

        Built from the parsed values with defaults filled in (not from the file's text), so
        formatting, key order, ``30`` vs ``30.0``, or spelling out a default do not change
        it, while any change of meaning does.  ``source`` is excluded: moving a file keeps
        its results resumable.
        """
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def with_overrides(self, overrides: Sequence[str]) -> Config:
        """A new config: this one's raw data with ``KEY=VALUE`` overrides applied."""
        return parse_config(self.raw, self.source, overrides)


#: The source of a scenario read from standard input (``riskmc run -``).
STDIN_SOURCE = "<stdin>"


def _default_name(source: str) -> str:
    if source == STDIN_SOURCE:
        return "stdin"
    return "config" if source == "<string>" else Path(source).stem


def _base_dir(source: str) -> str | None:
    """Where a relative path inside the scenario (an empirical samples file) is looked up:
    the scenario file's directory, the working directory for standard input."""
    if source == "<string>":
        return None
    return os.getcwd() if source == STDIN_SOURCE else os.path.dirname(os.path.abspath(source))


def parse_config(data: Mapping[str, Any], source: str = "<string>", overrides: Sequence[str] = ()) -> Config:
    """Validate TOML data (as from tomllib) plus ``KEY=VALUE`` overrides into a Config.

    Overrides are applied in order on a copy of ``data``: VALUE is read as a TOML value
    (``--set write.latency='{dist="lognorm", s=1, scale=0.2}'``), or as a plain string if it
    is not one (``--set name=foo``).  Setting a parameter inside a distribution that was
    left at its default edits the default (``--set write.latency.s=1``).
    """
    try:
        return _parse_config(data, source, overrides)
    except RecursionError:
        raise ConfigError(source if source != "<string>" else "<config>", "nested too deeply") from None


def _parse_config(data: Mapping[str, Any], source: str, overrides: Sequence[str]) -> Config:
    if isinstance(overrides, str):
        overrides = (overrides,)
    raw: dict[str, Any] = copy.deepcopy(dict(data))
    for item in overrides:
        _apply_override(raw, item)
    _check_integers("", raw)
    _check_structure("", raw)

    name: Any = raw.get("name", _default_name(source))
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("name", f"expected a non-empty string, got {_got(name)}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ConfigError(
            "name", f"must not hold control characters (it names the result files), got {name!r}"
        )
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise ConfigError("name", f"must be at most {MAX_NAME_BYTES} bytes (it names the result files)")
    seed = _plain_int("seed", raw.get("seed", KEYS["seed"].default), KEYS["seed"])
    trials = _plain_int("trials", raw.get("trials", KEYS["trials"].default), KEYS["trials"])

    base_dir = _base_dir(source)
    values: dict[str, Value] = {}
    for key in VALUE_KEYS:
        spec = KEYS[key]
        found, v = lookup(raw, key)
        values[key] = _value(key, v if found else spec.default, spec, base_dir)

    found, w = lookup(raw, "endpoints.weights")
    weights = _weights(w, values["endpoints.count"]) if found else None
    mitigations = _mitigations(raw, base_dir)
    return Config(
        name=name,
        seed=seed,
        trials=trials,
        values=values,
        weights=weights,
        mitigations=mitigations,
        source=source,
        raw=raw,
    )


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Config:
    """Read a TOML scenario file and validate it (see :func:`parse_config`); ``"-"`` reads
    it from standard input (its name then defaults to ``stdin``, relative paths inside it
    are relative to the working directory).

    A file that cannot be read or is not valid TOML raises ConfigError keyed by the path.
    """
    source = os.fspath(path)
    if "\0" in source:
        raise ConfigError(repr(source), "a path cannot hold a NUL character")
    if source == "-":
        source = STDIN_SOURCE
        text = _read_stdin()
    else:
        text = _read_file(source)
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(source, f"invalid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(source, f"invalid TOML: not UTF-8 text ({e.reason})") from None
    except RecursionError:
        raise ConfigError(source, "invalid TOML: nested too deeply") from None
    if not data:
        raise ConfigError(
            source,
            "the file sets no key; a scenario must say what it models (start from configs/baseline.toml; "
            "the keys and their defaults are in docs/model.md section 6)",
        )
    return parse_config(data, source, overrides)


def _read_file(source: str) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; a device (/dev/zero) or a
        # FIFO is refused before a byte is read, a huge file by its size.
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError(source, "not a regular file (a scenario is a TOML file)")
            if st.st_size > MAX_CONFIG_BYTES:
                raise ConfigError(
                    source,
                    f"the file is {st.st_size:,} bytes; a scenario file is at most {MAX_CONFIG_BYTES:,}",
                )
            return f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(source, f"cannot read the file: {e.strerror or e}") from None


def _read_stdin() -> bytes:
    """Standard input, at most MAX_CONFIG_BYTES (a pipe from /dev/zero must not fill memory)."""
    import sys

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise ConfigError(STDIN_SOURCE, "there is no standard input to read the scenario from")
    if sys.stdin.isatty():
        raise ConfigError(
            STDIN_SOURCE, "standard input is a terminal; pipe the scenario in (riskmc run - < FILE)"
        )
    try:
        text = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(STDIN_SOURCE, f"cannot read standard input: {e.strerror or e}") from None
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(STDIN_SOURCE, f"more than {MAX_CONFIG_BYTES:,} bytes; a scenario is at most that")
    return text
