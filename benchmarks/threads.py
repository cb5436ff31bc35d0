"""How the engine's threads share the windows: tasks taken one at a time against equal halves.

``python benchmarks/threads.py [--trials 3000] [--rounds 7]`` on ``configs/bench.toml``: the
kernel on one thread, then on 2 threads with the windows' tasks of 16 taken one at a time
(what ``riskmc.engine.simulate`` does) and in two equal halves, interleaved over the rounds
in one process; wall seconds, best and median, and the rows checked identical.
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/bench.toml")
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from riskmc import engine
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
    n = batch.n

    def halves() -> np.ndarray:
        out = np.empty((n, K.NW))
        half = n // 2
        parts = [(0, half), (half, n)]
        workers = [threading.Thread(target=K.simulate_windows, args=(*inputs, out, *p)) for p in parts]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return out

    def serial() -> np.ndarray:
        out = np.empty((n, K.NW))
        K.simulate_windows(*inputs, out, 0, n)
        return out

    modes = {"serial": serial, "static halves": halves, "dynamic": lambda: engine.simulate(batch, threads=2)}
    reference = serial()  # (loaded before anything is timed)
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(args.rounds):
        for mode, run in modes.items():
            start = time.perf_counter()
            out = run()
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
