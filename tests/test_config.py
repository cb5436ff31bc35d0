"""Tests of scenario parsing/validation (riskmc.config) and distribution tables
(riskmc.distributions): every user mistake must surface as one ConfigError naming the key."""

from __future__ import annotations

import math
import pickle
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.stats

from riskmc.config import (
    KEYS,
    MITIGATIONS,
    VALUE_KEYS,
    Config,
    ConfigError,
    load_config,
    parse_config,
)
from riskmc.distributions import EMPIRICAL, USE_DISTRIBUTIONS, DistSpec, parse_dist
from riskmc.engine import kernel as K
from riskmc.engine import seed_key
from riskmc.model import ConstantDist, EmpiricalDist, FrozenScipyDist
from riskmc.params import key_id, sample_windows

from .conftest import stress_config

FULL_TOML = """
name = "incident"
seed = 7
trials = 5000

[window]
hours = 2

[planner]
interval = { dist = "expon", scale = { dist = "loguniform", a = 10, b = 60 } }

[enactors]
count = 3
poll_interval = 5.0

[endpoints]
count = 4
weights = [1, 1, 1, 5]

[write]
latency = { dist = "lognorm", s = 1.0, scale = 0.2 }
fail_prob = { dist = "beta", a = 1, b = 99 }
backoff_base = 0.05
backoff_cap = 2

[degraded]
prob = 0.002
fail_prob = 0.9

[cleanup]
keep_generations = { dist = "randint", low = 5, high = 21 }

[region]
cells = { dist = "randint", low = 1, high = 4 }
shock = { prob = 0.01, degraded_prob = 0.5 }

[repair]
duration = { dist = "lognorm", s = 0.5, scale = 9420 }

[mitigations.deadline]
seconds = 60

[mitigations.recheck]

[mitigations.lease]
enabled = false
seconds = 10

[mitigations.empty_guard]
repair = 300
"""


def parse(data: dict[str, Any] | None = None, *overrides: str) -> Config:
    return parse_config(data or {}, overrides=overrides)


def nest(key: str, value: Any) -> dict[str, Any]:
    """{"a": {"b": value}} from "a.b"."""
    out: dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


# -- valid configurations ----------------------------------------------------------------


def test_defaults_fill_every_key_with_right_types() -> None:
    cfg = parse()
    assert cfg.name == "config"
    assert cfg.seed == 20251020 and cfg.trials == 100000
    assert set(cfg.values) == set(VALUE_KEYS)
    assert cfg.weights is None and dict(cfg.mitigations) == {}
    for key in ("enactors.count", "endpoints.count", "cleanup.keep_generations", "region.cells"):
        assert type(cfg.values[key]) is int
    assert (cfg.values["enactors.count"], cfg.values["endpoints.count"]) == (3, 20)
    assert cfg.values["cleanup.keep_generations"] == 10 and cfg.values["region.cells"] == 1
    for key in ("window.hours", "write.fail_prob", "degraded.prob", "region.shock.prob"):
        assert type(cfg.values[key]) is float
    assert cfg.values["window.hours"] == 1.0 and cfg.values["enactors.poll_interval"] == 5.0
    assert cfg.values["write.fail_prob"] == 0.01 and cfg.values["degraded.fail_prob"] == 0.5
    assert cfg.values["region.shock.prob"] == 0.0
    assert cfg.values["region.shock.degraded_prob"] == 0.0
    interval = cfg.values["planner.interval"]
    assert isinstance(interval, DistSpec) and interval.describe() == "expon(scale=30)"
    latency = cfg.values["write.latency"]
    assert isinstance(latency, DistSpec) and latency.describe() == "lognorm(s=0.5, scale=0.1)"
    repair = cfg.values["repair.duration"]
    assert isinstance(repair, DistSpec) and repair.params == {"s": 0.5, "scale": 9420}


def test_full_config_parses(tmp_path: Path) -> None:
    path = tmp_path / "my-scenario.toml"
    path.write_text(FULL_TOML)
    cfg = load_config(path)
    assert (cfg.name, cfg.seed, cfg.trials, cfg.source) == ("incident", 7, 5000, str(path))
    assert cfg.values["window.hours"] == 2.0 and type(cfg.values["window.hours"]) is float
    assert cfg.values["write.backoff_cap"] == 2.0
    assert cfg.values["endpoints.count"] == 4
    assert cfg.weights == (0.125, 0.125, 0.125, 0.625)
    interval = cfg.values["planner.interval"]
    assert isinstance(interval, DistSpec)
    assert interval.describe() == "expon(scale=loguniform(a=10, b=60))"
    assert interval.nested == ("scale",)
    cells = cfg.values["region.cells"]
    assert isinstance(cells, DistSpec) and cells.integer_valued
    assert cfg.values["region.shock.degraded_prob"] == 0.5
    assert dict(cfg.mitigations) == {
        "deadline": {"seconds": 60.0},
        "recheck": {},
        "empty_guard": {"repair": 300.0},
    }
    # The name defaults to the file's stem.
    path.write_text(FULL_TOML.replace('name = "incident"', ""))
    assert load_config(path).name == "my-scenario"


def test_mitigation_shorthand_and_disable() -> None:
    cfg = parse({"mitigations": {"recheck": True, "conditional_write": False}})
    assert dict(cfg.mitigations) == {"recheck": {}}
    cfg = parse({"mitigations": {"deadline": {"enabled": False}}})
    assert dict(cfg.mitigations) == {}
    cfg = parse({"mitigations": {"empty_guard": {"repair": {"dist": "expon", "scale": 60}}}})
    guard = cfg.mitigations["empty_guard"]["repair"]
    assert isinstance(guard, DistSpec) and guard.name == "expon"


