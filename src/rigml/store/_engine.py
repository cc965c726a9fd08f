"""Open the metadata store, migrate it, and hand out connections.

SQLite is the embedded default. It is opened in WAL mode with a busy timeout, and every
write transaction starts with ``BEGIN IMMEDIATE``: a deferred transaction that later
upgrades to a write can fail at once with "database is locked" whatever the timeout, while
an immediate one waits its turn. Together with short, batched writes this lets several
training processes log into one lab at the same time.

PostgreSQL is used as it is; ``RIG_STORE_URL=postgresql+psycopg://...`` selects it.

Migrations (Alembic) run on open, under a lock so that concurrent first opens do not race.
The fast path, a lab already at the head revision, reads one row and never imports Alembic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rigml.errors import LabNotWritable, MissingExtra, SchemaTooNew, StoreUnavailable
from rigml.store._retry import is_locked_error, retry, retry_locked

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

T = TypeVar("T")

_MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 60.0


def known_revisions() -> list[str]:
    """Revision ids this code knows, oldest first (file names ``NNNN_*.py``)."""
    return sorted(p.name.split("_", 1)[0] for p in (_MIGRATIONS / "versions").glob("[0-9]*_*.py"))


class Store:
    """A migrated metadata database.

    Args:
        url: a SQLAlchemy URL; ``sqlite:///path`` or ``postgresql+psycopg://...``.
        lock_path: a file used to serialise migrations when the database is SQLite.
    """

    def __init__(self, url: str, *, lock_path: Path | None = None) -> None:
        self.url = url
        self._lock_path = lock_path
        self.engine = _create_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        try:
            self._migrate()
        except BaseException:
            self.engine.dispose()
            raise

    # -- connections -------------------------------------------------------------------

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads; its transaction is deferred and never takes the write lock."""
        with self._translate(), self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed on exit, rolled back on error."""
        with self._translate(), self.engine.connect() as conn:
            conn = conn.execution_options(rig_immediate=True)
            with conn.begin():
                yield conn

    def transact(
        self,
        fn: Callable[[Connection], T],
        *,
        patience: float = 300.0,
        retry_if: Callable[[BaseException], bool] | None = None,
    ) -> T:
        """Run ``fn`` in a write transaction, retrying while another writer holds the lock.

        SQLite's busy timeout already waits; this outer retry (:func:`retry_locked`) covers
        the rare cases it does not (lock upgrades, WAL checkpoints) so that a logged point is
        never dropped. ``retry_if`` names other errors worth a fresh transaction, such as a
        unique key a concurrent writer took first.
        """

        def attempt() -> T:
            with self.write() as conn:
                return fn(conn)

        if retry_if is None:
            return retry_locked(attempt, patience=patience)
        extra = retry_if
        return retry(attempt, when=lambda e: is_locked_error(e) or extra(e), patience=patience)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        """Map driver errors to RigErrors at the boundary."""
        from sqlalchemy import exc as sa_exc

        try:
            yield
        except sa_exc.OperationalError as exc:
            orig = str(exc.orig) if exc.orig is not None else str(exc)
            if "no space left" in orig.lower() or "disk is full" in orig.lower():
                from rigml.errors import DiskFull

                raise DiskFull(self.url) from exc
            if self.is_sqlite:
                from rigml.store.writable import sqlite_not_writable

                not_writable = sqlite_not_writable(self.engine.url.database or "", orig)
                if not_writable is not None:
                    raise not_writable from exc
            elif "readonly" in orig.lower() or "read-only" in orig.lower():
                raise LabNotWritable(_redact(self.url), orig) from exc
            raise StoreUnavailable(
                f"the metadata store at {_redact(self.url)} failed: {orig.strip()}",
                hint="check that the database is reachable and not full",
            ) from exc

    # -- migrations --------------------------------------------------------------------

    def current_revision(self) -> str | None:
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        with self._translate(), self.engine.connect() as conn:
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except DBAPIError as exc:
                if "alembic_version" in str(exc) or "no such table" in str(exc):
                    return None
                raise

    def _migrate(self) -> None:
        revisions = known_revisions()
        head = revisions[-1]
        current = retry_locked(self.current_revision, patience=BUSY_TIMEOUT_S)
        if current == head:
            return
        if current is not None and current not in revisions:
            raise SchemaTooNew(current, head)
        with self._migration_lock():
            current = self.current_revision()  # another process may have migrated meanwhile
            if current == head:
                return
            if current is not None and current not in revisions:
                raise SchemaTooNew(current, head)
            self._upgrade()

    def _upgrade(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with self.write() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.is_sqlite:
            from filelock import FileLock

            if self._lock_path is None:
                yield
                return
            from rigml.store.writable import lab_writes

            lock = FileLock(str(self._lock_path), timeout=BUSY_TIMEOUT_S)
            with lab_writes(self._lock_path):
                lock.acquire()
            try:
                yield
            finally:
                lock.release()
        else:
            from sqlalchemy import text

            # a session-level advisory lock; the key is arbitrary but fixed for rigml
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(7240001)"))
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(7240001)"))
                    conn.commit()


def _redact(url: str) -> str:
    """Hide a password in a database URL before showing it."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _create_engine(url: str) -> Engine:
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from rigml.config import check_store_url

    problem = check_store_url(url)
    if problem:
        raise StoreUnavailable(
            f"cannot use store URL: {problem}",
            hint="set [store] url in rig.toml or RIG_STORE_URL to a supported URL",
        )
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingExtra("postgres", module="psycopg") from exc
    try:
        if url.startswith("sqlite"):
            engine = create_engine(
                url,
                connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
            )
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreUnavailable(
            f"cannot use store URL {_redact(url)!r}: {exc}",
            hint="use sqlite:///path/to/store.db or postgresql+psycopg://user@host/db",
        ) from exc
    return engine


def _sqlite_on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # Autocommit at the driver: SQLAlchemy's "begin" event below emits BEGIN itself.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")

    # Switching to WAL needs an exclusive lock and may report "locked" at once, without
    # waiting on the busy timeout, when several processes open a new lab together.
    def wal() -> None:
        if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cur.execute("PRAGMA journal_mode=WAL").fetchone()

    retry_locked(wal, patience=BUSY_TIMEOUT_S)
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_on_begin(conn) -> None:  # type: ignore[no-untyped-def]
    if conn.get_execution_options().get("rig_immediate"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")
