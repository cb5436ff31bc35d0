"""How the windows are sampled: from the model (``naive``), from a defensive mixture that
tilts degraded runs (``is``), or from one that also tilts slow runs and planner bursts
(``rare``, :mod:`riskmc.estimators.slow`) -- docs/model.md section 8.

**The proposal.**  At realistic parameters the race mostly needs a *degraded* run, and
degraded runs are rare (``degraded.prob`` per run).  Under ``is`` a region-window is drawn
from the model with probability alpha (the *defensive share*) and otherwise with every
run of every cell degraded with probability q_i = max(p_i, q) instead of p_i (windows with
p_i = 0 stay as they are).  The component is chosen by the window's own addressed uniform
(seed; trial, WINDOW, MIXTURE), so scenarios compared on common random numbers share it.

**The weight.**  A run's degraded flag is drawn when the run starts, independently of the
past, and whether a run starts depends only on the past; so the flags revealed in a window
(every cell, up to its event or the window's end) are a stopped sequence of independent
Bernoulli draws, and the likelihood ratio of the tilted component to the model over them is

    L = (q_i / p_i)^D ((1 - q_i) / (1 - p_i))^(S - D)

with S the runs started and D the degraded ones (the engine counts both).  Every other
random number (planner, wakes, latencies, attempts, repairs) is the model's, at the same
address.  The mixture's weight is w = 1 / (alpha + (1 - alpha) L) and E_mix[w f] = E[f] for
every f of the window (Wald's identity per component; the balance of the two).  w <= 1 /
alpha: **no event is undersampled by more than the factor alpha**, whatever its cause --
an event that needs no degraded run still appears at least at alpha times its rate, which is
what lets the estimates bound what the sample did not see (``riskmc.estimators.quantities``).

**q = 1 / S-bar**: S-bar the mean runs started per region-window (every cell) in a pilot of
:data:`PILOT_TRIALS` windows on its own seed.  When an event needs one degraded run among
the S of a window, the estimator's second moment under the tilt is proportional to
p^2 S / (q (1 - q)^(S - 1)), smallest at q = 1 / S.

**A rare common-cause shock is tilted too.**  When the region's shock is rare (its
probability per window below :data:`SHOCK_TILT`), the tilted component also draws the shock
with probability q_s = max(p_s, :data:`SHOCK_TILT`) instead of p_s, from the window's same
addressed uniform (windows with p_s = 0 stay as they are).  The shock is drawn before any
run, so the window's likelihood ratio gains the factor (q_s / p_s) for a shocked window and
((1 - q_s) / (1 - p_s)) for another, and the degraded runs are then tilted from the shocked
or unshocked p_i the window has; w <= 1 / alpha still holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from riskmc.config import Config
from riskmc.distributions import DistSpec
from riskmc.engine import Batch, seed_key
from riskmc.engine import kernel as K
from riskmc.engine import simulate as run_engine
from riskmc.errors import ConfigError
from riskmc.estimators.slow import NO_SLOW_RUNS, SlowRuns, cross_entropy
from riskmc.estimators.slow import choose as choose_slow
from riskmc.params import WindowParams, sample_windows
from riskmc.streams import Purpose, seed_sequence

__all__ = [
    "AUTO_IS_BELOW",
    "AUTO_NAIVE_HITS",
    "DEFAULT_DEFENSIVE",
    "ESTIMATORS",
    "MAX_TILT",
    "PILOT_TRIALS",
    "SHOCK_TILT",
    "Choice",
    "Pilot",
    "Plan",
    "choose",
    "naive_plan",
    "pilot_seed",
    "resolve",
    "run_pilot",
]

#: ``--estimator`` values (``split`` has no plan: riskmc.estimators.split.SplitSpec).
ESTIMATORS = ("auto", "naive", "is", "rare", "split")
#: ``auto`` chooses importance sampling when the pilot expects fewer degraded runs per
#: region-window than this (and more than none) ...
AUTO_IS_BELOW = 0.1
#: ... and sees fewer events than this (common events need no help).
AUTO_NAIVE_HITS = 10
#: Region-windows of the pilot.
PILOT_TRIALS = 1000
#: Cross-entropy refits of the slow runs, each on a pilot of CE_PILOT_TRIALS windows under ``rare``,
#: at these shares of the configuration's kept generations (:func:`cross_entropy_levels`).
CE_LEVELS = (0.25, 0.5, 0.75, 1.0)
#: Region-windows of each cross-entropy pilot.
CE_PILOT_TRIALS = 500
CE_STEPS = len(CE_LEVELS)
#: Largest tilted degraded probability.
MAX_TILT = 0.5
#: Share of the region-windows drawn from the model itself under ``is``.
DEFAULT_DEFENSIVE = 0.25
#: A shock rarer than this per region-window is tilted to this probability under ``is``.
SHOCK_TILT = 0.2


@dataclass(frozen=True)
class Plan:
    """The estimator and its proposal: naive (weights 1), or the defensive mixture tilting
    degraded runs to q with the model's share ``defensive``."""

    estimator: str  # "naive", "is" or "rare" (is with slow runs and planner bursts)
    q: float = math.nan  # the tilted degraded probability
    defensive: float = 1.0  # alpha: share of windows drawn from the model
    runs_per_window: float = math.nan  # the pilot's mean runs per region-window
    shock_q: float = math.nan  # the tilted shock probability (NaN: the shock is not tilted)
    slow: SlowRuns = NO_SLOW_RUNS  # the slow-run components (none: ordinary runs untilted)

    def __post_init__(self) -> None:
        if self.estimator not in ("naive", "is", "rare"):
            raise ValueError(f"a plan's estimator is naive, is or rare, got {self.estimator!r}")
        if self.tilts and not (0.0 < self.defensive < 1.0 and 0.0 < self.q <= MAX_TILT):
            raise ValueError(f"is needs 0 < defensive < 1 and 0 < q <= {MAX_TILT}")
        if not math.isnan(self.shock_q) and not (self.tilts and 0.0 < self.shock_q < 1.0):
            raise ValueError("a tilted shock needs is and 0 < shock_q < 1")
        if self.slow.on and self.estimator != "rare":
            raise ValueError("slow runs and planner bursts are the rare estimator's")

    @property
    def tilts(self) -> bool:
        return self.estimator != "naive"

    @property
    def tilts_shock(self) -> bool:
        return self.tilts and self.shock_q > 0.0

    @property
    def label(self) -> str:
        if not self.tilts:
            return "naive"
        shock = f", shocks at {self.shock_q:.3g}" if self.tilts_shock else ""
        slow = f", slow runs ({self.slow.short})" if self.slow.on else ""
        name = "rare-event importance sampling" if self.estimator == "rare" else "importance sampling"
        return (
            f"{name} (degraded runs at q = {self.q:.3g}{shock}{slow}, {self.defensive:.0%} of "
            "windows untilted)"
        )

    @property
    def short(self) -> str:
        if not self.tilts:
            return "naive"
        shock = f", shock={self.shock_q:g}" if self.tilts_shock else ""
        slow = f", slow=({self.slow.short})" if self.slow.on else ""
        return f"{self.estimator}(q={self.q:.3g}{shock}{slow}, alpha={self.defensive:g})"

    def windows(
        self, config: Config, seed: int, trials: np.ndarray | range | list[int] | int
    ) -> WindowParams:
        """The parameters of the region-windows ``trials`` as this plan simulates them."""
        return self.prepare(sample_windows(config, seed, trials), seed)

    def prepare(self, params: WindowParams, seed: int) -> WindowParams:
        """``params`` (the model's) as this plan simulates them: the shock of the tilted
        component's windows drawn at the tilted probability."""
        if not self.tilts_shock:
            return params
        p = params.shock_prob
        return params.with_shock_prob(np.where(self._component(params, seed), _raised(p, self.shock_q), p))

    def batch(self, params: WindowParams, seed: int) -> Batch:
        """The engine's inputs for windows ``params`` (of :meth:`prepare`) under this plan: the
        degraded probabilities it simulates with, and its slow-run columns."""
        batch = params.batch(seed, self.degraded_prob(params, seed))
        if self.slow.on:
            self.slow.columns(batch.fp, self._component(params, seed))
        return batch

    def _component(self, params: WindowParams, seed: int) -> np.ndarray:
        """Windows of the tilted component (the window's own addressed uniform)."""
        k0, k1 = seed_key(seed)
        u = K.uniforms(k0, k1, params.trials, K.P_WINDOW, 0, K.WINDOW_MIXTURE, 0)
        return u >= self.defensive

    def degraded_prob(self, params: WindowParams, seed: int) -> np.ndarray:
        """The per-run degraded probability each window (of :meth:`prepare`) is simulated with."""
        p = params.degraded_prob
        if not self.tilts:
            return p
        return np.where(self._component(params, seed), _raised(p, self.q), p)

    def tilted(self, params: WindowParams, seed: int) -> np.ndarray:
        """Windows drawn from the tilted component where it differs from the model (bool; none
        for naive)."""
        if not self.tilts:
            return np.zeros(params.n, bool)
        differs = params.degraded_prob > 0.0
        if self.tilts_shock:
            differs = differs | ((params.shock_prob > 0.0) & (params.shock_prob < self.shock_q))
        if self.slow.on:
            differs = np.ones(params.n, bool)
        return self._component(params, seed) & differs

    def log_weights(
        self, params: WindowParams, runs: np.ndarray, degraded: np.ndarray, log_slow: np.ndarray | None = None
    ) -> np.ndarray:
        """log w per window: -log(alpha + (1 - alpha) L), log L = D log(q_i/p_i) +
        (S - D) log((1 - q_i)/(1 - p_i)) (+ the shock's factor) + ``log_slow``, the sum of
        log rho over the window's runs (the engine's); 0 for naive and where nothing is
        tilted."""
        if not self.tilts:
            return np.zeros(params.n)
        p = params.degraded_prob
        q = _raised(p, self.q)
        d = np.asarray(degraded, dtype=float)
        ok = np.asarray(runs, dtype=float) - d
        with np.errstate(divide="ignore", invalid="ignore"):
            log_deg = np.where(d > 0, d * (np.log(q) - np.log(p)), 0.0)
            log_ok = np.where(ok > 0, ok * (np.log1p(-q) - np.log1p(-p)), 0.0)
        log_l = np.where(q == p, 0.0, log_deg + log_ok)
        if self.tilts_shock:  # the shock's Bernoulli draw, before every run
            ps = params.shock_prob
            qs = _raised(ps, self.shock_q)
            with np.errstate(divide="ignore", invalid="ignore"):
                log_shock = np.where(params.shock, np.log(qs) - np.log(ps), np.log1p(-qs) - np.log1p(-ps))
            log_l = log_l + np.where(qs == ps, 0.0, log_shock)
        if self.slow.on:
            if log_slow is None:
                raise ValueError("a plan with slow runs weights windows with their log_slow_ratio")
            log_l = log_l + np.asarray(log_slow, dtype=float)
        a = self.defensive
        return -np.logaddexp(math.log(a), math.log1p(-a) + log_l)

    def degraded_cell_weight(self, config: Config, params: WindowParams) -> np.ndarray:
        """Per window, the largest weight that one of its *cells* can carry when a degraded run
        started in it: 1 / (alpha + (1 - alpha) L_min), L_min the cell's likelihood ratio at
        one degraded run among the most runs a cell can start, S_max = K (floor(T / poll) +
        2) (wakes are at least poll apart, the first before poll; one more for rounding), so
        (q/p) ((1 - q)/(1 - p))^(S_max - 1), times (1 - q_tail - q_retry)^S_max for slow runs
        (a run's ratio is at least its model component's share).  It bounds the degraded
        stratum of a sample without a hit in it by the tilted windows' evidence
        (``riskmc.estimators.quantities``), which needs one W for every window the model can
        draw, not only those the sample drew: so 1 / alpha (the bound of any window) unless
        T, poll, K and the degraded probability are fixed values of ``config`` (no shock that
        changes the probability), and also under planner bursts (a block's factor has no
        lower bound: their number has none) or a tilted shock (it changes p); 1 for naive; 0
        where the model has no degraded run."""
        p = params.degraded_prob
        if not self.tilts:
            return np.where(p > 0.0, 1.0, 0.0)
        a = self.defensive
        if not _one_degraded_weight(config) or self.tilts_shock or self.slow.q_burst > 0.0:
            return np.where(p > 0.0, 1.0 / a, 0.0)
        q = _raised(p, self.q)
        s_max = params.enactors * (np.floor(params.window_s / params.poll_s) + 2.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_l = np.where(
                q == p, 0.0, np.log(q) - np.log(p) + (s_max - 1.0) * (np.log1p(-q) - np.log1p(-p))
            )
        log_l = log_l + s_max * math.log1p(-(self.slow.q_tail + self.slow.q_retry))
        w = np.exp(-np.logaddexp(math.log(a), math.log1p(-a) + log_l))
        return np.where(p > 0.0, w, 0.0)


#: The keys a cell's largest degraded-run weight depends on (Plan.degraded_cell_weight).
DEGRADED_WEIGHT_KEYS = ("window.hours", "enactors.poll_interval", "enactors.count", "degraded.prob")


def _one_degraded_weight(config: Config) -> bool:
    """Whether every window the model can draw has the same degraded-run weight bound: its
    keys fixed, and a shock either impossible or one that keeps the degraded probability."""
    fixed: dict[str, float] = {}
    for key in (*DEGRADED_WEIGHT_KEYS, "region.shock.prob", "region.shock.degraded_prob"):
        value = config.values[key]
        if isinstance(value, DistSpec):
            return False
        fixed[key] = float(value)
    return fixed["region.shock.prob"] == 0.0 or fixed["region.shock.degraded_prob"] == fixed["degraded.prob"]


def _raised(p: np.ndarray, q: float) -> np.ndarray:
    """A tilted probability: max(p, q), but 0 where the model has 0 (a draw the model forbids
    would have an infinite likelihood ratio)."""
    return np.where(p > 0.0, np.maximum(p, q), p)


def naive_plan() -> Plan:
    return Plan("naive")


def pilot_seed(seed: int, index: int = 0) -> int:
    """The seed of pilot ``index`` (0 the naive pilot, 1, 2, ... the cross-entropy steps'):
    from the address (seed; index, PILOT), unrelated to the main trials."""
    return int(seed_sequence(seed, index, Purpose.PILOT).generate_state(1, dtype=np.uint64)[0])


@dataclass(frozen=True)
class Pilot:
    """What a naive pilot saw per region-window."""

    runs_per_window: float
    degraded_per_window: float  # expected degraded runs, sum of p x runs
    events: int
    trials: int
    shock_prob: float = 0.0  # the mean probability of a shock per region-window
    slow: SlowRuns = NO_SLOW_RUNS  # the slow runs for windows like the pilot's (estimators.slow)

    @property
    def q(self) -> float:
        """The tilted degraded probability, and the share of slowed runs: 1 / S-bar."""
        return min(MAX_TILT, 1.0 / self.runs_per_window) if self.runs_per_window > 0 else MAX_TILT


def run_pilot(
    config: Config, seed: int, trials: int = PILOT_TRIALS, threads: int = 1, *, slow: bool = False
) -> Pilot:
    """A naive run of ``trials`` region-windows on the pilot's own seed; with ``slow``, also
    the first slow runs for windows like its own (``rare``'s, before cross-entropy)."""
    s = pilot_seed(seed)
    params = sample_windows(config, s, trials)
    out = run_engine(params.batch(s), threads)
    runs = out[:, K.W_RUNS]
    pilot = Pilot(
        runs_per_window=float(runs.mean()),
        degraded_per_window=float(np.mean(runs * params.degraded_prob)),
        events=int(np.count_nonzero(out[:, K.W_EVENTS])),
        trials=trials,
        shock_prob=float(np.mean(params.shock_prob)),
    )
    return replace(pilot, slow=choose_slow(params, pilot.q)) if slow else pilot


def resolve(
    config: Config,
    seed: int,
    requested: str = "auto",
    *,
    defensive: float = DEFAULT_DEFENSIVE,
    threads: int = 1,
) -> Plan:
    """The plan of an estimator name: ``naive``; ``is`` (its q from a pilot, and a tilted shock
    when the shock is rarer than :data:`SHOCK_TILT`); ``auto``: ``is`` when the pilot expects
    fewer than :data:`AUTO_IS_BELOW` degraded runs per region-window (but some), or the shock
    is that rare, and sees fewer than :data:`AUTO_NAIVE_HITS` events, else ``naive``.  Either
    choice is honest: the mixture keeps a share of untilted windows, so no mechanism of the
    event is hidden from it (module docstring).  ``rare``: ``is`` with slow runs and planner
    bursts (``riskmc.estimators.slow``), their parameters fitted by multilevel cross-entropy
    (:func:`cross_entropy_levels`); never chosen by ``auto`` (docs/model.md section 8: while
    its sample holds no barely boosted event its upper ends carry their bound, so it buys a
    better estimate, not a better interval)."""
    if requested == "split":
        raise ConfigError(
            "--estimator", "split: riskmc explain and report do not take it (docs/model.md section 8)"
        )
    if requested not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {requested!r}")
    if not 0.0 < defensive < 1.0:
        raise ValueError(f"the defensive share must be in (0, 1), got {defensive}")
    if requested == "naive":
        return naive_plan()
    pilot = run_pilot(config, seed, threads=threads, slow=requested == "rare")
    plan = _is_plan(pilot, defensive)
    if requested == "rare":
        plan = replace(plan, estimator="rare", slow=pilot.slow)
        for step, level in enumerate(cross_entropy_levels(config)):
            plan = replace(plan, slow=_cross_entropy_step(level, seed, plan, step, threads))
        return plan
    if requested == "is":
        return plan
    choice = _auto(config, pilot, plan, split_allowed=False)
    assert choice.plan is not None
    return choice.plan


@dataclass(frozen=True)
class Choice:
    """What ``auto`` chose, and why: a plan of sampled windows, or splitting (``plan`` None,
    ``riskmc.estimators.split``)."""

    plan: Plan | None
    reason: str

    @property
    def splits(self) -> bool:
        return self.plan is None


def choose(
    config: Config,
    seed: int,
    *,
    split_allowed: bool,
    defensive: float = DEFAULT_DEFENSIVE,
    threads: int = 1,
) -> Choice:
    """``auto``, where the caller can run ``split`` (``riskmc run`` with a target and no
    option split refuses): as :func:`resolve` (``is`` for rare degraded runs or a rare
    shock), but ``split`` instead of ``naive`` when the pilot sees fewer than
    :data:`AUTO_NAIVE_HITS` events, no degraded run is rare (none can start, or they are
    common) and split supports the configuration (docs/model.md section 8, "auto")."""
    if not 0.0 < defensive < 1.0:
        raise ValueError(f"the defensive share must be in (0, 1), got {defensive}")
    pilot = run_pilot(config, seed, threads=threads)
    return _auto(config, pilot, _is_plan(pilot, defensive), split_allowed=split_allowed)


def _is_plan(pilot: Pilot, defensive: float) -> Plan:
    """``is``'s plan from a naive pilot: degraded runs at 1 / S-bar, and the shock at
    :data:`SHOCK_TILT` where it is rarer than that."""
    shock_q = SHOCK_TILT if 0.0 < pilot.shock_prob < SHOCK_TILT else math.nan
    return Plan("is", pilot.q, defensive, pilot.runs_per_window, shock_q)


def _auto(config: Config, pilot: Pilot, plan: Plan, *, split_allowed: bool) -> Choice:
    """``auto``'s rule on a naive pilot; ``plan`` the ``is`` plan of that pilot."""
    seen = f"the {pilot.trials:,}-window pilot saw {pilot.events:,} event{'s' * (pilot.events != 1)}"
    degraded = pilot.degraded_per_window
    rare_degraded = 0.0 < degraded < AUTO_IS_BELOW
    rare_shock = 0.0 < pilot.shock_prob < SHOCK_TILT
    if pilot.events >= AUTO_NAIVE_HITS:
        return Choice(naive_plan(), f"naive: {seen}")
    if rare_degraded or rare_shock:
        why = (
            f"{degraded:.3g} degraded runs expected per region-window"
            if rare_degraded
            else f"a shock in {pilot.shock_prob:.3g} of the region-windows"
        )
        return Choice(plan, f"is: {seen}, {why}")
    if split_allowed:
        from riskmc.estimators.split import check_supported

        try:
            check_supported(config)
        except ConfigError as e:
            return Choice(naive_plan(), f"naive: {seen}; split does not take {e.key} ({e.problem})")
        runs = "no degraded run can start" if degraded == 0.0 else f"{degraded:.3g} degraded runs per window"
        return Choice(None, f"split: {seen}, {runs}")
    return Choice(naive_plan(), f"naive: {seen}, no rare degraded run or shock to tilt")


def cross_entropy_levels(config: Config) -> list[Config]:
    """The configurations of the cross-entropy steps: ``config`` itself at the last, and
    before it the same with fewer kept generations, G x 1/4, 1/2 and 3/4 (rounded, repeats
    dropped; a G that is sampled per window is kept).  An event is the likelier the smaller
    G, so the first pilots see events even when the configuration's own are too rare for a
    pilot, and each step starts from a proposal fitted to events a little less rare
    (multilevel cross-entropy)."""
    G = config.values.get("cleanup.keep_generations")
    if not isinstance(G, int) or isinstance(G, bool):
        return [config] * CE_STEPS
    levels = sorted({max(0, math.floor(G * f + 0.5)) for f in CE_LEVELS} - {G})
    return [config.with_overrides([f"cleanup.keep_generations={g}"]) for g in levels] + [config]


def _cross_entropy_step(config: Config, seed: int, plan: Plan, step: int, threads: int) -> SlowRuns:
    """The slow runs refitted on a pilot of :data:`CE_PILOT_TRIALS` windows under ``plan``
    (its own seed per step; ``riskmc.estimators.slow.cross_entropy``)."""
    if not plan.slow.on:
        return plan.slow
    s = pilot_seed(seed, 1 + step)
    params = plan.windows(config, s, CE_PILOT_TRIALS)
    out = run_engine(plan.batch(params, s), threads)
    weight = np.exp(plan.log_weights(params, out[:, K.W_RUNS], out[:, K.W_DEGRADED], out[:, K.W_LOG_SLOW]))
    return cross_entropy(plan.slow, params, weight, out)
