"""Shared model types: the parameters of one cell-window and the randomness it consumes.

These types are the seam between the configuration layer, the exact reference simulator
(`riskmc.reference`) and the compiled engine (`riskmc.engine`).  The reference reads a cell's
parameters from a :class:`CellParams` and its random inputs from a :class:`CellRandomness`:
the engine's own addressed numbers when the two are compared trial by trial
(:class:`riskmc.engine.AddressedRandomness`), or its own sampler.  Semantics: docs/model.md
section 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class ScalarDist(Protocol):
    """A distribution drawn afresh at every use (planner interval, write latency, repair)."""

    def rvs(self, rng: np.random.Generator, size: int | tuple[int, ...] | None = None) -> np.ndarray:
        """Draw ``size`` values (a numpy array; a 0-d array when size is None)."""
        ...

    def mean(self) -> float:
        """The distribution's mean."""
        ...


@dataclass(frozen=True)
class ConstantDist:
    """A plain number used where a distribution is allowed: every draw is that number."""

    value: float

    def rvs(self, rng: np.random.Generator, size: int | tuple[int, ...] | None = None) -> np.ndarray:
        return np.full(() if size is None else size, float(self.value))

    def mean(self) -> float:
        return float(self.value)


@dataclass(frozen=True)
class FrozenScipyDist:
    """A scipy.stats distribution with fixed parameters (a value drawn once per window, fixed)."""

    name: str
    params: tuple[tuple[str, float], ...]

    def _frozen(self):  # type: ignore[no-untyped-def]
        import scipy.stats

        return getattr(scipy.stats, self.name)(**dict(self.params))

    def rvs(self, rng: np.random.Generator, size: int | tuple[int, ...] | None = None) -> np.ndarray:
        return np.asarray(self._frozen().rvs(size=size, random_state=rng), dtype=float)

    def mean(self) -> float:
        return float(self._frozen().mean())


@dataclass(frozen=True)
class EmpiricalDist:
    """Resampling of observed values (the ``empirical`` distribution)."""

    samples: tuple[float, ...]

    def rvs(self, rng: np.random.Generator, size: int | tuple[int, ...] | None = None) -> np.ndarray:
        return np.asarray(rng.choice(np.asarray(self.samples, dtype=float), size=size), dtype=float)

    def mean(self) -> float:
        return float(np.mean(self.samples))


@dataclass(frozen=True)
class Mitigations:
    """The mitigations of docs/model.md section 3; ``None``/``False`` means not enabled."""

    recheck: bool = False
    conditional_write: bool = False
    cleanup_skip_active: bool = False
    cleanup_min_age_s: float | None = None
    deadline_s: float | None = None
    lease_s: float | None = None
    empty_guard_repair: ScalarDist | None = None

    def enabled(self) -> tuple[str, ...]:
        names = []
        if self.recheck:
            names.append("recheck")
        if self.conditional_write:
            names.append("conditional_write")
        if self.cleanup_skip_active:
            names.append("cleanup_skip_active")
        if self.cleanup_min_age_s is not None:
            names.append("cleanup_min_age")
        if self.deadline_s is not None:
            names.append("deadline")
        if self.lease_s is not None:
            names.append("lease")
        if self.empty_guard_repair is not None:
            names.append("empty_guard")
        return tuple(names)


@dataclass(frozen=True)
class CellParams:
    """Everything one cell-window needs, with every sampled parameter already drawn.

    Times are seconds.  ``degraded_prob`` is the effective per-run probability for this
    window (the region shock, when it hits, has already replaced ``degraded.prob``).
    """

    window_s: float
    enactors: int
    poll_s: float
    endpoints: int
    fail_prob: float
    backoff_base_s: float
    backoff_cap_s: float
    degraded_prob: float
    degraded_fail_prob: float
    keep_generations: int
    planner_interval: ScalarDist
    write_latency: ScalarDist
    weights: tuple[float, ...] | None = None  # normalised to sum 1; None means uniform
    mitigations: Mitigations = field(default_factory=Mitigations)

    def endpoint_weights(self) -> np.ndarray:
        if self.weights is None:
            return np.full(self.endpoints, 1.0 / self.endpoints)
        w = np.asarray(self.weights, dtype=float)
        return w / w.sum()


class CellRandomness(Protocol):
    """The random inputs of one cell-window, addressed so that they do not depend on the
    order in which a simulator asks for them (common random numbers).

    * ``publication_times()`` yields P_1 < P_2 < ... (generation g published at P_g).
    * ``wake_offset(k)`` is U_k, enactor k's first wake, in (0, poll).
    * ``run_draws(k, n)`` is (degraded, durations) for the n-th run (0-based, counting every
      run enactor k starts, abandoned or not): whether that run is degraded, and the
      durations D_1..D_E of its writes (retries and backoff included, drawn with the
      failure probability that the degraded flag implies).
    """

    def publication_times(self) -> Iterator[float]: ...

    def wake_offset(self, k: int) -> float: ...

    def run_draws(self, k: int, n: int) -> tuple[bool, np.ndarray]: ...


@dataclass(frozen=True)
class CellOutcome:
    """What one simulated cell-window produced (both simulators return this per trial)."""

    event: bool
    event_time_s: float  # inf when there is no event
    affected: tuple[int, ...]  # 0-based endpoint indices pointing to a deleted plan at t*
    mean_plan_age_s: float
    runs_started: int
    runs_abandoned: int
    runs_degraded: int = 0  # degraded runs among those started (importance-sampling weights)
