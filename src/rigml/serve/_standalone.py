"""What an exported service folder runs (``start.sh``): ``python -m rigml.serve._standalone DIR``.

The folder written by ``rig serve --export`` holds its own lab (``.rig/``) with the frozen
packages registered and their aliases set, and ``service.json`` with the config to serve.
This reads both and runs :func:`rigml.serve.serve`, the code path ``rig serve`` takes: no
lab from the machine the service was exported on is needed. Settings that belong to the
place it runs come from the environment: ``HOST`` (default 0.0.0.0, as in a container),
``PORT`` (8000), ``WORKERS`` and ``TOKEN_FILE``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rigml.errors import RigError, ServiceExportFailed

SERVICE_FILE = "service.json"
SERVICE_FORMAT = 1
LAB_DIR = ".rig"
_LAB_OVERRIDES = ("RIG_STORE_URL", "RIG_OBJECTS_URL")


def read_service(folder: Path) -> dict[str, Any]:
    """``service.json`` of an exported folder.

    Raises:
        ServiceExportFailed: it is missing, unreadable, or of a newer format.
    """
    path = folder / SERVICE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ServiceExportFailed(
            f"reading {path}", f"cannot read it ({exc})", hint=_FOLDER_HINT
        ) from None
    if not isinstance(data, dict) or int(data.get("format", 0)) > SERVICE_FORMAT:
        raise ServiceExportFailed(
            f"reading {path}", "not a service.json this rigml reads", hint=_FOLDER_HINT
        )
    return data


_FOLDER_HINT = "run start.sh inside a folder written by `rig serve NAME@production --export DIR`"


def standalone_config(service: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    """The :class:`~rigml.serve.ServeConfig` of ``service.json``, with the host, port,
    workers and token file of ``environ``.

    Raises:
        InvalidServeConfig: a setting is malformed, or the service needs TOKEN_FILE.
    """
    from rigml.errors import InvalidServeConfig
    from rigml.serve._config import ServeConfig, check_host

    settings = dict(service["config"])
    for key in ("refs", "canary", "shadow"):
        settings[key] = tuple(settings[key])
    token_file = environ.get("TOKEN_FILE") or None
    if service.get("tokens") and token_file is None:
        raise InvalidServeConfig(
            "this service was exported with bearer tokens and TOKEN_FILE is not set",
            hint="TOKEN_FILE=/path/to/tokens ./start.sh (one token a line)",
        )
    try:
        port = int(environ.get("PORT", settings["port"]))
        workers = int(environ.get("WORKERS", settings["workers"]))
    except ValueError:
        raise InvalidServeConfig(
            "PORT and WORKERS must be whole numbers", hint="e.g. PORT=8000 WORKERS=2"
        ) from None
    settings.update(
        host=check_host(environ.get("HOST", "0.0.0.0"), explicit=True),
        port=port,
        workers=workers,
        token_file=token_file,
    )
    return ServeConfig(**settings)


def run(folder: Path, environ: Mapping[str, str]) -> None:
    """Serve the exported folder until SIGTERM."""
    from rigml.lab import open_lab
    from rigml.serve._run import serve

    service = read_service(folder)
    config = standalone_config(service, environ)
    config.tokens()  # a bad token file fails before binding
    for var in _LAB_OVERRIDES:  # the folder's own lab, never a store the environment names
        if os.environ.pop(var, None):
            print(f"ignoring {var}: an exported service uses its own lab", file=sys.stderr)
    lab = open_lab(folder / LAB_DIR)
    try:
        print(
            f"serving {', '.join(service['refs'])} (frozen) on http://{config.host}:{config.port}",
            file=sys.stderr,
        )
        serve(lab, config)
    finally:
        lab.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    folder = Path(args[0] if args else ".").resolve()
    try:
        run(folder, os.environ)
    except RigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