# -- errors -------------------------------------------------------------------------------

BAD: list[tuple[dict[str, Any], str, str]] = [
    # unknown keys, with suggestions
    ({"wrte": {"fail_prob": 0.1}}, "wrte", "did you mean 'write'"),
    ({"write": {"fail_prb": 0.1}}, "write.fail_prb", "did you mean 'write.fail_prob'"),
    ({"fail_prob": 0.1}, "fail_prob", "did you mean 'write.fail_prob'"),
    ({"region": {"shock": {"prb": 0.1}}}, "region.shock.prb", "unknown key"),
    ({"mitigations": {"deadlin": {"seconds": 1}}}, "mitigations.deadlin", "did you mean"),
    ({"mitigations": {"deadline": {"secs": 1}}}, "mitigations.deadline.secs", "unknown"),
    ({"mitigations": {"recheck": {"seconds": 1}}}, "mitigations.recheck.seconds", "unknown"),
    # wrong types
    ({"name": 3}, "name", "string"),
    ({"name": {"a": 1}}, "name", "table"),
    ({"seed": 1.5}, "seed", "integer"),
    ({"seed": True}, "seed", "boolean"),
    ({"seed": {"dist": "randint", "low": 0, "high": 9}}, "seed", "table"),
    ({"trials": "many"}, "trials", "string"),
    ({"window": 3}, "window", "expected a table"),
    ({"region": {"shock": 0.1}}, "region.shock", "expected a table"),
    ({"write": {"fail_prob": "0.1"}}, "write.fail_prob", "string"),
    ({"write": {"fail_prob": True}}, "write.fail_prob", "boolean"),
    ({"write": {"latency": [0.1]}}, "write.latency", "array"),
    ({"enactors": {"count": 3.0}}, "enactors.count", "integer"),
    ({"cleanup": {"keep_generations": 2.5}}, "cleanup.keep_generations", "integer"),
    ({"mitigations": "deadline"}, "mitigations", "table"),
    (
        {"mitigations": {"deadline": {"seconds": 9, "enabled": "yes"}}},
        "mitigations.deadline.enabled",
        "true or false",
    ),
    # impossible values
    ({"trials": 0}, "trials", "in [1, 2^32)"),
    ({"trials": 2**32}, "trials", "in [1, 2^32)"),
    ({"seed": -1}, "seed", "in [0, 2^64)"),
    ({"seed": 2**64 + 5}, "seed", "in [0, 2^64)"),
    # the engine's address layout (docs/model.md section 7), before anything runs
    ({"enactors": {"count": 300}}, "enactors.count", "in [1, 255]"),
    ({"endpoints": {"count": 70000}}, "endpoints.count", "in [1, 65535]"),
    ({"region": {"cells": 5000}}, "region.cells", "in [1, 4095]"),
    ({"enactors": {"count": {"dist": "poisson", "mu": 3, "loc": 1}}}, "enactors.count", "in [1, 255]"),
    ({"window": {"hours": 0}}, "window.hours", "> 0"),
    ({"window": {"hours": math.inf}}, "window.hours", "finite"),
    ({"write": {"fail_prob": 1.0}}, "write.fail_prob", "[0, 1)"),
    ({"write": {"fail_prob": -0.1}}, "write.fail_prob", "[0, 1)"),
    ({"degraded": {"prob": 1.5}}, "degraded.prob", "[0, 1]"),
    ({"degraded": {"fail_prob": 1}}, "degraded.fail_prob", "[0, 1)"),
    ({"region": {"shock": {"prob": 2}}}, "region.shock.prob", "[0, 1]"),
    ({"write": {"backoff_base": -1}}, "write.backoff_base", ">= 0"),
    ({"enactors": {"poll_interval": -5}}, "enactors.poll_interval", "> 0"),
    ({"enactors": {"count": 0}}, "enactors.count", "in [1, 255]"),
    ({"region": {"cells": 0}}, "region.cells", "in [1, 4095]"),
    ({"cleanup": {"keep_generations": -1}}, "cleanup.keep_generations", ">= 0"),
    ({"planner": {"interval": 0}}, "planner.interval", "> 0"),
    ({"write": {"latency": -0.1}}, "write.latency", ">= 0"),
    ({"mitigations": {"deadline": {}}}, "mitigations.deadline.seconds", "required"),
    ({"mitigations": {"deadline": {"seconds": 0}}}, "mitigations.deadline.seconds", "> 0"),
    ({"mitigations": {"lease": {"seconds": -1}}}, "mitigations.lease.seconds", "> 0"),
    ({"mitigations": {"cleanup_min_age": {"age": -1}}}, "mitigations.cleanup_min_age.age", ">= 0"),
    ({"mitigations": {"empty_guard": {}}}, "mitigations.empty_guard.repair", "required"),
    # distribution tables
    ({"write": {"latency": {"s": 1}}}, "write.latency", "'dist'"),
    ({"write": {"latency": {"dist": 3}}}, "write.latency.dist", "string"),
    (
        {"write": {"fail_prob": {"dist": "bta", "a": 1, "b": 9}}},
        "write.fail_prob.dist",
        "did you mean 'beta'",
    ),
    (
        {"write": {"latency": {"dist": "lognrm", "s": 1}}},
        "write.latency.dist",
        "cannot be drawn at every use",
    ),
    ({"write": {"latency": {"dist": "lognorm", "scale": 1}}}, "write.latency.s", "requires"),
    (
        {"write": {"latency": {"dist": "lognorm", "s": 1, "sigma": 1}}},
        "write.latency.sigma",
        "no parameter",
    ),
    ({"write": {"latency": {"dist": "lognorm", "s": -1}}}, "write.latency.s", "(0, inf)"),
    ({"write": {"latency": {"dist": "lognorm", "s": 1, "scale": 0}}}, "write.latency.scale", "> 0"),
    ({"write": {"latency": {"dist": "lognorm", "s": True}}}, "write.latency.s", "boolean"),
    ({"write": {"latency": {"dist": "lognorm", "s": "1"}}}, "write.latency.s", "string"),
    ({"write": {"latency": {"dist": "lognorm", "s": math.nan}}}, "write.latency.s", "nan"),
    (
        {"planner": {"interval": {"dist": "expon", "scale": {"dist": "norm", "loc": 30}}}},
        "planner.interval.scale",
        "support",
    ),
    (
        {"planner": {"interval": {"dist": "expon", "scale": {"dist": "expon", "scal": 3}}}},
        "planner.interval.scale.scal",
        "did you mean 'scale'",
    ),
    (
        {"enactors": {"count": {"dist": "randint", "low": 4, "high": 2}}},
        "enactors.count",
        "rejects",
    ),
    (
        {"enactors": {"count": {"dist": "randint", "low": 1, "high": 4, "scale": 2}}},
        "enactors.count.scale",
        "no scale",
    ),
    # counts need integer-valued distributions, and support within range
    ({"enactors": {"count": {"dist": "poisson", "mu": 3}}}, "enactors.count", "support"),
    (
        {"enactors": {"count": {"dist": "lognorm", "s": 1, "loc": 1}}},
        "enactors.count",
        "integer-valued",
    ),
    (
        {"endpoints": {"count": {"dist": "poisson", "mu": 3, "loc": 1.5}}},
        "endpoints.count",
        "integer-valued",
    ),
    (
        {"enactors": {"poll_interval": {"dist": "uniform", "loc": -1, "scale": 2}}},
        "enactors.poll_interval",
        "support",
    ),
    ({"write": {"backoff_cap": {"dist": "norm", "loc": 2}}}, "write.backoff_cap", "support"),
    ({"write": {"fail_prob": {"dist": "uniform", "scale": 2}}}, "write.fail_prob", "support"),
    ({"degraded": {"prob": {"dist": "binom", "n": 2, "p": 0.5}}}, "degraded.prob", "support"),
    ({"planner": {"interval": {"dist": "truncnorm", "a": 0, "b": 1}}}, "planner.interval.dist", "expon"),
    (
        {"repair": {"duration": {"dist": "uniform", "loc": -1, "scale": 10}}},
        "repair.duration",
        "support",
    ),
    # weights
    ({"endpoints": {"count": 3, "weights": [1, 2]}}, "endpoints.weights", "endpoints.count is 3"),
    ({"endpoints": {"weights": [1] * 3}}, "endpoints.weights", "endpoints.count is 20"),
    ({"endpoints": {"count": 2, "weights": [1, -1]}}, "endpoints.weights", ">= 0"),
    ({"endpoints": {"count": 2, "weights": [0, 0]}}, "endpoints.weights", "positive sum"),
    ({"endpoints": {"count": 2, "weights": [1, True]}}, "endpoints.weights", "boolean"),
    (
        {"endpoints": {"count": 2, "weights": [1, {"dist": "expon"}]}},
        "endpoints.weights",
        "plain number",
    ),
    ({"endpoints": {"count": 2, "weights": 1}}, "endpoints.weights", "array"),
    (
        {"endpoints": {"count": {"dist": "randint", "low": 2, "high": 3}, "weights": [1, 1]}},
        "endpoints.weights",
        "plain integer",
    ),
]


