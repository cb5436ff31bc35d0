"""``riskmc report CONFIG``: a design-review report as one HTML page and as Markdown."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO, Annotated

import typer

from riskmc.cli.budget import check_size
from riskmc.cli.core import CliError, app, command_line
from riskmc.cli.files import check_writable, load_scenario, names_directory, require_directory
from riskmc.cli.options import (
    DEFAULT_DEFENSIVE,
    MAX_POINTS,
    BaseSamplesOption,
    ConfigArgument,
    DefensiveOption,
    Estimator,
    EstimatorOption,
    MemoryBudgetOption,
    QuietOption,
    SeedOption,
    SensitivityRangeOption,
    SetOption,
    ThreadsOption,
    TrialsOption,
    default_threads,
)
from riskmc.cli.progress import stage_progress
from riskmc.cli.summaries import print_lines

ReportOutOption = Annotated[
    str | None,
    typer.Option(
        "--out",
        metavar="PATH",
        help="Report path; its suffix is replaced by .html and .md (figures for the Markdown beside it, "
        "as PATH_<figure>.png). A directory (existing, or given with a trailing /) gets "
        "<scenario name>_report.* inside. (default: results/<scenario name>_report)",
        show_default=False,
    ),
]
SweepKeyOption = Annotated[
    str | None,
    typer.Option(
        "--sweep",
        metavar="KEY=V1,V2,...",
        help="Add a sweep of KEY over the values (p_cell_window against KEY, a figure and a table).",
        show_default=False,
    ),
]


def _report_paths(out: str | None, name: str) -> tuple[Path, Path, Path]:
    """The HTML and Markdown paths and the stem of the figure files, checked and locked."""
    if out is not None and not out.strip():
        raise CliError(f"--out {out!r}: must name a file")
    safe = name.replace(os.sep, "_").replace("/", "_").strip() or "report"
    if out is None:
        base = Path("results") / f"{safe}_report"
    elif names_directory(out):
        base = Path(out) / f"{safe}_report"
    else:
        base = Path(out)
        if base.name in ("", ".", ".."):
            raise CliError(f"--out {out!r}: must name a file")
        base = base.with_suffix("") if base.suffix in (".html", ".md") else base
    if out is not None:
        require_directory(base.parent, "--out", out)
    html_path, md_path = base.with_name(base.name + ".html"), base.with_name(base.name + ".md")
    for path in (html_path, md_path, base.with_name(base.name + "_compare.png")):
        check_writable(path, "--out")
    from riskmc.cli.locks import lock_output

    lock_output(base, "--out")
    return html_path, md_path, base


@app.command()
def report(
    config: ConfigArgument,
    trials: TrialsOption = None,
    seed: SeedOption = None,
    overrides: SetOption = None,
    sweep: SweepKeyOption = None,
    ranges: SensitivityRangeOption = None,
    n: BaseSamplesOption = 8,
    out: ReportOutOption = None,
    estimator: EstimatorOption = Estimator.auto,
    defensive: DefensiveOption = DEFAULT_DEFENSIVE,
    threads: ThreadsOption = None,
    memory_budget: MemoryBudgetOption = None,
    quiet: QuietOption = False,
) -> None:
    """Write a design-review report: one self-contained HTML page and the same as Markdown.

    The headline in plain language, every estimate with its interval and method, the
    mitigation comparison (common random numbers) with its figure, the loss-exceedance
    curve, an optional sweep (--sweep) or sensitivity (--range), the timeline of one event
    replayed by the reference simulator, the assumptions (every key, the scenario file with
    its comments) and the provenance.  All estimates share the trials, seed and estimator
    plan (resolved once, on the scenario).
    """
    from riskmc import compare as cmp
    from riskmc import estimators
    from riskmc import report as rep
    from riskmc import sweep as sw
    from riskmc.provenance import config_toml, provenance

    cfg = load_scenario(config, overrides or [])
    t = cfg.trials if trials is None else trials
    s = cfg.seed if seed is None else seed
    n_threads = default_threads() if threads is None else threads
    points: list[dict[str, object]] = []
    if sweep is not None:
        try:
            points = sw.grid_points([sweep])
        except sw.SweepError as e:
            raise CliError(f"--sweep: {e}") from None
        for point in points:
            cfg.with_overrides(sw.point_overrides(point))  # an unknown key or value: one line now
    if ranges:
        if n & (n - 1):
            raise CliError(f"--n: must be a power of 2, got {n}")
        try:
            specs = [sw.parse_range(r) for r in ranges]
            sw.check_unique([r.key for r in specs])
        except sw.SweepError as e:
            raise CliError(f"--range: {e}") from None
        for r in specs:
            cfg.with_overrides([f"{r.key}={r.value(0.0)}", f"{r.key}={r.value(1.0)}"])
    html_path, md_path, base = _report_paths(out, cfg.name)
    scenario_list = cmp.scenarios(cfg)
    design_runs = n * (len(ranges) + 2) if ranges else 0
    if design_runs > MAX_POINTS:
        what = f"{n} x ({len(ranges or [])} ranges + 2) = {design_runs:,} model runs"
        raise CliError(f"--n: {what}; the limit is {MAX_POINTS:,}")
    check_size(
        cfg,
        s,
        memory_budget,
        windows_kept=t * len(scenario_list),
        windows_total=t * (1 + len(scenario_list) + len(points) + design_runs) + rep.EVENT_SEARCH_TRIALS,
        option="--trials" if trials is not None else "trials",
        threads=n_threads,
        rows=len(scenario_list) + len(points) + design_runs,
        points=[(label, c) for label, c in scenario_list]
        + [(f"--sweep {sw.point_overrides(p)[0]}", sw.point_config(cfg, p)) for p in points],
    )
    start = time.perf_counter()
    plan = estimators.resolve(cfg, s, estimator.value, defensive=defensive, threads=n_threads)
    meta = provenance(cfg, seed=s, estimator=plan.short, command=command_line())
    with stage_progress(f"{cfg.name} report") as step:
        inputs = rep.gather(
            cfg,
            config_text=_config_text(config, cfg, overrides or [], config_toml),
            seed=s,
            trials=t,
            plan=plan,
            provenance=meta,
            sweep=sweep,
            ranges=ranges or (),
            sensitivity_n=n,
            threads=n_threads,
            step=step,
        )
        step("rendering", 1)
        document = rep.assemble(inputs)
        figure_files = {f.name: f"{base.name}_{f.name}.png" for f in document.figures}
        written = [
            _write(html_path, rep.to_html(document).encode("utf-8")),
            _write(md_path, rep.to_markdown(document, figure_files).encode("utf-8")),
        ]
        written += [_write(base.with_name(figure_files[f.name]), f.png) for f in document.figures]
    if not quiet:
        lines = [
            ("report", f"{cfg.name}: {len(document.sections)} sections, {len(document.figures)} figures")
        ]
        lines += [("headline", text) for text in rep.headline(inputs.run.row())[:1]]
        lines.append(("elapsed", f"{time.perf_counter() - start:.1f} s"))
        print_lines(lines, written)


def _write(path: Path, data: bytes) -> Path:
    """``data`` at ``path`` atomically (no half-written report on an interruption)."""
    from riskmc.tables import write_atomically

    def write(f: IO[bytes]) -> None:
        f.write(data)

    return write_atomically(path, write)


def _config_text(path: Path, cfg: object, overrides: list[str], config_toml: object) -> str:
    """The scenario as the analyst wrote it (comments hold the rationale), with the --set
    overrides noted; a scenario from standard input as the TOML riskmc read."""
    if os.fspath(path) == "-":
        return config_toml(cfg)  # type: ignore[operator,no-any-return]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return config_toml(cfg)  # type: ignore[operator,no-any-return]
    if overrides:
        text += "\n# overridden on the command line (--set):\n" + "".join(f"#   {o}\n" for o in overrides)
    return text
