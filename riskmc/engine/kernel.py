"""The compiled engine: numba code only (docs/model.md section 7).

Everything numba compiles lives in this one module, because numba caches compiled code per
source file and does not notice when a function imported from another file changes.  Read it
in this order:

1. **Random numbers.**  Philox-4x32-10 (Salmon et al. 2011, Random123): the 128-bit counter
   is the *address* of a number, the 64-bit key the seed, so every number is a pure function
   of (seed; address) and no two addresses share one.  Counter words::

       c0 = trial                                     (32 bits)
       c1 = purpose << 28 | m << 20 | cell << 8 | enactor   (4 | 8 | 12 | 8 bits)
       c2 = index: run n, generation g or key id      (32 bits)
       c3 = write j << 16 | attempt a                 (16 | 16 bits)

   ``m`` is a *continuation* index: a sampler that needs more than its first block (a
   ziggurat rejection, a gamma rejection loop) reads blocks m = 1, 2, ... of its own address.
   The layout's limits are checked before anything runs (:data:`MAX_CELLS` ...) and, where
   only the simulation can tell (attempts of one write, generations), flagged by the kernel.
2. **Elementary functions.**  ``exp_`` and ``log_`` are computed here from IEEE additions,
   multiplications, divisions and square roots only (no libm, no fused multiply-add, no
   fast-math), so that every machine of a cluster computes the same bits.
3. **Distributions** drawn at every use (planner interval, write latency, repair duration),
   by kind code (the ``D_*`` constants; :data:`riskmc.params.KIND_CODES` names them).
4. **One cell-window**: :func:`advance_cell`, the event loop of docs/model.md section 2 and
   the mitigations of section 3, in the same order as the reference simulator
   (``riskmc.reference``): occurrences ordered by (time, phase, enactor), phase 0 a write
   completion, 1 a clean-up, 2 a decision (a wake or a write's begin).  Its whole state is a
   handful of small arrays (:class:`riskmc.engine.CellState` names them), so a cell can be
   stopped at a time, copied, and resumed (:func:`advance_cell_with`, its scratch given, for
   a caller that does so at many times).
5. **Windows**: :func:`simulate_windows` runs every cell of a slice of a batch of
   region-windows and sums what the estimators need per window; :func:`init_cell`,
   :func:`advance_cell` and :func:`cell_outcome` give one cell's outcome and its affected
   endpoints (events table, ``riskmc explain``).
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# IEEE semantics (no ZeroDivisionError checks in the loops), no fast-math, cached on disk.
_JIT: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}

U64 = np.uint64
_MASK32 = U64(0xFFFFFFFF)
_S8 = U64(8)
_S11 = U64(11)
_S12 = U64(12)
_S16 = U64(16)
_S20 = U64(20)
_S28 = U64(28)
_S32 = U64(32)
_S52 = U64(52)
_ONE = U64(1)
_BYTE = U64(0xFF)
_MANT = U64(0x000FFFFFFFFFFFFF)
_EXP_ONE = U64(0x3FF0000000000000)
_TWO_M53 = 2.0**-53
_TWO_M52 = 2.0**-52

# ---------------------------------------------------------------------------------------------
# 1. Random numbers
# ---------------------------------------------------------------------------------------------

#: Purposes (the top 4 bits of counter word c1).
P_PLANNER = 1  # c2 = generation g: its interval X_g
P_WAKE = 2  # enactor: its first wake U_k
P_RUN = 3  # enactor, c2 = run n: the run's degraded uniform
P_ATTEMPT = 4  # enactor, c2 = run n, c3 = j << 16 | a: latency and attempt uniform
P_REPAIR = 5  # cell: the outage duration of its event
P_WINDOW = 6  # c2 = WINDOW_*: per region-window uniforms (mixture component, shock)
P_PARAMS = 7  # c2 = key id, c3 = 0: sampled parameters of the region-window

WINDOW_MIXTURE = 0
WINDOW_SHOCK = 1

#: Layout limits (exclusive): trials, cells, enactors, endpoints, attempts per write,
#: continuation blocks, runs per enactor and generations per window.
MAX_TRIALS = 1 << 32
MAX_CELLS = 1 << 12
MAX_ENACTORS = 1 << 8
MAX_ENDPOINTS = 1 << 16
MAX_ATTEMPTS = 1 << 16
MAX_CONTINUATION = 1 << 8
MAX_INDEX = 1 << 32
#: Plan generations one window may publish (far below the index field's 2^32: the
#: publication times of a window are kept, 8 bytes each).
MAX_GENERATIONS = 10_000_000

_M0 = U64(0xD2511F53)
_M1 = U64(0xCD9E8D57)
_W0 = U64(0x9E3779B9)
_W1 = U64(0xBB67AE85)


@njit(inline="always", **_JIT)
def philox(c0, c1, c2, c3, k0, k1):
    """Philox-4x32-10 of the counter (c0, c1, c2, c3) under the key (k0, k1): uint64 values
    that hold 32-bit words, in and out."""
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        n0 = (p1 >> _S32) ^ c1 ^ k0
        n2 = (p0 >> _S32) ^ c3 ^ k1
        c1 = p1 & _MASK32
        c3 = p0 & _MASK32
        c0 = n0
        c2 = n2
        k0 = (k0 + _W0) & _MASK32
        k1 = (k1 + _W1) & _MASK32
    return c0, c1, c2, c3


@njit(inline="always", **_JIT)
def word1(purpose, m, cell, enactor):
    """Counter word c1 of an address."""
    return (U64(purpose) << _S28) | (U64(m) << _S20) | (U64(cell) << _S8) | U64(enactor)


@njit(inline="always", **_JIT)
def bits64(a, b):
    return (a << _S32) | b


@njit(inline="always", **_JIT)
def u_open(r):
    """Uniform in (0, 1) from the top 52 bits of a 64-bit word: (x + 1/2) / 2^52, whose
    extremes 2^-53 and 1 - 2^-53 are exact doubles (with 53 bits the top one would round
    to 1)."""
    return (np.float64(r >> _S12) + 0.5) * _TWO_M52


@njit(inline="always", **_JIT)
def u_oc(r):
    """Uniform in (0, 1] from the top 53 bits of a 64-bit word."""
    return (np.float64(r >> _S11) + 1.0) * _TWO_M53


# ---------------------------------------------------------------------------------------------
# 2. Elementary functions, bit for bit the same on every machine
# ---------------------------------------------------------------------------------------------


@intrinsic
def _as_float(typingctx, x):
    """The float64 whose bits are the uint64 x."""
    sig = types.float64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _as_bits(typingctx, x):
    """The bits of the float64 x as a uint64."""
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


_LOG2E = 1.4426950408889634
# ln 2 split so that n * _LN2_HI is exact for |n| < 2^20 (fdlibm's split).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
# exp: Taylor coefficients 1/k!, k = 13 .. 2 (k! is exact in a double for k <= 18).
_E13, _E12, _E11, _E10, _E9, _E8, _E7, _E6, _E5, _E4, _E3, _E2 = (
    1.0 / math.factorial(k) for k in range(13, 1, -1)
)
# log: 2 atanh(s) = 2s + s R(s^2), R(z) = sum 2 z^i / (2i + 1), i = 1 .. 12.
_L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8, _L9, _L10, _L11, _L12 = (2.0 / (2 * i + 1) for i in range(1, 13))


@njit(inline="always", **_JIT)
def exp_(x):
    """e^x to about 1 ulp, branch-free (so that loops over it vectorize): x = n ln2 + r with
    |r| <= ln2 / 2, Taylor to degree 13 for e^r (truncation below 1e-17), times 2^n by
    building the exponent bits.  x is clamped to [-708, 709] (no subnormal or inf result)."""
    x = min(max(x, -708.0), 709.0)
    n = np.floor(x * _LOG2E + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = _E13
    p = p * r + _E12
    p = p * r + _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + 1.0
    p = p * r + 1.0
    # 2^n: n + 1023 lands in the low mantissa bits of n + 1023 + 2^52 (exact, as 0 < n + 1023
    # < 2^11), shifted into the exponent field (no float-to-integer conversion: AVX2 has none)
    return p * _as_float(_as_bits(n + 4503599627371519.0) << _S52)


@njit(**_JIT)
def log_(x):
    """Natural logarithm to about 1 ulp (fdlibm's reduction, x = 2^k m with m in
    [sqrt(1/2), sqrt(2)), and the atanh series of log m to degree 25)."""
    if not x > 0.0:
        return -np.inf if x == 0.0 else np.nan
    if x == np.inf:
        return np.inf
    bits = _as_bits(x)
    k = np.int64((bits >> _S52) & U64(0x7FF))
    if k == 0:  # subnormal: scale by 2^54 first
        x *= 18014398509481984.0
        bits = _as_bits(x)
        k = np.int64((bits >> _S52) & U64(0x7FF)) - 54
    k -= 1023
    m = _as_float((bits & _MANT) | _EXP_ONE)
    if m > _SQRT2:
        m *= 0.5
        k += 1
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    r = _L12
    r = r * z + _L11
    r = r * z + _L10
    r = r * z + _L9
    r = r * z + _L8
    r = r * z + _L7
    r = r * z + _L6
    r = r * z + _L5
    r = r * z + _L4
    r = r * z + _L3
    r = r * z + _L2
    r = r * z + _L1
    r = r * z
    dk = np.float64(k)
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)


# -- standard normals: a 256-layer ziggurat (numpy's layout), tables built exactly ----------


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ki, wi, fi of Marsaglia & Tsang's ziggurat in numpy's layout (8-bit layer, sign bit,
    52-bit magnitude), computed in 50-digit decimal arithmetic and rounded once, so the
    tables are the same bits on every machine (no libm involved)."""
    with localcontext() as ctx:
        ctx.prec = 50
        m1 = Decimal(2) ** 52
        dn = Decimal("3.6541528853610088")  # the rightmost layer's edge r
        vn = Decimal("0.00492867323399")  # the area of each layer
        half = Decimal("0.5")
        ki = [0] * 256
        wi = [Decimal(0)] * 256
        fi = [Decimal(0)] * 256
        tn = dn
        q = vn / (-half * dn * dn).exp()
        ki[0] = int((dn / q) * m1)
        ki[1] = 0
        wi[0] = q / m1
        wi[255] = dn / m1
        fi[0] = Decimal(1)
        fi[255] = (-half * dn * dn).exp()
        for i in range(254, 0, -1):
            dn = (-2 * (vn / dn + (-half * dn * dn).exp()).ln()).sqrt()
            ki[i + 1] = int((dn / tn) * m1)
            tn = dn
            fi[i] = (-half * dn * dn).exp()
            wi[i] = dn / m1
    return (
        np.array(ki, dtype=np.uint64),
        np.array([float(w) for w in wi]),
        np.array([float(f) for f in fi]),
    )


