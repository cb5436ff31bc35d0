"""`riskmc explain`: the failure behind an estimate, as a timeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from riskmc import explain as ex
from riskmc.cli import app
from riskmc.compare import scenarios
from riskmc.config import load_config
from riskmc.draws import ChunkDraws
from riskmc.engine import simulate_cells
from riskmc.params import sample_block

ROOT = Path(__file__).resolve().parent.parent
STRESS = ROOT / "configs" / "stress.toml"


def test_found_trial_replays_the_engines_event() -> None:
    config = load_config(STRESS)
    trial = ex.find_event_trial(config, config.seed, max_trials=5000)
    assert trial is not None
    params = sample_block(config, config.seed, trial // 1000)
    cells = simulate_cells(params, ChunkDraws(config.seed, [trial // 1000], [params]))
    assert cells.event[trial % 1000] and not cells.event[: trial % 1000].any()  # the first one
    rep = ex.replay(config, config.seed, trial)
    assert rep.outcome.event
    assert rep.outcome.event_time_s == np.float64(cells.event_time_s[trial % 1000])
    text = ex.narrate(rep)
    event = rep.records[-1]
    assert event["kind"] == "event"
    assert "EMPTY RECORD" in text
    assert f"endpoint(s) {', '.join(map(str, event['affected']))}" in text
    assert "DEGRADED" in text  # the slow run the post-mortem describes is the one followed
    assert "cleans up" in text


def test_the_same_trial_under_conditional_write_has_no_empty_record() -> None:
    config = load_config(STRESS)
    trial = ex.find_event_trial(config, config.seed, max_trials=5000)
    assert trial is not None
    base = ex.replay(config, config.seed, trial)
    ((_, guarded),) = scenarios(config, ["conditional_write"])[1:]
    rep = ex.replay(guarded, config.seed, trial)
    assert not rep.outcome.event
    text = ex.narrate(rep, like=base)
    assert "EMPTY RECORD" not in text
    assert "rejected" in text
    assert f"no empty record by {base.outcome.event_time_s:.3f}" in text


def test_cli_text_and_json() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["explain", str(STRESS), "--mitigation", "recheck"])
    assert result.exit_code == 0, result.output
    assert "EMPTY RECORD" in result.stdout
    assert "with recheck" in result.stdout
    result = runner.invoke(app, ["explain", str(STRESS), "--json", "--mitigation", "deadline"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["event"] is True and doc["timeline"][-1]["kind"] == "event"
    assert set(doc["mitigations"]) == {"deadline"}


def test_cli_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    quiet = tmp_path / "quiet.toml"
    quiet.write_text("[window]\nhours = 0.05\n[degraded]\nprob = 0.0\n[cleanup]\nkeep_generations = 100000\n")
    result = runner.invoke(app, ["explain", str(quiet), "--search-trials", "1000"])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: no empty-record event")
    result = runner.invoke(app, ["explain", str(STRESS), "--mitigation", "nonsense"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
