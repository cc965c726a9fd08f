"""``rig init``: create a lab."""

from __future__ import annotations

from pathlib import Path

import typer


def init(
    path: Path | None = typer.Option(
        None, "--path", "-p", help="Folder of the new lab (default: ./.rig, or RIG_LAB)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Create a lab: rig.toml, a SQLite store and an object folder. Safe to run twice."""
    from rigml.cli import _ui
    from rigml.lab import init_lab

    lab, created = init_lab(path)
    if json_out:
        _ui.write_json({"path": str(lab.path), "created": created, "store": lab.store_url})
        return
    verb = "Created" if created else "Found existing"
    _ui.write(f"{verb} lab at [bold]{lab.path}[/]")
    _ui.write(f"  store:   {lab.store_url}", markup=False)
    _ui.write(f"  objects: {lab.objects.url}", markup=False)
    _ui.write(f"  config:  {lab.path / 'rig.toml'}", markup=False)
