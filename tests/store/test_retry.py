"""The one retry rule for store writes: locked errors only, bounded waits, a deadline."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from rigml.errors import StoreUnavailable
from rigml.store._retry import MAX_DELAY_S, is_locked_error, retry, retry_locked


def test_locked_errors_are_retried_until_they_pass() -> None:
    waits: list[float] = []
    calls = iter([sqlite3.OperationalError("database is locked")] * 12 + [None])

    def fn() -> str:
        err = next(calls)
        if err is not None:
            raise err
        return "written"

    assert retry_locked(fn, patience=60, sleep=waits.append) == "written"
    assert len(waits) == 12
    assert all(0 < w <= 2 * MAX_DELAY_S for w in waits)  # doubling, capped, with jitter
    assert waits[-1] > waits[0]


def test_other_errors_are_raised_at_once() -> None:
    waits: list[float] = []

    def fn() -> None:
        raise sqlite3.OperationalError("no such table: runs")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        retry_locked(fn, patience=60, sleep=waits.append)
    assert waits == []


def test_a_rig_error_caused_by_a_lock_counts_as_locked() -> None:
    try:
        try:
            raise sqlite3.OperationalError("database is locked")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable("the metadata store failed") from exc
    except StoreUnavailable as wrapped:
        assert is_locked_error(wrapped)
    assert not is_locked_error(StoreUnavailable("disk I/O error"))


def test_the_deadline_ends_the_retries() -> None:
    def fn() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError):
        retry_locked(fn, patience=0.0, sleep=lambda _s: None)


def test_a_real_lock_held_by_another_connection_is_waited_out(tmp_path) -> None:
    """Two real SQLite connections: the second writer retries until the first commits."""
    db = tmp_path / "x.db"
    holder = sqlite3.connect(db, isolation_level=None, timeout=0)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(db, isolation_level=None, timeout=0)
    attempts = []

    def write() -> None:
        attempts.append(1)
        other.execute("INSERT INTO t VALUES (1)")

    def release(_s: float) -> None:
        holder.execute("COMMIT")  # the other writer finishes while we wait

    retry_locked(write, patience=60, sleep=release)
    assert len(attempts) == 2
    assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)
    holder.close()
    other.close()


def test_retry_takes_other_conditions_with_the_same_waits() -> None:
    waits: list[float] = []
    calls = iter([KeyError("taken"), KeyError("taken"), None])

    def fn() -> str:
        err = next(calls)
        if err is not None:
            raise err
        return "numbered"

    assert retry(fn, when=lambda e: isinstance(e, KeyError), patience=60, sleep=waits.append)
    assert len(waits) == 2
    with pytest.raises(ValueError):  # not accepted by ``when``: raised at once
        retry(_raise_value_error, when=lambda e: isinstance(e, KeyError), patience=60)


def _raise_value_error() -> None:
    raise ValueError("bad")


def test_transact_retries_what_retry_if_accepts_in_a_fresh_transaction(lab) -> None:
    from sqlalchemy import insert, select

    from rigml.store.schema import experiments

    tries: list[int] = []

    def write(conn: Any) -> int:
        conn.execute(insert(experiments).values(name=f"e{len(tries)}", created_at=0.0))
        tries.append(1)
        if len(tries) == 1:
            raise LookupError("a number another writer took")  # rolls the insert back
        return len(tries)

    assert lab.store.transact(write, retry_if=lambda e: isinstance(e, LookupError)) == 2
    with lab.store.read() as conn:
        assert conn.execute(select(experiments.c.name)).scalars().all() == ["e1"]
