"""A design-review report of one scenario: ``riskmc report`` (README, "A design-review report").

Three plain steps, as elsewhere: :func:`gather` runs the estimates (the scenario, the
mitigation comparison on common random numbers, an optional sweep or sensitivity design,
one event replayed by the reference simulator); :func:`assemble` turns them into a
:class:`Report` (sections of text, tables and PNG figures); :func:`to_html` and
:func:`to_markdown` render it.  The HTML page is self-contained: figures are embedded as
``data:`` URIs, the style is inline, nothing is fetched, so it opens from a file on a
machine without network.  The Markdown holds the same text and tables and links the
figures, written beside it as PNG files.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from riskmc.config import KEYS, VALUE_KEYS, Config, lookup
from riskmc.text import duration_words, format_number

if TYPE_CHECKING:
    from riskmc.estimators import Plan, Run

__all__ = [
    "Figure",
    "Report",
    "ReportInputs",
    "Section",
    "assemble",
    "gather",
    "headline",
    "to_html",
    "to_markdown",
]

#: Region-windows searched for an event to replay when the estimate's own sample has none.
EVENT_SEARCH_TRIALS = 20_000


@dataclass(frozen=True)
class Figure:
    """A figure of the report: a file-name stem, a caption, and the PNG."""

    name: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Section:
    """A titled part of the report: paragraphs, an optional table (a header row and rows of
    text), figures, and an optional preformatted block (a timeline, a configuration)."""

    title: str
    paragraphs: tuple[str, ...] = ()
    table: tuple[tuple[str, ...], ...] = ()
    figures: tuple[Figure, ...] = ()
    preformatted: str = ""


@dataclass(frozen=True)
class Report:
    title: str
    sections: tuple[Section, ...]

    @property
    def figures(self) -> list[Figure]:
        return [f for s in self.sections for f in s.figures]


@dataclass
class ReportInputs:
    """Everything :func:`assemble` needs, computed by :func:`gather` (or by a test)."""

    config: Config
    config_text: str
    run: Run
    compare_rows: list[dict[str, object]]
    exceedance: pl.DataFrame
    timeline: str
    provenance: dict[str, str]
    #: the summary of the most likely failure path (riskmc.likely), "" without an event
    most_likely: str = ""
    sweep_rows: list[dict[str, object]] = field(default_factory=list)
    sweep_key: str | None = None
    sensitivity_rows: list[dict[str, object]] = field(default_factory=list)


# -- gathering the estimates ----------------------------------------------------------------------


def gather(
    config: Config,
    *,
    config_text: str,
    seed: int,
    trials: int,
    plan: Plan,
    provenance: dict[str, str],
    sweep: str | None = None,
    ranges: Sequence[str] = (),
    sensitivity_n: int = 8,
    threads: int = 1,
    step: Callable[[str, int], Callable[[int], None] | None] | None = None,
) -> ReportInputs:
    """Run every estimate of the report on trials [0, trials) of ``seed`` under ``plan``.

    ``step(description, total)`` is called before each stage and may return a progress
    callback for the stage's units (trials, points or model runs)."""
    from riskmc import compare as cmp
    from riskmc import estimators
    from riskmc.events import exceedance_frame

    def stage(description: str, total: int) -> Callable[[int], None] | None:
        return None if step is None else step(description, total)

    tick = stage("the scenario", trials)
    run = estimators.run(
        config,
        plan,
        seed=seed,
        trials=trials,
        threads=threads,
        progress=_per_block(tick),
    )
    built = cmp.scenarios(config)
    tick = stage("the mitigations", trials * len(built))
    compare_rows = cmp.compare(
        config, trials=trials, seed=seed, plan=plan, threads=threads, progress=tick, built=built
    )
    inputs = ReportInputs(
        config=config,
        config_text=config_text,
        run=run,
        compare_rows=compare_rows,
        exceedance=exceedance_frame(run),
        timeline="",
        provenance=provenance,
    )
    if sweep is not None:
        from riskmc import sweep as sw

        points = sw.grid_points([sweep])
        inputs.sweep_key = next(iter(points[0]))
        tick = stage(f"the sweep of {inputs.sweep_key}", len(points))
        inputs.sweep_rows = sw.run_sweep(config, points, trials, seed, plan=plan, progress=tick)
    if ranges:
        from riskmc import sensitivity as sens
        from riskmc import sweep as sw

        specs = [sw.parse_range(r) for r in ranges]
        box = {r.key: (r.lo, r.hi, r.log) for r in specs}
        tick = stage("the sensitivity design", sensitivity_n * (len(box) + 2))
        model = sens.riskmc_model(config, list(box), trials=trials, seed=seed, plan=plan, progress=tick)
        result = sens.sobol_indices(model, box, sensitivity_n, seed=seed)
        inputs.sensitivity_rows = sens.sensitivity_rows(result, output_names=list(sens.DEFAULT_OUTPUTS))
    from riskmc import explain as ex
    from riskmc import likely

    found = likely.most_likely(
        config,
        seed,
        trials,
        plan,
        sample=run.sample,
        progress=stage("the most likely failure path", likely.DEFAULT_DRAWS),
    )
    if found is not None:
        inputs.most_likely = likely.describe(found, config.values.get("cleanup.keep_generations"))
        inputs.timeline = (
            "The representative event of those draws (the one closest to their medians).\n\n"
            + ex.narrate(found.representative)
        )
    else:
        inputs.timeline = _timeline(config, seed, run, stage)
    return inputs


