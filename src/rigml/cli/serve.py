"""``rig serve``: serve registered models over HTTP, following their aliases.

``rig serve status`` and ``rig serve canary`` talk to a running service instead: ``rig
serve`` takes any number of refs, so those two words are read as commands when they come
first (a ref is ``NAME@SELECTOR``, so ``status@production`` still serves a model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

app = typer.Typer(help="Serve registered models over HTTP.", no_args_is_help=True)
COMMANDS = ("status", "canary")
_ROLLOUT = "Rollouts: automatic canary rollback"
_COLUMNS = [
    *("model", "arm", "role", "version", "follows", "share %", "requests", "rate/s"),
    *("errors %", "p50 ms", "p95 ms", "p99 ms", "state"),
]
_CONTROL = "rig serve status / rig serve canary (talk to a running service)"


@app.command("serve")
def serve(
    refs: list[str] | None = typer.Argument(
        None,
        help="Models to serve: NAME@production (follows the alias), NAME@3 (fixed). "
        "First word `status` or `canary`: talk to a running service instead.",
        show_default=False,
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
    ab: list[str] = typer.Option(
        [],
        "--ab",
        help="NAME@3:control=50: a named A/B arm (shares add up to 100 per model; the "
        "model is then not named among the refs). Sticky by X-Request-Key.",
    ),
    max_error_delta: float = typer.Option(
        0.05,
        "--canary-max-error-delta",
        help="Roll a canary back when its error rate (5xx) passes the primary's by this; 0 never.",
        rich_help_panel=_ROLLOUT,
    ),
    max_p99_ratio: float = typer.Option(
        2.0,
        "--canary-max-p99-ratio",
        help="... or when its p99 latency passes this multiple of the primary's; 0 never.",
        rich_help_panel=_ROLLOUT,
    ),
    min_requests: int = typer.Option(
        100,
        "--canary-min-requests",
        help="Requests in a canary's window (last 2048, last minute) before it is judged.",
        rich_help_panel=_ROLLOUT,
    ),
    url: str = typer.Option(
        "http://127.0.0.1:8000", "--url", help="The running service.", rich_help_panel=_CONTROL
    ),
    as_json: bool = typer.Option(
        False, "--json", help="status: print the JSON document.", rich_help_panel=_CONTROL
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        help="canary: the model (needed when several have a canary).",
        rich_help_panel=_CONTROL,
    ),
    arm: str | None = typer.Option(
        None,
        "--arm",
        help="canary: which canary (canary-2 ...; default the first).",
        rich_help_panel=_CONTROL,
    ),
    step: float | None = typer.Option(
        None,
        "--step",
        help="canary: add this to the canary's share (%), up to 100.",
        rich_help_panel=_CONTROL,
    ),
    share: float | None = typer.Option(
        None, "--share", help="canary: set the canary's share (%).", rich_help_panel=_CONTROL
    ),
    trusted: bool = typer.Option(False, "--trusted", help="Allow models stored as pickles."),
    log: bool = typer.Option(
        True, "--log/--no-log", help="Keep every prediction in the lab (rig predictions)."
    ),
    access_log: bool = typer.Option(
        False, "--access-log", help="Print uvicorn's line per request (costs CPU per request)."
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
    loaded and warmed in the background and swapped in without failing a request; canary
    and A/B arms that follow an alias swap the same way.

    `rig serve status [--url URL] [--token-file F] [--json]`: each arm's version, share,
    request rate, error rate and p50/p95/p99 latency (GET /v1/status).
    `rig serve canary --step 25 | --share 35 [--model NAME]`: shift a canary's traffic
    (POST /v1/admin/canary). Both words are commands only as the first argument, so no
    model can be served by the bare ref `status` or `canary` (`status@production` works).
    """
    refs = refs or []
    if refs and refs[0] in COMMANDS:
        target = Target(url, token_file)
        if refs[0] == "status":
            _status(target, as_json)
        else:
            _canary(target, model, arm, step=step, share=share)
        return
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
        ab=tuple(ab),
        canary_max_error_delta=max_error_delta or None,
        canary_max_p99_ratio=max_p99_ratio or None,
        canary_min_requests=min_requests,
        trusted=trusted,
        log_predictions=log,
        access_log=access_log,
    )
    if export_dir is not None:
        _export(config, export_dir, force=export_force)
        return
    config.tokens()  # refuse a bad token file before binding
    lab = _state.open_lab()
    try:
        _check_refs(lab, config)
        _ui.err_console().print(
            f"serving {', '.join([*refs, *ab])} on http://{config.host}:{config.port} "
            f"(docs at /docs, metrics at /metrics)",
            markup=False,
        )
        run(lab, config)
    finally:
        lab.close()


