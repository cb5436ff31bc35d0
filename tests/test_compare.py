"""Tests of the mitigation comparison (riskmc.compare) and ``riskmc compare``.

The comparison machinery is tested on scenario pairs that differ in ``degraded.prob``
(common random numbers make those paired as well) and on every mitigation; importance
sampling against plain Monte Carlo where both can run.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.stats
from typer.testing import CliRunner, Result

import riskmc.cli.compare as cli_compare
import riskmc.compare as compare_mod
from riskmc import estimators
from riskmc.cli import app
from riskmc.compare import (
    BASELINE,
    DEFAULT_PARAMS,
    REFERENCE_METHOD,
    RISK_RATIO_METHOD,
    compare,
    mean_difference,
    paired_table,
    risk_ratio,
    risk_ratio_from_table,
    scenarios,
    unpaired_mean_difference,
    weighted_mean_difference,
    weighted_risk_ratio,
)
from riskmc.config import MITIGATIONS, Config, ConfigError, load_config, parse_config
from riskmc.estimates import CONFIDENCE, ConfidenceInterval
from riskmc.estimators import naive_plan, resolve
from riskmc.tables import read_table

from .conftest import STRESS, stress_config

Z = float(scipy.stats.norm.ppf(0.5 + CONFIDENCE / 2))
REPO = Path(__file__).resolve().parent.parent


@functools.cache
def test_default_scenarios(stress: Config) -> None:
    built = scenarios(stress)
    assert [label for label, _ in built] == [BASELINE, *MITIGATIONS]
    assert [cfg.name for _, cfg in built] == [f"config+{label}" for label, _ in built]
    assert len({cfg.hash() for _, cfg in built}) == len(built)
    base = built[0][1]
    assert base.mitigations == {}
    for label, cfg in built:
        assert dict(cfg.values) == dict(stress.values)
        assert (cfg.seed, cfg.trials, cfg.weights) == (stress.seed, stress.trials, stress.weights)
        if label != BASELINE:
            assert list(cfg.mitigations) == [label]
    by = dict(built)
    for name, params in DEFAULT_PARAMS.items():
        for p, v in params.items():
            got = by[name].mitigations[name][p]
            if isinstance(v, dict):
                assert got.describe() == "lognorm(s=0.5, scale=120)"  # type: ignore[union-attr]
            else:
                assert got == v
    for name in ("recheck", "conditional_write", "cleanup_skip_active"):
        assert by[name].mitigations[name] == {}


def test_overrides_reach_every_scenario() -> None:
    cfg = stress_config(["degraded.prob=0.2", "name=tweaked"])
    for label, sc in scenarios(cfg, ["recheck", "deadline+lease"]):
        assert sc.values["degraded.prob"] == 0.2
        assert sc.name == f"tweaked+{label}"


def test_params_from_config_tables_enabled_or_not() -> None:
    raw = {
        **STRESS,
        "mitigations": {
            "deadline": {"seconds": 12, "enabled": False},
            "lease": {"seconds": 7.5, "enabled": False},
            "cleanup_min_age": {"enabled": False},  # no parameter: the default
            "empty_guard": {"repair": {"dist": "expon", "scale": 40}, "enabled": False},
            "recheck": False,
        },
    }
    cfg = parse_config(raw)
    assert cfg.mitigations == {}  # nothing enabled in the config itself
    by = dict(scenarios(cfg))
    assert by["deadline"].mitigations == {"deadline": {"seconds": 12.0}}
    assert by["lease"].mitigations == {"lease": {"seconds": 7.5}}
    assert by["cleanup_min_age"].mitigations == {"cleanup_min_age": {"age": 300.0}}
    assert by["empty_guard"].flat()["mitigations.empty_guard.repair"] == "expon(scale=40)"
    assert list(by["recheck"].mitigations) == ["recheck"]
    assert by[BASELINE].mitigations == {}
    combo = dict(scenarios(cfg, ["lease+deadline"]))["deadline+lease"]
    assert combo.mitigations == {"deadline": {"seconds": 12.0}, "lease": {"seconds": 7.5}}


def test_baseline_removes_enabled_mitigations() -> None:
    raw = {**STRESS, "mitigations": {"deadline": {"seconds": 45}, "recheck": True}}
    cfg = parse_config(raw)
    assert set(cfg.mitigations) == {"deadline", "recheck"}
    built = scenarios(cfg, ["deadline"])
    assert [label for label, _ in built] == [BASELINE, "deadline"]
    assert built[0][1].mitigations == {}
    assert built[1][1].mitigations == {"deadline": {"seconds": 45.0}}  # recheck not carried over


def test_combinations_and_labels(stress: Config) -> None:
    names = ["deadline+recheck", "lease", " cleanup_min_age + conditional_write ", "baseline"]
    built = scenarios(stress, names)
    labels = [label for label, _ in built]
    assert labels == [BASELINE, "recheck+deadline", "lease", "conditional_write+cleanup_min_age"]
    by = dict(built)
    assert list(by["recheck+deadline"].mitigations) == ["recheck", "deadline"]
    assert by["recheck+deadline"].name == "config+recheck+deadline"
    combo = by["conditional_write+cleanup_min_age"]  # docs/model.md's order, whatever the spelling
    assert list(combo.mitigations) == ["conditional_write", "cleanup_min_age"]
    assert [label for label, _ in scenarios(stress, [])] == [BASELINE]
    assert [label for label, _ in scenarios(stress, "lease")] == [BASELINE, "lease"]  # a lone string


@pytest.mark.parametrize(
    ("names", "fragments"),
    [
        (["bogus"], ["unknown mitigation 'bogus'", "known: recheck"]),
        (["rechek"], ["did you mean 'recheck'"]),
        (["recheck+bogus"], ["'bogus' in 'recheck+bogus'"]),
        (["recheck+"], ["empty mitigation name"]),
        ([""], ["empty mitigation name"]),
        (["recheck+recheck"], ["more than once"]),
        (["recheck+deadline", "deadline+recheck"], ["'recheck+deadline' is given more than once"]),
    ],
)
def test_bad_names(stress: Config, names: list[str], fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        scenarios(stress, names)
    assert info.value.key == "mitigations"
    for fragment in fragments:
        assert fragment in info.value.problem


def test_scenario_configs_are_validated(stress: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    for _, cfg in scenarios(stress):  # each is a parse_config result: re-parsing is stable
        assert parse_config(cfg.raw, cfg.source).hash() == cfg.hash()
    monkeypatch.setitem(DEFAULT_PARAMS, "deadline", {"seconds": 0.0})
    with pytest.raises(ConfigError) as info:
        scenarios(stress, ["deadline"])
    assert info.value.key == "mitigations.deadline.seconds"


def test_compare_toml() -> None:
    cfg = load_config(REPO / "configs" / "compare.toml")
    assert cfg.mitigations == {}  # every table disabled: `riskmc compare` compares each alone
    raw_tables = cfg.raw["mitigations"]
    assert set(raw_tables) == set(MITIGATIONS)
    assert all(t["enabled"] is False for t in raw_tables.values())
    by = dict(scenarios(cfg))
    for name, params in MITIGATIONS.items():
        assert list(by[name].mitigations) == [name]
        for p in params:  # from the file, not the defaults
            in_file = parse_config({"mitigations": {name: {p: raw_tables[name][p]}}})
            assert by[name].canonical()["mitigations"] == in_file.canonical()["mitigations"]
    assert by["deadline"].mitigations["deadline"]["seconds"] != DEFAULT_PARAMS["deadline"]["seconds"]


# -- the paired risk ratio -----------------------------------------------------------------------


def bonett_price(n11: int, n12: int, n21: int) -> tuple[float, float]:
    """Bonett & Price (2006) hybrid Wilson interval for pi_1+/pi_+1, written out anew.

    n11 both, n12 only the numerator's scenario, n21 only the denominator's.
    """
    n1p, np1, ns = n11 + n12, n11 + n21, n11 + n12 + n21
    se_log = math.sqrt((n12 + n21 + 2) / ((n1p + 1) * (np1 + 1)))
    se1 = math.sqrt((1 - (n1p + 1) / (ns + 2)) / (n1p + 1))
    se2 = math.sqrt((1 - (np1 + 1) / (ns + 2)) / (np1 + 1))
    z = Z * se_log / (se1 + se2)

    def wilson(x: int) -> tuple[float, float]:
        p = x / ns
        centre = (p + z**2 / (2 * ns)) / (1 + z**2 / ns)
        half = z / (1 + z**2 / ns) * math.sqrt(p * (1 - p) / ns + z**2 / (4 * ns**2))
        return centre - half, centre + half

    (l1, u1), (l2, u2) = wilson(n1p), wilson(np1)
    return l1 / u2, (u1 / l2 if l2 > 0 else math.inf)


def arrays(both: int, other_only: int, base_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-trial (base, other) event arrays of a paired table, shuffled."""
    base = np.array([True] * both + [False] * other_only + [True] * base_only + [False] * neither)
    other = np.array([True] * both + [True] * other_only + [False] * base_only + [False] * neither)
    order = np.random.default_rng(1).permutation(base.size)
    return base[order], other[order]


