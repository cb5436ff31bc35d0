"""Options shared by several commands, as ``Annotated`` aliases, so every command spells and
checks them the same way.  Defaults quoted in help texts are the library's own constants
(``tests/test_cli.py`` checks that they agree)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "AUTO_IS_BELOW",
    "AUTO_NAIVE_HITS",
    "DEFAULT_DEFENSIVE",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_MAX_TRIALS",
    "DEFAULT_MIN_HITS",
    "MAX_POINTS",
    "MAX_TRIALS",
    "MAX_WORKERS",
    "Estimator",
    "TableFormat",
    "default_threads",
    "out_help",
]

# The library's defaults, repeated here so that --help needs no import of the simulation
# stack (numba, scipy); tests/test_cli.py checks each against its source.
AUTO_IS_BELOW = 0.1  # riskmc.estimators.plan
AUTO_NAIVE_HITS = 10  # riskmc.estimators.plan
DEFAULT_DEFENSIVE = 0.25  # riskmc.estimators.plan
DEFAULT_MIN_HITS = 10  # riskmc.estimators.rule
DEFAULT_MAX_SECONDS = 600.0  # riskmc.estimators.rule
DEFAULT_MAX_TRIALS = 10_000_000  # riskmc.estimators.rule
#: Trials the engine's address layout holds (docs/model.md section 7; riskmc.engine.kernel).
MAX_TRIALS = 2**32
#: Points of a sweep, design or calibration grid (riskmc.budget.MAX_POINTS).
MAX_POINTS = 100_000
#: Local worker processes a command may start.
MAX_WORKERS = 256


def default_threads() -> int:
    """Every core of this machine (the results do not depend on it)."""
    return max(1, os.cpu_count() or 1)


class TableFormat(StrEnum):
    """``--format``: which result files to write."""

    csv = "csv"
    parquet = "parquet"
    both = "both"

    @property
    def formats(self) -> tuple[str, ...]:
        return ("csv", "parquet") if self is TableFormat.both else (self.value,)


class Estimator(StrEnum):
    """``--estimator``: how the windows are sampled (docs/model.md section 8)."""

    auto = "auto"
    naive = "naive"
    importance = "is"
    rare = "rare"
    splitting = "split"


def _check_overrides(values: list[str] | None) -> list[str]:
    """``--set`` values must look like KEY=VALUE (the config checks KEY and VALUE)."""
    for item in values or []:
        key, eq, _ = item.partition("=")
        if not eq or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE (e.g. --set write.fail_prob=0.02)")
    return list(values or [])


def count_parser(lo: int, hi: int) -> Callable[[str], int]:
    """A parser of a count option that also takes the README's ``1e8``: an integer, or a
    number in scientific notation whose value is one, within [lo, hi]."""

    def parse(text: str) -> int:
        if isinstance(text, int):  # a default
            return text
        s = str(text).strip().replace("_", "")
        try:
            value = int(s)
        except ValueError:
            try:
                x = float(s)
            except ValueError:
                raise typer.BadParameter(f"{text!r} is not a whole number (e.g. 100000 or 1e5)") from None
            if not (math.isfinite(x) and x.is_integer()):
                raise typer.BadParameter(f"{text!r} is not a whole number (e.g. 100000 or 1e5)") from None
            value = int(x)
        if not lo <= value <= hi:
            raise typer.BadParameter(f"{text} is not in the range {lo}<=x<={hi}")
        return value

    return parse


def positive(value: float | None) -> float | None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise typer.BadParameter(f"must be a number > 0, got {value}")
    return value


def _share(value: float) -> float:
    if not 0.0 < value < 1.0:
        raise typer.BadParameter(f"must be in (0, 1), got {value}")
    return value


ConfigArgument = Annotated[
    Path,
    typer.Argument(
        metavar="CONFIG",
        help="Scenario file (TOML, keys in docs/model.md section 6); - reads it from standard input.",
        show_default=False,
    ),
]
TrialsOption = Annotated[
    int | None,
    typer.Option(
        "--trials",
        parser=count_parser(1, MAX_TRIALS),
        metavar="N",
        help="Trials (region-windows) to simulate, e.g. 100000 or 1e5 (default: the config's trials).",
    ),
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed",
        min=0,
        max=2**64 - 1,
        metavar="S",
        help="Root seed of all random numbers (default: the config's seed).",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        callback=_check_overrides,
        help="Override a config key, e.g. --set write.fail_prob=0.02 (VALUE is TOML); repeatable.",
    ),
]


def out_help(suffix: str = "") -> str:
    """``--out``'s help for a command whose default file is results/<scenario name><suffix>."""
    return (
        "Result file path; its suffix is replaced by .csv/.parquet. A directory (existing, or given "
        f"with a trailing /) gets <scenario name>{suffix}.* inside. "
        f"(default: results/<scenario name>{suffix})"
    )


