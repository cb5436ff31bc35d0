"""``riskmc explain CONFIG``: one empty-record event as a timeline, told like the post-mortem."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from riskmc.cli.budget import check_size
from riskmc.cli.core import CliError, app
from riskmc.cli.files import load_scenario
from riskmc.cli.options import (
    MAX_TRIALS,
    ConfigArgument,
    Estimator,
    EstimatorOption,
    MitigationOption,
    SeedOption,
    SetOption,
    ThreadsOption,
    TrialsOption,
    count_parser,
    default_threads,
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
MostLikelyOption = Annotated[
    bool,
    typer.Option(
        "--most-likely",
        help="Describe the dominant way the event happens instead: events drawn in proportion to their "
        "weight from the estimator's sample of --trials windows, replayed exactly and measured (how slow the "
        "culprit run, how many writes retried, how many generations overtook it), the medians and the "
        "smallest slow-down, then the event closest to the medians as a timeline; with --mitigation, the "
        "same under each fix.",
    ),
]
IncidentOption = Annotated[
    bool,
    typer.Option(
        "--incident",
        help="Replay the incident's cascade instead: an outage of 157 minutes with the scenario's cascade "
        "parameters, on the post-mortem's clock (23:48 PDT); with --mitigation, under each too.",
    ),
]


@app.command()
def explain(
    config: ConfigArgument,
    seed: SeedOption = None,
    overrides: SetOption = None,
    trial: TrialOption = None,
    cell: CellOption = None,
    mitigations: MitigationOption = None,
    search: SearchOption = 200_000,
    incident: IncidentOption = False,
    most_likely: MostLikelyOption = False,
    trials: TrialsOption = None,
    estimator: EstimatorOption = Estimator.auto,
    threads: ThreadsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one empty-record event as a timeline, the way the post-mortem tells it.

    Finds the first trial with an event and its first cell with one (or takes --trial and
    --cell), replays that cell-window in the exact reference simulator with the same random
    numbers, and prints which Enactor took which plan when,
    the start-time checks, the slow writes, the other Enactor's run and clean-up, and the
    endpoint that went empty.  With --mitigation NAME, the same trial (same delays) is
    replayed under that mitigation too.  With --most-likely, the dominant way the event
    happens instead: events drawn by weight from the estimator's sample, replayed and
    measured, then the most typical one as a timeline (docs/model.md section 8).
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
    if incident:
        _incident(cfg, s, alternatives, trial, cell, as_json)
        return
    if most_likely:
        if trial is not None or cell is not None:
            raise CliError("--trial/--cell: not with --most-likely (it draws the events it describes)")
        _most_likely(cfg, s, alternatives, trials, estimator.value, threads, as_json)
        return
    if trials is not None:
        raise CliError("--trials: only with --most-likely (the search is sized by --search-trials)")
    if estimator is not Estimator.auto or threads is not None:
        raise CliError("--estimator/--threads: only with --most-likely (the search is plain simulation)")
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
    cascades = [
        (label, ex.cascade_of(c, s, trial, cell) if r.outcome.event else None)
        for (label, r), c in zip(
            [("", main), *replays], [cfg, *(alt for _, alt in alternatives)], strict=True
        )
    ]
    if as_json:
        doc = {
            **main.to_json(),
            "cascade": _cascade_json(cascades[0][1]),
            "mitigations": {
                label: {**r.to_json(), "cascade": _cascade_json(c)}
                for (label, r), (_, c) in zip(replays, cascades[1:], strict=True)
            },
        }
        print(json.dumps(doc, indent=1))
        return
    print(ex.narrate(main))
    _print_cascade(cascades[0][1])
    for (label, rep), (_, outcome) in zip(replays, cascades[1:], strict=True):
        print(f"\nthe same trial, the same delays, with {label}:")
        print(ex.narrate(rep, like=main))
        _print_cascade(outcome)


def _print_cascade(outcome: Any) -> None:
    if outcome is None:
        return
    from riskmc import explain as ex

    print("\nbeyond DNS, the downstream cascade (docs/model.md section 5b),")
    print("minutes after the record went empty:")
    print(ex.narrate_cascade(outcome))


def _cascade_json(outcome: Any) -> dict[str, Any] | None:
    if outcome is None:
        return None
    from riskmc.cascade import timeline

    numbers = ("outage_min", "leases_restored_min", "ec2_impaired_min", "nlb_impact_min", "nlb_capacity_lost")
    doc: dict[str, Any] = {k: float(getattr(outcome, k)[0]) for k in numbers}
    doc["collapse"] = bool(outcome.collapse[0])
    doc["timeline"] = [{"minute": t, "text": text} for t, text in timeline(outcome, 0)]
    return doc


def _incident(
    cfg: Any, seed: int, alternatives: list[Any], trial: int | None, cell: int | None, as_json: bool
) -> None:
    """The incident's cascade (R = 157 min) under the scenario's cascade parameters (those
    of window --trial, default 0, when they are distributions) and under each --mitigation."""
    from riskmc import explain as ex
    from riskmc.cascade import INCIDENT_OUTAGE_MIN

    if cell is not None:
        raise CliError("--cell: not with --incident (the incident's outage is given, not drawn)")
    window = 0 if trial is None else trial
    runs = [("scenario", cfg), *alternatives]
    outcomes = [(label, ex.cascade_of(c, seed, window, 0, INCIDENT_OUTAGE_MIN)) for label, c in runs]
    if as_json:
        print(json.dumps({label: _cascade_json(o) for label, o in outcomes}, indent=1))
        return
    for i, (label, outcome) in enumerate(outcomes):
        head = f"the incident's cascade, {cfg.name}" if i == 0 else f"\nthe same outage with {label}"
        print(f"{head} (an outage of {INCIDENT_OUTAGE_MIN:.0f} min; times PDT, Oct 19-20):")
        if "empty_guard" in runs[i][1].mitigations:
            print("  (empty_guard shortens the outage itself; here the outage is the incident's, given)")
        print(ex.narrate_cascade(outcome, clock_min=ex.INCIDENT_START_MIN))


def _most_likely(
    cfg: Any,
    seed: int,
    alternatives: list[Any],
    trials: int | None,
    estimator: str,
    threads: int | None,
    as_json: bool,
) -> None:
    """``--most-likely``: the summary of the scenario and of each mitigation, on the same
    trials and plan (the baseline's), then the representative event of each as a timeline."""
    from riskmc import estimators, likely
    from riskmc import explain as ex

    n = cfg.trials if trials is None else trials
    n_threads = default_threads() if threads is None else threads
    runs = [("", cfg), *alternatives]
    check_size(
        cfg,
        seed,
        None,
        windows_kept=n,
        windows_total=n * len(runs),
        option="--trials" if trials is not None else "trials",
        threads=n_threads,
    )
    plan = estimators.resolve(cfg, seed, estimator, threads=n_threads)
    total = len(runs) * (n + likely.DEFAULT_DRAWS)
    results = []
    with trial_progress(total, f"{cfg.name}: the most likely failure path") as progress:
        for label, c in runs:
            results.append(
                (label, c, likely.most_likely(c, seed, n, plan, threads=n_threads, progress=progress))
            )
    if as_json:
        doc = {(label or "scenario"): (None if m is None else m.to_json()) for label, _, m in results}
        print(json.dumps(doc, indent=1))
        return
    keep = cfg.values.get("cleanup.keep_generations")
    base = results[0][2]
    if base is None:
        raise CliError(
            f"no empty-record event in {n:,} trials of {cfg.name} ({plan.short}); give more --trials",
            exit_code=1,
        )
    print(likely.describe(base, keep))
    print("\nthe representative event (the draw closest to the medians):")
    print(ex.narrate(base.representative))
    for label, c, m in results[1:]:
        print(f"\nwith {label}:")
        if m is None:
            print(f"  no empty-record event in the same {n:,} trials ({plan.short} estimator)")
        else:
            print(likely.describe(m, keep))
        rep = base.representative
        print(f"\nthe representative event's trial (the same delays) with {label}:")
        print(ex.narrate(ex.replay(c, seed, rep.trial, rep.cell, plan), like=rep))
