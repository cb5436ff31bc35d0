"""Result tables: tidy rows to CSV and Parquet files, written atomically, and read back.

A result file is either the previous complete version or the new complete version, never a
half-written one: every file is first written to a hidden temporary file in the target's
directory (``.<name>.<pid>.<random>.tmp``), flushed and fsynced, and only then renamed onto the
target with :func:`os.replace`.  If anything fails (including Ctrl-C), the temporary files
are removed and the targets are left as they were.  When several formats are written, all
temporary files are completed before the first rename, so a failure while writing leaves
every format at its previous version.  A process killed (SIGKILL) while writing leaves its
temporary file; the next write of the same target removes it (its PID is gone).
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import os
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl

__all__ = ["FORMATS", "build_frame", "read_table", "remove_stale_temps", "table_paths", "write_table"]

#: File formats write_table knows, with the suffix of each.
FORMATS: dict[str, str] = {"csv": ".csv", "parquet": ".parquet"}

_Writer = Callable[[pl.DataFrame, IO[bytes]], None]


def _write_csv(df: pl.DataFrame, f: IO[bytes]) -> None:
    df.write_csv(f)


def _write_parquet(df: pl.DataFrame, f: IO[bytes], metadata: Mapping[str, str] | None = None) -> None:
    df.write_parquet(f, metadata=dict(metadata) if metadata else None)


_WRITERS: dict[str, _Writer] = {"csv": _write_csv, "parquet": _write_parquet}


# -- rows to a frame -------------------------------------------------------------------------------


def _is_bool(v: object) -> bool:
    return isinstance(v, (bool, np.bool_))


def _column(name: str, values: list[Any]) -> pl.Series:
    """One column with a predictable type.

    All integers -> Int64 (UInt64 when one is 2^63 or more, as seeds can be); integers and
    floats -> Float64; all booleans -> Boolean; all
    strings -> String; anything else mixed (e.g. a number in one row, a distribution's text
    in another) -> String.  None is a null; a column of nulls only is String.
    """
    present = [v for v in values if v is not None]
    if not present:
        return pl.Series(name, values, dtype=pl.String)
    if all(_is_bool(v) for v in present):
        return pl.Series(name, [None if v is None else bool(v) for v in values], dtype=pl.Boolean)
    if all(isinstance(v, numbers.Real) and not _is_bool(v) for v in present):
        if all(isinstance(v, numbers.Integral) for v in present):
            ints = [None if v is None else int(v) for v in values]
            lo, hi = min(int(v) for v in present), max(int(v) for v in present)
            if -(2**63) <= lo and hi < 2**63:
                return pl.Series(name, ints, dtype=pl.Int64)
            if 0 <= lo and hi < 2**64:  # seeds reach 2^64 - 1
                return pl.Series(name, ints, dtype=pl.UInt64)
            return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)
        return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
    if all(isinstance(v, str) for v in present):
        return pl.Series(name, values, dtype=pl.String)
    return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def build_frame(rows: Sequence[Mapping[str, Any]] | pl.DataFrame) -> pl.DataFrame:
    """A DataFrame from tidy rows; columns in order of first appearance (see :func:`_column`).

    A row that lacks a column gets a null there.  A DataFrame is returned unchanged.
    """
    if isinstance(rows, pl.DataFrame):
        return rows
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return pl.DataFrame([_column(name, [row.get(name) for row in rows]) for name in names])


# -- atomic files ----------------------------------------------------------------------------------

_umask: int | None = None


def _new_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file (0o666 minus the umask)."""
    global _umask
    if _umask is None:
        _umask = os.umask(0o022)
        os.umask(_umask)
    return 0o666 & ~_umask


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process (or not a PID): leave its file alone
    return True


