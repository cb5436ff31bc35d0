"""Benchmark: the work a 10% answer needs, against p, for each mechanism of the event.

Each mechanism is a family of configurations that moves one key of a base file so that
p_cell_window falls from about 1e-3 towards 1e-9 (the values were chosen by a scan; p is
what each run measures):

* ``tail``: configs/ordinary.toml, no retries, the lognormal latency's s;
* ``retries``: configs/ordinary.toml, the attempt-failure probability;
* ``bursts``: configs/ordinary.toml, the clean-up's G (plans must be published in a burst);
* ``degraded``: configs/baseline.toml, degraded.prob (the incident's mechanism).

For each configuration it times (CPU seconds of this process, pilot and cross-entropy
included) ``riskmc run CONFIG --estimator ESTIMATOR --target-rel-err 0.1 --max-seconds
60`` through the library (``--estimator split``: on two threads, its wall seconds beside;
its "windows" are the trajectories it simulated), and prints p, its interval, the relative
error reached, the windows, whether the target was met, and the seconds. ``--check`` adds
a plain Monte Carlo run of ``--check-trials`` windows for each family's first (least rare)
configuration and prints the distance in combined standard errors (``--check-all FAMILY
...``: at every point of those families). ``--plot FILE`` draws seconds against p, one
line per mechanism (a hollow marker where the 60 s ran out before the target). Not part of
the test suite; the README's table and plot come from::

    python benchmarks/rare_any_cause.py --check --plot docs/rare_work.png
    python benchmarks/rare_any_cause.py --families bursts --check-all bursts
    python benchmarks/rare_any_cause.py --replot OUTPUT --plot docs/rare_work.png  (from a saved run)
    python benchmarks/rare_any_cause.py --estimator split --check --plot docs/split_work.png
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from riskmc import estimators
from riskmc.config import Config, load_config
from riskmc.errors import ConfigError
from riskmc.estimators.split import split, t_rel_err

ROOT = Path(__file__).resolve().parent.parent
LOGNORM = 'write.latency={{dist="lognorm", s={}, scale=0.1}}'
FAMILIES: dict[str, tuple[str, list[list[str]]]] = {
    "tail": ("configs/ordinary.toml", [[LOGNORM.format(s)] for s in (1.2, 1.0, 0.9, 0.8)]),
    "retries": ("configs/ordinary.toml", [[f"write.fail_prob={r}"] for r in (0.55, 0.45, 0.38, 0.32, 0.27)]),
    "bursts": ("configs/ordinary.toml", [[f"cleanup.keep_generations={g}"] for g in (2, 3, 4)]),
    "degraded": ("configs/baseline.toml", [[f"degraded.prob={p}"] for p in (1e-5, 1e-7, 1e-9)]),
}


def _split(config: Config, seed: int, max_seconds: float) -> dict[str, object]:
    start, wall = time.process_time(), time.monotonic()
    result = split(config, seed, target_rel_err=0.1, max_seconds=max_seconds, threads=2)
    p = result.estimate
    return {
        "p": p.estimate,
        "lo": p.confidence_interval.low,
        "hi": p.confidence_interval.high,
        "se": p.standard_error,
        "rel_err": t_rel_err(p),
        "windows": result.trajectories,
        "met": result.stopped_by == "target" and t_rel_err(p) <= 0.1,
        "cpu_s": time.process_time() - start,
        "plan": f"split, {len(result.pilot)} + {len(result.replicates)} replicates, "
        f"{time.monotonic() - wall:.1f} s wall",
    }


def _one(config: Config, estimator: str, seed: int, max_seconds: float) -> dict[str, object]:
    if estimator == "split":
        return _split(config, seed, max_seconds)
    start = time.process_time()
    plan = estimators.resolve(config, seed, estimator)
    run = estimators.run(config, plan, seed=seed, target_rel_err=0.1, max_seconds=max_seconds, n_resamples=2)
    p = run.estimates.values["p_cell_window"]
    return {
        "p": p.estimate,
        "lo": p.confidence_interval.low,
        "hi": p.confidence_interval.high,
        "se": p.standard_error,
        "rel_err": p.rel_err,
        "windows": run.trials,
        "met": run.stopped_by == "target",
        "cpu_s": time.process_time() - start,
        "plan": plan.short,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estimator", default="rare")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check", action="store_true", help="plain Monte Carlo at each family's first point")
    parser.add_argument("--check-all", nargs="*", default=[], help="... and at every point of these families")
    parser.add_argument("--check-trials", type=int, default=200_000)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--replot", type=Path, help="plot the rows of an earlier run's printed output")
    args = parser.parse_args()
    if args.replot:
        _plot(_rows_of(args.replot.read_text()), args.plot, args.estimator, args.max_seconds)
        return
    print(
        f"{'mechanism':<9} {'set':<44} {'p':>9} {'95% CI':>21} {'rel err':>7} {'windows':>8} {'met':>3} "
        f"{'CPU s':>6}"
    )
    rows = []
    for name in args.families:
        base_file, overrides = FAMILIES[name]
        base = load_config(ROOT / base_file)
        for i, extra in enumerate(overrides):
            config = base.with_overrides(extra)
            try:
                r = _one(config, args.estimator, args.seed, args.max_seconds)
            except ConfigError as e:  # (split's configurations)
                print(f"{name:<9} {' '.join(extra):<44} not supported: {e}", flush=True)
                continue
            rows.append((name, r))
            ci = f"[{r['lo']:.2e}, {r['hi']:.2e}]"
            print(
                f"{name:<9} {' '.join(extra):<44} {r['p']:>9.3e} {ci:>21} {r['rel_err']:>7.3f} "
                f"{r['windows']:>8} {'yes' if r['met'] else 'no':>3} {r['cpu_s']:>6.1f}  {r['plan']}",
                flush=True,
            )
            if (args.check and i == 0) or name in args.check_all:
                naive = estimators.run(
                    config,
                    estimators.naive_plan(),
                    trials=args.check_trials,
                    seed=args.seed + 1,
                    n_resamples=2,
                )
                e = naive.estimates.values["p_cell_window"]
                z = abs(e.estimate - float(r["p"])) / math.hypot(e.standard_error, float(r["se"]))  # type: ignore[arg-type]
                print(
                    f"{'':<9} plain Monte Carlo, {args.check_trials} windows: {e.estimate:.3e} "
                    f"[{e.confidence_interval.low:.2e}, {e.confidence_interval.high:.2e}], "
                    f"{int(naive.sample.events.sum())} events; {z:.2f} combined SE apart",
                    flush=True,
                )
    if args.plot:
        _plot(rows, args.plot, args.estimator, args.max_seconds)


def _rows_of(text: str) -> list[tuple[str, dict[str, object]]]:
    """The rows of this script's printed output (mechanism, p, windows, met, CPU s)."""
    rows = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in FAMILIES and len(words) > 8:
            # ... p [lo, hi] rel_err windows met cpu plan: counted from the end of the numbers
            i = next(k for k, w in enumerate(words) if w.startswith("["))
            met, cpu = words[i + 4] == "yes", float(words[i + 5])
            rel = float(words[i + 2].replace(",", ""))
            rows.append((words[0], {"p": float(words[i - 1]), "met": met, "cpu_s": cpu, "rel_err": rel}))
    return rows


