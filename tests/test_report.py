"""Tests of the design-review report (riskmc.report, riskmc.cli.report)."""

from __future__ import annotations

import base64
import html.parser
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from riskmc import estimators
from riskmc.compare import scenarios
from riskmc.provenance import provenance
from riskmc.report import Report, ReportInputs, assemble, gather, headline, to_html, to_markdown
from tests.conftest import stress_config
from tests.test_cli import assert_one_error_line, invoke

TRIALS = 200
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def inputs() -> ReportInputs:
    cfg = stress_config(["name=stress_report"])
    plan = estimators.naive_plan()
    meta = provenance(cfg, seed=11, estimator=plan.short, command=["riskmc", "report", "x.toml"])
    return gather(
        cfg,
        config_text="# the scenario file\nname = 'stress_report'\n",
        seed=11,
        trials=TRIALS,
        plan=plan,
        provenance=meta,
        sweep="write.fail_prob=0.01,0.1",
    )


@pytest.fixture(scope="module")
def report(inputs: ReportInputs) -> Report:
    return assemble(inputs)


class _Checker(html.parser.HTMLParser):
    """Collects the images' sources and every link, and checks that tags balance."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values.get("src") or "")
        for name in ("href", "src"):
            if values.get(name) and tag != "img":
                self.links.append(values[name] or "")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (self.stack[-3:], tag)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_well_formed(report: Report) -> None:
    page = to_html(report)
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    assert checker.links == []  # no stylesheet, script or link to fetch
    assert "http://" not in page and "https://" not in page
    assert len(checker.images) == len(report.figures) == 3  # compare, exceedance, sweep
    for src in checker.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)


def test_report_holds_the_run_s_numbers(inputs: ReportInputs, report: Report) -> None:
    row = inputs.run.row()
    page = to_html(report)
    titles = [s.title for s in report.sections]
    for title in ("Headline", "Estimates", "Mitigations", "Loss exceedance", "Sweep of write.fail_prob"):
        assert title in titles
    assert "Assumptions and calibration" in titles and titles[-1] == "Provenance"
    assert headline(row)[0] in page
    # beyond DNS: the cascade's estimates in the headline and the estimates table
    assert any(line.startswith("Beyond DNS") for line in headline(row))
    estimates = next(s for s in report.sections if s.title == "Estimates")
    assert "ec2_impaired_per_year_min" in [r[1] for r in estimates.table]
    # every scenario of the comparison is a row of its table, in order
    compare = next(s for s in report.sections if s.title == "Mitigations")
    assert [r[0] for r in compare.table[1:]] == [label for label, _ in scenarios(inputs.config)]
    # the exceedance table is the run's
    exceedance = next(s for s in report.sections if s.title == "Loss exceedance")
    assert len(exceedance.table) - 1 == inputs.exceedance.height
    # assumptions: every key; the scenario file with its comments; provenance without the TOML copy
    assumptions = next(s for s in report.sections if s.title == "Assumptions and calibration")
    assert "write.fail_prob" in [r[0] for r in assumptions.table]
    assert "# the scenario file" in assumptions.preformatted
    provenance_rows = dict(report.sections[-1].table[1:])
    assert provenance_rows["seed"] == "11" and provenance_rows["config_hash"] == inputs.config.hash()
    assert "config_toml" not in provenance_rows


def test_timeline_is_an_event_of_the_sample(inputs: ReportInputs) -> None:
    """The timeline is the representative of the most likely path's draws: an event of the
    estimate's own sample, whose summary the report shows too."""
    smp = inputs.run.sample
    assert smp.events.sum() > 0  # the stress scenario has events in 200 windows
    shown = re.search(r"trial (\d+), cell (\d+)", inputs.timeline)
    assert shown is not None
    i = int(np.flatnonzero(smp.trials == int(shown.group(1)))[0])
    assert smp.events[i] > 0 and int(smp.first_event_cell[i]) == int(shown.group(2))
    assert "Enactor" in inputs.timeline and "empty" in inputs.timeline.lower()
    assert "the most likely way the record empties" in inputs.most_likely


