"""Numbers and durations as people read them: the terminal's summaries, the reports and the
figures' labels share these (``riskmc.cli.summaries``, ``riskmc.report``, ``riskmc.plot``)."""

from __future__ import annotations

import math

__all__ = ["duration_words", "format_number", "label_number"]


def _special(x: float) -> str | None:
    """nan, inf, -inf and 0 as every format writes them; None for any other number."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return "0" if x == 0 else None


def format_number(x: float, digits: int = 4) -> str:
    """``digits`` significant digits; scientific notation for small (< 0.01) or huge values."""
    special = _special(x)
    if special is not None:
        return special
    if abs(x) < 1e-2 or abs(x) >= 1e6:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def label_number(x: float, digits: int = 3) -> str:
    """An estimate for a figure's label: ``digits`` significant digits, trailing zeros kept
    (0.700, 1.00), thousands separators from 1,000 on, scientific only when tiny or huge."""
    special = _special(x)
    if special is not None:
        return special
    if abs(x) < 1e-3 or abs(x) >= 1e9:
        return f"{x:.{digits - 1}e}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:#.{digits}g}".rstrip(".")


def duration_words(minutes: float) -> str:
    """A number of minutes as a duration a person reads: 28 s, 4.2 min, 3.1 h, 2.5 days."""
    if not math.isfinite(minutes):
        return "an unbounded time"
    seconds = minutes * 60.0
    for limit, unit, size in ((60.0, "s", 1.0), (3600.0, "min", 60.0), (172_800.0, "h", 3600.0)):
        if seconds < limit:
            return f"{format_number(seconds / size, 2)} {unit}"
    return f"{format_number(seconds / 86_400.0, 2)} days"
