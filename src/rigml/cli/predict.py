"""``rig predict``: score a CSV, Parquet or JSONL file with a registered model, streamed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import typer


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, float | None], None]]:
    """A bar on stderr while the file is scored; nothing when stderr is not a terminal."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from rigml.cli import _ui

    console = _ui.err_console()
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = bar.add_task("predict", total=1.0, rows=0)

    def update(rows: int, share: float | None) -> None:
        bar.update(task, completed=share if share is not None else 0.0, rows=rows)

    with bar:
        yield update


def predict(
    ref: str = typer.Argument(..., help="The model: NAME, NAME@3 or NAME@production."),
    input_path: Path = typer.Argument(..., help="A .csv, .parquet or .jsonl file of rows."),
    output: Path = typer.Option(..., "-o", "--output", help="Where the scored rows go."),
    chunk_rows: int = typer.Option(
        50_000, "--chunk-rows", min=1, help="Rows scored at a time (memory holds one chunk)."
    ),
    proba: bool = typer.Option(False, "--proba", help="Add a probability_<class> column each."),
    no_log: bool = typer.Option(False, "--no-log", help="Leave the prediction log out."),
    trusted: bool = typer.Option(
        False, "--trusted", help="Allow a model that needs pickle (only one you trust)."
    ),
    executor: str | None = typer.Option(
        None,
        "--executor",
        help="local (default) or ray: chunks scored by a pool of Ray actors, each loading "
        "the model once (needs rigml\\[ray]; every node needs rigml).",
        show_default=False,
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="The Ray cluster for --executor ray (default: \\[pipeline] address, RAY_ADDRESS, "
        "else a Ray started here). The actors are sent the model: the lab may stay here.",
        show_default=False,
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Score every row of INPUT into OUTPUT: the input's columns plus `prediction`."""
    from rigml.cli import _state, _ui
    from rigml.serve._batch_predict import predict_file

    lab = _state.open_lab()
    try:
        with _progress(f"scoring {input_path.name}") as update:
            result = predict_file(
                lab,
                ref,
                input_path,
                output,
                chunk_rows=chunk_rows,
                proba=proba,
                log=not no_log,
                progress=update,
                trusted=trusted,
                executor=executor,
                ray_address=ray_address,
            )
    finally:
        lab.close()
    if json_out:
        _ui.write_json(result)
        return
    logged = "" if result.logged else " (not logged)"
    _ui.write(
        f"scored {result.rows:,} rows with {result.model}@{result.version} into "
        f"{result.output} in {_ui.duration(result.seconds)}{logged}"
    )


app = typer.Typer(no_args_is_help=True, help="Score a file with a registered model.")
app.command("predict")(predict)
