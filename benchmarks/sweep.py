"""Benchmark: sweep throughput (points per second) with 1 and 2 local workers.

Runs the same sweep (a Latin hypercube over ``degraded.prob`` and ``write.fail_prob`` on
``configs/stress.toml`` by default, every point on the same trials and seed) with each
worker count and prints points per second end to end: the pool's process start-up (spawn,
imports) is included, so the sweep must be long enough to amortise it.  Also prints the
mean wall time of one point as measured inside the worker (``elapsed_s`` of the rows): if it
grows with the number of workers, the workers slow each other down (shared cores, caches,
memory bandwidth) and no executor can scale linearly.  With ``--dask`` the sweep also runs
on a ``dask.distributed`` LocalCluster of as many single-threaded worker processes as the
largest worker count (started before the clock, as an existing cluster would be).

The issue's target: 2 workers at least 1.8 times the points per second of 1 worker.  The
rows of every run are checked to be identical (wall times aside).  Not part of the test
suite: run it by hand, on an otherwise idle machine,

    python benchmarks/sweep.py [CONFIG] [--points N] [--trials T] [--workers 1,2] [--dask]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from riskmc.config import load_config
from riskmc.execute import DaskExecutor, Executor, LocalExecutor
from riskmc.sweep import lhs_points, run_sweep

RANGES = ["degraded.prob=0.0005:0.005:log", "write.fail_prob=0.01:0.05"]


Rows = list[dict[str, object]]


def timed(config, points, trials: int, seed: int, executor: Executor) -> tuple[float, Rows]:
    start = time.perf_counter()
    with executor:
        rows = run_sweep(config, points, trials, seed, executor=executor)
    return time.perf_counter() - start, rows


def same(a: Rows, b: Rows) -> bool:
    strip = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in a]
    return strip == [{k: v for k, v in r.items() if k != "elapsed_s"} for r in b]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/stress.toml")
    parser.add_argument("--points", type=int, default=24)
    parser.add_argument("--trials", type=int, default=2000, help="trials per point")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--dask", action="store_true", help="also on a dask LocalCluster")
    args = parser.parse_args()
    config = load_config(args.config)
    points = lhs_points(RANGES, args.points, seed=args.seed)
    counts = [int(w) for w in args.workers.split(",")]

    run_sweep(config, points[:1], 1000, args.seed)  # warm-up in this process: imports, caches
    load = os.getloadavg()[0]
    design = f"{args.points} points x {args.trials:,} trials (seed {args.seed})"
    print(f"config                {args.config}: {design}")
    print(f"machine               {os.cpu_count()} CPUs; load average {load:.2f} before the runs")
    results: dict[str, tuple[float, Rows]] = {}
    for w in counts:
        label = f"{w} worker{'s' if w > 1 else ''}"
        results[label] = timed(config, points, args.trials, args.seed, LocalExecutor(w))
    if args.dask:
        from distributed import LocalCluster

        n = max(counts)
        cluster_options = {"processes": True, "threads_per_worker": 1, "dashboard_address": ":0"}
        with LocalCluster(n_workers=n, **cluster_options) as cluster:
            results[f"dask, {n} workers"] = timed(
                config, points, args.trials, args.seed, DaskExecutor(cluster.scheduler_address)
            )
    print(f"load average          {os.getloadavg()[0]:.2f} after the runs (riskmc uses one core per worker)")
    first_label, (first_s, first_rows) = next(iter(results.items()))
    for label, (seconds, rows) in results.items():
        per_point = statistics.mean(float(r["elapsed_s"]) for r in rows)  # type: ignore[arg-type]
        speedup = first_s / seconds
        check = "identical rows" if same(rows, first_rows) else "ROWS DIFFER"
        print(
            f"{label:<21} {args.points / seconds:.3f} points/s  ({seconds:.1f} s; {per_point:.2f} s "
            f"per point in the worker; {speedup:.2f}x {first_label}; {check})"
        )


if __name__ == "__main__":
    main()
