"""``rig models``: register, inspect, promote, approve, roll back and trace model versions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rigml.registry import AliasMove, ModelVersion, Promotion

app = typer.Typer(
    help=(
        "The model registry: numbered versions of each model with their signature and "
        "lineage, aliases (staging, production, any name) moved through the gates, "
        "approvals, one-step rollback. Every change is in `rig audit log`."
    ),
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


@app.command("list")
def list_(json_out: bool = _JSON) -> None:
    """List the registered models with their newest version and aliases."""
    from rigml.cli import _state, _ui
    from rigml.registry import list_models

    lab = _state.open_lab()
    try:
        found = list_models(lab)
    finally:
        lab.close()
    if json_out:
        _ui.write_json(found)
        return
    if not found:
        _ui.write("no models yet: `run.log_model(model, name=...)` or `rig models register`")
        return
    rows = [
        (m.name, m.versions, m.latest or "-", _aliases(m.aliases), _ui.when(m.updated_at))
        for m in found
    ]
    _ui.table(("model", "versions", "latest", "aliases", "updated"), rows, title="models")


def _aliases(held: dict[str, int]) -> str:
    return ", ".join(f"{a}→v{v}" for a, v in sorted(held.items())) or "-"


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME (its versions), or NAME@3, NAME@production."),
    json_out: bool = _JSON,
) -> None:
    """Show a model's versions, or one version: its run, signature, files and aliases."""
    from rigml.cli import _state, _ui
    from rigml.registry import get_version, list_versions, version_files

    lab = _state.open_lab()
    try:
        if "@" not in ref:
            versions = list_versions(lab, ref)
            if json_out:
                _ui.write_json(versions)
                return
            rows = [_version_row(v) for v in versions]
            columns = ("version", "flavor", "aliases", "run", "size", "created", "by")
            _ui.table(columns, rows, title=f"model {ref}")
            return
        version = get_version(lab, ref)
        files = version_files(lab, version)
    finally:
        lab.close()
    if json_out:
        _ui.write_json({**version.to_dict(), "files": [f.__dict__ for f in files]})
        return
    _show_version(version, [(f.path, f.size) for f in files])


def _version_row(v: ModelVersion) -> tuple[Any, ...]:
    from rigml._units import format_bytes
    from rigml.cli import _ui

    run = v.run_id[:12] if v.run_id else "-"
    aliases = ", ".join(v.aliases) or "-"
    return (v.version, v.flavor, aliases, run, format_bytes(v.size), _ui.when(v.created_at),
            v.created_by)  # fmt: skip


def _show_version(v: ModelVersion, files: list[tuple[str, int]]) -> None:
    from rigml._units import format_bytes
    from rigml.cli import _ui

    lib = v.info.get("library")
    lines = [
        f"{v.ref}  {v.flavor}" + (f" ({lib} {v.info.get('library_version')})" if lib else ""),
        f"  aliases      {', '.join(v.aliases) or '-'}",
        f"  run          {v.run_id or '-'}" + (f"  ({v.source})" if v.source else ""),
        f"  created      {_ui.when(v.created_at)} by {v.created_by}",
        f"  fingerprint  {v.fingerprint}",
        f"  size         {format_bytes(v.size)} in {len(files)} file(s)",
    ]
    if v.info.get("pickle"):
        lines.append("  loading      needs trusted=True (pickle)")
    _ui.write("\n".join(lines), markup=False)
    signature = v.info.get("signature")
    if signature:
        _ui.write("  signature", markup=False)
        for side in ("inputs", "outputs"):
            for col in signature.get(side) or []:
                shape = col.get("shape")
                what = f"{col.get('type')}" + (f" {shape}" if shape else "")
                _ui.write(f"    {side[:-1]:<6} {col.get('name') or '-'}: {what}", markup=False)


