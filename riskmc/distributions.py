"""Distribution tables from the configuration: parsing, validation, support and sampling.

A configuration names a distribution the way scipy.stats does, e.g.
``{ dist = "lognorm", s = 0.5, scale = 0.1 }`` (docs/model.md section 5).  This module
turns such a table into a validated :class:`DistSpec`.  Two more names exist besides
scipy's: ``empirical`` (resampling of observed values, ``samples = [...]`` or ``file =
"latencies.txt"``), and a plain number where a distribution is allowed (a constant).

A sampled parameter (drawn once per region-window) may use any scipy.stats distribution: it
is evaluated by :meth:`DistSpec.ppf` at an addressed uniform (``riskmc.params``).  The four
keys drawn at every use are drawn by the engine itself, which implements the distributions
of :data:`USE_DISTRIBUTIONS` only.

A parameter of a table may itself be a table (a *nested* distribution, e.g. an exponential
plan interval whose mean is uncertain).  Nested parameters are drawn once per region-window
and the outer distribution is then drawn with that window's parameters.

Everything a user can get wrong here raises :class:`~riskmc.errors.ConfigError` naming the
dotted key of the offending value (``write.latency.scale``), never a scipy traceback.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import itertools
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats  # type: ignore[import-untyped]

from riskmc.errors import ConfigError

__all__ = [
    "BOUNDS_DRAWS",
    "BOUNDS_SEED",
    "EMPIRICAL",
    "MAX_EMPIRICAL_BYTES",
    "MAX_EMPIRICAL_VALUES",
    "USE_DISTRIBUTIONS",
    "ConfigError",
    "DistSpec",
    "distribution_names",
    "parse_dist",
    "support_text",
    "type_name",
]

#: The name of the empirical distribution (resampling of observed values).
EMPIRICAL = "empirical"
#: Limits of an empirical distribution: values, and bytes of its file.
MAX_EMPIRICAL_VALUES = 10_000_000
MAX_EMPIRICAL_BYTES = 256 * 1024 * 1024

#: The distributions the engine draws at every use (planner.interval, write.latency,
#: repair.duration, mitigations.empty_guard.repair), each with its parameters in the order
#: the engine reads them (scipy's names; loc defaults to 0 and scale to 1).
USE_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "expon": ("loc", "scale"),
    "lognorm": ("s", "loc", "scale"),
    "gamma": ("a", "loc", "scale"),
    "weibull_min": ("c", "loc", "scale"),
    "lomax": ("c", "loc", "scale"),
    "pareto": ("b", "loc", "scale"),
    "uniform": ("loc", "scale"),
    "loguniform": ("a", "b", "loc", "scale"),
    EMPIRICAL: (),
}

#: Seed and number of draws of the deterministic sample at which nested parameter tables are
#: evaluated (see :meth:`DistSpec.support_bounds`).  Fixed so that validation never depends
#: on the run's seed: the same file is accepted or rejected every time.
BOUNDS_SEED = 0x5EED
BOUNDS_DRAWS = 256


def type_name(value: object) -> str:
    """The TOML name of a value's type, for messages ("string", "table", "boolean", ...)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _fmt_param(value: float) -> str:
    """A parameter as the user wrote it (ints stay ints), for describe()."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return repr(float(value))


def _fmt_num(value: float) -> str:
    """A computed number (bound, example value) in short form for messages."""
    return f"{float(value):g}"


def _suggest(word: str, candidates: list[str] | tuple[str, ...]) -> str:
    """The hint " (did you mean ...?)" for the closest candidate, or "" if none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@functools.cache
def distribution_names() -> tuple[str, ...]:
    """Every name in scipy.stats that is a (univariate, old-style) distribution instance."""
    return tuple(
        sorted(
            name
            for name in dir(scipy.stats)
            if not name.startswith("_")
            and isinstance(getattr(scipy.stats, name), (scipy.stats.rv_continuous, scipy.stats.rv_discrete))
        )
    )


def _generator(name: str) -> Any:
    """The scipy.stats distribution object called ``name`` (an rv_continuous/rv_discrete)."""
    return getattr(scipy.stats, name)


def _shape_names(gen: Any) -> tuple[str, ...]:
    shapes = gen.shapes
    if not shapes:
        return ()
    return tuple(s.strip() for s in str(shapes).split(","))


