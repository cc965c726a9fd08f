"""Small file readers shared by the readings: sysfs and procfs files that may be absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_small(path: Path) -> str | None:
    """A small sysfs/procfs file, stripped; ``None`` when it is absent or unreadable."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def to_int(value: Any) -> int | None:
    """``value`` as an int, or ``None`` when it is not a whole number."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
