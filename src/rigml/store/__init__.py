"""The metadata store: one SQLAlchemy engine over SQLite (default) or PostgreSQL."""

from __future__ import annotations

from rigml.store._engine import Store

__all__ = ["Store"]
