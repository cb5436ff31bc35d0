"""Faults at the command line: bad input of every kind, signals, killed sweeps, concurrent
writers, internal errors.  Each ends with one line and a known exit code, never a traceback,
never a lost result, never a process left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskmc.cli import app
from riskmc.sweep import toml_document
from riskmc.tables import read_table
from tests.conftest import STRESS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def stress_file(tmp_path: Path) -> Path:
    path = tmp_path / "stress.toml"
    path.write_text(toml_document({"name": "stress", **STRESS}))
    return path


def _invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stderr


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- bad input, refused before anything runs ---------------------------------------------------


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("", "sets no key"),
        ("# only a comment\n\n", "sets no key"),
        ("a = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
        ('name = "a\\u0000b"\n', "control character"),
        (f'name = "{"n" * 300}"\n', "at most 160 bytes"),
        ("degraded.prob = 1e-320\n", "at least 1e-300"),
        ("repair.duration = 1e300\n", "at most 1e+09"),
        ('write.latency = {dist = "lognorm", s = 1e308, scale = 0.1}\n', "quantile at inf"),
        ("window.hours = 1e9\n", "window.hours"),
        ("planner.interval = 1e-9\n", "plan generations"),
        ("write.fail_prob = 0.999999999\n", "65,536 attempts"),
        ("enactors.count = 1000000000\n", "enactors.count"),
        ("region.cells = 10000000\n", "region.cells"),
        ("seed = 18446744073709551616\n", "seed"),
        ("trials = 1000000000000000000000000000000\n", "trials"),
        ('window.hours = {dist = "studentized_range", k = 3, df = 10}\n', "too slow"),
        ("window.hours = 1" + "0" * 310 + "\n", "too large"),
        ("cleanup.keep_generations = " + "9" * 40 + "\n", "too large"),
        # the cascade's times, work ratio and rate (sums and products of them overflowed)
        ("cascade.lease_spread_min = 1.7976931348623157e308\n", "at most 1e+07 minutes"),
        ("cascade.intervention_delay_min = 1e308\n", "at most 1e+07 minutes"),
        ("cascade.work_timeout_min = 1e308\n", "at most 1e+07 minutes"),
        ('cascade.lease_spread_min = {dist = "lognorm", s = 50, scale = 10}\n', "at most 1e+07 minutes"),
        ("cascade.propagation_work_min_per_lapse_min = 1e300\n", "at most 1e+06"),
        ("cascade.dwfm_rate_per_min = 1e-300\n", "at least 1e-07"),
        ('cascade.dwfm_rate_per_min = {dist = "loguniform", a = 1e-300, b = 1}\n', "at least 1e-07"),
        ("mitigations.rehearsed_recovery.delay = 1e8\n", "at most 1e+07 minutes"),
    ],
)
def test_bad_config_is_one_line(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    code, err = _invoke(["run", str(path), "--trials", "100", "--out", str(tmp_path / "out")])
    assert code == 2
    assert where in _one_error_line(err)
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo", "directory"])
def test_config_that_is_not_a_file(tmp_path: Path, special: str) -> None:
    if special == "fifo":
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    elif special == "directory":
        path = str(tmp_path)
    else:
        path = special
    t0 = time.perf_counter()
    code, err = _invoke(["run", path, "--trials", "100"])
    assert code == 2
    _one_error_line(err)
    assert time.perf_counter() - t0 < 10  # never reads forever


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["run", "{cfg}", "--trials", "4000000000"], "--trials: would need about"),
        (["run", "{cfg}", "--trials", "100000", "--memory-budget", "100MiB"], "--memory-budget"),
        (["run", "{cfg}", "--memory-budget", "lots"], "not a size"),
        (["run", "{cfg}", "--trials", "10", "--out", "{tmp}/" + "x" * 250], "file name is"),
        (
            [
                "sweep",
                "{cfg}",
                "--grid",
                "degraded.prob=" + ",".join(["0.1"] * 400),
                "--grid",
                "write.fail_prob=" + ",".join(["0.01"] * 400),
            ],
            "160,000 points",
        ),
        (["sweep", "{cfg}", "--lhs", "1000000000", "--range", "degraded.prob=0.1:0.2"], "--lhs"),
        (["sweep", "{cfg}", "--outer", "1000000000"], "--outer"),
        (
            ["sensitivity", "{cfg}", "--range", "degraded.prob=0.1:0.2", "--range", "degraded.prob=0.1:0.3"],
            "twice",
        ),
        (["sensitivity", "{cfg}", "--range", "degraded.prob=0.1:0.2", "--n", "65536"], "model runs"),
        (["sweep", "{cfg}", "--grid", "enactors.poll_interval=2,1e-300"], "(at point 1)"),
        (["sensitivity", "{cfg}", "--range", "planner.interval=1e-9:1"], "--range corner"),
        (["sweep", "{cfg}", "--grid", "write.fail_prob=0.01,0.9999"], "65,536 attempts"),
        (
            [
                "calibrate",
                "{cfg}",
                "--param",
                "enactors.poll_interval",
                "--low",
                "1e-300",
                "--high",
                "1e-290",
                "--observed-events",
                "1",
                "--exposure-cell-hours",
                "1000",
            ],
            "--param enactors.poll_interval=1e-300",
        ),
        (["run", "{cfg}", "--set", 'write.latency={dist="empirical", samples=[1e-310]}'], "at least 1e-300"),
        (
            ["sweep", "{cfg}", "--grid", "degraded.prob=0.1", "--scheduler", "inproc://"],
            "not a scheduler address",
        ),
        (["plot", str(REPO / "results" / "compare.csv"), "--out", "{tmp}/a\x00b"], "NUL"),
        (["run", "{cfg}", "--seed", str(2**64)], "--seed"),
        (["run", "{cfg}", "--threads", "0"], "--threads"),
    ],
)
def test_bad_options_are_one_line(stress_file: Path, tmp_path: Path, args: list[str], where: str) -> None:
    args = [a.replace("{cfg}", str(stress_file)).replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:  # never the repository's results/
        (tmp_path / "out").mkdir()
        args += ["--out", f"{tmp_path}/out/"]
    t0 = time.perf_counter()
    code, err = _invoke(args)
    assert code == 2
    assert where in _one_error_line(err)
    assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize(
    "content",
    [
        "cleanup.keep_generations = 9223372036854775808\n",  # 2^63: a UInt64 column
        "seed = 18446744073709551615\n",
        "[endpoints]\ncount = 3\nweights = [1e308, 1e308, 1e308]\n",  # scaled before summing
    ],
)
def test_extreme_but_valid_values_run(tmp_path: Path, content: str) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(
        "[window]\nhours = 0.05\n" + content
        if content.startswith("[")
        else content + "[window]\nhours = 0.05\n"
    )
    code, err = _invoke(["run", str(path), "--trials", "100", "--out", str(tmp_path / "o"), "-q"])
    assert code == 0, err
    assert err == ""


def test_unwritable_extra_output_fails_before_the_run(stress_file: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = tmp_path / "main"
    code, err = _invoke(
        ["run", str(stress_file), "--trials", "100", "--out", str(out), "--events", str(blocker / "ev")]
    )
    assert code == 2
    assert "--events" in _one_error_line(err)
    assert not out.with_suffix(".csv").exists()


def test_resume_refuses_a_table_that_is_not_a_sweep(stress_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine.csv"
    out.write_text("a,b\n1,2\n")
    code, err = _invoke(
        [
            "sweep",
            str(stress_file),
            "--grid",
            "degraded.prob=0.1",
            "--out",
            str(out),
            "--resume",
            "--trials",
            "100",
            "--format",
            "csv",
        ]
    )
    assert code == 2
    assert "not a riskmc sweep table" in _one_error_line(err)
    assert out.read_text() == "a,b\n1,2\n"


def test_internal_error_is_one_line_and_logged(
    stress_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskmc import estimators

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(estimators, "run", broken)
    monkeypatch.setenv("RISKMC_LOG_DIR", str(tmp_path))
    code, err = _invoke(
        ["run", str(stress_file), "--trials", "100", "--estimator", "naive", "--out", str(tmp_path / "o")]
    )
    assert code == 1
    line = _one_error_line(err)
    assert "internal error RuntimeError: simulated bug" in line
    logs = list(tmp_path.glob("riskmc-error-*.log"))
    assert len(logs) == 1 and logs[0].name in line
    assert "Traceback" in logs[0].read_text() and "simulated bug" in logs[0].read_text()


# -- concurrent writers and left-overs ----------------------------------------------------------


def test_lock_names_the_holder(stress_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "x"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'%d' % os.getpid()); print('held', flush=True); "
            "time.sleep(60)",
            str(tmp_path / ".x.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, err = _invoke(["run", str(stress_file), "--trials", "100", "--out", str(out)])
        assert code == 2
        assert f"riskmc process {holder.pid} is writing it now" in _one_error_line(err)
        assert not out.with_suffix(".csv").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: the lock is free, and is removed after use
    code, err = _invoke(["run", str(stress_file), "--trials", "100", "--out", str(out), "-q"])
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".x", "x"))) == [
        "x.csv",
        "x.parquet",
    ]


def test_a_planted_lock_link_is_not_followed(stress_file: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / ".x.lock").symlink_to(victim)
    code, err = _invoke(["run", str(stress_file), "--trials", "100", "--out", str(tmp_path / "x")])
    assert code == 2
    assert "lock" in _one_error_line(err)
    assert victim.read_text() == "keep me"


def test_plot_refuses_a_huge_table(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate(2**30)  # sparse: no disk used
    code, err = _invoke(["plot", str(big)])
    assert code == 2
    assert "larger than any riskmc table" in _one_error_line(err)


def test_a_dead_writers_temporary_file_is_removed(stress_file: Path, tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".x.csv.{dead.pid}.abcd.tmp"
    stale.write_text("half a table")
    alive = tmp_path / f".x.csv.{os.getpid()}.efgh.tmp"  # a live writer's: left alone
    alive.write_text("being written")
    code, err = _invoke(["run", str(stress_file), "--trials", "100", "--out", str(tmp_path / "x"), "-q"])
    assert code == 0, err
    assert not stale.exists()
    assert alive.exists()


# -- signals and worker processes (real processes) -------------------------------------------


def _riskmc(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "riskmc", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _marked_processes(mark: str) -> list[int]:
    """PIDs of processes whose environment holds ``mark`` (a command and its workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return bool(predicate())


def _six_point_sweep(config: Path) -> list[str]:
    """A sweep of six points, each a few seconds: long enough to be interrupted midway."""
    return [
        "sweep",
        str(config),
        "--lhs",
        "6",
        "--range",
        "degraded.prob=0.01:0.1",
        "--trials",
        "3000",
        "--estimator",
        "naive",
        "--format",
        "csv",
    ]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_sigterm_keeps_finished_points_and_leaves_no_worker(stress_file: Path, tmp_path: Path) -> None:
    mark = f"RISKMC_TEST_{uuid.uuid4().hex}"
    out = tmp_path / "sw.csv"
    args = [*_six_point_sweep(stress_file), "--workers", "2", "--out", str(out)]
    proc = _riskmc(args, {mark: "1"})
    assert _wait_for(lambda: out.exists(), 120), "no point finished"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted (SIGTERM)" in _one_error_line(err)
    assert _wait_for(lambda: not _marked_processes(mark), 10), "processes left behind"
    kept = read_table(out).height
    assert 1 <= kept < 6


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_killed_sweep_leaves_no_worker_and_resumes_identically(stress_file: Path, tmp_path: Path) -> None:
    mark = f"RISKMC_TEST_{uuid.uuid4().hex}"
    out = tmp_path / "sw.csv"
    common = _six_point_sweep(stress_file)
    proc = _riskmc([*common, "--workers", "2", "--out", str(out)], {mark: "1"})
    assert _wait_for(lambda: out.exists(), 120), "no point finished"
    assert len(_marked_processes(mark)) >= 3  # the command, two workers (and the resource tracker)
    proc.kill()
    proc.communicate(timeout=30)
    assert _wait_for(lambda: not _marked_processes(mark), 10), "workers left running after kill -9"
    # resumed here, in this process (the rows do not depend on the workers)
    resumed = CliRunner().invoke(app, [*common, "--workers", "1", "--out", str(out), "--resume", "-q"])
    assert resumed.exit_code == 0, resumed.output
    whole = tmp_path / "whole.csv"  # uninterrupted, here (the rows do not depend on the workers)
    straight = CliRunner().invoke(app, [*common, "--workers", "1", "--out", str(whole), "-q"])
    assert straight.exit_code == 0, straight.output
    drop = ["elapsed_s"]
    a = read_table(out).drop(drop).sort("point")
    b = read_table(whole).drop(drop).sort("point")
    assert a.height == 6
    assert a.equals(b)
    assert not list(tmp_path.glob(".*.tmp"))


def test_sigterm_during_a_run_writes_nothing(stress_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = _riskmc(
        ["run", str(stress_file), "--trials", "3000000", "--estimator", "naive", "--out", str(out)]
    )
    time.sleep(6)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted (SIGTERM)" in _one_error_line(err)
    assert [p.name for p in tmp_path.iterdir()] == ["stress.toml"]  # no result, no lock, no temporary file


@pytest.mark.parametrize("threads", [1, 2])
def test_sigterm_inside_a_long_engine_block(tmp_path: Path, threads: int) -> None:
    """Python runs signal handlers between bytecodes only.  On one thread a block of slow
    windows keeps the main thread in the compiled engine, so the watchdog ends the process
    itself; on two the engine's threads do the work and the main thread, waiting for them,
    handles the signal at once."""
    from riskmc.cli.core import SIGNAL_GRACE_S

    cfg = tmp_path / "slow.toml"
    # a block of 1,000 such windows takes about 50 s of one core here (12 s at hours = 1, which
    # put the signal at the end of the first block on a fast machine)
    cfg.write_text('name = "slow"\n[window]\nhours = 4.0\n[enactors]\npoll_interval = 0.0005\n')
    args = ["run", str(cfg), "--trials", "20000", "--estimator", "naive", "--threads", str(threads)]
    proc = _riskmc([*args, "--out", str(tmp_path / "r")])
    time.sleep(12)  # start-up (slower while another test runs), then inside the first block (minutes)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert time.monotonic() - sent < SIGNAL_GRACE_S + 5
    line = _one_error_line(err)
    assert "interrupted (SIGTERM)" in line
    assert ("while the engine was simulating" in line) == (threads == 1), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.toml"]


# -- tiny values, run without a warning ---------------------------------------------------------


def test_outages_of_a_tiny_repair_time_run_without_a_warning(stress_file: Path, tmp_path: Path) -> None:
    """Impacts of 1e-64 minutes: the annual impact's moments no longer underflow to 0 / 0 (a
    RuntimeWarning on stderr, found by benchmarks/fuzz_explore.py)."""
    (tmp_path / "out").mkdir()
    tiny = 'repair.duration={dist="lognorm", s=0.5, scale=9.47e-62}'
    args = ["run", str(stress_file), "--set", "window.hours=0.1", "--set", tiny, "--trials", "200"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, err = _invoke([*args, "--out", str(tmp_path / "out"), "-q"])
    assert code == 0, err
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
    row = read_table(tmp_path / "out" / "stress.csv")
    assert 0.0 < row["impact_per_year_min"][0] < 1e-50
    # the annual tail's translated gamma gave NaN here (0 / 0 of the moments)
    for column in ("impact_per_year_p99_min", "impact_per_year_cvar99_min"):
        assert 0.0 < row[column][0] < 1e-50, column
