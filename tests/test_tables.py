"""Tests of riskmc.tables: tidy rows to CSV/Parquet, written atomically, read back."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from riskmc import estimators
from riskmc.estimators import Run
from riskmc.events import events_frame, exceedance_frame
from riskmc.tables import build_frame, read_table, table_paths, write_table

from .conftest import stress_config

ROWS: list[dict[str, Any]] = [
    {"scenario": "a", "p": 0.25, "events": 3, "mixed": 1, "note": None, "flag": True},
    {"scenario": "b", "p": 0.5, "events": 4, "mixed": 2.5, "note": "x", "flag": False},
]
NEW_ROWS: list[dict[str, Any]] = [{"scenario": "new", "p": 0.75, "events": 9}]


def _tmp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_build_frame_types_and_order() -> None:
    df = build_frame([*ROWS, {"scenario": "c", "extra": 1.5}])
    assert df.columns == ["scenario", "p", "events", "mixed", "note", "flag", "extra"]
    assert df.schema["scenario"] == pl.String
    assert df.schema["p"] == pl.Float64
    assert df.schema["events"] == pl.Int64
    assert df.schema["mixed"] == pl.Float64  # int and float -> float
    assert df.schema["note"] == pl.String
    assert df.schema["flag"] == pl.Boolean
    assert df["mixed"].to_list() == [1.0, 2.5, None]
    assert df["extra"].to_list() == [None, None, 1.5]
    # A number in one row and a distribution's text in another: a string column.
    mixed = build_frame([{"k": 30.0}, {"k": "expon(scale=30)"}])
    assert mixed.schema["k"] == pl.String
    assert mixed["k"].to_list() == ["30.0", "expon(scale=30)"]
    assert build_frame([{"n": None}]).schema["n"] == pl.String


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "deep" / "dir" / "res.whatever"
    paths = write_table(ROWS, out, [fmt])
    assert paths == [tmp_path / "deep" / "dir" / f"res.{fmt}"]
    df = read_table(paths[0])
    assert df.columns == list(ROWS[0])
    assert df["scenario"].to_list() == ["a", "b"]
    assert df["p"].to_list() == [0.25, 0.5]
    assert df["events"].to_list() == [3, 4]
    assert df["mixed"].to_list() == [1.0, 2.5]
    assert df.schema["mixed"] == pl.Float64
    assert df["note"].to_list() == [None, "x"]
    assert df["flag"].to_list() == [True, False]
    assert _tmp_files(paths[0].parent) == []
    mode = stat.S_IMODE(paths[0].stat().st_mode)
    assert mode & 0o044, "result files get the usual permissions, not mkstemp's 0600"


def test_both_formats_and_special_floats(tmp_path: Path) -> None:
    rows = [{"x": math.inf, "y": math.nan, "s": "t"}]
    paths = write_table(rows, tmp_path / "r", ["csv", "parquet"])
    assert paths == table_paths(tmp_path / "r", ["csv", "parquet"])
    assert [p.suffix for p in paths] == [".csv", ".parquet"]
    for p in paths:
        df = read_table(p)
        assert df["x"][0] == math.inf
        assert math.isnan(df["y"][0])


def test_dataframe_input_and_overwrite(tmp_path: Path) -> None:
    write_table(ROWS, tmp_path / "r", "csv")
    write_table(pl.DataFrame(NEW_ROWS), tmp_path / "r", "csv")
    assert read_table(tmp_path / "r.csv")["scenario"].to_list() == ["new"]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="xml"):
        write_table(ROWS, tmp_path / "r", ["xml"])
    with pytest.raises(ValueError):
        write_table(ROWS, tmp_path / "r", [])
    with pytest.raises(ValueError, match="suffix"):
        read_table(tmp_path / "r.txt")
    assert list(tmp_path.iterdir()) == []


def _failing_writer(exc: BaseException) -> Any:
    def write(self: pl.DataFrame, file: Any, *args: Any, **kwargs: Any) -> None:
        file.write(b"partial garbage")
        raise exc

    return write


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failure_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, exc: BaseException
) -> None:
    (target,) = write_table(ROWS, tmp_path / "r", [fmt])
    before = target.read_bytes()
    monkeypatch.setattr(pl.DataFrame, f"write_{fmt}", _failing_writer(exc))
    with pytest.raises(type(exc)):
        write_table(NEW_ROWS, tmp_path / "r", [fmt])
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert read_table(target)["scenario"].to_list() == ["a", "b"]
    assert _tmp_files(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_failure_without_previous_file_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pl.DataFrame, "write_csv", _failing_writer(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_table(ROWS, tmp_path / "r", ["csv"])
    assert list(tmp_path.iterdir()) == []


def test_failure_in_second_format_keeps_both_old_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = write_table(ROWS, tmp_path / "r", ["csv", "parquet"])
    before = [p.read_bytes() for p in paths]
    monkeypatch.setattr(pl.DataFrame, "write_parquet", _failing_writer(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_table(NEW_ROWS, tmp_path / "r", ["csv", "parquet"])
    assert [p.read_bytes() for p in paths] == before
    assert _tmp_files(tmp_path) == []


def test_unwritable_directory_raises_oserror(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError):
        write_table(ROWS, blocker / "r", ["csv"])
    assert os.listdir(tmp_path) == ["file"]


# -- tables of the library's own runs ---------------------------------------------------------


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


@pytest.fixture(scope="module")
def small_run() -> Run:
    return estimators.run(stress_config(), estimators.naive_plan(), seed=1, trials=300, n_resamples=50)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_results_row_round_trip(tmp_path: Path, small_run: Run, fmt: str) -> None:
    """A results row (estimates with NaN, inf-free floats, method texts, empty strings, the
    config's distributions as text) reads back value for value, in column order."""
    row = small_run.row()
    assert row["events"] > 0 and row["unobserved_strata"] == "" and math.isnan(row["target_rel_err"])
    (path,) = write_table([row, row], tmp_path / "results", [fmt])
    df = read_table(path)
    assert df.columns == list(row) and df.height == 2
    mismatched = {k: (v, df[k][1]) for k, v in row.items() if not _same(v, df[k][1])}
    assert mismatched == {}
    assert df.schema["events"] == pl.Int64 and df.schema["p_cell_window"] == pl.Float64
    assert df.schema["planner.interval"] == pl.String


def test_events_and_exceedance_frames_round_trip(tmp_path: Path, small_run: Run) -> None:
    events = events_frame(small_run)
    exceedance = exceedance_frame(small_run)
    assert events.height == small_run.events > 0 and exceedance.height > 1
    for frame, name in ((events, "events"), (exceedance, "exceedance")):
        (parquet,) = write_table(frame, tmp_path / name, ["parquet"])
        assert read_table(parquet).equals(frame)
        (csv,) = write_table(frame, tmp_path / name, ["csv"])
        back = read_table(csv)
        assert back.columns == frame.columns and back.height == frame.height
        for column, dtype in frame.schema.items():
            if dtype == pl.Float64:
                np.testing.assert_array_equal(back[column].to_numpy(), frame[column].to_numpy())
