"""``python -m riskmc``: the riskmc command line."""

from riskmc.cli import app

if __name__ == "__main__":
    app(prog_name="riskmc")