_ZKI, _ZWI, _ZFI = _ziggurat_tables()
_ZR = 3.6541528853610088
_ZINV_R = 1.0 / _ZR


@njit(**_JIT)
def _normal_slow(idx, rabs, neg, c0, c1, c2, c3, k0, k1):
    """The ziggurat after its first try failed: the wedge test or the tail, reading
    continuation blocks m = 1, 2, ... of the address (c0, c1, c2, c3).  NaN if they run out."""
    m = 0
    while True:
        m += 1
        if m >= MAX_CONTINUATION:
            return np.nan
        o0, o1, o2, o3 = philox(c0, c1 | (U64(m) << _S20), c2, c3, k0, k1)
        if idx == 0:  # the tail beyond r (Marsaglia 1964)
            xx = -_ZINV_R * log_(u_oc(bits64(o0, o1)))
            yy = -log_(u_oc(bits64(o2, o3)))
            if yy + yy > xx * xx:
                return -(_ZR + xx) if neg else _ZR + xx
            continue
        x = np.float64(rabs) * _ZWI[idx]
        if (_ZFI[idx - 1] - _ZFI[idx]) * u_open(bits64(o0, o1)) + _ZFI[idx] < exp_(-0.5 * x * x):
            return -x if neg else x
        r = bits64(o2, o3)  # a new try
        idx = np.int64(r & _BYTE)
        r >>= _S8
        neg = (r & _ONE) != U64(0)
        rabs = (r >> _ONE) & _MANT
        if rabs < _ZKI[idx]:
            x = np.float64(rabs) * _ZWI[idx]
            return -x if neg else x


@njit(inline="always", **_JIT)
def normal(r, c0, c1, c2, c3, k0, k1):
    """A standard normal from the 64-bit word r (first try, 99.3% of draws), else from the
    continuation blocks of the address."""
    idx = np.int64(r & _BYTE)
    r >>= _S8
    neg = (r & _ONE) != U64(0)
    rabs = (r >> _ONE) & _MANT
    if rabs < _ZKI[idx]:
        x = np.float64(rabs) * _ZWI[idx]
        return -x if neg else x
    return _normal_slow(idx, rabs, neg, c0, c1, c2, c3, k0, k1)


@njit(**_JIT)
def ndtri(p):
    """The standard normal quantile (Wichura 1988, AS241 PPND16; about 1e-16 relative)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (
            (
                (
                    (
                        (
                            (2.5090809287301226727e3 * r + 3.3430575583588128105e4) * r
                            + 6.7265770927008700853e4
                        )
                        * r
                        + 4.5921953931549871457e4
                    )
                    * r
                    + 1.3731693765509461125e4
                )
                * r
                + 1.9715909503065514427e3
            )
            * r
            + 1.3314166789178437745e2
        ) * r + 3.3871328727963666080e0
        den = (
            (
                (
                    (
                        (
                            (5.2264952788528545610e3 * r + 2.8729085735721942674e4) * r
                            + 3.9307895800092710610e4
                        )
                        * r
                        + 2.1213794301586595867e4
                    )
                    * r
                    + 5.3941960214247511077e3
                )
                * r
                + 6.8718700749205790830e2
            )
            * r
            + 4.2313330701600911252e1
        ) * r + 1.0
        return q * num / den
    r = p if q < 0.0 else 1.0 - p
    r = math.sqrt(-log_(r))
    if r <= 5.0:
        r -= 1.6
        num = (
            (
                (
                    (
                        (
                            (7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r
                            + 2.41780725177450611770e-1
                        )
                        * r
                        + 1.27045825245236838258e0
                    )
                    * r
                    + 3.64784832476320460504e0
                )
                * r
                + 5.76949722146069140550e0
            )
            * r
            + 4.63033784615654529590e0
        ) * r + 1.42343711074968357734e0
        den = (
            (
                (
                    (
                        (
                            (1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r
                            + 1.51986665636164571966e-2
                        )
                        * r
                        + 1.48103976427480074590e-1
                    )
                    * r
                    + 6.89767334985100004550e-1
                )
                * r
                + 1.67638483018380384940e0
            )
            * r
            + 2.05319162663775882187e0
        ) * r + 1.0
    else:
        r -= 5.0
        num = (
            (
                (
                    (
                        (
                            (2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                            + 1.24266094738807843860e-3
                        )
                        * r
                        + 2.65321895265761230930e-2
                    )
                    * r
                    + 2.96560571828504891230e-1
                )
                * r
                + 1.78482653991729133580e0
            )
            * r
            + 5.46378491116411436990e0
        ) * r + 6.65790464350110377720e0
        den = (
            (
                (
                    (
                        (
                            (2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
                            + 1.84631831751005468180e-5
                        )
                        * r
                        + 7.86869131145613259100e-4
                    )
                    * r
                    + 1.48753612908506148525e-2
                )
                * r
                + 1.36929880922735805310e-1
            )
            * r
            + 5.99832206555887937690e-1
        ) * r + 1.0
    v = num / den
    return -v if q < 0.0 else v


# ---------------------------------------------------------------------------------------------
# 3. Distributions drawn at every use
# ---------------------------------------------------------------------------------------------

#: Kind codes, scipy names and the parameters each reads (p0..p3, in this order).
D_CONSTANT = 0  # p0 = value
D_EXPON = 1  # loc, scale
D_LOGNORM = 2  # s, loc, scale
D_GAMMA = 3  # a, loc, scale
D_WEIBULL_MIN = 4  # c, loc, scale
D_LOMAX = 5  # c, loc, scale
D_PARETO = 6  # b, loc, scale
D_UNIFORM = 7  # loc, scale
D_LOGUNIFORM = 8  # a, b, loc, scale
D_EMPIRICAL = 9  # none: resampling of the key's observed values
#: Latency kinds with a tail variable the slow-run proposal can tilt (:func:`tails`).
TAIL_KINDS = (D_LOGNORM, D_EXPON, D_WEIBULL_MIN, D_LOMAX, D_PARETO)


@njit(**_JIT)
def _standard_gamma(a, r, c0, c1, c2, c3, k0, k1):
    """Gamma(a, 1) by Marsaglia & Tsang (2000): iteration i reads continuation block i (its
    first half gives the normal by inversion, its second the acceptance uniform); a < 1 by
    Gamma(a) = Gamma(a + 1) U^(1/a), U from the first word r.  NaN if the blocks run out."""
    aa = a + 1.0 if a < 1.0 else a
    d = aa - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    value = np.nan
    for m in range(1, MAX_CONTINUATION):
        o0, o1, o2, o3 = philox(c0, c1 | (U64(m) << _S20), c2, c3, k0, k1)
        x = ndtri(u_open(bits64(o0, o1)))
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = u_open(bits64(o2, o3))
        x2 = x * x
        if u < 1.0 - 0.0331 * x2 * x2 or log_(u) < 0.5 * x2 + d * (1.0 - v + log_(v)):
            value = d * v
            break
    if a < 1.0:
        value *= exp_(log_(u_oc(r)) / a)
    return value


@njit(**_JIT)
def sample(kind, p0, p1, p2, p3, emp, r, c0, c1, c2, c3, k0, k1):
    """One draw of a distribution from the 64-bit word r, continuation blocks (if the sampler
    needs more) at the address (c0, c1, c2, c3)."""
    if kind == D_CONSTANT:
        return p0
    if kind == D_LOGNORM:
        return p1 + p2 * exp_(p0 * normal(r, c0, c1, c2, c3, k0, k1))
    if kind == D_EXPON:
        return p0 + p1 * -log_(u_oc(r))
    if kind == D_UNIFORM:
        return p0 + p1 * u_open(r)
    if kind == D_GAMMA:
        return p1 + p2 * _standard_gamma(p0, r, c0, c1, c2, c3, k0, k1)
    if kind == D_WEIBULL_MIN:
        return p1 + p2 * exp_(log_(-log_(u_oc(r))) / p0)
    if kind == D_LOMAX:
        return p1 + p2 * (exp_(-log_(u_oc(r)) / p0) - 1.0)
    if kind == D_PARETO:
        return p1 + p2 * exp_(-log_(u_oc(r)) / p0)
    if kind == D_LOGUNIFORM:
        la = log_(p0)
        return p2 + p3 * exp_(la + u_open(r) * (log_(p1) - la))
    if kind == D_EMPIRICAL:
        n = emp.size
        i = np.int64(u_open(r) * n)
        return emp[min(i, n - 1)]
    return np.nan


# -- the tail variable of a latency, which the slow-run proposal tilts (docs/model.md s. 8) --


@njit(inline="always", **_JIT)
def tails(kind):
    """Whether a latency kind has a tail variable to tilt: the lognormal's normal, or the
    standard exponential -log u of the kinds drawn by inversion (exponential, Weibull, Lomax,
    Pareto)."""
    return kind in TAIL_KINDS


@njit(**_JIT)
def tail_variable(kind, r, c0, c1, c2, c3, k0, k1):
    """The model's tail variable y of the word r (as :func:`sample` draws it)."""
    if kind == D_LOGNORM:
        return normal(r, c0, c1, c2, c3, k0, k1)
    return -log_(u_oc(r))


