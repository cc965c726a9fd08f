"""``rig quickstart``: see rigml end to end on data it generates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def quickstart(
    path: Path | None = typer.Option(
        None, "--path", "-p", help="Folder to work in (default: a new temporary folder)."
    ),
) -> None:
    """Create a lab, train a small model with four settings, track and compare the runs."""
    from rigml.cli import _ui
    from rigml.cli.runs import compare, list_
    from rigml.quickstart import run_quickstart

    _ui.write("[bold]rig quickstart[/]: a private ML lab on this machine, end to end\n")
    result = run_quickstart(path, progress=lambda msg: _ui.write(f"  • {msg}", markup=False))
    from rigml.cli import _state

    _state.lab_path = result.lab_path
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
    from rich.markup import escape

    for r in notable:
        _ui.write(f"  {_ui.status(r.status)} {escape(r.id)}: {escape(r.summary)}", soft_wrap=True)
    if result.fit:
        _fit_table(result.fit)
    _ui.write("\n[bold]2. Tracked runs[/] (rig runs list)")
    list_(where=None, sort="-metrics.val/acc", limit=10, experiment="quickstart", json_out=False)
    worst = result.run_ids[0] if result.run_ids[0] != result.best_run else result.run_ids[1]
    _ui.write(
        f"\n[bold]3. Best against another[/] (rig runs compare {result.best_run[:8]} {worst[:8]})"
    )
    compare(runs=[result.best_run, worst], system=False, json_out=False)
    if result.plot:
        _ui.write(f"\n[bold]4. Learning curves[/]: {escape(str(result.plot))}")
    # -- data step: versioned dataset, its files, and a contract check (rig data) --
    if result.data is not None:
        from rigml.cli.data import check as data_check
        from rigml.cli.data import show as data_show

        ref = result.data.version.ref
        _ui.write(f"\n[bold]Versioned data[/] (rig data show {ref})")
        data_show(ref=ref, limit=5, json_out=False)
        contract = result.data.contract_path
        _ui.write(
            f"\n[bold]Data contract[/] (rig data check {ref} --contract {escape(str(contract))})"
        )
        data_check(ref=ref, contract=contract, file=None, examples=3, json_out=False)
    if result.placement is not None:
        _placement(result.placement)
    for note in result.notes:
        _ui.write(note, markup=False)
    import shutil
    import sys

    rig = "rig" if shutil.which("rig") else str(Path(sys.executable).with_name("rig"))
    where = '"metrics.val/acc > 0.75"'
    _ui.write(f"\nTry: [bold]RIG_LAB={result.lab_path} {rig} runs list --where {where}[/]")


def _fit_table(reports: list[Any]) -> None:
    """Popular models on this machine and on a 24 GB card: what `rig fit` answers."""
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
    from rigml.plan.decide import DECISIONS

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
