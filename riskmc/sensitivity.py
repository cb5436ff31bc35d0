"""Global (variance-based) sensitivity analysis: Sobol' indices with bootstrap intervals.

:func:`sobol_indices` estimates, for each output of a vectorized function on a box of
inputs, the first-order index S_i = V[E(Y | x_i)] / V[Y] (the share of the output variance
that input i explains alone) and the total index ST_i = E[V(Y | x_~i)] / V[Y] (its share
including every interaction), each with a bootstrap 95% confidence interval.  Inputs are
independent and uniform on [lo, hi], or log-uniform (uniform in log10) for ``log`` ranges.

Method: :func:`scipy.stats.sobol_indices` (scrambled Sobol' matrices A and B and the d
"radial" matrices AB_i, so ``n * (d + 2)`` evaluations; first-order estimator of Saltelli et
al. 2010, total estimator of Jansen 1999), then a BCa bootstrap over the n rows of (A, B,
AB) by :func:`scipy.stats.bootstrap`.  Both the design and the bootstrap are seeded from a
:class:`numpy.random.SeedSequence` of ``seed``, never from global state (scipy's own
``SobolResult.bootstrap`` is not seedable, so it is not used).

:func:`riskmc_model` turns a riskmc scenario into such a function: a point is a set of
``KEY=VALUE`` overrides, evaluated by a full :func:`riskmc.estimators.run` with the same
seed, trials and estimator plan at every point (common random numbers, so that differences
between points are due to the inputs rather than to Monte Carlo noise).

An index is *undefined* -- NaN, with the reason in ``SobolResult.reasons`` and the method
column -- when its output has no variance over the design (there is nothing to apportion),
or is undefined at some point (log10 p where an importance-sampled point saw no event).
:func:`sensitivity_rows` lays a result out as one tidy row per (output, input).
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from riskmc import estimators
from riskmc.config import KEYS, Config
from riskmc.estimators import Plan, naive_plan
from riskmc.estimators.split import SplitSpec, check_supported
from riskmc.execute import Executor

__all__ = [
    "DEFAULT_OUTPUTS",
    "METHOD",
    "SPLIT_OUTPUTS",
    "SobolResult",
    "log10_p",
    "riskmc_model",
    "sensitivity_rows",
    "sobol_indices",
]

#: How the indices and their intervals are computed (the ``method`` column).
METHOD = (
    "saltelli-2010 (first order) / jansen (total order) via scipy.stats.sobol_indices, "
    "BCa bootstrap CI over the n base rows"
)

#: Outputs of :func:`riskmc_model` unless told otherwise.
DEFAULT_OUTPUTS = ("log10_p_cell_window", "impact_per_year_min")
#: The outputs under ``split`` (it estimates p_cell_window alone) ...
SPLIT_OUTPUTS = ("log10_p_cell_window",)
#: ... and the columns they may be.
_SPLIT_COLUMNS = ("log10_p_cell_window", "p_cell_window", "p_cell_window_lo", "p_cell_window_hi")

#: A range: (lo, hi, log).  ``log`` True draws log10(x) uniformly on [log10 lo, log10 hi].
Range = tuple[float, float, bool]


@dataclass(frozen=True)
class SobolResult:
    """Sobol' indices of every output (rows) with respect to every input (columns).

    Each array has shape (n_outputs, n_inputs).  ``*_lo`` / ``*_hi`` bound the
    ``confidence_level`` bootstrap interval.  ``n_evaluations`` = n * (d + 2).
    """

    inputs: tuple[str, ...]
    first_order: np.ndarray
    first_order_lo: np.ndarray
    first_order_hi: np.ndarray
    total_order: np.ndarray
    total_order_lo: np.ndarray
    total_order_hi: np.ndarray
    n: int
    n_evaluations: int
    seed: int
    confidence_level: float
    n_resamples: int
    method: str = METHOD
    #: per output: why its indices are undefined (NaN), "" when they are defined
    reasons: tuple[str, ...] = ()

    @property
    def n_outputs(self) -> int:
        return int(self.first_order.shape[0])

    def per_input(self, output: int = 0) -> dict[str, dict[str, float | str]]:
        """Input name -> {first_order, first_order_lo/hi, total_order, total_order_lo/hi,
        method} for output number ``output``."""
        out: dict[str, dict[str, float | str]] = {}
        for j, name in enumerate(self.inputs):
            out[name] = {
                "first_order": float(self.first_order[output, j]),
                "first_order_lo": float(self.first_order_lo[output, j]),
                "first_order_hi": float(self.first_order_hi[output, j]),
                "total_order": float(self.total_order[output, j]),
                "total_order_lo": float(self.total_order_lo[output, j]),
                "total_order_hi": float(self.total_order_hi[output, j]),
                "method": self.reason(output) or self.method,
            }
        return out

    def reason(self, output: int = 0) -> str:
        """Why output ``output``'s indices are undefined ("" when they are defined)."""
        return self.reasons[output] if output < len(self.reasons) else ""