def test_risk_ratio_published_value() -> None:
    """Cavo et al. (2012) paired table [[59, 6], [16, 80]]: Bonett-Price hybrid Wilson
    0.8667 (0.7579 to 0.9910), as printed by the R package contingencytables (Fagerland,
    Lydersen & Laake, "Statistical Analysis of Contingency Tables", 2017, chapter 8)."""
    e = risk_ratio(*arrays(59, 6, 16, 80))
    assert e.method == RISK_RATIO_METHOD
    assert e.estimate == pytest.approx(65 / 75)
    assert e.confidence_interval.low == pytest.approx(0.7579, abs=5e-5)
    assert e.confidence_interval.high == pytest.approx(0.9910, abs=5e-5)


@pytest.mark.parametrize(
    "table",
    [(59, 6, 16, 80), (1, 1, 7, 12), (0, 3, 9, 100), (5, 0, 0, 10), (0, 1, 1, 0), (200, 40, 400, 9000)],
)
def test_risk_ratio_formula(table: tuple[int, int, int, int]) -> None:
    both, other_only, base_only, _ = table
    e = risk_ratio_from_table(*table)
    lo, hi = bonett_price(both, other_only, base_only)
    assert e.estimate == pytest.approx((both + other_only) / (both + base_only))
    assert e.confidence_interval.low == pytest.approx(lo, rel=1e-12)
    assert e.confidence_interval.high == pytest.approx(hi, rel=1e-12)
    assert e.confidence_interval.low <= e.estimate <= e.confidence_interval.high
    assert risk_ratio(*arrays(*table)) == e
    assert paired_table(*arrays(*table)) == table


