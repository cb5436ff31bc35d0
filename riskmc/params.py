"""Per-trial parameters: a configuration's sampled numbers drawn once per region-window.

MODEL.md section 4: every number of a configuration may be a distribution table drawn once
per region-window and shared by that window's cells; four keys are distributions drawn at
every use.  :func:`sample_block` turns a :class:`~riskmc.config.Config` into a
:class:`TrialParams`: one array entry per region-window of a block for every sampled number,
and a per-window :class:`~riskmc.distributions.ResolvedDist` for each use-distribution (its
nested parameters drawn, its values still to be drawn at every use).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from riskmc.config import Config
from riskmc.distributions import DistSpec, ResolvedDist
from riskmc.model import CellParams, Mitigations
from riskmc.streams import BLOCK_TRIALS, Purpose, key_id, stream

#: Sampled real-valued keys and the TrialParams field each fills.
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
#: Sampled integer keys.
INT_KEYS = {
    "enactors.count": "enactors",
    "endpoints.count": "endpoints",
    "cleanup.keep_generations": "keep_generations",
    "region.cells": "cells",
}
#: Distributions drawn afresh at every use.
USE_KEYS = {
    "planner.interval": "planner_interval",
    "write.latency": "write_latency",
    "repair.duration": "repair_duration",
}


@dataclass
class TrialParams:
    """Parameters of n region-windows (rows), every sampled number already drawn."""

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
    shock: np.ndarray  # bool: this region-window is a common-cause shock
    planner_interval: ResolvedDist
    write_latency: ResolvedDist
    repair_duration: ResolvedDist
    weights: tuple[float, ...] | None = None
    #: mitigation name -> parameter -> per-row values (a ResolvedDist for empty_guard.repair)
    mitigations: dict[str, dict[str, np.ndarray | ResolvedDist]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.window_h)

    @property
    def window_s(self) -> np.ndarray:
        return self.window_h * 3600.0

    @property
    def degraded_prob(self) -> np.ndarray:
        """Per-run degraded probability in effect: the shock's where the window is shocked."""
        return np.where(self.shock, self.shock_degraded_prob, self.base_degraded_prob)

    def take(self, rows: np.ndarray | slice) -> TrialParams:
        """The parameters of a subset of rows."""
        idx = np.arange(self.n)[rows]
        out: dict[str, object] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                out[f.name] = v[idx]
            elif isinstance(v, ResolvedDist):
                out[f.name] = v.take(idx)
            elif f.name == "mitigations":
                out[f.name] = {
                    m: {p: (x.take(idx) if isinstance(x, ResolvedDist) else x[idx]) for p, x in ps.items()}
                    for m, ps in v.items()
                }
            else:
                out[f.name] = v
        return TrialParams(**out)  # type: ignore[arg-type]

    def with_mitigations(self, mitigations: dict[str, dict[str, np.ndarray | ResolvedDist]]) -> TrialParams:
        return replace(self, mitigations=mitigations)

    def cell(self, i: int) -> CellParams:
        """Row i as the scalar parameters of one cell-window (for the reference simulator)."""
        m = self.mitigations

        def scalar(name: str, p: str) -> float | None:
            if name not in m:
                return None
            x = m[name][p]
            assert isinstance(x, np.ndarray)
            return float(x[i])

        guard = m.get("empty_guard", {}).get("repair")
        mit = Mitigations(
            recheck="recheck" in m,
            conditional_write="conditional_write" in m,
            cleanup_skip_active="cleanup_skip_active" in m,
            cleanup_min_age_s=scalar("cleanup_min_age", "age"),
            deadline_s=scalar("deadline", "seconds"),
            lease_s=scalar("lease", "seconds"),
            empty_guard_repair=guard.row(i) if isinstance(guard, ResolvedDist) else None,
        )
        return CellParams(
            window_s=float(self.window_s[i]),
            enactors=int(self.enactors[i]),
            poll_s=float(self.poll_s[i]),
            endpoints=int(self.endpoints[i]),
            fail_prob=float(self.fail_prob[i]),
            backoff_base_s=float(self.backoff_base_s[i]),
            backoff_cap_s=float(self.backoff_cap_s[i]),
            degraded_prob=float(self.degraded_prob[i]),
            degraded_fail_prob=float(self.degraded_fail_prob[i]),
            keep_generations=int(self.keep_generations[i]),
            planner_interval=self.planner_interval.row(i),
            write_latency=self.write_latency.row(i),
            weights=self.weights,
            mitigations=mit,
        )


