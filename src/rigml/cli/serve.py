"""``rig serve``: serve registered models over HTTP, following their aliases."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

app = typer.Typer(help="Serve registered models over HTTP.", no_args_is_help=True)


@app.command("serve")
def serve(
    refs: list[str] = typer.Argument(
        ..., help="Models to serve: NAME@production (follows the alias), NAME@3 (fixed)."
    ),
    host: str | None = typer.Option(
        None,
        "--host",
        help="Address to listen on (default 127.0.0.1; anything but loopback must be given "
        "explicitly).",
    ),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", help="Worker processes (each loads the models)."),
    max_batch: int = typer.Option(64, "--max-batch", help="Most rows per model call."),
    max_wait_ms: float = typer.Option(
        2.0, "--max-wait-ms", help="Longest wait for a fuller batch under concurrent traffic."
    ),
    max_rows: int = typer.Option(100_000, "--max-rows", help="Most rows per request."),
    max_body_mb: float = typer.Option(16.0, "--max-body-mb", help="Largest request body (MB)."),
    timeout_s: float = typer.Option(10.0, "--timeout", help="Seconds before a request gets 504."),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="Bearer tokens, one a line: then only /healthz is open."
    ),
    canary: list[str] = typer.Option(
        [], "--canary", help="NAME@staging:10 sends 10% of NAME's traffic to that version."
    ),
    shadow: list[str] = typer.Option(
        [], "--shadow", help="NAME@staging scores every request of NAME too, off the path."
    ),
    trusted: bool = typer.Option(False, "--trusted", help="Allow models stored as pickles."),
    log: bool = typer.Option(
        True, "--log/--no-log", help="Keep every prediction in the lab (rig predictions)."
    ),
    export_dir: Path | None = typer.Option(
        None,
        "--export",
        help="Write a self-contained folder that serves these versions elsewhere (models, "
        "pinned requirements, Dockerfile, start.sh); starts no server.",
    ),
    export_force: bool = typer.Option(False, "--force", help="With --export: replace DIR."),
) -> None:
    """Serve models: POST /v1/models/NAME/predict, /healthz, /readyz, /metrics, /docs.

    When a followed alias moves (`rig models promote`, `rollback`), the new version is
    loaded and warmed in the background and swapped in without failing a request.
    """
    from rigml.cli import _state, _ui
    from rigml.serve import ServeConfig, check_host
    from rigml.serve import serve as run

    config = ServeConfig(
        tuple(refs),
        host=check_host(host or "127.0.0.1", explicit=host is not None),
        port=port,
        workers=workers,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_rows=max_rows,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        timeout_s=timeout_s,
        token_file=str(token_file) if token_file else None,
        canary=tuple(canary),
        shadow=tuple(shadow),
        trusted=trusted,
        log_predictions=log,
    )
    if export_dir is not None:
        _export(config, export_dir, force=export_force)
        return
    config.tokens()  # refuse a bad token file before binding
    lab = _state.open_lab()
    try:
        _ui.err_console().print(
            f"serving {', '.join(refs)} on http://{config.host}:{config.port} "
            f"(docs at /docs, metrics at /metrics)",
            markup=False,
        )
        run(lab, config)
    finally:
        lab.close()


if TYPE_CHECKING:
    from rigml.serve import ServeConfig


def _export(config: ServeConfig, dest: Path, *, force: bool) -> None:
    """``--export DIR``: write the folder, say what is in it and how to run it."""
    from rigml.cli import _state, _ui
    from rigml.serve._export import export_service

    lab = _state.open_lab()
    try:
        result = export_service(lab, config, dest, force=force)
    finally:
        lab.close()
    for arm in result.arms:
        _ui.write(f"{arm.kind} {arm.ref} -> version {arm.version} ({arm.path})", markup=False)
    _ui.write(f"rigml: {result.rigml}; {result.requirements} pinned requirements", markup=False)
    for note in result.notes:
        _ui.write(f"note: {note}", markup=False)
    _ui.write(f"wrote {result.dest}: {', '.join(result.files)}", markup=False)
    _ui.write(
        f"run it: cd {result.dest} && python3 -m venv .venv && . .venv/bin/activate && "
        "pip install -r requirements.txt --find-links wheels && ./start.sh",
        markup=False,
    )
