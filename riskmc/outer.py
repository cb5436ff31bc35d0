"""Nested uncertainty (``riskmc sweep CONFIG --outer N``): parameter uncertainty apart from
Monte Carlo noise.

A configuration may give parameters as distribution tables drawn once per region-window
(docs/model.md section 5).  A plain run averages over them: its ``p_cell_window`` is the marginal
probability.  ``--outer N`` asks instead how much each estimate *depends* on what we do not
know about those parameters:

* The *outer parameters* (:func:`outer_parameters`) are every configuration value that is a
  distribution table other than the four drawn-at-every-use keys (``planner.interval``,
  ``write.latency``, ``repair.duration``, ``mitigations.empty_guard.repair``), and every
  parameter *inside* those four that is itself a table (``planner.interval.scale``).  Of the
  mitigations, only the enabled ones count.
* :func:`outer_points` draws N outer parameter vectors: a Latin hypercube in [0, 1)^d,
  mapped through each distribution's ``ppf``.  A table whose own parameters are tables is
  drawn hierarchically, each level by inversion with its own hypercube column (its
  parameters first, then the value given them), so every value has its marginal
  distribution.  The design is seeded from the sweep seed at its own address
  ``SeedSequence(seed, spawn_key=(0, OUTER_PURPOSE))``, never numpy's global state.
* Each draw is a sweep point: the configuration with those parameters fixed as constants
  (:meth:`~riskmc.config.Config.with_overrides`, so validation is the config's own), run on
  the SAME trials and seed at every draw (common random numbers).  So the draws differ by
  their parameters, not by their noise.
* :func:`outer_summary`: per estimate, the 5th, 50th and 95th percentiles over the draws,
  and the mean within-draw Monte Carlo half-width of its 95% interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import qmc

from riskmc.config import KEYS, Config, ConfigError
from riskmc.distributions import DistSpec
from riskmc.streams import Purpose

__all__ = [
    "OUTER_PURPOSE",
    "PERCENTILES",
    "USE_KEYS",
    "OuterError",
    "OuterParam",
    "estimate_names",
    "outer_parameters",
    "outer_points",
    "outer_summary",
    "outer_uniforms",
]

#: The ``purpose`` element of the outer design's seed address ``(seed; 0, OUTER_PURPOSE)``.
OUTER_PURPOSE = int(Purpose.OUTER)

#: The keys whose distributions are drawn at every use: their own tables are not outer
#: parameters, only tables nested inside them are.
USE_KEYS = tuple(k for k, spec in KEYS.items() if spec.kind == "use")

#: Percentiles of each estimate over the outer draws (summary columns p05, p50, p95).
PERCENTILES = (5, 50, 95)

#: Uniforms are kept in [_EPS, 1 - _EPS] so that ppf never returns an infinite end or, for
#: a discrete distribution, the value below its support (ppf(0) = low - 1).
_EPS = 2.0**-53


class OuterError(ValueError):
    """``--outer`` cannot run on this configuration (e.g. no distribution parameter)."""


@dataclass(frozen=True)
class OuterParam:
    """One outer parameter: the override path it sets and the distribution it is drawn from."""

    key: str
    spec: DistSpec

    @property
    def integer(self) -> bool:
        """Drawn values are written as integers (counts, integer-valued discrete tables)."""
        return self.spec.integer_valued

    @property
    def dims(self) -> int:
        """Hypercube columns it consumes: one per table in its (nested) specification."""
        return _dims(self.spec)


def _dims(spec: DistSpec) -> int:
    return 1 + sum(_dims(v) for v in spec.params.values() if isinstance(v, DistSpec))


def _params_of(key: str, value: object) -> list[OuterParam]:
    if not isinstance(value, DistSpec):
        return []
    spec = KEYS.get(key)
    if spec is not None and spec.kind == "use":
        return [OuterParam(f"{key}.{p}", v) for p, v in value.params.items() if isinstance(v, DistSpec)]
    return [OuterParam(key, value)]


def outer_parameters(config: Config) -> list[OuterParam]:
    """The configuration's outer parameters, in schema order (mitigations last)."""
    out: list[OuterParam] = []
    for key, value in config.values.items():
        out += _params_of(key, value)
    for name, params in config.mitigations.items():
        for p, value in params.items():
            out += _params_of(f"mitigations.{name}.{p}", value)
    return out


def outer_uniforms(n: int, d: int, seed: int) -> np.ndarray:
    """An (n, d) Latin hypercube in [0, 1), reproducible for the seed (its own address)."""
    ss = np.random.SeedSequence(seed, spawn_key=(0, OUTER_PURPOSE))
    sampler = qmc.LatinHypercube(d=d, rng=np.random.Generator(np.random.PCG64(ss)))
    return np.asarray(sampler.random(n), dtype=float)


