"""Parameter sweeps: grids and space-filling designs of configuration overrides.

A *point* maps configuration keys (``degraded.prob``, ``write.latency.scale``) to values;
its configuration is the base configuration with the point's overrides
(:meth:`~riskmc.config.Config.with_overrides`), so an unknown key or an impossible value
is a :class:`~riskmc.config.ConfigError` naming the key, raised before anything runs.

* :func:`grid_points`: the cartesian product of ``KEY=V1,V2,...`` lists (values are TOML,
  as in ``--set``).
* :func:`lhs_points`: ``n`` points of a Latin hypercube or a scrambled Sobol' sequence over
  ``KEY=LO:HI[:log]`` ranges, seeded through a :class:`numpy.random.SeedSequence` (never
  numpy's global state); count keys are rounded to integers.
* :func:`run_sweep` (:func:`plan_sweep`, then :func:`run_plan`): every point with the SAME
  seed, trials and estimator plan (resolved once, on the base configuration), so that the
  same trial sees the same random inputs at every point (common random numbers):
  differences between points are differences of the parameters, not of the noise.  One
  results row per point (the row of ``riskmc run``, plus ``point``,
  the swept keys and ``config_hash``).  The points run on an executor of
  :mod:`riskmc.execute` (this process, local processes, or a Dask cluster); the rows do not
  depend on which.  :mod:`riskmc.outer` makes the points of ``--outer`` (nested uncertainty).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import qmc

from riskmc import estimators
from riskmc.budget import MAX_POINTS
from riskmc.config import KEYS, Config, parse_config, parse_value
from riskmc.estimators import Plan, naive_plan
from riskmc.estimators.split import SplitSpec, check_supported
from riskmc.execute import Executor, LocalExecutor

__all__ = [
    "METHODS",
    "Point",
    "SweepError",
    "SweepPlan",
    "grid_points",
    "lhs_points",
    "parse_grid",
    "parse_range",
    "plan_sweep",
    "point_config",
    "point_overrides",
    "run_plan",
    "run_sweep",
]

Point = dict[str, Any]

#: Space-filling designs of :func:`lhs_points`.
METHODS = ("lhs", "sobol")

#: Keys a sweep may not vary: the seed and trials are the sweep's own (common random numbers).
_FIXED_KEYS = ("name", "seed", "trials")


class SweepError(ValueError):
    """A malformed sweep specification; the message names the offending text."""


# -- TOML values -------------------------------------------------------------------------------


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def toml_value(value: Any) -> str:
    """``value`` as TOML value text (the inverse of reading ``v = <text>``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        items = (f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a TOML value")


def toml_document(data: Mapping[str, Any], prefix: str = "") -> str:
    """``data`` as a TOML document: plain keys first, then a ``[section]`` per sub-table; a
    distribution table (one with a ``dist`` key) stays an inline value."""
    plain = {k: v for k, v in data.items() if not (isinstance(v, Mapping) and "dist" not in v)}
    lines = [f"[{prefix}]"] if prefix and (plain or len(plain) == len(data)) else []
    lines += [f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in plain.items()]
    parts = ["\n".join(lines)] if lines else []
    for k, v in data.items():
        if k not in plain:
            name = f"{prefix}.{_toml_key(str(k))}" if prefix else _toml_key(str(k))
            parts.append(toml_document(v, name))
    return "\n\n".join(p.rstrip("\n") for p in parts if p) + "\n"


def _split_top_level(text: str) -> list[str]:
    """``text`` split at commas outside brackets, braces and quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    for ch in text:
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _split_key(spec: str, example: str) -> tuple[str, str]:
    key, eq, rest = spec.partition("=")
    key = key.strip()
    if not eq or not key or not rest.strip():
        raise SweepError(f"{spec!r}: expected {example}")
    if any(not part.strip() for part in key.split(".")):
        raise SweepError(f"{spec!r}: malformed key {key!r}")
    if key in _FIXED_KEYS:
        raise SweepError(f"{spec!r}: {key} cannot be swept (every point runs with the same seed and trials)")
    return key, rest.strip()


def check_unique(keys: Sequence[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise SweepError(f"key {key!r} is given twice")
        seen.add(key)


# -- grids -------------------------------------------------------------------------------------


def parse_grid(spec: str) -> tuple[str, list[Any]]:
    """``KEY=V1,V2,...`` -> (KEY, [values]); each value read as TOML, as in ``--set``."""
    key, rest = _split_key(spec, "KEY=V1,V2,... e.g. degraded.prob=0.01,0.02")
    texts = _split_top_level(rest)
    if any(not t for t in texts):
        raise SweepError(f"{spec!r}: empty value in the list")
    return key, [parse_value(t) for t in texts]


def grid_points(specs: Sequence[str]) -> list[Point]:
    """The cartesian product of ``KEY=V1,V2,...`` specs (the last key varies fastest)."""
    if not specs:
        raise SweepError("no grid given")
    axes = [parse_grid(s) for s in specs]
    check_unique([k for k, _ in axes])
    size = math.prod(len(v) for _, v in axes)
    if size > MAX_POINTS:
        shape = " x ".join(f"{len(v):,}" for _, v in axes)
        raise SweepError(f"has {size:,} points ({shape}); the limit is {MAX_POINTS:,}")
    keys = [k for k, _ in axes]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in axes))]


# -- space-filling designs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """One ``--range``: ``lo``..``hi``, log-spaced if ``log``, rounded if ``integer``."""

    key: str
    lo: float
    hi: float
    log: bool
    integer: bool

    def value(self, u: float) -> int | float:
        """The value at quantile ``u`` in [0, 1)."""
        if self.log:
            x = math.exp(math.log(self.lo) + u * (math.log(self.hi) - math.log(self.lo)))
        else:
            x = self.lo + u * (self.hi - self.lo)
        x = min(max(x, self.lo), self.hi)
        return round(x) if self.integer else float(x)


def _is_integer_key(key: str) -> bool:
    spec = KEYS.get(key)
    return spec is not None and spec.kind in ("count", "int")


def parse_range(spec: str) -> Range:
    """``KEY=LO:HI`` or ``KEY=LO:HI:log`` -> a :class:`Range`; checks LO < HI, LO > 0 for log."""
    key, rest = _split_key(spec, "KEY=LO:HI or KEY=LO:HI:log, e.g. degraded.prob=1e-4:1e-2:log")
    parts = [p.strip() for p in rest.split(":")]
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].lower() != "log"):
        raise SweepError(f"{spec!r}: expected KEY=LO:HI or KEY=LO:HI:log")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise SweepError(f"{spec!r}: LO and HI must be numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise SweepError(f"{spec!r}: LO and HI must be finite")
    if lo >= hi:
        raise SweepError(f"{spec!r}: LO must be less than HI")
    log = len(parts) == 3
    if log and lo <= 0:
        raise SweepError(f"{spec!r}: a log range needs LO > 0")
    return Range(key, lo, hi, log, _is_integer_key(key))


def lhs_points(ranges: Sequence[str], n: int, seed: int, method: str = "lhs") -> list[Point]:
    """``n`` points over the ``KEY=LO:HI[:log]`` ranges: a Latin hypercube (``lhs``) or a
    scrambled Sobol' sequence (``sobol``), reproducible for a seed."""
    if method not in METHODS:
        raise SweepError(f"unknown design {method!r} (known: {', '.join(METHODS)})")
    if not ranges:
        raise SweepError("no range given")
    if n < 1:
        raise SweepError(f"the number of points must be >= 1, got {n}")
    parsed = [parse_range(r) for r in ranges]
    check_unique([r.key for r in parsed])
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    sampler: qmc.QMCEngine
    if method == "lhs":
        sampler = qmc.LatinHypercube(d=len(parsed), rng=rng)
    else:
        sampler = qmc.Sobol(d=len(parsed), scramble=True, rng=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Sobol' balance needs n a power of 2
        u = sampler.random(n)
    return [{r.key: r.value(float(row[j])) for j, r in enumerate(parsed)} for row in u]


# -- running -----------------------------------------------------------------------------------


def point_overrides(point: Mapping[str, Any]) -> list[str]:
    """The point as ``KEY=VALUE`` overrides (VALUE as TOML text)."""
    return [f"{k}={toml_value(v)}" for k, v in point.items()]


def point_config(config: Config, point: Mapping[str, Any]) -> Config:
    """The base configuration with the point's overrides (ConfigError naming a bad key)."""
    return config.with_overrides(point_overrides(point))


def _column_value(value: Any) -> Any:
    if isinstance(value, (Mapping, list, tuple)):
        return toml_value(value)
    return value


@dataclass(frozen=True)
class _Task:
    """What a worker needs for one point: plain, picklable data."""

    index: int
    point: Point
    raw: dict[str, Any]
    source: str
    config_hash: str
    trials: int
    seed: int
    plan: Plan | SplitSpec
    index_column: str = "point"


def _run_task(task: _Task) -> dict[str, object]:
    """Run one point (top level, so that a spawned process or a Dask worker can unpickle it)."""
    config = parse_config(task.raw, task.source)
    if isinstance(task.plan, SplitSpec):
        body = task.plan.run(config, task.seed).row()
    else:
        body = estimators.run(config, task.plan, trials=task.trials, seed=task.seed).row()
    row: dict[str, object] = {task.index_column: task.index}
    for key, value in task.point.items():
        if key not in body:
            row[key] = _column_value(value)
    for key, value in body.items():
        row[key] = value
        if key == "seed":
            row["config_hash"] = task.config_hash
    return row


def _plan_key(estimator: str, q: float, defensive: float, proposal: str) -> str:
    """The plan to the last bit (a row's ``proposal`` text rounds q, but names a tilted shock)."""
    return f"{estimator}:{float(q)!r}:{float(defensive)!r}:{proposal}"


def _task_key(h: str, seed: int, trials: int, plan: Plan | SplitSpec) -> tuple[str, int, int, str]:
    """What a point's row depends on: its configuration, seed, size (trials, or split's
    replicates) and estimator."""
    if isinstance(plan, SplitSpec):
        return h, seed, plan.replicates, _plan_key("split", math.nan, math.nan, plan.short)
    return h, seed, trials, _plan_key(plan.estimator, plan.q, plan.defensive, plan.short)


def _done_key(row: Mapping[str, Any]) -> tuple[str, int, int, str] | None:
    try:
        if row["estimator"] == "split":
            plan = _plan_key("split", math.nan, math.nan, str(row["proposal"]))
            return str(row["config_hash"]), int(row["seed"]), int(row["replicates"]), plan
        plan = _plan_key(
            str(row["estimator"]),
            float(row["proposal_q"]),
            float(row["defensive_share"]),
            str(row["proposal"]),
        )
        return str(row["config_hash"]), int(row["seed"]), int(row["trials"]), plan
    except (KeyError, TypeError, ValueError):
        return None


@dataclass
class SweepPlan:
    """What a sweep will do: the rows reused from an earlier run (point index -> row) and
    the points still to run.  ``len(plan.tasks)`` is the work left (the progress total)."""

    n_points: int
    reused: dict[int, dict[str, object]]
    tasks: list[_Task]
    index_column: str = "point"


def plan_sweep(
    config: Config,
    points: Sequence[Mapping[str, Any]],
    trials: int,
    seed: int,
    *,
    plan: Plan | SplitSpec | None = None,
    existing: Sequence[Mapping[str, Any]] = (),
    index_column: str = "point",
) -> SweepPlan:
    """Build (and validate) every point's configuration before anything runs, and split the
    points into those an ``existing`` row (same ``config_hash``, ``seed``, ``trials`` (or
    split's replicates) and ``proposal``) already answers and those to run; every point runs
    under ``plan`` (default naive; a SplitSpec: ``split``, which must take every point)."""
    plan = naive_plan() if plan is None else plan
    configs = [point_config(config, p) for p in points]
    if isinstance(plan, SplitSpec):
        for cfg in configs:
            check_supported(cfg)
    reuse: dict[tuple[str, int, int, str], Mapping[str, Any]] = {}
    for row in existing:
        key = _done_key(row)
        if key is not None:
            reuse.setdefault(key, row)
    reused: dict[int, dict[str, object]] = {}
    tasks: list[_Task] = []
    for i, (point, cfg) in enumerate(zip(points, configs, strict=True)):
        h = cfg.hash()
        old = reuse.get(_task_key(h, seed, trials, plan))
        if old is not None:
            reused[i] = {**dict(old), index_column: i}
            continue
        tasks.append(_Task(i, dict(point), cfg.raw, cfg.source, h, trials, seed, plan, index_column))
    return SweepPlan(len(points), reused, tasks, index_column)


def run_plan(
    plan: SweepPlan,
    executor: Executor | None = None,
    progress: Callable[[int], None] | None = None,
    on_row: Callable[[dict[str, object]], None] | None = None,
) -> list[dict[str, object]]:
    """Run the plan's points on ``executor`` (default: this process); every row, reused and
    new, in point order.  ``on_row(row)`` and ``progress(1)`` are called as each point that
    runs finishes (completion order); reused points do not tick the progress, so its total
    and rate (the ETA) count only the work that actually runs."""
    rows: dict[int, dict[str, object]] = dict(plan.reused)
    tasks = plan.tasks
    for j, row in (executor or LocalExecutor(1)).map(_run_task, tasks):
        rows[tasks[j].index] = row
        if on_row is not None:
            on_row(row)
        if progress is not None:
            progress(1)
    return [rows[i] for i in sorted(rows)]


def run_sweep(
    config: Config,
    points: Sequence[Mapping[str, Any]],
    trials: int,
    seed: int,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    on_row: Callable[[dict[str, object]], None] | None = None,
    *,
    plan: Plan | SplitSpec | None = None,
    existing: Sequence[Mapping[str, Any]] = (),
    on_reused: Callable[[dict[str, object]], None] | None = None,
    executor: Executor | None = None,
    index_column: str = "point",
) -> list[dict[str, object]]:
    """Run every point with the same ``trials`` and ``seed``; the rows, in point order.

    :func:`plan_sweep` then :func:`run_plan`: every point's configuration is built (and
    validated) before the first one runs; ``existing`` rows whose ``config_hash``, ``seed``,
    ``trials`` and ``proposal`` match a point are reused for it (``--resume``), ``on_reused(row)`` being
    called for each before anything runs.  The points run on ``executor`` if given, else on
    ``workers`` local processes (:class:`~riskmc.execute.LocalExecutor`); the results do not
    depend on which.  ``progress(1)`` ticks once per point that runs (not for reused ones).
    """
    sweep_plan = plan_sweep(
        config,
        points,
        trials,
        seed,
        plan=plan,
        existing=existing,
        index_column=index_column,
    )
    if on_reused is not None:
        for i in sorted(sweep_plan.reused):
            on_reused(sweep_plan.reused[i])
    return run_plan(sweep_plan, executor or LocalExecutor(workers), progress, on_row)
