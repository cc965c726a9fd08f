"""The hot loop of `verify`: read the log in seq order and recompute its leaves, in blocks.

Rows come straight from the DBAPI cursor as tuples: SQLAlchemy's ``Row`` objects cost more
than the hashing. Each block of ``BLOCK`` rows (a power of two) is checked in bulk (its first
and last seq, the hex of its leaves against the stored column) and folded to the root of its
subtree; only a block that fails is walked entry by entry, to name the first bad one. A long
log is split at a block boundary between this process and one child process, each reading
its stretch on a connection of its own (:mod:`rigml.audit._split`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from rigml.audit._entry import entry_bytes
from rigml.audit._tree import root_hash

BLOCK = 1 << 14  # rows per fetch and leaves per subtree; a power of two
COLUMNS = "seq, time, actor, action, subject, before, after, reason, leaf"
Row = Sequence[Any]  # seq, time, actor, action, subject, before, after, reason, leaf
Tick = Callable[[int], None]

_LEAF = itemgetter(8)
_NO_LIMIT = 2**63 - 1
_QUOTE = json.encoder.encode_basestring  # as in _entry: a JSON string, non-ASCII kept


@dataclass
class Finding:
    """The first bad entry of a stretch: a gap before ``bad_seq``, or an edited entry."""

    bad_seq: int
    problem: str  # "removed" or "edited"
    detail: str
    fields: tuple[Any, ...] | None = None  # an edited entry's stored time..reason and leaf


@dataclass
class Part:
    """One seq-ordered stretch of the log, scanned.

    ``blocks`` holds the subtree root of every full block of leaves, ``tail`` the leaves
    after the last one: with the block size that is all the tree head needs, so memory
    stays at one block unless ``leaves`` (every leaf, for a checkpoint) is kept.
    """

    count: int = 0
    first: int | None = None
    last: int | None = None
    finding: Finding | None = None
    blocks: list[bytes] = field(default_factory=list)
    tail: list[bytes] = field(default_factory=list)
    leaves: bytearray | None = None


def select_sql(*, upto: int | None = None, offset: int = 0, limit: int | None = None) -> str:
    """The scan's query: rows in seq order, optionally ``seq <= upto`` and one stretch of them.

    Only integers are formatted in, so one text serves every driver's parameter style;
    SQLite wants a LIMIT before an OFFSET and PostgreSQL a non-negative one, hence the
    largest 64-bit integer for "no limit".
    """
    sql = f"SELECT {COLUMNS} FROM audit_log"
    if upto is not None:
        sql += f" WHERE seq <= {int(upto)}"
    sql += " ORDER BY seq"
    if limit is not None or offset:
        sql += f" LIMIT {_NO_LIMIT if limit is None else int(limit)} OFFSET {int(offset)}"
    return sql


def fetch(cursor: Any, size: int) -> Iterator[Sequence[Row]]:
    """The cursor's rows, ``size`` at a time."""
    while rows := cursor.fetchmany(size):
        yield rows


def leaves(rows: Iterable[Row]) -> list[bytes]:
    """Leaf hashes of ``rows``: :func:`entry_bytes` inlined, with the 0x00 prefix in front.

    The same text as ``entry_bytes`` (tests/audit/test_scan.py checks it), without a
    function call, an ``int()`` (seq is an INTEGER PRIMARY KEY) and a bytes concatenation
    per entry: this comprehension is most of what verifying costs.
    """
    q, sha = _QUOTE, hashlib.sha256
    return [
        sha(
            f"\x00[{s},{float(t)!r},{q(a)},{q(ac)},{q(su)},{'null' if b is None else q(b)},"
            f"{'null' if af is None else q(af)},{'null' if r is None else q(r)}]".encode()
        ).digest()
        for s, t, a, ac, su, b, af, r, _ in rows
    ]


def _leaf_or_stand_in(row: Row) -> bytes:
    """The leaf of one row, or, for fields of the wrong type, a digest no leaf can equal."""
    try:
        return hashlib.sha256(b"\x00" + entry_bytes(*row[:8])).digest()
    except (TypeError, ValueError, OverflowError):
        return hashlib.sha256(b"\x02" + repr(tuple(row[:8])).encode()).digest()