def _per_block(tick: Callable[[int], None] | None) -> Callable[[int, float], None] | None:
    """A run's progress callback (trials, events of a block) from a stage's (trials)."""
    if tick is None:
        return None
    return lambda k, _events: tick(k)


def _timeline(
    config: Config, seed: int, run: Run, stage: Callable[[str, int], Callable[[int], None] | None]
) -> str:
    """One event of the run's own sample, replayed by the reference simulator as the estimator
    simulated it; without one, the first event of a short plain search."""
    import numpy as np

    from riskmc import explain as ex

    smp = run.sample
    hits = np.flatnonzero(smp.events > 0)
    if hits.size:
        i = int(hits[np.argmin(smp.trials[hits])])
        replayed = ex.replay(config, seed, int(smp.trials[i]), int(smp.first_event_cell[i]), run.plan)
        note = (
            "The first event of the estimate's own sample"
            + (
                ", drawn under the importance-sampling proposal (its degraded runs made more likely; "
                "the path itself is one the model allows)"
                if run.plan.tilts
                else ""
            )
            + ".\n\n"
        )
        return note + ex.narrate(replayed)
    found = ex.find_event_trial(
        config, seed, EVENT_SEARCH_TRIALS, stage("one event to replay", EVENT_SEARCH_TRIALS)
    )
    if found is None:
        return (
            f"No empty-record event in the sample nor in the first {EVENT_SEARCH_TRIALS:,} region-windows of "
            "plain simulation: at these parameters an event is too rare to replay one here."
        )
    return "The first event of plain simulation.\n\n" + ex.narrate(ex.replay(config, seed, *found))


# -- text -----------------------------------------------------------------------------------------


def _num(x: object, digits: int = 3) -> str:
    """A number of the report: n/a for NaN, "unbounded" for an infinite end."""
    v = float(x)  # type: ignore[arg-type]
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "unbounded" if v > 0 else "-unbounded"
    return format_number(v, digits)


def _ci(row: Mapping[str, Any], name: str) -> str:
    if row.get(f"{name}_method") == "reference":
        return f"{_num(row[name])} (reference)"
    hi = float(row[f"{name}_hi"])
    if name.startswith("p_"):
        hi = min(hi, 1.0)
    return f"{_num(row[name])} [{_num(row[f'{name}_lo'])}, {_num(hi)}]"


def _years_between(rate: float) -> str:
    """1 / rate, in words ("about one event per 150 region-years")."""
    if rate <= 0 or not math.isfinite(rate):
        return "unbounded"
    years = 1.0 / rate
    if years >= 1e6:
        return f"{years:.2g}"
    return f"{years:,.0f}" if years >= 10 else f"{years:.2g}"


