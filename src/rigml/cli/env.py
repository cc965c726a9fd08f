"""``rig env``: capture the environment lock a run records, and diff two of them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rigml.track.environment import EnvironmentDiff

app = typer.Typer(
    help=(
        "Environment locks: Python, packages and their sources, CUDA/driver/torch, "
        "environment variables (secrets redacted). `rig env diff RUN now` says why a run "
        "may not reproduce here."
    ),
    no_args_is_help=True,
)

_SPEC_HELP = "A file from `rig env capture -o`, a run id (or unique prefix), or `now`."


@app.command("capture")
def capture(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the lock to this file (default: print it)."
    ),
    env_vars: bool = typer.Option(
        True, "--env-vars/--no-env-vars", help="Record environment variables (secrets redacted)."
    ),
) -> None:
    """Capture this environment's lock as JSON: the same record a tracked run keeps."""
    from rigml.cli import _ui
    from rigml.machine.env import capture_environment

    env = capture_environment(include_env_vars=env_vars)
    if output is None:
        _ui.write_json(env)
        return
    from rigml.track.environment import save_environment

    dest = save_environment(env, output)
    python = (env.get("python") or {}).get("version", "?")
    _ui.write(
        f"wrote {dest}: Python {python}, {len(env.get('packages') or [])} packages",
        markup=False,
    )


@app.command("diff")
def diff(
    a: str = typer.Argument(..., help=_SPEC_HELP),
    b: str = typer.Argument(..., help=_SPEC_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    fail_on_breaking: bool = typer.Option(
        False,
        "--fail-on-breaking",
        help="Exit with status 1 when a difference commonly breaks reproducibility.",
    ),
) -> None:
    """Show what differs from environment A to B, flagging what commonly breaks reproducibility.

    Breaking: another Python minor, torch / tensorflow / jax version, torch CUDA build,
    numpy major, NVIDIA driver branch or CUDA driver version. Exits 0 even when the
    environments differ, unless --fail-on-breaking is given.
    """
    from rigml.cli import _state, _ui
    from rigml.track.environment import compare_environments, needs_lab

    lab = _state.open_lab() if needs_lab(a) or needs_lab(b) else None
    try:
        result = compare_environments(lab, a, b)
    finally:
        if lab is not None:
            lab.close()
    if json_out:
        _ui.write_json(result)
    else:
        _render(result)
    if fail_on_breaking and result.breaking:
        raise typer.Exit(1)


def _render(result: EnvironmentDiff) -> None:
    from rich.markup import escape

    from rigml.cli import _ui

    _ui.write(f"[bold]A[/] {escape(result.a)}  [bold]B[/] {escape(result.b)}")
    if not result.changes:
        _ui.write("[green]no differences[/]")
        return
    rows = []
    for c in result.changes:
        if c.breaking:
            name: object = _ui.Styled(f"[bold red]{escape(c.name)}[/]")
            note: object = _ui.Styled(f"[bold red]breaks reproducibility:[/] {escape(c.why or '')}")
        else:
            name, note = c.name, c.why
        rows.append([c.section, name, c.a, c.b, note])
    _ui.table(["section", "name", "A", "B", "note"], rows, title="environment differences")
    n, m = len(result.changes), len(result.breaking)
    summary = f"{n} difference{'s' if n != 1 else ''}, {m} that commonly break reproducibility"
    _ui.write(f"[bold red]{summary}[/]" if m else summary)