@pytest.mark.parametrize(("data", "key", "problem"), BAD, ids=[b[1] for b in BAD])
def test_bad_config_raises_config_error(data: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(data)
    assert info.value.key == key, str(info.value)
    assert problem in info.value.problem, str(info.value)
    assert str(info.value) == f"{key}: {info.value.problem}"


def test_config_error_pickles() -> None:
    err = pickle.loads(pickle.dumps(ConfigError("write.fail_prob", "too big")))
    assert (err.key, err.problem, str(err)) == (
        "write.fail_prob",
        "too big",
        "write.fail_prob: too big",
    )


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert info.value.key == str(missing) and "cannot read" in info.value.problem
    bad = tmp_path / "bad.toml"
    bad.write_text("[write]\nfail_prob = = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert info.value.key == str(bad)
    assert "invalid TOML" in info.value.problem and "line 2" in info.value.problem


# -- support checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "table"),
    [
        ("enactors.count", {"dist": "randint", "low": 1, "high": 4}),
        ("enactors.count", {"dist": "binom", "n": 6, "p": 0.5, "loc": 1}),
        ("cleanup.keep_generations", {"dist": "poisson", "mu": 3}),
        (
            "region.cells",
            {"dist": "randint", "low": 1, "high": {"dist": "randint", "low": 2, "high": 6}},
        ),
        ("degraded.prob", {"dist": "beta", "a": 1, "b": 50}),
        ("write.fail_prob", {"dist": "beta", "a": 1, "b": 50}),
        ("region.shock.prob", {"dist": "uniform", "scale": 0.1}),
        ("enactors.poll_interval", {"dist": "loguniform", "a": 2, "b": 60}),
        ("enactors.poll_interval", {"dist": "expon", "scale": 5}),
        ("planner.interval", {"dist": "expon", "scale": {"dist": "gamma", "a": 2, "scale": 15}}),
        (
            "write.latency",
            {"dist": "lognorm", "s": {"dist": "uniform", "loc": 0.5, "scale": 1}, "scale": 0.1},
        ),
    ],
)
def test_support_inside_range_accepted(key: str, table: dict[str, Any]) -> None:
    value = parse(nest(key, table)).values[key]
    assert isinstance(value, DistSpec)


def test_support_bounds() -> None:
    assert parse_dist("k", {"dist": "randint", "low": 1, "high": 4}).support_bounds() == (1, 3)
    assert parse_dist("k", {"dist": "uniform", "loc": -1, "scale": 2}).support_bounds() == (-1, 1)
    nested = parse_dist(
        "k",
        {
            "dist": "uniform",
            "loc": {"dist": "uniform", "loc": 1, "scale": 1},
            "scale": {"dist": "randint", "low": 1, "high": 3},
        },
    )
    assert nested.support_bounds() == (1.0, 4.0)
    counts = parse_dist(
        "k",
        {
            "dist": "randint",
            "low": {"dist": "randint", "low": 1, "high": 3},
            "high": {"dist": "randint", "low": 5, "high": 9},
        },
    )
    assert counts.support_bounds() == (1.0, 7.0)
    assert parse_dist("k", {"dist": "expon", "scale": {"dist": "expon"}}).support_bounds() == (
        0.0,
        math.inf,
    )


# -- overrides ----------------------------------------------------------------------------------


def test_overrides() -> None:
    cfg = parse(
        {"write": {"fail_prob": 0.5}},
        "name=foo",
        "write.fail_prob=0.02",
        "enactors.count = 5",
        'write.latency={dist="lognorm", s=1, scale=0.2}',
        "mitigations.deadline.seconds=30",
        'region.cells={dist="randint", low=1, high=3}',
    )
    assert cfg.name == "foo"
    assert cfg.values["write.fail_prob"] == 0.02
    assert cfg.values["enactors.count"] == 5
    latency = cfg.values["write.latency"]
    assert isinstance(latency, DistSpec) and latency.describe() == "lognorm(s=1, scale=0.2)"
    assert dict(cfg.mitigations) == {"deadline": {"seconds": 30.0}}
    assert cfg.raw["mitigations"] == {"deadline": {"seconds": 30}}
    assert isinstance(cfg.values["region.cells"], DistSpec)
    # editing one parameter of a defaulted distribution keeps the others
    edited = parse({}, "write.latency.s=1.5").values["write.latency"]
    assert isinstance(edited, DistSpec) and edited.describe() == "lognorm(s=1.5, scale=0.1)"
    assert dict(parse({}, "mitigations.recheck=true").mitigations) == {"recheck": {}}
    # the input data is not modified
    data: dict[str, Any] = {"write": {"fail_prob": 0.5}}
    parse(data, "write.fail_prob=0.1")
    assert data == {"write": {"fail_prob": 0.5}}


def test_with_overrides() -> None:
    base = parse({"seed": 3})
    cfg = base.with_overrides(["trials=10"])
    assert (cfg.seed, cfg.trials, base.trials) == (3, 10, 100000)


@pytest.mark.parametrize(
    ("override", "key", "problem"),
    [
        ("trials", "trials", "KEY=VALUE"),
        ("write.fail_prb=0.1", "write.fail_prb", "did you mean 'write.fail_prob'"),
        ("bogus=1", "bogus", "unknown key"),
        ("mitigations.dedline.seconds=3", "mitigations.dedline.seconds", "did you mean"),
        ("mitigations.deadline.second=3", "mitigations.deadline.second", "unknown key"),
        ("seed.x=1", "seed.x", "unknown key"),
        ("write..latency=1", "write..latency", "malformed"),
        ("seed=abc", "seed", "string 'abc'"),
        ("trials=1.5", "trials", "integer"),
        ("write.latency.sigma=1", "write.latency.sigma", "no parameter"),
        ("write.fail_prob=2", "write.fail_prob", "[0, 1)"),
    ],
)
def test_bad_overrides(override: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse({}, override)
    assert info.value.key == key, str(info.value)
    assert problem in info.value.problem, str(info.value)


# -- flat() and hash() -------------------------------------------------------------------------


def test_flat() -> None:
    flat = parse(tomllib.loads(FULL_TOML)).flat()
    assert flat["name"] == "incident" and flat["seed"] == 7 and flat["trials"] == 5000
    assert flat["planner.interval"] == "expon(scale=loguniform(a=10, b=60))"
    assert flat["write.latency"] == "lognorm(s=1.0, scale=0.2)"
    assert flat["enactors.count"] == 3 and flat["window.hours"] == 2.0
    assert flat["mitigations"] == "deadline,recheck,empty_guard"
    assert flat["mitigations.deadline.seconds"] == 60.0
    assert flat["mitigations.empty_guard.repair"] == 300.0
    assert "mitigations.lease.seconds" not in flat
    assert flat["endpoints.weights"] == "0.125,0.125,0.125,0.625"
    assert all(isinstance(v, (str, int, float)) for v in flat.values())
    base = parse().flat()
    assert base["mitigations"] == "" and base["endpoints.weights"] == ""
    assert set(VALUE_KEYS) <= set(base)


def test_hash_is_stable_and_semantic() -> None:
    data = tomllib.loads(FULL_TOML)
    h = parse(data).hash()
    assert len(h) == 64 and h == parse(tomllib.loads(FULL_TOML)).hash()
    # formatting, key order, 60 vs 60.0 and spelled-out defaults do not matter
    reordered = dict(reversed(list(data.items())))
    reordered["mitigations"] = {**data["mitigations"], "deadline": {"seconds": 60.0}}
    reordered["write"] = {**data["write"], "backoff_base": 0.05}
    assert parse(reordered).hash() == h
    assert parse(data, "write.fail_prob=0.02").hash() != h
    assert parse(data, "seed=8").hash() != h
    assert parse().hash() == parse({"enactors": {"count": 3}}).hash() != h


# -- distributions ------------------------------------------------------------------------------


def _param_uniforms(seed: int, trials: np.ndarray, path: str) -> np.ndarray:
    """The addressed uniforms at which riskmc.params draws ``path`` for ``trials``."""
    k0, k1 = seed_key(seed)
    return K.uniforms(k0, k1, np.asarray(trials, dtype=np.int64), K.P_PARAMS, 0, key_id(path), 0)


def test_nested_sample_varies_per_row() -> None:
    spec = parse_dist(
        "planner.interval", {"dist": "expon", "scale": {"dist": "uniform", "loc": 1, "scale": 99}}
    )
    cfg = parse({"planner": {"interval": spec.to_table()}})
    windows = sample_windows(cfg, 11, 1000)
    assert windows.planner.name == "expon"
    scales = windows.planner.params[:, USE_DISTRIBUTIONS["expon"].index("scale")]
    assert scales.shape == (1000,) and scales.min() >= 1 and scales.max() <= 100
    assert np.unique(scales).size == 1000  # one draw per window
    # each window's scale is the nested table's quantile at that window's addressed uniform
    u = _param_uniforms(11, np.arange(1000), "planner.interval.scale")
    np.testing.assert_allclose(scales, 1 + 99 * u, rtol=1e-12)
    np.testing.assert_allclose(windows.planner.mean(), scales, rtol=1e-12)
    # a window's values depend on its trial index only, not on the other trials drawn
    some = sample_windows(cfg, 11, np.array([999, 5, 500]))
    np.testing.assert_array_equal(some.planner.params[:, 1], scales[[999, 5, 500]])
    assert not np.array_equal(sample_windows(cfg, 12, 3).planner.params[:, 1], scales[:3])
    # DistSpec.sample: one nested draw per value, reproducible from the generator's seed
    draws = spec.sample(np.random.default_rng(2), 5000)
    assert draws.shape == (5000,) and draws.dtype == np.float64 and (draws >= 0).all()
    np.testing.assert_array_equal(draws, spec.sample(np.random.default_rng(2), 5000))
    # the mean of expon(scale ~ U(1, 100)) is 50.5; sd of a draw: sqrt(E[2 s^2] - 50.5^2)
    sd = math.sqrt(2 * (100**3 - 1) / (3 * 99) - 50.5**2)
    assert abs(draws.mean() - 50.5) < 4 * sd / math.sqrt(draws.size)


def test_window_rows_for_the_reference() -> None:
    cfg = parse(
        {
            "planner": {"interval": {"dist": "expon", "scale": {"dist": "uniform", "loc": 1, "scale": 1}}},
            "write": {"latency": 0.25},
            "repair": {"duration": {"dist": "empirical", "samples": [60, 30, 90]}},
        }
    )
    windows = sample_windows(cfg, 3, 4)
    row = windows.planner.row(2)
    assert isinstance(row, FrozenScipyDist) and row.name == "expon"
    assert dict(row.params)["scale"] == windows.planner.params[2, 1]
    assert row.mean() == pytest.approx(windows.planner.params[2, 1])
    assert windows.latency.name == "constant" and windows.latency.row(1) == ConstantDist(0.25)
    assert list(windows.latency.mean()) == [0.25] * 4
    assert windows.repair.name == EMPIRICAL and windows.repair.row(0) == EmpiricalDist((30.0, 60.0, 90.0))
    assert list(windows.repair.mean()) == [60.0] * 4
    cell = windows.cell_params(2)
    assert cell.planner_interval == row and cell.write_latency == ConstantDist(0.25)


def test_integer_valued_sampling_for_counts() -> None:
    cfg = parse(
        {
            "enactors": {"count": {"dist": "randint", "low": 1, "high": 4}},
            "endpoints": {
                "count": {
                    "dist": "randint",
                    "low": 1,
                    "high": {"dist": "randint", "low": 2, "high": 9},
                }
            },
        }
    )
    rng = np.random.default_rng(6)
    for key, hi in (("enactors.count", 3), ("endpoints.count", 7)):
        spec = cfg.values[key]
        assert isinstance(spec, DistSpec) and spec.integer_valued
        x = spec.sample(rng, 4000)
        assert np.array_equal(x, np.round(x)) and x.min() == 1 and x.max() == hi
    windows = sample_windows(cfg, 9, 4000)
    for counts, hi in ((windows.enactors, 3), (windows.endpoints, 7)):
        assert counts.dtype == np.int64 and counts.min() == 1 and counts.max() == hi
    # randint(1, 4) at the addressed uniforms: floor(1 + 3u)
    u = _param_uniforms(9, np.arange(4000), "enactors.count")
    np.testing.assert_array_equal(windows.enactors, np.floor(1 + 3 * u).astype(np.int64))
    assert windows.cells.dtype == np.int64 and list(windows.cells[:5]) == [1] * 5


# -- distributions the engine draws at every use -------------------------------------------

USE_KEYS = ("planner.interval", "write.latency", "repair.duration", "mitigations.empty_guard.repair")


@pytest.mark.parametrize("key", USE_KEYS)
@pytest.mark.parametrize(
    "table",
    [
        {"dist": "halfnorm", "scale": 2},
        {"dist": "truncnorm", "a": 0, "b": 3},
        {"dist": "poisson", "mu": 3},
    ],
    ids=lambda t: t["dist"],
)
def test_use_keys_refuse_distributions_the_engine_lacks(key: str, table: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        parse(nest(key, table))
    assert info.value.key == f"{key}.dist", str(info.value)
    assert repr(table["dist"]) in info.value.problem
    for name in USE_DISTRIBUTIONS:
        assert name in info.value.problem, name
    # the same table is fine for a parameter drawn once per region-window
    assert isinstance(parse(nest("write.backoff_cap", table)).values["write.backoff_cap"], DistSpec)


@pytest.mark.parametrize("key", USE_KEYS)
def test_use_keys_accept_every_engine_distribution(key: str) -> None:
    tables = {
        "expon": {"dist": "expon", "scale": 3},
        "lognorm": {"dist": "lognorm", "s": 0.5, "scale": 2},
        "gamma": {"dist": "gamma", "a": 2, "scale": 1.5},
        "weibull_min": {"dist": "weibull_min", "c": 1.5, "scale": 2},
        "lomax": {"dist": "lomax", "c": 3, "scale": 2},
        "pareto": {"dist": "pareto", "b": 3, "scale": 2},
        "uniform": {"dist": "uniform", "loc": 1, "scale": 2},
        "loguniform": {"dist": "loguniform", "a": 1, "b": 10},
        EMPIRICAL: {"dist": EMPIRICAL, "samples": [1.0, 2.0]},
    }
    assert set(tables) == set(USE_DISTRIBUTIONS)
    for name, table in tables.items():
        cfg = parse(nest(key, table))
        value = cfg.mitigations["empty_guard"]["repair"] if key.startswith("mitigations") else cfg.values[key]
        assert isinstance(value, DistSpec) and value.name == name
    assert parse(nest(key, 7)).flat()[key] == 7.0


def test_use_key_accepts_any_scipy_distribution_inside_a_nested_parameter() -> None:
    inner = {"dist": "halfnorm", "loc": 1, "scale": 30}
    cfg = parse({"planner": {"interval": {"dist": "expon", "scale": inner}}})
    interval = cfg.values["planner.interval"]
    assert isinstance(interval, DistSpec) and interval.describe() == "expon(scale=halfnorm(loc=1, scale=30))"
    windows = sample_windows(cfg, 4, 200)
    u = _param_uniforms(4, np.arange(200), "planner.interval.scale")
    expected = scipy.stats.halfnorm.ppf(u, loc=1, scale=30)
    np.testing.assert_allclose(windows.planner.params[:, 1], expected, rtol=1e-12)
    # also in the mitigation's use key, and in a parameter of a lognormal latency
    guard = parse({"mitigations": {"empty_guard": {"repair": {"dist": "expon", "scale": inner}}}})
    assert guard.mitigations["empty_guard"]["repair"].nested == ("scale",)  # type: ignore[union-attr]
    latency = parse({"write": {"latency": {"dist": "lognorm", "s": {"dist": "beta", "a": 2, "b": 2}}}})
    assert isinstance(latency.values["write.latency"], DistSpec)


# -- the empirical distribution --------------------------------------------------------------


def test_empirical_samples() -> None:
    cfg = parse({"write": {"latency": {"dist": "empirical", "samples": [0.3, 0.1, 0.2, 0.2]}}})
    spec = cfg.values["write.latency"]
    assert isinstance(spec, DistSpec) and spec.name == EMPIRICAL
    assert spec.samples == (0.1, 0.2, 0.2, 0.3)  # sorted
    assert spec.support_bounds() == (0.1, 0.3) and spec.source is None
    assert "empirical" in spec.describe() and "n=4" in spec.describe()
    windows = sample_windows(cfg, 1, 3)
    assert windows.latency.name == EMPIRICAL
    np.testing.assert_array_equal(windows.latency.samples, [0.1, 0.2, 0.2, 0.3])
    # integer observations make a valid count; a probability's values must lie in [0, 1)
    counts = parse({"enactors": {"count": {"dist": "empirical", "samples": [2, 1, 3]}}})
    count = counts.values["enactors.count"]
    assert isinstance(count, DistSpec) and count.integer_valued
    with pytest.raises(ConfigError) as info:
        parse({"enactors": {"count": {"dist": "empirical", "samples": [1, 1.5]}}})
    assert info.value.key == "enactors.count" and "integer-valued" in info.value.problem
    with pytest.raises(ConfigError) as info:
        parse({"write": {"fail_prob": {"dist": "empirical", "samples": [0.5, 1.0]}}})
    assert info.value.key == "write.fail_prob" and "[0, 1)" in info.value.problem


def test_empirical_ppf_resamples_the_values() -> None:
    spec = parse_dist("k", {"dist": "empirical", "samples": [5, 1, 2, 2]})
    # u in [j/n, (j+1)/n) picks the j-th smallest value: each value with its multiplicity
    u = (np.arange(4000) + 0.5) / 4000
    x = spec.ppf(u, {})
    assert x.dtype == np.float64
    values, counts = np.unique(x, return_counts=True)
    assert list(values) == [1.0, 2.0, 5.0] and list(counts) == [1000, 2000, 1000]
    edges = np.array([1e-12, 0.2499, 0.25, 0.7499, 0.75, 1 - 1e-16])
    assert spec.ppf(edges, {}).tolist() == [1, 1, 2, 2, 5, 5]
    # random draws: each value's frequency within 4 standard errors of its share
    draws = spec.sample(np.random.default_rng(8), 20000)
    for value, share in ((1.0, 0.25), (2.0, 0.5), (5.0, 0.25)):
        freq = float(np.mean(draws == value))
        assert abs(freq - share) < 4 * math.sqrt(share * (1 - share) / draws.size)
    assert set(np.unique(draws)) == {1.0, 2.0, 5.0}
    # as a parameter drawn once per window, at the window's addressed uniform
    cfg = parse({"write": {"fail_prob": {"dist": "empirical", "samples": [0.1, 0.2, 0.2, 0.4]}}})
    windows = sample_windows(cfg, 5, 500)
    u = _param_uniforms(5, np.arange(500), "write.fail_prob")
    expected = np.array([0.1, 0.2, 0.2, 0.4])[np.floor(u * 4).astype(int)]
    np.testing.assert_array_equal(windows.fail_prob, expected)


def test_empirical_file_relative_to_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "scenarios"
    (folder / "data").mkdir(parents=True)
    values = folder / "data" / "latency.txt"
    values.write_text("# observed latencies, seconds\n0.3 0.1, 0.2;0.25\n\n0.15  # last\n")
    path = folder / "s.toml"
    path.write_text('[write]\nlatency = { dist = "empirical", file = "data/latency.txt" }\n')
    monkeypatch.chdir(tmp_path)  # the file is found from the config's folder, not from here
    spec = load_config(path).values["write.latency"]
    assert isinstance(spec, DistSpec) and spec.samples == (0.1, 0.15, 0.2, 0.25, 0.3)
    assert spec.source == "data/latency.txt" and "data/latency.txt" in spec.describe()
    # an absolute path works from anywhere
    absolute = tmp_path / "abs.toml"
    absolute.write_text(f'[write]\nlatency = {{ dist = "empirical", file = "{values}" }}\n')
    assert load_config(absolute).values["write.latency"].samples == spec.samples  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "not a regular file"),
        ("0.1 0.2\n0.3 fast\n", "line 2: 'fast' is not a number"),
        ("# nothing here\n\n", "at least one value"),
        ("0.1 nan\n", "finite number"),
        ("0.1 inf\n", "finite number"),
        (b"\xff\xfe0.1\n", "not UTF-8"),
        ("dir", "not a regular file"),
    ],
    ids=["missing", "not-a-number", "empty", "nan", "inf", "binary", "directory"],
)
def test_empirical_bad_file(tmp_path: Path, content: str | bytes | None, problem: str) -> None:
    target = tmp_path / "values.txt"
    if content == "dir":
        target.mkdir()
    elif isinstance(content, bytes):
        target.write_bytes(content)
    elif content is not None:
        target.write_text(content)
    path = tmp_path / "s.toml"
    path.write_text('[repair]\nduration = { dist = "empirical", file = "values.txt" }\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "repair.duration.file", str(info.value)
    assert problem in info.value.problem, str(info.value)


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ({"samples": []}, "write.latency.samples", "at least one value"),
        ({"samples": [0.1, True]}, "write.latency.samples", "value 2 must be a finite number"),
        ({"samples": [0.1, "0.2"]}, "write.latency.samples", "value 2 must be a finite number"),
        ({"samples": [0.1, math.nan]}, "write.latency.samples", "value 2 must be a finite number"),
        ({"samples": [math.inf]}, "write.latency.samples", "value 1 must be a finite number"),
        ({"samples": [0.1, [0.2]]}, "write.latency.samples", "value 2"),
        ({"samples": "0.1, 0.2"}, "write.latency.samples", "array of numbers"),
        ({"file": 3}, "write.latency.file", "file name"),
        ({"file": " "}, "write.latency.file", "file name"),
        ({}, "write.latency", "exactly one of samples"),
        ({"samples": [0.1], "file": "x.txt"}, "write.latency", "exactly one of samples"),
        ({"samples": [0.1], "scale": 2}, "write.latency.scale", "samples or file only"),
        ({"samples": [-0.1, 0.2]}, "write.latency", "support is [-0.1, 0.2]"),
    ],
)
def test_empirical_bad_values(table: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse({"write": {"latency": {"dist": "empirical", **table}}})
    assert info.value.key == key, str(info.value)
    assert problem in info.value.problem, str(info.value)


def test_empirical_hash_follows_the_file_values(tmp_path: Path) -> None:
    data = tmp_path / "repair.txt"
    path = tmp_path / "s.toml"
    path.write_text('[repair]\nduration = { dist = "empirical", file = "repair.txt" }\n')
    data.write_text("600 1200 1800\n")
    h = load_config(path).hash()
    data.write_text("1800, 600\n# same values, other order and layout\n1200\n")
    assert load_config(path).hash() == h
    data.write_text("600 1200 1801\n")
    assert load_config(path).hash() != h
    data.write_text("600 1200 1800 1800\n")  # a repeated observation changes the weights
    assert load_config(path).hash() != h
    # the same values inline, or from a file of another name: the same scenario
    inline = parse({"name": "s", "repair": {"duration": {"dist": "empirical", "samples": [1200, 600, 1800]}}})
    assert inline.hash() == h
    (tmp_path / "other.txt").write_text("600 1200 1800\n")
    path.write_text('[repair]\nduration = { dist = "empirical", file = "other.txt" }\n')
    assert load_config(path).hash() == h


# -- DistSpec.ppf --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        {"dist": "expon", "scale": 30},
        {"dist": "lognorm", "s": 0.5, "loc": 0.01, "scale": 0.1},
        {"dist": "gamma", "a": 2.5, "scale": 3},
        {"dist": "beta", "a": 1, "b": 99},
        {"dist": "norm", "loc": 5, "scale": 2},
        {"dist": "loguniform", "a": 10, "b": 60},
        {"dist": "poisson", "mu": 3, "loc": 1},
        {"dist": "randint", "low": 5, "high": 21},
        {"dist": "binom", "n": 10, "p": 0.3},
    ],
    ids=lambda t: t["dist"],
)
def test_ppf_agrees_with_scipy(table: dict[str, Any]) -> None:
    spec = parse_dist("k", table)
    u = np.random.default_rng(10).random(2000) * (1 - 2**-53) + 2**-54
    params = {k: v for k, v in table.items() if k != "dist"}
    expected = getattr(scipy.stats, table["dist"]).ppf(u, **params)
    x = spec.ppf(u, {})
    assert x.shape == u.shape and x.dtype == np.float64
    np.testing.assert_allclose(x, expected, rtol=1e-12, atol=0)
    if spec.integer_valued:
        assert np.array_equal(x, np.round(x))
    lo, hi = spec.support_bounds()
    assert (x >= lo).all() and (x <= hi).all()