def headline(row: Mapping[str, Any]) -> list[str]:
    """The results row of a run in plain language: how often, how likely, how costly."""
    rate, lo, hi = (float(row[f"events_per_region_year{s}"]) for s in ("", "_lo", "_hi"))
    if rate > 0:
        first = (
            f"About one empty-record event per {_years_between(rate)} region-years "
            f"(95% CI: one per {_years_between(hi)} to one per {_years_between(lo)} region-years)."
        )
    else:
        first = (
            "No empty-record event in the sample; the rate is at most one per "
            f"{_years_between(hi)} region-years (95% upper bound)."
        )
    lines = [
        first,
        f"p_cell_window (one cell's window has an event) = {_ci(row, 'p_cell_window')}; "
        f"p_region_year = {_ci(row, 'p_region_year')}.",
        f"Expected impact {_ci(row, 'impact_per_year_min')} region-traffic-minutes per region-year "
        f"(all of the region's traffic lost for {duration_words(float(row['impact_per_year_min']))} a year); "
        f"given an event, {_ci(row, 'impact_given_event_min')} region-traffic-minutes.",
    ]
    if "ec2_impaired_given_event_min" in row and not math.isnan(float(row["ec2_impaired_given_event_min"])):
        lines.append(
            "Beyond DNS (docs/model.md section 5b): an event window collapses DWFM with probability "
            f"{_ci(row, 'p_collapse_given_event')} and impairs EC2 launches for "
            f"{duration_words(float(row['ec2_impaired_given_event_min']))} "
            f"({_ci(row, 'ec2_impaired_given_event_min')} minutes); per region-year "
            f"{_ci(row, 'ec2_impaired_per_year_min')} EC2 launch-impairment minutes."
        )
    unseen = [s for s in str(row.get("unobserved_strata") or "").split(",") if s]
    strata = [s for s in unseen if s != "barely_boosted"]
    if strata:
        lines.append(
            f"The sample saw no event of the stratum {', '.join(strata)}; its zero-hit bound is "
            "in every upper end above, which is why they can be far above the estimates "
            "(docs/model.md section 8)."
        )
    if "barely_boosted" in unseen:
        lines.append(
            "None of the sample's events was in a window the rare estimator barely boosted (weight >= 0.1), "
            "where an event of a mechanism its tilts do not reach would fall; their zero-hit bound is in "
            "every upper end above (docs/model.md section 8)."
        )
    return lines


def _assumptions(config: Config) -> tuple[tuple[str, ...], ...]:
    """Every model key: its value here, whether the file sets it, and what it means."""
    from riskmc.sweep import toml_value

    rows: list[tuple[str, ...]] = [("key", "value", "set by", "meaning")]
    for key in VALUE_KEYS:
        found, value = lookup(config.raw, key)
        spec = KEYS[key]
        shown = toml_value(value if found else spec.default)
        rows.append((key, shown, "the scenario" if found else "default", spec.doc))
    enabled = [name for name, m in config.mitigations.items() if getattr(m, "enabled", True)]
    rows.append(("mitigations", ", ".join(enabled) or "none", "the scenario", "enabled in the scenario"))
    return tuple(rows)


# -- figures --------------------------------------------------------------------------------------


def _png(fig: Any, meta: Mapping[str, str]) -> bytes:
    from riskmc.plot import DPI

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": "riskmc", **meta})
    return buffer.getvalue()


