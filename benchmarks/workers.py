"""Throughput of one estimate's blocks on worker processes and on a Dask cluster.

``python benchmarks/workers.py [--trials N] [--workers W] [--tasks T]`` on
``configs/baseline.toml`` (importance sampling, the plan resolved once), every part in one
run so that the ratios compare like with like:

1. **run**: the blocks of ``riskmc.estimators.run`` (the pilot and the final estimation
   excluded: only the blocks are timed) in this process with one thread, then on W local
   worker processes of one thread each, then on a Dask ``LocalCluster`` of W single-thread
   worker processes; the rows compared.
2. **compare**: ``riskmc.compare.compare`` of the baseline and two mitigations (whole
   command, estimation included) in this process with one thread and on W local workers.
3. **per task**: the scheduler's overhead, from T trivial tasks through the same executors
   (seconds a task when the task itself costs nothing).

What a cluster of N machines would give follows from (1) and (3): blocks per second per
worker, and the overhead of a task against the seconds of a block.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(
        (x == y) or (isinstance(x, float) and np.isnan(x) and np.isnan(y))
        for x, y in zip(a.values(), b.values(), strict=True)
    )


def nothing(i: int) -> int:
    return i


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=2_000)
    parser.add_argument("--compare-trials", type=int, default=8_000)
    args = parser.parse_args()

    import distributed

    from riskmc import compare, estimators
    from riskmc.config import load_config
    from riskmc.estimators import rule
    from riskmc.execute import DaskExecutor, LocalExecutor

    cfg = load_config("configs/baseline.toml")
    plan = estimators.resolve(cfg, cfg.seed, "auto")
    w = args.workers
    with distributed.LocalCluster(
        n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        address = str(cluster.scheduler_address)
        dask = DaskExecutor(address)
        local = LocalExecutor(w)
        with dask, local:
            # The workers start, and load riskmc and its kernels, once: timed apart.
            for label, executor in ((f"{w} local workers", local), (f"dask, {w} workers", dask)):
                start = time.perf_counter()
                estimators.run(cfg, plan, trials=w * 1000, threads=1, executor=executor)
                print(f"start-up of {label} and their first block: {time.perf_counter() - start:.2f} s")

            print(f"-- run: blocks of {args.trials:,} region-windows ({args.trials // 1000} blocks)")
            timings: dict[str, float] = {}
            rows: dict[str, dict[str, Any]] = {}
            for label, executor in (
                ("1 process", None),
                (f"{w} local workers", local),
                (f"dask, {w} workers", dask),
            ):
                ticks: list[float] = []

                def tick(k: int, _e: float, ticks: list[float] = ticks) -> None:
                    ticks.append(time.perf_counter())

                start = time.perf_counter()
                result = rule.run(cfg, plan, trials=args.trials, threads=1, executor=executor, progress=tick)
                timings[label] = ticks[-1] - start
                rows[label] = {k: v for k, v in result.row().items() if k != "elapsed_s"}
                blocks_per_s = args.trials / 1000 / timings[label]
                print(
                    f"{label:>18}: {timings[label]:6.2f} s wall, {blocks_per_s:.2f} blocks/s"
                    f" ({blocks_per_s / (1 if executor is None else w):.3f} a worker)"
                )
            one = timings["1 process"]
            identical = all(same(rows["1 process"], r) for r in rows.values())
            print(f"   block: {one / (args.trials / 1000):.2f} s in one process; rows identical: {identical}")
            for label in list(timings)[1:]:
                print(f"   {label}: {one / timings[label]:.2f}x one process")

            print(f"-- per task: {args.tasks:,} tasks that do nothing")
            for label, executor in ((f"{w} local workers", local), (f"dask, {w} workers", dask)):
                start = time.perf_counter()
                n = sum(1 for _ in executor.map(nothing, list(range(args.tasks))))
                per = (time.perf_counter() - start) / n
                share = per / (one / (args.trials / 1000))
                print(f"{label:>18}: {per * 1e3:.2f} ms a task ({share:.2%} of a block)")

    print(
        f"-- compare: baseline + empty_guard + recheck, {args.compare_trials:,} trials each (whole estimate)"
    )
    names = ["empty_guard", "recheck"]
    times = {}
    tables = {}
    for label, executor in (("1 process", None), (f"{w} local workers", LocalExecutor(w))):
        start = time.perf_counter()
        if executor is None:
            table = compare.compare(cfg, names, trials=args.compare_trials, plan=plan, threads=1)
        else:
            with executor:
                table = compare.compare(cfg, names, trials=args.compare_trials, plan=plan, executor=executor)
        times[label] = time.perf_counter() - start
        tables[label] = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in table]
        print(f"{label:>18}: {times[label]:6.2f} s wall")
    identical = all(same(a, b) for a, b in zip(*tables.values(), strict=True))
    print(f"   {times['1 process'] / times[f'{w} local workers']:.2f}x; rows identical: {identical}")


if __name__ == "__main__":
    main()
