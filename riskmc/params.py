"""Per region-window parameters: a configuration's sampled numbers, drawn for given trials.

docs/model.md section 5: every number of a configuration may be a distribution
table drawn once per region-window and shared by its cells.  A draw is the table's quantile
function at an addressed uniform, (seed; trial, PARAMS, key id): the value a key takes in
trial i depends on the seed, i and the key only, so any set of trials, in any chunk, thread
or process, sees the same values, and a sweep over a distribution's parameter moves every
window's value monotonically (smooth common random numbers).  A table's nested parameters
are drawn the same way at their own dotted paths (``planner.interval.scale``).

:func:`sample_windows` returns a :class:`WindowParams` (one entry per window for every
sampled number, a :class:`UseDist` for each distribution the engine draws at every use), and
:meth:`WindowParams.kernel_inputs` lays it out as the engine's input columns.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.stats

from riskmc.cascade import CascadeParams
from riskmc.config import Config
from riskmc.distributions import EMPIRICAL, USE_DISTRIBUTIONS, ConfigError, DistSpec
from riskmc.engine import Batch, seed_key
from riskmc.engine import kernel as K
from riskmc.model import CellParams, ConstantDist, EmpiricalDist, FrozenScipyDist, Mitigations, ScalarDist

__all__ = ["KIND_CODES", "UseDist", "WindowParams", "key_id", "sample_cascade", "sample_windows"]

#: Sampled real-valued keys and the WindowParams field each fills.
FLOAT_KEYS = {
    "window.hours": "window_h",
    "enactors.poll_interval": "poll_s",
    "write.fail_prob": "fail_prob",
    "write.backoff_base": "backoff_base_s",
    "write.backoff_cap": "backoff_cap_s",
    "degraded.prob": "base_degraded_prob",
    "degraded.fail_prob": "degraded_fail_prob",
    "region.shock.prob": "shock_prob",
    "region.shock.degraded_prob": "shock_degraded_prob",
}
#: Sampled integer keys, and the largest value the engine's address layout allows (the
#: configuration's ranges already hold them there; G beyond every generation a window can
#: publish behaves as that many, so it is clamped rather than refused).
INT_KEYS = {
    "enactors.count": ("enactors", K.MAX_ENACTORS - 1),
    "endpoints.count": ("endpoints", K.MAX_ENDPOINTS - 1),
    "cleanup.keep_generations": ("keep_generations", None),
    "region.cells": ("cells", K.MAX_CELLS - 1),
}
#: The engine's code of each distribution drawn at every use.
KIND_CODES = {
    "constant": K.D_CONSTANT,
    "expon": K.D_EXPON,
    "lognorm": K.D_LOGNORM,
    "gamma": K.D_GAMMA,
    "weibull_min": K.D_WEIBULL_MIN,
    "lomax": K.D_LOMAX,
    "pareto": K.D_PARETO,
    "uniform": K.D_UNIFORM,
    "loguniform": K.D_LOGUNIFORM,
    EMPIRICAL: K.D_EMPIRICAL,
}
_DEFAULTS = {"loc": 0.0, "scale": 1.0}


def key_id(path: str) -> int:
    """A stable 32-bit id of a configuration path (its address word), independent of which
    other keys exist."""
    return zlib.crc32(path.encode("utf-8"))


@dataclass(frozen=True)
class UseDist:
    """A distribution the engine draws at every use: its name, its parameters per window in
    the engine's order (``params``, shape (n, 4)), and for ``empirical`` the values."""

    name: str
    params: np.ndarray
    samples: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def code(self) -> int:
        return KIND_CODES[self.name]

    def take(self, rows: np.ndarray) -> UseDist:
        return replace(self, params=self.params[rows])

    def _scipy_params(self) -> dict[str, np.ndarray]:
        return {p: self.params[:, i] for i, p in enumerate(USE_DISTRIBUTIONS[self.name])}

    def mean(self) -> np.ndarray:
        """The mean of each window's distribution (inf where it has none)."""
        if self.name == "constant":
            return self.params[:, 0].copy()
        if self.name == EMPIRICAL:
            return np.full(self.params.shape[0], float(self.samples.mean()))
        with np.errstate(all="ignore"):
            m = getattr(scipy.stats, self.name).mean(**self._scipy_params())
        return np.where(np.isnan(m), np.inf, np.asarray(m, dtype=float))

    def median(self) -> np.ndarray:
        """The median of each window's distribution."""
        if self.name == "constant":
            return self.params[:, 0].copy()
        if self.name == EMPIRICAL:
            return np.full(self.params.shape[0], float(np.median(self.samples)))
        return np.asarray(getattr(scipy.stats, self.name).median(**self._scipy_params()), dtype=float)

    def row(self, i: int) -> ScalarDist:
        """Window i's distribution for the reference simulator's own sampler."""
        if self.name == "constant":
            return ConstantDist(float(self.params[i, 0]))
        if self.name == EMPIRICAL:
            return EmpiricalDist(tuple(float(x) for x in self.samples))
        names = USE_DISTRIBUTIONS[self.name]
        return FrozenScipyDist(self.name, tuple((p, float(self.params[i, j])) for j, p in enumerate(names)))


