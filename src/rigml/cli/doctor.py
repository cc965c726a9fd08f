"""``rig doctor``: health checks of this machine for ML work, each with evidence and a fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rigml.machine.doctor import CheckResult, DoctorReport

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def doctor(
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    explain: str | None = typer.Option(
        None,
        "--explain",
        metavar="CHECK",
        help="Say what one check looks at, why it matters, its thresholds and fix; then run it.",
    ),
    only: list[str] | None = typer.Option(
        None,
        "--check",
        "-c",
        metavar="CHECK",
        help="Run only this check, or a group such as 'gpu' (repeatable).",
    ),
) -> None:
    """Check this machine for what slows or breaks ML work: disk, caches, memory, GPU, Python.

    Each check says pass, warn, fail or skip (with the reason), shows its evidence and a fix.
    Exits with 1 when any check fails, so it can gate a CI job.
    """
    from rigml.cli import _ui
    from rigml.machine.doctor import get_check, run_checks

    if explain is not None:
        check = get_check(explain)
        report = run_checks(only=[check.id])
        result = report.results[0]
        if json_out:
            doc = {"id": check.id, "title": check.title, "doc": check.doc()}
            _ui.write_json({**doc, "result": result.to_dict()})
        else:
            _explain(check.id, check.title, check.doc(), result)
        if report.failed:
            raise typer.Exit(1)
        return

    report = run_checks(only=only)
    if json_out:
        _ui.write_json(report)
    else:
        _render(report)
    if report.failed:
        raise typer.Exit(1)


def _status(status: str) -> object:
    from rigml.cli._ui import Styled

    return Styled(f"[{_STYLE.get(status, 'white')}]{status}[/]")


def _render(report: DoctorReport) -> None:
    from rigml.cli import _ui

    rows = [[_status(r.status), r.id, r.summary, r.fix] for r in report.results]
    _ui.table(["status", "check", "summary", "fix"], rows)
    counts = report.counts
    parts = [
        f"[{_STYLE[s]}]{counts[s]} {s}[/]" for s in ("fail", "warn", "pass", "skip") if counts[s]
    ]
    _ui.write(f"{len(report.results)} checks in {report.elapsed_s:.1f} s: " + ", ".join(parts))
    if counts["fail"] or counts["warn"]:
        _ui.write("[dim]`rig doctor --explain CHECK` says what a check looks at and why[/]")


def _explain(check_id: str, title: str, doc: str, result: CheckResult) -> None:
    import json

    from rigml.cli import _ui

    _ui.write(f"[bold]{check_id}[/]: {title}")
    _ui.write()
    _ui.write(doc, markup=False)
    _ui.write()
    _ui.write("[bold]On this machine now[/]")
    _ui.table(["status", "summary", "fix"], [[_status(result.status), result.summary, result.fix]])
    if result.evidence:
        _ui.write("[bold]Evidence[/]")
        _ui.write(json.dumps(result.evidence, indent=2, default=str), markup=False)
