"""Tests of the executors (riskmc.execute): local processes and a Dask cluster give the same
sweep, bit for bit; Dask is optional and its absence is one clear error."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from riskmc import estimators
from riskmc.calibrate import calibrate
from riskmc.cli import app
from riskmc.config import Config, ConfigError, parse_config
from riskmc.execute import (
    DASK_INSTALL_HINT,
    DaskExecutor,
    ExecutorError,
    LocalExecutor,
    _is_cluster_failure,
    make_executor,
)
from riskmc.sweep import grid_points, run_sweep, toml_value
from riskmc.tables import read_table, write_table
from tests.conftest import STRESS, stress_config

SEED = 5
#: Three points, the first and last equal (common random numbers make their rows equal too).
GRID = ["degraded.prob=0.02,0.08,0.02", "cleanup.keep_generations=3"]
TRIALS = 100
#: Points where importance sampling really tilts (degraded.prob below the pilot's q).
TILTED_GRID = ["degraded.prob=0.001,0.002"]
#: The only column that may differ between executors: the wall time.
VOLATILE = ("elapsed_s",)


def small() -> Config:
    return stress_config(["window.hours=0.04"])


def comparable(rows: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    """The rows without the wall time, NaN as a string: a naive row's ``proposal_q`` and
    ``target_rel_err`` are NaN, and NaN != NaN however identical its bits (a row unpickled
    from another process holds a NaN object of its own)."""
    return [
        {
            k: "nan" if isinstance(v, float) and math.isnan(v) else v
            for k, v in row.items()
            if k not in VOLATILE
        }
        for row in rows
    ]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A dask LocalCluster of two worker processes, one thread each; its scheduler address.

    Used by ONE test only, so that pytest-xdist starts it once."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
    ) as local:
        yield str(local.scheduler_address)


# -- local -----------------------------------------------------------------------------------------


def test_local_executor_in_process_and_pool() -> None:
    assert list(LocalExecutor(1).map(abs, [-3, 1])) == [(0, 3), (1, 1)]
    with LocalExecutor(2) as ex:
        assert sorted(ex.map(abs, [-3, 1, -2])) == [(0, 3), (1, 1), (2, 2)]
    assert list(LocalExecutor(2).map(abs, [])) == []
    with pytest.raises(ValueError):
        LocalExecutor(0)
    assert isinstance(make_executor(3), LocalExecutor)
    assert isinstance(make_executor(1, "tcp://127.0.0.1:8786"), DaskExecutor)


# -- the same rows everywhere ----------------------------------------------------------------------


def test_sweep_bit_identical_on_1_and_2_local_workers_and_a_dask_cluster(
    cluster: str, config_file: Path, tmp_path: Path
) -> None:
    """The issue's requirement: one worker, two local processes and a Dask LocalCluster (two
    worker processes, reached by its address, from the library and from ``--scheduler``) give
    the same rows, every column but the wall time, bit for bit."""
    serial = run_sweep(small(), grid_points(GRID), TRIALS, SEED, workers=1)
    assert [r["point"] for r in serial] == [0, 1, 2]
    assert comparable(serial)[0] | {"point": 2} == comparable(serial)[2]  # the same point twice
    assert serial[0]["events"] != serial[1]["events"]  # ... and a different one

    local = run_sweep(small(), grid_points(GRID), TRIALS, SEED, workers=2)
    assert comparable(local) == comparable(serial)

    finished: list[int] = []
    with DaskExecutor(cluster) as ex:
        rows = run_sweep(
            small(),
            grid_points(GRID),
            TRIALS,
            SEED,
            executor=ex,
            on_row=lambda r: finished.append(int(str(r["point"]))),
        )
        assert sorted(finished) == [0, 1, 2]
        assert comparable(rows) == comparable(serial)
        # Under importance sampling too (the plan travels to the workers with each point).
        plan = estimators.resolve(small(), SEED, "is")
        tilted = grid_points(TILTED_GRID)
        is_serial = run_sweep(small(), tilted, TRIALS, SEED, plan=plan)
        assert {r["proposal"] for r in is_serial} == {plan.short} and plan.tilts
        assert comparable(run_sweep(small(), tilted, TRIALS, SEED, plan=plan, executor=ex)) == comparable(
            is_serial
        )
        # One estimate's blocks on the cluster: the same row, and the same stop of a target.
        for kwargs in ({"trials": 3000}, {"target_rel_err": 0.2, "max_trials": 20_000}):
            alone = estimators.run(small(), plan, seed=SEED, **kwargs)  # type: ignore[arg-type]
            spread = estimators.run(small(), plan, seed=SEED, executor=ex, **kwargs)  # type: ignore[arg-type]
            assert comparable([spread.row()]) == comparable([alone.row()])
        # A task's own exception comes back as itself, riskmc's ConfigError included.
        with pytest.raises(TypeError):
            list(ex.map(abs, ["not a number"]))
        with pytest.raises(ConfigError) as info:
            list(ex.map(parse_config, [{"degraded": {"prob": 2.0}}]))
        assert info.value.key == "degraded.prob"
    # Not entered: map opens (and closes) a client of its own.
    assert sorted(DaskExecutor(cluster).map(abs, [-4, 2])) == [(0, 4), (1, 2)]

    common = ["sweep", config_file, *grid_args(), "--trials", TRIALS, "--seed", SEED, "--format", "csv", "-q"]
    result = invoke([*common, "--scheduler", cluster, "--out", tmp_path / "dask"])
    assert result.exit_code == 0, result.output
    write_table(serial, tmp_path / "local", "csv")  # what the CLI writes for a local sweep
    assert (
        read_table(tmp_path / "local.csv")
        .drop(VOLATILE)
        .equals(read_table(tmp_path / "dask.csv").drop(VOLATILE))
    )


def test_unreachable_scheduler_is_an_executor_error() -> None:
    pytest.importorskip("distributed")
    ex = DaskExecutor("tcp://127.0.0.1:9", connect_timeout_s=0.5)
    with pytest.raises(ExecutorError, match=r"cannot connect to the dask scheduler at tcp://127\.0\.0\.1:9"):
        ex.__enter__()


def test_cluster_failures_are_told_apart_from_the_tasks_own_errors() -> None:
    scheduler = pytest.importorskip("distributed.scheduler")
    client = pytest.importorskip("distributed.client")
    assert _is_cluster_failure(scheduler.KilledWorker("k", None, 3))
    assert _is_cluster_failure(client.FutureCancelledError("k", "scheduler restarted"))
    assert not _is_cluster_failure(TypeError("bad operand"))
    assert not _is_cluster_failure(ConfigError("degraded.prob", "must be in [0, 1]"))


def test_the_scheduler_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DaskExecutor("tcp://127.0.0.1:8786").connect_timeout_s == 10.0
    monkeypatch.setenv("RISKMC_SCHEDULER_TIMEOUT", "2.5")
    assert DaskExecutor("tcp://127.0.0.1:8786").connect_timeout_s == 2.5
    for bad in ("soon", "0", "1e9", "nan"):
        monkeypatch.setenv("RISKMC_SCHEDULER_TIMEOUT", bad)
        with pytest.raises(ExecutorError, match=r"RISKMC_SCHEDULER_TIMEOUT"):
            DaskExecutor("tcp://127.0.0.1:8786")


def test_missing_dask_tells_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ExecutorError, match=r"riskmc\[dask\]"):
        DaskExecutor("tcp://127.0.0.1:8786").__enter__()


# -- the command line ------------------------------------------------------------------------------

runner = CliRunner()


def invoke(args: Sequence[object]) -> Result:
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = ['name = "config"', "window = { hours = 0.04 }"]  # the name (and hash) of small()
    lines += [f"{section} = {toml_value(table)}" for section, table in STRESS.items() if section != "window"]
    path = tmp_path_factory.mktemp("cfg") / "ex.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def grid_args() -> list[str]:
    return [f"--grid={g}" for g in GRID]


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_cli_workers_and_scheduler_exclude_each_other(config_file: Path, tmp_path: Path) -> None:
    both = ["--workers", 2, "--scheduler", "tcp://127.0.0.1:9"]
    result = invoke(["sweep", config_file, *grid_args(), *both, "--out", tmp_path / "x"])
    line = one_error_line(result)
    assert "--workers" in line and "--scheduler" in line
    assert list(tmp_path.iterdir()) == []


def test_cli_without_dask_one_error_line(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    result = invoke(
        ["sweep", config_file, *grid_args(), "--scheduler", "tcp://127.0.0.1:9", "--out", tmp_path / "x"]
    )
    line = one_error_line(result)
    assert "--scheduler" in line and DASK_INSTALL_HINT in line
    assert list(tmp_path.iterdir()) == []


def process_id(_: object) -> int:
    """The process a task ran in (top level: a spawned worker unpickles it by name)."""
    return os.getpid()


# -- one estimate's blocks on workers --------------------------------------------------------------


def test_an_estimate_s_blocks_on_two_local_workers_are_the_same_numbers() -> None:
    """Blocks computed out of order in two processes and taken in block order: the same row,
    and under a target the same stop, as in one process."""
    cfg = small()
    plan = estimators.resolve(cfg, SEED, "is")
    cases = ({"trials": 3500}, {"target_rel_err": 0.25, "max_trials": 30_000})
    with LocalExecutor(2) as ex:  # one pool for all: the one a stopped run leaves serves the next
        for kwargs in cases:
            alone = estimators.run(cfg, plan, seed=SEED, **kwargs)  # type: ignore[arg-type]
            spread = estimators.run(cfg, plan, seed=SEED, executor=ex, **kwargs)  # type: ignore[arg-type]
            assert comparable([spread.row()]) == comparable([alone.row()])
        assert alone.stopped_by == "target" and alone.trials < 30_000  # the target stopped it early
        # A calibration's grid points: every block of every point on the pool, the same curve.
        args = (cfg, "degraded.prob", 3, 30.0)
        kwargs = {"low": 1e-3, "high": 0.3, "points": 3, "trials": 2500, "seed": SEED, "plan": plan}
        curve = calibrate(*args, executor=ex, **kwargs).curve  # type: ignore[arg-type]
        assert curve == calibrate(*args, **kwargs).curve and len(curve) == 3  # type: ignore[arg-type]
        pool = ex._pool  # started at the first map, kept for the following ones
        assert pool is not None and os.getpid() not in {pid for _, pid in ex.map(process_id, [0, 1])}
        assert ex._pool is pool
    assert ex._pool is None  # ended with the with block


def test_cli_compare_on_workers(config_file: Path, tmp_path: Path) -> None:
    """``compare --workers 2`` (each scenario's blocks on the pool; ``run`` takes the same path,
    tested in the library above): the same table."""
    # (a pool of workers per scenario: two scenarios of two blocks suffice)
    common = ["compare", config_file, "--mitigation", "recheck", "--trials", 2000, "--seed", SEED]
    common += ["--format", "csv", "-q"]
    one = invoke([*common, "--out", tmp_path / "c1"])
    two = invoke([*common, "--workers", 2, "--out", tmp_path / "c2"])
    assert one.exit_code == 0 and two.exit_code == 0, (one.output, two.output)
    assert (
        read_table(tmp_path / "c1.csv").drop(VOLATILE).equals(read_table(tmp_path / "c2.csv").drop(VOLATILE))
    )
    calibration = ["--param", "degraded.prob", "--observed-events", 1, "--exposure-cell-hours", 10]
    for command, extra in (("run", []), ("compare", []), ("calibrate", calibration)):
        both = [command, config_file, *extra, "--workers", 2, "--scheduler", "tcp://127.0.0.1:9"]
        assert "--workers and --scheduler" in one_error_line(invoke([*both, "--out", tmp_path / "x"]))


# -- faults on a cluster ---------------------------------------------------------------------------


@contextlib.contextmanager
def dask_processes(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A scheduler and two single-thread workers (each under a nanny, which restarts a worker
    that dies), as separate processes, the way a cluster runs: its address and the
    scheduler's process.  Every process is ended at the exit."""
    pytest.importorskip("distributed")
    file = tmp_path / "scheduler.json"
    logs = (tmp_path / "dask.log").open("wb")
    common = {"stdout": logs, "stderr": subprocess.STDOUT, "start_new_session": True}
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    scheduler = subprocess.Popen(
        [*dask, "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(file)],
        **common,
    )  # type: ignore[call-overload]
    processes = [scheduler]
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        processes.append(
            subprocess.Popen(  # type: ignore[call-overload]
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    address,
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                ],
                **common,
            )
        )
        distributed = pytest.importorskip("distributed")
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, scheduler
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        logs.close()


