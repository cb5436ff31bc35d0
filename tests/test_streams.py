"""Seeds of the estimation's own randomness (`riskmc.streams`) and a guard against the global
numpy random state.

* the same address always gives the same numbers, distinct addresses distinct streams;
* `key_id` (the address word of a sampled parameter, `riskmc.params`) is a stable value (a
  literal, so that a change of hash shifts no window's parameters silently);
* `blocks_for` edge cases;
* no module of riskmc draws from numpy's (or Python's) global random state: a static scan of
  the source (AST, so comments and docstrings do not count) and a dynamic check that a
  whole small simulation leaves the global state untouched.
"""

from __future__ import annotations

import ast
import itertools
import random
from pathlib import Path

import numpy as np
import pytest

import riskmc
from riskmc import estimators, reference
from riskmc.engine import AddressedRandomness, simulate_cell
from riskmc.params import key_id, sample_windows
from riskmc.streams import BLOCK_TRIALS, Purpose, blocks_for, seed_sequence, stream

from .conftest import stress_config

# ------------------------------------------------------------------------------------------
# addresses
# ------------------------------------------------------------------------------------------

ADDRESSES = [
    (1, 0, Purpose.REGION),
    (1, 1, Purpose.REGION),
    (2, 0, Purpose.REGION),
    (1, 0, Purpose.REGION, 0),
    (1, 0, Purpose.REGION, 1),
    (1, 0, Purpose.REGION, 0, 0),  # an extension of an address is a different address
    (1, 0, Purpose.REGION, 0, 1),
    (1, 0, Purpose.PILOT),
    (1, 0, Purpose.PILOT, 0),
    (1, 0, Purpose.OUTER),
    (1, 0, Purpose.OUTER, 3),
    (1, 7, Purpose.OUTER, 3),
    (2**40 + 1, 0, Purpose.REGION),
    (2**63 + 5, 0, Purpose.REGION),
]


def test_same_address_same_numbers() -> None:
    for addr in ADDRESSES:
        a = stream(*addr).random(16)
        b = stream(*addr).random(16)
        np.testing.assert_array_equal(a, b)


def test_distinct_addresses_distinct_streams() -> None:
    """Every pair of distinct addresses gives a different stream (first 8 words)."""
    words = {addr: tuple(stream(*addr).integers(0, 2**63, 8).tolist()) for addr in ADDRESSES}
    assert len(set(words.values())) == len(ADDRESSES)
    # and not merely shifted copies of one another
    for a, b in itertools.combinations(ADDRESSES, 2):
        assert not set(words[a]) & set(words[b]), (a, b)


def test_streams_are_uncorrelated() -> None:
    """Neighbouring sub-addresses are independent: |corr| < 4 / sqrt(n) for n = 20000
    (the null sd of a sample correlation is 1 / sqrt(n))."""
    n = 20000
    a = stream(5, 0, Purpose.REGION, 0).standard_normal(n)
    b = stream(5, 0, Purpose.REGION, 1).standard_normal(n)
    assert abs(np.corrcoef(a, b)[0, 1]) < 4 / np.sqrt(n)


def test_seed_sequence_address_layout() -> None:
    ss = seed_sequence(42, 3, Purpose.REGION, 0, 2, 5)
    assert ss.entropy == 42
    assert ss.spawn_key == (3, int(Purpose.REGION), 0, 2, 5)
    # stream() is an SFC64 generator on exactly that SeedSequence
    expected = np.random.Generator(np.random.SFC64(np.random.SeedSequence(42, spawn_key=(3, 8, 0, 2, 5))))
    np.testing.assert_array_equal(stream(42, 3, Purpose.REGION, 0, 2, 5).random(8), expected.random(8))


def test_purposes_are_distinct() -> None:
    """Two purposes with the same value would share streams (IntEnum aliases silently)."""
    values = [p.value for p in Purpose]
    assert len(values) == len(set(values)) == len(Purpose.__members__)
    assert {p.name for p in Purpose} == {"REGION", "PILOT", "OUTER", "SPLIT"}