@njit(inline="always", **_JIT)
def from_tail(kind, p0, p1, p2, y):
    """The latency of tail variable y, by the same operations as :func:`sample`."""
    if kind == D_LOGNORM:
        return p1 + p2 * exp_(p0 * y)
    if kind == D_EXPON:
        return p0 + p1 * y
    if kind == D_WEIBULL_MIN:
        return p1 + p2 * exp_(log_(y) / p0)
    if kind == D_LOMAX:
        return p1 + p2 * (exp_(y / p0) - 1.0)
    return p1 + p2 * exp_(y / p0)  # Pareto


@njit(inline="always", **_JIT)
def tilt_tail(kind, y, a):
    """y tilted by a: the normal shifted to mean a, or the exponential at rate e^-a."""
    if kind == D_LOGNORM:
        return y + a
    return y * exp_(a)


@njit(inline="always", **_JIT)
def log_tail_ratio(kind, y, a):
    """log of the tilted density of the tail variable over the model's, at y."""
    if kind == D_LOGNORM:
        return a * y - 0.5 * a * a
    return -a - (exp_(-a) - 1.0) * y


# ---------------------------------------------------------------------------------------------
# Per-window inputs (float and integer columns) and outputs
# ---------------------------------------------------------------------------------------------

F_T = 0  # window length T, s
F_POLL = 1
F_R0 = 2  # write.fail_prob
F_R1 = 3  # degraded.fail_prob
F_BASE = 4
F_CAP = 5
F_PDEG = 6  # degraded probability the simulation draws with (the proposal's)
F_MIN_AGE = 7  # < 0: mitigation off
F_DEADLINE = 8
F_LEASE = 9
F_PLANNER = 10  # 4 parameters each
F_LATENCY = 14
F_REPAIR = 18
# Slow runs (importance sampling, docs/model.md section 8): the per-run probabilities of the
# tail-slow and retry-slow components in the proposal's density (F_QL, F_QR) and as drawn
# (F_QL_DRAW, F_QR_DRAW: 0 in the windows drawn from the model), the tail tilt a of the one
# slowed write (a lognormal's normal + a; an exponential tail variable's rate e^-a), the
# retry-slow fail probability.
F_QL = 22
F_QR = 23
F_QL_DRAW = 24
F_QR_DRAW = 25
F_TAIL = 26
F_RS = 27
# Planner bursts (the same section): blocks of F_BURST_LEN generations (1 .. B, B + 1 .. 2B,
# ...), each bursty with probability F_QB in the density, F_QB_DRAW as drawn; a bursty block's
# intervals have their tail variable tilted by F_BURST (< 0: shorter).
F_QB = 28
F_QB_DRAW = 29
F_BURST = 30
F_BURST_LEN = 31
NF = 32

I_TRIAL = 0  # trial index: counter word c0
I_K = 1
I_E = 2
I_G = 3
I_C = 4
I_PLANNER = 5  # kind codes
I_LATENCY = 6
I_REPAIR = 7
I_FLAGS = 8  # bit 0 recheck, bit 1 conditional_write, bit 2 cleanup_skip_active
NI = 9
FLAG_RECHECK = 1
FLAG_CONDITIONAL = 2
FLAG_SKIP_ACTIVE = 4

#: Per region-window sums (simulate_windows).
W_EVENTS = 0  # cells with an event
W_EVENTS_NODEG = 1  # ... in which no degraded run had started
W_IMPACT = 2  # sum of w R / (60 C), region-traffic-minutes
W_IMPACT_NODEG = 3
W_RUNS = 4  # runs started, all cells
W_DEGRADED = 5
W_ABANDONED = 6
W_AGE = 7  # mean over cells of the cell's mean plan age
W_OBSERVED_H = 8  # sum over cells of t_end, hours
W_FIRST_EVENT_CELL = 9  # lowest cell with an event, -1 if none
W_ERROR = 10
W_LOG_SLOW = 11  # log of the window's slow-run and planner-burst likelihood ratios (section 8)
# Over the event cells, for the cross-entropy choice of the slow runs (estimators.slow):
W_CE_F = 12  # sum of the cell's largest attempts-beyond-the-first of one run
W_CE_Y = 13  # sum of the cell's largest first tail variable of a write
W_CE_TAIL = 14  # cells whose most tail-like run's tail term beats the most retry-like one's
W_CE_BURST = 15  # sum of the mean tail variable of the B - 1 intervals before the event
NW = 16

#: One cell-window (simulate_cell).
C_EVENT = 0
C_T_END = 1
C_AFFECTED = 2  # endpoints pointing to a deleted plan at t*
C_WEIGHT = 3  # their normalised weight
C_AGE = 4
C_RUNS = 5
C_DEGRADED = 6
C_ABANDONED = 7
C_CAUSE = 8  # 0 none, 1 a write, 2 a clean-up
C_REPAIR = 9  # R of the event (0 without one)
C_ERROR = 10
C_LOG_SLOW = 11
C_MAX_F = 12
C_MAX_Y = 13
C_TAIL_WINS = 14
C_BURST_Y = 15
NC = 16

#: Error codes (W_ERROR / C_ERROR); riskmc.engine turns them into messages.
E_ATTEMPTS = 1
E_GENERATIONS = 2
E_RUNS = 3
E_CONTINUATION = 4

