"""The ``riskmc`` command line: one module per command, the conventions in ``core``.

``riskmc.cli.app`` is the typer app (the ``riskmc`` entry point); importing this package
registers every command on it.
"""

from riskmc.cli import calibrate, compare, explain, plot, report, run, sensitivity, sweep  # noqa: F401  (registration)
from riskmc.cli.core import EXIT_INTERRUPTED, EXIT_USAGE, CliError, app
from riskmc.cli.files import load_scenario, output_base, save_table
from riskmc.cli.progress import target_progress, trial_progress
from riskmc.cli.summaries import format_number

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "CliError",
    "app",
    "format_number",
    "load_scenario",
    "output_base",
    "save_table",
    "target_progress",
    "trial_progress",
]
