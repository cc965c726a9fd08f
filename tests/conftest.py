"""Shared fixtures: real labs on SQLite files, and on PostgreSQL when RIG_TEST_PG_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

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
        return CliResult(code, out.getvalue().decode(), err.getvalue().decode())


@pytest.fixture
def rig() -> Callable[..., CliResult]:
    """``rig("runs", "list")``: see :func:`run_rig`."""
    return run_rig
