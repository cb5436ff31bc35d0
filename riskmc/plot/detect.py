"""The tables: the columns that make each kind of table, :func:`detect_kind`, checks and reads
of columns, the configuration inputs of the rows and their groups."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from riskmc.plot.common import PlotError, _fmt_value

#: Kinds of figure; "auto" tells the kind from the table's columns (:func:`detect_kind`).
KINDS = ("auto", "sweep", "compare", "exceedance", "calibration", "sensitivity", "outer")
#: Columns that make a table a ``riskmc compare`` table.
COMPARE_COLUMNS = ("mitigation", "risk_ratio")
#: Columns that make a table a loss-exceedance table.
EXCEEDANCE_COLUMNS = ("threshold_min", "p_exceed")
#: Columns that make a table the curve of ``riskmc calibrate``.
CALIBRATION_COLUMNS = ("value", "expected_events")
#: Columns that make a table one of ``riskmc sensitivity``.
SENSITIVITY_COLUMNS = ("output", "input", "first_order", "total_order")
#: Columns that make a table the summary of ``riskmc sweep --outer``.
OUTER_SUMMARY_COLUMNS = ("estimate", "p50")
#: Columns that make a table the draws of ``riskmc sweep --outer`` (one row per draw).
OUTER_DRAWS_COLUMNS = ("outer",)
#: The columns each kind needs (an outer table needs those of the summary or of the draws).
KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "compare": COMPARE_COLUMNS,
    "exceedance": EXCEEDANCE_COLUMNS,
    "calibration": CALIBRATION_COLUMNS,
    "sensitivity": SENSITIVITY_COLUMNS,
}
#: Top-level sections of the configuration: a dotted column under one of them (or the
#: ``mitigations`` column) holds an input of the run.  Kept in step with riskmc.config.KEYS
#: by a test, since importing riskmc.config here would import scipy.stats for every figure.
CONFIG_SECTIONS = frozenset(
    (
        "window",
        "planner",
        "enactors",
        "endpoints",
        "write",
        "degraded",
        "cleanup",
        "region",
        "repair",
        "cascade",
        "mitigations",
    )
)


# -- table checks ----------------------------------------------------------------------------------


def check_column(df: pl.DataFrame, name: str, what: str) -> None:
    """Raise a :class:`PlotError` naming ``what`` (e.g. ``--x``) when ``name`` is not a column,
    with the closest column name as a suggestion."""
    if name in df.columns:
        return
    close = difflib.get_close_matches(name, df.columns, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise PlotError(f"{what} {name!r}: no such column in the table{hint}")


def _numeric(df: pl.DataFrame, name: str, what: str) -> np.ndarray:
    """Column ``name`` as float64 (nulls -> NaN); a :class:`PlotError` when it is not numeric."""
    check_column(df, name, what)
    s = df[name]
    if s.dtype == pl.Boolean:
        return s.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    if not s.dtype.is_numeric():
        if s.dtype in (pl.String, pl.Utf8):
            cast = s.cast(pl.Float64, strict=False)
            bad = s.is_not_null() & s.str.strip_chars().ne("") & cast.is_null()
            if not bad.any():
                return cast.fill_null(float("nan")).to_numpy()
            example = s.filter(bad)[0]
            raise PlotError(f"{what} {name!r}: column is not numeric (it holds e.g. {example!r})")
        raise PlotError(f"{what} {name!r}: column is not numeric ({s.dtype})")
    return s.cast(pl.Float64).fill_null(float("nan")).to_numpy()


def _optional_numeric(df: pl.DataFrame, name: str) -> np.ndarray | None:
    """Column ``name`` as float64 when it exists and is numeric, else None."""
    if name not in df.columns:
        return None
    try:
        return _numeric(df, name, "column")
    except PlotError:
        return None


def _has(df: pl.DataFrame, columns: Sequence[str]) -> bool:
    return all(c in df.columns for c in columns)


def detect_kind(df: pl.DataFrame) -> str | None:
    """The kind of figure the table's columns call for (``compare``, ``exceedance``,
    ``calibration``, ``sensitivity`` or ``outer``), else None (a sweep needs its axes named)."""
    for kind, columns in KIND_COLUMNS.items():
        if _has(df, columns):
            return kind
    if _has(df, OUTER_SUMMARY_COLUMNS) or _has(df, OUTER_DRAWS_COLUMNS):
        return "outer"
    return None


# -- inputs, rows and values -----------------------------------------------------------------------


def input_columns(df: pl.DataFrame) -> list[str]:
    """The table's configuration columns (swept keys, drawn parameters and the values every
    results row carries), in table order."""
    return [
        c for c in df.columns if c == "mitigations" or (c.split(".", 1)[0] in CONFIG_SECTIONS and "." in c)
    ]


def varying_inputs(df: pl.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """The configuration columns that differ between rows, other than ``exclude``.

    A column holding a distribution table (``write.latency``) is left out when a parameter
    inside it is a column too (``write.latency.scale``, swept or excluded): it varies only
    because that parameter does.  Likewise ``mitigations`` beside ``mitigations.*``."""
    varying = [c for c in input_columns(df) if c not in exclude and df[c].n_unique() > 1]
    named = [*varying, *exclude]
    return [c for c in varying if not any(other.startswith(f"{c}.") for other in named)]


def scenario_title(df: pl.DataFrame, default: str | None = None) -> str | None:
    """The scenario the table is about: its ``scenario`` column (``name+mitigation`` of a
    compare table reduced to ``name``), several joined by commas, or ``default``."""
    if "scenario" not in df.columns or df.height == 0:
        return default
    names: list[str] = []
    mitigations = df["mitigation"].to_list() if "mitigation" in df.columns else [None] * df.height
    for name, mitigation in zip(df["scenario"].to_list(), mitigations, strict=True):
        if name is None:
            continue
        name = str(name)
        if mitigation and name.endswith(f"+{mitigation}"):
            name = name[: -len(mitigation) - 1]
        if name not in names:
            names.append(name)
    if not names:
        return default
    if len(names) > 3:
        return ", ".join(names[:3]) + f", ... ({len(names)} scenarios)"
    return ", ".join(names)


def _groups(df: pl.DataFrame, columns: Sequence[str]) -> list[tuple[str | None, np.ndarray]]:
    """(label, row indices) per combination of the values of ``columns``: numbers in numeric
    order, text in order of first appearance; the label is the values joined by ", " (None
    when there are no columns, for the one group of every row)."""
    if not columns:
        return [(None, np.arange(df.height))]
    numeric = [df[c].dtype.is_numeric() for c in columns]

    def normal(v: Any) -> Any:
        return None if isinstance(v, float) and math.isnan(v) else v  # NaN != NaN would split rows

    keys = [tuple(normal(v) for v in row) for row in zip(*(df[c].to_list() for c in columns), strict=True)]
    rows: dict[tuple[Any, ...], list[int]] = {}
    for i, key in enumerate(keys):
        rows.setdefault(key, []).append(i)
    first_seen = [
        {v: r for r, v in reversed(list(enumerate(k[j] for k in keys)))} for j in range(len(columns))
    ]

    def order(key: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
        return tuple(
            (v is None, (v if num else first_seen[j][v]) if v is not None else 0)
            for j, (v, num) in enumerate(zip(key, numeric, strict=True))
        )

    out: list[tuple[str | None, np.ndarray]] = []
    for key in sorted(rows, key=order):
        parts = [
            "(none)" if v is None else (_fmt_value(float(v)) if num else str(v))
            for v, num in zip(key, numeric, strict=True)
        ]
        out.append((", ".join(parts), np.array(rows[key], dtype=int)))
    return out


def _first(df: pl.DataFrame, column: str) -> Any:
    """The first non-null value of ``column``; None when the table has no such column."""
    if column not in df.columns:
        return None
    values = df[column].drop_nulls()
    return values[0] if values.len() else None


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a number (or a numeric string), else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _distinct(values: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(v for v in values if v is not None))
