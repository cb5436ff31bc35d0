"""How the engine's threads share the windows: numba's dynamic scheduling against equal halves.

``python benchmarks/threads.py [--trials 3000] [--rounds 7]`` on ``configs/bench.toml``: the
serial kernel, then the parallel kernel on 2 threads with the windows' tasks handed out one
at a time (``set_parallel_chunksize(1)``, what ``riskmc.engine.simulate`` does) and in equal
static halves (chunk size 0), interleaved over the rounds in one process; wall seconds, best
and median, and the rows checked identical.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/bench.toml")
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from riskmc.config import load_config
    from riskmc.engine import kernel as K
    from riskmc.params import sample_windows

    batch = sample_windows(load_config(args.config), 1, args.trials).batch(1)
    inputs = (
        *batch.key,
        batch.fp,
        batch.ip,
        batch.weights,
        batch.emp_planner,
        batch.emp_latency,
        batch.emp_repair,
    )
    numba.set_num_threads(2)
    reference = K.simulate_windows_serial(*inputs)
    K.simulate_windows_parallel(*inputs)  # loaded before anything is timed
    times: dict[str, list[float]] = {"serial": [], "static halves": [], "dynamic": []}
    for _ in range(args.rounds):
        for mode in times:
            start = time.perf_counter()
            if mode == "serial":
                out = K.simulate_windows_serial(*inputs)
            else:
                previous = numba.set_parallel_chunksize(1 if mode == "dynamic" else 0)
                out = K.simulate_windows_parallel(*inputs)
                numba.set_parallel_chunksize(previous)
            times[mode].append(time.perf_counter() - start)
            assert np.array_equal(out, reference), mode
    best, median = min(times["serial"]), float(np.median(times["serial"]))
    for mode, t in times.items():
        print(
            f"{mode:>14}: best {min(t):.3f} s ({best / min(t):.2f}x), "
            f"median {np.median(t):.3f} s ({median / np.median(t):.2f}x); rows identical"
        )


if __name__ == "__main__":
    main()
