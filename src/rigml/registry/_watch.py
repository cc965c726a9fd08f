"""Follow one alias: learn within a poll interval that it moved, for serving to swap models.

A watcher reads one row by its primary key (``model_aliases``: the id of the move that set
the alias) every ``interval`` seconds: the same cost whatever the size of the store, on
SQLite and PostgreSQL alike, and no server-side machinery to keep alive. When the id
changes it reads that one move from the history.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rigml.registry._refs import check_alias

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.registry._aliases import AliasMove


class AliasWatch:
    """Watches alias ``alias`` of model ``name``.

    ``wait(timeout)`` blocks until the alias moves and returns the move; ``follow(callback)``
    calls ``callback(move)`` from a daemon thread for every move until :meth:`close`.
    ``current`` is the version holding the alias when last read (None: nobody).
    """

    def __init__(self, lab: Lab, name: str, alias: str, *, interval: float = 0.2) -> None:
        from rigml.registry._refs import model_id

        check_alias(alias)
        self.lab, self.name, self.alias, self.interval = lab, name, alias, interval
        with lab.store.read() as conn:
            self._model_id = model_id(conn, name)
        self._seen, self.current = self._read()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> tuple[int | None, int | None]:
        from sqlalchemy import select

        from rigml.store.schema import model_aliases as ma
        from rigml.store.schema import model_versions as mv

        query = (
            select(ma.c.move_id, mv.c.version)
            .join(mv, mv.c.id == ma.c.version_id)
            .where(ma.c.model_id == self._model_id, ma.c.alias == self.alias)
        )
        with self.lab.store.read() as conn:
            row = conn.execute(query).first()
        return (None, None) if row is None else (int(row.move_id), int(row.version))

    def poll(self) -> AliasMove | None:
        """One check: the move since the last check, or None when the alias did not move."""
        seen, current = self._read()
        if seen == self._seen:
            return None
        self._seen, self.current = seen, current
        return self._latest_move()

    def _latest_move(self) -> AliasMove:
        from sqlalchemy import select

        from rigml.registry._aliases import move_from_row
        from rigml.store.schema import alias_moves as am

        query = (
            select(am)
            .where(am.c.model_id == self._model_id, am.c.alias == self.alias)
            .order_by(am.c.id.desc())
            .limit(1)
        )
        with self.lab.store.read() as conn:
            return move_from_row(conn.execute(query).one(), self.name)

    def wait(self, timeout: float | None = None) -> AliasMove | None:
        """Block until the alias moves (the move), ``timeout`` passes or :meth:`close` (None)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            move = self.poll()
            if move is not None:
                return move
            left = (
                self.interval
                if deadline is None
                else min(self.interval, deadline - time.monotonic())
            )
            if left <= 0:
                return None
            self._stop.wait(left)
        return None

    def follow(self, callback: Callable[[AliasMove], object]) -> threading.Thread:
        """Call ``callback(move)`` on every move, from a daemon thread, until :meth:`close`.

        An exception in ``callback`` is not fatal to the watch: it is reported by the
        thread's excepthook and the watch goes on.
        """

        def loop() -> None:
            while not self._stop.is_set():
                move = self.wait()
                if move is None:
                    continue
                try:
                    callback(move)
                except Exception:
                    threading.excepthook(threading.ExceptHookArgs(_exc_args()))

        self._thread = threading.Thread(target=loop, name=f"rig-watch-{self.name}", daemon=True)
        self._thread.start()
        return self._thread

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> AliasWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _exc_args() -> tuple[type[BaseException], BaseException, object, threading.Thread | None]:
    import sys

    kind, value, tb = sys.exc_info()
    assert kind is not None and value is not None
    return kind, value, tb, threading.current_thread()


def watch_alias(lab: Lab, name: str, alias: str, *, interval: float = 0.2) -> AliasWatch:
    """An :class:`AliasWatch` on ``name@alias``.

    Raises:
        ModelNotFound: no such model.
        InvalidInput: the alias is malformed.
    """
    return AliasWatch(lab, name, alias, interval=interval)
