"""``rig quickstart``: see rigml end to end on data it generates."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer


def _esc(text: str) -> str:
    """Rich markup escaped; rich loads only when the command runs, not at `rig --help`."""
    from rich.markup import escape

    return escape(text)


def quickstart(
    path: Path | None = typer.Option(
        None, "--path", "-p", help="Folder to work in (default: a new temporary folder)."
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Keep the temporary folder (and its lab) and print where it is."
    ),
) -> None:
    """Create a lab, train a small model with four settings, track and compare the runs,
    version the data, and run a small pipeline (rig.yaml) with gates three times."""
    from rigml.cli import _ui
    from rigml.quickstart import run_quickstart

    temporary = path is None
    root = Path(tempfile.mkdtemp(prefix="rig-quickstart-")) if path is None else path
    try:
        _ui.write("[bold]rig quickstart[/]: a private ML lab on this machine, end to end\n")
        result = run_quickstart(root, progress=lambda msg: _ui.write(f"  • {msg}", markup=False))
        _show(result)
    finally:
        if temporary and not keep:
            shutil.rmtree(root, ignore_errors=True)
    if temporary and not keep:
        _ui.write(
            "\n[dim]The temporary lab (and its plot) was removed: "
            "`rig quickstart --keep` keeps it, `rig quickstart --path DIR` works in DIR.[/]"
        )
        return
    rig = "rig" if shutil.which("rig") else str(Path(sys.executable).with_name("rig"))
    where = '"metrics.val/acc > 0.75"'
    _ui.write(f"\nThe lab is kept at [bold]{_esc(str(result.lab_path))}[/]")
    _ui.write(f"Try: [bold]RIG_LAB={_esc(str(result.lab_path))} {rig} runs list --where {where}[/]")
    if result.pipeline is not None:
        folder = _esc(str(result.pipeline.rig_yaml.parent))
        _ui.write(f"     [bold]cd {folder} && {rig} status && {rig} dag[/]")
    if result.registry is not None:
        _ui.write(f"     [bold]{rig} models lineage churn@production[/]")


def _show(result: Any) -> None:
    """Each step's result as the command that answers it would print it."""
    from rigml.cli import _state, _ui

    _state.lab_path = result.lab_path
    _machine(result)
    _runs(result)
    if result.data is not None:
        _data(result.data)
    if result.pipeline is not None:
        _pipeline(result.pipeline)
    if result.registry is not None:
        _registry(result.registry)
    if result.serving is not None:
        _serving(result.serving)
    if result.placement is not None:
        _placement(result.placement)
    for note in result.notes:
        _ui.write(note, markup=False)


def _machine(result: Any) -> None:
    """This machine's archetype and its doctor's warnings (rig machine, rig doctor)."""
    from rigml.cli import _ui

    _ui.write("\n[bold]1. This machine[/] (rig machine, rig doctor)")
    prof = result.machine
    _ui.table(
        ["", "band", "why"],
        [
            ["archetype", prof.archetype, prof.reason],
            *([b.resource, b.band, b.reason] for b in (prof.ram, prof.vram, prof.storage)),
        ],
    )
    notable = [r for r in result.doctor.results if r.status in ("warn", "fail")]
    for r in notable:
        _ui.write(f"  {_ui.status(r.status)} {_esc(r.id)}: {_esc(r.summary)}", soft_wrap=True)
    if result.fit:
        _fit_table(result.fit)


def _runs(result: Any) -> None:
    """The sweep (rig runs list), the best run against another (rig runs compare), the plot."""
    from rigml.cli import _ui
    from rigml.cli.runs import compare, list_

    _ui.write("\n[bold]2. Tracked runs[/] (rig runs list)")
    list_(where=None, sort="-metrics.val/acc", limit=10, experiment="quickstart", json_out=False)
    worst = result.run_ids[0] if result.run_ids[0] != result.best_run else result.run_ids[1]
    _ui.write(
        f"\n[bold]3. Best against another[/] (rig runs compare {result.best_run[:8]} {worst[:8]})"
    )
    compare(runs=[result.best_run, worst], system=False, json_out=False)
    if result.plot:
        _ui.write(f"\n[bold]4. Learning curves[/]: {_esc(str(result.plot))}")


