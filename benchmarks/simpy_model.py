"""A SimPy model of one cell over one window (docs/model.md section 2), baseline case only.

A peer for the speed benchmark: the same semantics as riskmc's engine and its reference
simulator, written independently, the way a SimPy (simpy 4) user would write it, with its own
random numbers (trial i draws from ``default_rng(SeedSequence(seed, spawn_key=(i,)))``), so it
agrees with them in distribution, not trial by trial.  No mitigations, one cell, the
parameters of one window (a :class:`riskmc.model.CellParams`: plain numbers and the
distributions drawn at every use).

The model:

* a **Planner** process publishes generation g at P_g = X_1 + ... + X_g;
* one process per **Enactor**: first wake at U_k ~ Uniform[0, poll); at each wake it takes the
  newest published generation g; if g <= H (the cell's highest generation written so far) it
  sleeps for poll, otherwise it runs g: E writes one after another, each a sub-process of
  attempts (a latency each) separated by full-jitter backoffs after failures, the endpoint
  taking g at the write's completion; then the clean-up (every generation below g - G is
  deleted) and a sleep of poll;
* the **event**: the first instant at which an endpoint points to a deleted generation (a
  write of a deleted plan, or a clean-up deleting a plan an endpoint points to); the cell
  freezes there, and nothing later takes effect;
* the **plan age**: the time-average over endpoints and [0, t_end) of t - P_{A_e(t)}.

In the baseline a clean-up deletes every generation below g - G, so the deleted generations
are always 0 .. D-1 (D the largest g - G of a clean-up so far): one number is the whole set.

Order at one instant: within one Enactor it follows from its process (a write completes, the
next begins, the last one's clean-up follows its completion, a write that causes the event
stops its run before the clean-up).  Between processes SimPy resumes them in the order their
events were scheduled; the only cross-process rules the baseline needs are kept explicitly: a
generation published exactly at a wake counts as published (the Planner's pending publication
is looked at), and after the event nothing takes effect (every process checks the freeze).
Otherwise different processes meet at one instant with probability zero (every Enactor's times
carry its continuous U_k), so section 2's order among them cannot change the distribution.

Run by hand (not part of the test suite)::

    python benchmarks/simpy_model.py [CONFIG] [--trials N] [--seed S] [--window I]

prints cell-hours per CPU-second (``time.process_time``), p_cell_window and the mean plan age
with their standard errors.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterator

import numpy as np
import simpy

from riskmc.model import CellParams, ScalarDist

__all__ = ["CellModel", "simulate", "simulate_cell"]


def _stream(draw: Callable[[int], np.ndarray], first: int = 64, largest: int = 8192) -> Callable[[], float]:
    """Successive draws as Python floats, fetched in growing chunks (one numpy call per chunk)."""

    def values() -> Iterator[float]:
        size = first
        while True:
            yield from draw(size).tolist()
            size = min(2 * size, largest)

    return values().__next__


def _dist_stream(dist: ScalarDist, rng: np.random.Generator) -> Callable[[], float]:
    return _stream(lambda n: np.asarray(dist.rvs(rng, size=n), dtype=float))


class Planner:
    """Publishes generation g >= 1 at P_g = X_1 + ... + X_g (generation 0 exists at t = 0)."""

    def __init__(self, env: simpy.Environment, interval: Callable[[], float]) -> None:
        self.env = env
        self.times = [0.0]  # P_0, P_1, ... of the generations published so far
        self.next_at = math.inf  # publication time of the pending generation
        self._interval = interval
        env.process(self._run())

    def _run(self):  # type: ignore[no-untyped-def]
        env = self.env
        while True:
            x = self._interval()
            self.next_at = env.now + x  # the instant simpy schedules the timeout at
            yield env.timeout(x)
            self.times.append(env.now)

    def newest(self) -> tuple[int, float]:
        """(g, P_g) of the newest generation published by now.

        A generation published at this very instant counts even if SimPy has not resumed the
        Planner yet at it.
        """
        if self.next_at <= self.env.now:
            return len(self.times), self.next_at
        return len(self.times) - 1, self.times[-1]


class CellModel:
    """One cell over one window [0, T]: the Planner, K Enactor processes and the cell's state."""

    def __init__(self, params: CellParams, rng: np.random.Generator) -> None:
        if params.mitigations.enabled():
            raise ValueError(
                f"the SimPy model is the baseline only; mitigations enabled: {params.mitigations.enabled()}"
            )
        for r in (params.fail_prob, params.degraded_fail_prob):
            if not 0.0 <= r < 1.0:
                raise ValueError(f"attempt failure probability must be in [0, 1), got {r}")
        self.p = params
        self.T = float(params.window_s)
        self.env = env = simpy.Environment()
        self.uniform = _stream(rng.random, first=256)
        self.latency = _dist_stream(params.write_latency, rng)
        offsets = rng.uniform(0.0, params.poll_s, size=params.enactors).tolist()
        self.planner = Planner(env, _dist_stream(params.planner_interval, rng))

        E = params.endpoints
        self.gen_of = [0] * E  # A_e
        self.pub_of = [0.0] * E  # P_{A_e}
        self.sum_pub = 0.0  # sum over endpoints of P_{A_e(t)}, piecewise constant in t
        self.pub_integral = 0.0  # its integral over [0, t_last]
        self.t_last = 0.0
        self.highest = 0  # H
        self.deleted_below = 0  # generations 0 .. deleted_below - 1 are deleted
        self.runs = 0
        self.degraded_runs = 0
        self.event_time: float | None = None
        self.affected: tuple[int, ...] = ()

        # The simulation ends at the event, or after every occurrence at t <= T (an event at
        # exactly T counts): a window closer just past T.
        self.end = env.event()
        env.process(self._close(float(np.nextafter(self.T, math.inf))))
        for k, u in enumerate(offsets):
            env.process(self._enactor(k, u))

    # ---- processes ------------------------------------------------------------------

    def _close(self, after_T: float):  # type: ignore[no-untyped-def]
        yield self.env.timeout(after_T)
        if not self.end.triggered:
            self.end.succeed()

    def _enactor(self, k: int, first_wake: float):  # type: ignore[no-untyped-def]
        env, p = self.env, self.p
        yield env.timeout(first_wake)
        while True:
            g, published = self.planner.newest()
            if g > self.highest:  # the start-time check, once, against the cell's H
                self.runs += 1
                degraded = self.uniform() < p.degraded_prob
                self.degraded_runs += degraded
                r = p.degraded_fail_prob if degraded else p.fail_prob
                for e in range(p.endpoints):
                    yield from self._write(r)
                    if self.event_time is not None:  # frozen while this write was in flight
                        return
                    self._write_done(e, g, published)
                    if self.event_time is not None:
                        return
                self._cleanup(g)
                if self.event_time is not None:
                    return
            yield env.timeout(p.poll_s)

    def _write(self, r: float):  # type: ignore[no-untyped-def]
        """One write: attempts until one succeeds, a full-jitter backoff after each failure."""
        env, p = self.env, self.p
        cap = p.backoff_base_s
        while True:
            yield env.timeout(self.latency())
            if r == 0.0 or self.uniform() >= r:
                return
            yield env.timeout(self.uniform() * min(p.backoff_cap_s, cap))
            cap *= 2.0

    # ---- state changes --------------------------------------------------------------

    def _write_done(self, e: int, g: int, published: float) -> None:
        now = self.env.now
        self.pub_integral += self.sum_pub * (now - self.t_last)
        self.t_last = now
        self.sum_pub += published - self.pub_of[e]
        self.pub_of[e] = published
        self.gen_of[e] = g
        if g > self.highest:
            self.highest = g
        if g < self.deleted_below:  # the Enactor wrote a plan deleted meanwhile
            self._freeze(now, (e,))

    def _cleanup(self, g: int) -> None:
        below = g - self.p.keep_generations
        if below <= self.deleted_below:
            return
        self.deleted_below = below
        affected = tuple(e for e, a in enumerate(self.gen_of) if a < below)
        if affected:
            self._freeze(self.env.now, affected)

    def _freeze(self, t: float, affected: tuple[int, ...]) -> None:
        self.event_time = t
        self.affected = affected
        self.end.succeed()

    # ---- the window -----------------------------------------------------------------

    def run(self) -> dict:
        self.env.run(until=self.end)
        t_end = self.T if self.event_time is None else self.event_time
        integral = self.pub_integral + self.sum_pub * (t_end - self.t_last)
        E = self.p.endpoints
        age = t_end / 2.0 - integral / (E * t_end) if t_end > 0 else 0.0
        return {
            "event": self.event_time is not None,
            "event_time_s": math.inf if self.event_time is None else self.event_time,
            "affected": self.affected,
            "mean_plan_age_s": age,
            "runs": self.runs,
            "degraded_runs": self.degraded_runs,
        }


