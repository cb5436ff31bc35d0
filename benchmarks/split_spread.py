"""How far split's replicates spread beyond an ideal score's (``riskmc.estimators.split.
spread_ratio``), over many pilots: the measurement behind ``HEAVY_SPREAD``, the spread above
which a run says its replicates are heavy-tailed and ``auto``'s split gives up after its
pilot (docs/model.md section 8, "The spread").

Each pilot is ``split(config, seed, replicates=10)`` (a target's pilot: replicates 0..9 of
the seed) on configs/ordinary.toml's cell with a case's overrides, seeds 100, 101, ...

    python benchmarks/split_spread.py --case bursts --pilots 40
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from riskmc.config import load_config
from riskmc.estimators import split as S

ORDINARY = Path(__file__).resolve().parents[1] / "configs" / "ordinary.toml"
CASES = {
    "tail": ['write.latency={dist="lognorm", s=1.0, scale=0.1}'],  # p ~ 1.2e-5
    "retries": ["write.fail_prob=0.45"],  # p ~ 7.5e-5
    "bursts": ["cleanup.keep_generations=2"],  # p ~ 8.7e-4
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), default="bursts")
    parser.add_argument("--pilots", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    config = load_config(ORDINARY, CASES[args.case])
    start = time.process_time()
    spreads = []
    for seed in range(100, 100 + args.pilots):
        result = S.split(config, seed, replicates=S.PILOT_REPLICATES, threads=args.threads)
        spreads.append(result.spread)
    x = np.array(spreads)
    q = np.nanpercentile(x, [5, 25, 50, 75, 95])
    above = float(np.mean(x > S.HEAVY_SPREAD))
    print(
        f"{args.case}: {args.pilots} pilots of {S.PILOT_REPLICATES} replicates; spread 5/25/50/75/95th "
        f"percentiles {', '.join(f'{v:.2f}' for v in q)}; above HEAVY_SPREAD = {S.HEAVY_SPREAD:g}: "
        f"{above:.1%} ({time.process_time() - start:.0f} CPU-s)"
    )
    if not math.isfinite(float(q[2])):
        print("note: some pilots saw no event (spread undefined)")


if __name__ == "__main__":
    main()
