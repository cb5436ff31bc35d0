"""Output locks: one riskmc command at a time writes a given result file.

Two runs, or two ``--resume`` sweeps, writing the same output would each rewrite it from
their own rows, and the last writer would silently drop the other's.  So a command takes an
exclusive lock on each output before it simulates anything: ``flock`` on a hidden lock file
beside it (``.<name>.lock``), holding the owner's PID for the message of the command that
finds it taken.  The kernel releases the lock when its holder ends, however it ends (kill -9
included), so a lock is never stale.  The holder removes the lock file before it lets go;
a command that opened the file and was waiting for it then finds that its file is no longer
the one at that path and starts again, so two commands never hold "the" lock at once.  (A
holder killed with SIGKILL leaves the file; the next command simply locks it.)
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from riskmc.cli.core import CliError

__all__ = ["lock_output", "release_all"]

_held: dict[Path, int] = {}


def lock_path(base: Path) -> Path:
    return base.parent / f".{base.stem}.lock"


def lock_output(base: Path, option: str = "--out") -> None:
    """Take the lock of output ``base`` until :func:`release_all` (or the process ends);
    a CliError naming the holder's PID when another process has it."""
    import fcntl

    path = Path(os.path.abspath(lock_path(base)))  # (not resolve(): a link is refused, not followed)
    key = path
    if key in _held:
        return
    for _ in range(100):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a symbolic link planted as the lock must not make riskmc write (and
            # later remove) whatever it points to
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as e:
            raise CliError(
                f"{option} {base}: cannot create the lock file {path}: {e.strerror or e}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            os.close(fd)
            who = f"riskmc process {holder}" if holder.isdigit() else "another riskmc process"
            raise CliError(
                f"{option} {base}: {who} is writing it now (lock {path}); wait for it to finish or "
                "write elsewhere"
            ) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                raise CliError(f"{option} {base}: the lock {path} is not a regular file; remove it")
            now = os.lstat(path)
            same = (st.st_ino, st.st_dev) == (now.st_ino, now.st_dev)
        except OSError:  # removed by the holder that just let go
            same = False
        if same:
            break
        os.close(fd)  # the file we locked is no longer the lock: try again
    else:  # pragma: no cover - a hundred holders in a row let go under us
        raise CliError(f"{option} {base}: cannot take the lock {path}")
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[key] = fd


def release_all() -> None:
    """Release every lock this process holds (at the end of each command)."""
    for path, fd in _held.items():
        with contextlib.suppress(OSError):
            ours, now = os.fstat(fd), os.lstat(path)
            if (now.st_ino, now.st_dev) == (ours.st_ino, ours.st_dev):  # only the file we locked
                os.unlink(path)  # still holding it: see the module's docstring
        with contextlib.suppress(OSError):
            os.close(fd)  # closing the descriptor releases its flock
    _held.clear()
