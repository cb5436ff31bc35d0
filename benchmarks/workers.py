"""Block throughput of one estimate on worker processes (issue: every command on a cluster).

``python benchmarks/workers.py [--trials N] [--workers W]``: wall seconds of the blocks of
``riskmc.estimators.run`` on ``configs/baseline.toml`` (importance sampling, the plan resolved
once, the pilot and the estimation excluded: only the blocks are timed) in this process with
one thread, then on W local worker processes of one thread each, and the rows compared.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from riskmc import estimators
    from riskmc.config import load_config
    from riskmc.estimators import rule
    from riskmc.execute import LocalExecutor

    cfg = load_config("configs/baseline.toml")
    plan = estimators.resolve(cfg, cfg.seed, "auto")
    timings: dict[str, float] = {}
    rows = {}
    for label, executor in (("1 process", None), (f"{args.workers} workers", LocalExecutor(args.workers))):
        blocks = []

        def tick(k: int, _e: float, blocks: list[float] = blocks) -> None:
            blocks.append(time.perf_counter())

        start = time.perf_counter()
        result = rule.run(cfg, plan, trials=args.trials, threads=1, executor=executor, progress=tick)
        timings[label] = blocks[-1] - start
        rows[label] = {k: v for k, v in result.row().items() if k != "elapsed_s"}
        print(f"{label:>10}: blocks {timings[label]:.2f} s wall ({args.trials:,} region-windows)")
    one, many = timings["1 process"], timings[f"{args.workers} workers"]
    same = all(
        (a == b) or (isinstance(a, float) and np.isnan(a) and np.isnan(b))
        for a, b in zip(*(r.values() for r in rows.values()), strict=True)
    )
    print(f"speed-up {one / many:.2f}x; rows identical: {same}")
    print(f"per block: {one / (args.trials / 1000) * 1e3:.0f} ms in one process")


if __name__ == "__main__":
    main()