def _digests(rows: Sequence[Row]) -> list[bytes]:
    try:
        return leaves(rows)
    except (TypeError, ValueError, OverflowError):  # a field edited to another type
        return [_leaf_or_stand_in(row) for row in rows]


def _block_ok(rows: Sequence[Row], digests: list[bytes], expected: int) -> bool:
    """Seqs run on from ``expected`` and every stored leaf matches, checked in bulk.

    Seqs are unique integers in order, so the first and last being right means every one is.
    """
    if rows[0][0] != expected or rows[-1][0] != expected + len(rows) - 1:
        return False
    try:
        return b"".join(digests).hex() == "".join(map(_LEAF, rows))
    except TypeError:  # a leaf edited to a non-text value
        return False


def gap(expected: int, seq: int) -> Finding:
    """Entries ``expected``..``seq - 1`` are missing."""
    last = seq - 1
    gone = f"entry {expected}" if last == expected else f"entries {expected}..{last}"
    return Finding(expected, "removed", f"{gone} missing (seq jumps to {seq})")


def _first_bad(rows: Sequence[Row], digests: list[bytes], expected: int) -> Finding | None:
    """Walk a block that failed :func:`_block_ok` to its first bad entry."""
    for row, digest in zip(rows, digests, strict=True):
        seq = row[0]
        if seq != expected:
            return gap(expected, seq)
        if digest.hex() != row[8]:
            detail = f"entry {seq}: stored fields no longer match its leaf hash"
            return Finding(seq, "edited", detail, tuple(row[1:]))
        expected = seq + 1
    return None


def scan(
    chunks: Iterable[Sequence[Row]],
    *,
    expected: int | None = 1,
    block: int = BLOCK,
    keep_leaves: bool = False,
    tick: Tick | None = None,
) -> Part:
    """Recompute and check the leaves of rows in seq order, fold them into block roots.

    ``expected`` is the seq the first row should have; None takes the first row's (a
    stretch that starts where another process's ends). Every leaf is hashed even after
    the first bad entry, so the head reported is the one of what is stored now.
    """
    part = Part(leaves=bytearray() if keep_leaves else None)
    for rows in chunks:
        if not rows:
            continue
        digests = _digests(rows)
        if part.first is None:
            part.first = rows[0][0]
        if expected is None:
            expected = rows[0][0]
        if part.finding is None and not _block_ok(rows, digests, expected):
            part.finding = _first_bad(rows, digests, expected)
        part.last = expected = rows[-1][0]
        expected += 1
        part.count += len(rows)
        _fold(part, digests, block)
        if part.leaves is not None:
            part.leaves += b"".join(digests)
        if tick is not None:
            tick(len(rows))
    return part


def _fold(part: Part, digests: list[bytes], block: int) -> None:
    """Add leaves to ``part``; every full block becomes its subtree root."""
    if not part.tail and len(digests) == block:
        part.blocks.append(root_hash(digests))
        return
    tail = part.tail
    tail.extend(digests)
    while len(tail) >= block:
        part.blocks.append(root_hash(tail[:block]))
        del tail[:block]


def scan_cursor(
    dbapi_conn: Any,
    sql: str,
    *,
    postgres: bool,
    expected: int | None = 1,
    block: int = BLOCK,
    keep_leaves: bool = False,
    tick: Tick | None = None,
) -> Part:
    """:func:`scan` the rows of ``sql`` on a DBAPI connection (sqlite3 or psycopg).

    PostgreSQL gets a server-side cursor, so memory holds one block of rows, not the log.
    """
    cursor = dbapi_conn.cursor(name="rig_audit_verify") if postgres else dbapi_conn.cursor()
    try:
        cursor.execute(sql)
        chunks = fetch(cursor, block)
        return scan(chunks, expected=expected, block=block, keep_leaves=keep_leaves, tick=tick)
    finally:
        cursor.close()