def remove_stale_temps(target: Path) -> list[Path]:
    """Remove the temporary files of ``target`` left by processes that no longer exist (a run
    killed with SIGKILL while writing cannot remove its own); the paths removed."""
    removed: list[Path] = []
    prefix = f".{target.name}."
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid_text = name[len(prefix) :].split(".", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            path = Path(entry.path)
            _remove(path)
            removed.append(path)
    return removed


def _write_temp(target: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write a complete, fsynced temporary file next to ``target`` through ``write``; its path.

    Its name, ``.<target name>.<pid>.<random>.tmp``, tells a later writer whose it was."""
    remove_stale_temps(target)
    f = tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", delete=False
    )
    tmp = Path(f.name)
    try:
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        try:
            mode = target.stat().st_mode & 0o7777
        except OSError:
            mode = _new_file_mode()
        os.chmod(tmp, mode)  # mkstemp makes 0o600; give the usual permissions
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def write_atomically(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Write one file through ``write`` atomically: a temporary file in the same directory,
    fsynced, then renamed onto ``path`` (parents created).  A failure, Ctrl-C included,
    leaves the previous file untouched and no temporary file.  The path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(target, write)
    try:
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    _fsync_dir(target.parent)
    return target


def _fsync_dir(directory: Path) -> None:
    """Make the renames durable (best effort; not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _formats(formats: Sequence[str] | str) -> list[str]:
    if isinstance(formats, str):
        formats = [formats]
    out: list[str] = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown table format {fmt!r} (known: {', '.join(FORMATS)})")
        if fmt not in out:
            out.append(fmt)
    if not out:
        raise ValueError("no table format given")
    return out


def table_paths(out: str | os.PathLike[str], formats: Sequence[str] | str) -> list[Path]:
    """The files :func:`write_table` writes for ``out``: its suffix replaced per format."""
    base = Path(out)
    return [base.with_suffix(FORMATS[fmt]) for fmt in _formats(formats)]


def write_table(
    rows: Sequence[Mapping[str, Any]] | pl.DataFrame,
    out: str | os.PathLike[str],
    formats: Sequence[str] | str = ("csv", "parquet"),
    metadata: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write rows as ``out.with_suffix(".csv")`` and/or ``.parquet``, atomically; the paths.

    ``formats`` holds ``"csv"`` and/or ``"parquet"``.  Parent directories are created.
    ``metadata`` (string keys and values, :func:`riskmc.provenance.provenance`) is stored as
    the Parquet file's key-value metadata.
    On any exception (also KeyboardInterrupt) no temporary file is left behind and the
    previous target files are untouched (see the module docstring).
    """
    fmts = _formats(formats)
    df = build_frame(rows)
    targets = table_paths(out, fmts)
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []
    try:
        for fmt, target in zip(fmts, targets, strict=True):
            writer = (
                functools.partial(_write_parquet, df, metadata=metadata)
                if fmt == "parquet"
                else (functools.partial(_WRITERS[fmt], df))
            )
            temps.append(_write_temp(target, writer))
        for i, (tmp, target) in enumerate(zip(temps, targets, strict=True)):
            os.replace(tmp, target)
            temps[i] = target  # renamed: nothing left to clean up
    except BaseException:
        for tmp, target in zip(temps, targets, strict=False):
            if tmp != target:
                _remove(tmp)
        raise
    for directory in dict.fromkeys(t.parent for t in targets):
        _fsync_dir(directory)
    return targets


#: Largest table read back (for --resume, plot): riskmc's own tables are far smaller, and
#: polars would panic rather than fail on a huge or sparse file it cannot hold.
MAX_READ_BYTES = 512 * 2**20


def read_table(path: str | os.PathLike[str]) -> pl.DataFrame:
    """A result table from a ``.csv`` or ``.parquet`` file (by suffix); ValueError for a file
    that is not a regular one or is larger than MAX_READ_BYTES."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"{p}: cannot tell the table format from the suffix (expected .csv or .parquet)")
    st = p.stat()
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{p}: not a regular file")
    if st.st_size > MAX_READ_BYTES:
        raise ValueError(
            f"{p}: {st.st_size:,} bytes, larger than any riskmc table ({MAX_READ_BYTES:,} at most)"
        )
    if suffix == ".csv":
        return pl.read_csv(p, glob=False, infer_schema_length=None)  # every row: no late type surprise
    return pl.read_parquet(p, glob=False)
