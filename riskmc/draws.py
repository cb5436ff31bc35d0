"""The random inputs of cell-windows, laid out for common random numbers.

Every input of a cell-window is addressed, not consumed from a shared stream:

* publication times: pages of ``PLANNER_PAGE`` intervals per row, address
  ``(block, PLANNER, layer, page)``;
* enactor k's first wake: ``(block, WAKE, layer, k)``;
* the n-th run enactor k starts: page ``n // RUN_PAGE`` at ``(block, RUNS, layer, k, page)``
  holds its degraded flag and the first-attempt latency and attempt count of each of its
  writes; retried attempts draw their latency and jitter from ``(block, RETRY, layer, k, page)``.

So the j-th write of the n-th run of enactor k in trial i has the same duration in every
scenario that shares the seed, whichever mitigation is on and however the trials are split.
Pages are drawn for a whole block at a time, with the block's own layout (its largest
endpoint count), then sliced: a row's values never depend on the chunk it runs in.

:class:`ChunkDraws` serves the vectorized engine; :class:`TrialRandomness` adapts one row
to :class:`riskmc.model.CellRandomness` so that the reference simulator can replay exactly
the trial the engine ran.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from riskmc.distributions import ResolvedDist
from riskmc.params import TrialParams
from riskmc.streams import BLOCK_TRIALS, Purpose, stream

#: Planner intervals per page.
PLANNER_PAGE = 64
#: Runs per page of run draws.
RUN_PAGE = 16


def draw(dist: ResolvedDist, rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    """``dist.rvs(rng, size)``, with the hot distributions computed inline.

    For lognorm and expon this performs exactly scipy's own transformation of the same
    standard variates (``exp(s*Z)*scale + loc`` and ``E*scale + loc``), so the values are
    those scipy would give; it only skips scipy's per-call argument handling, which costs
    as much as the draws on the engine's page sizes.
    """
    shape = (size[0],) + (1,) * (len(size) - 1)
    p = {k: v.reshape(shape) for k, v in dist.params.items()}
    if dist.name == "lognorm":
        out = np.exp(p["s"] * rng.standard_normal(size))
    elif dist.name == "expon":
        out = rng.standard_exponential(size)
    else:
        return dist.rvs(rng, size)
    if "scale" in p:
        out *= p["scale"]
    if "loc" in p:
        out += p["loc"]
    return out


def write_durations(
    rng: np.random.Generator,
    retry_rng: np.random.Generator,
    params: TrialParams,
    degraded: np.ndarray,
    n_writes: int,
) -> np.ndarray:
    """Durations of ``degraded.shape + (n_writes,)`` writes, row i using params row i.

    MODEL.md: a write is retried until it succeeds; attempts fail independently with
    probability r; D = L_1 + ... + L_N + B_1 + ... + B_{N-1}, B_a = V_a * min(cap, base*2^(a-1)).
    N is drawn by inversion from one uniform u in (0, 1] (N = 1 + floor(log u / log r), so
    N > 1 exactly when u <= r): most writes succeed at once, and only the few retried ones
    pay for more draws.
    """
    shape = (*degraded.shape, n_writes)
    first_latency = draw(params.write_latency, rng, shape)
    u = 1.0 - rng.random(shape)  # (0, 1]
    r = np.where(degraded, params.degraded_fail_prob[:, None], params.fail_prob[:, None])
    r = np.broadcast_to(r[..., None], shape)
    retried = np.flatnonzero(u <= r)
    if retried.size == 0:
        return first_latency
    u_r = u.reshape(-1)[retried]
    r_r = r.reshape(-1)[retried]
    extra = (np.floor(np.log(u_r) / np.log(r_r))).astype(np.int64)  # N - 1 >= 1
    extra = np.maximum(extra, 1)
    total = int(extra.sum())
    owner = np.repeat(np.arange(retried.size), extra)
    # attempt index a = 1..N-1 of each failed attempt within its write
    starts = np.cumsum(extra) - extra
    a = np.arange(total) - np.repeat(starts, extra) + 1
    owner_row = retried[owner] // int(np.prod(shape[1:]))
    extra_latency = draw(params.write_latency.take(owner_row), retry_rng, (total,))
    jitter = retry_rng.random(total)
    base = params.backoff_base_s[owner_row]
    cap = params.backoff_cap_s[owner_row]
    backoff = jitter * np.minimum(cap, base * np.exp2(np.minimum(a - 1, 1000).astype(float)))
    added = np.bincount(owner, weights=extra_latency + backoff, minlength=retried.size)
    out = first_latency.reshape(-1)
    out[retried] += added
    return out.reshape(shape)


class BlockDraws:
    """Lazily drawn random inputs of one block (``BLOCK_TRIALS`` rows) for one cell layer."""

    def __init__(self, seed: int, block: int, params: TrialParams, layer: int = 0) -> None:
        if params.n != BLOCK_TRIALS:
            raise ValueError("BlockDraws needs the parameters of a whole block")
        self.seed, self.block, self.params, self.layer = seed, block, params, layer
        self.n_writes = int(params.endpoints.max())
        self.n_enactors = int(params.enactors.max())
        self._run_pages: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._planner_pages: list[np.ndarray] = []

    def wake_uniforms(self, k: int) -> np.ndarray:
        """Uniform(0,1) per row; enactor k's first wake is this times the poll interval."""
        return stream(self.seed, self.block, Purpose.WAKE, self.layer, k).random(BLOCK_TRIALS)

    def planner_page(self, page: int) -> np.ndarray:
        """Intervals of generations ``page*PLANNER_PAGE + 1 ..`` for every row."""
        while len(self._planner_pages) <= page:
            p = len(self._planner_pages)
            rng = stream(self.seed, self.block, Purpose.PLANNER, self.layer, p)
            self._planner_pages.append(draw(self.params.planner_interval, rng, (BLOCK_TRIALS, PLANNER_PAGE)))
        return self._planner_pages[page]

    def publication_times(self, horizon: np.ndarray) -> np.ndarray:
        """P[:, g] for g = 0.. (P[:, 0] = 0), with at least one value beyond each row's horizon."""
        pages: list[np.ndarray] = []
        last = np.zeros(BLOCK_TRIALS)
        while True:
            iv = self.planner_page(len(pages))
            pages.append(iv)
            last = last + iv.sum(axis=1)
            if np.all(last > horizon):
                break
        times = np.cumsum(np.concatenate([np.zeros((BLOCK_TRIALS, 1)), *pages], axis=1), axis=1)
        return times

    def run_page(self, k: int, page: int, cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(degraded [rows, RUN_PAGE], durations [rows, RUN_PAGE, n_writes]) of enactor k."""
        key = (k, page)
        if key in self._run_pages:
            return self._run_pages[key]
        rng = stream(self.seed, self.block, Purpose.RUNS, self.layer, k, page)
        retry_rng = stream(self.seed, self.block, Purpose.RETRY, self.layer, k, page)
        degraded = rng.random((BLOCK_TRIALS, RUN_PAGE)) < self.params.degraded_prob[:, None]
        durations = write_durations(rng, retry_rng, self.params, degraded, self.n_writes)
        if cache:
            self._run_pages[key] = (degraded, durations)
        return degraded, durations


class ChunkDraws:
    """The random inputs of a chunk: consecutive whole blocks, rows stacked in block order."""

    def __init__(self, seed: int, blocks: Sequence[int], block_params: Sequence[TrialParams], layer: int = 0):
        self.blocks = [BlockDraws(seed, b, p, layer) for b, p in zip(blocks, block_params, strict=True)]
        self.n_writes = max(b.n_writes for b in self.blocks)
        self.n_enactors = max(b.n_enactors for b in self.blocks)
        # (enactor, page) -> chunk-wide (degraded [rows, RUN_PAGE], durations [rows, RUN_PAGE, n_writes])
        self._pages: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    @property
    def n(self) -> int:
        return len(self.blocks) * BLOCK_TRIALS

    def wake_uniforms(self) -> np.ndarray:
        """[rows, n_enactors] uniforms (columns beyond a row's K are unused)."""
        return np.stack(
            [np.concatenate([b.wake_uniforms(k) for b in self.blocks]) for k in range(self.n_enactors)],
            axis=1,
        )

    def publication_times(self, horizon: np.ndarray) -> np.ndarray:
        """[rows, G] publication times, padded with +inf, P[:, 0] = 0."""
        per_block = [
            b.publication_times(horizon[i * BLOCK_TRIALS : (i + 1) * BLOCK_TRIALS])
            for i, b in enumerate(self.blocks)
        ]
        width = max(p.shape[1] for p in per_block) + 1
        out = np.full((self.n, width), np.inf)
        for i, p in enumerate(per_block):
            out[i * BLOCK_TRIALS : (i + 1) * BLOCK_TRIALS, : p.shape[1]] = p
        return out

    def _page(self, k: int, page: int) -> tuple[np.ndarray, np.ndarray]:
        key = (k, page)
        if key not in self._pages:
            degraded = np.empty((self.n, RUN_PAGE), bool)
            durations = np.full((self.n, RUN_PAGE, self.n_writes), np.inf)
            for i, b in enumerate(self.blocks):
                deg, dur = b.run_page(k, page, cache=False)
                degraded[i * BLOCK_TRIALS : (i + 1) * BLOCK_TRIALS] = deg
                durations[i * BLOCK_TRIALS : (i + 1) * BLOCK_TRIALS, :, : dur.shape[2]] = dur
            self._pages[key] = (degraded, durations)
        return self._pages[key]

    def runs(self, k: np.ndarray, rows: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Degraded flags [len(rows)] and durations [len(rows), n_writes] of run n[i] of
        enactor k[i] in row rows[i]."""
        page = n // RUN_PAGE
        slot = n % RUN_PAGE
        p0, k0 = int(page[0]), int(k[0])
        if np.all(page == p0) and np.all(k == k0):  # the common case: one page
            deg, dur = self._page(k0, p0)
            return deg[rows, slot], dur[rows, slot]
        degraded = np.empty(len(rows), dtype=bool)
        durations = np.empty((len(rows), self.n_writes))
        combo = k * (int(page.max()) + 1) + page
        for c in np.unique(combo):  # few distinct (enactor, page) pairs: never a loop over trials
            sel = np.flatnonzero(combo == c)
            deg, dur = self._page(int(k[sel[0]]), int(page[sel[0]]))
            degraded[sel] = deg[rows[sel], slot[sel]]
            durations[sel] = dur[rows[sel], slot[sel]]
        return degraded, durations

    def release(self, k: int, below_page: int) -> None:
        """Forget enactor k's pages below ``below_page`` (no live row can ask for them)."""
        for key in [key for key in self._pages if key[0] == k and key[1] < below_page]:
            del self._pages[key]


class TrialRandomness:
    """One row of a block's draws as a :class:`riskmc.model.CellRandomness` (for replay)."""

    def __init__(self, draws: BlockDraws, row: int, horizon: float) -> None:
        self.draws, self.row, self.horizon = draws, row, horizon
        self.poll = float(draws.params.poll_s[row])
        self.n_writes = int(draws.params.endpoints[row])

    def publication_times(self) -> Iterator[float]:
        t = 0.0
        page = 0
        while True:
            for iv in self.draws.planner_page(page)[self.row]:
                t += float(iv)
                yield t
            page += 1

    def wake_offset(self, k: int) -> float:
        return float(self.draws.wake_uniforms(k)[self.row]) * self.poll

    def run_draws(self, k: int, n: int) -> tuple[bool, np.ndarray]:
        deg, dur = self.draws.run_page(k, n // RUN_PAGE)
        return bool(deg[self.row, n % RUN_PAGE]), dur[self.row, n % RUN_PAGE, : self.n_writes].copy()