def simulate_cell(params: CellParams, rng: np.random.Generator) -> dict:
    """One cell-window on its own generator."""
    return CellModel(params, rng).run()


def simulate(params: CellParams, trials: int, seed: int) -> dict:
    """``trials`` independent cell-windows, trial i on ``SeedSequence(seed, spawn_key=(i,))``.

    ``elapsed_s`` is CPU time (``time.process_time``), ``wall_s`` wall time.
    """
    events = np.zeros(trials, dtype=bool)
    ages = np.zeros(trials)
    runs = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(trials):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,)))
        out = simulate_cell(params, rng)
        events[i] = out["event"]
        ages[i] = out["mean_plan_age_s"]
        runs += out["runs"]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    p = float(events.mean()) if trials else math.nan
    cell_hours = trials * params.window_s / 3600.0
    return {
        "trials": trials,
        "events": int(events.sum()),
        "p_cell_window": p,
        "p_cell_window_se": math.sqrt(p * (1.0 - p) / trials) if trials else math.nan,
        "mean_plan_age_s": float(ages.mean()) if trials else math.nan,
        "mean_plan_age_se": float(ages.std(ddof=1) / math.sqrt(trials)) if trials > 1 else math.nan,
        "runs_per_hour": runs / cell_hours if trials else math.nan,
        "cell_hours": cell_hours,
        "elapsed_s": cpu,
        "wall_s": wall,
        "cell_hours_per_cpu_s": cell_hours / cpu if cpu > 0 else math.inf,
        "event_flags": events,
        "plan_ages_s": ages,
    }


