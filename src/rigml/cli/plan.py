"""``rig plan``: where the next months of work should run, and the staged upgrade plan."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.plan.staged import Plan
    from rigml.plan.workloads import Workload


def plan(
    workload: list[str] = typer.Option(
        [],
        "--workload",
        "-w",
        help="FAMILY[:FREQUENCY[:MODEL,...[:HOURS]]], e.g. lora-finetune:weekly:llama-3.1-8b:6 "
        "(HOURS per run; repeat; see --families). daily and N/day count working days.",
    ),
    file: Path | None = typer.Option(
        None,
        "--file",
        "-f",
        help="Workloads file (YAML/JSON): horizon_months (1-36), and workloads: a list of "
        "{family, frequency, hours, models, name}; a model is a name or {model: NAME, task, "
        "quant, context...} with `rig fit` settings. E.g. {horizon_months: 6, workloads: "
        "[{family: lora-finetune, frequency: weekly, hours: 6, models: [llama-3.1-8b]}]}",
    ),
    interactive: bool = typer.Option(
        False, "--interactive", "-i", help="Ask for each family: frequency, hours, models."
    ),
    horizon: int | None = typer.Option(
        None, "--months", help="Months the plan covers, 1-36 [default: the file's, else 6]."
    ),
    years: float = typer.Option(3.0, "--years", help="Depreciation period of hardware (<= 15)."),
    electricity: float | None = typer.Option(None, "--electricity", help="USD per kWh."),
    storage: float | None = typer.Option(
        None, "--storage-gb", help="Cloud storage kept all month (GB) [default: as rig cost, 200]."
    ),
    egress: float | None = typer.Option(
        None, "--egress-gb", help="Cloud egress a month (GB) [default: as rig cost, 50]."
    ),
    prices: Path | None = typer.Option(None, "--prices", help="Price file on top."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the plan (Markdown)."),
    explain: bool = typer.Option(False, "--explain", help="Print the decision rules and exit."),
    families: bool = typer.Option(False, "--families", help="List workload families and exit."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """For each workload: can this machine do it, its bottlenecks, the decision and its rule.

    Uses `rig machine`, the fit planner, the findings `rig watch` recorded in this lab and
    the lab's tracked run hours (when there is a lab).
    """
    if explain:
        return _explain(json_out)
    if families:
        return _families(json_out)
    from rigml.plan.staged import PlanInputs, make_plan

    chosen, file_horizon = _gather(workload, file, interactive)
    inputs = PlanInputs(
        horizon_months=horizon if horizon is not None else file_horizon,  # the flag wins
        years=years,
        electricity_usd_per_kwh=electricity,
        storage_gb=storage,
        egress_gb=egress,
        prices_path=prices,
    )
    _show(make_plan(chosen, inputs, lab=_lab_if_any()), output, json_out)


def _gather(flags: list[str], file: Path | None, interactive: bool) -> tuple[list[Workload], int]:
    """The workloads from the file, the -w flags and the prompts, in that order, and the
    file's horizon (6 months without one).

    Raises:
        InvalidWorkload: none given, or one is malformed (located in the file).
    """
    from rigml.errors import InvalidWorkload
    from rigml.plan.workloads import load_workloads, parse_flag

    chosen: list[Workload] = []
    months = 6
    if file is not None:
        chosen, months = load_workloads(file)
    chosen += [parse_flag(w) for w in flags]
    if interactive:
        chosen += _ask()
    if not chosen:
        raise InvalidWorkload(
            "list",
            "none given",
            hint="e.g. rig plan -w coding-assistant -w "
            "lora-finetune:weekly, rig plan -f work.yaml, or rig plan -i",
        )
    return chosen, months


def _lab_if_any() -> Lab | None:
    """The current lab, or ``None``: without one there are no recorded findings, and the
    plan says so."""
    from rigml.cli import _state
    from rigml.errors import RigError

    try:
        return _state.open_lab()
    except RigError:
        return None


def _show(result: Plan, output: Path | None, json_out: bool) -> None:
    """Write the Markdown file when asked for, then print JSON or the tables."""
    from rigml.cli import _ui

    if output is not None:
        from rigml._output import write_output

        write_output(output, result.markdown())
    if json_out:
        data = result.to_dict()
        data["output"] = str(output) if output else None
        _ui.write_json(data)
        return
    _render(result, output)


def _ask() -> list[Workload]:
    """Per family: how often it runs (Enter skips the family), then, optionally, hours per
    run and models (Enter keeps the family's defaults)."""
    from rigml.errors import RigError
    from rigml.plan.workloads import FAMILIES, parse_frequency, parse_hours, workload

    out = []
    for fam in FAMILIES.values():
        while True:
            answer = typer.prompt(
                f"{fam.title}: how often? (daily, weekly, monthly, continuous, 3/week; "
                "Enter to skip)",
                default="",
                show_default=False,
            ).strip()
            if not answer:
                break
            try:
                parse_frequency(answer, fam.name)
            except RigError as exc:
                typer.echo(f"  {exc.message}", err=True)
                continue
            hours = typer.prompt(
                f"  hours per run? (Enter: {fam.hours_per_run:g})", default="", show_default=False
            ).strip()
            models_text = ""
            if fam.gpu:
                default = ", ".join(m for m, _ in fam.models)
                models_text = typer.prompt(
                    f"  models, comma-separated? (Enter: {default})", default="", show_default=False
                ).strip()
            models = [m.strip() for m in models_text.split(",") if m.strip()] or None
            try:
                out.append(
                    workload(
                        fam.name,
                        answer,
                        hours=parse_hours(hours, fam.name),
                        models=models,
                    )
                )
                break
            except RigError as exc:
                typer.echo(f"  {exc.message}", err=True)
    return out


def _explain(json_out: bool) -> None:
    from rigml.cli import _ui
    from rigml.plan.rules import DECISIONS, RULES

    if json_out:
        _ui.write_json(
            {
                "rules": [
                    {"name": r.name, "question": r.question, "explanation": r.explanation}
                    for r in RULES
                ],
                "decisions": DECISIONS,
            }
        )
        return
    _ui.write("[bold]Decision rules[/], in order; the first that decides wins:\n")
    for i, r in enumerate(RULES, 1):
        _ui.write(f"[bold]{i}. {r.name}[/]: {r.question}")
        _ui.write("   " + " ".join(r.explanation.split()), markup=False, soft_wrap=True)
    _ui.write("\nDecisions: " + ", ".join(DECISIONS), markup=False)


def _families(json_out: bool) -> None:
    from rigml.cli import _ui
    from rigml.plan.workloads import FAMILIES

    rows = [
        [
            f.name,
            f.title,
            ", ".join(m for m, _ in f.models) or "-",
            f.frequency,
            f"{f.hours_per_run:g}",
            ", ".join(f.bottlenecks),
        ]
        for f in FAMILIES.values()
    ]
    if json_out:
        _ui.write_json(
            [
                dict(
                    zip(
                        ["name", "title", "models", "frequency", "hours_per_run", "bottlenecks"],
                        r,
                        strict=True,
                    )
                )
                for r in rows
            ]
        )
        return
    _ui.table(["family", "what", "typical models", "often", "h/run", "usual bottlenecks"], rows)


def _render(p: Plan, output: Path | None) -> None:
    from rich.markup import escape

    from rigml.cli import _ui
    from rigml.plan.rules import DECISIONS

    m = p.machine
    _ui.write(
        f"[bold]this machine[/]: {escape(m.profile.archetype)} ({escape(m.profile.reason)}); "
        f"{m.sessions} watch session(s), {len(m.findings)} finding(s)",
        soft_wrap=True,
    )
    rows = []
    for w in p.workloads:
        a = w.assessment
        rows.append(
            [
                a.workload.label,
                f"{a.workload.hours_per_month:,.0f}",
                "yes" if a.doable else "no",
                f"{a.first.constraint} ({a.first.source})" if a.first else "-",
                f"{a.second.constraint} ({a.second.source})" if a.second else "-",
                DECISIONS[w.decision],
                w.outcome.rule,
            ]
        )
    _ui.table(
        ["workload", "h/month", "can do now", "first bottleneck", "second", "decision", "rule"],
        rows,
    )
    for w in p.workloads:
        a = w.assessment
        _ui.write(f"\n[bold]{escape(a.workload.label)}[/]: {escape(w.outcome.action)}")
        for e in w.outcome.evidence:
            _ui.write(f"  • {escape(e)}", soft_wrap=True)
    _ui.write(f"\n[bold]Decision: {escape(DECISIONS[p.decision])}[/]")
    for s in p.stages:
        _ui.write(f"\n[bold]{escape(s.name)}[/]")
        for d in s.do:
            _ui.write(f"  • {escape(d)}", soft_wrap=True)
        _ui.write(f"  [dim]rule:[/] {escape(s.rule)}", soft_wrap=True)
        _ui.write(f"  [dim]would change it:[/] {escape(s.measure)}", soft_wrap=True)
    _ui.write(f"\n[dim]{escape(p.prices_line)}[/]")
    if output:
        _ui.write(f"plan written to {escape(str(output))}")
    else:
        _ui.write("[dim]rig plan --explain shows the rules; -o plan.md keeps this plan[/]")