def _ppf(spec: DistSpec, u: np.ndarray) -> np.ndarray:
    """Values of ``spec`` at uniforms ``u`` (shape (n, dims)): nested parameters first, each
    from its own columns, then the value from the last column, given them."""
    col = 0
    params: dict[str, Any] = {}
    for name, value in spec.params.items():
        if isinstance(value, DistSpec):
            d = _dims(value)
            params[name] = _ppf(value, u[:, col : col + d])
            col += d
        else:
            params[name] = float(value)
    with np.errstate(all="ignore"):
        x = np.asarray(spec.generator.ppf(np.clip(u[:, col], _EPS, 1.0 - _EPS), **params), dtype=float)
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        drawn = ", ".join(f"{k}={float(np.broadcast_to(v, x.shape)[i]):g}" for k, v in params.items())
        raise ConfigError(
            spec.key, f"{spec.describe()}: no finite value at the drawn parameters ({drawn}); narrow them"
        )
    return np.broadcast_to(x, (u.shape[0],)).copy()


def _inside_range(key: str, x: float) -> float:
    """``x`` nudged into the key's valid range where rounding put it on an open end (a
    continuous table may touch one, e.g. beta for a probability in [0, 1))."""
    spec = KEYS.get(key)
    rng = spec.range if spec is not None else None
    if rng is None:
        return x
    if x >= rng.hi:
        x = float(np.nextafter(rng.hi, -math.inf)) if rng.hi_open else rng.hi
    if x <= rng.lo:
        x = float(np.nextafter(rng.lo, math.inf)) if rng.lo_open else rng.lo
    return x


def outer_points(config: Config, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` outer draws: one point (override path -> value) per draw.

    Raises :class:`OuterError` when the configuration has no outer parameter, ConfigError
    (naming the key) when a nested table draws parameters its distribution rejects.
    """
    if n < 1:
        raise OuterError(f"the number of outer draws must be >= 1, got {n}")
    params = outer_parameters(config)
    if not params:
        raise OuterError(
            f"{config.name} has no parameter given as a distribution table to draw (other than "
            f"the drawn-at-every-use {', '.join(USE_KEYS)}, whose own nested tables would count): "
            "give one, e.g. --set 'degraded.prob={dist=\"loguniform\", a=1e-4, b=1e-2}'"
        )
    u = outer_uniforms(n, sum(p.dims for p in params), seed)
    columns: list[np.ndarray] = []
    col = 0
    for p in params:
        columns.append(_ppf(p.spec, u[:, col : col + p.dims]))
        col += p.dims
    points: list[dict[str, Any]] = []
    for i in range(n):
        point: dict[str, Any] = {}
        for p, values in zip(params, columns, strict=True):
            x = float(values[i])
            point[p.key] = round(x) if p.integer else _inside_range(p.key, x)
        points.append(point)
    return points


# -- the summary -----------------------------------------------------------------------------------


def estimate_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The estimates of result rows: the columns X that have X_lo and X_hi, in row order."""
    if not rows:
        return []
    first = rows[0]
    return [k for k in first if f"{k}_lo" in first and f"{k}_hi" in first]


def _floats(rows: Sequence[Mapping[str, Any]], column: str) -> np.ndarray:
    out = np.full(len(rows), np.nan)
    for i, row in enumerate(rows):
        v = row.get(column)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[i] = float(v)
    return out


def outer_summary(
    rows: Sequence[Mapping[str, Any]], parameters: Sequence[str] = ()
) -> list[dict[str, object]]:
    """One row per estimate over the outer draws ``rows`` (one results row per draw).

    ``p05``, ``p50``, ``p95`` (numpy's linear percentiles), ``mean`` and ``sd`` of the
    estimate over the draws where it is finite (``finite_draws`` of ``draws``), and
    ``mc_half_width_mean``: the mean over draws of half the width of the estimate's 95%
    interval, ``(hi - lo) / 2``, the Monte Carlo noise within one draw.
    """
    if not rows:
        return []
    first = rows[0]
    out: list[dict[str, object]] = []
    for name in estimate_names(rows):
        values = _floats(rows, name)
        half = (_floats(rows, f"{name}_hi") - _floats(rows, f"{name}_lo")) / 2.0
        finite = values[np.isfinite(values)]
        half = half[np.isfinite(half)]
        if finite.size:
            p = np.percentile(finite, PERCENTILES)
            mean, sd = float(finite.mean()), float(finite.std(ddof=1)) if finite.size > 1 else math.nan
        else:
            p = np.full(len(PERCENTILES), np.nan)
            mean = sd = math.nan
        row: dict[str, object] = {
            "scenario": first.get("scenario"),
            "estimate": name,
            "draws": len(rows),
            "finite_draws": int(finite.size),
        }
        for q, v in zip(PERCENTILES, p, strict=True):
            row[f"p{q:02d}"] = float(v)
        row["mean"] = mean
        row["sd"] = sd
        row["mc_half_width_mean"] = float(half.mean()) if half.size else math.nan
        row["trials"] = first.get("trials")
        row["seed"] = first.get("seed")
        row["parameters"] = ",".join(parameters)
        out.append(row)
    return out