# -- the state of one cell-window ------------------------------------------------------------
# scalars (float, int), per enactor (float, int), per endpoint (float, int); see CellState.
SF_NEWEST_PUB = 0
SF_NEXT_PUB = 1
SF_RENEWED = 2  # last lease renewal
SF_AGE = 3  # plan-age integral: sum over endpoints of int (t - P_{A_e(t)}) dt
SF_T_END = 4
SF_LOG_SLOW = 5  # sum over the runs started of log rho (slow-run likelihood ratio)
SF_MAX_Y = 6  # largest first tail variable of a write (-inf: none yet)
SF_MAX_L1 = 7  # largest tail term of a run's log rho
SF_MAX_L2 = 8  # largest retry term of a run's log rho
SF_BLOCK_SUM = 9  # sum of the log tail ratios of the current planner block's intervals
SF_LOG_PLAN = 10  # sum over the closed planner blocks of their log ratio
SF_BURST_Y = 11  # at an event: the mean tail variable of the B - 1 intervals up to the newest
NSF = 12
SI_NEWEST = 0
SI_H = 1
SI_D = 2  # every generation below D is deleted, except the spared ones
SI_HOLDER = 3  # lease holder, -1 nobody
SI_NSPARED = 4
SI_RUNS = 5
SI_DEGRADED = 6
SI_ABANDONED = 7
SI_EVENT = 8  # 0 running, 1 a write emptied a record, 2 a clean-up did, 3 window over
SI_ERROR = 9
SI_AFFECTED = 10
SI_MAX_F = 11  # most attempts beyond the first of one run
NSI = 12
EF_T = 0  # next occurrence
EF_PUB = 1  # publication time of the run's generation
EF_START = 2  # when the run began
NEF = 3
EI_PHASE = 0  # 0 write completion, 1 clean-up, 2 decision
EI_KIND = 1
EI_GEN = 2
EI_WRITE = 3  # the write (endpoint) in flight or about to begin
EI_RUNS = 4  # runs started so far
EI_DEGRADED = 5
NEI = 6
PF_PUB = 0  # publication time of the generation the endpoint points to
PF_SINCE = 1
NPF = 2

K_DONE = 0
K_CLEAN = 1
K_WAKE = 2
K_BEGIN = 3

CAUSE_WRITE = 1
CAUSE_CLEANUP = 2
WINDOW_OVER = 3


@njit(inline="always", **_JIT)
def _interval(k0, k1, trial, cell, g, fp, ip, emp):
    """X_g, the interval before generation g."""
    c0 = U64(trial)
    c1 = word1(P_PLANNER, 0, cell, 0)
    c2 = U64(g)
    o0, o1, _, _ = philox(c0, c1, c2, U64(0), k0, k1)
    f = F_PLANNER
    if ip[I_PLANNER] == D_EXPON:  # the common case, without the general sampler's dispatch
        return fp[f] + fp[f + 1] * -log_(u_oc(bits64(o0, o1)))
    return sample(
        ip[I_PLANNER], fp[f], fp[f + 1], fp[f + 2], fp[f + 3], emp, bits64(o0, o1), c0, c1, c2, U64(0), k0, k1
    )


@njit(inline="always", **_JIT)
def _block_log_ratio(qb, block_sum):
    """log of a planner block's ratio, (1 - qb) + qb exp(sum of its log tail ratios)."""
    m = max(0.0, block_sum)
    return m + log_((1.0 - qb) * exp_(-m) + qb * exp_(block_sum - m))


@njit(**_JIT)
def planner_draw(k0, k1, trial, cell, g, fp, ip, emp):
    """X_g as the engine draws it under the burst mixture, from its address alone: (X_g, its
    tail variable as drawn, 1.0 if its block is bursty).  Without bursts (F_QB = 0) X_g is
    :func:`_interval`'s and the tail variable NaN."""
    qb = fp[F_QB]
    if qb == 0.0 or not tails(ip[I_PLANNER]):
        return _interval(k0, k1, trial, cell, g, fp, ip, emp), np.nan, 0.0
    B = np.int64(fp[F_BURST_LEN])
    first = g - (g - 1) % B
    c1 = word1(P_PLANNER, 0, cell, 0)
    _, _, f2, f3 = philox(U64(trial), c1, U64(first), U64(0), k0, k1)
    bursty = u_open(bits64(f2, f3)) < fp[F_QB_DRAW]
    o0, o1, _, _ = philox(U64(trial), c1, U64(g), U64(0), k0, k1)
    kind = ip[I_PLANNER]
    y = tail_variable(kind, bits64(o0, o1), U64(trial), c1, U64(g), U64(0), k0, k1)
    if bursty:
        y = tilt_tail(kind, y, fp[F_BURST])
    f = F_PLANNER
    return from_tail(kind, fp[f], fp[f + 1], fp[f + 2], y), y, 1.0 if bursty else 0.0


@njit(**_JIT)
def _interval_drawn(k0, k1, trial, cell, g, fp, ip, emp, sf):
    """X_g in the simulation: :func:`_interval`, or under the burst mixture
    :func:`planner_draw`'s, its log tail ratio summed into its block's (at a block's first
    generation the last block's log ratio is moved to SF_LOG_PLAN)."""
    qb = fp[F_QB]
    if qb == 0.0 or not tails(ip[I_PLANNER]):  # (the plan never tilts what the kernel cannot)
        return _interval(k0, k1, trial, cell, g, fp, ip, emp)
    x, y, _ = planner_draw(k0, k1, trial, cell, g, fp, ip, emp)
    if (g - 1) % np.int64(fp[F_BURST_LEN]) == 0:  # a block's first generation: close the last
        if g > 1:
            sf[SF_LOG_PLAN] += _block_log_ratio(qb, sf[SF_BLOCK_SUM])
        sf[SF_BLOCK_SUM] = 0.0
    sf[SF_BLOCK_SUM] += log_tail_ratio(ip[I_PLANNER], y, fp[F_BURST])
    return x


@njit(**_JIT)
def write_duration(k0, k1, trial, cell, k, n, j, fp, ip, emp, r, logr, tail):
    """D of write j of enactor k's run n: (duration, attempts); attempts < 0 on a layout or
    sampler failure.  The block at (trial, ATTEMPT, cell, k; n; j << 16) gives the first
    latency (its first half; its tail variable tilted by ``tail`` unless 0) and the attempt
    count by inversion (its second half: N > 1 exactly when u <= r, N - 1 = floor(log u /
    log r)); attempt a >= 1 reads block (j << 16 | a): the latency of attempt a + 1 and the
    jitter V_a of backoff B_a."""
    c0 = U64(trial)
    c1 = word1(P_ATTEMPT, 0, cell, k)
    c2 = U64(n)
    c3 = U64(j) << _S16
    f = F_LATENCY
    kind = ip[I_LATENCY]
    o0, o1, o2, o3 = philox(c0, c1, c2, c3, k0, k1)
    if tail != 0.0:
        y = tilt_tail(kind, tail_variable(kind, bits64(o0, o1), c0, c1, c2, c3, k0, k1), tail)
        d = from_tail(kind, fp[f], fp[f + 1], fp[f + 2], y)
    else:
        d = sample(kind, fp[f], fp[f + 1], fp[f + 2], fp[f + 3], emp, bits64(o0, o1), c0, c1, c2, c3, k0, k1)
    u = u_oc(bits64(o2, o3))
    if u > r:
        return d, 1
    extra = max(np.int64(math.floor(log_(u) / logr)), 1)
    if extra >= MAX_ATTEMPTS:
        return np.nan, -1
    cap = fp[F_CAP]
    b = fp[F_BASE]
    more = 0.0
    for a in range(1, extra + 1):
        c3a = c3 | U64(a)
        o0, o1, o2, o3 = philox(c0, c1, c2, c3a, k0, k1)
        more += sample(
            kind, fp[f], fp[f + 1], fp[f + 2], fp[f + 3], emp, bits64(o0, o1), c0, c1, c2, c3a, k0, k1
        )
        more += u_open(bits64(o2, o3)) * min(cap, b)
        b *= 2.0
    return d + more, extra + 1


@njit(inline="always", **_JIT)
def _zig_first(r):
    """The ziggurat's first try on the 64-bit word r, branch-free: the normal, or NaN when
    the wedge or the tail must decide (the caller then runs :func:`normal`)."""
    idx = np.int64(r & _BYTE)
    r >>= _S8
    rabs = (r >> _ONE) & _MANT
    x = np.float64(rabs) * _ZWI[idx]
    x = -x if (r & _ONE) != U64(0) else x
    return x if rabs < _ZKI[idx] else np.nan


#: The vectorising loops of :func:`run_durations` run over E rounded up to a multiple of
#: this (the widest vector of 64-bit lanes, AVX-512's), so that no write is left to a scalar
#: remainder loop: at E = 22 the remainder's 6 scalar Philox blocks cost as much as the 16
#: vectorised ones.  The extra blocks are pure functions of their addresses, never used.
LANES = 8


@njit(inline="always", **_JIT)
def padded(E):
    """E rounded up to a multiple of :data:`LANES`: the length of a run's scratch rows."""
    return (E + (LANES - 1)) & ~(LANES - 1)


