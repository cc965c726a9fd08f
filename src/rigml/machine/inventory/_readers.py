"""Small file readers shared by the inventory's sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _read(path: Path) -> str | None:
    """A small sysfs/procfs file, stripped; ``None`` when it is absent or unreadable."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _to_int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