def _check_refs(lab: Any, config: ServeConfig) -> None:
    """Every arm's ref names a version now, before anything binds a port.

    Raises:
        ModelNotFound, InvalidModelRef: a ref names no model, version or alias.
    """
    from rigml.registry import get_version

    for specs in config.arms().values():
        for spec in specs:
            get_version(lab, spec.ref)


# -- rig serve status / canary: a client of the running service ------------------------------


class Target:
    """A running service: its URL and the bearer token (the first of a token file)."""

    def __init__(self, url: str, token_file: Path | None) -> None:
        self.url = url.rstrip("/")
        self.token: str | None = None
        if token_file is not None:
            from rigml.serve._config import read_tokens

            self.token = read_tokens(token_file)[0].decode()

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON answer of GET ``path`` (POST ``body`` when given).

        Raises:
            ServiceRequestFailed: no answer, a refusal, or not JSON.
        """
        import urllib.error
        import urllib.request

        from rigml.errors import ServiceRequestFailed

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method="GET")
        if data is not None:
            request.method = "POST"
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ServiceRequestFailed(self.url, _refusal(exc), hint=_hint(exc.code)) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServiceRequestFailed(
                self.url,
                f"no answer ({reason})",
                hint="is `rig serve` running there? pass its address with --url",
            ) from None


def _refusal(exc: Any) -> str:
    try:
        detail = json.loads(exc.read()).get("detail")
    except (ValueError, AttributeError):
        detail = None
    return f"HTTP {exc.code}" + (f": {detail}" if detail else "")


def _hint(code: int) -> str:
    if code == 401:
        return "the service needs a bearer token: pass its --token-file"
    if code == 404:
        return "is this an older rig serve, or is the model named right? see rig serve status"
    return "see the service's log"


def _status(target: Target, as_json: bool) -> None:
    from rigml.cli import _ui

    doc = target.call("/v1/status")
    if as_json:
        _ui.write_json(doc)
        return
    _ui.table(
        _COLUMNS,
        [_status_row(m["name"], a) for m in doc["models"] for a in m["arms"]],
    )
    for m in doc["models"]:
        for a in m["arms"]:
            if a.get("rolled_back"):
                back = a["rolled_back"]
                _ui.write(f"{m['name']} {a['arm']} rolled back at {back['at']}: {back['reason']}")


def _status_row(model: str, a: dict[str, Any]) -> list[Any]:
    if a.get("rolled_back"):
        state = "rolled back"
    elif a.get("error"):
        state = "error"
    else:
        state = "ready" if a["ready"] else "loading"
    return [
        model,
        a["arm"],
        a["role"],
        a["version"],
        a["follows"] or "-",
        f"{a['share']:g}",
        a["requests"],
        f"{a['rate']:.1f}",
        f"{a['error_rate'] * 100:.1f}",
        *(f"{a[k]:.1f}" if a[k] is not None else "-" for k in ("p50_ms", "p95_ms", "p99_ms")),
        state,
    ]


def _canary(
    target: Target, model: str | None, arm: str | None, *, step: float | None, share: float | None
) -> None:
    from rigml.cli import _ui
    from rigml.errors import InvalidInput

    if (step is None) == (share is None):
        raise InvalidInput(
            "rig serve canary needs --step or --share, one of them",
            hint="rig serve canary --step 25, or rig serve canary --share 50",
        )
    body: dict[str, Any] = {"step": step} if step is not None else {"share": share}
    body.update({k: v for k, v in (("model", model), ("arm", arm)) if v is not None})
    doc = target.call("/v1/admin/canary", body)
    shares = ", ".join(f"{a['arm']} {a['share']:g}%" for a in doc["arms"] if a["role"] != "shadow")
    _ui.write(f"{doc['name']}: {shares}")


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