def test_key_id_is_stable() -> None:
    """A literal: crc32("write.latency").  Changing the hash would reshuffle every sampled
    parameter of every saved seed."""
    assert key_id("write.latency") == 2229646947
    assert key_id("write.latency") == key_id("write.latency")
    assert key_id("write.latency") != key_id("write.latencY")
    assert 0 <= key_id("mitigations.deadline.seconds") < 2**32


# ------------------------------------------------------------------------------------------
# blocks_for
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trials", "start", "expected"),
    [
        (0, 0, range(0, 0)),
        (1, 0, range(0, 1)),
        (BLOCK_TRIALS - 1, 0, range(0, 1)),
        (BLOCK_TRIALS, 0, range(0, 1)),
        (BLOCK_TRIALS + 1, 0, range(0, 2)),
        (2500, 0, range(0, 3)),
        (1, BLOCK_TRIALS, range(1, 2)),
        (2500, 3 * BLOCK_TRIALS, range(3, 6)),
        (3 * BLOCK_TRIALS, 3 * BLOCK_TRIALS, range(3, 6)),
    ],
)
def test_blocks_for(trials: int, start: int, expected: range) -> None:
    assert blocks_for(trials, start) == expected


def test_blocks_for_covers_exactly_the_trials() -> None:
    for trials, start_block in itertools.product([1, 999, 1000, 1001, 4321], [0, 2]):
        blocks = blocks_for(trials, start_block * BLOCK_TRIALS)
        first, last = start_block * BLOCK_TRIALS, start_block * BLOCK_TRIALS + trials - 1
        assert blocks[0] == first // BLOCK_TRIALS
        assert blocks[-1] == last // BLOCK_TRIALS
        assert list(blocks) == list(range(blocks[0], blocks[-1] + 1))


@pytest.mark.parametrize("start", [1, 500, BLOCK_TRIALS - 1, BLOCK_TRIALS + 1])
def test_blocks_for_rejects_unaligned_start(start: int) -> None:
    with pytest.raises(ValueError, match="multiple of BLOCK_TRIALS"):
        blocks_for(10, start)


# ------------------------------------------------------------------------------------------
# no global random state
# ------------------------------------------------------------------------------------------

#: numpy.random names that do not touch the global state.
_ALLOWED_NP_RANDOM = {
    "Generator",
    "SeedSequence",
    "BitGenerator",
    "SFC64",
    "PCG64",
    "PCG64DXSM",
    "Philox",
    "MT19937",
    "default_rng",  # only with an explicit seed: checked separately
}
_NUMPY_RANDOM_MODULES = {"np.random", "numpy.random"}


def _dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _names_an_rng(node: ast.AST) -> bool:
    name = _dotted(node)
    return name is not None and ("rng" in name.lower() or "random" in name.lower())


def global_random_uses(source: str, filename: str = "<src>") -> list[str]:
    """Every use of a global random state in `source` (an empty list if none):

    * ``np.random.<f>`` / ``numpy.random.<f>`` for a legacy function (seed, rand, normal,
      random, randint, choice, shuffle, RandomState, ...);
    * ``default_rng()`` with no argument or ``None`` (an OS-entropy, unreproducible stream);
    * ``from numpy.random import <legacy f>``, ``from numpy import random``, ``import random``
      / ``from random import ...`` (Python's global generator);
    * ``.rvs(...)`` without ``random_state=`` and without a generator as first argument
      (scipy then draws from numpy's global state).
    """
    found: list[str] = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute):
            name = _dotted(node)
            if name is not None:
                for mod in _NUMPY_RANDOM_MODULES:
                    if name.startswith(mod + "."):
                        attr = name[len(mod) + 1 :].split(".")[0]
                        if attr not in _ALLOWED_NP_RANDOM:
                            found.append(f"{where}: {name}")
        elif isinstance(node, ast.Call):
            func = _dotted(node.func) or ""
            if func.split(".")[-1] == "default_rng":
                args = [*node.args, *(k.value for k in node.keywords)]
                if not args or (isinstance(args[0], ast.Constant) and args[0].value is None):
                    found.append(f"{where}: {func}() without a seed")
            if isinstance(node.func, ast.Attribute) and node.func.attr == "rvs":
                has_state = any(k.arg == "random_state" for k in node.keywords)
                if not has_state and not (node.args and _names_an_rng(node.args[0])):
                    found.append(f"{where}: .rvs() without a generator")
        elif isinstance(node, ast.ImportFrom):
            if node.module in ("numpy.random",):
                for alias in node.names:
                    if alias.name not in _ALLOWED_NP_RANDOM:
                        found.append(f"{where}: from numpy.random import {alias.name}")
            if node.module == "numpy" and any(a.name == "random" for a in node.names):
                found.append(f"{where}: from numpy import random")
            if node.module == "random":
                found.append(f"{where}: from random import ...")
        elif isinstance(node, ast.Import):
            if any(a.name == "random" for a in node.names):
                found.append(f"{where}: import random")
    return found