def _dist(name: str, spec: Range) -> Any:
    lo, hi, log = float(spec[0]), float(spec[1]), bool(spec[2])
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"range of {name!r} must be finite with hi > lo, got [{lo}, {hi}]")
    if log:
        if lo <= 0:
            raise ValueError(f"log range of {name!r} needs lo > 0, got {lo}")
        return scipy.stats.loguniform(lo, hi)
    return scipy.stats.uniform(loc=lo, scale=hi - lo)


def _rng_kw(fn: Callable[..., Any], rng: np.random.Generator) -> dict[str, Any]:
    """``rng=`` on scipy >= 1.15, ``random_state=`` before."""
    params = inspect.signature(fn).parameters
    return {"rng": rng} if "rng" in params else {"random_state": rng}


def _saltelli_jansen(f_A: np.ndarray, f_B: np.ndarray, f_AB: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First order (Saltelli et al. 2010, Table 2 b) and total order (Jansen 1999, Table 2 f):
    the estimators of scipy's ``method="saltelli_2010"``.  f_A, f_B: (s, n); f_AB: (d, s, n);
    returns two (s, d) arrays."""
    var = np.var(np.stack([f_A, f_B]), axis=(0, -1))
    s = np.mean(f_B * (f_AB - f_A), axis=-1) / var
    st = 0.5 * np.mean((f_A - f_AB) ** 2, axis=-1) / var
    return s.T, st.T


def sobol_indices(
    func: Callable[[np.ndarray], np.ndarray],
    ranges: Mapping[str, Range],
    n: int,
    seed: int,
    n_resamples: int = 999,
    confidence_level: float = 0.95,
) -> SobolResult:
    """First-order and total Sobol' indices of ``func`` on the box ``ranges``.

    ``func(X)`` takes X of shape (n_points, d), columns in the order of ``ranges``, and
    returns shape (n_points,) (one output) or (n_points, n_outputs); values must be finite.
    ``ranges`` maps input name -> (lo, hi, log): uniform on [lo, hi], or log-uniform if
    ``log``.  ``n`` is a power of 2; func is evaluated at n * (d + 2) points (in three calls:
    A, B, then the d stacked AB matrices).  The intervals are BCa bootstrap intervals over
    the n base rows (percentile where BCa is undefined, and the point estimate itself where
    the bootstrap distribution is degenerate, e.g. a constant output, whose indices are 0 as in
    scipy).  Deterministic for a given ``seed``.
    """
    names = tuple(ranges)
    if not names:
        raise ValueError("ranges must name at least one input")
    if n < 2 or n & (n - 1):
        raise ValueError(f"n must be a power of 2 (>= 2), got {n}")
    dists = [_dist(k, ranges[k]) for k in names]
    d = len(names)
    design_ss, boot_ss = np.random.SeedSequence(seed).spawn(2)

    def scipy_func(x: np.ndarray) -> np.ndarray:
        y = np.asarray(func(np.ascontiguousarray(np.asarray(x, dtype=float).T)), dtype=float)
        if y.ndim not in (1, 2) or y.shape[0] != x.shape[1]:
            raise ValueError(f"func must return shape (n_points,) or (n_points, n_outputs), got {y.shape}")
        y = y.T if y.ndim == 2 else y[np.newaxis, :]
        bad = ~np.isfinite(y)
        undefined.append(bad.sum(axis=1))
        return np.where(bad, 0.0, y)  # (those outputs' indices are reported undefined)

    undefined: list[np.ndarray] = []

    captured: dict[str, np.ndarray] = {}

    def method(f_A: np.ndarray, f_B: np.ndarray, f_AB: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        captured.update(f_A=f_A, f_B=f_B, f_AB=f_AB)
        # the indices are computed below from the captured evaluations; scipy's own are not
        # used, and with one input and one output its np.squeeze of (s, d) = (1, 1) results
        # makes scalars it then cannot assign into: give it (s, d + 1) arrays
        s, st = _saltelli_jansen(f_A, f_B, f_AB)
        return np.pad(s, ((0, 0), (0, 1))), np.pad(st, ((0, 0), (0, 1)))

    design_rng = np.random.default_rng(design_ss)
    with np.errstate(divide="ignore", invalid="ignore"):
        scipy.stats.sobol_indices(
            func=scipy_func, n=n, dists=dists, method=method, **_rng_kw(scipy.stats.sobol_indices, design_rng)
        )
    f_A = np.atleast_2d(captured["f_A"])  # (s, n), centred by scipy (the indices do not change)
    f_B = np.atleast_2d(captured["f_B"])
    f_AB = captured["f_AB"].reshape(d, f_A.shape[0], n)

    def indices(rows: np.ndarray, axis: int = -1) -> np.ndarray:
        """(2, s, d, *batch) indices for rows of shape (*batch, n) (scipy's vectorized form)."""
        rows = np.moveaxis(np.asarray(rows), axis, -1)
        a, b, ab = f_A[:, rows], f_B[:, rows], f_AB[:, :, rows]  # (s, *batch, n), (d, s, *batch, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            var = np.var(np.concatenate([a, b], axis=-1), axis=-1)
            s = np.mean(b * (ab - a), axis=-1) / var
            st = 0.5 * np.mean((a - ab) ** 2, axis=-1) / var
        out = np.swapaxes(np.stack([s, st]), 1, 2)
        return np.where(np.isfinite(out), out, 0.0)  # zero variance: zero indices (as scipy)

    point = indices(np.arange(n))
    lo, hi = _bootstrap(indices, n, n_resamples, confidence_level, np.random.default_rng(boot_ss), point)
    missing = np.sum(undefined, axis=0)
    spread = np.var(np.concatenate([f_A, f_B], axis=-1), axis=-1)
    reasons = []
    for o in range(f_A.shape[0]):
        if missing[o]:
            why = f"undefined: the output is undefined at {int(missing[o])} of {n * (d + 2)} points"
        elif not spread[o] > 0:
            why = "undefined: the output has no variance over the design (nothing to apportion)"
        else:
            why = ""
        reasons.append(why)
        if why:
            for arr in (point, lo, hi):
                arr[:, o] = np.nan
    return SobolResult(
        inputs=names,
        first_order=point[0],
        first_order_lo=lo[0],
        first_order_hi=hi[0],
        total_order=point[1],
        total_order_lo=lo[1],
        total_order_hi=hi[1],
        n=n,
        n_evaluations=n * (d + 2),
        seed=seed,
        confidence_level=confidence_level,
        n_resamples=n_resamples,
        reasons=tuple(reasons),
    )


def _bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray],
    n: int,
    n_resamples: int,
    confidence_level: float,
    rng: np.random.Generator,
    point: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """BCa interval of ``statistic(rows)`` over resampled rows, with fallbacks (see
    :func:`sobol_indices`)."""
    batch = max(1, 2**22 // (n * point.size))  # bounds the memory of one vectorized batch
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")  # degenerate resamples: handled below
        res = scipy.stats.bootstrap(
            (np.arange(n),),
            statistic,
            vectorized=True,
            batch=batch,
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            method="BCa",
            **_rng_kw(scipy.stats.bootstrap, rng),
        )
    lo = np.asarray(res.confidence_interval.low, dtype=float).reshape(point.shape)
    hi = np.asarray(res.confidence_interval.high, dtype=float).reshape(point.shape)
    dist = np.asarray(res.bootstrap_distribution, dtype=float).reshape(*point.shape, -1)
    alpha = (1.0 - confidence_level) / 2.0
    p_lo = np.quantile(dist, alpha, axis=-1)
    p_hi = np.quantile(dist, 1.0 - alpha, axis=-1)
    bad = ~(np.isfinite(lo) & np.isfinite(hi))
    lo = np.where(bad, p_lo, lo)
    hi = np.where(bad, p_hi, hi)
    bad = ~(np.isfinite(lo) & np.isfinite(hi))
    lo = np.where(bad, point, lo)
    hi = np.where(bad, point, hi)
    return lo, hi


def log10_p(events: int, trials: int) -> float:
    """log10 of p = (events + 0.5) / (trials + 1): a continuity correction (a Jeffreys-like
    half event) so that 0 events give a finite value; close to events / trials otherwise."""
    return math.log10((events + 0.5) / (trials + 1))


def log10_p_of(row: Mapping[str, Any]) -> float:
    """log10 p_cell_window of a results row: plain samples with :func:`log10_p` of the cell
    events over the cells simulated; importance-sampled ones log10 of the estimate, NaN
    (undefined) where it saw no event (no half event has a weight to lend it)."""
    if row["estimator"] == "naive":
        return log10_p(int(row["events"]), int(row["cells_simulated"]))
    p = float(row["p_cell_window"])
    return math.log10(p) if p > 0 else math.nan


def _override(key: str, value: float) -> str:
    """``KEY=VALUE`` of a design point: a key of the model, or a parameter inside one given
    as a distribution (``write.latency.scale``, as sweeps take them)."""
    spec = KEYS.get(key)
    if spec is None and not any(key.startswith(k + ".") and KEYS[k].kind != "name" for k in KEYS):
        raise ValueError(f"unknown configuration key {key!r}")
    if spec is None:  # a distribution's parameter: a real number
        return f"{key}={float(value)!r}"
    if spec.kind in ("count", "int"):
        return f"{key}={round(float(value))}"
    return f"{key}={float(value)!r}"


#: Bootstrap resamples of the annual tail at each design point: the outputs here (log10 p,
#: the expected annual impact) do not use the tail's interval, so a few suffice.
_RESAMPLES = 10


@dataclass(frozen=True)
class _PointTask:
    """One model run as plain, picklable data (a spawned process or a Dask worker runs it)."""

    raw: dict[str, Any]
    source: str
    overrides: tuple[str, ...]
    outputs: tuple[str, ...]
    plan: Plan | SplitSpec
    trials: int
    seed: int


def _evaluate_point(task: _PointTask) -> list[float]:
    """The outputs of one model run (top level, so that a worker can unpickle it)."""
    from riskmc.config import parse_config

    cfg = parse_config(task.raw, task.source, task.overrides)
    if isinstance(task.plan, SplitSpec):
        row = task.plan.run(cfg, task.seed).row()
    else:
        row = estimators.run(cfg, task.plan, trials=task.trials, seed=task.seed, n_resamples=_RESAMPLES).row()
    return [log10_p_of(row) if name == "log10_p_cell_window" else float(row[name]) for name in task.outputs]  # type: ignore[arg-type]


def riskmc_model(
    config: Config,
    inputs: Sequence[str],
    outputs: Sequence[str] = DEFAULT_OUTPUTS,
    *,
    trials: int,
    seed: int,
    plan: Plan | SplitSpec | None = None,
    progress: Callable[[int], None] | None = None,
    executor: Executor | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """A vectorized ``func(X) -> Y`` for :func:`sobol_indices`: row i of X gives the values
    of the configuration keys ``inputs`` (in that order, so pass ``list(ranges)``).

    A point is evaluated by :func:`riskmc.estimators.run` of ``config.with_overrides([...])``
    with the SAME seed, trials and ``plan`` (default naive) at every point (common random
    numbers).  Integer keys (counts such as ``enactors.count``) are rounded to the nearest
    integer.  Column j of Y is ``outputs[j]``: a numeric column of the row, or
    ``log10_p_cell_window`` (:func:`log10_p_of`).  ``progress(1)`` after every point.

    The points of one call run on ``executor`` (default: this process, in order); a point's
    numbers depend only on its configuration, so Y is the same wherever they run.
    :func:`sobol_indices` evaluates n * (d + 2) points, each a full run of ``trials``
    region-windows.  Under a SplitSpec a point is ``split`` with its replicates
    (``riskmc.estimators.split``), whose row has p_cell_window alone: the outputs are then
    ``log10_p_cell_window`` and p_cell_window's columns, and every point must be a
    configuration split takes (checked, with the other values, before any point runs).
    """
    plan = naive_plan() if plan is None else plan
    inputs = list(inputs)
    outputs = tuple(outputs)
    for key in inputs:
        _override(key, 1.0)  # unknown keys fail now rather than at the first point
    if not outputs:
        raise ValueError("outputs must name at least one output")
    if isinstance(plan, SplitSpec) and not set(outputs) <= set(_SPLIT_COLUMNS):
        raise ValueError(f"split estimates p_cell_window alone: its outputs are {', '.join(_SPLIT_COLUMNS)}")
    from riskmc.execute import LocalExecutor

    def func(x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if x.shape[1] != len(inputs):
            raise ValueError(f"X has {x.shape[1]} columns but there are {len(inputs)} inputs")
        tasks = []
        for point in x:
            sets = tuple(_override(k, v) for k, v in zip(inputs, point, strict=True))
            point_config = config.with_overrides(sets)  # an impossible value fails here, before any runs
            if isinstance(plan, SplitSpec):
                check_supported(point_config)
            tasks.append(_PointTask(config.raw, config.source, sets, outputs, plan, trials, seed))
        y = np.empty((x.shape[0], len(outputs)))
        for i, values in (executor or LocalExecutor(1)).map(_evaluate_point, tasks):
            y[i] = values
            if progress is not None:
                progress(1)
        return y

    return func


def sensitivity_rows(
    result: SobolResult,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> list[dict[str, object]]:
    """One row per (output, input): ``output``, ``input``, ``first_order`` with ``_lo`` /
    ``_hi``, ``total_order`` with ``_lo`` / ``_hi``, ``n``, ``n_evaluations``, ``seed``,
    ``confidence_level``, ``method``.  Names default to ``result.inputs`` and y0, y1, ..."""
    inputs = list(result.inputs if input_names is None else input_names)
    outputs = [f"y{j}" for j in range(result.n_outputs)] if output_names is None else list(output_names)
    if len(inputs) != len(result.inputs) or len(outputs) != result.n_outputs:
        raise ValueError(
            f"need {len(result.inputs)} input and {result.n_outputs} output names, "
            f"got {len(inputs)} and {len(outputs)}"
        )
    rows: list[dict[str, object]] = []
    for o, out_name in enumerate(outputs):
        per_input = result.per_input(o)
        method = result.reason(o) or result.method
        for in_name, own_name in zip(inputs, result.inputs, strict=True):
            indices = {k: v for k, v in per_input[own_name].items() if k != "method"}
            rows.append(
                {
                    "output": out_name,
                    "input": in_name,
                    **indices,
                    "n": result.n,
                    "n_evaluations": result.n_evaluations,
                    "seed": result.seed,
                    "confidence_level": result.confidence_level,
                    "method": method,
                }
            )
    return rows