@dataclass
class WindowParams:
    """The parameters of n region-windows (``trials``), every sampled number drawn."""

    trials: np.ndarray  # int64: the trial index of each window (its address)
    window_h: np.ndarray
    poll_s: np.ndarray
    fail_prob: np.ndarray
    backoff_base_s: np.ndarray
    backoff_cap_s: np.ndarray
    base_degraded_prob: np.ndarray
    degraded_fail_prob: np.ndarray
    shock_prob: np.ndarray
    shock_degraded_prob: np.ndarray
    enactors: np.ndarray
    endpoints: np.ndarray
    keep_generations: np.ndarray
    cells: np.ndarray
    shock: np.ndarray  # bool: the region-window is a common-cause shock
    planner: UseDist
    latency: UseDist
    repair: UseDist  # the outage duration in use: empty_guard's when that mitigation is on
    weights: tuple[float, ...] | None = None
    #: enabled mitigations -> their numeric parameters per window (empty_guard: see repair)
    mitigations: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    #: the window's addressed uniform behind ``shock`` (shock = shock_u < shock_prob)
    shock_u: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.trials.size)

    @property
    def window_s(self) -> np.ndarray:
        return self.window_h * 3600.0

    @property
    def degraded_prob(self) -> np.ndarray:
        """Per-run degraded probability of the model: the shock's in a shocked window."""
        return np.where(self.shock, self.shock_degraded_prob, self.base_degraded_prob)

    def with_shock_prob(self, prob: np.ndarray) -> WindowParams:
        """These windows with the shock drawn at probability ``prob`` instead (a proposal's):
        from the same uniform, so the shock is a monotone function of its probability."""
        if self.shock_u is None:
            raise ValueError("these window parameters carry no shock uniform")
        return replace(self, shock=self.shock_u < np.asarray(prob, dtype=float))

    def _mitigation(self, name: str, param: str) -> np.ndarray:
        """A mitigation's parameter per window, -1 where the mitigation is off."""
        values = self.mitigations.get(name, {}).get(param)
        return np.full(self.n, -1.0) if values is None else np.asarray(values, dtype=float)

    def kernel_inputs(self, degraded_prob: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The engine's float and integer columns (``riskmc.engine.kernel`` F_*, I_*);
        ``degraded_prob``: the per-run degraded probability to simulate with (a proposal's),
        default the model's."""
        n = self.n
        fp = np.zeros((n, K.NF))
        fp[:, K.F_T] = self.window_s
        fp[:, K.F_POLL] = self.poll_s
        fp[:, K.F_R0] = self.fail_prob
        fp[:, K.F_R1] = self.degraded_fail_prob
        fp[:, K.F_BASE] = self.backoff_base_s
        fp[:, K.F_CAP] = self.backoff_cap_s
        fp[:, K.F_PDEG] = self.degraded_prob if degraded_prob is None else degraded_prob
        fp[:, K.F_MIN_AGE] = self._mitigation("cleanup_min_age", "age")
        fp[:, K.F_DEADLINE] = self._mitigation("deadline", "seconds")
        fp[:, K.F_LEASE] = self._mitigation("lease", "seconds")
        fp[:, K.F_PLANNER : K.F_PLANNER + 4] = self.planner.params
        fp[:, K.F_LATENCY : K.F_LATENCY + 4] = self.latency.params
        fp[:, K.F_REPAIR : K.F_REPAIR + 4] = self.repair.params
        ip = np.zeros((n, K.NI), np.int64)
        ip[:, K.I_TRIAL] = self.trials
        ip[:, K.I_K] = self.enactors
        ip[:, K.I_E] = self.endpoints
        ip[:, K.I_G] = self.keep_generations
        ip[:, K.I_C] = self.cells
        ip[:, K.I_PLANNER] = self.planner.code
        ip[:, K.I_LATENCY] = self.latency.code
        ip[:, K.I_REPAIR] = self.repair.code
        flags = 0
        flags |= K.FLAG_RECHECK if "recheck" in self.mitigations else 0
        flags |= K.FLAG_CONDITIONAL if "conditional_write" in self.mitigations else 0
        flags |= K.FLAG_SKIP_ACTIVE if "cleanup_skip_active" in self.mitigations else 0
        ip[:, K.I_FLAGS] = flags
        return fp, ip

    def batch(self, seed: int, degraded_prob: np.ndarray | None = None) -> Batch:
        """The engine's inputs for these windows (``degraded_prob``: as in :meth:`kernel_inputs`)."""
        fp, ip = self.kernel_inputs(degraded_prob)
        weights = np.empty(0) if self.weights is None else np.asarray(self.weights, dtype=float)
        return Batch(seed, fp, ip, weights, self.planner.samples, self.latency.samples, self.repair.samples)

    def cell_params(self, i: int, degraded_prob: float | None = None) -> CellParams:
        """Window i as the scalar parameters of one cell-window (the reference simulator)."""

        def value(name: str, p: str) -> float | None:
            x = self.mitigations.get(name, {}).get(p)
            return None if x is None else float(x[i])

        mit = Mitigations(
            recheck="recheck" in self.mitigations,
            conditional_write="conditional_write" in self.mitigations,
            cleanup_skip_active="cleanup_skip_active" in self.mitigations,
            cleanup_min_age_s=value("cleanup_min_age", "age"),
            deadline_s=value("deadline", "seconds"),
            lease_s=value("lease", "seconds"),
            empty_guard_repair=self.repair.row(i) if "empty_guard" in self.mitigations else None,
        )
        return CellParams(
            window_s=float(self.window_s[i]),
            enactors=int(self.enactors[i]),
            poll_s=float(self.poll_s[i]),
            endpoints=int(self.endpoints[i]),
            fail_prob=float(self.fail_prob[i]),
            backoff_base_s=float(self.backoff_base_s[i]),
            backoff_cap_s=float(self.backoff_cap_s[i]),
            degraded_prob=float(self.degraded_prob[i] if degraded_prob is None else degraded_prob),
            degraded_fail_prob=float(self.degraded_fail_prob[i]),
            keep_generations=int(self.keep_generations[i]),
            planner_interval=self.planner.row(i),
            write_latency=self.latency.row(i),
            weights=self.weights,
            mitigations=mit,
        )


class _Drawer:
    """Draws a configuration's values for a set of trials at their addresses."""

    def __init__(self, seed: int, trials: np.ndarray) -> None:
        self.k0, self.k1 = seed_key(seed)
        self.trials = trials
        self.ids: dict[int, str] = {}

    def uniforms(self, path: str) -> np.ndarray:
        kid = key_id(path)
        other = self.ids.setdefault(kid, path)
        if other != path:  # pragma: no cover - a crc32 collision between two key paths
            raise ConfigError(path, f"shares its address id with {other}; rename one")
        return K.uniforms(self.k0, self.k1, self.trials, K.P_PARAMS, 0, kid, 0)

    def spec(self, spec: DistSpec, path: str) -> np.ndarray:
        """A table's value per trial: its nested parameters first, then its quantile."""
        nested = {k: self.spec(v, f"{path}.{k}") for k, v in spec.params.items() if isinstance(v, DistSpec)}
        x = spec.ppf(self.uniforms(path), nested)
        bad = ~np.isfinite(x)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            drawn = ", ".join(f"{k}={v[i]:g}" for k, v in nested.items())
            raise ConfigError(
                path,
                f"{spec.describe()} has no finite value at drawn parameters ({drawn}); narrow the nested "
                "distributions",
            )
        return x

    def value(self, value: float | int | DistSpec, path: str) -> np.ndarray:
        if isinstance(value, DistSpec):
            return self.spec(value, path)
        return np.full(self.trials.size, float(value))

    def use(self, value: float | int | DistSpec, path: str) -> UseDist:
        """A distribution drawn at every use, its parameters per trial."""
        n = self.trials.size
        params = np.zeros((n, 4))
        if not isinstance(value, DistSpec):
            params[:, 0] = float(value)
            return UseDist("constant", params)
        if value.samples is not None:
            return UseDist(EMPIRICAL, params, np.asarray(value.samples, dtype=float))
        names = USE_DISTRIBUTIONS[value.name]
        for j, p in enumerate(names):
            params[:, j] = self.value(value.params.get(p, _DEFAULTS.get(p, 0.0)), f"{path}.{p}")
        if value.nested:  # rows whose drawn parameters the distribution rejects
            with np.errstate(all="ignore"):
                lo, _ = getattr(scipy.stats, value.name).support(
                    **{p: params[:, j] for j, p in enumerate(names)}
                )
            bad = np.isnan(np.asarray(lo, dtype=float) * np.ones(n))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                drawn = ", ".join(f"{p}={params[i, j]:g}" for j, p in enumerate(names))
                raise ConfigError(path, f"{value.describe()} drew parameters it rejects ({drawn})")
        return UseDist(value.name, params)


def sample_windows(
    config: Config, seed: int, trials: np.ndarray | Sequence[int] | range | int
) -> WindowParams:
    """The parameters of the region-windows ``trials`` (indices; an int n means 0..n-1)."""
    if isinstance(trials, int):
        trials = np.arange(trials, dtype=np.int64)
    trials = np.asarray(trials, dtype=np.int64)
    if trials.size and (trials.min() < 0 or trials.max() >= K.MAX_TRIALS):
        # a larger index would share its random numbers with another trial's (the layout)
        raise ValueError(f"trial indices must lie in [0, 2^32), got up to {int(trials.max()):,}")
    draw = _Drawer(seed, trials)
    values = config.values
    kw: dict[str, Any] = {}
    for key, name in FLOAT_KEYS.items():
        kw[name] = draw.value(values[key], key)
    # A continuous table may touch an open end of a key's range (beta for a probability in
    # [0, 1)); floating point can round a draw onto it, so keep draws strictly inside.
    for name in ("fail_prob", "degraded_fail_prob"):
        kw[name] = np.minimum(kw[name], 1.0 - 1e-12)
    kw["poll_s"] = np.maximum(kw["poll_s"], 1e-9)
    kw["window_h"] = np.maximum(kw["window_h"], 1e-12)
    for key, (name, top) in INT_KEYS.items():
        x = np.rint(draw.value(values[key], key))
        if top is None:
            x = np.minimum(x, K.MAX_GENERATIONS)
        elif np.any(x > top):
            raise ConfigError(key, f"takes the value {int(x.max()):,}, above the engine's limit of {top:,}")
        kw[name] = x.astype(np.int64)
    kw["planner"] = draw.use(values["planner.interval"], "planner.interval")
    kw["latency"] = draw.use(values["write.latency"], "write.latency")
    shock_u = K.uniforms(draw.k0, draw.k1, trials, K.P_WINDOW, 0, K.WINDOW_SHOCK, 0)
    kw["shock"] = shock_u < kw["shock_prob"]
    kw["shock_u"] = shock_u
    mitigations: dict[str, dict[str, np.ndarray]] = {}
    repair: UseDist | None = None
    for mname, mparams in config.mitigations.items():
        mitigations[mname] = {}
        for pname, pval in mparams.items():
            path = f"mitigations.{mname}.{pname}"
            if mname == "empty_guard" and pname == "repair":
                repair = draw.use(pval, path)
            else:
                mitigations[mname][pname] = draw.value(pval, path)
    kw["repair"] = repair if repair is not None else draw.use(values["repair.duration"], "repair.duration")
    return WindowParams(trials=trials, weights=config.weights, mitigations=mitigations, **kw)


def sample_cascade(config: Config, seed: int, trials: np.ndarray | Sequence[int]) -> CascadeParams:
    """The cascade's parameters of the region-windows ``trials`` (docs/model.md section 5b):
    every ``cascade.*`` key at its own address (so scenarios share them), then the enabled
    cascade mitigations: ``queue_throttle``, ``nlb_velocity_control.cap`` as the velocity
    cap, ``rehearsed_recovery.delay`` as the intervention delay."""
    trials = np.asarray(trials, dtype=np.int64)
    draw = _Drawer(seed, trials)
    kw: dict[str, Any] = {}
    for key, value in config.values.items():
        if key.startswith("cascade."):
            kw[key.removeprefix("cascade.")] = draw.value(value, key)
    mitigations = config.mitigations
    kw["queue_throttle"] = "queue_throttle" in mitigations
    if "nlb_velocity_control" in mitigations:
        cap = mitigations["nlb_velocity_control"]["cap"]
        kw["velocity_cap"] = draw.value(cap, "mitigations.nlb_velocity_control.cap")
    if "rehearsed_recovery" in mitigations:
        delay = mitigations["rehearsed_recovery"]["delay"]
        kw["intervention_delay_min"] = draw.value(delay, "mitigations.rehearsed_recovery.delay")
    return CascadeParams(**kw)


def concat(parts: list[WindowParams]) -> WindowParams:
    """The windows of several WindowParams, in order."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    out: dict[str, Any] = {}
    for name, v in first.__dict__.items():
        if isinstance(v, np.ndarray):
            out[name] = np.concatenate([getattr(p, name) for p in parts])
        elif isinstance(v, UseDist):
            out[name] = replace(v, params=np.concatenate([getattr(p, name).params for p in parts]))
        elif name == "mitigations":
            out[name] = {
                m: {k: np.concatenate([p.mitigations[m][k] for p in parts]) for k in ps}
                for m, ps in v.items()
            }
        else:
            out[name] = v
    return WindowParams(**out)
