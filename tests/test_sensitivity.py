"""Sobol' sensitivity analysis: validation on functions with known indices, and a tiny riskmc run."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest

from riskmc import estimators
from riskmc.estimators import Plan, naive_plan
from riskmc.sensitivity import (
    DEFAULT_OUTPUTS,
    METHOD,
    log10_p,
    log10_p_of,
    riskmc_model,
    sensitivity_rows,
    sobol_indices,
)
from tests.conftest import stress_config

PI = math.pi
ISHIGAMI_A, ISHIGAMI_B = 7.0, 0.1
BOX = {f"x{i}": (-PI, PI, False) for i in (1, 2, 3)}


def ishigami(x: np.ndarray) -> np.ndarray:
    a, b = ISHIGAMI_A, ISHIGAMI_B
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def ishigami_indices(a: float = ISHIGAMI_A, b: float = ISHIGAMI_B) -> tuple[list[float], list[float]]:
    """Closed forms for x uniform on [-pi, pi]^3 (Ishigami & Homma 1990; Sobol' & Levitan 1999)."""
    v = a**2 / 8 + b * PI**4 / 5 + b**2 * PI**8 / 18 + 1 / 2
    v1 = b * PI**4 / 5 + b**2 * PI**8 / 50 + 1 / 2
    v2 = a**2 / 8
    v13 = 8 * b**2 * PI**8 / 225  # the only interaction: x1 with x3
    first = [v1 / v, v2 / v, 0.0]
    total = [(v1 + v13) / v, v2 / v, v13 / v]
    return first, total


def assert_covered(truth: float, est: float, lo: float, hi: float, what: str) -> None:
    """The true value lies in the bootstrap interval widened by its half width on each side.

    Why widen: the 95% interval misses the truth 5% of the time *by design*, and the test
    checks six indices at a fixed seed (a 26% chance that one misses even if everything is
    right).  The BCa bootstrap also treats the scrambled Sobol' rows as i.i.d., which only
    approximates their (smaller, QMC) error.  Doubling the interval (about +-4 standard errors)
    makes a false failure very unlikely, while real errors (first and total order swapped,
    a wrong estimator or a wrong input mapping) are many times the interval width here.
    """
    half = (hi - lo) / 2
    assert lo <= est <= hi, f"{what}: estimate {est} outside its own interval [{lo}, {hi}]"
    assert lo - half <= truth <= hi + half, f"{what}: truth {truth} outside [{lo}, {hi}] +- {half}"


def test_ishigami_closed_forms_are_consistent() -> None:
    first, total = ishigami_indices()
    assert first[0] == pytest.approx(0.3139, abs=1e-4)
    assert first[1] == pytest.approx(0.4424, abs=1e-4)
    assert total[2] == pytest.approx(0.2437, abs=1e-4)
    # the variance decomposition V = V1 + V2 + V13 sums to 1
    assert first[0] + first[1] + (total[0] - first[0]) == pytest.approx(1.0)


def test_ishigami_indices_within_bootstrap_intervals() -> None:
    res = sobol_indices(ishigami, BOX, n=2**12, seed=20251020, n_resamples=999)
    first, total = ishigami_indices()
    assert res.inputs == ("x1", "x2", "x3")
    assert res.first_order.shape == (1, 3)
    assert res.n_evaluations == 2**12 * 5
    for j in range(3):
        assert_covered(
            first[j], res.first_order[0, j], res.first_order_lo[0, j], res.first_order_hi[0, j], f"S{j + 1}"
        )
        assert_covered(
            total[j], res.total_order[0, j], res.total_order_lo[0, j], res.total_order_hi[0, j], f"ST{j + 1}"
        )
    # the intervals are informative, not vacuous
    assert np.all(res.first_order_hi - res.first_order_lo < 0.1)
    assert np.all(res.total_order_hi - res.total_order_lo < 0.1)
    per = res.per_input()
    assert set(per) == {"x1", "x2", "x3"}
    assert per["x2"]["first_order"] == res.first_order[0, 1]
    assert "sobol_indices" in str(per["x2"]["method"])


def test_multiple_outputs_and_determinism() -> None:
    def two(x: np.ndarray) -> np.ndarray:
        y = ishigami(x)
        return np.column_stack([y, 3.0 * y + 1.0])  # indices are invariant to affine maps

    one = sobol_indices(ishigami, BOX, n=2**8, seed=7, n_resamples=200)
    both = sobol_indices(two, BOX, n=2**8, seed=7, n_resamples=200)
    again = sobol_indices(two, BOX, n=2**8, seed=7, n_resamples=200)
    assert both.first_order.shape == (2, 3)
    np.testing.assert_allclose(both.first_order[0], one.first_order[0])
    np.testing.assert_allclose(both.first_order[1], both.first_order[0])
    np.testing.assert_allclose(both.total_order[1], both.total_order[0])
    for name in ("first_order", "first_order_lo", "total_order_hi"):
        np.testing.assert_array_equal(getattr(both, name), getattr(again, name))
    other = sobol_indices(ishigami, BOX, n=2**8, seed=8, n_resamples=200)
    assert not np.array_equal(other.first_order, one.first_order)


def test_log_ranges_are_log_uniform() -> None:
    """y = log10(x1) + 2 log10(x2) with log10 x1 ~ U(-2, 2), log10 x2 ~ U(0, 1): additive, so
    S = ST = (16/12, 4/12) / (20/12) = (0.8, 0.2).  Uniform (not log) sampling gives other values."""
    seen: list[np.ndarray] = []

    def f(x: np.ndarray) -> np.ndarray:
        seen.append(x.copy())
        return np.log10(x[:, 0]) + 2 * np.log10(x[:, 1])

    ranges = {"x1": (1e-2, 1e2, True), "x2": (1.0, 10.0, True)}
    res = sobol_indices(f, ranges, n=2**10, seed=11, n_resamples=500)
    for j, truth in enumerate((0.8, 0.2)):
        assert_covered(truth, res.first_order[0, j], res.first_order_lo[0, j], res.first_order_hi[0, j], "S")
        assert_covered(truth, res.total_order[0, j], res.total_order_lo[0, j], res.total_order_hi[0, j], "ST")
    x = np.concatenate(seen)
    assert x.shape == (2**10 * 4, 2)
    assert np.all((x[:, 0] >= 1e-2) & (x[:, 0] <= 1e2) & (x[:, 1] >= 1) & (x[:, 1] <= 10))
    # log10 of each is uniform: mean at the centre, a quarter below the first quartile
    assert np.mean(np.log10(x[:, 0])) == pytest.approx(0.0, abs=0.05)
    assert np.mean(np.log10(x[:, 1])) == pytest.approx(0.5, abs=0.02)
    assert np.mean(x[:, 0] < 0.1) == pytest.approx(0.25, abs=0.02)

    # the same box with linear ranges samples x, not log10 x, uniformly
    seen.clear()
    sobol_indices(f, {"x1": (1e-2, 1e2, False), "x2": (1.0, 10.0, False)}, n=2**8, seed=11, n_resamples=50)
    x = np.concatenate(seen)
    assert np.mean(x[:, 1]) == pytest.approx(5.5, abs=0.2)


INDEX_ARRAYS = (
    "first_order",
    "first_order_lo",
    "first_order_hi",
    "total_order",
    "total_order_lo",
    "total_order_hi",
)
NO_VARIANCE = "undefined: the output has no variance over the design (nothing to apportion)"


def test_constant_output_has_undefined_indices() -> None:
    """No variance: nothing to apportion, so NaN indices (not zeros) and the reason; another
    output of the same call keeps its indices."""
    res = sobol_indices(
        lambda x: np.column_stack([np.full(len(x), 3.0), ishigami(x)]), BOX, n=2**6, seed=1, n_resamples=100
    )
    for name in INDEX_ARRAYS:
        assert np.isnan(getattr(res, name)[0]).all(), name
        assert np.isfinite(getattr(res, name)[1]).all(), name
    assert res.reasons == (NO_VARIANCE, "") and res.reason(0) == NO_VARIANCE and res.reason(1) == ""
    per = res.per_input(0)
    assert per["x1"]["method"] == NO_VARIANCE and math.isnan(float(per["x1"]["total_order"]))
    assert res.per_input(1)["x1"]["method"] == METHOD
    alone = sobol_indices(ishigami, BOX, n=2**6, seed=1, n_resamples=100)
    np.testing.assert_allclose(res.first_order[1], alone.first_order[0], rtol=1e-12)
    np.testing.assert_allclose(res.total_order[1], alone.total_order[0], rtol=1e-12)


def test_output_undefined_at_some_points() -> None:
    """An output that is NaN (or inf) at some points has NaN indices and a reason that counts
    those points; the other outputs are unaffected."""
    undefined = 0

    def f(x: np.ndarray) -> np.ndarray:
        nonlocal undefined
        y = ishigami(x)
        holes = np.where(x[:, 0] > 2.5, np.nan, y)
        holes[x[:, 1] < -3.0] = np.inf
        undefined += int(np.count_nonzero(~np.isfinite(holes)))
        return np.column_stack([holes, y])

    res = sobol_indices(f, BOX, n=2**6, seed=4, n_resamples=100)
    assert 0 < undefined < res.n_evaluations
    assert res.reason(0) == f"undefined: the output is undefined at {undefined} of {res.n_evaluations} points"
    assert res.reason(1) == ""
    for name in INDEX_ARRAYS:
        assert np.isnan(getattr(res, name)[0]).all(), name
    alone = sobol_indices(ishigami, BOX, n=2**6, seed=4, n_resamples=100)
    np.testing.assert_allclose(res.first_order[1], alone.first_order[0], rtol=1e-12)
    # undefined everywhere
    every = sobol_indices(lambda x: np.full(len(x), np.nan), BOX, n=8, seed=0, n_resamples=20)
    assert every.reason(0) == "undefined: the output is undefined at 40 of 40 points"
    assert np.isnan(every.first_order).all()


def test_sensitivity_rows_carry_the_reason() -> None:
    res = sobol_indices(
        lambda x: np.column_stack([np.zeros(len(x)), ishigami(x)]), BOX, n=2**4, seed=1, n_resamples=20
    )
    rows = sensitivity_rows(res, output_names=["constant", "ishigami"])
    assert {r["method"] for r in rows if r["output"] == "constant"} == {NO_VARIANCE}
    assert {r["method"] for r in rows if r["output"] == "ishigami"} == {METHOD}


@pytest.mark.parametrize(
    ("ranges", "n", "match"),
    [
        (BOX, 1000, "power of 2"),
        ({"x": (0.0, 1.0, True)}, 8, "lo > 0"),
        ({"x": (1.0, 1.0, False)}, 8, "hi > lo"),
        ({}, 8, "at least one"),
    ],
)
def test_invalid_arguments(ranges: dict[str, tuple[float, float, bool]], n: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sobol_indices(ishigami, ranges, n=n, seed=0)


def test_sensitivity_rows() -> None:
    res = sobol_indices(
        lambda x: np.column_stack([ishigami(x), x[:, 0]]), BOX, n=2**6, seed=3, n_resamples=100
    )
    rows = sensitivity_rows(res, ["a", "b", "c"], ["ishigami", "x1"])
    assert len(rows) == 6
    assert [(r["output"], r["input"]) for r in rows[:4]] == [
        ("ishigami", "a"),
        ("ishigami", "b"),
        ("ishigami", "c"),
        ("x1", "a"),
    ]
    assert rows[3]["first_order"] == pytest.approx(1.0, abs=0.01)  # y = x1 alone
    assert {
        "first_order",
        "first_order_lo",
        "first_order_hi",
        "total_order",
        "total_order_lo",
        "total_order_hi",
        "method",
        "n",
        "n_evaluations",
    } <= set(rows[0])
    assert sensitivity_rows(res)[0]["input"] == "x1"
    with pytest.raises(ValueError, match="names"):
        sensitivity_rows(res, ["a"], ["ishigami", "x1"])


def test_log10_p_continuity_correction() -> None:
    assert log10_p(0, 100) == pytest.approx(math.log10(0.5 / 101))
    assert log10_p(7, 100) == pytest.approx(math.log10(7.5 / 101))
    assert math.isfinite(log10_p(0, 1))


@pytest.fixture
def few_year_resamples(monkeypatch: pytest.MonkeyPatch) -> None:
    """riskmc_model runs every point with the annual-impact bootstrap's default 200 resamples
    (most of a small run's time); the outputs used here (p, log10 p, the mean annual impact,
    windows per year) do not depend on it, so the riskmc tests run with 10."""
    monkeypatch.setattr(estimators, "run", functools.partial(estimators.run, n_resamples=10))


def test_log10_p_of_rows() -> None:
    """Naive rows: the continuity-corrected cell events over the cells simulated; importance-
    sampled rows: log10 of the weighted estimate, undefined (NaN) without an event."""
    naive = {"estimator": "naive", "events": 3, "cells_simulated": 200, "p_cell_window": 0.015}
    assert log10_p_of(naive) == pytest.approx(math.log10(3.5 / 201))
    assert log10_p_of({**naive, "events": 0}) == pytest.approx(math.log10(0.5 / 201))
    weighted = {"estimator": "is", "events": 40, "cells_simulated": 200, "p_cell_window": 2.5e-4}
    assert log10_p_of(weighted) == pytest.approx(math.log10(2.5e-4))
    assert math.isnan(log10_p_of({**weighted, "events": 0, "p_cell_window": 0.0}))


@pytest.mark.usefixtures("few_year_resamples")
def test_riskmc_model_common_random_numbers_and_rounding() -> None:
    config = stress_config(["window.hours=0.05"])
    func = riskmc_model(config, ["degraded.prob", "cleanup.keep_generations"], trials=50, seed=5)
    y = func(np.array([[0.05, 2.4], [0.05, 2.4], [0.05, 1.6]]))
    assert y.shape == (3, len(DEFAULT_OUTPUTS))
    np.testing.assert_array_equal(y[0], y[1])  # same seed at every point
    np.testing.assert_array_equal(y[0], y[2])  # 2.4 and 1.6 both round to 2 generations
    point = config.with_overrides(["degraded.prob=0.05", "cleanup.keep_generations=2"])
    row = estimators.run(point, naive_plan(), trials=50, seed=5).row()
    assert row["cells_simulated"] == 50
    assert y[0, 0] == pytest.approx(log10_p(int(row["events"]), 50))  # type: ignore[call-overload]
    assert y[0, 1] == pytest.approx(float(row["impact_per_year_min"]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown configuration key"):
        riskmc_model(config, ["no.such.key"], trials=10, seed=1)
    # a parameter inside a distribution, as sweeps take it: the point is that configuration
    nested = riskmc_model(config, ["write.latency.scale"], trials=50, seed=5)(np.array([[0.3]]))
    same = estimators.run(config.with_overrides(["write.latency.scale=0.3"]), naive_plan(), trials=50, seed=5)
    assert nested[0, 1] == pytest.approx(float(same.row()["impact_per_year_min"]))  # type: ignore[arg-type]


@pytest.mark.usefixtures("few_year_resamples")
def test_riskmc_sobol_tiny_run() -> None:
    config = stress_config(["window.hours=0.05"])
    ranges = {"degraded.prob": (0.01, 0.2, True), "cleanup.keep_generations": (1.0, 6.0, False)}
    func = riskmc_model(config, list(ranges), trials=100, seed=1)
    res = sobol_indices(func, ranges, n=8, seed=2, n_resamples=200)
    assert res.n_evaluations == 8 * 4
    rows = sensitivity_rows(res, list(ranges), list(DEFAULT_OUTPUTS))
    assert len(rows) == 4
    for row in rows:
        for col in (
            "first_order",
            "first_order_lo",
            "first_order_hi",
            "total_order",
            "total_order_lo",
            "total_order_hi",
        ):
            assert math.isfinite(float(row[col])), (row["output"], row["input"], col)  # type: ignore[arg-type]
        assert row["first_order_lo"] <= row["first_order_hi"]  # type: ignore[operator]
        assert row["total_order_lo"] <= row["total_order_hi"]  # type: ignore[operator]


@pytest.mark.usefixtures("few_year_resamples")
def test_riskmc_outputs_without_variance_or_undefined() -> None:
    """On riskmc itself: the region-windows per year do not depend on the clean-up depth (no
    variance), and under importance sampling log10 p is undefined at the points where the
    clean-up keeps too many generations for any event in these 50 windows."""
    config = stress_config(["window.hours=0.05"])
    plan = Plan("is", q=0.5, defensive=0.25)
    ranges = {"cleanup.keep_generations": (1.0, 30.0, False)}
    outputs = ("log10_p_cell_window", "windows_per_region_year", "p_cell_window")
    model = riskmc_model(config, list(ranges), outputs, trials=50, seed=5, plan=plan)
    seen: list[np.ndarray] = []

    def func(x: np.ndarray) -> np.ndarray:
        y = model(x)
        seen.append(y)
        return y

    res = sobol_indices(func, ranges, n=4, seed=2, n_resamples=100)
    y = np.concatenate(seen)
    assert y.shape == (res.n_evaluations, 3)
    no_event = int(np.count_nonzero(y[:, 2] == 0.0))
    assert 0 < no_event < res.n_evaluations  # some points see events, some do not
    np.testing.assert_array_equal(np.isnan(y[:, 0]), y[:, 2] == 0.0)
    assert res.reason(0) == f"undefined: the output is undefined at {no_event} of {res.n_evaluations} points"
    assert res.reason(1) == NO_VARIANCE and np.unique(y[:, 1]).size == 1
    assert res.reason(2) == ""
    for name in INDEX_ARRAYS:
        values = getattr(res, name)
        assert np.isnan(values[:2]).all() and np.isfinite(values[2]).all(), name


def test_cli_sensitivity(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from riskmc.cli import app
    from riskmc.tables import read_table

    runner = CliRunner()
    cfg = str(Path(__file__).resolve().parent.parent / "configs" / "stress.toml")
    out = tmp_path / "s"
    args = ["sensitivity", cfg, "--set", "window.hours=0.05", "--trials", "100", "--n", "4"]
    ranges = ["--range", "degraded.prob=0.0005:0.01:log", "--range", "cleanup.keep_generations=2:8"]
    result = runner.invoke(app, [*args, *ranges, "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    df = read_table(out.with_suffix(".parquet"))
    assert df.height == 4 and set(df["output"]) == {"log10_p_cell_window", "impact_per_year_min"}
    for bad, fragment in [
        ([], "--range"),
        (["--range", "degraded.prob=0.01:0.001"], "--range"),
        (["--range", "no.such.key=0:1"], "no.such.key"),
    ]:
        r = runner.invoke(app, [*args, *bad])
        assert r.exit_code == 2 and fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = runner.invoke(app, ["sensitivity", cfg, "--n", "6", *ranges])
    assert r.exit_code == 2 and "power of 2" in r.stderr


ORDINARY = Path(__file__).resolve().parent.parent / "configs" / "ordinary.toml"
TAIL = 'write.latency={dist="lognorm", s=1.2, scale=0.1}'  # events need no degraded run


def test_riskmc_model_under_split_is_log10_of_each_points_split_run() -> None:
    from riskmc.config import ConfigError, load_config
    from riskmc.estimators.split import SplitSpec, split

    config = load_config(ORDINARY, [TAIL])
    spec = SplitSpec(replicates=2)
    func = riskmc_model(
        config, ["cleanup.keep_generations"], ("log10_p_cell_window",), trials=1, seed=3, plan=spec
    )
    y = func(np.array([[9.0], [10.0]]))
    for row, g in zip(y, (9, 10), strict=True):
        p = split(config.with_overrides([f"cleanup.keep_generations={g}"]), 3, replicates=2).estimate.estimate
        assert row[0] == math.log10(p)
    assert y[0, 0] > y[1, 0]  # fewer kept generations, likelier
    with pytest.raises(ValueError, match="p_cell_window alone"):
        riskmc_model(config, ["cleanup.keep_generations"], trials=1, seed=3, plan=spec)  # + the impact
    with pytest.raises(ConfigError, match=r"region\.cells"):
        riskmc_model(config, ["region.cells"], ("log10_p_cell_window",), trials=1, seed=3, plan=spec)(
            np.array([[2.0]])
        )


def test_cli_sensitivity_under_split(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from riskmc.cli import app
    from riskmc.tables import read_table

    runner = CliRunner()
    out = tmp_path / "s"
    args = ["sensitivity", str(ORDINARY), "--set", TAIL, "--n", "2", "--estimator", "split"]
    ranges = ["--range", "cleanup.keep_generations=9:10"]
    result = runner.invoke(app, [*args, *ranges, "--replicates", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "model runs of 2 split replicates" in result.stdout
    df = read_table(out.with_suffix(".parquet"))
    assert df.height == 1 and df["output"].to_list() == ["log10_p_cell_window"]
    for bad, fragment in [
        (["--trials", "10"], "--trials: not with --estimator split"),
        (["--range", "region.cells=1:2"], "region.cells"),
    ]:
        r = runner.invoke(app, [*args, *ranges, *bad, "--out", str(tmp_path / "e")])
        assert r.exit_code == 2 and fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.output


def test_one_input_and_one_output() -> None:
    """scipy squeezes its (1, 1) indices to scalars and then fails to assign into them; the
    wrapper gives it room, and the indices of y = x are those of the only input."""
    res = sobol_indices(lambda x: x[:, 0], {"x": (0.0, 1.0, False)}, 64, seed=2)
    assert res.first_order.shape == (1, 1) and res.total_order.shape == (1, 1)
    assert res.first_order[0, 0] == pytest.approx(1.0, abs=0.2) and res.reason(0) == ""
