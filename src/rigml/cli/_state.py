"""Options given before the command (``rig --lab PATH runs list``) and the lab they open."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rigml.lab import Lab

lab_path: Path | None = None
debug: bool = False


def open_lab() -> Lab:
    from rigml.lab import open_lab as _open

    return _open(lab_path)