def _figures(inputs: ReportInputs) -> dict[str, Figure]:
    """The report's figures (none without matplotlib: the tables carry the same numbers)."""
    from riskmc import plot

    try:
        plot.require_matplotlib()
    except plot.MissingMatplotlib:
        return {}
    meta = {k: v for k, v in inputs.provenance.items() if not k.endswith("config_toml")}
    name = inputs.config.name
    figures = {
        "compare": Figure(
            "compare",
            "Risk ratio of each mitigation against the baseline, 95% intervals, on common random numbers.",
            _png(plot.compare_figure(pl.DataFrame(inputs.compare_rows)), meta),
        ),
        "exceedance": Figure(
            "exceedance",
            "Loss exceedance: P(annual impact > threshold), with pointwise 95% intervals.",
            _png(
                plot.exceedance_figure(
                    inputs.exceedance, title=f"{name}: loss exceedance of the annual impact"
                ),
                meta,
            ),
        ),
    }
    if inputs.sweep_rows and inputs.sweep_key:
        df = pl.DataFrame(inputs.sweep_rows)
        fig = plot.sweep_figure(df, inputs.sweep_key, "p_cell_window")
        figures["sweep"] = Figure(
            "sweep", f"p_cell_window against {inputs.sweep_key}, with 95% intervals.", _png(fig, meta)
        )
    if inputs.sensitivity_rows:
        fig = plot.sensitivity_figure(pl.DataFrame(inputs.sensitivity_rows))
        figures["sensitivity"] = Figure(
            "sensitivity", "First-order and total Sobol' indices with BCa 95% intervals.", _png(fig, meta)
        )
    return figures


# -- the report -----------------------------------------------------------------------------------


def assemble(inputs: ReportInputs) -> Report:
    """The sections of the report from what :func:`gather` computed."""
    cfg, run = inputs.config, inputs.run
    row = run.row()
    figures = _figures(inputs)
    plan = run.plan
    method = f"{plan.label}; {int(row['trials']):,} region-windows, seed {run.seed}"  # type: ignore[call-overload]
    sections = [
        Section(
            "Headline",
            (*headline(row), f"Estimator: {method}."),
        ),
        _estimates_section(row, plan.label),
        _compare_section(inputs.compare_rows, figures.get("compare")),
        _exceedance_section(inputs.exceedance, figures.get("exceedance")),
    ]
    if inputs.sweep_rows and inputs.sweep_key:
        sections.append(_sweep_section(inputs.sweep_rows, inputs.sweep_key, figures.get("sweep")))
    if inputs.sensitivity_rows:
        sections.append(_sensitivity_section(inputs.sensitivity_rows, figures.get("sensitivity")))
    if inputs.most_likely:
        sections.append(
            Section(
                "How the record most likely empties",
                (
                    "Events drawn from the estimate's sample in proportion to their weight (so that they "
                    "follow the model's distribution of events), each replayed exactly and measured "
                    "(docs/model.md section 8).",
                ),
                preformatted=inputs.most_likely,
            )
        )
    sections += [
        Section(
            "One event, as the post-mortem would tell it",
            (
                "An empty record replayed event by event by the reference simulator (times in seconds "
                "into the window).",
            ),
            preformatted=inputs.timeline,
        ),
        Section(
            "Assumptions and calibration",
            (
                "Every key of the model (docs/model.md section 6) with its value in this scenario. The "
                "scenario file follows, with its comments: the rationale and calibration of each number.",
            ),
            table=_assumptions(cfg),
            preformatted=inputs.config_text,
        ),
        Section(
            "Provenance",
            ("The same metadata is in every table and PNG that riskmc writes.",),
            table=(
                ("key", "value"),
                *(
                    (k.removeprefix("riskmc_"), v)
                    for k, v in inputs.provenance.items()
                    if "config_toml" not in k
                ),
            ),
        ),
    ]
    if not figures:
        sections[0] = Section(
            sections[0].title,
            (
                *sections[0].paragraphs,
                "Figures omitted: matplotlib is not installed (pip install 'riskmc[plot]').",
            ),
        )
    return Report(f"riskmc design review: {cfg.name}", tuple(sections))