def _data(step: Any) -> None:
    """The versioned dataset, its files, and a contract check (rig data show, rig data check)."""
    from rigml.cli import _ui
    from rigml.cli.data import check as data_check
    from rigml.cli.data import show as data_show

    ref = step.version.ref
    _ui.write(f"\n[bold]Versioned data[/] (rig data show {ref})")
    data_show(ref=ref, limit=5, json_out=False)
    contract = step.contract_path
    _ui.write(f"\n[bold]Data contract[/] (rig data check {ref} --contract {_esc(str(contract))})")
    data_check(ref=ref, contract=contract, file=None, examples=3, json_out=False)


def _fit_table(reports: list[Any]) -> None:
    """Popular models on this machine and on a 24 GiB card: what `rig fit` answers."""
    from rigml.cli import _ui

    here = reports[0].results[0].target.name
    _ui.write(f"\n[bold]What fits[/] (rig fit MODEL; first target: {here})")
    from rigml.cli.fit import verdict

    rows = []
    for r in reports:
        req = r.request
        how = (
            req.task
            + (f" {req.quant}" if req.quant else "")
            + (" +gc" if req.gradient_checkpointing else "")
        )
        verdicts = [verdict(x.verdict.status, x.verdict.label) for x in r.results]
        fix = next((m for m in r.mitigations if m.status == "comfortable"), r.combined)
        rows.append(
            [
                r.model.name,
                how,
                f"{r.estimate.total / 2**30:.1f} GiB",
                *verdicts,
                f"{fix.action} ({fix.total_bytes / 2**30:.1f} GiB)" if fix else "-",
            ]
        )
    names = [x.target.name for x in reports[0].results]
    _ui.table(["model", "task", "needs", *names, "cheapest fix (first target)"], rows)


def _placement(step: Any) -> None:
    """Where two workloads should run, and when a GPU pays back: `rig plan`, `rig cost`."""
    from rich.markup import escape

    from rigml.cli import _ui
    from rigml.plan.rules import DECISIONS

    _ui.write(
        "\n[bold]Placement and cost[/] (rig plan -w coding-assistant -w lora-finetune:weekly)"
    )
    _ui.table(
        ["workload", "h/month", "first bottleneck", "decision", "rule"],
        [
            [
                w.assessment.workload.label,
                f"{w.assessment.workload.hours_per_month:,.0f}",
                w.assessment.first.constraint if w.assessment.first else "-",
                DECISIONS[w.decision],
                w.outcome.rule,
            ]
            for w in step.plan.workloads
        ],
    )
    t = step.tco
    offer = f"{t.offer.provider} {t.offer.instance}" if t.offer else "no cloud offer"
    be = "-" if t.break_even_month is None else f"month {t.break_even_month:.1f}"
    _ui.write(
        f"rig cost --gpu {escape(str(t.local_gpu))} -u 0.25: against {escape(offer)}, "
        f"break-even {be} (estimate)",
        soft_wrap=True,
    )
    _ui.write(f"[dim]{escape(t.prices_line)}[/]", soft_wrap=True)