@njit(inline="always", **_JIT)
def run_durations(k0, k1, trial, cell, k, n, E, fp, ip, emp, r, logr, out, w1, w2, z, jstar, tail, need_y):
    """The E write durations of enactor k's run n into out[:E], exactly as
    :func:`write_duration` gives them one by one, but in phases that vectorize: the Philox
    blocks of every write, the ziggurat's first tries, the exponentials (lognormal
    latencies), then the rare slow normals and retried writes.  Write ``jstar`` (none if
    < 0) has its first latency's tail variable tilted by ``tail``; with ``need_y`` (or a
    tilted write) z[:E] holds every write's first tail variable as drawn.  ``out``, ``w1``,
    ``w2`` and ``z`` hold at least :func:`padded` (E) values (the vector loops fill them all).
    Returns (error code, attempts beyond the first over the run's writes)."""
    c0 = U64(trial)
    c1 = word1(P_ATTEMPT, 0, cell, k)
    c2 = U64(n)
    Ep = padded(E)
    for j in range(Ep):  # the blocks
        o0, o1, o2, o3 = philox(c0, c1, c2, U64(j) << _S16, k0, k1)
        w1[j] = bits64(o0, o1)
        w2[j] = bits64(o2, o3)
    retried = U64(0)
    for j in range(E):  # w2[j] = 1 where the write needs more than one attempt
        w2[j] = U64(1) if u_oc(w2[j]) <= r else U64(0)
        retried += w2[j]
    kind = ip[I_LATENCY]
    f = F_LATENCY
    p0, p1, p2, p3 = fp[f], fp[f + 1], fp[f + 2], fp[f + 3]
    error = 0
    if kind == D_LOGNORM:
        for j in range(Ep):  # branch-free; z is NaN where the ziggurat's first try fails ...
            z[j] = _zig_first(w1[j])
            out[j] = p1 + p2 * exp_(p0 * z[j])
        for j in range(E):  # ... and that normal is drawn in full (0.7% of draws)
            if z[j] != z[j]:
                z[j] = normal(w1[j], c0, c1, c2, U64(j) << _S16, k0, k1)
                out[j] = p1 + p2 * exp_(p0 * z[j])
                if out[j] != out[j]:
                    error = E_CONTINUATION
        if jstar >= 0:
            z[jstar] = z[jstar] + tail
            out[jstar] = p1 + p2 * exp_(p0 * z[jstar])
    else:
        for j in range(E):
            out[j] = sample(kind, p0, p1, p2, p3, emp, w1[j], c0, c1, c2, U64(j) << _S16, k0, k1)
            if out[j] != out[j]:
                error = E_CONTINUATION
        if (need_y or jstar >= 0) and tails(kind):
            for j in range(E):
                z[j] = -log_(u_oc(w1[j]))
            if jstar >= 0:
                z[jstar] = tilt_tail(kind, z[jstar], tail)
                out[jstar] = from_tail(kind, p0, p1, p2, z[jstar])
    extra = 0
    if retried > U64(0):  # the attempts after the first, one block each (write_duration)
        for j in range(E):
            if w2[j] != U64(0):
                d2, na = write_duration(
                    k0, k1, trial, cell, k, n, j, fp, ip, emp, r, logr, tail if j == jstar else 0.0
                )
                if na < 0:
                    error = E_ATTEMPTS
                else:
                    extra += na - 1
                    if d2 != d2:
                        error = E_CONTINUATION
                out[j] = d2
    return error, extra


@njit(**_JIT)
def _slow_run(kind, z, E, extra, ql, qr, a, rb, rt, sf, si):
    """A started run's slow-run ratio into the cell's state: log rho summed (SF_LOG_SLOW), and
    the largest tail and retry terms, attempts beyond the first and first tail variable so
    far (the cross-entropy fit's, :mod:`riskmc.estimators.slow`)."""
    lrho, l1, l2 = slow_log_ratio(kind, z, E, extra, ql, qr, a, rb, rt)
    sf[SF_LOG_SLOW] += lrho
    sf[SF_MAX_L1] = max(sf[SF_MAX_L1], l1)
    sf[SF_MAX_L2] = max(sf[SF_MAX_L2], l2)
    si[SI_MAX_F] = max(si[SI_MAX_F], extra)
    if ql > 0.0:
        for j in range(E):
            sf[SF_MAX_Y] = max(sf[SF_MAX_Y], z[j])


@njit(**_JIT)
def _close_planner(k0, k1, trial, cell, fp, ip, emp, sf, newest, event):
    """At a cell's end: its last planner block's log ratio, with the intervals drawn so far;
    at an event also the mean tail variable of the B - 1 intervals up to the newest
    generation (those that overtook; the cross-entropy fit's)."""
    sf[SF_LOG_PLAN] += _block_log_ratio(fp[F_QB], sf[SF_BLOCK_SUM])
    sf[SF_BLOCK_SUM] = 0.0
    if event:
        B = np.int64(fp[F_BURST_LEN])
        acc = 0.0
        cnt = 0
        for g in range(max(1, newest + 2 - B), newest + 1):
            _, y, _ = planner_draw(k0, k1, trial, cell, g, fp, ip, emp)
            acc += y
            cnt += 1
        sf[SF_BURST_Y] = acc / cnt if cnt > 0 else 0.0


@njit(**_JIT)
def slow_log_ratio(kind, z, E, extra, ql, qr, a, rb, rt):
    """log rho, the likelihood ratio of a run under the slow-run mixture to the model:
    rho = (1 - ql - qr) + ql (1/E) sum_j t_j(z_j) + qr (rt/rb)^F ((1 - rt)/(1 - rb))^E,
    t_j the tail tilt's density ratio at write j's first tail variable, F the attempts beyond
    the first over the run's E writes (docs/model.md section 8).  In logs, largest term first;
    with the log of its tail and retry terms (-inf where off)."""
    l0 = log_(1.0 - ql - qr)
    l1 = -np.inf
    if ql > 0.0:
        top = -np.inf
        for j in range(E):
            top = max(top, log_tail_ratio(kind, z[j], a))
        acc = 0.0
        for j in range(E):
            acc += exp_(log_tail_ratio(kind, z[j], a) - top)
        l1 = log_(ql) + top + log_(acc / E)
    l2 = -np.inf
    if qr > 0.0:
        l2 = log_(qr)
        if rt != rb:
            l2 += extra * (log_(rt) - log_(rb)) + E * (log_(1.0 - rt) - log_(1.0 - rb))
    m = max(l0, max(l1, l2))
    acc = exp_(l0 - m)
    if ql > 0.0:
        acc += exp_(l1 - m)
    if qr > 0.0:
        acc += exp_(l2 - m)
    return m + log_(acc), l1, l2


@njit(inline="always", **_JIT)
def _deleted(g, D, spared, nspared):
    if g >= D:
        return False
    for i in range(nspared):
        if spared[i] == g:
            return False
    return True


@njit(inline="always", **_JIT)
def _active(g, A, E):
    for e in range(E):
        if A[e] == g:
            return True
    return False


@njit(**_JIT)
def init_cell(k0, k1, trial, cell, fp, ip, emp_planner, sf, si, ef, ei, pf, A, pub):
    """The state at t = 0: generation 0 everywhere, every enactor before its first wake."""
    K = ip[I_K]
    E = ip[I_E]
    poll = fp[F_POLL]
    sf[:] = 0.0
    sf[SF_MAX_Y] = -np.inf
    sf[SF_MAX_L1] = -np.inf
    sf[SF_MAX_L2] = -np.inf
    si[:] = 0
    si[SI_HOLDER] = -1
    pub[0] = 0.0
    sf[SF_NEXT_PUB] = _interval_drawn(k0, k1, trial, cell, 1, fp, ip, emp_planner, sf)
    for e in range(E):
        A[e] = 0
        pf[e, PF_PUB] = 0.0
        pf[e, PF_SINCE] = 0.0
    for k in range(K):
        o0, o1, _, _ = philox(U64(trial), word1(P_WAKE, 0, cell, k), U64(0), U64(0), k0, k1)
        ef[k, EF_T] = u_open(bits64(o0, o1)) * poll
        ei[k, EI_PHASE] = 2
        ei[k, EI_KIND] = K_WAKE
        ei[k, EI_RUNS] = 0
        ei[k, EI_DEGRADED] = 0


