"""Audit tests sign with a key in the test's own folder, never the developer's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _audit_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    key = tmp_path / "keys" / "audit.key"
    monkeypatch.setenv("RIG_AUDIT_KEY", str(key))
    return key