def test_ppf_closed_forms_and_nested_rows() -> None:
    u = np.array([0.1, 0.5, 0.9])
    expon = parse_dist("k", {"dist": "expon", "scale": 30})
    np.testing.assert_allclose(expon.ppf(u, {}), -30 * np.log1p(-u))
    uniform = parse_dist("k", {"dist": "uniform", "loc": 2, "scale": 4})
    np.testing.assert_allclose(uniform.ppf(u, {}), 2 + 4 * u)
    # a nested parameter takes one value per row; the constants are the spec's own
    spec = parse_dist("k", {"dist": "uniform", "loc": 1, "scale": {"dist": "expon"}})
    scales = np.array([1.0, 10.0, 100.0])
    np.testing.assert_allclose(spec.ppf(u, {"scale": scales}), 1 + scales * u)
    # NaN where the distribution rejects a row's parameters
    lognorm = parse_dist("k", {"dist": "lognorm", "s": {"dist": "uniform", "loc": 0.1, "scale": 1}})
    x = lognorm.ppf(u, {"s": np.array([0.5, -1.0, 0.5])})
    assert np.isfinite(x[[0, 2]]).all() and math.isnan(x[1])
    np.testing.assert_allclose(x[[0, 2]], scipy.stats.lognorm.ppf(u[[0, 2]], 0.5))


