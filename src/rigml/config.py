"""The lab's configuration: ``rig.toml`` in the lab folder, overridden by environment variables.

Environment variables win over the file so that the same lab can be pointed elsewhere for
one command (``RIG_STORE_URL=postgresql+psycopg://... rig runs list``).

The whole file is validated at once (pydantic, imported here only when a lab is opened):
a wrong type, an unknown section or key, or a URL no backend can open is an
:class:`~rigml.errors.InvalidConfig` naming the file, the section and the key, with a
"did you mean" for near misses. Environment overrides go through the same checks.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigml.errors import InvalidConfig

CONFIG_NAME = "rig.toml"

TEMPLATE = """\
# rigml lab configuration. Environment variables override these settings:
# RIG_STORE_URL, RIG_OBJECTS_URL, RIG_OBJECTS_ENDPOINT.

[store]
# Metadata database. Default: SQLite (WAL mode) in this folder.
# url = "postgresql+psycopg://user@127.0.0.1:5432/rigml"   # needs rigml[postgres]

[objects]
# Content-addressed object store. Default: the objects/ folder here.
# url = "s3://bucket/rigml-objects"                        # needs rigml[s3]
# endpoint_url = "http://127.0.0.1:9000"                   # an S3-compatible server (MinIO)

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

[pipeline]
# Where `rig run` runs stage commands (`--executor` and `--ray-address` override these).
# executor = "ray"                 # "local" (default): processes here; "ray": Ray tasks
# address = "ray://head:10001"     # a Ray cluster (needs rigml[ray]); unset: a local Ray.
#                                  # A cluster on other machines needs a PostgreSQL store
#                                  # and an S3 object store: its workers cannot reach files here

[registry]
# Aliases whose promotion needs `rig models approve` by a user other than the promoter.
# approval = ["production"]
"""

STORE_SCHEMES = ("sqlite", "postgresql+psycopg")
STORE_SCHEMES_TEXT = "sqlite:///path/to/store.db or postgresql+psycopg://user@host/db"
OBJECTS_TEXT = "a local path, file://, s3://, memory:// and other fsspec protocols"
# protocols whose S3 client takes an endpoint (MinIO, moto, Ceph...)
S3_PROTOCOLS = ("s3", "s3a")


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
class PipelineConfig:
    executor: str = "local"  # "local" or "ray"
    address: str | None = None  # the Ray cluster's address; None: a local Ray


@dataclass(frozen=True)
class RegistryConfig:
    approval: tuple[str, ...] = ()  # aliases that need another user's approval


@dataclass(frozen=True)
class LabConfig:
    store_url: str | None = None
    objects_url: str | None = None
    objects_endpoint: str | None = None
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)

    def storage_options(self) -> dict[str, Any]:
        """fsspec options for the object store: the S3 endpoint when one is set."""
        if not self.objects_endpoint or not self.objects_url:
            return {}
        protocol = self.objects_url.split("://", 1)[0]
        if protocol in S3_PROTOCOLS:
            return {"client_kwargs": {"endpoint_url": self.objects_endpoint}}
        return {"endpoint_url": self.objects_endpoint}


def load_config(lab_path: Path) -> LabConfig:
    """Read ``rig.toml`` of a lab, apply environment overrides, and validate the whole.

    Raises:
        InvalidConfig: the file is not valid TOML, has an unknown section or key, a value
            of the wrong type, or a URL with a scheme no backend supports.
    """
    path = lab_path / CONFIG_NAME
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidConfig(
            str(path), f"not valid TOML: {exc}", hint="fix or delete the file"
        ) from exc
    from rigml import _config_model as model

    parsed = model.validate(raw, where=str(path))
    store_url = _env("RIG_STORE_URL", check_store_url) or parsed.store.url or None
    objects_url = _env("RIG_OBJECTS_URL", check_objects_url) or parsed.objects.url or None
    endpoint = _env("RIG_OBJECTS_ENDPOINT", check_endpoint) or parsed.objects.endpoint_url or None
    tracking = TrackingConfig(**parsed.tracking.model_dump())
    return LabConfig(
        store_url=store_url,
        objects_url=objects_url,
        objects_endpoint=endpoint,
        tracking=tracking,
        pipeline=PipelineConfig(**parsed.pipeline.model_dump()),
        registry=RegistryConfig(approval=tuple(parsed.registry.approval)),
    )


def _env(name: str, check: Callable[[str], str | None]) -> str | None:
    """An environment override, validated like the file's setting (empty means unset)."""
    value = os.environ.get(name)
    if not value:
        return None
    problem = check(value)
    if problem:
        raise InvalidConfig(f"{name} (environment)", problem, hint=f"fix or unset {name}")
    return value


def check_store_url(value: str) -> str | None:
    """What is wrong with a store URL, or None. Only the scheme is echoed: URLs hold passwords.

    ``postgresql://`` is accepted and means ``postgresql+psycopg://`` (the driver rigml ships).
    """
    if "://" not in value:
        return f"expected a database URL ({STORE_SCHEMES_TEXT}), got {value!r}"
    scheme = value.split("://", 1)[0]
    if scheme in (*STORE_SCHEMES, "sqlite+pysqlite", "postgresql"):
        return None
    hint = " (write postgresql+psycopg://)" if scheme.startswith("postgres") else ""
    return (
        f"unsupported database scheme '{scheme}://'{hint}; supported: "
        f"{', '.join(STORE_SCHEMES)} ({STORE_SCHEMES_TEXT})"
    )


def _fsspec_protocols() -> set[str]:
    try:
        from fsspec.registry import known_implementations, registry
    except ImportError:
        return {"file", "local", "memory", "s3", "s3a", "gs", "gcs", "az", "abfs"}
    return {*known_implementations, *registry}


def check_objects_url(value: str) -> str | None:
    """What is wrong with an object store URL, or None (a path without ``://`` is local)."""
    if "://" not in value:
        return None
    chain = value.split("://", 1)[0].split("::")  # fsspec chains: simplecache::s3://...
    known = _fsspec_protocols()
    for protocol in chain:
        if protocol not in known:
            return f"unsupported object store protocol '{protocol}://'; supported: {OBJECTS_TEXT}"
    return None


def check_endpoint(value: str) -> str | None:
    if value.startswith(("http://", "https://")):
        return None
    return f"expected an http:// or https:// endpoint URL, got {value!r}"


def close_match(name: str, known: list[str]) -> str | None:
    """The near miss of ``name`` among ``known``, the rule every misspelt key uses."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(name: str, known: list[str]) -> str:
    """``"did you mean X?"`` for a near miss among ``known``, else a list of them."""
    close = close_match(name, known)
    if close is not None:
        return f"did you mean {close}?"
    return f"known: {', '.join(known)}"