def main() -> None:
    from riskmc.config import load_config
    from riskmc.params import sample_windows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/bench.toml")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seed", type=int, default=None, help="default: the configuration's seed")
    parser.add_argument("--window", type=int, default=0, help="the region-window whose parameters are used")
    args = parser.parse_args()
    config = load_config(args.config)
    seed = config.seed if args.seed is None else args.seed
    windows = sample_windows(config, seed, [args.window, args.window + 1])
    params = windows.cell_params(0)
    if params != windows.cell_params(1):
        print(f"note: {args.config} samples parameters per window; using those of window {args.window}")
    if int(windows.cells[0]) != 1 or float(windows.shock_prob[0]) > 0:
        print("note: one cell of the region is simulated, without the region shock")

    out = simulate(params, args.trials, seed)
    print(
        f"{args.config}: {out['trials']} cell-windows of {params.window_s / 3600.0:g} h, "
        f"{out['runs_per_hour']:.0f} runs per cell-hour"
    )
    print(
        f"speed: {out['cell_hours_per_cpu_s']:.3f} cell-hours per CPU-second "
        f"({out['elapsed_s']:.2f} CPU s, {out['wall_s']:.2f} wall s)"
    )
    print(
        f"p_cell_window: {out['p_cell_window']:.5f} +- {out['p_cell_window_se']:.5f} ({out['events']} events)"
    )
    print(f"mean_plan_age_s: {out['mean_plan_age_s']:.4f} +- {out['mean_plan_age_se']:.4f}")


if __name__ == "__main__":
    main()