def _sampled(value: float | int | DistSpec, seed: int, block: int, key: str, n: int) -> np.ndarray:
    if isinstance(value, DistSpec):
        return np.asarray(value.sample(stream(seed, block, Purpose.PARAMS, key_id(key)), n))
    return np.full(n, value)


def _resolved(value: float | int | DistSpec, seed: int, block: int, key: str, n: int) -> ResolvedDist:
    if isinstance(value, DistSpec):
        return value.resolve(stream(seed, block, Purpose.PARAMS, key_id(key)), n)
    return ResolvedDist.constant(np.full(n, float(value)))


def sample_block(config: Config, seed: int, block: int, n: int = BLOCK_TRIALS) -> TrialParams:
    """Draw the parameters of the region-windows of one block (always the whole block, so
    that a row's values do not depend on how many of the block's trials are used)."""
    values = config.values
    kw: dict[str, object] = {}
    for key, name in FLOAT_KEYS.items():
        kw[name] = _sampled(values[key], seed, block, key, n).astype(float)
    # A continuous table may touch an open end of a key's range (beta for a probability in
    # [0, 1)); floating point can round a draw onto it, so keep draws strictly inside.
    for name in ("fail_prob", "degraded_fail_prob"):
        kw[name] = np.minimum(kw[name], 1.0 - 1e-12)  # type: ignore[call-overload]
    kw["poll_s"] = np.maximum(kw["poll_s"], 1e-9)  # type: ignore[call-overload]
    kw["window_h"] = np.maximum(kw["window_h"], 1e-12)  # type: ignore[call-overload]
    for key, name in INT_KEYS.items():
        kw[name] = np.rint(_sampled(values[key], seed, block, key, n)).astype(np.int64)
    for key, name in USE_KEYS.items():
        kw[name] = _resolved(values[key], seed, block, key, n)
    shock_u = stream(seed, block, Purpose.SHOCK).random(n)
    kw["shock"] = shock_u < kw["shock_prob"]  # type: ignore[operator]
    mitigations: dict[str, dict[str, np.ndarray | ResolvedDist]] = {}
    for mname, mparams in config.mitigations.items():
        mitigations[mname] = {}
        for pname, pval in mparams.items():
            key = f"mitigations.{mname}.{pname}"
            if mname == "empty_guard" and pname == "repair":
                mitigations[mname][pname] = _resolved(pval, seed, block, key, n)
            else:
                mitigations[mname][pname] = _sampled(pval, seed, block, key, n).astype(float)
    return TrialParams(weights=config.weights, mitigations=mitigations, **kw)  # type: ignore[arg-type]


def concat(parts: list[TrialParams]) -> TrialParams:
    """Stack the rows of several TrialParams (blocks of one chunk)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    out: dict[str, object] = {}
    for f in fields(first):
        v = getattr(first, f.name)
        if isinstance(v, np.ndarray):
            out[f.name] = np.concatenate([getattr(p, f.name) for p in parts])
        elif isinstance(v, ResolvedDist):
            out[f.name] = _concat_resolved([getattr(p, f.name) for p in parts])
        elif f.name == "mitigations":
            out[f.name] = {
                m: {
                    k: (
                        _concat_resolved([p.mitigations[m][k] for p in parts])  # type: ignore[misc]
                        if isinstance(x, ResolvedDist)
                        else np.concatenate([p.mitigations[m][k] for p in parts])  # type: ignore[misc]
                    )
                    for k, x in ps.items()
                }
                for m, ps in v.items()
            }
        else:
            out[f.name] = v
    return TrialParams(**out)  # type: ignore[arg-type]


def _concat_resolved(parts: list[ResolvedDist]) -> ResolvedDist:
    first = parts[0]
    n = sum(len(p) for p in parts)
    return ResolvedDist(
        first.name, {k: np.concatenate([p.params[k] for p in parts]) for k in first.params}, n
    )