def _param_order(gen: Any) -> tuple[str, ...]:
    """scipy's parameter names in scipy's order: shapes, loc, then scale (continuous only)."""
    extra = ("loc",) if isinstance(gen, scipy.stats.rv_discrete) else ("loc", "scale")
    return _shape_names(gen) + extra


def _shape_domains(gen: Any) -> dict[str, tuple[float, float, bool, bool]]:
    """Documented domain of each shape parameter: (low, high, low_included, high_included).

    Uses scipy's private ``_shape_info`` (what ``fit`` uses).  It is only consulted to
    reject nested tables whose support leaves a shape's domain and to name the culprit in
    messages; scipy's ``_argcheck`` stays the authority on plain values.  Missing or changed
    private API simply means no domain information.
    """
    try:
        infos = gen._shape_info()
        out: dict[str, tuple[float, float, bool, bool]] = {}
        for info in infos:
            lo, hi = info.endpoints
            inc_lo, inc_hi = info.inclusive
            out[str(info.name)] = (float(lo), float(hi), bool(inc_lo), bool(inc_hi))
        return out
    except (AttributeError, TypeError, ValueError):  # pragma: no cover - scipy internals
        return {}


_LOC_DOMAIN = (-math.inf, math.inf, False, False)
_SCALE_DOMAIN = (0.0, math.inf, False, False)


def _domain_text(domain: tuple[float, float, bool, bool]) -> str:
    lo, hi, inc_lo, inc_hi = domain
    return f"{'[' if inc_lo else '('}{_fmt_num(lo)}, {_fmt_num(hi)}{']' if inc_hi else ')'}"


def _bounds_leave_domain(
    bounds: tuple[float, float], atoms: bool, domain: tuple[float, float, bool, bool]
) -> bool:
    """Whether values with support ``bounds`` can fall outside ``domain``.

    An excluded domain endpoint may coincide with a support endpoint only when that
    endpoint is never drawn: for a continuous distribution it has probability zero, for a
    discrete one a finite endpoint is an atom (``atoms``).
    """
    lo, hi = bounds
    d_lo, d_hi, inc_lo, inc_hi = domain
    if lo < d_lo or hi > d_hi:
        return True
    if lo == d_lo and not inc_lo and atoms and math.isfinite(lo):
        return True
    return hi == d_hi and not inc_hi and atoms and math.isfinite(hi)


def support_text(bounds: tuple[float, float]) -> str:
    """Support bounds as an interval, open at infinite ends: "[0, inf)", "[1, 3]"."""
    lo, hi = bounds
    return (
        f"{'[' if math.isfinite(lo) else '('}{_fmt_num(lo)}, "
        f"{_fmt_num(hi)}{']' if math.isfinite(hi) else ')'}"
    )


def _mul(scale: float, x: float) -> float:
    """scale * x for interval arithmetic, with 0 * inf taken as 0 (scale is never inf*0)."""
    if scale == 0.0 or x == 0.0:
        return 0.0
    return scale * x


def _support_nan(gen: Any, params: Mapping[str, np.ndarray | float]) -> np.ndarray:
    """Boolean mask (1-d) of parameter rows scipy rejects: its support comes out NaN.

    ``support`` is NaN exactly when ``_argcheck`` fails or scale <= 0, so one call covers
    both; scipy's warnings about NaN arithmetic on invalid rows are expected and silenced.
    """
    arrays = [np.asarray(v, dtype=float) for v in params.values()]
    size = np.broadcast(*arrays).size if arrays else 1
    with np.errstate(all="ignore"):
        try:
            lo, hi = gen.support(**params)
        except (ArithmeticError, TypeError, ValueError):
            return np.ones(size, dtype=bool)
    bad = np.isnan(np.asarray(lo, dtype=float)) | np.isnan(np.asarray(hi, dtype=float))
    return np.broadcast_to(bad, np.broadcast(*arrays).shape if arrays else ()).reshape(-1)


def _constants(spec: DistSpec) -> dict[str, float]:
    """The parameters of a spec without nested tables, as floats."""
    out: dict[str, float] = {}
    for k, v in spec.params.items():
        assert not isinstance(v, DistSpec)
        out[k] = float(v)
    return out