@njit(**_JIT)
def advance_cell(
    k0, k1, trial, cell, fp, ip, emp_planner, emp_latency, sf, si, ef, ei, pf, A, dur, spared, pub, t_stop
):
    """Run one cell-window from its state until its event, the end of its window, or the
    first occurrence later than ``t_stop`` (then the state can be copied and resumed).
    Returns the publication-time buffer (a larger copy when it had to grow)."""
    w1, w2, z = scratch(ip[I_E])
    return advance_cell_with(
        k0, k1, trial, cell, fp, ip, emp_planner, emp_latency, sf, si, ef, ei, pf, A, dur, spared, pub,
        t_stop, w1, w2, z,
    )  # fmt: skip


@njit(**_JIT)
def scratch(E):
    """The scratch arrays of :func:`run_durations` for E writes (:func:`padded` (E) each)."""
    return np.empty(padded(E), np.uint64), np.empty(padded(E), np.uint64), np.empty(padded(E))


@njit(**_JIT)
def advance_cell_with(
    k0, k1, trial, cell, fp, ip, emp_planner, emp_latency, sf, si, ef, ei, pf, A, dur, spared, pub, t_stop,
    w1, w2, z,
):  # fmt: skip
    """:func:`advance_cell` with the scratch of :func:`scratch` given: a caller that stops
    and resumes a cell at many times (``split``'s looks) allocates it once."""
    if si[SI_EVENT] != 0 or si[SI_ERROR] != 0:  # finished: nothing more may happen to it
        return pub
    T = fp[F_T]
    poll = fp[F_POLL]
    r0 = fp[F_R0]
    r1 = fp[F_R1]
    lr0 = log_(r0) if r0 > 0.0 else -1.0
    lr1 = log_(r1) if r1 > 0.0 else -1.0
    pdeg = fp[F_PDEG]
    ql = fp[F_QL]
    qr = fp[F_QR]
    ql_draw = fp[F_QL_DRAW]
    qr_draw = fp[F_QR_DRAW]
    tail = fp[F_TAIL]
    bursts = fp[F_QB] > 0.0
    kind_latency = ip[I_LATENCY]
    if not tails(kind_latency):  # (the plan never tilts a tail the kernel cannot)
        ql = 0.0
        ql_draw = 0.0
    slow = ql > 0.0 or qr > 0.0
    rs = fp[F_RS]
    rt0 = max(r0, rs) if r0 > 0.0 else r0  # a fail probability of 0 stays 0 (ratio 1)
    rt1 = max(r1, rs) if r1 > 0.0 else r1
    lrt0 = log_(rt0) if rt0 > 0.0 else -1.0
    lrt1 = log_(rt1) if rt1 > 0.0 else -1.0
    min_age = fp[F_MIN_AGE]
    deadline = fp[F_DEADLINE]
    lease = fp[F_LEASE]
    K = ip[I_K]
    E = ip[I_E]
    G = ip[I_G]
    flags = ip[I_FLAGS]
    recheck = (flags & FLAG_RECHECK) != 0
    conditional = (flags & FLAG_CONDITIONAL) != 0
    skip_active = (flags & FLAG_SKIP_ACTIVE) != 0
    lease_on = lease >= 0.0
    deadline_on = deadline >= 0.0
    min_age_on = min_age >= 0.0
    begin_checks = deadline_on or recheck or lease_on  # (a write's begin needs none without them)
    limit_t = min(T, t_stop)

    newest = si[SI_NEWEST]
    newest_pub = sf[SF_NEWEST_PUB]
    next_pub = sf[SF_NEXT_PUB]
    H = si[SI_H]
    D = si[SI_D]
    holder = si[SI_HOLDER]
    renewed = sf[SF_RENEWED]
    nspared = si[SI_NSPARED]
    age = sf[SF_AGE]
    runs = si[SI_RUNS]
    degraded = si[SI_DEGRADED]
    abandoned = si[SI_ABANDONED]
    status = si[SI_EVENT]
    error = si[SI_ERROR]
    if next_pub != next_pub:  # generation 1's interval: a sampler out of continuation blocks
        error = E_CONTINUATION
    t_end = T

    b = 0
    other = np.inf  # the earliest next occurrence of every enactor but b
    select = True
    while status == 0 and error == 0:
        if select:  # one pass: the next occurrence b, and the earliest of every other enactor
            b = 0
            tb = ef[0, EF_T]
            other = np.inf
            for k in range(1, K):
                tk = ef[k, EF_T]
                if tk < tb or (tk == tb and ei[k, EI_PHASE] < ei[b, EI_PHASE]):
                    other = tb if tb < other else other
                    b = k
                    tb = tk
                elif tk < other:
                    other = tk
        t = ef[b, EF_T]
        if t > T:
            status = WINDOW_OVER
            break
        if t > t_stop:
            break
        kind = ei[b, EI_KIND]

        if kind == K_DONE:
            # Write completions of b, and b's next write begins, for as long as no other
            # enactor has an occurrence at or before them: then nothing else can interleave,
            # so this inner loop keeps the (time, phase, enactor) order exactly.
            g = ei[b, EI_GEN]
            pub_g = ef[b, EF_PUB]
            j = ei[b, EI_WRITE]
            while True:
                if conditional and A[j] > g:  # compare-and-set rejects: the run is abandoned
                    abandoned += 1
                    if lease_on and holder == b:
                        holder = -1
                    ef[b, EF_T] = t + poll
                    ei[b, EI_PHASE] = 2
                    ei[b, EI_KIND] = K_WAKE
                    break
                since = pf[j, PF_SINCE]
                age += (t - since) * ((since + t) / 2.0 - pf[j, PF_PUB])
                pf[j, PF_SINCE] = t
                pf[j, PF_PUB] = pub_g
                A[j] = g
                if g > H:
                    H = g
                    if H == newest and next_pub > t:
                        # H now holds the newest generation: a peer's wake before the next
                        # publication will find nothing newer, so move it past those idle
                        # wakes now (repeated additions: the very times it would wake at)
                        for k in range(K):
                            if k != b and ei[k, EI_KIND] == K_WAKE and ef[k, EF_T] < next_pub:
                                if next_pub > T:
                                    ef[k, EF_T] = np.inf
                                else:
                                    w_t = ef[k, EF_T]
                                    while w_t < next_pub:
                                        w_t += poll
                                    ef[k, EF_T] = w_t
                        other = np.inf
                        for k in range(K):
                            if k != b and ef[k, EF_T] < other:
                                other = ef[k, EF_T]
                if g < D and _deleted(g, D, spared, nspared):  # it wrote a deleted plan: the event
                    status = CAUSE_WRITE
                    t_end = t
                    si[SI_AFFECTED] = j
                    break
                if j == E - 1:  # clean-up at the same instant, after the completions
                    ef[b, EF_T] = t
                    ei[b, EI_PHASE] = 1
                    ei[b, EI_KIND] = K_CLEAN
                    break
                j += 1
                if not t < other:  # the next write's begin is a decision: others may go first
                    ei[b, EI_WRITE] = j
                    ef[b, EF_T] = t
                    ei[b, EI_PHASE] = 2
                    ei[b, EI_KIND] = K_BEGIN
                    break
                if begin_checks:
                    stop = (deadline_on and t - ef[b, EF_START] > deadline) or (recheck and g < H)
                    if not stop and lease_on:
                        if holder != b or t > renewed + lease:
                            stop = True
                        else:
                            renewed = t
                    if stop:  # abandoned at the write's begin: no further writes, no clean-up
                        ei[b, EI_WRITE] = j
                        abandoned += 1
                        if lease_on and holder == b:
                            holder = -1
                        ef[b, EF_T] = t + poll
                        ei[b, EI_PHASE] = 2
                        ei[b, EI_KIND] = K_WAKE
                        break
                t_next = t + dur[b, j]
                if t_next < other and t_next <= limit_t:
                    t = t_next
                    continue
                ei[b, EI_WRITE] = j
                ef[b, EF_T] = t_next
                ei[b, EI_PHASE] = 0
                ei[b, EI_KIND] = K_DONE
                break
            if status != 0:
                break

        elif kind == K_CLEAN:
            g = ei[b, EI_GEN]
            limit = g - G
            cut = t - min_age
            stopped = False
            nspared_before = nspared
            w = nspared
            if skip_active and nspared > 0:  # spared generations first (all below D)
                w = 0
                for i in range(nspared):
                    s = spared[i]
                    keep = stopped or s >= limit
                    if not keep and min_age_on and not pub[s] < cut:
                        stopped = True
                        keep = True
                    if not keep and _active(s, A, E):
                        keep = True
                    if keep:
                        spared[w] = s
                        w += 1
                nspared = w
            deleted_any = skip_active and w < nspared_before
            if not stopped:
                old = D
                while old < limit:
                    if min_age_on and not pub[old] < cut:
                        break
                    if skip_active and _active(old, A, E):
                        spared[nspared] = old
                        nspared += 1
                    old += 1
                if old > D:
                    D = old
                    deleted_any = True
            hit = 0
            if deleted_any:  # (a clean-up that deleted nothing cannot empty a record)
                for e in range(E):
                    if _deleted(A[e], D, spared, nspared):
                        hit += 1
            if hit > 0:
                status = CAUSE_CLEANUP
                t_end = t
                break
            if lease_on and holder == b:
                holder = -1
            ef[b, EF_T] = t + poll
            ei[b, EI_PHASE] = 2
            ei[b, EI_KIND] = K_WAKE

        else:  # a decision
            if kind == K_WAKE:
                while next_pub <= t:
                    newest += 1
                    if newest >= MAX_GENERATIONS:
                        error = E_GENERATIONS
                        break
                    newest_pub = next_pub
                    if newest >= pub.size:
                        grown = np.empty(2 * pub.size)
                        grown[: pub.size] = pub
                        pub = grown
                    pub[newest] = newest_pub
                    if bursts:
                        x_g = _interval_drawn(k0, k1, trial, cell, newest + 1, fp, ip, emp_planner, sf)
                    else:  # (the plain draw inline: this loop is the planner's hot path)
                        x_g = _interval(k0, k1, trial, cell, newest + 1, fp, ip, emp_planner)
                    next_pub = newest_pub + x_g
                    if next_pub != next_pub:  # a sampler out of continuation blocks
                        error = E_CONTINUATION
                        break
                if error != 0:
                    break
                g = newest
                if g <= H:  # nothing newer: idle until generation g + 1 is published
                    if next_pub > T:
                        ef[b, EF_T] = np.inf
                    else:  # (repeated additions, as waking every poll would give)
                        w_t = t + poll
                        while w_t < next_pub:
                            w_t += poll
                        ef[b, EF_T] = w_t
                    select = not ef[b, EF_T] < other
                    continue
                if lease_on:
                    if holder == -1 or t > renewed + lease:
                        holder = b
                        renewed = t
                    else:  # held by another and not expired: sleep, no run
                        ef[b, EF_T] = t + poll
                        select = not ef[b, EF_T] < other
                        continue
                n = ei[b, EI_RUNS]
                if n + 1 >= MAX_INDEX:
                    error = E_RUNS
                    break
                ei[b, EI_RUNS] = n + 1
                runs += 1
                o0, o1, o2, o3 = philox(U64(trial), word1(P_RUN, 0, cell, b), U64(n), U64(0), k0, k1)
                dg = u_open(bits64(o0, o1)) < pdeg
                ei[b, EI_DEGRADED] = 1 if dg else 0
                if dg:
                    degraded += 1
                r_run = r1 if dg else r0
                lr_run = lr1 if dg else lr0
                jstar = -1
                if slow:  # the slow-run component, from the block's second half
                    u2 = u_open(bits64(o2, o3))
                    if u2 < ql_draw:  # tail-slow: one write, uniform among the E
                        jstar = min(np.int64(u2 / ql_draw * E), E - 1)
                    elif u2 < ql_draw + qr_draw:  # retry-slow: every write at the tilted r
                        r_run = rt1 if dg else rt0
                        lr_run = lrt1 if dg else lrt0
                error, extra = run_durations(
                    k0,
                    k1,
                    trial,
                    cell,
                    b,
                    n,
                    E,
                    fp,
                    ip,
                    emp_latency,
                    r_run,
                    lr_run,
                    dur[b],
                    w1,
                    w2,
                    z,
                    jstar,
                    tail,
                    ql > 0.0,
                )
                if error != 0:
                    break
                if slow:
                    _slow_run(
                        kind_latency, z, E, extra, ql, qr, tail, r1 if dg else r0, rt1 if dg else rt0, sf, si
                    )
                ei[b, EI_GEN] = g
                ef[b, EF_PUB] = newest_pub
                ef[b, EF_START] = t
                ei[b, EI_WRITE] = 0
                kind = K_BEGIN  # write 0 begins at once, within this decision
            # a write begins at t
            j = ei[b, EI_WRITE]
            stop = False
            if j > 0:
                if deadline_on and t - ef[b, EF_START] > deadline:
                    stop = True
                elif recheck and ei[b, EI_GEN] < H:
                    stop = True
            if not stop and lease_on:
                if holder != b or t > renewed + lease:
                    stop = True
                else:
                    renewed = t
            if stop:  # abandoned: no further writes, no clean-up
                abandoned += 1
                if lease_on and holder == b:
                    holder = -1
                ef[b, EF_T] = t + poll
                ei[b, EI_PHASE] = 2
                ei[b, EI_KIND] = K_WAKE
            else:
                ef[b, EF_T] = t + dur[b, j]
                ei[b, EI_PHASE] = 0
                ei[b, EI_KIND] = K_DONE
        select = not ef[b, EF_T] < other

    if status == WINDOW_OVER or status == CAUSE_WRITE or status == CAUSE_CLEANUP:
        if fp[F_QB] > 0.0 and tails(ip[I_PLANNER]):
            _close_planner(k0, k1, trial, cell, fp, ip, emp_planner, sf, newest, status != WINDOW_OVER)
        sf[SF_T_END] = t_end
        for e in range(E):  # close every endpoint's plan-age integral at t_end
            since = pf[e, PF_SINCE]
            age += (t_end - since) * ((since + t_end) / 2.0 - pf[e, PF_PUB])
            pf[e, PF_SINCE] = t_end
    si[SI_NEWEST] = newest
    sf[SF_NEWEST_PUB] = newest_pub
    sf[SF_NEXT_PUB] = next_pub
    si[SI_H] = H
    si[SI_D] = D
    si[SI_HOLDER] = holder
    sf[SF_RENEWED] = renewed
    si[SI_NSPARED] = nspared
    sf[SF_AGE] = age
    si[SI_RUNS] = runs
    si[SI_DEGRADED] = degraded
    si[SI_ABANDONED] = abandoned
    si[SI_EVENT] = status
    si[SI_ERROR] = error
    return pub