def _plot(rows: list[tuple[str, dict[str, object]]], path: Path, estimator: str, limit: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in dict.fromkeys(n for n, _ in rows):
        pts = [r for n, r in rows if n == name]
        xs = [float(r["p"]) for r in pts]  # type: ignore[arg-type]
        # split, where the limit came first: the work projected from the relative error
        # reached (the variance of a mean of replicates falls as 1 / work; not so for the
        # others, whose intervals may hold a bound until the sample shows its events)
        project = estimator == "split"
        ys = [
            float(r["cpu_s"]) * (1.0 if r["met"] or not project else max(float(r["rel_err"]) / 0.1, 1.0) ** 2)  # type: ignore[arg-type]
            for r in pts
        ]
        (line,) = ax.plot(xs, ys, "-", label=name)
        for r, x, y in zip(pts, xs, ys, strict=True):
            ax.plot(x, y, "o", color=line.get_color(), fillstyle="full" if r["met"] else "none")
    ax.axhline(limit, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("p_cell_window (as estimated)")
    ax.set_ylabel("CPU seconds to a 10% answer")
    if project:
        ax.set_title(
            f"--estimator {estimator}: CPU-s for a 10% answer against p\n"
            f"(hollow: {limit:g} s ran out; projected from the relative error reached)",
            fontsize=10,
        )
    else:
        ax.set_title(f"--estimator {estimator}: work against p (hollow: {limit:g} s without the target)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
