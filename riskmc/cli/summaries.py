"""What the commands print: numbers, estimates and tables, in one place."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskmc.text import duration_words, format_number

if TYPE_CHECKING:
    from riskmc.estimates import Estimate

#: The level of every interval (riskmc.estimates.CONFIDENCE).
CONFIDENCE = 0.95

__all__ = [
    "duration_words",
    "format_estimate",
    "format_number",
    "impact_words",
    "interval_text",
    "json_value",
    "print_json",
    "print_lines",
    "print_table",
    "terse_method",
    "with_ci",
]

#: ``_method`` of a compare table's baseline row (riskmc.compare.REFERENCE_METHOD).
REFERENCE_METHOD = "reference"


#: Minutes of a region-year (riskmc.estimators.MINUTES_PER_YEAR): no annual impact can be larger.
MINUTES_PER_YEAR = 8766.0 * 60.0

#: The method texts' core phrases and their names on the terminal (the files keep the full
#: text), first match wins.
_TERSE = (
    ("log-log interpolation", "grid interpolation; exact Poisson interval through the curve's bounds"),
    ("1 + (max C - 1)", "Wilson (ESS) on the extra cells"),
    ("Wilson at the effective sample size", "Wilson (ESS)"),
    ("no hit, zero-hit bound", "zero-hit bound"),
    ("bootstrap-BCa", "BCa bootstrap"),
    ("ratio-t", "ratio-t"),
    ("self-normalised ratio, delta-method t", "delta-method t"),
    ("self-normalised paired difference", "paired delta-method t"),
    ("self-normalised mean, t", "t"),
    ("exact Poisson bound", "Poisson bound (none seen)"),
    ("compound year model", "simulated years, percentile bootstrap"),
    ("t on the mean", "t"),
    ("Markov bound", "Markov bound (no event)"),
    ("no event; bound", "bound (no event)"),
    ("transformed", "from p_region_window"),
    ("paired delta method", "paired delta method"),
    ("paired-t", "paired t"),
)


def terse_method(method: str) -> str:
    """A method's short name for the terminal: the estimator's label dropped (the summary
    names it once), the core procedure named, and whether an unseen stratum's bound or the
    cap of a region-year is in the interval."""
    text = short_method(method)
    for prefix in ("naive: ", "naive; "):
        text = text.removeprefix(prefix)
    name = next((short for phrase, short in _TERSE if phrase in text), None)
    if name is None:
        head = text.split(";")[0].strip()
        name = head if len(head) <= 40 else head[:39] + "…"
    if "unobserved strat" in text or "unseen" in text or "widened" in text:
        name += " + unseen-stratum bound"
    if "capped at" in text:
        name += ", capped"
    return name


def interval_text(name: str, value: float, lo: float, hi: float) -> str:
    """``value [lo, hi]``: a probability's upper end never above 1, an infinite end said in
    words (never ``0 [0, inf]``)."""
    if name.startswith("p_") and hi > 1:
        hi = 1.0
    high = "no upper bound" if math.isinf(hi) else format_number(hi)
    return f"{format_number(value)} [{format_number(lo)}, {high}]"


def impact_words(name: str, value: float, hi: float) -> str:
    """An impact in region-traffic-minutes in words: the time for which the whole region's
    traffic would be lost, and a flag when an annual figure exceeds the year itself."""
    if name.startswith("ec2_impaired"):
        words = f"= EC2 launches impaired for {duration_words(value)}"
        if "per_year" not in name:
            return words + " per event window"
        if max(value, hi) > MINUTES_PER_YEAR:
            return (
                words + f" a year; ABOVE the {MINUTES_PER_YEAR:,.0f} minutes of a year: overlapping cascades"
            )
        return words + " a year"
    if not name.startswith("impact_"):
        return ""
    words = (
        "= no traffic lost"
        if value == 0
        else f"= all of the region's traffic lost for {duration_words(value)}"
    )
    if "per_year" in name:
        words += " a year"
        if max(value, hi) > MINUTES_PER_YEAR:
            words += f"; ABOVE the {MINUTES_PER_YEAR:,.0f} minutes of a year: overlapping outages"
    return words


def format_estimate(e: Estimate, name: str = "") -> str:
    """``value  [95% CI lo, hi; method]`` with the method's short name."""
    ci = e.confidence_interval
    level = f"{CONFIDENCE:.0%}"
    core = interval_text(name, e.estimate, ci.low, ci.high)
    value, _, bounds = core.partition(" [")
    return f"{value}  [{level} CI {bounds[:-1]}; {terse_method(e.method)}]"


def with_ci(row: Mapping[str, Any], name: str) -> str:
    """``value [lo, hi]`` of an estimate's columns in a result row (the value alone for the
    compare reference row)."""
    value = float(row[name])
    if row.get(f"{name}_method") == REFERENCE_METHOD:
        return f"{format_number(value)} (reference)"
    return interval_text(name, value, float(row[f"{name}_lo"]), float(row[f"{name}_hi"]))


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
    labels = ("importance sampling", "rare-event importance sampling")
    return tail if sep and head.startswith(labels) else method


def json_value(value: Any) -> Any:
    """Table cells as JSON: NaN as null, an infinite number as the string "inf" or "-inf" (as
    the CSV files write it; JSON has no non-finite number), rows (mappings, a polars
    DataFrame) and lists of them converted throughout."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if hasattr(value, "to_dicts"):  # a polars DataFrame: its rows
        return json_value(value.to_dicts())
    return value


def print_json(data: Any) -> None:
    """One row as a JSON object, several as an array of objects, on stdout (``--json``)."""
    import json

    print(json.dumps(json_value(data), indent=1, allow_nan=False))
