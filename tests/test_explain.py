"""`riskmc explain`: the failure behind an estimate, as a timeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskmc import explain as ex
from riskmc.cli import app
from riskmc.compare import scenarios
from riskmc.config import Config, load_config
from riskmc.engine import simulate_cell
from riskmc.estimators import naive_plan, simulate
from riskmc.params import sample_windows

from .conftest import stress_config

ROOT = Path(__file__).resolve().parent.parent
STRESS = ROOT / "configs" / "stress.toml"

#: Three cells per region-window, an event in about one window in ten: the first event is
#: found in cell 1 (seed 2), cell 2 (seed 3) or cell 0 (seed 4), after some windows without.
CELLS = ["region.cells=3", "degraded.prob=0.01"]


def _engine_cells(config: Config, seed: int, trial: int) -> list[tuple[bool, float]]:
    """(event, event time or T) of every cell of region-window ``trial``, from the engine."""
    params = sample_windows(config, seed, [trial])
    batch = params.batch(seed)
    return [
        (res.event, res.observed_s)
        for res in (simulate_cell(batch, 0, c) for c in range(int(params.cells[0])))
    ]


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_found_event_is_the_engines_first_and_replays_exactly(seed: int) -> None:
    config = stress_config(CELLS)
    found = ex.find_event_trial(config, seed, max_trials=2000)
    assert found is not None
    trial, cell = found
    # the first region-window with an event, and its first cell with one
    before = simulate(config, seed, range(trial), naive_plan())
    assert not before.events.any()
    cells = _engine_cells(config, seed, trial)
    assert [event for event, _ in cells[:cell]] == [False] * cell and cells[cell][0]
    assert cell == {2: 1, 3: 2, 4: 0}[seed]  # so that the cases cover cells 0, 1 and 2
    # the reference replays it on the engine's random numbers: the same event, at the same time
    rep = ex.replay(config, seed, trial, cell)
    assert (rep.trial, rep.cell, rep.seed) == (trial, cell, seed)
    assert rep.outcome.event
    assert rep.outcome.event_time_s == cells[cell][1]
    event = rep.records[-1]
    assert event["kind"] == "event" and event["t"] == cells[cell][1]
    # the timeline: the first line names the trial and cell, the last is the event at that time
    lines = ex.narrate(rep).splitlines()
    assert lines[0] == f"scenario {config.name}, seed {seed}, trial {trial}, cell {cell}"
    assert lines[-1].startswith(f"{cells[cell][1]:12.3f}  EMPTY RECORD: endpoint(s) ")
    assert f"endpoint(s) {', '.join(map(str, event['affected']))} point to" in lines[-1]
    assert sum("EMPTY RECORD" in line for line in lines) == 1
    assert "cleans up" in ex.narrate(rep)
    doc = rep.to_json()
    assert (doc["trial"], doc["cell"], doc["event"], doc["event_time_s"]) == (
        trial,
        cell,
        True,
        cells[cell][1],
    )


def test_found_trial_follows_the_slow_run_of_the_post_mortem() -> None:
    config = load_config(STRESS)
    found = ex.find_event_trial(config, config.seed, max_trials=5000)
    assert found is not None
    rep = ex.replay(config, config.seed, *found)
    (event, t), *_ = _engine_cells(config, config.seed, found[0])[found[1] :]
    assert event and rep.outcome.event_time_s == t
    text = ex.narrate(rep)
    assert "DEGRADED" in text  # the slow run the post-mortem describes is the one followed
    assert text.splitlines()[-1].startswith(f"{t:12.3f}  EMPTY RECORD")


def test_timeline_ends_with_the_event_even_with_pending_writes() -> None:
    """Seed 11: when the event happens, another Enactor has summarised writes not yet printed;
    they belong before the EMPTY RECORD line (they happened before it)."""
    config = stress_config(CELLS)
    found = ex.find_event_trial(config, 11, max_trials=2000)
    assert found is not None
    rep = ex.replay(config, 11, *found)
    lines = ex.narrate(rep).splitlines()
    assert "EMPTY RECORD" in lines[-1]


def test_replay_of_a_cell_out_of_range() -> None:
    config = stress_config(CELLS)
    cells = int(sample_windows(config, 2, [8]).cells[0])
    assert cells == 3
    ex.replay(config, 2, 8, cells - 1)
    with pytest.raises(ValueError, match="trial 8 has 3 cell"):
        ex.replay(config, 2, 8, cells)


def test_find_event_trial_returns_none_without_events() -> None:
    config = stress_config(["degraded.prob=0", "cleanup.keep_generations=100000"])
    assert ex.find_event_trial(config, 1, max_trials=300) is None


def test_the_same_trial_under_conditional_write_has_no_empty_record() -> None:
    config = stress_config(CELLS)
    found = ex.find_event_trial(config, 2, max_trials=2000)
    assert found is not None
    trial, cell = found
    base = ex.replay(config, 2, trial, cell)
    ((_, guarded),) = scenarios(config, ["conditional_write"])[1:]
    rep = ex.replay(guarded, 2, trial, cell)
    assert not rep.outcome.event
    text = ex.narrate(rep, like=base)
    assert "EMPTY RECORD" not in text
    assert "rejected" in text
    assert text.splitlines()[-1].startswith(f"no empty record by {base.outcome.event_time_s:.3f}")


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


def test_cli_trial_and_cell(tmp_path: Path) -> None:
    config = stress_config(CELLS)
    found = ex.find_event_trial(config, 2, max_trials=2000)
    assert found is not None
    trial, cell = found
    assert cell == 1  # not cell 0: --cell must reach the others (cell 2 has no event, below)
    path = tmp_path / "cells.toml"
    path.write_text(
        "seed = 2\n[window]\nhours = 0.1\n[planner]\ninterval = { dist = 'expon', scale = 3.0 }\n"
        "[enactors]\ncount = 3\npoll_interval = 2.0\n[endpoints]\ncount = 5\n"
        "[write]\nlatency = { dist = 'lognorm', s = 0.5, scale = 0.1 }\nfail_prob = 0.05\n"
        "[degraded]\nprob = 0.01\nfail_prob = 0.8\n[cleanup]\nkeep_generations = 10\n[region]\ncells = 3\n"
    )
    assert load_config(path).values == config.values  # the same scenario as the tests above
    runner = CliRunner()
    result = runner.invoke(app, ["explain", str(path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["trial"], doc["cell"]) == (trial, cell)
    result = runner.invoke(app, ["explain", str(path), "--trial", str(trial), "--cell", str(cell)])
    assert result.exit_code == 0, result.output
    race, beyond, cascade = result.stdout.strip().partition("\nbeyond DNS, the downstream cascade")
    lines = race.strip().splitlines()
    assert lines[0].endswith(f"trial {trial}, cell {cell}")
    (_, t) = _engine_cells(config, 2, trial)[cell]
    assert lines[-1].startswith(f"{t:12.3f}  EMPTY RECORD")
    # the timeline goes on past the empty record: the event's own cascade, from its own outage
    outcome = ex.cascade_of(config, 2, trial, cell)
    assert beyond and cascade.splitlines()[-1].startswith(
        f"  outage {float(outcome.outage_min[0]):.0f} min; "
    )
    assert "DNS information restored" in cascade
    # another cell of the same window, without an event there
    result = runner.invoke(app, ["explain", str(path), "--trial", str(trial), "--cell", "2", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["cell"] == 2 and doc["event"] is _engine_cells(config, 2, trial)[2][0]
    # a cell the window does not have: one error line, exit 2
    result = runner.invoke(app, ["explain", str(path), "--trial", str(trial), "--cell", "3"])
    assert result.exit_code == 2
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --cell: ") and "3 cell(s)" in err[0]
    assert "Traceback" not in result.output and result.stdout == ""


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
