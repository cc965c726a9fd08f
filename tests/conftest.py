"""Shared fixtures: real labs on SQLite files, and on PostgreSQL when RIG_TEST_PG_URL is set."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PG_URL = os.environ.get("RIG_TEST_PG_URL")
PG_SKIP = (
    "RIG_TEST_PG_URL is not set (CI sets it; e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's lab or store settings."""
    for var in ("RIG_LAB", "RIG_STORE_URL", "RIG_OBJECTS_URL", "RIG_GPU_RECORDING"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    from rigml.cli import _state

    monkeypatch.setattr(_state, "lab_path", None)  # an earlier test's `rig --lab` is not ours
    # audit checkpoints sign with a key in the test's folder, never the developer's
    monkeypatch.setenv("RIG_AUDIT_KEY", str(tmp_path / "keys" / "audit.key"))


@pytest.fixture(scope="session")
def dataset() -> tuple[Any, Any]:
    """200 rows of 4 features and a label that depends on two of them (seeded)."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


@pytest.fixture(scope="session")
def classifier(dataset: tuple[Any, Any]) -> Any:
    """A LogisticRegression fit on :func:`dataset`."""
    from sklearn.linear_model import LogisticRegression

    X, y = dataset
    return LogisticRegression().fit(X, y)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not PG_URL:
        pytest.skip(PG_SKIP)
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"rigtest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def make_lab(path: Path, store_url: str | None = None):
    """A lab at ``path``; with ``store_url`` its rig.toml points the store there."""
    from rigml.lab import init_lab

    if store_url:
        path.mkdir(parents=True, exist_ok=True)
        from rigml.config import TEMPLATE

        (path / "rig.toml").write_text(
            TEMPLATE.replace("[store]\n", f'[store]\nurl = "{store_url}"\n', 1)
        )
    lab, _ = init_lab(path)
    return lab


@pytest.fixture(params=["sqlite", "postgres"])
def any_lab(request: pytest.FixtureRequest, tmp_path: Path):
    """The same test on a SQLite lab and a PostgreSQL lab (store contract suite)."""
    url = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    lab = make_lab(tmp_path / "lab", url)
    yield lab
    lab.close()


@pytest.fixture
def lab(tmp_path: Path):
    lab = make_lab(tmp_path / "lab")
    yield lab
    lab.close()


@pytest.fixture
def quiet_run_kwargs() -> dict[str, bool]:
    """Runs without background capture, for tests about something else."""
    return {
        "capture_git": False,
        "capture_environment": False,
        "capture_machine": False,
        "system_metrics": False,
    }


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def err(self) -> str:
        """stderr with the console's line wrapping undone, for matching messages."""
        return " ".join(self.stderr.split())


def run_rig(*args: str) -> CliResult:
    """``rig ARGS`` in this process through the real entry point (exit codes, error handler),
    with output captured by Typer's CliRunner."""
    from typer.testing import CliRunner

    from rigml.cli import main

    with CliRunner().isolation() as (out, err, *_):
        code = main(list(args))
        sys.stdout.flush()  # print() to the swapped streams buffers; rich flushes itself
        sys.stderr.flush()
        return CliResult(code, out.getvalue().decode(), err.getvalue().decode())


@pytest.fixture
def rig() -> Callable[..., CliResult]:
    """``rig("runs", "list")``: see :func:`run_rig`."""
    return run_rig


# -- a real S3 API: moto's server on 127.0.0.1 -----------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"moto's S3 server did not listen on 127.0.0.1:{port} in {timeout} s")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def _moto_endpoint() -> Iterator[str]:
    """One moto S3 server for the session; its endpoint URL."""
    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    port = _free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        _wait_for_port(port, timeout=15.0)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@dataclass(frozen=True)
class S3Bucket:
    endpoint: str
    name: str

    def url(self, prefix: str = "objects") -> str:
        return f"s3://{self.name}/{prefix}"

    @property
    def storage_options(self) -> dict[str, object]:
        return {"client_kwargs": {"endpoint_url": self.endpoint}}


@pytest.fixture
def s3_bucket(_moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A fresh bucket on the moto server, with test credentials in the environment."""
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "NO_PROXY": "127.0.0.1",
    }.items():
        monkeypatch.setenv(var, value)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    import fsspec

    bucket = S3Bucket(_moto_endpoint, f"rig-{uuid.uuid4().hex[:12]}")
    fs = fsspec.filesystem("s3", **bucket.storage_options)
    fs.mkdir(bucket.name)
    return bucket
