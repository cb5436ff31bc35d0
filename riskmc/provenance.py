"""Where a result file came from: key-value metadata written into every Parquet table and PNG.

:func:`provenance` gives the keys (``riskmc_*``): the riskmc version, the seed, the
estimator, the configuration as TOML (after ``--set`` overrides) and its hash, the command
line and a UTC timestamp.  :func:`riskmc.tables.write_table` stores them as Parquet
key-value metadata, :func:`riskmc.plot.save_png` as PNG text chunks; :func:`read_provenance`
reads a Parquet file's back.  CSV has no place for them: the Parquet twin carries them.
"""

from __future__ import annotations

import datetime
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from riskmc import __version__

if TYPE_CHECKING:
    from riskmc.config import Config

__all__ = ["PREFIX", "config_toml", "provenance", "read_provenance"]

#: Every key starts with it, so that riskmc's metadata never collides with a library's.
PREFIX = "riskmc_"


def config_toml(config: Config) -> str:
    """The scenario as TOML text (its data after overrides; distributions as inline tables)."""
    from riskmc.sweep import toml_document

    data = dict(config.raw)
    data.setdefault("name", config.name)  # (else the file's stem, which a copy would not have)
    return toml_document(data)


def provenance(
    config: Config | None,
    *,
    seed: int | None = None,
    estimator: str | None = None,
    command: Sequence[str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """The metadata of a file written for ``config`` (string keys and values)."""
    argv = list(sys.argv if command is None else command)
    if argv and os.path.basename(argv[0]) in ("__main__.py", "riskmc"):
        argv[0] = "riskmc"
    meta = {
        "version": __version__,
        "created_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": shlex.join(argv),
    }
    if config is not None:
        meta["scenario"] = config.name
        meta["seed"] = str(config.seed if seed is None else seed)
        meta["config_hash"] = config.hash()
        meta["config_toml"] = config_toml(config)
    elif seed is not None:
        meta["seed"] = str(seed)
    if estimator is not None:
        meta["estimator"] = estimator
    for k, v in (extra or {}).items():
        meta[str(k)] = str(v)
    return {f"{PREFIX}{k}": v for k, v in meta.items()}


def read_provenance(path: str | os.PathLike[str]) -> dict[str, str]:
    """The riskmc metadata of a Parquet file (without the prefix)."""
    import polars as pl

    meta = pl.read_parquet_metadata(Path(path))
    return {k[len(PREFIX) :]: v for k, v in meta.items() if k.startswith(PREFIX)}
