"""The lab's configuration: ``rig.toml`` in the lab folder, overridden by environment variables.

Environment variables win over the file so that the same lab can be pointed elsewhere for
one command (``RIG_STORE_URL=postgresql+psycopg://... rig runs list``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rigml.errors import InvalidInput

CONFIG_NAME = "rig.toml"

TEMPLATE = """\
# rigml lab configuration. Environment variables override these settings:
# RIG_STORE_URL, RIG_OBJECTS_URL.

[store]
# Metadata database. Default: SQLite (WAL mode) in this folder.
# url = "postgresql+psycopg://user@127.0.0.1:5432/rigml"   # needs rigml[postgres]

[objects]
# Content-addressed object store. Default: the objects/ folder here.
# url = "s3://bucket/rigml-objects"                        # needs rigml[s3]

[tracking]
# What every run captures without being asked. Each can be switched off here,
# or per run with start_run(capture_git=False, ...).
capture_git = true              # commit, branch, dirty flag, uncommitted diff
capture_environment = true      # installed packages, environment variables (secrets redacted)
capture_machine = true          # CPU, RAM, GPUs, driver, CUDA
system_metrics = true           # sys/... metrics sampled in the background
system_metrics_interval = 5.0   # seconds between samples
flush_interval = 1.0            # seconds between background flushes of logged metrics
heartbeat_timeout = 120.0       # a running run silent this long on another host is crashed
"""


@dataclass(frozen=True)
class TrackingConfig:
    capture_git: bool = True
    capture_environment: bool = True
    capture_machine: bool = True
    system_metrics: bool = True
    system_metrics_interval: float = 5.0
    flush_interval: float = 1.0
    heartbeat_timeout: float = 120.0


@dataclass(frozen=True)
class LabConfig:
    store_url: str | None = None
    objects_url: str | None = None
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


def load_config(lab_path: Path) -> LabConfig:
    """Read ``rig.toml`` of a lab, apply environment overrides, and validate types.

    Raises:
        InvalidInput: the file is not valid TOML or a setting has the wrong type.
    """
    path = lab_path / CONFIG_NAME
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"{path} is not valid TOML: {exc}", hint="fix or delete the file"
        ) from exc
    store_url = os.environ.get("RIG_STORE_URL") or raw.get("store", {}).get("url") or None
    objects_url = os.environ.get("RIG_OBJECTS_URL") or raw.get("objects", {}).get("url") or None
    tracking = _typed(TrackingConfig, raw.get("tracking", {}), path)
    return LabConfig(store_url=store_url, objects_url=objects_url, tracking=tracking)


def _typed(cls: type[TrackingConfig], values: dict[str, Any], path: Path) -> TrackingConfig:
    known = {f.name: f for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise InvalidInput(
                f"{path}: unknown setting [tracking] {key!r}",
                hint=f"known settings: {', '.join(sorted(known))}",
            )
        default = getattr(cls(), key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        if not ok:
            raise InvalidInput(
                f"{path}: [tracking] {key} = {value!r} should be "
                + ("true or false" if isinstance(default, bool) else "a positive number"),
                hint=f"the default is {default!r}",
            )
        out[key] = float(value) if isinstance(default, float) else value
    return cls(**out)
