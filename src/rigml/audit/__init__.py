"""The tamper-evident audit log: who changed what, when and why, as RFC 6962 Merkle leaves.

``record(conn, ...)`` appends an entry inside the caller's write transaction (the change and
its entry commit or roll back together), ``verify`` recomputes every leaf and the tree head,
``checkpoint`` signs the head with an Ed25519 key kept outside the store. Names load lazily.
"""

# No ``from __future__ import annotations`` and no public import here: every public
# attribute of this package is in ``__all__`` (tests/audit/test_exports.py checks it).
import typing as _typing

from rigml._lazy import attach as _attach

if _typing.TYPE_CHECKING:
    from rigml.audit._checkpoint import Checkpoint, checkpoint, default_key_path, load_checkpoint
    from rigml.audit._entry import AuditEntry
    from rigml.audit._log import entries
    from rigml.audit._record import record, record_now
    from rigml.audit._tree import (
        consistency_proof,
        leaf_hash,
        node_hash,
        root_hash,
        verify_consistency,
    )
    from rigml.audit._verify import VerifyReport, verify

_LAZY = {
    "AuditEntry": "_entry",
    "Checkpoint": "_checkpoint",
    "VerifyReport": "_verify",
    "checkpoint": "_checkpoint",
    "consistency_proof": "_tree",
    "default_key_path": "_checkpoint",
    "entries": "_log",
    "leaf_hash": "_tree",
    "load_checkpoint": "_checkpoint",
    "node_hash": "_tree",
    "record": "_record",
    "record_now": "_record",
    "root_hash": "_tree",
    "verify": "_verify",
    "verify_consistency": "_tree",
}

__all__ = [
    "AuditEntry",
    "Checkpoint",
    "VerifyReport",
    "checkpoint",
    "consistency_proof",
    "default_key_path",
    "entries",
    "leaf_hash",
    "load_checkpoint",
    "node_hash",
    "record",
    "record_now",
    "root_hash",
    "verify",
    "verify_consistency",
]

__getattr__, __dir__ = _attach(__name__, _LAZY, __all__, globals())