_ESTIMATE_NAMES = (
    ("p_cell_window", "P(a cell's window has an event)"),
    ("p_region_window", "P(a region-window has an event)"),
    ("events_per_region_year", "events per region-year"),
    ("p_region_year", "P(a region-year has an event)"),
    ("cells_per_event_window", "cells hit per event window"),
    ("impact_given_event_min", "impact given an event (region-traffic-minutes)"),
    ("impact_per_year_min", "expected impact per region-year (region-traffic-minutes)"),
    ("impact_per_year_p99_min", "99th percentile of the annual impact"),
    ("impact_per_year_cvar99_min", "CVaR 99% of the annual impact"),
    ("mean_plan_age_s", "mean age of the plan in service (s)"),
    ("runs_per_hour", "Enactor runs per cell-hour"),
    ("abandoned_runs_per_hour", "abandoned runs per cell-hour"),
    ("p_collapse_given_event", "beyond DNS: P(DWFM collapses | an event window)"),
    ("ec2_impaired_given_event_min", "beyond DNS: EC2 launch-impairment minutes per event window"),
    ("nlb_capacity_lost_given_event", "beyond DNS: NLB capacity-minutes lost per event window"),
    ("ec2_impaired_per_year_min", "beyond DNS: EC2 launch-impairment minutes per region-year"),
    ("ec2_impaired_per_year_p99_min", "beyond DNS: 99th percentile of a region-year's EC2 impairment"),
    ("ec2_impaired_per_year_cvar99_min", "beyond DNS: CVaR 99% of a region-year's EC2 impairment"),
    ("nlb_capacity_lost_per_year", "beyond DNS: NLB capacity-minutes lost per region-year"),
)


def _estimates_section(row: Mapping[str, Any], label: str) -> Section:
    table = [("estimate", "column", "value [95% CI]", "method")]
    for name, words in _ESTIMATE_NAMES:
        method = str(row[f"{name}_method"])
        for sep in (": ", "; "):  # the estimator is named once, above
            method = method.removeprefix(label + sep)
        table.append((words, name, _ci(row, name), method))
    return Section(
        "Estimates",
        (f"Every estimate with its 95% interval and the method that produced it, under {label}.",),
        table=tuple(table),
    )


def _compare_section(rows: Sequence[Mapping[str, Any]], figure: Figure | None) -> Section:
    unseen = any(r.get("unobserved_strata") for r in rows)
    head = ["scenario", "risk ratio [95% CI]"]
    if unseen:  # the totals' upper ends are swamped by what no sample saw: each stratum's ratio
        head += ["without a degraded run", "with a degraded run"]
    head += ["p_cell_window", "impact saved per region-year", "EC2 minutes saved per region-year"]
    head += ["plan age change (s)"]
    table = [tuple(head)]
    for r in rows:
        cells = [str(r["mitigation"]), _ci(r, "risk_ratio")]
        if unseen:
            cells += [_ci(r, "risk_ratio_no_degraded"), _ci(r, "risk_ratio_degraded")]
        cells += [_ci(r, "p_cell_window"), _ci(r, "impact_reduction_min"), _ci(r, "ec2_impaired_saved_min")]
        cells.append(_ci(r, "plan_age_change_s"))
        table.append(tuple(cells))
    text = [
        "Each mitigation alone, on the same trials as the baseline (common random numbers), so the risk "
        "ratios are paired. Impact saved is in region-traffic-minutes per region-year; EC2 minutes saved "
        "are the downstream cascade's launch-impairment minutes per region-year (queue_throttle, "
        "nlb_velocity_control and rehearsed_recovery act there only, on the baseline's own events)."
    ]
    others = [r for r in rows if r["mitigation"] != "baseline"]
    column = "risk_ratio_degraded" if unseen else "risk_ratio"
    if others:
        best = min(others, key=lambda r: (float(r[f"{column}_hi"]), float(r[column])))  # type: ignore[arg-type]
        text.append(
            f"Lowest upper bound on the risk ratio{' of events with a degraded run' if unseen else ''}: "
            f"{best['mitigation']} ({_ci(best, column)})."
        )
    if unseen:
        text.append(
            "Some scenario saw no event of a stratum (or, under the rare estimator, none in a window it "
            "barely boosted): that part is only bounded, and its bound is in the total risk ratio's upper "
            "end; the stratum columns show what each sample did see."
        )
    return Section("Mitigations", tuple(text), tuple(table), (figure,) if figure else ())


