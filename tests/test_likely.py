"""Tests of the most likely failure path (riskmc.likely, ``riskmc explain --most-likely``):
the measures of each replayed event are read at the engine's own addresses and obey the
model's laws exactly; the draws follow the weights; the command prints and refuses clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from riskmc import estimators
from riskmc.cli import app
from riskmc.engine import kernel as K
from riskmc.likely import features, most_likely
from riskmc.params import sample_windows
from riskmc.sweep import toml_value
from tests.conftest import STRESS, stress_config

SEED = 3
#: Events need a degraded run (retries of a degraded run are the mechanism).
DEGRADED = ["degraded.prob=0.002", "write.fail_prob=0.0"]
#: No degraded run at all: events come from ordinary retries and the latency tail.
NO_DEGRADED = ["degraded.prob=0", "cleanup.keep_generations=2"]


def test_every_draw_obeys_the_model_and_is_read_at_the_engine_s_addresses() -> None:
    cfg = stress_config(DEGRADED)
    plan = estimators.resolve(cfg, SEED, "is")
    m = most_likely(cfg, SEED, 3000, plan, draws=30)
    assert m is not None and len(m.draws) == 30 and m.event_windows > 0
    keep = int(cfg.values["cleanup.keep_generations"])  # type: ignore[call-overload]
    for f in m.draws:
        # a plan is deleted only by the clean-up of a run more than G generations newer
        assert f.overtaken >= keep + 1 and f.generation in f.deleted
        assert 0 <= f.retried_writes <= f.writes and f.max_attempts >= 1
        assert f.degraded  # write.fail_prob 0: only a degraded run can retry, and one must
        assert f.event_after_s > 0 and f.slowdown > 1
    # the attempts behind the retried writes are the engine's: its durations are the replay's
    rep = m.representative
    params = sample_windows(cfg, SEED, [rep.trial])
    batch = plan.batch(params, SEED)
    start = next(
        r
        for r in rep.records
        if r["kind"] == "run_start" and r["gen"] == features(cfg, SEED, plan, rep).generation  # type: ignore[union-attr]
    )
    r = float(batch.fp[0, K.F_R1])
    for j, d in enumerate(start["durations"]):
        duration, _ = K.write_duration(
            *batch.key,
            rep.trial,
            rep.cell,
            start["enactor"],
            start["run"],
            j,
            batch.fp[0],
            batch.ip[0],
            batch.emp_latency,
            r,
            float(K.log_(r)),
            0.0,
        )
        assert duration == d
    assert most_likely(cfg, SEED, 3000, plan, draws=30).draws == m.draws  # addressed: the same draws


def test_without_degraded_runs_the_path_is_the_retries() -> None:
    cfg = stress_config(NO_DEGRADED)
    m = most_likely(cfg, SEED, 4000, estimators.naive_plan(), draws=20)
    assert m is not None
    assert m.share(lambda f: f.degraded) == 0.0
    assert all(f.overtaken >= 3 for f in m.draws)  # G = 2
    assert m.quartiles("slowdown")[0] > 1.0  # the culprit run is slower than its window's others


def test_no_event_is_none() -> None:
    cfg = stress_config(["enactors.count=1"])  # K = 1: no event is possible
    assert most_likely(cfg, SEED, 1000, estimators.naive_plan(), draws=5) is None


runner = CliRunner()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    cfg = dict(STRESS)
    lines = ['name = "likely"']
    lines += [f"{section} = {toml_value(table)}" for section, table in cfg.items()]
    path = tmp_path / "likely.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_most_likely(config_file: Path) -> None:
    args = ["explain", str(config_file), "--most-likely", "--trials", "1500", "--seed", str(SEED)]
    result = runner.invoke(app, [*args, "--mitigation", "recheck"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "the most likely way the record empties" in out and "the smallest slow-down" in out
    assert "EMPTY RECORD" in out and "with recheck" in out
    doc = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert doc["scenario"]["draws"] == 60 and np.isfinite(doc["scenario"]["quartiles"]["slowdown"]["median"])
    for bad, word in ((["--trial", "3"], "--trial/--cell"),):
        wrong = runner.invoke(app, [*args, *bad])
        assert wrong.exit_code == 2 and word in wrong.stderr
    wrong = runner.invoke(app, ["explain", str(config_file), "--trials", "10"])
    assert wrong.exit_code == 2 and "--trials: only with --most-likely" in wrong.stderr
    wrong = runner.invoke(app, ["explain", str(config_file), "--estimator", "is"])
    assert wrong.exit_code == 2 and "--estimator/--threads: only with --most-likely" in wrong.stderr