def _pipeline(step: Any) -> None:
    """The project's three `rig run`s side by side, the plan after the change, the gates."""
    from rigml.cli import _ui
    from rigml.cli.gates import show as gates_show

    folder = step.rig_yaml.parent
    _ui.write(f"\n[bold]Pipeline[/] (rig run, in {_esc(str(folder))}: rig.yaml, params.yaml)")

    def cell(result: Any) -> str:
        return f"ran {_ui.duration(result.seconds)}" if result.action == "ran" else result.action

    rows = [
        [a.name, cell(a), cell(b), cell(c)]
        for a, b, c in zip(step.first.stages, step.second.stages, step.third.stages, strict=True)
    ]
    _ui.table(["stage", "rig run", "rig run again", f"after {step.change}"], rows)
    if all(s.state == "up to date" for s in step.unchanged):
        _ui.write("Before the second run, rig status said: everything is up to date", markup=False)
    _ui.write(f"After changing {step.change}, rig run --dry planned:", markup=False)
    for s in step.plan:
        verb = "will run — " + "; ".join(s.reasons) if s.stale else "skip"
        _ui.write(f"  {s.name}: {verb}", markup=False)
    _ui.write(f"Reran: {', '.join(step.reran)}; the rest stayed cached.", markup=False)
    if step.sweep is not None:
        _sweep(step.sweep)
    if step.gates is not None:
        _ui.write(f"\n[bold]Gates of the gate stage[/] (rig gates show {step.gates.run_id[:12]})")
        gates_show(run=step.gates.run_id, json_out=False)


def _registry(step: Any) -> None:
    """The best candidate registered, its two promotions with their gates, its lineage."""
    from rigml.cli import _lineage_view, _ui
    from rigml.cli.models import _move_line

    v = step.version
    _ui.write(
        f"\n[bold]Registry[/] (rig models register {v.run_id[:12]} --artifact release/model "
        f"--name churn; rig models promote churn {v.version} --to staging, production)"
    )
    for i, done in enumerate(step.promotions):
        if done.gates is not None and i == 0:
            _ui.write(done.gates.table(), markup=False)
        elif done.gates is not None:  # the same rules again: one line, not the table
            verdict = "pass" if done.gates.passed else "FAIL"
            _ui.write(f"the gate stage's {len(done.gates.results)} rules, re-judged: {verdict}")
        _ui.write(_move_line(done.move), markup=False)
    _ui.write("\n[bold]Lineage[/] (rig models lineage churn@production)")
    _lineage_view.render(step.lineage)
    files = ", ".join(str(p) for p in (step.mermaid, step.diagram) if p is not None)
    _ui.write(f"diagram: {_esc(files)}")
    _ui.write(
        f"rigml.load_model('churn@production').predict(3 validation rows) -> {step.predictions}",
        markup=False,
    )
    a = step.audit
    verdict = "intact" if a.ok else f"NOT intact at entry {a.bad_seq}"
    _ui.write(
        f"[bold]Audit[/] (rig audit verify): {a.size} entries, {verdict}, root {a.root[:16]}…"
    )


def _serving(step: Any) -> None:
    """The model served over HTTP, and what its prediction log kept."""
    from rigml.cli import _ui

    _ui.write(f"\n[bold]Serving[/] (rig serve churn@production, on {_esc(step.url)})")
    _ui.write(
        f"{step.requests} single-row requests to POST /v1/models/churn/predict, answered by "
        f"v{step.version}, median {step.p50_ms:.1f} ms; feedback sent for one in three",
        markup=False,
    )
    _ui.write(
        f"Prediction log (rig predictions list --model churn): {step.logged} rows, "
        f"{step.with_feedback} joined with their feedback",
        markup=False,
    )


def _sweep(report: Any) -> None:
    """The grid over train.C: each trial a tracked run of the train stage."""
    from rigml._quickstart_project import SWEEP_PARAM
    from rigml.cli import _ui

    _ui.write(
        f"\n[bold]Sweep[/] (rig sweep train --param {_esc(SWEEP_PARAM)} "
        f"--metric {report.metric} --direction max --sampler grid --jobs 2)"
    )
    rows = [
        [t.number, ", ".join(f"{k}={v}" for k, v in t.params.items()), t.value, t.state]
        for t in report.trials
    ]
    _ui.table(["trial", "params", report.metric, "state"], rows)
