"""``rig predictions``: read the prediction log back, export it, and record feedback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    import pyarrow as pa

app = typer.Typer(
    help=(
        "The prediction log of `rig serve` and `rig predict`: every answered request with its "
        "model version, arm, inputs, outputs and latency, and the feedback joined to it."
    ),
    no_args_is_help=True,
)

_MODEL = typer.Option(None, "--model", help="Only this model's predictions.")
_VERSION = typer.Option(None, "--version", min=1, help="Only this version's.")
_ARM = typer.Option(None, "--arm", help="Only this arm's: primary, canary, shadow, batch...")
_SINCE = typer.Option(None, "--since", help="Only since: 30m, 1h, 7d, or a date.")
_UNTIL = typer.Option(None, "--until", help="Only before: a duration ago, or a date.")
_FEEDBACK = typer.Option(False, "--feedback", help="Join the latest feedback per request.")


@app.command("list")
def list_(
    model: str | None = _MODEL,
    version: int | None = _VERSION,
    arm: str | None = _ARM,
    since: str | None = _SINCE,
    until: str | None = _UNTIL,
    n: int = typer.Option(20, "-n", min=1, help="At most this many, latest first."),
    feedback: bool = _FEEDBACK,
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the latest predictions, newest first."""
    from rigml.cli import _state, _ui
    from rigml.serve._predlog_read import read_predictions

    lab = _state.open_lab()
    try:
        table = read_predictions(
            lab,
            model=model,
            version=version,
            arm=arm,
            since=since,
            until=until,
            limit=n,
            with_feedback=feedback,
            newest=True,
        )
    finally:
        lab.close()
    records = table.to_pylist()
    if json_out:
        _ui.write_json(records)
        return
    if not records:
        _ui.write("no predictions logged" + (" that match" if any((model, arm, since)) else ""))
        return
    columns, rows = _table_rows(table, feedback=feedback)
    _ui.table(columns, rows, truncate=True, max_widths=[None, 24, None, None, 40, 16, 10, 16])


def _table_rows(table: pa.Table, *, feedback: bool) -> tuple[list[str], list[list[Any]]]:
    """Time, request, model@version, arm, inputs (name=value), output, latency[, feedback]."""
    from rigml.cli import _ui

    names = table.column_names
    inputs = [c for c in names if c.startswith("in.")]
    columns = ["time", "request", "model", "arm", "inputs", "output", "latency ms"]
    if feedback:
        columns.append("feedback")
    rows = []
    for r in table.to_pylist():
        shown = " ".join(f"{c[3:]}={_ui.fmt(r[c])}" for c in inputs if r.get(c) is not None)
        row = [
            _ui.when(r["time"]),
            r["request_id"] + (f"[{r['row']}]" if r["row"] else ""),
            f"{r['model']}@{r['version']}",
            r["arm"],
            shown,
            r.get("out"),
            r["latency_ms"],
        ]
        if feedback:
            row.append(r.get("feedback") or "-")
        rows.append(row)
    return columns, rows


@app.command("export")
def export(
    output: Path = typer.Option(..., "-o", "--output", help="A .parquet, .csv or .jsonl file."),
    model: str | None = _MODEL,
    version: int | None = _VERSION,
    arm: str | None = _ARM,
    since: str | None = _SINCE,
    until: str | None = _UNTIL,
    feedback: bool = _FEEDBACK,
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Export the matching predictions to a file, written whole or not at all."""
    from rigml.cli import _state, _ui
    from rigml.serve._predlog_export import export_predictions

    lab = _state.open_lab()
    try:
        result = export_predictions(
            lab,
            output,
            model=model,
            version=version,
            arm=arm,
            since=since,
            until=until,
            with_feedback=feedback,
        )
    finally:
        lab.close()
    if json_out:
        _ui.write_json(result)
        return
    _ui.write(f"wrote {result.rows:,} predictions to {result.path}")


@app.command("feedback")
def feedback_(
    request_id: str = typer.Argument(..., help="The request id the prediction answered with."),
    value: str = typer.Argument(..., help='The truth: JSON (1, 0.5, "cat", {...}) or text.'),
    when: str | None = typer.Option(None, "--time", help="When it held: a date (default now)."),
    json_out: bool = typer.Option(False, "--json", help="Print the stored feedback as JSON."),
) -> None:
    """Record the true label or value of a logged prediction."""
    import json

    from rigml.cli import _state, _ui
    from rigml.serve._feedback import record_feedback

    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value  # plain text: a label
    lab = _state.open_lab()
    try:
        stored = record_feedback(lab, request_id, parsed, time=when)
    finally:
        lab.close()
    if json_out:
        _ui.write_json(stored)
        return
    _ui.write(f"feedback for {stored.request_id}: {json.dumps(stored.value)}")
