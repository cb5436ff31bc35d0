"""Files of the command line: the scenario read, where results go, tables written."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskmc.cli.core import CliError, config_error_message, one_line
from riskmc.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl

    from riskmc.config import Config

__all__ = [
    "DEFAULT_RESULTS_DIR",
    "check_writable",
    "load_scenario",
    "names_directory",
    "output_base",
    "read_existing",
    "require_directory",
    "save_table",
]

#: Longest file name (bytes) of common file systems, and what the temporary file adds to it.
NAME_MAX = 255
TEMP_NAME_EXTRA = 32

#: Where results go when ``--out`` is not given: ``results/<scenario name>.*``.
DEFAULT_RESULTS_DIR = Path("results")


def load_scenario(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Config:
    """The validated config, or a CliError naming the file or the key."""
    from riskmc.config import load_config

    try:
        return load_config(path, overrides)
    except ConfigError as e:
        raise CliError(config_error_message(e, path)) from None


def _safe_name(name: str) -> str:
    """A scenario name usable as a file name (no path separators)."""
    for sep in (os.sep, os.altsep or os.sep, "/"):
        name = name.replace(sep, "_")
    return name.strip() or "results"


def check_writable(path: Path, option: str) -> None:
    """Fail before a long run if ``path`` obviously cannot be written."""
    if "\0" in str(path):
        raise CliError(f"{option} {str(path)!r}: a path cannot hold a NUL character")
    try:
        # the temporary file beside it is named .<name>.<pid>.<random>.tmp
        if len(os.fsencode(path.name)) > NAME_MAX - TEMP_NAME_EXTRA:
            raise CliError(
                f"{option} {path.name[:40]}...: the file name is {len(os.fsencode(path.name))} bytes; "
                f"at most {NAME_MAX - TEMP_NAME_EXTRA} are possible here"
            )
        if path.is_dir():
            raise CliError(f"{option} {path}: is a directory")
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if ancestor.exists() and not ancestor.is_dir():
            raise CliError(f"{option} {path}: {ancestor} is not a directory")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise CliError(f"{option} {path}: no permission to write in {ancestor}")
        if ancestor == path.parent:
            # os.access says yes to root everywhere, /proc and /sys included: create (and
            # remove) a file there, so that a run never ends failing to write its results
            import tempfile

            with tempfile.NamedTemporaryFile(dir=ancestor, prefix=".riskmc-probe-"):
                pass
    except OSError as e:
        raise CliError(f"{option} {path}: {e.strerror or e}") from None


def names_directory(out: str, option: str = "--out") -> bool:
    """Whether ``out`` names a directory (an existing one, or a trailing separator); a
    CliError for a path that cannot even be looked at (a NUL, a name too long, a loop)."""
    if "\0" in out:
        raise CliError(f"{option} {out!r}: a path cannot hold a NUL character")
    if out.endswith(("/", os.sep)):
        return True
    try:
        return Path(out).is_dir()
    except OSError as e:
        raise CliError(f"{option} {out[:60]!r}: {e.strerror or e}") from None


def require_directory(directory: Path, option: str, out: str) -> None:
    """A directory named by the user must exist: only the default ``results/`` is created
    (a typo in --out should not leave files in a new directory nobody looks at)."""
    try:
        if directory.is_dir():
            return
        exists = directory.exists()
    except OSError as e:
        raise CliError(f"{option} {out[:60]!r}: {e.strerror or e}") from None
    if exists:
        raise CliError(f"{option} {out}: {directory} is not a directory")
    raise CliError(f"{option} {out}: the directory {directory} does not exist (create it first)")


def output_base(
    out: str | None, name: str, formats: Sequence[str], option: str = "--out"
) -> tuple[Path, list[Path]]:
    """The base path for :func:`riskmc.tables.write_table` and the files it will write.

    ``out`` None: ``results/<name>``.  An existing directory, or ``out`` ending in a path
    separator: ``<out>/<name>``.  The targets are checked for writability up front.
    """
    if out is not None and not out.strip():
        raise CliError(f"{option} {out!r}: must name a file")
    if out is None or names_directory(out, option):
        # Spelt <name>.csv so that only the ".csv" is replaced: a dotted scenario name
        # ("baseline.v2") stays whole.
        directory = DEFAULT_RESULTS_DIR if out is None else Path(out)
        base = directory / f"{_safe_name(name)}.csv"
    else:
        base = Path(out)
        if base.name in ("", ".", ".."):
            raise CliError(f"{option} {out!r}: must name a file")
    if out is not None:
        require_directory(base.parent, option, out)
    from riskmc.tables import table_paths

    paths = table_paths(base, formats)
    for p in paths:
        check_writable(p, option)
    from riskmc.cli.locks import lock_output

    lock_output(base, option)
    return base, paths


def save_table(
    rows: Sequence[Mapping[str, Any]] | pl.DataFrame,
    base: Path,
    formats: Sequence[str],
    option: str = "--out",
    metadata: Mapping[str, str] | None = None,
) -> list[Path]:
    """:func:`riskmc.tables.write_table` (rows or a DataFrame), with a file system failure as a
    CliError naming ``option``."""
    import polars as pl

    from riskmc.tables import write_table

    try:
        return write_table(rows, base, formats, metadata)
    except pl.exceptions.PolarsError as e:  # polars wraps some I/O failures of its writers
        raise CliError(f"{option} {base}: cannot write it: {one_line(e)[:300]}") from None
    except OSError as e:
        where = Path(e.filename) if isinstance(e.filename, str) and e.filename else base
        if where.name.endswith(".tmp"):  # the temporary file: name its directory instead
            where = where.parent
        raise CliError(f"{option} {base}: cannot write {where}: {e.strerror or e}") from None


#: Columns every riskmc sweep row has: a table without them is not one to resume ...
RESUME_COLUMNS = ("config_hash", "seed", "trials", "estimator", "proposal_q", "defensive_share", "version")
#: ... and those of a sweep under --estimator split.
SPLIT_RESUME_COLUMNS = ("config_hash", "seed", "replicates", "estimator", "proposal", "version")


def read_existing(paths: Sequence[Path], index_column: str = "point") -> list[dict[str, Any]]:
    """The rows of the first existing output file (for --resume); none if there is none.

    A file that is not a riskmc sweep table of this kind (its columns) is refused rather
    than overwritten: --resume means "continue this table", not "replace whatever is there"."""
    import polars as pl

    from riskmc.tables import read_table

    for path in paths:
        if path.exists():
            try:
                frame = read_table(path)
            except (OSError, ValueError, pl.exceptions.PolarsError) as e:
                raise CliError(f"--resume: cannot read {path}: {one_line(e)}") from None
            split = "replicates" in frame.columns and "trials" not in frame.columns
            needed = SPLIT_RESUME_COLUMNS if split else RESUME_COLUMNS
            missing = [c for c in (index_column, *needed) if c not in frame.columns]
            if missing and frame.height + len(frame.columns) > 0:
                raise CliError(
                    f"--resume: {path} is not a riskmc sweep table of this kind (no column "
                    f"{', '.join(missing[:3])}); move it away or write elsewhere with --out"
                )
            return frame.to_dicts()
    return []
