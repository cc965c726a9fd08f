"""``rig runs``: list, show, compare, plot, export and delete tracked runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rigml._units import format_bytes

if TYPE_CHECKING:
    from rigml.track.queries import RunInfo

app = typer.Typer(
    help=(
        "Inspect tracked runs. Filter with --where, e.g. "
        '"metrics.acc > 0.9 and params.lr = 0.01 and status = finished".'
    ),
    no_args_is_help=True,
)

_WHERE = typer.Option(
    None,
    "--where",
    "-w",
    help="Filter: metrics.K / params.K / tags.K / status / name / experiment / start_time / "
    "duration ... compared with = != < <= > >= like in; joined with and / or / not. "
    'Times and durations read naturally: "start_time > 2026-11-01 and duration > 10m".',
)
_JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
_GROUP_OF = {"metric": "metrics", "param": "params", "tag": "tags"}


@app.command("list")
def list_(
    where: str | None = _WHERE,
    sort: str | None = typer.Option(
        None,
        "--sort",
        "-s",
        help="Sort keys, comma-separated, '-' for descending: '-metrics.acc,name'. "
        "Keys: the --where fields (metrics.K, params.K, tags.K, name, start_time, duration...).",
    ),
    limit: int = typer.Option(20, "--limit", "-n", min=0, help="At most this many runs (0: all)."),
    experiment: str | None = typer.Option(None, "--experiment", "-e", help="Only this one."),
    json_out: bool = _JSON,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            "-c",
            help="Columns to show, e.g. 'id,name,status,metrics.acc'; 'params' or 'metrics' "
            "folds every key into one column. Default: what fits the terminal. Not used by --json.",
        ),
    ] = None,
) -> None:
    """List runs, newest first."""
    from rigml.cli import _state, _ui
    from rigml.cli._runs_table import parse_columns, print_runs
    from rigml.track.queries import list_runs

    if columns:
        parse_columns(columns)  # fail before reading anything
    lab = _state.open_lab()
    runs = list_runs(lab, where=where, sort=sort, limit=limit or None, experiment=experiment)
    if json_out:
        _ui.write_json(runs)
        return
    if not runs:
        _ui.write("no runs match" if where else "no runs yet: track one with rigml.start_run()")
        return
    print_runs(runs, columns=columns, sort_keys=_sorted_by(sort))


def _sorted_by(sort: str | None) -> list[str]:
    """The param, metric and tag columns ``sort`` names (shown first when space is short)."""
    from rigml.track._where import parse_sort

    keys = parse_sort(sort) if sort else []
    return [f"{_GROUP_OF[k.field.kind]}.{k.field.name}" for k in keys if k.field.kind != "attr"]


@app.command("show")
def show(
    run: str = typer.Argument(..., help="Run id, a unique prefix of it, or the run's name."),
    json_out: bool = _JSON,
) -> None:
    """Show one run: status, code and environment, datasets, params, metrics, tags, artifacts."""
    from rigml.cli import _state, _ui
    from rigml.data import versions_used_by
    from rigml.track.artifacts import list_artifacts
    from rigml.track.queries import get_run

    lab = _state.open_lab()
    info = get_run(lab, run)
    artifacts = list_artifacts(lab, info.id)
    datasets = versions_used_by(lab, info.id)
    if json_out:
        data = info.to_dict()
        data["datasets"] = datasets
        data["artifacts"] = [a.__dict__ for a in artifacts]
        _ui.write_json(data)
        return
    _ui.table(["field", "value"], _summary_rows(info, datasets), title=f"run {info.id[:8]}")
    if info.params:
        _ui.table(["param", "value"], sorted(info.params.items()), title="params")
    if info.metrics:
        rows = [
            [k, v, info.metric_steps.get(k)]
            for k, v in sorted(info.metrics.items(), key=lambda kv: (kv[0].startswith("sys/"), kv))
        ]
        _ui.table(["metric", "latest", "step"], rows, title="metrics")
    if info.tags:
        _ui.table(["tag", "value"], sorted(info.tags.items()), title="tags")
    if artifacts:
        _ui.table(
            ["artifact", "size", "object"],
            [[a.path, format_bytes(a.size), a.object[:16]] for a in artifacts],
            title="artifacts",
        )
    if info.error:
        _ui.write(f"[bold red]{info.status}:[/]")
        _ui.write(info.error.rstrip(), markup=False)


def _summary_rows(info: RunInfo, datasets: list[str]) -> list[list[object]]:
    from rigml.cli import _ui

    git = "-"
    if info.git_commit:
        git = f"{info.git_commit[:10]} on {info.git_branch or '(detached)'}"
        git += " (uncommitted changes saved as rig/git.diff)" if info.git_dirty else ""
    return [
        ["id", info.id],
        ["name", info.name],
        ["experiment", info.experiment],
        ["status", _ui.status(info.status)],
        ["started", _ui.when(info.start_time)],
        ["ended", _ui.when(info.end_time)],
        ["duration", _ui.duration(info.duration)],
        ["git", git],
        ["command", info.command],
        ["python", info.python],
        ["host / pid / user", f"{info.host} / {info.pid} / {info.user or '-'}"],
        ["datasets", ", ".join(datasets) or "-"],
    ]


@app.command("compare")
def compare(
    runs: list[str] = typer.Argument(..., help="Two or more run ids, prefixes or names."),
    system: bool = typer.Option(False, "--system", help="Include sys/ metrics."),
    json_out: bool = _JSON,
) -> None:
    """Params, final metrics and environment differences of runs side by side."""
    from rigml.cli import _state, _ui
    from rigml.errors import InvalidInput
    from rigml.track.compare import compare_runs

    if len(runs) < 2:
        raise InvalidInput("compare needs at least two runs", hint="rig runs compare ID ID ...")
    cmp = compare_runs(_state.open_lab(), runs, system_metrics=system)
    if json_out:
        _ui.write_json(cmp)
        return
    heads = ["", *(f"{r.name} ({r.id[:8]})" for r in cmp.runs)]
    rows: list[list[object]] = [[k, *vs] for k, vs in cmp.attributes.items()]
    _ui.table(heads, rows, title="runs")
    if cmp.params:
        prow = [
            [_ui.Styled(f"[bold yellow]{k}[/]") if k in cmp.different_params else k, *vs]
            for k, vs in cmp.params.items()
        ]
        _ui.table(heads, prow, title="params (differences in yellow)")
    if cmp.metrics:
        _ui.table(heads, [[k, *vs] for k, vs in cmp.metrics.items()], title="final metrics")
    if cmp.environment:
        _ui.table(
            ["run", "what", "name", "first run", "this run", "note"],
            [
                [
                    c["run"][:8],
                    c["section"],
                    c["name"],
                    c["a"],
                    c["b"],
                    _ui.Styled(f"[bold red]breaks reproducibility[/] {c['why'] or ''}")
                    if c["breaking"]
                    else c["why"],
                ]
                for c in cmp.environment
            ],
            title="environment differences (against the first run)",
        )
    else:
        _ui.write("[dim]environments: no differences recorded[/]")


@app.command("plot")
def plot(
    runs: list[str] = typer.Argument(..., help="Run ids, prefixes or names to overlay."),
    metric: list[str] = typer.Option(..., "--metric", "-m", help="Metric to plot (repeatable)."),
    output: Path = typer.Option(Path("runs.png"), "--output", "-o", help="PNG file to write."),
    x: str = typer.Option("step", "--x", help="x axis: step or time."),
) -> None:
    """Plot metric histories of one or more runs into a PNG file."""
    from rigml.cli import _state, _ui
    from rigml.track.plot import plot_runs

    dest = plot_runs(_state.open_lab(), runs, metric, output, x=x)
    _ui.write(f"wrote {dest}", markup=False)


@app.command("export")
def export(
    output: Path = typer.Option(..., "--output", "-o", help="File to write (.csv or .parquet)."),
    where: str | None = _WHERE,
    experiment: str | None = typer.Option(None, "--experiment", "-e"),
    fmt: str | None = typer.Option(None, "--format", help="csv or parquet (default: by suffix)."),
) -> None:
    """Export runs (params, final metrics, tags, attributes) as CSV or Parquet."""
    from rigml._output import check_output_dir
    from rigml.cli import _state, _ui
    from rigml.track.export import export_runs, format_for
    from rigml.track.queries import list_runs

    format_for(output, fmt)  # fail before reading anything
    check_output_dir(output)
    infos = list_runs(_state.open_lab(), where=where, experiment=experiment)
    dest = export_runs(infos, output, fmt=fmt)
    _ui.write(f"wrote {len(infos)} runs to {dest}", markup=False)


@app.command("delete")
def delete(
    runs: list[str] = typer.Argument(None, help="Run ids, prefixes or names."),
    where: str | None = _WHERE,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_out: bool = _JSON,
) -> None:
    """Delete runs and their records; objects other runs still use are kept."""
    from rigml.cli import _state, _ui
    from rigml.errors import InvalidInput
    from rigml.track.delete import delete_runs
    from rigml.track.queries import list_runs, resolve_run_id

    lab = _state.open_lab()
    ids = [resolve_run_id(lab, r) for r in runs or []]
    if where:
        ids += [r.id for r in list_runs(lab, where=where, details=False)]
    if not runs and not where:
        raise InvalidInput("name the runs to delete", hint="rig runs delete ID ... or --where ...")
    ids = list(dict.fromkeys(ids))
    if not ids:
        _ui.write("no runs match")
        return
    if not yes:
        shown = ", ".join(i[:8] for i in ids[:10]) + (" ..." if len(ids) > 10 else "")
        if not _ui.confirm(f"Delete {len(ids)} run(s): {shown}?"):
            _ui.write("nothing deleted")
            raise typer.Exit(1)
    report = delete_runs(lab, ids)
    if json_out:
        _ui.write_json(report.__dict__)
        return
    _ui.write(
        f"deleted {len(report.runs)} run(s); removed {report.objects_deleted} object(s) "
        f"({format_bytes(report.bytes_freed)}), kept {report.objects_kept} still used elsewhere"
    )
