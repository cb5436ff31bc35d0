"""The ``riskmc`` command line (typer): the app, its error handling and exit codes.

Conventions every command follows (the helpers of this package implement them):

* A user mistake (bad config, bad option value, unwritable output) ends with ONE line on
  stderr, ``error: <what>: <problem>``, and exit code 2; never a traceback.  Commands raise
  :class:`CliError` (or let a :class:`~riskmc.config.ConfigError` through);
  :class:`RiskmcGroup` prints it.  typer's own usage errors (``--trials 0``, an unknown
  option or command) are printed the same way.
* Ctrl-C exits 130 and SIGTERM 143 (128 + the signal), each with one line; result files are
  written atomically (:mod:`riskmc.tables`), so an interrupted command leaves the previous
  results intact, and a sweep keeps the points it finished.
* A genuine internal failure (a bug, or the machine out of memory) prints one line naming
  the exception and the log file that holds its traceback, and exits 1.
* SIGXFSZ is ignored, so that a write past a file-size limit fails as an error (EFBIG) the
  command reports, instead of killing the process.
* Results and summaries go to stdout; progress bars go to stderr, and only when stderr is a
  terminal (:mod:`riskmc.cli.progress`).
* A command parses its options, calls the library, writes its tables and prints its summary
  (:mod:`riskmc.cli.summaries`); it never estimates anything itself.  The simulation stack
  (numba, scipy) is imported inside the commands, so ``--help`` and bad input answer at once.
"""

from __future__ import annotations

import inspect
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from riskmc import __version__
from riskmc.errors import BudgetError, ConfigError

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "CliError",
    "RiskmcGroup",
    "Terminated",
    "app",
    "command_line",
    "interruption",
    "one_line",
    "print_error",
]

#: Exit code of every user mistake (as click/typer use for usage errors).
EXIT_USAGE = 2
#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: Exit code after SIGTERM (128 + SIGTERM).
EXIT_TERMINATED = 143
#: Exit code of an internal failure (a bug): one line, the traceback in a log file.
EXIT_INTERNAL = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that every ``except KeyboardInterrupt``
    (which keeps finished work) handles it too."""


#: Seconds the main thread has to start handling Ctrl-C or SIGTERM before the watchdog ends
#: the process (it cannot while the compiled engine runs a block: Python runs signal handlers
#: between bytecodes only).
SIGNAL_GRACE_S = 5.0
#: Signals the main thread's handlers have begun to handle (the watchdog compares its own count).
_signals_handled = [0]
_watchdog_started = False


def _raise_terminated(signum: int, frame: object) -> None:
    _signals_handled[0] += 1
    raise Terminated()


def _raise_interrupt(signum: int, frame: object) -> None:
    _signals_handled[0] += 1
    raise KeyboardInterrupt()


def _signal_watchdog(read_fd: int) -> None:
    """Read the signal numbers Python's C-level handler writes to the wakeup fd the moment a
    signal arrives; if the main thread has not begun to handle one within SIGNAL_GRACE_S (it
    is inside a long engine call), say so in one line and exit with 128 + the signal.  Result
    files are written atomically and a sweep's finished points are already in its table, so
    nothing written is lost; pool workers notice their parent is gone and leave."""
    received = 0
    while True:
        try:
            data = os.read(read_fd, 64)
        except OSError:  # pragma: no cover
            return
        for signum in data:
            if signum not in (signal.SIGINT, signal.SIGTERM):
                continue
            received += 1
            deadline = time.monotonic() + SIGNAL_GRACE_S
            while _signals_handled[0] < received and time.monotonic() < deadline:
                time.sleep(0.05)
            if _signals_handled[0] < received:
                name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
                print_error(
                    f"interrupted ({name}) while the engine was simulating; no partial result file was "
                    "written (a sweep's finished points are in its table; --resume continues)"
                )
                from riskmc.cli.locks import release_all

                release_all()  # (the kernel would release the flocks; this removes the files too)
                os._exit(128 + signum)


def interruption(err: KeyboardInterrupt) -> tuple[str, int]:
    """What interrupted the command, and its exit code: ("Ctrl-C", 130) or ("SIGTERM", 143)."""
    if isinstance(err, Terminated):
        return "SIGTERM", EXIT_TERMINATED
    return "Ctrl-C", EXIT_INTERRUPTED


def log_internal_error(err: BaseException) -> str:
    """Write ``err``'s traceback to a new log file; its path (or a reason it has none)."""
    directory = os.environ.get("RISKMC_LOG_DIR") or tempfile.gettempdir()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    try:
        fd, path = tempfile.mkstemp(prefix=f"riskmc-error-{stamp}-", suffix=".log", dir=directory)
        with os.fdopen(fd, "w") as f:
            f.write(f"riskmc {__version__}; argv: {sys.argv!r}\n")
            traceback.print_exception(err, file=f)
    except Exception as e:  # the log itself failed: say so, still one line
        return f"(no log: {one_line(e)})"
    return path


def internal_error_message(err: BaseException) -> str:
    if isinstance(err, MemoryError):
        what = "out of memory (lower --trials or --memory-budget, or free memory)"
    else:
        what = f"internal error {type(err).__name__}: {one_line(err)[:200]}"
    return f"{what}; the details are in {log_internal_error(err)} (please report it)"


# -- errors --------------------------------------------------------------------------------------


