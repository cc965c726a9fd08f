"""Recompute every leaf from its stored fields and the tree head; name the first bad entry."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.audit._entry import entry_bytes
from rigml.audit._tree import consistency_proof, leaf_hash, root_hash, verify_consistency

if TYPE_CHECKING:
    from rigml.lab import Lab

_CHUNK = 20_000


@dataclass(frozen=True)
class VerifyReport:
    """What verification found: ``ok`` unless ``bad_seq`` names the first bad entry."""

    size: int
    root: str  # hex, over the recomputed leaves
    bad_seq: int | None = None
    problem: str | None = None  # "edited", "removed", "reordered", "checkpoint"
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


@dataclass
class _Scan:
    leaves: list[bytes]
    bad_seq: int | None = None
    problem: str | None = None
    detail: str | None = None
    edited_row: tuple[Any, ...] | None = None  # the first edited entry's stored fields


def _scan(lab: Lab) -> _Scan:
    """Leaves in seq order, recomputed; the first gap or mismatch is remembered."""
    from sqlalchemy import select

    from rigml.store.schema import audit_log as t

    cols = (t.c.seq, t.c.time, t.c.actor, t.c.action, t.c.subject, t.c.before, t.c.after)
    q = select(*cols, t.c.reason, t.c.leaf).order_by(t.c.seq)
    scan = _Scan([])
    expected = 1
    append, sha = scan.leaves.append, hashlib.sha256  # the loop runs once per entry
    with lab.store.read() as conn:
        result = conn.execution_options(yield_per=_CHUNK).execute(q)
        for part in result.partitions():
            for seq, tm, actor, action, subj, before, after, reason, leaf in part:
                data = entry_bytes(seq, tm, actor, action, subj, before, after, reason)
                computed = sha(b"\x00" + data).digest()
                append(computed)
                if (seq != expected or computed.hex() != leaf) and scan.problem is None:
                    _bad(scan, expected, seq, computed, leaf)
                    scan.edited_row = (tm, actor, action, subj, before, after, reason, leaf)
                expected = seq + 1
    if scan.problem == "edited":
        _maybe_reordered(scan, expected - 1)
    return scan


def _bad(scan: _Scan, expected: int, seq: int, computed: bytes, leaf: str) -> bool:
    """Note a gap before ``seq`` or a leaf that no longer matches; True for the latter."""
    if seq != expected:
        scan.bad_seq, scan.problem = expected, "removed"
        last = seq - 1
        gone = f"entry {expected}" if last == expected else f"entries {expected}..{last}"
        scan.detail = f"{gone} missing (seq jumps to {seq})"
    elif computed.hex() != leaf:
        scan.bad_seq, scan.problem = seq, "edited"
        scan.detail = f"entry {seq}: stored fields no longer match its leaf hash"
        return True
    return False


def _maybe_reordered(scan: _Scan, last: int) -> None:
    """An edited entry whose fields and leaf match under another seq was moved from there.

    Only the first bad entry is tried against every seq: a cost paid on failure alone.
    """
    assert scan.edited_row is not None
    *fields, leaf = scan.edited_row
    want = bytes.fromhex(leaf)
    for seq in range(1, last + 1):
        if seq != scan.bad_seq and leaf_hash(entry_bytes(seq, *fields)) == want:
            scan.problem = "reordered"
            scan.detail = f"entry {scan.bad_seq} holds the contents recorded as entry {seq}"
            return


def _consistent(leaves: list[bytes], m: int, old_root: bytes) -> bool:
    """An RFC 9162 consistency proof from the checkpoint's tree to today's, checked."""
    if m == 0:
        return old_root == root_hash([])
    proof = consistency_proof(leaves, m)
    return verify_consistency(m, len(leaves), old_root, root_hash(leaves), proof)


def verify(lab: Lab, *, checkpoint: str | Path | None = None) -> VerifyReport:
    """Check every entry, then (with ``checkpoint``) its signature and that the log only grew."""
    scan = _scan(lab)
    size = len(scan.leaves)
    root = root_hash(scan.leaves).hex()
    if scan.problem is not None:
        return VerifyReport(size, root, scan.bad_seq, scan.problem, scan.detail)
    if checkpoint is None:
        return VerifyReport(size, root)
    from rigml.audit._checkpoint import load_checkpoint

    head = load_checkpoint(checkpoint)
    if head.size > size:
        detail = f"the checkpoint holds {head.size} entries, the log only {size}"
        return VerifyReport(size, root, size + 1, "checkpoint", detail, head.size)
    if not _consistent(scan.leaves, head.size, bytes.fromhex(head.root)):
        old = root_hash(scan.leaves[: head.size]).hex()
        detail = (
            f"the first {head.size} entries hash to {old[:16]}..., the checkpoint says "
            f"{head.root[:16]}...: history before it was rewritten"
        )
        return VerifyReport(size, root, None, "checkpoint", detail, head.size)
    return VerifyReport(size, root, checkpoint_size=head.size)