def test_describe_and_to_table() -> None:
    table = {"dist": "expon", "scale": {"dist": "gamma", "a": 2, "scale": 15.0}}
    spec = parse_dist("planner.interval", table)
    assert spec.describe() == "expon(scale=gamma(a=2, scale=15.0))"
    assert spec.to_table() == table
    assert spec.key == "planner.interval" and not spec.discrete
    inner = spec.params["scale"]
    assert isinstance(inner, DistSpec) and inner.key == "planner.interval.scale"


def test_schema_covers_model_keys() -> None:
    for key in (
        "name",
        "seed",
        "trials",
        "window.hours",
        "planner.interval",
        "enactors.count",
        "enactors.poll_interval",
        "endpoints.count",
        "endpoints.weights",
        "write.latency",
        "write.fail_prob",
        "write.backoff_base",
        "write.backoff_cap",
        "degraded.prob",
        "degraded.fail_prob",
        "cleanup.keep_generations",
        "region.cells",
        "region.shock.prob",
        "region.shock.degraded_prob",
        "repair.duration",
    ):
        assert key in KEYS and KEYS[key].doc
    for name, params in MITIGATIONS.items():
        for p in params:
            assert KEYS[f"mitigations.{name}.{p}"].required


def test_a_cascade_rate_may_be_a_distribution_near_zero_but_not_below_its_floor() -> None:
    """dwfm_rate_per_min's floor (1e-7, MIN_VALUES) is checked at a distribution's 1e-6
    quantile, not against its support: a lognormal rate loads, one that reaches 1e-300 does not."""
    cfg = stress_config(['cascade.dwfm_rate_per_min={dist="lognorm", s=0.5, scale=0.0135}'])
    assert cfg.values["cascade.dwfm_rate_per_min"].name == "lognorm"
    with pytest.raises(ConfigError, match="at least 1e-07"):
        stress_config(['cascade.dwfm_rate_per_min={dist="loguniform", a=1e-300, b=1}'])