@njit(**_JIT)
def repair_at(k0, k1, trial, cell, fp, ip, emp_repair):
    """R of an event of cell ``cell`` of window ``trial``, seconds: a pure function of its
    address (P_REPAIR; trial, cell), so the cascade can read it without a replay."""
    c0 = U64(trial)
    c1 = word1(P_REPAIR, 0, cell, 0)
    o0, o1, _, _ = philox(c0, c1, U64(0), U64(0), k0, k1)
    f = F_REPAIR
    return max(
        sample(
            ip[I_REPAIR],
            fp[f],
            fp[f + 1],
            fp[f + 2],
            fp[f + 3],
            emp_repair,
            bits64(o0, o1),
            c0,
            c1,
            U64(0),
            U64(0),
            k0,
            k1,
        ),
        0.0,
    )


@njit(**_JIT)
def repair_durations(k0, k1, fp, ip, cells, emp_repair):
    """:func:`repair_at` of cell ``cells[i]`` of the window of row i of the batch."""
    out = np.empty(cells.size)
    for i in range(cells.size):
        out[i] = repair_at(k0, k1, ip[i, I_TRIAL], cells[i], fp[i], ip[i], emp_repair)
    return out


@njit(**_JIT)
def cell_outcome(k0, k1, trial, cell, fp, ip, weights, emp_repair, sf, si, A, spared, out, affected):
    """The outcome of a finished cell-window into ``out`` (C_* columns) and, if ``affected``
    has room, its affected endpoints (True where an endpoint points to a deleted plan)."""
    E = ip[I_E]
    status = si[SI_EVENT]
    event = status == CAUSE_WRITE or status == CAUSE_CLEANUP
    D = si[SI_D]
    nspared = si[SI_NSPARED]
    count = 0
    weight = 0.0
    if affected.size >= E:
        affected[:E] = False
    if status == CAUSE_WRITE:
        j = si[SI_AFFECTED]
        count = 1
        weight = weights[j] if weights.size > 0 else 1.0 / E
        if affected.size >= E:
            affected[j] = True
    elif status == CAUSE_CLEANUP:
        for e in range(E):
            if _deleted(A[e], D, spared, nspared):
                count += 1
                weight += weights[e] if weights.size > 0 else 1.0 / E
                if affected.size >= E:
                    affected[e] = True
    t_end = sf[SF_T_END]
    repair = repair_at(k0, k1, trial, cell, fp, ip, emp_repair) if event else 0.0
    out[C_EVENT] = 1.0 if event else 0.0
    out[C_T_END] = t_end
    out[C_AFFECTED] = count
    out[C_WEIGHT] = weight
    out[C_AGE] = sf[SF_AGE] / (E * t_end) if t_end > 0.0 else 0.0
    out[C_RUNS] = si[SI_RUNS]
    out[C_DEGRADED] = si[SI_DEGRADED]
    out[C_ABANDONED] = si[SI_ABANDONED]
    out[C_CAUSE] = status if event else 0
    out[C_REPAIR] = repair
    out[C_ERROR] = si[SI_ERROR]
    out[C_LOG_SLOW] = sf[SF_LOG_SLOW] + sf[SF_LOG_PLAN]
    out[C_BURST_Y] = sf[SF_BURST_Y] if event and fp[F_QB] > 0.0 else 0.0
    out[C_MAX_F] = si[SI_MAX_F]
    out[C_MAX_Y] = sf[SF_MAX_Y]
    out[C_TAIL_WINS] = 1.0 if sf[SF_MAX_L1] > sf[SF_MAX_L2] else 0.0
    if repair != repair:
        out[C_ERROR] = E_CONTINUATION


