"""Explore the fuzz strategies of tests/test_fuzz.py with fresh randomness and many examples,
and count what happened (the suite runs a fixed, derandomized few hundred).

    python benchmarks/fuzz_explore.py --configs 3000 --runs 1000 --options 1000

A config goes through the loader (a Config or a ConfigError, nothing else); a run and a
command line go through the command line in-process, which must exit 0 with nothing on
stderr, or 2 (1 for explain finding no event) with exactly one ``error:`` line and no
warning.  Every other outcome is listed with its input.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, settings

import tests.test_fuzz as fuzz
from riskmc.cli import app
from riskmc.config import parse_config
from riskmc.errors import ConfigError

outcomes: collections.Counter[str] = collections.Counter()
failures: list[str] = []


def _cli(kind: str, args: list[str], context: str = "") -> None:
    err = io.StringIO()
    t0 = time.perf_counter()
    with (
        contextlib.redirect_stderr(err),
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        try:
            code: Any = app(args, prog_name="riskmc", standalone_mode=False)
        except BaseException as e:
            code = f"exception {e!r}"[:120]
    seconds = time.perf_counter() - t0
    lines = err.getvalue().splitlines()
    shown = [w for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    one_line = len(lines) == 1 and lines[0].startswith("error:")
    good = not shown and ((code == 0 and not lines) or (code in (1, 2) and one_line))
    if code == 1 and not (args[0] == "explain" and "no empty-record event" in err.getvalue()):
        good = False
    outcomes[f"{kind}: exit {code if isinstance(code, int) else 'exception'}{'' if good else ' (BAD)'}"] += 1
    if seconds > 10:
        outcomes[f"{kind}: over 10 s"] += 1
    if not good:
        warned = [f"{w.message} ({Path(w.filename).name}:{w.lineno})"[:120] for w in shown[:2]]
        failures.append(f"{kind} {args[:8]}: {code} {lines[:2]} {warned}{context}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=3000, help="configurations through the loader")
    parser.add_argument("--runs", type=int, default=1000, help="configurations through riskmc run")
    parser.add_argument("--options", type=int, default=1000, help="random command lines")
    a = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="riskmc-fuzz-"))
    os.chdir(tmp)  # a relative --out of junk text lands here, not in the repository
    quick = {"deadline": None, "phases": [Phase.generate], "suppress_health_check": list(HealthCheck)}

    @settings(max_examples=a.configs, **quick)
    @given(case=fuzz.mutated())
    def configs(case: tuple[str, dict[str, Any], str, Any]) -> None:
        name, raw, key, value = case
        try:
            parse_config(raw, source=name).hash()
            outcomes["loader: a config"] += 1
        except ConfigError:
            outcomes["loader: ConfigError"] += 1
        except Exception as e:
            outcomes["loader: other (BAD)"] += 1
            failures.append(f"loader {key}={value!r:.80}: {e!r:.150}")

    @settings(max_examples=a.runs, **quick)
    @given(case=fuzz.cli_case())
    def runs(case: tuple[str, dict[str, Any], str, Any]) -> None:
        path = tmp / "cfg.toml"
        path.write_text(fuzz.to_toml(case[1]))
        (tmp / "out").mkdir(exist_ok=True)  # an --out directory must exist (only the default is made)
        args = ["run", str(path), "--trials", "200", "--out", f"{tmp}/out/", "-q"]
        _cli("run", args, context="\n" + path.read_text())

    @settings(max_examples=a.options, **quick)
    @given(args=fuzz.command_lines())
    def options(args: list[str]) -> None:
        where = Path(tempfile.mkdtemp(dir=tmp))
        args = [x.replace("{tmp}", str(where)) for x in args]
        if "--out" not in args and args[0] != "explain":  # (explain writes no file)
            (where / "out").mkdir()  # an --out directory must exist (only the default is made)
            args += ["--out", f"{where}/out/"]
        if args[0] != "explain":
            args.append("-q")
        _cli("options", args)

    for name, test, n in (
        ("configs", configs, a.configs),
        ("runs", runs, a.runs),
        ("options", options, a.options),
    ):
        t0 = time.perf_counter()
        if n:
            test()
        print(f"{name}: {n} examples in {time.perf_counter() - t0:.0f} s", flush=True)
    for key in sorted(outcomes):
        print(f"  {key:<40} {outcomes[key]:>6}")
    for line in failures[:40]:
        print(line)


if __name__ == "__main__":  # spawned sweep workers import this module: run only as a script
    main()
