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
rows of every run are checked to be identical (wall times aside).  With ``--repeat R`` the
runs are interleaved R times and the best and median times are reported: other load on
the machine only ever adds time, so the best is the figure least disturbed by it.  Not part of the test
suite: run it by hand, on an otherwise idle machine,

    python benchmarks/sweep.py [CONFIG] [--points N] [--trials T] [--workers 1,2] [--repeat R] [--dask]
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
    """Rows equal but for wall time; by repr, so that NaN equals NaN (proposal_q of a plain run)."""

    def strip(rows: Rows) -> list[dict[str, str]]:
        return [{k: repr(v) for k, v in r.items() if k != "elapsed_s"} for r in rows]

    return strip(a) == strip(b)


def steal_jiffies() -> int:
    """CPU time the hypervisor gave to other guests (the 'steal' column of /proc/stat), or -1."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8])
    except (OSError, IndexError, ValueError):
        return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/stress.toml")
    parser.add_argument("--points", type=int, default=24)
    parser.add_argument("--trials", type=int, default=10_000, help="trials per point")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, interleaved; medians reported")
    parser.add_argument("--dask", action="store_true", help="also on a dask LocalCluster")
    args = parser.parse_args()
    config = load_config(args.config)
    points = lhs_points(RANGES, args.points, seed=args.seed)
    counts = [int(w) for w in args.workers.split(",")]

    run_sweep(config, points[:1], 1000, args.seed)  # warm-up in this process: imports, caches
    design = f"{args.points} points x {args.trials:,} trials (seed {args.seed}), {args.repeat} round(s)"
    print(f"config                {args.config}: {design}")
    print(
        f"machine               {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} before the runs"
    )
    steal = steal_jiffies()
    seconds: dict[str, list[float]] = {}
    per_point: dict[str, list[float]] = {}
    reference: Rows | None = None
    identical = True

    def record(label: str, result: tuple[float, Rows]) -> None:
        nonlocal reference, identical
        wall, rows = result
        seconds.setdefault(label, []).append(wall)
        per_point.setdefault(label, []).append(statistics.mean(float(r["elapsed_s"]) for r in rows))  # type: ignore[arg-type]
        reference = rows if reference is None else reference
        identical = identical and same(rows, reference)
        print(f"  round {len(seconds[label])}: {label:<16} {wall:6.1f} s", flush=True)

    for _ in range(args.repeat):
        for w in counts:
            label = f"{w} worker{'s' if w > 1 else ''}"
            record(label, timed(config, points, args.trials, args.seed, LocalExecutor(w)))
        if args.dask:
            from distributed import LocalCluster

            n = max(counts)
            options = {"processes": True, "threads_per_worker": 1, "dashboard_address": ":0"}
            with LocalCluster(n_workers=n, **options) as cluster:
                executor = DaskExecutor(cluster.scheduler_address)
                record(f"dask, {n} workers", timed(config, points, args.trials, args.seed, executor))
    steal_s = (steal_jiffies() - steal) / os.sysconf("SC_CLK_TCK") if steal >= 0 else float("nan")
    print(f"load average          {os.getloadavg()[0]:.2f} after the runs (riskmc uses one core per worker)")
    print(f"CPU time stolen       {steal_s:.1f} s by the hypervisor during the runs")
    print(f"rows                  {'identical in every run' if identical else 'DIFFER between runs'}")
    first = next(iter(seconds))
    for label, walls in seconds.items():
        best, median = min(walls), statistics.median(walls)
        print(
            f"{label:<21} {args.points / best:.3f} points/s best, {args.points / median:.3f} median  "
            f"({best:.1f} s best, {median:.1f} s median; {min(seconds[first]) / best:.2f}x {first} best "
            f"to best, {statistics.median(seconds[first]) / median:.2f}x median to median; "
            f"{statistics.median(per_point[label]):.2f} s per point in the worker)"
        )


if __name__ == "__main__":
    main()
