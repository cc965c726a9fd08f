"""Recompute every leaf from its stored fields and the tree head; name the first bad entry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.audit import _scan, _split
from rigml.audit._scan import Finding, Part
from rigml.audit._tree import consistency_proof, root_hash, root_of_blocks, verify_consistency

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.lab import Lab

Progress = Callable[[str, int, int], None]  # (phase, done, total), as rigml.data reports


@dataclass(frozen=True)
class VerifyReport:
    """What verification found: ``ok`` unless ``bad_seq`` names the first bad entry."""

    size: int
    root: str  # hex, over the recomputed leaves
    bad_seq: int | None = None
    problem: str | None = None  # "edited", "removed", "reordered", "inserted", "checkpoint"
    detail: str | None = None
    checkpoint_size: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "root": self.root,
            "bad_seq": self.bad_seq,
            "problem": self.problem,
            "detail": self.detail,
            "checkpoint_size": self.checkpoint_size,
        }


def _read(conn: Connection, *, keep_leaves: bool, progress: Progress | None) -> Part:
    """Every entry up to today's last seq, scanned: in two processes when that is faster.

    ``max(seq)`` is read first through SQLAlchemy, which opens the read transaction that
    the DBAPI cursor then shares; it also bounds the scan and sizes the progress bar.
    """
    from sqlalchemy import text

    upto = conn.execute(text("SELECT max(seq) FROM audit_log")).scalar()
    if upto is None:
        return Part(leaves=bytearray() if keep_leaves else None)
    done = [0]

    def seen(n: int) -> None:  # entries checked so far, by both processes
        if progress is not None:
            progress("verify", min(n, upto), upto)

    def tick(n: int) -> None:  # entries just checked here
        done[0] += n
        seen(done[0])

    part = None
    spec = _split.connect_spec(conn) if upto >= _split.MIN_ROWS and _split.cores() > 1 else None
    if spec is not None:
        part = _split.scan_split(conn, spec, upto, keep_leaves=keep_leaves, tick=seen)
    if part is None:
        raw = conn.connection.dbapi_connection
        part = _scan.scan_cursor(
            raw,
            _scan.select_sql(upto=upto),
            postgres=conn.dialect.name == "postgresql",
            block=_scan.BLOCK,
            keep_leaves=keep_leaves,
            tick=tick,
        )
    seen(upto)
    return part


def _moved_from(finding: Finding, last: int) -> int | None:
    """The other seq under which an edited entry's fields hash to its stored leaf, if any.

    Only the first bad entry is tried against every seq: a cost paid on failure alone.
    """
    assert finding.fields is not None
    *fields, leaf = finding.fields
    try:
        want = bytes.fromhex(leaf)
        for lo in range(1, last + 1, _scan.BLOCK):
            seqs = range(lo, min(lo + _scan.BLOCK, last + 1))
            found = _scan.leaves([(seq, *fields, None) for seq in seqs])
            hits = [seq for seq, d in zip(seqs, found, strict=True) if d == want]
            hits = [seq for seq in hits if seq != finding.bad_seq]
            if hits:
                return hits[0]
    except (TypeError, ValueError, OverflowError):  # fields or leaf of the wrong type
        return None
    return None


def _explain(conn: Connection, finding: Finding, last: int) -> Finding:
    """Tell a moved entry from an edited one, and an insertion from a move.

    An entry whose contents were recorded under seq ``src`` was moved there from ``src``.
    When ``src`` comes before it, every entry from ``src`` on checked out, so unless the
    row at ``src`` is the same entry again (a copy), entries were slipped in at ``src``
    and the ones after pushed down: the first bad entry is the first inserted one.
    """
    from sqlalchemy import text

    src = _moved_from(finding, last)
    if src is None:
        return finding
    bad = finding.bad_seq
    moved = f"entry {bad} holds the contents recorded as entry {src}"
    if src > bad:
        return Finding(bad, "reordered", moved)
    sql = text("SELECT leaf FROM audit_log WHERE seq = :seq")
    there = conn.execute(sql, {"seq": src}).scalar()
    assert finding.fields is not None
    if there == finding.fields[-1]:  # the same entry twice
        return Finding(bad, "reordered", moved)
    new = f"entry {src} was" if bad - src == 1 else f"entries {src}..{bad - 1} were"
    return Finding(src, "inserted", f"{new} inserted: {moved}")


def _consistent(leaves: list[bytes], root: bytes, m: int, old_root: bytes) -> bool:
    """An RFC 9162 consistency proof from the checkpoint's tree to today's, checked."""
    if m == 0:
        return old_root == root_hash([])
    proof = consistency_proof(leaves, m)
    return verify_consistency(m, len(leaves), old_root, root, proof)


def verify(
    lab: Lab, *, checkpoint: str | Path | None = None, progress: Progress | None = None
) -> VerifyReport:
    """Check every entry, then (with ``checkpoint``) its signature and that the log only grew.

    ``progress("verify", done, total)`` is called as entries are checked. The leaves are
    kept in memory (32 bytes each) only when a checkpoint's proof needs them.
    """
    with lab.store.read() as conn:
        part = _read(conn, keep_leaves=checkpoint is not None, progress=progress)
        finding = part.finding
        if finding is not None and finding.problem == "edited" and part.last is not None:
            finding = _explain(conn, finding, part.last)
    size = part.count
    root_bytes = root_of_blocks(part.blocks, part.tail)
    root = root_bytes.hex()
    if finding is not None:
        return VerifyReport(size, root, finding.bad_seq, finding.problem, finding.detail)
    if checkpoint is None:
        return VerifyReport(size, root)
    from rigml.audit._checkpoint import load_checkpoint

    head = load_checkpoint(checkpoint)
    if head.size > size:
        detail = f"the checkpoint holds {head.size} entries, the log only {size}"
        return VerifyReport(size, root, size + 1, "checkpoint", detail, head.size)
    assert part.leaves is not None
    buf, part.leaves = bytes(part.leaves), None
    leaves = [buf[i : i + 32] for i in range(0, len(buf), 32)]
    del buf
    if not _consistent(leaves, root_bytes, head.size, bytes.fromhex(head.root)):
        old = root_hash(leaves[: head.size]).hex()
        detail = (
            f"the first {head.size} entries hash to {old[:16]}..., the checkpoint says "
            f"{head.root[:16]}...: history before it was rewritten"
        )
        return VerifyReport(size, root, None, "checkpoint", detail, head.size)
    return VerifyReport(size, root, checkpoint_size=head.size)