class CliError(Exception):
    """A user-facing problem: printed as one ``error: <message>`` line, then exit."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def one_line(text: object) -> str:
    """``text`` with its lines joined by spaces: every error is exactly one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def print_error(message: str) -> None:
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)


def config_error_message(err: ConfigError, path: str | os.PathLike[str] | None = None) -> str:
    """``<path>: problem`` for a file that cannot be read, else ``config key 'k': problem``."""
    if path is not None and (err.key == os.fspath(path) or (os.fspath(path) == "-" and err.key == "<stdin>")):
        return f"{err.key}: {err.problem}"
    return f"config key {err.key!r}: {err.problem}"


def _usage_message(err: typer.TyperException) -> str:
    """typer's message for a usage error, lower-cased like ours, with a pointer to --help."""
    message = one_line(err.format_message())
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    ctx = getattr(err, "ctx", None)
    command_path = getattr(ctx, "command_path", None)
    if command_path:
        message = f"{message} (see '{command_path} --help')"
    return message


def reflowed(text: str) -> str:
    """A docstring's paragraphs each on one line: typer keeps the single line breaks of a
    help text's later paragraphs, which rich then wraps again at the terminal's width
    (ragged lines at 80 columns); joined, rich wraps each paragraph once.  A paragraph
    marked with click's ``\\b`` (kept as written) is left alone."""
    paragraphs = [p for p in inspect.cleandoc(text).split("\n\n") if p.strip()]
    return "\n\n".join(
        p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines()) for p in paragraphs
    )


class RiskmcGroup(TyperGroup):
    """The app's command group: turns every expected failure into one ``error:`` line.

    ``invoke`` handles what commands raise (CliError, ConfigError, KeyboardInterrupt);
    ``main`` handles typer's own usage errors, which it would otherwise print as a
    multi-line box.  Commands must return None (a returned int would be the exit code).
    """

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None and command.help:
            command.help = reflowed(command.help)
        return command

    def invoke(self, ctx: Any) -> Any:
        from riskmc.cli.locks import release_all

        try:
            return super().invoke(ctx)
        except CliError as e:
            print_error(e.message)
            raise typer.Exit(e.exit_code) from None
        except BudgetError as e:
            print_error(f"{e.key}: {e.problem}")
            raise typer.Exit(EXIT_USAGE) from None
        except ConfigError as e:
            print_error(config_error_message(e))
            raise typer.Exit(EXIT_USAGE) from None
        except KeyboardInterrupt as e:
            what, code = interruption(e)
            print_error(f"interrupted ({what}); no partial result file was written")
            raise typer.Exit(code) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BrokenPipeError:  # stdout closed early (riskmc ... | head): nothing to say
            _silence_stdout()
            raise typer.Exit(EXIT_INTERNAL) from None
        except Exception as e:  # a bug or MemoryError: one line; the traceback in a log file
            print_error(internal_error_message(e))
            raise typer.Exit(EXIT_INTERNAL) from None
        except BaseException as e:
            # a Rust panic of polars (pyo3's PanicException derives from BaseException)
            if isinstance(e, (SystemExit, GeneratorExit)):
                raise
            print_error(internal_error_message(e))
            raise typer.Exit(EXIT_INTERNAL) from None
        finally:
            release_all()

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        _install_signal_handlers()
        sys.unraisablehook = _quiet_unraisable
        _command_line[:] = ["riskmc", *(sys.argv[1:] if args is None else list(args))]
        try:
            rv = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except typer.TyperException as e:  # typer's usage errors: bad values, unknown options
            if type(e).__name__ != "NoArgsIsHelpError":  # (that one has printed the help)
                print_error(_usage_message(e))
            code = int(getattr(e, "exit_code", EXIT_USAGE))
        except typer.Abort:
            print_error("aborted")
            code = 1
        else:
            # Non-standalone typer returns the exit code of typer.Exit, or the command's
            # return value (None for ours).
            code = rv if isinstance(rv, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)


#: The arguments of the command being run (provenance records them; set by RiskmcGroup.main).
_command_line: list[str] = []


def command_line() -> list[str]:
    """``riskmc`` and the arguments of the command being run (sys.argv outside the CLI)."""
    return list(_command_line) if _command_line else ["riskmc", *sys.argv[1:]]


def _quiet_unraisable(info: Any) -> None:
    """Errors Python can only report as "Exception ignored in ..." (a library object's
    __del__ at exit, e.g. a Dask client that never connected): to the log, not the terminal."""
    if info.exc_value is not None:
        log_internal_error(info.exc_value)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's exit flush does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover
        pass


def _install_signal_handlers() -> None:
    """SIGTERM as Ctrl-C (exit 143); SIGXFSZ ignored (see the module's docstring).  Only in
    the main thread, where Python allows handlers (tests may call ``main`` elsewhere)."""
    global _watchdog_started
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGINT, _raise_interrupt)
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if not _watchdog_started:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        threading.Thread(target=_signal_watchdog, args=(read_fd,), name="riskmc-signals", daemon=True).start()
        _watchdog_started = True


app = typer.Typer(
    name="riskmc",
    cls=RiskmcGroup,
    help="Monte Carlo risk estimates for race conditions in automated DNS management (docs/model.md).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        print(f"riskmc {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Monte Carlo risk estimates for race conditions in automated DNS management."""


@app.command()
def version() -> None:
    """Print the riskmc version."""
    print(f"riskmc {__version__}")
