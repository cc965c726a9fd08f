"""Verify a long log on two cores: this process scans the first half, a child the rest.

The child is a fresh interpreter (``python -c``) rather than a multiprocessing worker:
spawn would first re-run the parent's ``__main__`` (the ``rig`` script, pytest), and fork
would copy an open connection. Its request goes in on stdin and its ticks and result come
back on stdout, pickled: both ends are this module. It reads on a connection of its own,
SQLite opened read-only or PostgreSQL with the store's connect arguments, bounded by the
parent's ``max(seq)``, so entries appended meanwhile are left out on both sides. When the
child cannot help (no second core, an in-memory database, a failed start), the parent
scans that stretch itself: the result never depends on the child.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rigml.audit import _scan
from rigml.audit._scan import Part, gap, scan_cursor, select_sql

if TYPE_CHECKING:
    from sqlalchemy import Connection

MIN_ROWS = 1 << 17  # below this a child costs about what it saves
_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding this rigml package
_CHILD = (
    "import pickle, sys; req = pickle.load(sys.stdin.buffer); sys.path.insert(0, req['root']); "
    "from rigml.audit._split import child_main; child_main(req)"
)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Connect:
    """How a child opens the same database: ``module.connect(*args, **kwargs)``."""

    module: str  # "sqlite3" or "psycopg"
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def cores() -> int:
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def connect_spec(conn: Connection) -> Connect | None:
    """The child's way to this store, or None where it has none (in-memory SQLite, URIs)."""
    dialect, url = conn.dialect, conn.engine.url
    if dialect.name == "sqlite":
        db = url.database
        if not db or db == ":memory:" or db.startswith("file:") or "uri" in url.query:
            return None
        path = Path(db).resolve()
        if not path.is_file():
            return None
        return Connect("sqlite3", (path.as_uri() + "?mode=ro",), {"uri": True})
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        args, kwargs = dialect.create_connect_args(url)
        kwargs.pop("context", None)  # SQLAlchemy's adapters: plain columns need none
        return Connect("psycopg", tuple(args), dict(kwargs))
    return None


def child_main(req: dict[str, Any]) -> None:
    """The child: scan the stretch ``req`` names, send ticks and then the part (or an error)."""
    out = sys.stdout.buffer

    def send(kind: str, value: Any) -> None:
        pickle.dump((kind, value), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    spec: Connect = req["connect"]
    try:
        module = __import__(spec.module)
        db = module.connect(*spec.args, **spec.kwargs)
        try:
            part = scan_cursor(
                db,
                req["sql"],
                postgres=spec.module == "psycopg",
                expected=None,
                block=req["block"],
                keep_leaves=req["keep_leaves"],
                tick=lambda n: send("tick", n),
            )
        finally:
            db.close()
    except Exception as exc:  # reported to the parent, which then scans the stretch itself
        send("error", f"{type(exc).__name__}: {exc}")
    else:
        send("part", part)


class _Child:
    """A child scanning one stretch; a thread collects its ticks and result."""

    def __init__(self, req: dict[str, Any]) -> None:
        self.done = 0
        self.part: Part | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.proc.stdin as stdin:
            pickle.dump(req | {"root": _ROOT}, stdin)
        self._thread = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stdout: IO[bytes]) -> None:
        try:
            while True:
                kind, value = pickle.load(stdout)
                if kind == "tick":
                    self.done += value
                elif kind == "part":
                    self.part = value
                    return
                else:
                    log.debug("audit verify child failed: %s", value)
                    return
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            log.debug("audit verify child ended early: %r", exc)

    def wait(self, tick: Callable[[], None]) -> Part | None:
        while self._thread.is_alive():
            self._thread.join(0.1)
            tick()
        self.proc.wait()
        return self.part

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def merge(left: Part, right: Part) -> Part | None:
    """``left`` then ``right`` as one part; None when they do not join (the log changed)."""
    if right.count and left.tail:
        return None  # the first half came back short of its blocks
    if right.first is not None and left.last is not None and right.first <= left.last:
        return None  # the halves overlap
    finding = left.finding
    end = 0 if left.last is None else left.last
    if finding is None and right.first is not None and right.first != end + 1:
        finding = gap(end + 1, right.first)
    leaves = None
    if left.leaves is not None and right.leaves is not None:
        leaves = left.leaves + right.leaves
    return Part(
        count=left.count + right.count,
        first=left.first if left.first is not None else right.first,
        last=right.last if right.last is not None else left.last,
        finding=finding or right.finding,
        blocks=left.blocks + right.blocks,
        tail=right.tail if right.count else left.tail,
        leaves=leaves,
    )


def scan_split(
    conn: Connection,
    spec: Connect,
    upto: int,
    *,
    keep_leaves: bool,
    tick: Callable[[int], None] | None = None,
) -> Part | None:
    """Scan seqs up to ``upto``: the first half here, the rest in a child, then merged.

    The split falls on a block boundary, so both halves' block roots are subtrees of the
    whole tree. ``tick`` gets the rows done so far by both. None when the halves do not
    join; the caller then scans the log in one pass.
    """
    block = _scan.BLOCK
    split = max(upto // 2 // block, 1) * block
    right_sql = select_sql(upto=upto, offset=split)
    req = {"connect": spec, "sql": right_sql, "block": block, "keep_leaves": keep_leaves}
    raw = conn.connection.dbapi_connection
    postgres = spec.module == "psycopg"
    own = [0]

    def report(n: int = 0) -> None:
        own[0] += n
        if tick is not None:
            tick(own[0] + child.done)

    child = _Child(req)
    try:
        left_sql = select_sql(upto=upto, limit=split)
        left = scan_cursor(
            raw, left_sql, postgres=postgres, block=block, keep_leaves=keep_leaves, tick=report
        )
        right = child.wait(report)
    finally:
        child.stop()
    if right is None:  # the child could not run: do its stretch here
        child.done = 0
        right = scan_cursor(
            raw,
            right_sql,
            postgres=postgres,
            expected=None,
            block=block,
            keep_leaves=keep_leaves,
            tick=report,
        )
    return merge(left, right)
