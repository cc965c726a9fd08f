"""``rig gates``: judge a run by evaluation gates, store the report, show the latest one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rigml.gates import GateReport

app = typer.Typer(
    help=(
        "Evaluation gates: rules a candidate run must pass before promotion, e.g. "
        "'metrics.auc >= 0.85' or 'metrics.auc >= production - 1%'. `rig gates check` "
        "exits 1 when a gate fails."
    ),
    no_args_is_help=True,
)

_VERDICT_STYLE = {
    "pass": "[green]pass[/]",
    "fail": "[bold red]fail[/]",
    "no-reference": "[yellow]no-reference[/]",
}

_RULE_HELP = (
    "A rule: 'metrics.auc >= 0.85', 'metrics.auc >= production - 0.01', "
    "'metrics.auc >= production * 0.99', 'slices(metrics.auc, by=segment) >= overall - 0.05', "
    "'artifacts.size_mb <= 200'. Repeat for more."
)


@app.command("check")
def check(
    run: str = typer.Argument(..., help="The candidate run: an id, a unique prefix, or a name."),
    rules: list[str] = typer.Option([], "--rule", "-r", help=_RULE_HELP),
    file: Path | None = typer.Option(
        None, "--file", "-f", help="A YAML file of rules: a list, or a mapping with gates:."
    ),
    against: str | None = typer.Option(
        None,
        "--against",
        help="A run whose metrics stand for every alias (production...) in the rules.",
    ),
    require_reference: bool = typer.Option(
        False,
        "--require-reference",
        help="Fail a regression rule when no model holds its alias, instead of passing it.",
    ),
    store: bool = typer.Option(True, "--store/--no-store", help="Keep the report with the run."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Judge RUN by the gates and store the report; exit 1 when a gate fails.

    A rule naming a metric the run lacks is an error (exit 2), never a pass. When no
    run is given with --against, no model holds any alias: regression rules then pass
    as `no-reference` (a first deployment), unless --require-reference is given.
    """
    from rigml.cli import _state
    from rigml.gates import (
        RunReference,
        evaluate_gates,
        load_gates_file,
        parse_gates,
        store_gate_report,
    )

    gates = parse_gates(rules, where="--rule") + (load_gates_file(file) if file else [])
    if not gates:
        from rigml.errors import InvalidGate

        raise InvalidGate("rig gates check", "no rules given", hint="pass --rule RULE or --file")
    lab = _state.open_lab()
    try:
        reference = RunReference(lab, against) if against else None
        report = evaluate_gates(
            lab, run, gates, reference=reference, require_reference=require_reference
        )
        if store:
            store_gate_report(lab, report)
    finally:
        lab.close()
    _render(report, json_out)
    if not report.passed:
        raise typer.Exit(1)


@app.command("show")
def show(
    run: str = typer.Argument(..., help="A run: an id, a unique prefix, or a name."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show the newest stored gate report of RUN (exit 1 when it failed)."""
    from rigml.cli import _state
    from rigml.errors import NotFound
    from rigml.gates import latest_gate_report

    lab = _state.open_lab()
    try:
        report = latest_gate_report(lab, run)
    finally:
        lab.close()
    if report is None:
        raise NotFound(
            f"run {run} has no stored gate report",
            hint=f"evaluate it: `rig gates check {run} --rule 'metrics.auc >= 0.85'`",
        )
    _render(report, json_out)
    if not report.passed:
        raise typer.Exit(1)


def _render(report: GateReport, json_out: bool) -> None:
    from rigml.cli import _ui
    from rigml.gates._results import COLUMNS

    if json_out:
        _ui.write_json(report)
        return
    rows = [(*row[:4], _ui.Styled(_VERDICT_STYLE[row[4]]), row[5]) for row in report.rows()]
    _ui.table(COLUMNS, rows, title=f"gates of run {report.run_name} ({report.run_id[:12]})")
    verdict = "passed" if report.passed else "FAILED"
    stored = f"; stored as report {report.id}" if report.id is not None else ""
    _ui.write(f"{verdict}: {_summary(report)}{stored}", markup=False)


def _summary(report: GateReport) -> str:
    verdicts = [r.verdict for r in report.results]
    counts = {v: verdicts.count(v) for v in _VERDICT_STYLE if v in verdicts}
    return ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