OutOption = Annotated[str | None, typer.Option("--out", metavar="PATH", help=out_help(), show_default=False)]
FormatOption = Annotated[
    TableFormat,
    typer.Option("--format", case_sensitive=False, help="Result file format(s) to write."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print no summary.")]
JsonRowsOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the results row(s) on stdout as JSON instead of the summary (NaN as null, "
        'infinite numbers as "inf"/"-inf"); the files are written as usual.',
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        metavar="N",
        help="Threads simulating region-windows (the results are the same). (default: all cores)",
        show_default=False,
    ),
]
EstimatorOption = Annotated[
    Estimator,
    typer.Option(
        "--estimator",
        case_sensitive=False,
        help="naive: plain Monte Carlo; is: importance sampling on degraded runs (and on a rare "
        "common-cause shock), a defensive mixture that keeps --defensive of the windows untilted, so "
        "that no cause of the event is hidden; auto: is when a 1,000-window pilot sees fewer than "
        f"{AUTO_NAIVE_HITS} events and expects fewer than {AUTO_IS_BELOW:g} (but some) degraded runs per "
        "region-window or a rare shock, else naive (split instead, in run with --target-rel-err, where "
        "the pilot sees so few events and split takes the configuration); rare: is that also tilts "
        "slow runs (a latency tail, retries) and planner bursts, fitted by cross-entropy, for events "
        "that need no degraded run; what its tilts do not reach falls in windows it barely boosted, "
        "whose zero-hit bound is in every upper end while the sample holds no event of them; never "
        "chosen by auto; split (run, sweep, sensitivity, calibrate, compare): adaptive multilevel "
        "splitting of p_cell_window, an event "
        "of any cause "
        "(docs/model.md section 8).",
    ),
]
DefensiveOption = Annotated[
    float,
    typer.Option(
        "--defensive",
        metavar="A",
        callback=_share,
        help="With is: the share of region-windows drawn from the model itself (weights are at most 1/A).",
    ),
]
TargetOption = Annotated[
    float | None,
    typer.Option(
        "--target-rel-err",
        metavar="X",
        callback=positive,
        help="Add blocks of 1,000 trials until p_cell_window's CI half-width / estimate <= X with at "
        "least --min-hits effective events (or until --max-seconds / --max-trials). The interval "
        "includes the bound of any stratum of events the sample has not seen.",
        show_default=False,
    ),
]
MaxSecondsOption = Annotated[
    float | None,
    typer.Option(
        "--max-seconds",
        metavar="S",
        callback=positive,
        help=f"Start no block expected to end past S seconds. (default with --target-rel-err: "
        f"{DEFAULT_MAX_SECONDS:g})",
        show_default=False,
    ),
]
MaxTrialsOption = Annotated[
    int | None,
    typer.Option(
        "--max-trials",
        parser=count_parser(1, MAX_TRIALS),
        metavar="N",
        help=f"With --target-rel-err: stop after N trials. (default: {DEFAULT_MAX_TRIALS:,})",
        show_default=False,
    ),
]
MinHitsOption = Annotated[
    int | None,
    typer.Option(
        "--min-hits",
        min=1,
        metavar="N",
        help="With --target-rel-err: effective events (Kish's (sum y)^2 / sum y^2) needed before the "
        f"target may stop the run. (default: {DEFAULT_MIN_HITS})",
        show_default=False,
    ),
]
MitigationOption = Annotated[
    list[str] | None,
    typer.Option(
        "--mitigation",
        metavar="NAME",
        help="A mitigation of docs/model.md section 3 (parameters from the config's mitigations.NAME "
        "table, else defaults), or a combination such as recheck+deadline; repeatable, comma-separated.",
        show_default=False,
    ),
]


def _memory_budget(value: str | None) -> int | None:
    if value is None:
        return None
    from riskmc.budget import parse_bytes  # light: numpy only

    try:
        return parse_bytes(value)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


MemoryBudgetOption = Annotated[
    str | None,
    typer.Option(
        "--memory-budget",
        metavar="SIZE",
        callback=_memory_budget,
        help="Memory the command may plan to use, e.g. 8GiB; a command estimated above it is refused "
        "before it runs (docs/model.md section 7, Limits). (default: half of this machine's memory)",
        show_default=False,
    ),
]


def mitigation_names(values: list[str] | None) -> list[str] | None:
    """``--mitigation`` values split at commas; None when not given."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",")]


SensitivityRangeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--range",
        metavar="KEY=LO:HI[:log]",
        help="An uncertain input: uniform on [LO, HI], log-uniform with :log; repeatable (at least one).",
        show_default=False,
    ),
]
BaseSamplesOption = Annotated[
    int,
    typer.Option(
        "--n",
        min=2,
        max=MAX_POINTS,
        metavar="N",
        help="Base sample size of the Sobol' design, a power of 2: the model runs N*(d+2) times.",
    ),
]
