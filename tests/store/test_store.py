"""The metadata store on SQLite and PostgreSQL: migrations, schema guard, concurrency."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from rigml.errors import SchemaTooNew, StoreUnavailable
from rigml.store import Store
from rigml.store._engine import known_revisions
from rigml.store.schema import metadata


def test_migrations_create_every_table_of_the_schema(any_lab) -> None:
    tables = set(inspect(any_lab.store.engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert any_lab.store.current_revision() == known_revisions()[-1]


def test_migrated_columns_match_the_schema(any_lab) -> None:
    insp = inspect(any_lab.store.engine)
    for name, table in metadata.tables.items():
        have = {c["name"] for c in insp.get_columns(name)}
        assert have == {c.name for c in table.columns}, name


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(lab) -> None:
    with lab.store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30000


def test_a_newer_schema_is_refused_and_left_untouched(any_lab) -> None:
    with any_lab.store.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    url = any_lab.store_url
    any_lab.close()
    with pytest.raises(SchemaTooNew) as info:
        Store(url)
    assert "9999" in str(info.value) and "upgrade rigml" in (info.value.hint or "")
    store = Store.__new__(Store)  # read the revision without migrating
    from rigml.store._engine import _create_engine

    store.url, store.engine = url, _create_engine(url)
    assert store.current_revision() == "9999"
    store.engine.dispose()


def _open(url: str, lock: str, q: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        Store(url, lock_path=Path(lock)).dispose()
        q.put("ok")
    except Exception:
        import traceback

        q.put(traceback.format_exc()[-2500:])


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_open, args=(url, str(tmp_path / "lock"), q)) for _ in range(6)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == ["ok"] * 6
    store = Store(url)
    assert store.current_revision() == known_revisions()[-1]
    store.dispose()


def test_an_unusable_url_gives_a_clear_error() -> None:
    with pytest.raises(StoreUnavailable) as info:
        Store("nosuchdriver://x/y")
    assert "cannot use store URL" in info.value.message
    with pytest.raises(StoreUnavailable) as info:  # not ModuleNotFoundError for MySQLdb
        Store("mysql://root@127.0.0.1/rig")
    assert "'mysql://'" in info.value.message and "postgresql+psycopg" in info.value.message


def test_plain_postgresql_urls_use_psycopg(pg_database: str) -> None:
    store = Store(pg_database.replace("postgresql+psycopg://", "postgresql://", 1))
    assert store.engine.dialect.driver == "psycopg"
    store.dispose()


def test_an_unreachable_postgres_gives_a_clear_error() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreUnavailable) as info:
        Store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert "metadata store" in info.value.message
