"""riskmc: Monte Carlo risk estimates for race conditions in automated DNS management."""

__version__ = "0.1.0"
