"""``rig env``: capture the environment lock a run records, diff two, export one to rebuild it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rigml.machine.env_export import ExportFormat
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


class ExportChoice(StrEnum):
    """The formats of ``rig env export`` (mirrors :data:`rigml.machine.env_export.FORMATS`)."""

    requirements = "requirements"
    uv = "uv"
    dockerfile = "dockerfile"
    devcontainer = "devcontainer"


@app.command("export")
def export(
    run: str = typer.Argument(
        ...,
        help="A run id (or unique prefix), a run name, a file from `rig env capture -o`, or `now`.",
    ),
    fmt: ExportChoice = typer.Option(
        ExportChoice.requirements,
        "--format",
        "-f",
        help="requirements: pinned pip requirements; uv: a pyproject.toml for `uv sync`; "
        "dockerfile: an image on a base matching torch's CUDA build; devcontainer: "
        "devcontainer.json with its Dockerfile.",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write here (default: print the main file). dockerfile also writes "
        "rig-requirements.txt beside it; devcontainer takes a folder (e.g. .devcontainer) "
        "and writes all three files.",
    ),
) -> None:
    """Rebuild the environment a run recorded: pinned requirements, uv, Docker, devcontainer.

    Index packages are pinned name==version, VCS installs to their commit, and local or
    editable installs are listed as comments (they are on no index). A torch build from
    download.pytorch.org (+cpu, +cu124...) brings that index along.
    """
    from rigml.cli import _ui
    from rigml.machine.env_export import export_files, write_export

    kind: ExportFormat = fmt.value
    origin, env = _load_for_export(run)
    origin = "this environment, captured now" if origin == "now" else origin
    if output is None:
        typer.echo(next(iter(export_files(env, kind, origin=origin).values())), nl=False)
        return
    written = write_export(env, kind, output, origin=origin)
    _ui.write(f"wrote {', '.join(str(p) for p in written)} from {origin}", markup=False)


def _load_for_export(spec: str) -> tuple[str, dict[str, Any]]:
    """A lock from ``now``, a file, or a run by id, prefix or name (unlike diff, names too)."""
    from rigml.cli import _state
    from rigml.track.environment import NOW, load_environment, run_environment

    if spec == NOW or Path(spec).exists() or spec.endswith(".json"):
        return load_environment(None, spec)
    from rigml.track.queries import get_run

    lab = _state.open_lab()
    try:
        info = get_run(lab, spec)
        return f"run {info.id[:8]} ({info.name})", run_environment(lab, info.id)
    finally:
        lab.close()


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
