"""``rig audit``: read, verify and checkpoint the lab's tamper-evident log of changes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rigml.audit import AuditEntry, VerifyReport

app = typer.Typer(
    help=(
        "The tamper-evident audit log: who added, tagged, collected or deleted what, when "
        "and why. `rig audit verify` exits 1 naming the first entry changed behind rigml's back."
    ),
    no_args_is_help=True,
)


def _since(text: str) -> float:
    """``7d`` (that long ago) or a date/time (``2026-01-31``, ``2026-01-31T12:00``)."""
    from rigml._units import parse_when
    from rigml.errors import InvalidInput

    try:
        return parse_when(text)
    except ValueError as exc:
        raise InvalidInput(
            f"--since: {text!r} is neither a duration nor a date",
            hint="e.g. --since 7d, --since 12h or --since 2026-01-31",
        ) from exc


def _short(value: Any) -> str:
    import json

    if value is None:
        return "-"
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= 60 else text[:59] + "…"


@app.command("log")
def log(
    since: str | None = typer.Option(None, "--since", help="Only entries since: 7d, 12h, a date."),
    action: str | None = typer.Option(None, "--action", help="An action prefix: dataset., run."),
    subject: str | None = typer.Option(None, "--subject", help="Only entries about this subject."),
    user: str | None = typer.Option(None, "--user", help="Only entries by this actor."),
    model: str | None = typer.Option(
        None, "--model", help="Only the registry's entries about this model."
    ),
    n: int = typer.Option(50, "-n", min=1, help="At most this many entries, newest first."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List audit entries, newest first."""
    from rigml.audit import entries
    from rigml.cli import _state, _ui

    start = _since(since) if since else None
    lab = _state.open_lab()
    try:
        found = entries(
            lab, since=start, action=action, subject=subject, actor=user, model=model, limit=n
        )
    finally:
        lab.close()
    if json_out:
        _ui.write_json(found)
        return
    if not found:
        _ui.write("no audit entries match", markup=False)
        return
    columns = ("seq", "time", "actor", "action", "subject", "before", "after", "reason")
    rows = [_row(e) for e in found]
    _ui.table(columns, rows, title="audit log")


def _row(e: AuditEntry) -> tuple[Any, ...]:
    from rigml.cli import _ui

    before, after = _short(e.before), _short(e.after)
    return (e.seq, _ui.when(e.time), e.actor, e.action, e.subject, before, after, e.reason or "-")


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """A bar on stderr while a long log is checked; nothing when stderr is not a terminal."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from rigml.cli import _ui

    console = _ui.err_console()
    bar = Progress(
        TextColumn("checking audit entries"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f} of {task.total:,.0f}"),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task: list[Any] = []

    def update(_phase: str, done: int, total: int) -> None:
        if not task:
            task.append(bar.add_task("verify", total=total))
        bar.update(task[0], completed=done, total=total)

    with bar:
        yield update


@app.command("verify")
def verify(
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="A checkpoint file: also prove the log only grew since it."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Recompute every entry's hash and the tree head; exit 1 naming the first bad entry."""
    from rigml.audit import verify as run_verify
    from rigml.cli import _state, _ui
    from rigml.errors import AuditTampered

    lab = _state.open_lab()
    try:
        with _progress() as progress:
            report = run_verify(lab, checkpoint=checkpoint, progress=progress)
    finally:
        lab.close()
    if json_out:
        _ui.write_json(report)
        if not report.ok:
            raise typer.Exit(1)
        return
    if not report.ok:
        raise AuditTampered(report.bad_seq, report.detail or str(report.problem))
    _ui.write(_ok_line(report), markup=False)


def _ok_line(report: VerifyReport) -> str:
    line = f"{report.size} entries, root {report.root}"
    if report.checkpoint_size is not None:
        line += f"; consistent with the checkpoint of {report.checkpoint_size} entries"
    return line


@app.command("checkpoint")
def checkpoint(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the checkpoint JSON here (default: print it)."
    ),
    key: Path | None = typer.Option(
        None,
        "--key",
        envvar="RIG_AUDIT_KEY",
        help="The Ed25519 private key (default ~/.config/rigml/audit-ed25519.key, made once).",
    ),
) -> None:
    """Sign the log's tree head (size, root, time); keep the file away from this machine."""
    import json

    from rigml._output import write_output
    from rigml.audit import checkpoint as make_checkpoint
    from rigml.cli import _state, _ui

    lab = _state.open_lab()
    try:
        head = make_checkpoint(lab, key)
    finally:
        lab.close()
    text = json.dumps(head.to_dict(), indent=2) + "\n"
    if output is None:
        _ui.write(text.rstrip("\n"), markup=False)
        return
    write_output(output, text)
    _ui.write(f"checkpoint of {head.size} entries written to {output}", markup=False)
