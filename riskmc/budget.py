"""What a configuration asks of the machine, checked before anything runs (docs/model.md
section 7, "Limits").

A typo such as ``window.hours = 1e9`` or ``write.fail_prob = 0.999999999`` must cost the
analyst a second and one line, not an hour of a machine that swaps.  Two checks:

* :func:`window_cost` probes the configuration itself: it draws the parameters of
  :data:`PROBE_WINDOWS` region-windows exactly as a run would (timing the draws of every
  sampled distribution first) and, from the largest of them, bounds the engine's work in one
  cell-window: plan generations (T / E[planner interval]), Enactor wake-ups (K T / poll),
  writes (every run writes E endpoints, at most one run per generation and per poll) and
  write attempts (1 / (1 - fail_prob)).  What cannot run at all is refused with the key to
  change: more than :data:`MAX_GENERATIONS` generations, a write likely to need more
  attempts than the address layout holds, a cell-window estimated above
  :data:`MAX_STEPS_PER_CELL_WINDOW` engine steps, a per-window distribution slower than
  :data:`MAX_DRAW_S` a draw.
* :func:`check_budget` turns that cost and the size of a command (windows kept in memory,
  windows simulated in all, design points, worker processes) into a memory estimate, to be
  compared with a budget (default: half of this machine's memory, :func:`default_memory_budget`,
  overridable with ``--memory-budget``), and a work estimate, refused beyond
  :data:`MAX_CPU_SECONDS`.

The estimates are upper bounds of the usual case (the largest of the probe's windows, every
possible write made), deliberately coarse: they exist to refuse the absurd, not to predict
run times.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from riskmc.errors import BudgetError, ConfigError

if TYPE_CHECKING:
    from riskmc.config import Config
    from riskmc.distributions import DistSpec

__all__ = [
    "BYTES_PER_WINDOW",
    "MAX_CPU_SECONDS",
    "MAX_DRAW_S",
    "MAX_GENERATIONS",
    "MAX_POINTS",
    "MAX_STEPS_PER_CELL_WINDOW",
    "PROBE_WINDOWS",
    "WindowCost",
    "check_budget",
    "default_memory_budget",
    "format_bytes",
    "parse_bytes",
    "window_cost",
    "worst",
]

#: Points of a sweep, design or grid (each a model run and a row): beyond this the table
#: itself, rewritten as each point finishes, becomes the cost.
MAX_POINTS = 100_000
#: Region-windows whose parameters are drawn to bound a configuration's cost.
PROBE_WINDOWS = 256
#: Plan generations one window may publish (the engine's own limit, kernel.MAX_GENERATIONS;
#: repeated so that this module loads without numba).
MAX_GENERATIONS = 10_000_000
#: Attempts one write may make (kernel.MAX_ATTEMPTS, the address layout).
MAX_ATTEMPTS = 1 << 16
#: Estimated engine steps (generations, wake-ups, write attempts) in one cell-window beyond
#: which a configuration is refused: about 10 s of one core at the measured engine speed
#: (about 1e8 steps a second on configs/bench.toml, README "Performance").
MAX_STEPS_PER_CELL_WINDOW = 1e9
#: Engine steps a second assumed for the work estimate (measured, rounded up: the estimate
#: must not refuse what would run).
STEPS_PER_CPU_SECOND = 1e8
#: Estimated CPU time beyond which a command is refused: 30 days of one core.
MAX_CPU_SECONDS = 30 * 86400.0
#: Seconds one draw of a per-window distribution may take (scipy's ppf): 1 ms, so that
#: drawing 100,000 windows' parameters takes under two minutes.
MAX_DRAW_S = 1e-3
#: Expected writes per window allowed to exceed the engine's attempt limit.
ATTEMPT_RISK = 1e-6
#: Memory kept per region-window by an estimate (the sample's columns and parameters:
#: about 300 bytes measured, rounded up).
BYTES_PER_WINDOW = 512
#: Memory of the process before any window (Python, numpy, scipy, polars, numba and the
#: compiled engine: about 250 MiB measured, rounded up).
BASE_BYTES = 400 * 2**20
#: Memory of one row of an --events table (every cell-window may have an event).
BYTES_PER_EVENT = 256
#: Memory of one finished design point, sweep point or scenario row kept until written.
BYTES_PER_ROW = 16 * 2**10


@dataclass(frozen=True)
class WindowCost:
    """The largest cost among the probe's windows."""

    cells: int
    generations: float  # plan generations in one cell-window
    steps: float  # engine steps in one cell-window (generations + wake-ups + attempts)
    engine_bytes: float  # one engine thread's state for one cell-window
    draw_s: float  # seconds to draw one window's sampled parameters

    @property
    def steps_per_window(self) -> float:
        return self.steps * self.cells

    @property
    def cpu_s_per_window(self) -> float:
        return self.steps_per_window / STEPS_PER_CPU_SECOND + self.draw_s


