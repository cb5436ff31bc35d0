"""``riskmc explain CONFIG``: one empty-record event as a timeline, told like the post-mortem."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from riskmc.cli.budget import check_size
from riskmc.cli.core import CliError, app
from riskmc.cli.files import load_scenario
from riskmc.cli.options import (
    MAX_TRIALS,
    ConfigArgument,
    MitigationOption,
    SeedOption,
    SetOption,
    count_parser,
    mitigation_names,
)
from riskmc.cli.progress import trial_progress
from riskmc.errors import ConfigError

TrialOption = Annotated[
    int | None,
    typer.Option(
        "--trial",
        min=0,
        max=MAX_TRIALS - 1,
        metavar="I",
        help="Trial to show (default: the first with an event).",
    ),
]
CellOption = Annotated[
    int | None,
    typer.Option("--cell", min=0, metavar="C", help="With --trial: the cell to show. (default: 0)"),
]
SearchOption = Annotated[
    int,
    typer.Option(
        "--search-trials",
        parser=count_parser(1, MAX_TRIALS),
        metavar="N",
        help="Trials to search for an event.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the timeline as JSON for tools.")]


@app.command()
def explain(
    config: ConfigArgument,
    seed: SeedOption = None,
    overrides: SetOption = None,
    trial: TrialOption = None,
    cell: CellOption = None,
    mitigations: MitigationOption = None,
    search: SearchOption = 200_000,
    as_json: JsonOption = False,
) -> None:
    """Show one empty-record event as a timeline, the way the post-mortem tells it.

    Finds the first trial with an event and its first cell with one (or takes --trial and
    --cell), replays that cell-window in the exact reference simulator with the same random
    numbers, and prints which Enactor took which plan when,
    the start-time checks, the slow writes, the other Enactor's run and clean-up, and the
    endpoint that went empty.  With --mitigation NAME, the same trial (same delays) is
    replayed under that mitigation too.
    """
    from riskmc import compare as cmp
    from riskmc import explain as ex

    cfg = load_scenario(config, overrides or [])
    s = cfg.seed if seed is None else seed
    names = mitigation_names(mitigations) or []
    try:
        alternatives = cmp.scenarios(cfg, names)[1:] if names else []
    except ConfigError as e:
        raise CliError(f"--mitigation: {e.problem}") from None
    if trial is None and cell is not None:
        raise CliError("--cell: only with --trial (without it, explain finds the first cell with an event)")
    # the search holds one block of windows at a time
    check_size(
        cfg,
        s,
        None,
        windows_kept=1000,
        windows_total=search if trial is None else 1,
        option="--search-trials",
    )
    if trial is None:
        with trial_progress(search, f"{cfg.name}: searching for an event") as progress:
            found = ex.find_event_trial(cfg, s, search, progress)
        if found is None:
            raise CliError(f"no empty-record event in the first {search:,} trials of {cfg.name}", exit_code=1)
        trial, cell = found
    else:
        cell = 0 if cell is None else cell
    try:
        main = ex.replay(cfg, s, trial, cell)
    except ValueError as e:
        raise CliError(f"--cell: {e}") from None
    replays = [(label, ex.replay(alt, s, trial, cell)) for label, alt in alternatives]
    if as_json:
        doc = {**main.to_json(), "mitigations": {label: r.to_json() for label, r in replays}}
        print(json.dumps(doc, indent=1))
        return
    print(ex.narrate(main))
    for label, rep in replays:
        print(f"\nthe same trial, the same delays, with {label}:")
        print(ex.narrate(rep, like=main))