BAD_SNIPPETS = [
    "import numpy as np\nnp.random.seed(1)",
    "import numpy as np\nx = np.random.rand(3)",
    "import numpy as np\nx = np.random.randn(3)",
    "import numpy as np\nx = np.random.normal(0, 1, 3)",
    "import numpy as np\nx = np.random.random(3)",
    "import numpy as np\nx = np.random.randint(0, 3)",
    "import numpy as np\nx = np.random.uniform()",
    "import numpy as np\nx = np.random.choice([1, 2])",
    "import numpy as np\nnp.random.shuffle(x)",
    "import numpy as np\nr = np.random.RandomState(1)",
    "import numpy\nx = numpy.random.exponential()",
    "import numpy as np\nrng = np.random.default_rng()",
    "import numpy as np\nrng = np.random.default_rng(None)",
    "from numpy.random import default_rng\nrng = default_rng()",
    "from numpy.random import rand",
    "from numpy import random",
    "import random\nrandom.random()",
    "from random import gauss",
    "import scipy.stats\nx = scipy.stats.norm.rvs(size=3)",
    "x = dist.rvs(size=3)",
    "x = frozen.rvs(3)",
]


@pytest.mark.parametrize("snippet", BAD_SNIPPETS)
def test_scanner_flags_global_random_state(snippet: str) -> None:
    """The scanner below would catch each of these (so its silence on riskmc means something)."""
    assert global_random_uses(snippet)


def test_scanner_accepts_addressed_generators() -> None:
    ok = """
import numpy as np
rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence(1, spawn_key=(2,))))
g = np.random.default_rng(np.random.SeedSequence(3))
h = np.random.default_rng(5)
x = dist.rvs(rng, size=3)
y = gen.rvs(size=3, random_state=rng)
z = self._planner_rng.random()
def f(rng: np.random.Generator) -> None: ...
"""
    assert global_random_uses(ok) == []


def riskmc_sources() -> list[Path]:
    root = Path(riskmc.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) >= 10  # the package's modules, not an empty directory
    return files


def test_no_global_random_state_in_riskmc_source() -> None:
    """Static guard: no module of riskmc uses numpy's or Python's global random state."""
    problems = [p for f in riskmc_sources() for p in global_random_uses(f.read_text("utf-8"), str(f))]
    assert problems == []


def test_simulation_leaves_global_random_state_untouched() -> None:
    """Dynamic guard: sampling parameters, simulating a cell with the engine, replaying it with
    the reference simulator on the engine's addressed numbers, and small naive and importance
    sampling runs (pilot, bootstraps, years) leave numpy's and Python's global state as they
    were (any draw from either would advance it)."""
    np.random.seed(12345)  # noqa: NPY002 -- the global state is what this test watches
    random.seed(12345)
    np_state = np.random.get_state()  # noqa: NPY002
    py_state = random.getstate()

    cfg = stress_config(['write.latency={dist="gamma", a=2, scale=0.05}', "region.cells=2"])
    params = sample_windows(cfg, 3, 4)
    batch = params.batch(3)
    engine = simulate_cell(batch, 0, 1)
    replayed = reference.simulate_cell(params.cell_params(0), AddressedRandomness(batch, 0, 1))
    assert replayed.event == engine.event  # the replay really ran on the engine's numbers
    for name in ("naive", "is"):
        plan = estimators.resolve(stress_config(), 3, name)
        estimators.run(stress_config(), plan, seed=3, trials=50, n_resamples=20)

    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == np_state[0]
    np.testing.assert_array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:]
    assert random.getstate() == py_state