def test_risk_ratio_zero_events_with_mitigation() -> None:
    """0 of 1000 after, 30 before: estimate 0 and an honest finite upper bound."""
    e = risk_ratio(*arrays(0, 0, 30, 970))
    assert e.estimate == 0.0
    assert e.confidence_interval.low == 0.0
    hi = e.confidence_interval.high
    assert math.isfinite(hi) and 0.0 < hi < 1.0
    # closed form: Wilson limits u1 = z*^2/(n*+z*^2), l2 = n*/(n*+z*^2), so U = z*^2 / n*
    a = math.sqrt(32 / 31)
    z = Z * a / (math.sqrt(31 / 32) + math.sqrt(1 / (32 * 31)))
    assert hi == pytest.approx(z**2 / 30, rel=1e-12)
    # fewer baseline events: a weaker (larger) bound, still finite
    assert hi < risk_ratio_from_table(0, 0, 5, 995).confidence_interval.high < math.inf


def test_risk_ratio_zero_baseline_events() -> None:
    e = risk_ratio(*arrays(0, 5, 0, 995))
    assert math.isnan(e.estimate)
    assert e.confidence_interval.high == math.inf
    assert 0.0 < e.confidence_interval.low < math.inf  # the mitigated scenario has events
    none = risk_ratio(np.zeros(100, bool), np.zeros(100, bool))
    assert math.isnan(none.estimate)
    assert (none.confidence_interval.low, none.confidence_interval.high) == (0.0, math.inf)


def test_risk_ratio_input_checks() -> None:
    with pytest.raises(ValueError, match="same trials"):
        risk_ratio(np.zeros(10, bool), np.zeros(11, bool))
    with pytest.raises(ValueError, match=">= 0"):
        risk_ratio_from_table(1, -1, 2, 3)


@pytest.mark.parametrize(
    ("n", "p11", "p12", "p21"),
    [(1000, 0.015, 0.005, 0.035), (500, 0.002, 0.002, 0.018)],
    ids=["moderate", "few-events"],
)
def test_risk_ratio_coverage(n: int, p11: float, p12: float, p21: float) -> None:
    """Coverage of the true p_other/p_base over 1000 paired tables, within 4 sigma of 95%
    or above (the few-events case has a zero numerator in about 14% of the tables)."""
    truth = (p11 + p12) / (p11 + p21)
    rng = np.random.default_rng(2006)
    tables = rng.multinomial(n, [p11, p12, p21, 1 - p11 - p12 - p21], size=1000)
    hits = total = 0
    for both, other_only, base_only, neither in tables:
        table = (int(both), int(other_only), int(base_only), int(neither))
        ci = risk_ratio_from_table(*table).confidence_interval
        if both + base_only == 0:
            continue  # ratio undefined in this table (never in these settings, in practice)
        total += 1
        hits += ci.low <= truth <= ci.high
    assert total > 990
    assert hits / total >= CONFIDENCE - 4 * math.sqrt(CONFIDENCE * (1 - CONFIDENCE) / total)


# -- differences of means --------------------------------------------------------------------------


