"""Signed tree heads: size, root and time under an Ed25519 key kept outside the store."""

from __future__ import annotations

import base64
import json
import os
import time as _time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidCheckpoint

if TYPE_CHECKING:
    from rigml.lab import Lab

KEY_ENV = "RIG_AUDIT_KEY"


def default_key_path() -> Path:
    """``$RIG_AUDIT_KEY``, else ``~/.config/rigml/audit-ed25519.key``."""
    env = os.environ.get(KEY_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".config" / "rigml" / "audit-ed25519.key"


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log had ``size`` entries hashing to ``root`` at ``time``."""

    size: int
    root: str  # hex
    time: float
    public_key: str  # base64 of the raw 32-byte Ed25519 key
    signature: str  # base64

    def signed_bytes(self) -> bytes:
        head = {"size": self.size, "root": self.root, "time": self.time}
        return json.dumps(head, sort_keys=True, separators=(",", ":")).encode()

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "root": self.root,
            "time": self.time,
            "public_key": self.public_key,
            "signature": self.signature,
        }


def _load_or_create_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise InvalidCheckpoint(str(path), f"not a readable Ed25519 key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidCheckpoint(str(path), "not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def checkpoint(lab: Lab, key_path: str | Path | None = None) -> Checkpoint:
    """Verify the log, then sign its head; the key is created (0600) on first use."""
    from cryptography.hazmat.primitives import serialization

    from rigml.audit._verify import verify
    from rigml.errors import AuditTampered

    report = verify(lab)
    if not report.ok:
        raise AuditTampered(report.bad_seq, report.detail or "")
    key = _load_or_create_key(Path(key_path).expanduser() if key_path else default_key_path())
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    unsigned = Checkpoint(report.size, report.root, round(_time.time(), 3), "", "")
    sig = key.sign(unsigned.signed_bytes())
    b64 = base64.b64encode
    return Checkpoint(
        unsigned.size, unsigned.root, unsigned.time, b64(raw).decode(), b64(sig).decode()
    )


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file and check its signature against the key it names."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    where = str(path)
    try:
        data = json.loads(Path(path).read_text())
        head = Checkpoint(
            int(data["size"]),
            str(data["root"]),
            float(data["time"]),
            str(data["public_key"]),
            str(data["signature"]),
        )
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(head.public_key))
        signature = base64.b64decode(head.signature)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidCheckpoint(where, f"cannot read it: {exc}") from exc
    try:
        public.verify(signature, head.signed_bytes())
    except InvalidSignature as exc:
        raise InvalidCheckpoint(where, "its signature does not match its tree head") from exc
    return head