def default_memory_budget() -> int:
    """Half of this machine's physical memory (4 GiB where it cannot be read)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        total = 8 * 2**30
    return int(total // 2)


_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_bytes(text: str) -> int:
    """``"8GiB"``, ``"512M"``, ``"2e9"`` as bytes (binary multiples); ValueError if not a size."""
    s = text.strip().lower().replace(" ", "")
    for suffix in ("ib", "b"):
        if s.endswith(suffix) and s[: -len(suffix)][-1:].isalpha():
            s = s[: -len(suffix)]
            break
    unit = s[-1:] if s[-1:].isalpha() else ""
    if unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size (e.g. 8GiB, 512MiB, 2e9)")
    try:
        value = float(s[: len(s) - len(unit)])
    except ValueError:
        raise ValueError(f"{text!r} is not a size (e.g. 8GiB, 512MiB, 2e9)") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{text!r} must be a positive size")
    return int(min(value * _UNITS[unit], 2.0**62))


def format_bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _dists(config: Config) -> list[tuple[str, DistSpec]]:
    """The sampled (once per window) distributions of a config, nested ones included."""
    from riskmc.config import KEYS
    from riskmc.distributions import DistSpec

    out: list[tuple[str, DistSpec]] = []

    def visit(key: str, value: object, use: bool) -> None:
        if not isinstance(value, DistSpec):
            return
        if not use and value.samples is None:
            out.append((key, value))
        for name in value.nested:
            visit(f"{key}.{name}", value.params[name], False)

    for key, value in config.values.items():
        visit(key, value, KEYS[key].kind == "use")
    for mname, params in config.mitigations.items():
        for pname, value in params.items():
            path = f"mitigations.{mname}.{pname}"
            visit(path, value, KEYS[path].kind == "use")
    return out


def _time_draws(config: Config) -> float:
    """Seconds to draw one window's sampled parameters; ConfigError for a slow distribution."""
    rng = np.random.default_rng(0)
    total = 0.0
    for key, spec in _dists(config):
        spec.sample(rng, 1)  # scipy's first call pays for set-up that is not per draw
        n = 8
        t0 = time.perf_counter()
        spec.sample(rng, n)
        per = (time.perf_counter() - t0) / n
        if per > MAX_DRAW_S:
            raise ConfigError(
                key,
                f"scipy.stats.{spec.name} takes {per * 1e3:.3g} ms a draw, too slow to draw once per "
                f"region-window (the limit is {MAX_DRAW_S * 1e3:g} ms); choose another distribution "
                "or give the values as an empirical one",
            )
        total += per
    return total


def worst(costs: list[WindowCost]) -> WindowCost:
    """The largest of several costs, field by field (the points of a sweep or a design)."""
    return WindowCost(
        cells=max(c.cells for c in costs),
        generations=max(c.generations for c in costs),
        steps=max(c.steps for c in costs),
        engine_bytes=max(c.engine_bytes for c in costs),
        draw_s=max(c.draw_s for c in costs),
    )


