"""``rig data``: versioned datasets, contracts and profiles."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from rigml._units import format_bytes

if TYPE_CHECKING:
    from rigml.data import FileEntry, RunUsage, StoredCheck, VersionInfo
    from rigml.data._checkout import LinkMode

app = typer.Typer(
    help=(
        "Versioned datasets without putting data in git, and contracts that catch bad data "
        "before training. Versions are NAME@3, NAME@latest or NAME@TAG."
    ),
    no_args_is_help=True,
)
contract_app = typer.Typer(help="Propose a contract from the data.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")

_JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")
_REF = typer.Argument(..., help="NAME, NAME@3, NAME@latest or NAME@TAG.")


_PHASES = {
    "scan": "scanning",
    "hash": "hashing",
    "inspect": "reading tables",
    "register": "registering",
    "checkout": "writing files",
    "verify": "re-hashing",
    "check": "checking rows",
    "profile": "profiling",
}


@contextlib.contextmanager
def _progress() -> Iterator[Any]:
    """A progress bar on stderr for long work; silent when stderr is not a terminal."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from rigml.cli import _ui

    console = _ui.err_console()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(_PHASES.get(phase, phase), total=total or None)
        bar.update(tasks[phase], completed=done, total=total or None)

    with bar:
        yield update


@app.command("add")
def add(
    path: Path = typer.Argument(..., help="A file or a folder to snapshot."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset name."),
    message: str | None = typer.Option(None, "--message", "-m", help="Why this version."),
    no_inspect: bool = typer.Option(
        False, "--no-inspect", help="Store tabular files as bytes, without reading schemas."
    ),
    allow_mixed: bool = typer.Option(
        False, "--allow-mixed-schemas", help="Accept tables of one folder with other columns."
    ),
    json_out: bool = _JSON,
) -> None:
    """Snapshot a file or folder as the next version of NAME (content stored once)."""
    import rigml.data
    from rigml.cli import _state, _ui

    lab = _state.open_lab()
    with _progress() as progress:
        res = rigml.data.add(
            lab,
            path,
            name=name,
            message=message,
            inspect=not no_inspect,
            allow_mixed_schemas=allow_mixed,
            progress=progress,
        )
    if json_out:
        _ui.write_json(res)
        return
    v = res.version
    if res.created:
        change = f"+{v.added} ~{v.changed} -{v.removed} files" if v.version > 1 else "new"
        stored = f"{res.stored} new objects ({format_bytes(res.stored_bytes)})"
        _ui.write(
            f"[bold]{v.ref}[/]: {res.files} files, {format_bytes(v.bytes)} ({change}); "
            f"stored {stored} in {res.seconds:.2f}s",
        )
    else:
        _ui.write(f"unchanged: the content is already [bold]{v.ref}[/] ({res.seconds:.2f}s)")
    _ui.write(
        f"[dim]{res.hashed} files hashed, {res.cached} known from the stat cache[/]",
    )


@app.command("list")
def list_(json_out: bool = _JSON) -> None:
    """Every dataset with its latest version."""
    import rigml.data
    from rigml.cli import _state, _ui

    items = rigml.data.list_datasets(_state.open_lab())
    if json_out:
        _ui.write_json(items)
        return
    if not items:
        _ui.write("no datasets yet: add one with `rig data add PATH --name NAME`")
        return
    _ui.table(
        ["name", "latest", "versions", "files", "size", "added", "tags"],
        [
            [
                d.name,
                f"@{d.latest}",
                d.versions,
                d.files,
                format_bytes(d.bytes),
                _ui.when(d.latest_at, short=True),
                ", ".join(f"{t}→@{v}" for t, v in sorted(d.tags.items())) or None,
            ]
            for d in items
        ],
    )


@app.command("show")
def show(
    ref: str = _REF,
    limit: int = typer.Option(50, "--limit", "-n", help="Files to list (0: all)."),
    json_out: bool = _JSON,
) -> None:
    """One version: files, sizes, tabular schemas and rows, runs that used it, checks."""
    import rigml.data
    from rigml.cli import _state, _ui

    lab = _state.open_lab()
    info = rigml.data.resolve(lab, ref)
    files = rigml.data.version_files(lab, info)
    used = rigml.data.runs_using(lab, info)
    checks = rigml.data.checks_of(lab, info)
    if json_out:
        data = info.to_dict()
        data["file_list"] = [f.to_dict() for f in files]
        data["runs"] = [u.to_dict() for u in used]
        data["checks"] = [c.to_dict() for c in checks]
        _ui.write_json(data)
        return
    _show_version(info)
    _show_files(files, limit)
    if used:
        _show_runs(used)
    if checks:
        _show_checks(checks)


def _show_version(info: VersionInfo) -> None:
    from rigml.cli import _ui

    _ui.table(
        ["field", "value"],
        [
            ["version", info.ref],
            ["tags", ", ".join(info.tags) or None],
            ["added", f"{_ui.when(info.created_at)} by {info.user or '-'} on {info.host or '-'}"],
            ["message", info.message],
            ["source", info.source],
            ["files", f"{info.files} ({format_bytes(info.bytes)})"],
            ["changes", f"+{info.added} ~{info.changed} -{info.removed} files vs previous"],
        ],
        title=info.ref,
    )


def _show_files(files: list[FileEntry], limit: int) -> None:
    from rigml.cli import _ui

    shown = files if limit == 0 else files[:limit]
    _ui.table(
        ["file", "size", "rows", "columns", "object"],
        [
            [
                f.path,
                format_bytes(f.size),
                f.tabular["rows"] if f.tabular else None,
                _schema_text(f.tabular) if f.tabular else None,
                f.object[:12],
            ]
            for f in shown
        ],
        title="files" + (f" (first {limit} of {len(files)})" if len(shown) < len(files) else ""),
    )


def _show_runs(used: list[RunUsage]) -> None:
    from rigml.cli import _ui

    _ui.table(
        ["run", "name", "experiment", "status", "used"],
        [
            [u.run_id[:8], u.run_name, u.experiment, _ui.status(u.status), _ui.when(u.used_at)]
            for u in used
        ],
        title="used by runs",
    )


def _show_checks(checks: list[StoredCheck]) -> None:
    from rigml.cli import _ui

    _ui.table(
        ["checked", "result", "failed", "checks", "contract"],
        [
            [
                _ui.when(c.created_at),
                _ui.status("pass" if c.passed else "fail"),
                c.failed,
                c.checks,
                c.contract_object[:12],
            ]
            for c in checks
        ],
        title="contract checks",
    )


def _schema_text(meta: dict[str, Any]) -> str:
    cols = [f"{c['name']}:{c['type']}" for c in meta.get("columns", [])]
    return ", ".join(cols[:8]) + (f" +{len(cols) - 8} more" if len(cols) > 8 else "")


@app.command("log")
def log_(name: str = typer.Argument(..., help="Dataset name."), json_out: bool = _JSON) -> None:
    """Every version of NAME, newest first."""
    import rigml.data
    from rigml.cli import _state, _ui

    versions = rigml.data.history(_state.open_lab(), name)
    if json_out:
        _ui.write_json(versions)
        return
    _ui.table(
        ["version", "added", "files", "size", "changes", "tags", "message"],
        [
            [
                f"@{v.version}",
                _ui.when(v.created_at, short=True),
                v.files,
                format_bytes(v.bytes),
                f"+{v.added} ~{v.changed} -{v.removed}",
                ", ".join(v.tags) or None,
                v.message,
            ]
            for v in versions
        ],
        title=name,
    )


@app.command("diff")
def diff(
    a: str = typer.Argument(..., help="The older version, e.g. churn@2."),
    b: str = typer.Argument(..., help="The newer version, e.g. churn@3 or churn@latest."),
    no_rows: bool = typer.Option(False, "--no-rows", help="Skip the row-by-row comparison."),
    json_out: bool = _JSON,
) -> None:
    """Files added, removed and changed; rows, schema and statistics of tables."""
    import rigml.data
    from rigml.cli import _state, _ui

    d = rigml.data.diff(_state.open_lab(), a, b, rows=not no_rows)
    if json_out:
        _ui.write_json(d)
        return
    changes = [*d.added, *d.removed, *d.changed]
    if not changes:
        _ui.write(f"{d.a} and {d.b} hold the same files ({d.unchanged})")
        return
    style = {"added": "green", "removed": "red", "changed": "yellow"}
    _ui.table(
        ["file", "change", "size", "rows", "rows +/-"],
        [
            [
                c.path,
                _ui.Styled(f"[{style[c.status]}]{c.status}[/]"),
                f"{format_bytes(c.size_a)} → {format_bytes(c.size_b)}",
                f"{c.table.rows_a} → {c.table.rows_b}" if c.table else None,
                f"+{c.table.rows_added} -{c.table.rows_removed}"
                if c.table and c.table.rows_added is not None
                else None,
            ]
            for c in changes
        ],
        title=f"{d.a} → {d.b} ({d.unchanged} files unchanged)",
    )
    for c in d.changed:
        t = c.table
        if t is None:
            continue
        rows: list[list[Any]] = []
        rows += [["column added", col, None, None] for col in t.columns_added]
        rows += [["column removed", col, None, None] for col in t.columns_removed]
        rows += [["type", x["column"], x["a"], x["b"]] for x in t.type_changes]
        rows += [[x["stat"], x["column"], x["a"], x["b"]] for x in t.stat_changes]
        if rows:
            _ui.table(["what", "column", d.a, d.b], rows, title=f"{c.path}: schema and statistics")


@app.command("checkout")
def checkout(
    ref: str = _REF,
    dest: Path = typer.Argument(..., help="Folder (or file, for a one-file dataset) to write."),
    link: str = typer.Option(
        "auto",
        "--link",
        help="auto (reflink where the filesystem can, else copy), reflink, copy, or hardlink "
        "(instant, but shares bytes with the lab: editing a checked-out file, e.g. as root, "
        "corrupts the stored object).",
    ),
    json_out: bool = _JSON,
) -> None:
    """Write the files of a version to DEST: complete, or not at all."""
    import rigml.data
    from rigml.cli import _state, _ui
    from rigml.errors import InvalidInput

    modes: dict[str, LinkMode] = {m: m for m in ("auto", "reflink", "hardlink", "copy")}
    mode = modes.get(link)
    if mode is None:
        raise InvalidInput(
            f"--link must be auto, reflink, hardlink or copy, got {link!r}", hint="--link copy"
        )
    with _progress() as progress:
        res = rigml.data.checkout(_state.open_lab(), ref, dest, link=mode, progress=progress)
    if json_out:
        _ui.write_json(res)
        return
    how = ", ".join(f"{n} by {m}" for m, n in sorted(res.methods.items()))
    _ui.write(
        f"{res.ref} → {res.dest}: {res.files} files, {format_bytes(res.bytes)} ({how})",
        markup=False,
    )


@app.command("tag")
def tag(
    ref: str = _REF,
    name: str = typer.Argument(..., help="Tag, e.g. golden or prod-2024-06."),
    delete: bool = typer.Option(False, "--delete", "-d", help="Remove the tag instead."),
    json_out: bool = _JSON,
) -> None:
    """Point a tag at a version (moving it if it exists); address it as NAME@TAG."""
    import rigml.data
    from rigml.cli import _state, _ui

    info = rigml.data.tag(_state.open_lab(), ref, name, delete=delete)
    if json_out:
        _ui.write_json(info)
        return
    if delete:
        _ui.write(f"removed tag {name} from {info.ref}", markup=False)
    else:
        _ui.write(f"{info.name}@{name} → {info.ref}", markup=False)


@app.command("verify")
def verify(
    ref: str | None = typer.Argument(None, help="One version (default: every object)."),
    json_out: bool = _JSON,
) -> None:
    """Re-hash stored objects; report any corrupted or missing one. Exit 1 if any."""
    import rigml.data
    from rigml.cli import _state, _ui

    with _progress() as progress:
        report = rigml.data.verify(_state.open_lab(), ref, progress=progress)
    if json_out:
        _ui.write_json(report)
    elif report.ok:
        _ui.write(f"ok: {report.checked} objects ({format_bytes(report.bytes)}) match their hashes")
    else:
        _ui.table(
            ["object", "problem", "used by"],
            [
                [
                    p.object[:16],
                    _ui.status("fail") if p.problem == "corrupted" else p.problem,
                    "; ".join(p.used_by[:4]) + (" ..." if len(p.used_by) > 4 else ""),
                ]
                for p in report.problems
            ],
            title=f"{len(report.problems)} of {report.checked} objects are damaged",
        )
        _ui.write("restore them from a backup, or re-add the data they came from")
    if not report.ok:
        raise typer.Exit(1)


@app.command("gc")
def gc(
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would be freed."),
    grace: str = typer.Option(
        "1h",
        "--grace",
        help="Keep unreferenced objects younger than this: 30m, 1h, 2d, or seconds.",
    ),
    json_out: bool = _JSON,
) -> None:
    """Remove objects no dataset version, run or other record references."""
    import rigml.data
    from rigml._units import format_duration
    from rigml.cli import _state, _ui
    from rigml.errors import InvalidInput

    if json_out and not (yes or dry_run):
        raise InvalidInput(
            "--json cannot ask for confirmation", hint="add --yes to delete, or --dry-run"
        )
    grace_s = _duration(grace, "--grace")
    lab = _state.open_lab()
    plan = rigml.data.plan_gc(lab, grace_s=grace_s)
    n = len(plan.objects) + len(plan.temp_files)
    summary = (
        f"{len(plan.objects)} unreferenced objects and {len(plan.temp_files)} stale temporary "
        f"files: {format_bytes(plan.bytes)} to free ({plan.referenced} referenced objects kept"
        + (f", {plan.young} younger than {format_duration(grace_s)} kept" if plan.young else "")
        + ")"
    )
    if dry_run or n == 0:
        if json_out:
            _ui.write_json({"plan": plan.to_dict(), "deleted": None})
        else:
            _ui.write(summary if n else "nothing to collect")
        return
    if not json_out:
        _ui.write(summary)
    if not yes and not _ui.confirm("Delete them?"):
        _ui.write("nothing deleted")
        raise typer.Exit(1)
    report = rigml.data.collect(lab, plan)
    if json_out:
        _ui.write_json({"plan": plan.to_dict(), "deleted": report.to_dict()})
        return
    _ui.write(
        f"removed {report.deleted} objects and {report.temp_files} temporary files, "
        f"freed {format_bytes(report.bytes_freed)}"
        + (f"; {report.kept} were referenced again and kept" if report.kept else "")
    )


def _duration(text: str, option: str) -> float:
    from rigml._units import parse_duration
    from rigml.errors import InvalidInput

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(f"{option}: {exc}", hint=f"e.g. {option} 30m, 1h or 3600") from exc


# -- contracts -------------------------------------------------------------------------------


@contract_app.command("infer")
def contract_infer(
    ref: str = _REF,
    output: Path | None = typer.Option(
        None, "--output", "--out", "-o", help="Write here, not stdout (its folder must exist)."
    ),
    file: str | None = typer.Option(
        None,
        "--file",
        help="One tabular file, or one table by folder and format (e.g. 'train/*.csv'); "
        "needed when the version holds several tables.",
    ),
) -> None:
    """Propose a contract (YAML) from the data: types, nulls, ranges, categories, rows."""
    import sys

    import rigml.data
    from rigml.cli import _state, _ui

    contract = rigml.data.infer_contract(_state.open_lab(), ref, file=file)
    text = rigml.data.contract_to_yaml(contract)
    if output is None:
        sys.stdout.write(text)
        return
    from rigml._output import write_output

    write_output(output, text)
    n = contract.count_checks()
    _ui.write(f"wrote {output}: {n} checks over {len(contract.columns)} columns", markup=False)


@app.command("check")
def check(
    ref: str = _REF,
    contract: Path = typer.Option(..., "--contract", "-c", help="Contract YAML file."),
    file: str | None = typer.Option(
        None,
        "--file",
        help="One tabular file, or one table by folder and format (e.g. 'train/*.csv'); "
        "needed when the version holds several tables.",
    ),
    examples: int = typer.Option(5, "--examples", help="Failing values shown per check."),
    json_out: bool = _JSON,
) -> None:
    """Validate a version against a contract (pandera); exit 1 when a check fails."""
    import rigml.data
    from rigml.cli import _state, _ui

    spec = rigml.data.load_contract(contract)
    with _progress() as progress:
        report = rigml.data.check(
            _state.open_lab(), ref, spec, file=file, examples=examples, progress=progress
        )
    if json_out:
        _ui.write_json(report)
    else:
        verdict = _ui.status("pass" if report.passed else "fail")
        _ui.write(
            f"{verdict} {report.ref}: {report.checks - report.failed} of {report.checks} checks "
            f"pass over {report.rows:,} rows ({report.seconds:.2f}s)"
        )
        if report.failures:
            _ui.table(
                ["check", "column", "failing rows", "what", "examples"],
                [
                    [
                        f.check,
                        f.column,
                        f.failing_rows,
                        f.detail,
                        "; ".join(_example(e) for e in f.examples),
                    ]
                    for f in report.failures
                ],
                title="failed checks",
            )
    if not report.passed:
        raise typer.Exit(1)


def _example(e: dict[str, Any]) -> str:
    where = f"{e['file']} row {e['row']}" if e.get("row") is not None else e.get("file") or ""
    return f"{e['value']!r}" + (f" ({where})" if where else "")


@app.command("profile")
def profile(
    ref: str = _REF,
    html: Path | None = typer.Option(
        None, "--html", help="Also write an HTML report here (its folder must exist)."
    ),
    file: str | None = typer.Option(
        None,
        "--file",
        help="One tabular file, or one table by folder and format (e.g. 'train/*.csv'); "
        "needed when the version holds several tables.",
    ),
    json_out: bool = _JSON,
) -> None:
    """Per-column statistics and histograms; optionally an HTML report with plots."""
    import rigml.data
    from rigml.cli import _state, _ui
    from rigml.data._profile_report import sparkline, write_html

    with _progress() as progress:
        prof = rigml.data.profile(_state.open_lab(), ref, file=file, progress=progress)
    if html is not None:
        write_html(prof, html)
    if json_out:
        _ui.write_json(prof)
        return
    _ui.table(
        ["column", "type", "nulls", "distinct", "min", "max", "mean", "std", "histogram / top"],
        [
            [
                c.name,
                c.type,
                f"{c.null_rate:.1%}",
                c.distinct if c.distinct is not None else None,
                c.min,
                c.max,
                c.mean,
                c.std,
                sparkline(c.histogram)
                if c.histogram
                else ", ".join(f"{k} {v}" for k, v in list(c.top.items())[:3]) or None,
            ]
            for c in prof.columns
        ],
        title=f"{prof.ref}: {prof.rows:,} rows",
    )
    if html is not None:
        _ui.write(f"wrote {html}", markup=False)