def test_mean_difference_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(10, 2, 50)
    other = base + rng.normal(0.5, 0.3, 50)
    e = mean_difference(base, other)
    ci = scipy.stats.ttest_rel(other, base).confidence_interval(CONFIDENCE)
    assert e.method == "paired-t"
    assert e.estimate == pytest.approx(float(np.mean(other - base)))
    assert (e.confidence_interval.low, e.confidence_interval.high) == pytest.approx((ci.low, ci.high))
    w = unpaired_mean_difference(base, other)
    ci = scipy.stats.ttest_ind(other, base, equal_var=False).confidence_interval(CONFIDENCE)
    assert w.method == "welch-t"
    assert w.estimate == pytest.approx(e.estimate)
    assert (w.confidence_interval.low, w.confidence_interval.high) == pytest.approx((ci.low, ci.high))


def test_mean_difference_edge_cases() -> None:
    x = np.array([1.0, 2.0, 4.0])
    same = mean_difference(x, x)
    assert (same.estimate, same.confidence_interval.low, same.confidence_interval.high) == (0.0, 0.0, 0.0)
    # a non-finite value drops its pair only
    e = mean_difference(np.array([1.0, np.nan, 3.0, 4.0]), np.array([2.0, 5.0, 5.0, 5.0]))
    assert e.estimate == pytest.approx(np.mean([1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="same trials"):
        mean_difference(x, x[:2])
    assert math.isnan(mean_difference(np.array([]), np.array([])).estimate)


# -- pairing on the engine's common random numbers ---------------------------------------------------

PAIR_TRIALS = 4000
PAIR_SEED = 3


@pytest.fixture(scope="module")
def pair() -> tuple[estimators.Run, estimators.Run]:
    """Two scenarios differing only in degraded.prob (0.005 vs 0.01), same trials and seed."""
    base = stress_config(["degraded.prob=0.005", "name=half"])
    other = stress_config(["degraded.prob=0.01", "name=double"])
    return (
        estimators.run(base, naive_plan(), trials=PAIR_TRIALS, seed=PAIR_SEED, n_resamples=10),
        estimators.run(other, naive_plan(), trials=PAIR_TRIALS, seed=PAIR_SEED, n_resamples=10),
    )


def width(e: Any) -> float:
    return float(e.confidence_interval.high - e.confidence_interval.low)


def test_paired_plan_age_difference_is_narrower(pair: tuple[estimators.Run, estimators.Run]) -> None:
    a, b = (r.sample for r in pair)
    paired = mean_difference(a.mean_plan_age_s, b.mean_plan_age_s)
    welch = unpaired_mean_difference(a.mean_plan_age_s, b.mean_plan_age_s)
    assert paired.estimate == pytest.approx(welch.estimate)
    assert width(paired) < 0.5 * width(welch)


def test_paired_risk_ratio_is_narrower(pair: tuple[estimators.Run, estimators.Run]) -> None:
    a, b = (r.sample.events > 0 for r in pair)
    n = a.size
    x_base, x_other = int(a.sum()), int(b.sum())
    assert x_base >= 30 and x_other > x_base  # doubling degraded.prob makes the event commoner
    paired = risk_ratio(a, b)
    assert paired.estimate == pytest.approx(x_other / x_base)
    # naive log-ratio (Katz) interval treating the two samples as independent
    se = math.sqrt(1 / x_other - 1 / n + 1 / x_base - 1 / n)
    log_r = math.log(x_other / x_base)
    naive = (math.exp(log_r - Z * se), math.exp(log_r + Z * se))
    assert paired.confidence_interval.low > naive[0]
    assert paired.confidence_interval.high < naive[1]
    # common random numbers: far more trials with an event in both than independence gives
    both, _, _, _ = paired_table(a, b)
    assert both > 5 * x_base * x_other / n


def degraded_pairs(config: Config, names: Sequence[str] | None) -> list[tuple[str, Config]]:
    """scenarios() varying degraded.prob instead of the mitigations (same shape: the
    reference first, distinct names)."""
    return [
        (BASELINE, config.with_overrides([f"name={config.name}+baseline"])),
        ("degraded_x4", config.with_overrides([f"name={config.name}+degraded_x4", "degraded.prob=0.02"])),
    ]


def test_compare_rows(pair: tuple[estimators.Run, estimators.Run], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        compare_mod,
        "scenarios",
        lambda config, names: [("half", pair[0].config), ("double", pair[1].config)],
    )
    trials = 1000  # trials [0, 1000) are the first 1000 of the fixture's (bit-identical)
    rows = compare(pair[0].config, trials=trials, seed=PAIR_SEED, plan=naive_plan())
    assert [r["mitigation"] for r in rows] == ["half", "double"]
    assert [r["scenario"] for r in rows] == ["half", "double"]
    keys = list(rows[0])
    assert keys[:2] == ["scenario", "mitigation"]
    assert keys.index("cells_per_event_window_method") < keys.index("risk_ratio") < keys.index("rel_err")
    ref, row = rows
    assert list(row) == keys
    assert [ref[f"risk_ratio{s}"] for s in ("", "_lo", "_hi")] == [1.0, 1.0, 1.0]
    assert ref["risk_ratio_method"] == ref["plan_age_change_s_method"] == REFERENCE_METHOD
    assert [ref[f"plan_age_change_s{s}"] for s in ("", "_lo", "_hi")] == [0.0, 0.0, 0.0]
    a, b = (r.sample.take(slice(0, trials)) for r in pair)
    expected = risk_ratio(a.events > 0, b.events > 0)
    assert row["risk_ratio"] == expected.estimate
    assert (row["risk_ratio_lo"], row["risk_ratio_hi"]) == (
        expected.confidence_interval.low,
        expected.confidence_interval.high,
    )
    assert row["risk_ratio_method"] == RISK_RATIO_METHOD
    age = mean_difference(a.mean_plan_age_s, b.mean_plan_age_s)
    assert row["plan_age_change_s"] == pytest.approx(age.estimate, abs=1e-12)
    assert (row["plan_age_change_s_hi"] - row["plan_age_change_s_lo"]) == pytest.approx(width(age), rel=1e-9)
    assert [ref[f"impact_reduction_min{s}"] for s in ("", "_lo", "_hi")] == [0.0, 0.0, 0.0]
    lo, est, hi = (float(row[f"impact_reduction_min{s}"]) for s in ("_lo", "", "_hi"))
    assert lo <= est <= hi and math.isfinite(hi - lo)
    assert est < 0 and row["impact_reduction_min_method"] == "paired-t x windows per region-year"
    for r in rows:
        assert r["trials"] == trials and r["seed"] == PAIR_SEED
    assert row["events"] == int(b.events.sum())
    assert row["p_cell_window"] == pytest.approx((b.events > 0).mean())
    assert row["degraded.prob"] == 0.01 and ref["degraded.prob"] == 0.005


# -- the command line ------------------------------------------------------------------------------

CLI_CONFIG = """\
name = "small"
trials = 1000

[window]
hours = 0.25

[planner]
interval = {dist = "expon", scale = 3}

[enactors]
poll_interval = 2.0

[endpoints]
count = 5

[degraded]
prob = 0.005
fail_prob = 0.8

[cleanup]
keep_generations = 3
"""

CLI_TRIALS = "200"

COMPARE_COLUMNS = [
    "scenario",
    "mitigation",
    "trials",
    "events",
    "p_cell_window",
    "p_cell_window_lo",
    "p_cell_window_hi",
    "p_cell_window_method",
    "p_cell_window_no_degraded",
    "p_cell_window_degraded",
    "mean_plan_age_s",
    "runs_per_hour",
    "abandoned_runs_per_hour",
    "abandoned_runs_per_hour_lo",
    "abandoned_runs_per_hour_hi",
    "risk_ratio",
    "risk_ratio_lo",
    "risk_ratio_hi",
    "risk_ratio_method",
    "risk_ratio_no_degraded",
    "risk_ratio_degraded",
    "plan_age_change_s",
    "plan_age_change_s_lo",
    "plan_age_change_s_hi",
    "plan_age_change_s_method",
    "impact_reduction_min",
    "impact_reduction_min_lo",
    "impact_reduction_min_hi",
    "impact_reduction_min_method",
    "rel_err",
    "seed",
    "version",
    "elapsed_s",
    "degraded.prob",
    "mitigations",
]

runner = CliRunner()


def invoke(args: Sequence[object]) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def assert_one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def cli_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "small.toml"
    path.write_text(CLI_CONFIG)
    return path


def test_cli_compare_writes_rows(cli_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compare_mod, "scenarios", degraded_pairs)
    out = tmp_path / "cmp"
    result = invoke(["compare", cli_config, "--trials", CLI_TRIALS, "--seed", "5", "--out", out])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # not a terminal: no progress bar
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.csv", "cmp.parquet"]
    df = read_table(out.with_suffix(".csv"))
    assert df.height == 2
    assert [c for c in COMPARE_COLUMNS if c not in df.columns] == []
    assert df["mitigation"].to_list() == [BASELINE, "degraded_x4"]
    assert df["scenario"].to_list() == ["small+baseline", "small+degraded_x4"]
    assert df["trials"].to_list() == [200, 200] and df["seed"].to_list() == [5, 5]
    assert df["risk_ratio_method"].to_list() == [REFERENCE_METHOD, RISK_RATIO_METHOD]
    assert df["risk_ratio"][1] >= 1.0  # four times the degraded runs: not fewer events on the same trials
    assert read_table(out.with_suffix(".parquet")).columns == df.columns
    text = result.stdout
    for fragment in ("small", "baseline", "degraded_x4", "risk_ratio", "plan_age_change_s", "(reference)"):
        assert fragment in text
    assert str(out.with_suffix(".csv")) in text


def test_cli_compare_default_out_and_quiet(
    cli_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compare_mod, "scenarios", degraded_pairs)
    monkeypatch.chdir(tmp_path)
    result = invoke(["compare", cli_config, "--trials", CLI_TRIALS, "--format", "csv", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["small_compare.csv"]


def test_cli_compare_progress_counts_every_scenario(
    cli_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The progress bar's total is trials x scenarios, and the blocks fill it exactly."""
    monkeypatch.setattr(compare_mod, "scenarios", degraded_pairs)
    seen: dict[str, int] = {"total": 0, "done": 0}

    @contextmanager
    def fake_progress(total: int, description: str) -> Iterator[Callable[[int], None]]:
        seen["total"] = total

        def advance(n: int) -> None:
            seen["done"] += n

        yield advance

    monkeypatch.setattr(cli_compare, "trial_progress", fake_progress)
    result = invoke(["compare", cli_config, "--trials", CLI_TRIALS, "--out", tmp_path / "p", "-q"])
    assert result.exit_code == 0, result.output
    assert seen == {"total": 2 * int(CLI_TRIALS), "done": 2 * int(CLI_TRIALS)}


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--mitigation", "bogus"], ["--mitigation", "unknown mitigation 'bogus'"]),
        (["--mitigation", "recheck+rechek"], ["--mitigation", "did you mean 'recheck'"]),
        (["--mitigation", "recheck,lease,recheck"], ["--mitigation", "more than once"]),
        (["--mitigation", "recheck+"], ["--mitigation", "empty"]),
        (["--set", "mitigations.deadline.secs=3"], ["mitigations.deadline.secs"]),
        (["--trials", "0"], ["--trials"]),
        (["--defensive", "1.5"], ["--defensive"]),
    ],
)
def test_cli_compare_bad_input(
    cli_config: Path, tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    result = invoke(["compare", cli_config, "--out", tmp_path / "x", *args])
    assert_one_error_line(result, *fragments)
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


# -- every mitigation ------------------------------------------------------------------------------

MITIGATION_TRIALS = 600


@pytest.fixture(scope="module")
def mitigation_rows() -> dict[str, dict[str, object]]:
    """One comparison of the stress cell: the baseline and every mitigation."""
    rows = compare(stress_config(), list(MITIGATIONS), trials=MITIGATION_TRIALS, seed=11, plan=naive_plan())
    assert [r["mitigation"] for r in rows] == [BASELINE, *MITIGATIONS]
    return {str(r["mitigation"]): r for r in rows}


@pytest.mark.parametrize("name", list(MITIGATIONS))
def test_each_mitigation_alone(mitigation_rows: dict[str, dict[str, Any]], name: str) -> None:
    base, row = mitigation_rows[BASELINE], mitigation_rows[name]
    assert base["events"] > 0
    assert row["mitigations"] == name
    assert row["trials"] == MITIGATION_TRIALS
    assert math.isfinite(row["risk_ratio"]) and math.isfinite(row["risk_ratio_hi"])
    assert row["risk_ratio_lo"] <= row["risk_ratio"] <= row["risk_ratio_hi"]
    assert row["risk_ratio_method"] == RISK_RATIO_METHOD
    assert math.isfinite(row["plan_age_change_s"])
    assert row["plan_age_change_s_lo"] <= row["plan_age_change_s"] <= row["plan_age_change_s_hi"]
    if name == "conditional_write":  # docs/model.md section 2: no event is possible
        assert row["events"] == 0 and row["risk_ratio"] == 0.0
        assert 0.0 < row["risk_ratio_hi"] < 1.0
    if name == "empty_guard":  # changes the repair time only: the same events on the same trials
        assert row["events"] == base["events"] and row["risk_ratio"] == 1.0
        # ... and buys its benefit in impact: automated rollback (median 2 min vs 157 min)
        assert row["impact_reduction_min_lo"] > 0
        assert row["impact_per_year_min"] < base["impact_per_year_min"]


def test_cli_compare_every_mitigation(cli_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "all"
    short = ["--set", "window.hours=0.05", "--trials", "100", "--estimator", "naive"]
    result = invoke(["compare", cli_config, *short, "--out", out, "--format", "parquet"])
    assert result.exit_code == 0, result.output
    df = read_table(out.with_suffix(".parquet"))
    assert df["mitigation"].to_list() == [BASELINE, *MITIGATIONS]
    assert df["mitigations"].to_list() == ["", *MITIGATIONS]
    for m in MITIGATIONS:
        assert m in result.stdout


def test_combination_runs(stress: Config) -> None:
    rows = compare(stress, ["deadline+recheck"], trials=200, seed=11, plan=naive_plan())
    assert rows[1]["mitigation"] == "recheck+deadline"
    assert rows[1]["mitigations"] == "recheck,deadline"


# -- importance sampling ---------------------------------------------------------------------------

RARE_E20 = ["degraded.prob=0.0003", "endpoints.count=20", "write.fail_prob=0.01"]


def _z(a: dict[str, Any], b: dict[str, Any], key: str) -> float:
    """Combined z of an estimate in two rows, the standard errors from their intervals (the
    comparison columns carry no unseen-stratum bound when both strata are observed)."""
    se = [(r[f"{key}_hi"] - r[f"{key}_lo"]) / (2 * 1.959964) for r in (a, b)]
    return abs(a[key] - b[key]) / float(np.hypot(*se))


@pytest.mark.slow
def test_weighted_comparison_agrees_with_the_naive_one() -> None:
    """Same scenarios, both estimators: the risk ratios of events with a degraded run and
    the impact saved agree within 4 combined standard errors (p ~ 0.02, where the proposal
    tilts and plain runs see events)."""
    config = stress_config(RARE_E20)
    names = ["deadline", "recheck"]
    naive = compare(config, names, trials=20_000, seed=5, plan=naive_plan())
    weighted = compare(config, names, trials=4_000, seed=6, plan=resolve(config, 6, "is"))
    assert [r["estimator"] for r in weighted] == ["is"] * 3
    for a, b in zip(naive[1:], weighted[1:], strict=True):
        assert _z(a, b, "risk_ratio_degraded") <= 4, (
            a["mitigation"],
            a["risk_ratio_degraded"],
            b["risk_ratio_degraded"],
        )
        assert 0 < b["risk_ratio_degraded"] < 1  # the premise: the mitigation helps, measurably
    assert weighted[0]["risk_ratio"] == 1.0 and weighted[0]["risk_ratio_method"] == "reference"


def test_scenarios_without_events_are_only_bounded() -> None:
    """A comparison where neither scenario saw an event: the paired difference of zeros is
    no evidence that the impact saved is 0, and a baseline without events leaves the risk
    ratio undefined but bounded below, not NaN throughout (estimator review)."""
    quiet = stress_config(["region.cells=2", "degraded.prob=0", "cleanup.keep_generations=100000"])
    for plan in (naive_plan(), estimators.Plan("is", q=0.05, defensive=0.25)):
        base, other = compare(quiet, ["recheck"], trials=300, seed=3, plan=plan)
        assert base["events"] == other["events"] == 0
        assert other["impact_reduction_min_lo"] < 0 < other["impact_reduction_min_hi"], plan.label
        assert "without events" in other["impact_reduction_min_method"]
        assert math.isnan(other["risk_ratio"]) and math.isinf(other["risk_ratio_hi"])
        assert other["risk_ratio_lo"] == 0.0  # the scenario's interval starts at 0


def test_weighted_risk_ratio_edges() -> None:
    rng = np.random.default_rng(3)
    y = rng.exponential(size=500) * (rng.random(500) < 0.2)
    same = weighted_risk_ratio(y, y)
    assert same.estimate == 1.0 and same.confidence_interval == ConfidenceInterval(1.0, 1.0)
    none = weighted_risk_ratio(y, np.zeros_like(y))
    assert none.estimate == 0.0 and math.isinf(none.confidence_interval.high)
    assert math.isnan(weighted_risk_ratio(np.zeros_like(y), y).estimate)
    half = weighted_risk_ratio(y, y / 2)
    assert half.estimate == pytest.approx(0.5) and half.confidence_interval.low == pytest.approx(0.5)
    # equal weights: the plain paired difference
    a, b = rng.normal(size=400), rng.normal(size=400) + 0.3
    ones = np.ones(400)
    wd, md = weighted_mean_difference(ones, a, ones, b), mean_difference(a, b)
    assert wd.estimate == pytest.approx(md.estimate)
    assert wd.standard_error == pytest.approx(md.standard_error, rel=1e-9)


RARE = """\
name = "rare"
trials = 2000
[window]
hours = 0.1
[planner]
interval = {dist = "expon", scale = 3.0}
[enactors]
poll_interval = 2.0
[endpoints]
count = 20
[write]
fail_prob = 0.01
[degraded]
prob = 1e-4
fail_prob = 0.8
[cleanup]
keep_generations = 10
"""


def test_cli_compare_picks_importance_sampling_where_events_are_rare(tmp_path: Path) -> None:
    cfg = tmp_path / "rare.toml"
    cfg.write_text(RARE)
    out = tmp_path / "c"
    args = ["compare", str(cfg), "--trials", "1000", "--mitigation", "conditional_write", "--out", str(out)]
    result = CliRunner().invoke(app, args)  # the default --estimator auto
    assert result.exit_code == 0, result.output
    rows = read_table(out.with_suffix(".csv")).to_dicts()
    assert [r["estimator"] for r in rows] == ["is", "is"]
    assert rows[0]["p_cell_window_degraded"] > 0 and rows[1]["risk_ratio_degraded"] == 0.0  # the invariant
    # zero events bound the ratio by the degraded-run exposure over the baseline's lower end:
    # finite (never [0, inf)), if weak where most degraded runs cause an event
    expected_hi = rows[1]["p_cell_window_degraded_hi"] / rows[0]["p_cell_window_degraded_lo"]
    assert rows[1]["risk_ratio_degraded_hi"] == pytest.approx(expected_hi)
    assert math.isfinite(rows[1]["risk_ratio_degraded_hi"])
    assert "estimator is(" in result.stdout


def test_a_stratum_ratio_under_rare_is_widened_where_its_barely_boosted_part_is_unseen() -> None:
    """configs/ordinary.toml at G = 3 under rare (3,000 windows, seed 1): the samples hold only
    boosted latency-tail events, so the no-degraded stratum's barely boosted part is unseen in
    both; its paired ratio must then span the ratio of the two stratum intervals (which hold
    that part's bound), not the paired delta method's narrow one alone."""
    config = load_config(Path(__file__).resolve().parent.parent / "configs" / "ordinary.toml")
    config = config.with_overrides(["cleanup.keep_generations=3"])
    rows = compare_mod.compare(config, ["deadline"], trials=3000, seed=1, estimator="rare")
    base, other = rows
    assert "barely_boosted" in str(base["unobserved_strata"])  # the premise
    rr_hi = float(other["risk_ratio_no_degraded_hi"])
    ratio_hi = float(other["p_cell_window_no_degraded_hi"]) / float(base["p_cell_window_no_degraded_lo"])
    assert rr_hi >= ratio_hi * (1 - 1e-12) and rr_hi > 1e3
    assert "barely boosted events unseen" in str(other["risk_ratio_no_degraded_method"])


# -- under split ---------------------------------------------------------------------------------


def test_replicate_risk_ratio_is_the_paired_delta_method_with_t() -> None:
    from riskmc.compare import replicate_risk_ratio

    b = np.array([0.20, 0.25, 0.22, 0.18])
    o = np.array([0.05, 0.07, 0.06, 0.04])
    rr = replicate_risk_ratio(b, o)
    r = o.mean() / b.mean()
    se = np.std(o / o.mean() - b / b.mean(), ddof=1) / 2.0
    q = scipy.stats.t.ppf(0.975, 3)
    assert rr.estimate == pytest.approx(r)
    assert rr.confidence_interval.low == pytest.approx(r * math.exp(-q * se))
    assert rr.confidence_interval.high == pytest.approx(r * math.exp(q * se))
    assert (
        replicate_risk_ratio(b, np.zeros(4)).confidence_interval.high == math.inf
    )  # bounded by compare_split
    assert math.isnan(replicate_risk_ratio(np.zeros(4), o).estimate)


def test_compare_split_agrees_with_the_paired_plain_comparison() -> None:
    """The risk ratio of recheck under split (paired replicates) against the plain paired one
    within 4 combined standard errors on the log scale; conditional_write's zero bounded."""
    from riskmc.compare import compare_split
    from riskmc.estimators.split import SplitSpec

    config = stress_config()
    names = ["recheck", "conditional_write"]
    rows = compare_split(config, names, spec=SplitSpec(replicates=6), seed=3)
    assert [r["mitigation"] for r in rows] == ["baseline", "recheck", "conditional_write"]
    assert rows[0]["risk_ratio"] == 1.0 and all(r["estimator"] == "split" for r in rows)
    plain = compare(config, names, trials=4000, seed=4, plan=naive_plan())
    split_rr, plain_rr = rows[1], plain[1]
    t5 = scipy.stats.t.ppf(0.975, 5)  # (six replicates)
    se_split = math.log(float(split_rr["risk_ratio_hi"]) / float(split_rr["risk_ratio_lo"])) / (2 * t5)
    se_plain = math.log(float(plain_rr["risk_ratio_hi"]) / float(plain_rr["risk_ratio_lo"])) / (2 * 1.96)
    gap = abs(math.log(float(split_rr["risk_ratio"]) / float(plain_rr["risk_ratio"])))
    assert gap < 4 * math.hypot(se_split, se_plain), (split_rr["risk_ratio"], plain_rr["risk_ratio"])
    zero = rows[2]
    assert zero["p_cell_window"] == 0.0 and zero["risk_ratio"] == 0.0
    assert 0.0 < float(zero["risk_ratio_hi"]) < 0.05  # its zero-hit bound over the baseline's low end


def test_compare_under_split_points_to_compare_split() -> None:
    """compare() runs sample plans; asked for split it names compare_split, not the CLI's
    explain/report message."""
    with pytest.raises(ValueError, match="compare_split"):
        compare(stress_config(), ["recheck"], estimator="split")