@app.command("register")
def register(
    run: str = typer.Argument(..., help="The run that made the model: an id, prefix or name."),
    artifact: str = typer.Option(
        ..., "--artifact", "-a", help="The run's artifact: a package folder or one model file."
    ),
    name: str = typer.Option(..., "--name", "-n", help="The model name: churn, vision/resnet."),
    flavor: str | None = typer.Option(
        None, "--flavor", help="sklearn, onnx, torch, torchscript, xgboost, lightgbm, python."
    ),
    description: str | None = typer.Option(None, "--description", "-d", help="A note."),
    json_out: bool = _JSON,
) -> None:
    """Register RUN's artifact as the next version of NAME."""
    from rigml.cli import _state, _ui
    from rigml.registry import register_artifact

    lab = _state.open_lab()
    try:
        version = register_artifact(
            lab, run, artifact, name=name, flavor=flavor, description=description
        )
    finally:
        lab.close()
    if json_out:
        _ui.write_json(version)
        return
    _ui.write(f"registered {version.ref} ({version.flavor}) from run {run}", markup=False)


@app.command("download")
def download(
    ref: str = typer.Argument(..., help="NAME@3, NAME@production or NAME (the latest)."),
    out: Path = typer.Option(..., "--out", "-o", help="A new or empty folder."),
    force: bool = typer.Option(False, "--force", help="Replace what the folder holds."),
) -> None:
    """Copy a version's package (model files and rigmodel.json) into a folder."""
    from rigml.cli import _state, _ui
    from rigml.registry import download_model

    lab = _state.open_lab()
    try:
        where = download_model(lab, ref, out, force=force)
    finally:
        lab.close()
    _ui.write(f"{ref} -> {where}", markup=False)


@app.command("promote")
def promote(
    name: str = typer.Argument(..., help="The model."),
    version: str = typer.Argument(..., help="A version number, latest, or an alias (staging)."),
    to: str = typer.Option(..., "--to", help="The alias to move: staging, production, any name."),
    reason: str | None = typer.Option(None, "--reason", "-m", help="Why; recorded."),
    force: bool = typer.Option(
        False, "--force", help="Move it even when the gates fail (needs --reason; recorded)."
    ),
    rules: list[str] = typer.Option(
        [], "--rule", "-r", help="A gate rule instead of the stage's: 'metrics.auc >= 0.85'."
    ),
    gates_file: Path | None = typer.Option(None, "--gates", help="A YAML file of gate rules."),
    json_out: bool = _JSON,
) -> None:
    """Move alias --to onto VERSION once the gates that apply pass (exit 1 when they fail).

    The gates are the rules given here, else those stored with the version's run by its
    pipeline stage; regression rules compare with the current holder of their alias.
    """
    from rigml.cli import _state, _ui
    from rigml.gates import load_gates_file, parse_gates
    from rigml.registry import promote as run_promote

    gates = parse_gates(rules, where="--rule") + (load_gates_file(gates_file) if gates_file else [])
    lab = _state.open_lab()
    try:
        done = run_promote(
            lab, name, version, to=to, reason=reason, force=force, gates=gates or None
        )
    finally:
        lab.close()
    if json_out:
        _ui.write_json(done)
        return
    _promotion_lines(done)


def _promotion_lines(done: Promotion) -> None:
    from rigml.cli import _ui

    if done.move is None:
        _ui.write(f"{done.version.ref} already holds {done.alias}; nothing moved", markup=False)
        return
    if done.gates is not None:
        _ui.write(done.gates.table(), markup=False)
    elif done.move.action != "force":
        _ui.write("no gates apply to this version", markup=False)
    _ui.write(_move_line(done.move), markup=False)


def _move_line(m: AliasMove) -> str:
    before = f"v{m.from_version}" if m.from_version is not None else "nobody"
    after = f"v{m.to_version}" if m.to_version is not None else "nobody"
    line = f"{m.model}@{m.alias}: {before} -> {after} ({m.action} by {m.actor})"
    return line + (f": {m.reason}" if m.reason else "")


