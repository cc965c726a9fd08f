"""One audit entry, its canonical bytes and its leaf hash."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rigml.audit._tree import leaf_hash

_QUOTE = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept as is


def canonical_json(value: Any) -> str | None:
    """Sorted keys, no spaces: the one text a value is stored (and hashed) as."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_bytes(
    seq: int,
    time: float,
    actor: str,
    action: str,
    subject: str,
    before: str | None,
    after: str | None,
    reason: str | None,
) -> bytes:
    """The canonical JSON of an entry's stored fields, seq included (so order is hashed too).

    Exactly ``json.dumps([seq, time, actor, ...], separators=(",", ":"),
    ensure_ascii=False)``, written out by hand: verify runs it once per entry, and the
    general encoder costs a few microseconds more each time.
    """
    q = _QUOTE
    b = "null" if before is None else q(before)
    a = "null" if after is None else q(after)
    r = "null" if reason is None else q(reason)
    return f"[{int(seq)},{float(time)!r},{q(actor)},{q(action)},{q(subject)},{b},{a},{r}]".encode()


@dataclass(frozen=True)
class AuditEntry:
    """A change: who (actor), when (time), what (action on subject, before/after), why."""

    seq: int
    time: float
    actor: str
    action: str
    subject: str
    before: Any
    after: Any
    reason: str | None
    leaf: str  # hex

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "leaf": self.leaf,
        }


def compute_leaf(
    seq: int,
    time: float,
    actor: str,
    action: str,
    subject: str,
    before: str | None,
    after: str | None,
    reason: str | None,
) -> bytes:
    return leaf_hash(entry_bytes(seq, time, actor, action, subject, before, after, reason))