def window_cost(config: Config, seed: int | None = None, probe: int = PROBE_WINDOWS) -> WindowCost:
    """Bound the work of one region-window of ``config``; ConfigError naming the key of
    what cannot run (see the module's docstring)."""
    from riskmc.engine import kernel as K
    from riskmc.params import sample_windows

    draw_s = _time_draws(config)
    w = sample_windows(config, config.seed if seed is None else seed, probe)
    window_s = w.window_s
    interval = np.maximum(w.planner.mean(), 1e-300)
    generations = window_s / interval
    g = float(np.max(generations))
    if not g <= MAX_GENERATIONS:
        i = int(np.argmax(generations))
        raise ConfigError(
            "window.hours" if window_s[i] > 8766 * 3600 else "planner.interval",
            f"a window of {window_s[i] / 3600:.6g} h at a mean plan interval of {interval[i]:.3g} s "
            f"publishes about {g:.3g} plan generations; the engine's limit is {MAX_GENERATIONS:,} "
            "(lengthen planner.interval or shorten window.hours)",
        )
    wakes = w.enactors * (window_s / w.poll_s + 1)
    # Runs of one Enactor: at most one per generation and per poll, and no more than fit in
    # the window one after another (a run writes E endpoints, each taking its attempts).
    per_write = 1 / (1 - w.fail_prob)
    run_s = w.endpoints * per_write * w.latency.mean()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        by_time = np.where(run_s > 0, window_s / run_s, np.inf)
    runs = np.minimum(np.minimum(generations, window_s / w.poll_s), by_time) + 1
    writes = w.enactors * runs * w.endpoints
    # An ordinary write retries at fail_prob; under importance sampling about one run per
    # Enactor and window is degraded, its writes retrying at degraded.fail_prob.
    degraded_writes = np.where(
        (w.base_degraded_prob > 0) | (w.shock_degraded_prob > 0), w.enactors * w.endpoints, 0
    )
    attempts = writes * per_write + degraded_writes / (1 - w.degraded_fail_prob)
    steps = generations + wakes + attempts
    for key, prob, n in (
        ("write.fail_prob", w.fail_prob, writes),
        ("degraded.fail_prob", w.degraded_fail_prob, degraded_writes),
    ):
        # P(a write needs more than MAX_ATTEMPTS attempts) = prob^MAX_ATTEMPTS
        with np.errstate(divide="ignore"):
            log_risk = np.log(np.maximum(n, 1e-300)) + MAX_ATTEMPTS * np.log(np.maximum(prob, 1e-300))
        i = int(np.argmax(np.where(n > 0, log_risk, -np.inf)))
        if n[i] > 0 and log_risk[i] > math.log(ATTEMPT_RISK):
            top = math.exp((math.log(ATTEMPT_RISK) - math.log(n[i])) / MAX_ATTEMPTS)
            raise ConfigError(
                key,
                f"{prob[i]:.12g} makes some of a window's {n[i]:,.0f} writes need more than "
                f"{MAX_ATTEMPTS:,} attempts, beyond the engine's address layout; it must be below "
                f"about {math.floor(top * 1e6) / 1e6:.6f} here",
            )
    s = float(np.max(steps))
    if not s <= MAX_STEPS_PER_CELL_WINDOW:
        i = int(np.argmax(steps))
        parts = {
            "planner.interval": generations[i],
            "enactors.poll_interval": wakes[i],
            "write.fail_prob" if per_write[i] > 10 else "endpoints.count": attempts[i],
        }
        key = max(parts, key=lambda k: parts[k])
        raise ConfigError(
            key,
            f"one cell-window would take about {s:.3g} engine steps ({generations[i]:.3g} plan "
            f"generations, {wakes[i]:.3g} Enactor wake-ups, {attempts[i]:.3g} write attempts), "
            f"about {s / STEPS_PER_CPU_SECOND:.3g} s of a core each; the limit is "
            f"{MAX_STEPS_PER_CELL_WINDOW:.0e} steps",
        )
    kmax, emax = int(w.enactors.max()), int(w.endpoints.max())
    engine_bytes = 8.0 * (kmax * emax + emax * (K.NPF + 2) + kmax * (K.NEF + K.NEI)) + 8.0 * g
    return WindowCost(
        cells=int(w.cells.max()),
        generations=g,
        steps=s,
        engine_bytes=engine_bytes,
        draw_s=draw_s,
    )


def check_budget(
    cost: WindowCost,
    *,
    windows_kept: float,
    windows_total: float,
    memory_budget: int,
    option: str = "--trials",
    processes: int = 1,
    threads: int = 1,
    rows: float = 1,
    time_bounded: bool = False,
    events: bool = False,
) -> None:
    """Refuse (BudgetError naming ``option``) a command whose memory estimate exceeds
    ``memory_budget`` or whose work estimate exceeds :data:`MAX_CPU_SECONDS`.

    ``windows_kept``: region-windows one process holds at once (a sample being estimated);
    ``windows_total``: windows simulated in all; ``processes`` each hold ``windows_kept``;
    ``rows``: result rows held until written; ``time_bounded``: a --max-seconds limit ends
    the command, so its work is not checked; ``events``: a table of every event is written
    (at most one a cell-window).
    """
    threads = min(threads, os.cpu_count() or 1)  # the engine runs at most one thread a core
    memory = (
        processes * (BASE_BYTES + windows_kept * BYTES_PER_WINDOW + threads * cost.engine_bytes)
        + rows * BYTES_PER_ROW
    )
    if events:
        memory += windows_kept * cost.cells * BYTES_PER_EVENT
    if memory > memory_budget:
        raise BudgetError(
            option,
            f"would need about {format_bytes(memory)} of memory ({windows_kept:,.0f} region-windows "
            f"kept x {BYTES_PER_WINDOW} bytes{f' in each of {processes} processes' if processes > 1 else ''}"
            f"{f', {rows:,.0f} result rows' if rows > 1 else ''}), above the budget of "
            f"{format_bytes(memory_budget)} (--memory-budget; default half this machine's memory)",
        )
    cpu_s = windows_total * cost.cpu_s_per_window
    if not time_bounded and not cpu_s <= MAX_CPU_SECONDS:
        raise BudgetError(
            option,
            f"would take about {cpu_s / 86400:,.3g} CPU-days ({windows_total:,.0f} region-windows of "
            f"about {cost.steps_per_window:.3g} engine steps each); the limit is "
            f"{MAX_CPU_SECONDS / 86400:g} CPU-days",
        )
