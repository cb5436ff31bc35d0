"""The error a user's input raises: kept free of heavy imports, so that the command line can
report bad input without loading the simulation stack."""

from __future__ import annotations

__all__ = ["BudgetError", "ConfigError"]


class ConfigError(Exception):
    """A user-facing configuration problem, tied to the dotted key that caused it.

    ``str(err)`` is ``"key: problem"`` so that the CLI can print it as is.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str]]:
        # Exceptions pickle through ``args`` by default, which would call __init__ with one
        # argument; worker processes must be able to send this error back.
        return (ConfigError, (self.key, self.problem))


class BudgetError(ConfigError):
    """A command too large for the machine (memory) or for reason (work), found before it
    runs; ``key`` names what to change: a configuration key or a command-line option."""

    def __reduce__(self) -> tuple[type[BudgetError], tuple[str, str]]:  # type: ignore[override]
        return (BudgetError, (self.key, self.problem))
