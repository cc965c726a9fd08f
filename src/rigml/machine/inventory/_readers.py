"""Small file readers shared by the inventory's sections (those of the reading layer)."""

from __future__ import annotations

from rigml.machine.readings._files import read_small as _read
from rigml.machine.readings._files import to_int as _to_int

__all__ = ["_read", "_to_int"]