def test_markdown_has_the_same_sections_tables_and_figures(report: Report) -> None:
    files = {f.name: f"r_{f.name}.png" for f in report.figures}
    text = to_markdown(report, files)
    assert re.findall(r"^## (.+)$", text, re.M) == [s.title for s in report.sections]
    for name in files.values():
        assert f"]({name})" in text
    for section in report.sections:
        for row in section.table[1:3]:
            assert "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" in text


def test_headline_reads_the_rate_as_years_between_events() -> None:
    row = {
        "events_per_region_year": 0.01,
        "events_per_region_year_lo": 0.005,
        "events_per_region_year_hi": 0.02,
        "p_cell_window": 1e-6,
        "p_cell_window_lo": 5e-7,
        "p_cell_window_hi": 2e-6,
        "p_region_year": 0.00995,
        "p_region_year_lo": 0.005,
        "p_region_year_hi": 0.0198,
        "impact_per_year_min": 1.5,
        "impact_per_year_min_lo": 1.0,
        "impact_per_year_min_hi": 2.0,
        "impact_given_event_min": 150.0,
        "impact_given_event_min_lo": 100.0,
        "impact_given_event_min_hi": 200.0,
        "unobserved_strata": "",
    }
    lines = headline(row)
    assert lines[0].startswith("About one empty-record event per 100 region-years")
    assert "one per 50 to one per 200 region-years" in lines[0]
    assert "1.5 min a year" in lines[2]
    assert len(lines) == 3  # no unseen-stratum sentence
    lines = headline({**row, "events_per_region_year": 0.0, "events_per_region_year_lo": 0.0})
    assert lines[0].startswith("No empty-record event in the sample; the rate is at most one per 50")


# -- the command -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.test_cli import stress_toml

    path = tmp_path_factory.mktemp("cfg") / "stressy.toml"
    path.write_text("# a comment the report must keep\n" + stress_toml("stressy"))
    return path


def test_report_command_writes_html_markdown_and_figures(config_file: Path, tmp_path: Path) -> None:
    result = invoke(["report", config_file, "--trials", TRIALS, "--out", tmp_path / "r"])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    markdown = (tmp_path / "r.md").read_text()
    assert "# a comment the report must keep" in page and "# a comment the report must keep" in markdown
    pngs = sorted(p.name for p in tmp_path.glob("r_*.png"))
    assert pngs == ["r_compare.png", "r_exceedance.png"]
    assert "report" in result.stdout and "headline" in result.stdout
    assert not list(tmp_path.glob(".*.tmp"))
    # the numbers come from the same trials as 'riskmc run'
    run = invoke(["run", config_file, "--trials", TRIALS, "--out", tmp_path / "row", "-q"])
    assert run.exit_code == 0, run.output
    row = pl.read_parquet(tmp_path / "row.parquet").row(0, named=True)
    assert headline(row)[0] in page


def test_report_command_bad_input_is_one_line(config_file: Path, tmp_path: Path) -> None:
    cases = [
        (["--out", tmp_path / "absent" / "r"], "does not exist"),
        (["--sweep", "no.such.key=1,2"], "no.such.key"),
        (["--sweep", "write.fail_prob"], "--sweep"),
        (["--range", "degraded.prob=0.1:0.2", "--n", "6"], "power of 2"),
    ]
    for extra, fragment in cases:
        result = invoke(["report", config_file, "--trials", TRIALS, "--out", tmp_path / "x", *extra])
        assert_one_error_line(result, fragment)
    assert not list(tmp_path.glob("x*"))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed")
def test_report_renders_in_a_real_browser(report: Report, tmp_path: Path) -> None:
    """Chromium opens the file without network and draws every figure (a decoded image has a
    natural width; a broken one has 0)."""
    page = tmp_path / "r.html"
    probe = "<script>document.title = [...document.images].map(i => i.naturalWidth).join(',');</script>"
    page.write_text(to_html(report).replace("</body>", probe + "</body>"))
    out = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    title = re.search(r"<title>(.*?)</title>", out.stdout)
    assert title is not None, out.stderr[-500:]
    widths = [int(w) for w in title.group(1).split(",")]
    assert len(widths) == len(report.figures) and all(w > 100 for w in widths), widths