@app.command("approve")
def approve(
    name: str = typer.Argument(..., help="The model."),
    version: str = typer.Argument(..., help="The version number (or an alias holding it)."),
    alias: str = typer.Option("production", "--alias", help="The alias it may move to."),
    comment: str | None = typer.Option(None, "--comment", "-m", help="A note; recorded."),
    json_out: bool = _JSON,
) -> None:
    """Approve VERSION for an alias that rig.toml's [registry] approval protects."""
    from rigml.cli import _state, _ui
    from rigml.registry import approve as run_approve

    lab = _state.open_lab()
    try:
        done = run_approve(lab, name, version, alias=alias, comment=comment)
    finally:
        lab.close()
    if json_out:
        _ui.write_json(done)
        return
    _ui.write(f"{done.approver} approved {done.ref} for {done.alias}", markup=False)


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="The model."),
    alias: str = typer.Option("production", "--alias", help="The alias to give back."),
    reason: str | None = typer.Option(None, "--reason", "-m", help="Why; recorded."),
    json_out: bool = _JSON,
) -> None:
    """Give the alias back to the version that held it before; repeat to go further back."""
    from rigml.cli import _state, _ui
    from rigml.registry import rollback as run_rollback

    lab = _state.open_lab()
    try:
        move = run_rollback(lab, name, alias, reason=reason)
    finally:
        lab.close()
    if json_out:
        _ui.write_json(move)
        return
    _ui.write(_move_line(move), markup=False)


@app.command("unalias")
def unalias(
    name: str = typer.Argument(..., help="The model."),
    alias: str = typer.Argument(..., help="The alias to take off its version."),
    reason: str | None = typer.Option(None, "--reason", "-m", help="Why; recorded."),
) -> None:
    """Take an alias off whichever version holds it."""
    from rigml.cli import _state, _ui
    from rigml.registry import remove_alias

    lab = _state.open_lab()
    try:
        move = remove_alias(lab, name, alias, reason=reason)
    finally:
        lab.close()
    _ui.write(_move_line(move), markup=False)


@app.command("history")
def history(
    name: str = typer.Argument(..., help="The model."),
    alias: str | None = typer.Option(None, "--alias", help="Only this alias."),
    json_out: bool = _JSON,
) -> None:
    """Every alias move of a model: who, when, from, to, why, and the gates that let it."""
    from rigml.cli import _state, _ui
    from rigml.registry import alias_history

    lab = _state.open_lab()
    try:
        moves = alias_history(lab, name, alias)
    finally:
        lab.close()
    if json_out:
        _ui.write_json(moves)
        return
    rows = [
        (m.id, _ui.when(m.time), m.alias, _v(m.from_version), _v(m.to_version), m.action,
         m.actor, m.reason or "-", m.gate_report_id or "-", "yes" if m.undone_by else "")
        for m in moves
    ]  # fmt: skip
    columns = ("#", "time", "alias", "from", "to", "action", "by", "reason", "gates", "undone")
    _ui.table(columns, rows, title=f"alias history of {name}")


def _v(n: int | None) -> str:
    return "-" if n is None else f"v{n}"


@app.command("lineage")
def lineage(
    ref: str = typer.Argument(..., help="NAME@production, NAME@3 or NAME (the latest)."),
    mermaid: Path | None = typer.Option(
        None, "--mermaid", help="Write the diagram as Mermaid text to this file ('-': stdout)."
    ),
    png: Path | None = typer.Option(None, "--png", help="Write the diagram as a PNG here."),
    json_out: bool = _JSON,
) -> None:
    """Where a version came from (run, commit, data, contracts, environment, machine,
    gates) and where it went (aliases, approvals, services)."""
    from rigml.cli import _lineage_view, _state, _ui
    from rigml.registry import lineage as run_lineage
    from rigml.registry import render_png, to_mermaid

    if png is not None:
        from rigml._output import check_output_dir

        check_output_dir(png)
    lab = _state.open_lab()
    try:
        lin = run_lineage(lab, ref)
    finally:
        lab.close()
    if mermaid is not None:
        text = to_mermaid(lin.graph())
        if str(mermaid) == "-":
            _ui.write(text, markup=False)
        else:
            from rigml._output import write_output

            write_output(mermaid, text)
    if png is not None:
        render_png(lin.graph(), png)
    if json_out:
        _ui.write_json(lin)
    elif str(mermaid) != "-":
        _lineage_view.render(lin)
        if png is not None:
            _ui.write(f"diagram: {png}", markup=False)