#: Blocks of about 0.2 s: long enough to be in flight when a worker is killed.
FAULT_CONFIG = ["window.hours=0.5"]


def test_cluster_faults(tmp_path: Path) -> None:
    """Two faults on one cluster (its start is the expensive part).  A worker killed (SIGKILL)
    while the blocks of an estimate run: the scheduler runs its tasks elsewhere, the nanny
    restarts it, and the row is the one of a single process.  Then the scheduler killed
    during a sweep: riskmc ends with exit 2 and one line, no process of its own left behind,
    the finished points written; --resume finishes the rest here (and reuses those rows)."""
    distributed = pytest.importorskip("distributed")
    cfg = stress_config(FAULT_CONFIG)
    plan = estimators.resolve(cfg, SEED, "is")
    trials = 4000
    lines = ['name = "config"', "window = { hours = 0.5 }"]
    lines += [f"{section} = {toml_value(table)}" for section, table in STRESS.items() if section != "window"]
    config = tmp_path / "faults.toml"
    config.write_text("\n".join(lines) + "\n")
    out = tmp_path / "sweep"
    points = "--grid=degraded.prob=" + ",".join(f"{0.01 * (i + 1):g}" for i in range(6))
    common = [config, points, "--trials", 2000, "--seed", SEED, "--format", "csv", "--out", out, "-q"]
    with dask_processes(tmp_path) as (address, scheduler):
        with distributed.Client(address) as client:
            pids = client.run(os.getpid)
        killed: list[int] = []

        def kill_one(windows: int, _rel_err: float) -> None:
            if not killed:  # one block in: the others are queued or running
                victim = sorted(pids.values())[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        with DaskExecutor(address) as ex:
            spread = estimators.run(cfg, plan, seed=SEED, trials=trials, executor=ex, progress=kill_one)
        with distributed.Client(address) as client:
            client.wait_for_workers(2, timeout=120)  # (the nanny's restart takes seconds under load)
            after = set(client.run(os.getpid).values())
        assert killed and killed[0] not in after and len(after) == 2  # really lost, and replaced

        command = [sys.executable, "-m", "riskmc", "sweep", *map(str, common), "--scheduler", address]
        env = {**os.environ, "RISKMC_SCHEDULER_TIMEOUT": "2"}  # (Dask's reconnection attempts)
        sweep = subprocess.Popen(command, stderr=subprocess.PIPE, start_new_session=True, env=env)
        deadline = time.monotonic() + 120
        while not (out.with_suffix(".csv")).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(scheduler.pid, signal.SIGKILL)  # (the scheduler alone: its session holds it)
        _, stderr = sweep.communicate(timeout=120)
    lines = [line for line in stderr.decode().splitlines() if line.strip()]
    assert sweep.returncode == 2 and len(lines) == 1, stderr.decode()
    assert "the connection to the scheduler was lost" in lines[0] and "--resume continues" in lines[0]
    with pytest.raises(ProcessLookupError):
        os.killpg(sweep.pid, 0)  # nothing of riskmc's session is left
    kept = read_table(out.with_suffix(".csv"))
    assert 1 <= kept.height < 6
    resumed = invoke(["sweep", *common, "--resume", "--workers", 1])
    assert resumed.exit_code == 0, resumed.output
    table = read_table(out.with_suffix(".csv"))
    assert sorted(table["point"].to_list()) == list(range(6))
    assert (
        table.filter(table["point"].is_in(kept["point"].to_list())).drop(VOLATILE).equals(kept.drop(VOLATILE))
    )
    alone = estimators.run(cfg, plan, seed=SEED, trials=trials)
    assert comparable([spread.row()]) == comparable([alone.row()])