def _exceedance_section(df: pl.DataFrame, figure: Figure | None) -> Section:
    table = [("annual impact above (region-traffic-minutes)", "probability [95% CI]")]
    for r in df.iter_rows(named=True):
        table.append((_num(r["threshold_min"]), _ci(r, "p_exceed")))
    return Section(
        "Loss exceedance",
        ("P(the impact of a region-year exceeds a threshold), from the compound year model.",),
        tuple(table),
        (figure,) if figure else (),
    )


def _sweep_section(rows: Sequence[Mapping[str, Any]], key: str, figure: Figure | None) -> Section:
    table = [(key, "p_cell_window", "events per region-year", "impact per region-year")]
    for r in rows:
        table.append(
            (
                str(r[key]),
                _ci(r, "p_cell_window"),
                _ci(r, "events_per_region_year"),
                _ci(r, "impact_per_year_min"),
            )
        )
    return Section(
        f"Sweep of {key}",
        ("Every point on the same trials (common random numbers).",),
        tuple(table),
        (figure,) if figure else (),
    )


def _sensitivity_section(rows: Sequence[Mapping[str, Any]], figure: Figure | None) -> Section:
    table = [("output", "input", "first order [95% CI]", "total [95% CI]")]
    for r in rows:
        table.append(
            (
                str(r["output"]),
                str(r["input"]),
                f"{_num(r['first_order'])} [{_num(r['first_order_lo'])}, {_num(r['first_order_hi'])}]",
                f"{_num(r['total_order'])} [{_num(r['total_order_lo'])}, {_num(r['total_order_hi'])}]",
            )
        )
    return Section(
        "Sensitivity",
        ("Sobol' indices over the given ranges (Saltelli design, Jansen estimators, BCa intervals).",),
        tuple(table),
        (figure,) if figure else (),
    )


# -- rendering ------------------------------------------------------------------------------------

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 70em;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #446; padding-bottom: .2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; color: #334; }
table { border-collapse: collapse; font-size: .88em; margin: .6em 0; }
th, td { border: 1px solid #ccd; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #eef; }
pre { background: #f6f6f8; border: 1px solid #dde; padding: .6em; overflow-x: auto; font-size: .8em; }
figure { margin: 1em 0; } figcaption { font-size: .85em; color: #555; }
img { max-width: 100%; height: auto; }
"""


def to_html(report: Report) -> str:
    """One self-contained page: inline style, figures as data URIs, no script, no link out."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(report.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
    ]
    for s in report.sections:
        parts.append(f"<h2>{e(s.title)}</h2>")
        parts += [f"<p>{e(p)}</p>" for p in s.paragraphs]
        for f in s.figures:
            data = base64.b64encode(f.png).decode("ascii")
            parts.append(
                f'<figure><img alt="{e(f.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(f.caption)}</figcaption></figure>"
            )
        if s.table:
            head, *body = s.table
            parts.append(
                "<table><thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in head) + "</tr></thead><tbody>"
            )
            parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in body]
            parts.append("</tbody></table>")
        if s.preformatted:
            parts.append(f"<pre>{e(s.preformatted)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report, figure_files: Mapping[str, str]) -> str:
    """The same content as Markdown; ``figure_files`` maps a figure's name to the file (a
    path relative to the Markdown file) that holds its PNG."""
    lines = [f"# {report.title}", ""]
    for s in report.sections:
        lines += [f"## {s.title}", ""]
        for p in s.paragraphs:
            lines += [p, ""]
        for f in s.figures:
            if f.name in figure_files:
                lines += [f"![{f.caption}]({figure_files[f.name]})", "", f"*{f.caption}*", ""]
        if s.table:
            head, *body = s.table
            lines.append("| " + " | ".join(_md_cell(c) for c in head) + " |")
            lines.append("|" + "---|" * len(head))
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in body]
            lines.append("")
        if s.preformatted:
            fence = "````" if "```" in s.preformatted else "```"
            lines += [fence, s.preformatted.rstrip("\n"), fence, ""]
    return "\n".join(lines)
