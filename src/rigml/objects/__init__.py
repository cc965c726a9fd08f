"""Content-addressed object store: immutable bytes named by their blake3 hash."""

from __future__ import annotations

from rigml.objects._store import ObjectStore, hash_bytes, hash_file

__all__ = ["ObjectStore", "hash_bytes", "hash_file"]
