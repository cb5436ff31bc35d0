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

from riskmc.config import (
    KEYS,
    MITIGATIONS,
    VALUE_KEYS,
    Config,
    ConfigError,
    load_config,
    parse_config,
)
from riskmc.distributions import (
    DistSpec,
    ResolvedDist,
    parse_dist,
    resolve_value,
    sample_value,
)
from riskmc.model import ConstantDist, FrozenScipyDist

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
    ({"trials": 0}, "trials", ">= 1"),
    ({"seed": -1}, "seed", ">= 0"),
    ({"window": {"hours": 0}}, "window.hours", "> 0"),
    ({"window": {"hours": math.inf}}, "window.hours", "finite"),
    ({"write": {"fail_prob": 1.0}}, "write.fail_prob", "[0, 1)"),
    ({"write": {"fail_prob": -0.1}}, "write.fail_prob", "[0, 1)"),
    ({"degraded": {"prob": 1.5}}, "degraded.prob", "[0, 1]"),
    ({"degraded": {"fail_prob": 1}}, "degraded.fail_prob", "[0, 1)"),
    ({"region": {"shock": {"prob": 2}}}, "region.shock.prob", "[0, 1]"),
    ({"write": {"backoff_base": -1}}, "write.backoff_base", ">= 0"),
    ({"enactors": {"poll_interval": -5}}, "enactors.poll_interval", "> 0"),
    ({"enactors": {"count": 0}}, "enactors.count", ">= 1"),
    ({"region": {"cells": 0}}, "region.cells", ">= 1"),
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
        {"write": {"latency": {"dist": "lognrm", "s": 1}}},
        "write.latency.dist",
        "did you mean 'lognorm'",
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
    ({"planner": {"interval": {"dist": "norm", "loc": 30}}}, "planner.interval", "support"),
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
        ("enactors.count", {"dist": "poisson", "mu": 3, "loc": 1}),
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


def test_nested_sample_varies_per_row() -> None:
    spec = parse_dist(
        "planner.interval", {"dist": "expon", "scale": {"dist": "uniform", "loc": 1, "scale": 99}}
    )
    rng = np.random.default_rng(1)
    resolved = spec.resolve(rng, 1000)
    scales = resolved.params["scale"]
    assert scales.shape == (1000,) and scales.min() >= 1 and scales.max() <= 100
    assert np.unique(scales).size == 1000  # one draw per row
    np.testing.assert_allclose(resolved.mean(), scales)
    draws = spec.sample(np.random.default_rng(2), 5000)
    assert draws.shape == (5000,) and draws.dtype == np.float64 and (draws >= 0).all()
    # reproducible from the seed
    np.testing.assert_array_equal(draws, spec.sample(np.random.default_rng(2), 5000))


def test_resolved_rvs_honours_row_params() -> None:
    rows, m = 2, 20000
    resolved = ResolvedDist("expon", {"scale": np.array([1.0, 100.0])})
    x = resolved.rvs(np.random.default_rng(3), (rows, m))
    assert x.shape == (rows, m) and x.dtype == np.float64
    means = x.mean(axis=1)
    se = np.array([1.0, 100.0]) / math.sqrt(m)  # sd of expon = scale
    assert np.all(np.abs(means - [1.0, 100.0]) < 5 * se)
    ratio_se = 100 * math.sqrt(2 / m)  # delta method for the ratio of two means
    assert abs(means[1] / means[0] - 100) < 5 * ratio_se
    # trailing dimensions broadcast too
    assert resolved.rvs(np.random.default_rng(4), (rows, 3, 4)).shape == (2, 3, 4)
    with pytest.raises(ValueError):
        resolved.rvs(np.random.default_rng(4), (3, 4))


def test_resolved_helpers() -> None:
    spec = parse_dist("k", {"dist": "lognorm", "s": 0.5, "scale": {"dist": "uniform", "loc": 1, "scale": 1}})
    r = spec.resolve(np.random.default_rng(5), 4)
    assert len(r) == 4
    sub = r.take(np.array([2, 0]))
    assert len(sub) == 2 and sub.params["scale"][0] == r.params["scale"][2]
    row = r.row(1)
    assert isinstance(row, FrozenScipyDist) and dict(row.params)["scale"] == r.params["scale"][1]
    assert row.mean() == pytest.approx(r.mean()[1])
    const = ResolvedDist.constant(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(const.rvs(np.random.default_rng(0), (2, 3)), [[1.0] * 3, [2.0] * 3])
    assert const.row(1) == ConstantDist(2.0) and list(const.mean()) == [1.0, 2.0]
    plain = resolve_value(30.0, np.random.default_rng(0), 3)
    assert plain.name == "constant" and list(plain.mean()) == [30.0] * 3
    noparams = parse_dist("k", {"dist": "expon"}).resolve(np.random.default_rng(0), 3)
    assert noparams.rvs(np.random.default_rng(0), (3, 2)).shape == (3, 2)
    assert len(noparams.take(np.array([True, False, True]))) == 2


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
        ints = sample_value(spec, rng, 10, integer=True)
        assert ints.dtype == np.int64 and ints.min() >= 1
    fixed = sample_value(cfg.values["region.cells"], rng, 5, integer=True)
    assert fixed.dtype == np.int64 and list(fixed) == [1] * 5


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