@dataclass(frozen=True)
class DistSpec:
    """A validated distribution table: a scipy.stats name and its parameters.

    ``params`` uses scipy's own names (shape names, ``loc``, ``scale``) in scipy's order;
    a value is a number exactly as written in the configuration (an int stays an int, so
    ``describe()`` echoes the user) or a nested :class:`DistSpec` drawn once per row.
    Build it with :func:`parse_dist`, which validates; the constructor does not.
    """

    key: str
    name: str
    params: dict[str, float | DistSpec] = field(hash=False)
    discrete: bool
    #: ``empirical``: the observed values, sorted (and the file they came from, if any)
    samples: tuple[float, ...] | None = field(default=None, hash=False, repr=False)
    source: str | None = None

    # -- structure ---------------------------------------------------------------------

    @property
    def generator(self) -> Any:
        """The scipy.stats distribution object (not for ``empirical``)."""
        return _generator(self.name)

    @property
    def shape_names(self) -> tuple[str, ...]:
        return () if self.samples is not None else _shape_names(self.generator)

    @property
    def nested(self) -> tuple[str, ...]:
        """Names of the parameters that are themselves distributions."""
        return tuple(k for k, v in self.params.items() if isinstance(v, DistSpec))

    @property
    def integer_valued(self) -> bool:
        """True when every draw is an integer: a discrete distribution with an integer loc.

        scipy lets a discrete distribution have a fractional ``loc``; counts must not.
        """
        if self.samples is not None:
            return all(float(x).is_integer() for x in self.samples)
        if not self.discrete:
            return False
        loc = self.params.get("loc", 0)
        if isinstance(loc, DistSpec):
            return loc.integer_valued
        return float(loc).is_integer()

    def describe(self) -> str:
        """Compact text such as ``lognorm(s=1.0, scale=0.2)``; nested tables inline."""
        if self.samples is not None:
            where = f", file={self.source}" if self.source else ""
            lo, hi = _fmt_num(self.samples[0]), _fmt_num(self.samples[-1])
            return f"empirical(n={len(self.samples)}, {lo}..{hi}{where})"
        inner = ", ".join(
            f"{k}={v.describe() if isinstance(v, DistSpec) else _fmt_param(v)}"
            for k, v in self.params.items()
        )
        return f"{self.name}({inner})"

    def to_table(self) -> dict[str, Any]:
        """The TOML table this spec came from (canonical order), e.g. for hashing."""
        out: dict[str, Any] = {"dist": self.name}
        if self.samples is not None:  # the values themselves by their hash (a file may be large)
            data = np.asarray(self.samples, dtype=float).tobytes()
            out.update(n=len(self.samples), sha256=hashlib.sha256(data).hexdigest())
            return out
        for k, v in self.params.items():
            out[k] = v.to_table() if isinstance(v, DistSpec) else v
        return out

    # -- drawing -----------------------------------------------------------------------

    def ppf(self, u: np.ndarray, params: Mapping[str, np.ndarray | float]) -> np.ndarray:
        """Values at the uniforms ``u`` (in (0, 1)) given the nested parameters' values
        (``params``: one array per nested parameter, the constants are the spec's own);
        float64, exact integers for an :attr:`integer_valued` spec.  NaN where the
        distribution rejects a row's parameters."""
        u = np.asarray(u, dtype=float)
        if self.samples is not None:
            values = np.asarray(self.samples, dtype=float)
            return values[np.minimum((u * values.size).astype(np.int64), values.size - 1)]
        kw = {k: (params[k] if isinstance(v, DistSpec) else float(v)) for k, v in self.params.items()}
        with np.errstate(all="ignore"):
            return np.asarray(self.generator.ppf(u, **kw), dtype=float) * np.ones_like(u)

    def upper_quantile(self, u: float) -> float:
        """The ``u`` quantile, the largest over the values nested parameters can take (at the
        check points of ``_points``); NaN when it cannot be computed."""
        if self.samples is not None:
            return float(self.samples[-1])
        q = self._quantiles(u)
        return float(q.max()) if q.size else math.nan

    def lower_quantile(self, u: float) -> float:
        """The ``u`` quantile, the smallest over the values nested parameters can take (as
        :meth:`upper_quantile`); NaN when it cannot be computed."""
        if self.samples is not None:
            return float(self.samples[0])
        q = self._quantiles(u)
        return float(q.min()) if q.size else math.nan

    def _quantiles(self, u: float) -> np.ndarray:
        """The ``u`` quantile at every check point of the nested parameters (one value
        without them), the NaNs left out."""
        if not self.nested:
            q = self.ppf(np.array([u]), {})
        else:
            pts = self._points
            n = next(iter(pts.values())).size
            q = self.ppf(np.full(n, u), {k: pts[k] for k in self.nested})
        return q[~np.isnan(q)]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws, each with its own draw of the nested parameters (for the checks of
        :meth:`support_bounds` only; runs draw with :meth:`ppf` at addressed uniforms)."""
        params = {k: v.sample(rng, n) for k, v in self.params.items() if isinstance(v, DistSpec)}
        return self.ppf(rng.random(n) * (1.0 - 2.0**-53) + 2.0**-54, params)

    # -- support -----------------------------------------------------------------------

    @functools.cached_property
    def _points(self) -> dict[str, np.ndarray]:
        """Parameter rows at which a table with nested parameters is checked and bounded.

        The rows are ``BOUNDS_DRAWS`` joint draws of the nested parameters from a fixed
        seed, plus every corner of the box spanned by their support endpoints.  A finite
        endpoint of a discrete inner table is used as is (it is an atom); a finite endpoint
        of a continuous one is nudged one ulp inward (it is never drawn, and scipy often
        rejects the endpoint itself, e.g. ``s = 0``); an infinite endpoint is replaced by
        the most extreme draw.  Constant parameters are broadcast.
        """
        rng = np.random.default_rng(BOUNDS_SEED)
        draws: dict[str, np.ndarray] = {}
        ends: dict[str, tuple[float, float]] = {}
        for k in self.nested:
            inner = self.params[k]
            assert isinstance(inner, DistSpec)
            d = inner.sample(rng, BOUNDS_DRAWS)
            draws[k] = d
            lo, hi = inner.support_bounds()
            if not math.isfinite(lo):
                lo = float(d.min())
            elif not inner.discrete:
                lo = float(np.nextafter(lo, math.inf))
            if not math.isfinite(hi):
                hi = float(d.max())
            elif not inner.discrete:
                hi = float(np.nextafter(hi, -math.inf))
            ends[k] = (lo, hi)
        corners = list(itertools.product(*(ends[k] for k in self.nested)))
        rows = BOUNDS_DRAWS + len(corners)
        points: dict[str, np.ndarray] = {}
        for k, v in self.params.items():
            if isinstance(v, DistSpec):
                j = self.nested.index(k)
                points[k] = np.concatenate([draws[k], [c[j] for c in corners]])
            else:
                points[k] = np.full(rows, float(v))
        return points

    @functools.cached_property
    def _bounds(self) -> tuple[float, float]:
        if self.samples is not None:
            return float(self.samples[0]), float(self.samples[-1])
        gen = self.generator
        if not self.nested:
            with np.errstate(all="ignore"):
                lo, hi = gen.support(**_constants(self))
            return float(lo), float(hi)
        # support = loc + scale * standard_support(shapes).  The shapes part is evaluated at
        # the check points (plausible values); loc and scale are exact interval arithmetic
        # over their own bounds, since they enter linearly and independently.
        pts = self._points
        shapes = {s: pts[s] for s in self.shape_names}
        valid = ~_support_nan(gen, pts)
        with np.errstate(all="ignore"):
            a, b = gen.support(**shapes)
        a = np.broadcast_to(np.asarray(a, dtype=float), valid.shape)[valid]
        b = np.broadcast_to(np.asarray(b, dtype=float), valid.shape)[valid]
        if a.size == 0:
            return math.nan, math.nan
        std_lo, std_hi = float(a.min()), float(b.max())
        loc_lo, loc_hi = self._interval("loc", 0.0)
        sc_lo, sc_hi = self._interval("scale", 1.0)
        lower = _mul(sc_lo, std_lo) if std_lo >= 0 else _mul(sc_hi, std_lo)
        upper = _mul(sc_hi, std_hi) if std_hi >= 0 else _mul(sc_lo, std_hi)
        return loc_lo + lower, loc_hi + upper

    def _interval(self, name: str, default: float) -> tuple[float, float]:
        v = self.params.get(name, default)
        if isinstance(v, DistSpec):
            return v.support_bounds()
        return float(v), float(v)

    def support_bounds(self) -> tuple[float, float]:
        """(lower, upper) of the support, over all values nested parameters can take.

        Without nested parameters this is scipy's ``support``.  With nested parameters,
        ``loc`` and ``scale`` are handled exactly (interval arithmetic on their own bounds)
        and the shape parameters at the deterministic check points of ``_points`` (fixed-
        seed draws plus the corners of their support box): exact whenever the support is
        monotone in each shape (randint, truncnorm, uniform-like families), a plausible-value
        estimate otherwise.  Cached: the spec is immutable.
        """
        return self._bounds


def _check_values(spec: DistSpec) -> None:
    """Reject parameter values scipy would refuse, naming the parameter when possible."""
    gen = spec.generator
    domains = _shape_domains(gen)
    key = spec.key
    for k, v in spec.params.items():
        pkey = f"{key}.{k}"
        if isinstance(v, DistSpec):
            domain = _SCALE_DOMAIN if k == "scale" else domains.get(k, _LOC_DOMAIN)
            bounds = v.support_bounds()
            if _bounds_leave_domain(bounds, v.discrete, domain):
                raise ConfigError(
                    pkey,
                    f"{v.describe()} has support {support_text(bounds)}, "
                    f"but {spec.name}'s {k} must lie in "
                    f"{_domain_text(domain)}",
                )
        elif k in ("loc", "scale") and not math.isfinite(float(v)):
            raise ConfigError(pkey, f"must be a finite number, got {_fmt_param(v)}")
        elif k == "scale" and float(v) <= 0:
            raise ConfigError(pkey, f"scale must be > 0, got {_fmt_param(v)}")

    if not spec.nested:
        bad = _support_nan(gen, _constants(spec))
        if bad.any():
            for s in spec.shape_names:
                value = spec.params[s]
                assert not isinstance(value, DistSpec)
                dom = domains.get(s)
                if dom is not None and _bounds_leave_domain((float(value), float(value)), True, dom):
                    raise ConfigError(
                        f"{key}.{s}",
                        f"{spec.name}'s {s} must be in {_domain_text(dom)}, got {_fmt_param(value)}",
                    )
            shapes = spec.shape_names
            where = f"{key}.{shapes[0]}" if len(shapes) == 1 else key
            raise ConfigError(
                where,
                f"invalid parameters for {spec.describe()}: scipy.stats.{spec.name} rejects "
                "them (see its documentation for the allowed values)",
            )
        return

    pts = spec._points
    bad = _support_nan(gen, pts)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        example = ", ".join(f"{k}={_fmt_num(a[i])}" for k, a in pts.items())
        where = f"{key}.{spec.nested[0]}" if len(spec.nested) == 1 else key
        raise ConfigError(
            where,
            f"{spec.describe()}: its nested distributions take values that "
            f"scipy.stats.{spec.name} rejects (e.g. {example})",
        )
    lo, hi = spec.support_bounds()
    if math.isnan(lo) or math.isnan(hi):  # pragma: no cover - defensive
        raise ConfigError(key, f"cannot determine the support of {spec.describe()}")


def _parse_param(key: str, value: object, base_dir: str | None = None) -> float | DistSpec:
    if isinstance(value, bool):
        raise ConfigError(key, f"expected a number or a distribution table, got boolean {str(value).lower()}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError(key, "expected a number, got nan")
        return value
    if isinstance(value, Mapping):
        return parse_dist(key, value, base_dir)
    raise ConfigError(key, f"expected a number or a distribution table, got {type_name(value)} {value!r}")


_NUMBER_SEPARATORS = re.compile(r"[\s,;]+")


def _read_samples(key: str, path: str, base_dir: str | None) -> list[float]:
    """The numbers of a file of observations: separated by white space, commas or
    semicolons, ``#`` starting a comment; relative paths from the configuration's folder."""
    full = Path(path) if os.path.isabs(path) or base_dir is None else Path(base_dir) / path
    try:
        if not full.is_file():
            raise ConfigError(key, f"{full}: not a regular file")
        size = full.stat().st_size
        if size > MAX_EMPIRICAL_BYTES:
            raise ConfigError(key, f"{full}: {size:,} bytes, more than the {MAX_EMPIRICAL_BYTES:,} allowed")
        text = full.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(key, f"cannot read {full}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(key, f"{full}: not UTF-8 text") from None
    values: list[float] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for word in _NUMBER_SEPARATORS.split(line.split("#", 1)[0].strip()):
            if not word:
                continue
            try:
                values.append(float(word))
            except ValueError:
                raise ConfigError(key, f"{full}, line {lineno}: {word[:40]!r} is not a number") from None
    return values


def _parse_empirical(key: str, table: Mapping[str, Any], base_dir: str | None) -> DistSpec:
    """``{dist = "empirical", samples = [...]}`` or ``{dist = "empirical", file = "..."}``."""
    extra = [p for p in table if p not in ("dist", "samples", "file")]
    if extra:
        raise ConfigError(f"{key}.{extra[0]}", "empirical accepts samples or file only")
    if ("samples" in table) == ("file" in table):
        raise ConfigError(key, 'empirical needs exactly one of samples = [...] or file = "path"')
    source: str | None = None
    if "file" in table:
        source = table["file"]
        if not isinstance(source, str) or not source.strip():
            raise ConfigError(f"{key}.file", f"expected a file name, got {type_name(source)}")
        raw: Any = _read_samples(f"{key}.file", source, base_dir)
        where = f"{key}.file"
    else:
        raw = table["samples"]
        where = f"{key}.samples"
        if not isinstance(raw, list):
            raise ConfigError(where, f"expected an array of numbers, got {type_name(raw)}")
    if not raw:
        raise ConfigError(where, "needs at least one value")
    if len(raw) > MAX_EMPIRICAL_VALUES:
        raise ConfigError(where, f"{len(raw):,} values, more than the {MAX_EMPIRICAL_VALUES:,} allowed")
    for i, x in enumerate(raw):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ConfigError(where, f"value {i + 1} must be a finite number, got {x!r}")
        if 0 < abs(x) < 1e-300:  # subnormal: as for every number of a configuration
            raise ConfigError(where, f"value {i + 1} must be 0 or at least 1e-300 in magnitude, got {x!r}")
    samples = tuple(sorted(float(x) for x in raw))
    return DistSpec(key=key, name=EMPIRICAL, params={}, discrete=True, samples=samples, source=source)


def parse_dist(key: str, table: object, base_dir: str | None = None) -> DistSpec:
    """Parse and validate a distribution table found at dotted path ``key``.

    Checks, in order: ``dist`` present and a known scipy.stats name; every parameter
    accepted by that distribution (its shapes, ``loc``, and ``scale`` if continuous); every
    required shape given; values are numbers (not booleans) or nested tables (parsed
    recursively with the key extended); and scipy accepts the values (``_argcheck``,
    scale > 0), for nested tables over the values they can take.  Each failure raises
    :class:`ConfigError` naming the most specific key.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(
            key,
            f'expected a distribution table such as {{dist = "lognorm", s = 0.5, '
            f"scale = 0.1}}, got {type_name(table)}",
        )
    if "dist" not in table:
        raise ConfigError(
            key,
            "a distribution table needs 'dist' naming a scipy.stats distribution, "
            'e.g. {dist = "expon", scale = 30}',
        )
    name = table["dist"]
    if not isinstance(name, str):
        raise ConfigError(
            f"{key}.dist",
            f"expected the name of a scipy.stats distribution (a string), got {type_name(name)}",
        )
    if name == EMPIRICAL:
        return _parse_empirical(key, table, base_dir)
    names = distribution_names()
    if name not in names:
        raise ConfigError(
            f"{key}.dist",
            f"unknown scipy.stats distribution {name!r}{_suggest(name, names)}",
        )
    gen = _generator(name)
    discrete = isinstance(gen, scipy.stats.rv_discrete)
    order = _param_order(gen)
    for p in table:
        if p == "dist":
            continue
        if p not in order:
            hint = " (discrete distributions have no scale)" if p == "scale" else ""
            raise ConfigError(
                f"{key}.{p}",
                f"{name} has no parameter {p!r}; it accepts {', '.join(order)}"
                f"{hint or _suggest(str(p), order)}",
            )
    for s in _shape_names(gen):
        if s not in table:
            raise ConfigError(
                f"{key}.{s}",
                f"{name} requires parameter {s!r} (its parameters: {', '.join(order)})",
            )
    params = {p: _parse_param(f"{key}.{p}", table[p], base_dir) for p in order if p in table}
    spec = DistSpec(key=key, name=name, params=params, discrete=discrete)
    _check_values(spec)
    return spec