@njit(**_JIT)
def simulate_windows(k0, k1, fp, ip, weights, emp_planner, emp_latency, emp_repair, out, lo, hi):
    """Windows lo..hi-1 of a batch (rows of fp, ip): every cell, summed into those rows of
    ``out`` (W_* columns), without the GIL.  ``riskmc.engine.simulate`` calls it once for the
    whole batch, or once per task of its threads.  (Python threads over this serial kernel
    rather than a ``prange`` kernel: the same speed, and numba's parallel lowering cost about
    16 s of the first compile.)"""
    kmax = 1
    emax = 1
    for i in range(lo, hi):
        kmax = max(kmax, ip[i, I_K])
        emax = max(emax, ip[i, I_E])
    sf = np.empty(NSF)
    si = np.empty(NSI, np.int64)
    ef = np.empty((kmax, NEF))
    ei = np.empty((kmax, NEI), np.int64)
    pf = np.empty((emax, NPF))
    A = np.empty(emax, np.int64)
    dur = np.empty((kmax, padded(emax)))  # a run's durations, rows as run_durations fills them
    spared = np.empty(emax, np.int64)
    pub = np.empty(1024)
    cell_out = np.empty(NC)
    no_affected = np.empty(0, np.bool_)
    for i in range(lo, hi):
        row_f = fp[i]
        row_i = ip[i]
        trial = row_i[I_TRIAL]
        C = row_i[I_C]
        w = out[i]
        w[:] = 0.0
        w[W_FIRST_EVENT_CELL] = -1.0
        for c in range(C):
            init_cell(k0, k1, trial, c, row_f, row_i, emp_planner, sf, si, ef, ei, pf, A, pub)
            pub = advance_cell(
                k0,
                k1,
                trial,
                c,
                row_f,
                row_i,
                emp_planner,
                emp_latency,
                sf,
                si,
                ef,
                ei,
                pf,
                A,
                dur,
                spared,
                pub,
                np.inf,
            )
            cell_outcome(
                k0, k1, trial, c, row_f, row_i, weights, emp_repair, sf, si, A, spared, cell_out, no_affected
            )
            if cell_out[C_ERROR] != 0.0:
                w[W_ERROR] = cell_out[C_ERROR]
                break
            if cell_out[C_EVENT] > 0.0:
                impact = cell_out[C_WEIGHT] * cell_out[C_REPAIR] / (60.0 * C)
                w[W_EVENTS] += 1.0
                w[W_IMPACT] += impact
                if cell_out[C_DEGRADED] == 0.0:
                    w[W_EVENTS_NODEG] += 1.0
                    w[W_IMPACT_NODEG] += impact
                if w[W_FIRST_EVENT_CELL] < 0.0:
                    w[W_FIRST_EVENT_CELL] = c
                w[W_CE_F] += cell_out[C_MAX_F]
                if cell_out[C_MAX_Y] > -np.inf:
                    w[W_CE_Y] += cell_out[C_MAX_Y]
                w[W_CE_TAIL] += cell_out[C_TAIL_WINS]
                w[W_CE_BURST] += cell_out[C_BURST_Y]
            w[W_RUNS] += cell_out[C_RUNS]
            w[W_DEGRADED] += cell_out[C_DEGRADED]
            w[W_ABANDONED] += cell_out[C_ABANDONED]
            w[W_AGE] += cell_out[C_AGE] / C
            w[W_OBSERVED_H] += cell_out[C_T_END] / 3600.0
            w[W_LOG_SLOW] += cell_out[C_LOG_SLOW]


# ---------------------------------------------------------------------------------------------
# Draws one at a time, for the reference simulator and for window-level parameters
# ---------------------------------------------------------------------------------------------


@njit(**_JIT)
def draw_wake(k0, k1, trial, cell, k):
    """U_k / poll: the uniform of enactor k's first wake."""
    o0, o1, _, _ = philox(U64(trial), word1(P_WAKE, 0, cell, k), U64(0), U64(0), k0, k1)
    return u_open(bits64(o0, o1))


@njit(**_JIT)
def draw_run(k0, k1, trial, cell, k, n):
    """The two uniforms of run n of enactor k: its degraded flag's (degraded when below p)
    and its slow component's (docs/model.md section 8)."""
    o0, o1, o2, o3 = philox(U64(trial), word1(P_RUN, 0, cell, k), U64(n), U64(0), k0, k1)
    return u_open(bits64(o0, o1)), u_open(bits64(o2, o3))


@njit(**_JIT)
def draw_durations(k0, k1, trial, cell, k, n, fp, ip, emp, r, jstar, tail):
    """D_1..D_E of enactor k's run n one write at a time, at attempt-failure probability r,
    write ``jstar``'s first latency tilted by ``tail`` (NaN on a layout failure); with each
    write's attempts and the first latency's tail variable as drawn (NaN for kinds without
    one): an (3, E) array."""
    E = ip[I_E]
    lr = log_(r) if r > 0.0 else -1.0
    kind = ip[I_LATENCY]
    out = np.empty((3, E))
    for j in range(E):
        d, na = write_duration(k0, k1, trial, cell, k, n, j, fp, ip, emp, r, lr, tail if j == jstar else 0.0)
        out[0, j] = d if na > 0 else np.nan
        out[1, j] = na
        c3 = U64(j) << _S16
        c1 = word1(P_ATTEMPT, 0, cell, k)
        o0, o1, _, _ = philox(U64(trial), c1, U64(n), c3, k0, k1)
        y = np.nan
        if tails(kind):
            y = tail_variable(kind, bits64(o0, o1), U64(trial), c1, U64(n), c3, k0, k1)
            if j == jstar:
                y = tilt_tail(kind, y, tail)
        out[2, j] = y
    return out


@njit(**_JIT)
def uniforms(k0, k1, trials, purpose, cell, c2, c3):
    """u_open at the addresses (trials[i], purpose, cell, c2, c3), e.g. a window's shock flag."""
    out = np.empty(trials.size)
    c1 = word1(purpose, 0, cell, 0)
    for i in range(trials.size):
        o0, o1, _, _ = philox(U64(trials[i]), c1, U64(c2), U64(c3), k0, k1)
        out[i] = u_open(bits64(o0, o1))
    return out


@njit(**_JIT)
def draws_of(kind, p0, p1, p2, p3, emp, trials, purpose, cell, c2, k0, k1):
    """One draw of a distribution per address (trials[i], purpose, cell, c2): for tests of
    the samplers against scipy."""
    out = np.empty(trials.size)
    c1 = word1(purpose, 0, cell, 0)
    for i in range(trials.size):
        c0 = U64(trials[i])
        o0, o1, _, _ = philox(c0, c1, U64(c2), U64(0), k0, k1)
        out[i] = sample(kind, p0, p1, p2, p3, emp, bits64(o0, o1), c0, c1, U64(c2), U64(0), k0, k1)
    return out


@njit(**_JIT)
def philox_block(c0, c1, c2, c3, k0, k1):
    """Philox-4x32-10 of one counter (for known-answer tests)."""
    o0, o1, o2, o3 = philox(U64(c0), U64(c1), U64(c2), U64(c3), U64(k0), U64(k1))
    return np.array([o0, o1, o2, o3], dtype=np.uint64)


@njit(**_JIT)
def exp_array(x):
    out = np.empty(x.size)
    for i in range(x.size):
        out[i] = exp_(x[i])
    return out


@njit(**_JIT)
def log_array(x):
    out = np.empty(x.size)
    for i in range(x.size):
        out[i] = log_(x[i])
    return out
