"""Tests of provenance metadata (riskmc.provenance) in the files riskmc writes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskmc import __version__
from riskmc.cli import app
from riskmc.config import load_config, parse_config
from riskmc.provenance import config_toml, provenance, read_provenance
from riskmc.tables import write_table

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "configs").glob("*.toml")))
def test_config_toml_round_trips(name: str) -> None:
    cfg = load_config(ROOT / "configs" / name, ["mitigations.deadline.seconds=30"])
    again = parse_config(tomllib.loads(config_toml(cfg)), source=name)
    assert again.hash() == cfg.hash()


def test_provenance_keys() -> None:
    cfg = load_config(ROOT / "configs" / "stress.toml")
    meta = provenance(cfg, seed=5, estimator="naive", command=["riskmc", "run", "x y.toml"])
    assert meta["riskmc_version"] == __version__
    assert meta["riskmc_seed"] == "5"
    assert meta["riskmc_estimator"] == "naive"
    assert meta["riskmc_config_hash"] == cfg.hash()
    assert meta["riskmc_command"] == "riskmc run 'x y.toml'"
    assert meta["riskmc_created_utc"].endswith("Z")
    assert all(isinstance(v, str) for v in meta.values())


def test_parquet_carries_the_metadata(tmp_path: Path) -> None:
    write_table([{"a": 1}], tmp_path / "t", ("csv", "parquet"), {"riskmc_seed": "3", "other": "x"})
    assert read_provenance(tmp_path / "t.parquet") == {"seed": "3"}


def test_every_table_of_run_carries_provenance(tmp_path: Path) -> None:
    out = tmp_path / "r"
    args = ["run", str(ROOT / "configs" / "stress.toml"), "--trials", "200", "--out", str(out)]
    args += ["--events", str(tmp_path / "ev"), "--exceedance", str(tmp_path / "ex"), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("r", "ev", "ex"):
        meta = read_provenance(tmp_path / f"{name}.parquet")
        assert meta["scenario"] == "stress" and meta["seed"] == "7"
        assert "--trials 200" in meta["command"]
        assert parse_config(tomllib.loads(meta["config_toml"])).hash() == meta["config_hash"]


def test_a_plot_carries_its_tables_provenance(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from PIL import Image

    out = tmp_path / "r"
    args = ["run", str(ROOT / "configs" / "stress.toml"), "--trials", "200", "--out", str(out)]
    assert CliRunner().invoke(app, [*args, "--exceedance", str(tmp_path / "ex"), "-q"]).exit_code == 0
    result = CliRunner().invoke(app, ["plot", str(tmp_path / "ex.csv"), "-q"])
    assert result.exit_code == 0, result.output
    text = Image.open(tmp_path / "ex.png").text  # type: ignore[attr-defined]
    assert text["riskmc_table_scenario"] == "stress"
    assert text["riskmc_table_seed"] == "7"
    assert text["riskmc_command"].startswith("riskmc plot") or "plot" in text["riskmc_command"]
