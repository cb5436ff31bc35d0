"""Tests of the riskmc command line (riskmc.cli) through typer's CliRunner."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner, Result

import riskmc
import riskmc.cli as cli
from riskmc.cli import app, format_number, output_base, trial_progress
from riskmc.tables import read_table

CONFIG = """\
trials = 1000

[window]
hours = 0.25

[planner]
interval = {dist = "expon", scale = 3}

[enactors]
poll_interval = 2.0

[endpoints]
count = 5

[degraded]
prob = 0.02
fail_prob = 0.8

[cleanup]
keep_generations = 3
"""

TRIALS = "200"  # one engine block: keeps every run well under a second or two

REQUIRED_COLUMNS = [
    "scenario",
    "p_cell_window",
    "p_cell_window_lo",
    "p_cell_window_hi",
    "p_cell_window_method",
    "mean_plan_age_s",
    "mean_plan_age_s_lo",
    "mean_plan_age_s_hi",
    "mean_plan_age_s_method",
    "events",
    "trials",
    "seed",
    "version",
    "elapsed_s",
    "rel_err",
    "estimator",
    "write.fail_prob",
    "degraded.prob",
    "endpoints.count",
]

runner = CliRunner()


def invoke(args: Sequence[str]) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def assert_one_error_line(result: Result, *fragments: str, code: int = 2) -> str:
    """Exit ``code``, exactly one non-empty stderr line starting 'error:', no traceback."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "small.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def first_run(config_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    out = tmp_path_factory.mktemp("run") / "x"
    result = invoke(["run", config_file, "--trials", TRIALS, "--seed", "7", "--out", out])
    return result, out


# -- successful runs -------------------------------------------------------------------------------


def test_run_writes_csv_and_parquet(first_run: tuple[Result, Path]) -> None:
    result, out = first_run
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # not a terminal: no progress bar
    csv, parquet = out.with_suffix(".csv"), out.with_suffix(".parquet")
    assert csv.is_file() and parquet.is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.csv", "x.parquet"]
    df = read_table(csv)
    assert df.height == 1
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    assert not missing
    row = df.row(0, named=True)
    assert row["scenario"] == "small"
    assert row["trials"] == int(TRIALS)
    assert row["seed"] == 7
    assert row["version"] == riskmc.__version__
    assert row["p_cell_window_method"] == "wilson"
    assert row["p_cell_window_lo"] <= row["p_cell_window"] <= row["p_cell_window_hi"]
    assert row["write.fail_prob"] == pytest.approx(0.01)
    assert row["degraded.prob"] == pytest.approx(0.02)
    assert row["events"] == round(row["p_cell_window"] * row["trials"])
    pq = read_table(parquet)
    assert pq.columns == df.columns
    assert pq.row(0, named=True)["p_cell_window"] == row["p_cell_window"]


def test_run_summary(first_run: tuple[Result, Path]) -> None:
    result, out = first_run
    text = result.stdout
    for fragment in ("small", "p_cell_window", "95% CI", "wilson", "mean_plan_age_s", "runs_per_hour"):
        assert fragment in text
    assert "trials/s" in text
    assert str(out.with_suffix(".csv")) in text
    assert str(out.with_suffix(".parquet")) in text
    assert "\x1b[" not in text  # plain text when not a terminal


def test_same_seed_same_estimates(first_run: tuple[Result, Path], config_file: Path, tmp_path: Path) -> None:
    _, out = first_run
    again = invoke(["run", config_file, "--trials", TRIALS, "--seed", "7", "--out", tmp_path / "y", "-q"])
    assert again.exit_code == 0, again.output
    assert again.stdout == ""  # --quiet
    a = read_table(out.with_suffix(".parquet")).drop("elapsed_s")
    b = read_table(tmp_path / "y.parquet").drop("elapsed_s")
    assert a.equals(b)


def test_set_changes_parameter_column_and_format_csv(config_file: Path, tmp_path: Path) -> None:
    result = invoke(
        [
            "run",
            config_file,
            "--trials",
            TRIALS,
            "--set",
            "write.fail_prob=0.2",
            "--set",
            "name=tweaked",
            "--out",
            tmp_path / "z.parquet",
            "--format",
            "csv",
        ]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.csv"]
    row = read_table(tmp_path / "z.csv").row(0, named=True)
    assert row["write.fail_prob"] == pytest.approx(0.2)
    assert row["scenario"] == "tweaked"
    assert row["seed"] == 20251020  # the config's default seed


def test_default_out_is_results_dir(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(["run", config_file, "--trials", TRIALS, "--format", "parquet", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["small.parquet"]
    assert isinstance(read_table(tmp_path / "results" / "small.parquet"), pl.DataFrame)


# -- errors --------------------------------------------------------------------------------------


def write_config(directory: Path, text: str, name: str = "bad.toml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("[window]\nhourz = 1\n", ["config key 'window.hourz'", "unknown key", "window.hours"]),
        ("[degraded]\nprob = 1.5\n", ["config key 'degraded.prob'", "1.5"]),
        ('[write]\nlatency = {dist = "gamam", a = 2}\n', ["config key 'write.latency.dist'", "gamam"]),
        ("[window\nhours = 1\n", ["bad.toml: invalid TOML"]),
    ],
    ids=["unknown-key", "probability", "unknown-distribution", "invalid-toml"],
)
def test_bad_config(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = write_config(tmp_path, text)
    result = invoke(["run", path, "--out", tmp_path / "out" / "x"])
    assert_one_error_line(result, *fragments)
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert_one_error_line(invoke(["run", missing]), f"error: {missing}: ", "cannot read")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--trials", "0"], ["--trials"]),
        (["--trials", "many"], ["--trials"]),
        (["--seed", "-1"], ["--seed"]),
        (["--chunk-trials", "0"], ["--chunk-trials"]),
        (["--format", "xml"], ["--format", "xml"]),
        (["--set", "noequals"], ["--set", "noequals", "KEY=VALUE"]),
        (["--set", "write.fial_prob=0.1"], ["write.fial_prob", "write.fail_prob"]),
        (["--set", "degraded.prob=2"], ["degraded.prob"]),
        (["--bogus"], ["--bogus"]),
    ],
)
def test_bad_options(config_file: Path, tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    result = invoke(["run", config_file, "--out", tmp_path / "x", *args])
    assert_one_error_line(result, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_out(config_file: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a directory")
    result = invoke(["run", config_file, "--trials", TRIALS, "--out", blocker / "x"])
    assert_one_error_line(result, "--out", "not a directory")
    assert result.stdout == ""


def test_usage_errors_are_one_line() -> None:
    assert_one_error_line(invoke(["run"]), "CONFIG")
    assert_one_error_line(invoke(["rn"]), "rn")


def test_ctrl_c_exits_130_without_files(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_region_scenario", interrupted)
    result = invoke(["run", config_file, "--out", tmp_path / "x"])
    assert_one_error_line(result, "interrupted", code=130)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_writing_keeps_old_results(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "x.csv"
    old.write_text("old,results\n1,2\n")

    def interrupted_write(self: pl.DataFrame, file: object, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pl.DataFrame, "write_parquet", interrupted_write)
    result = invoke(["run", config_file, "--trials", TRIALS, "--out", tmp_path / "x"])
    assert_one_error_line(result, "interrupted", code=130)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]
    assert old.read_text() == "old,results\n1,2\n"


def test_python_dash_m_error_exit_code(tmp_path: Path) -> None:
    """The real process path (sys.exit, __main__) with a usage error: one line, exit 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "riskmc", "run", str(tmp_path / "none.toml"), "--trials", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--trials" in lines[0]


# -- version, helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["version"], ["--version"]])
def test_version(args: list[str]) -> None:
    result = invoke(args)
    assert result.exit_code == 0
    assert riskmc.__version__ in result.stdout


def test_output_base(tmp_path: Path) -> None:
    _base, paths = output_base(None, "baseline.v2", ["csv", "parquet"])
    assert paths == [Path("results/baseline.v2.csv"), Path("results/baseline.v2.parquet")]
    _base, paths = output_base(str(tmp_path / "r.out"), "ignored", ["csv"])
    assert paths == [tmp_path / "r.csv"]
    _base, paths = output_base(str(tmp_path), "a/b", ["parquet"])
    assert paths == [tmp_path / "a_b.parquet"]
    _base, paths = output_base(f"{tmp_path}/new/", "s", ["csv"])
    assert paths == [tmp_path / "new" / "s.csv"]
    with pytest.raises(cli.CliError, match="--out"):
        output_base("", "s", ["csv"])


def test_format_number() -> None:
    assert format_number(0.0031) == "3.100e-03"
    assert format_number(2.5e-7) == "2.500e-07"
    assert format_number(0.5) == "0.5"
    assert format_number(3.93523) == "3.935"
    assert format_number(0) == "0"
    assert format_number(float("inf")) == "inf"


def test_progress_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    with trial_progress(10, "x") as cb:
        assert cb is None  # pytest's stderr is not a terminal
    monkeypatch.setattr(cli, "_stderr_is_terminal", lambda: True)
    with trial_progress(10, "[x]") as cb:
        assert cb is not None
        cb(4)
        cb(6)
