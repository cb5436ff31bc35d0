"""What the commands print: numbers, estimates and tables, in one place."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from riskmc.estimates import Estimate

#: The level of every interval (riskmc.estimates.CONFIDENCE).
CONFIDENCE = 0.95

__all__ = ["format_estimate", "format_number", "print_lines", "print_table", "with_ci"]

#: ``_method`` of a compare table's baseline row (riskmc.compare.REFERENCE_METHOD).
REFERENCE_METHOD = "reference"


def format_number(x: float, digits: int = 4) -> str:
    """``digits`` significant digits; scientific notation for small (< 0.01) or huge values."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if abs(x) < 1e-2 or abs(x) >= 1e6:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def format_estimate(e: Estimate) -> str:
    ci = e.confidence_interval
    level = f"{CONFIDENCE:.0%}"
    return (
        f"{format_number(e.estimate)}  [{level} CI {format_number(ci.low)}, "
        f"{format_number(ci.high)}; {e.method}]"
    )


def with_ci(row: Mapping[str, Any], name: str) -> str:
    """``value [lo, hi]`` of an estimate's columns in a result row (the value alone for the
    compare reference row)."""
    value = format_number(float(row[name]))
    if row.get(f"{name}_method") == REFERENCE_METHOD:
        return f"{value} (reference)"
    return f"{value} [{format_number(float(row[f'{name}_lo']))}, {format_number(float(row[f'{name}_hi']))}]"


def print_table(
    headers: Sequence[str], table: Sequence[Sequence[str]], elapsed_s: float, written: Sequence[Path]
) -> None:
    """Columns padded to their widest cell, then the elapsed time and the files written."""
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print(f"elapsed  {elapsed_s:.2f} s")
    for i, path in enumerate(written):
        print(f"{'wrote' if i == 0 else '':<9}{path}")


def print_lines(lines: Sequence[tuple[str, str]], written: Sequence[Path] = ()) -> None:
    """Label / text pairs, the labels padded to one width, then the files written."""
    lines = [*lines, *((("wrote" if i == 0 else ""), str(p)) for i, p in enumerate(written))]
    width = max(len(label) for label, _ in lines) + 2
    for label, text in lines:
        print(f"{label:<{width}}{text}")


def short_method(method: str) -> str:
    """A method text without the estimator's label in front (the summary names it once)."""
    head, sep, tail = method.partition("): ")
    return tail if sep and head.startswith("importance sampling") else method
