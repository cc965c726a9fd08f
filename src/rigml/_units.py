"""Sizes and durations as people write and read them: one rule each, used everywhere.

Sizes are binary (GiB, as ``nvidia-smi`` and ``free -h`` show them), and read so too
(``16G`` is 16 GiB; only ``16GB`` is decimal); durations read
``90s``, ``10m``, ``1.5h``, ``7d``, ``2w`` or ``1w 2d``, and a bare number is seconds.
"""

from __future__ import annotations

import math
import re

__all__ = ["GIB", "MIB", "format_bytes", "format_duration", "parse_bytes", "parse_duration"]

KIB = 1024
MIB = 1024**2
GIB = 1024**3
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")

_PART = re.compile(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgtp]?)(i?)(b?)\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def format_bytes(n: float | None, *, missing: str = "-") -> str:
    """``1536`` → ``"1.5 KiB"``; whole bytes below 1 KiB, one decimal above."""
    if n is None:
        return missing
    size = float(n)
    sign = "-" if size < 0 else ""
    size = abs(size)
    for unit in _UNITS:
        if size < 1024 or unit == _UNITS[-1]:
            return f"{sign}{size:.0f} {unit}" if unit == "B" else f"{sign}{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_duration(seconds: float | None, *, missing: str = "-") -> str:
    """``42.5`` → ``"42.5s"``, ``754`` → ``"12m34s"``, ``7384`` → ``"2h03m"``."""
    if seconds is None or math.isnan(seconds):
        return missing
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    if h >= 48:
        d, h = divmod(h, 24)
        return f"{d}d{h:02d}h"
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``"90s"``, ``"10m"``, ``"1.5h"``, ``"7d"``, ``"1w 2d"`` or a bare number.

    Units are case-insensitive except that ``m`` is always minutes.

    Raises:
        ValueError: the text is not a duration; callers wrap it in their own error, which
            knows the option or field it came from.
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration")
    if isinstance(text, int | float):
        if math.isnan(text) or text < 0:
            raise ValueError(f"{text!r} is not a duration")
        return float(text)
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        pass
    else:
        if math.isnan(value) or value < 0:
            raise ValueError(f"{text!r} is not a duration")
        return value
    parts = _PART.findall(s)
    if not parts or _PART.sub("", s).strip():
        raise ValueError(f"{text!r} is not a duration such as 90s, 10m, 1.5h, 7d or 2w")
    return sum(float(n) * _SECONDS[u.lower()] for n, u in parts)


def parse_bytes(text: str | float | int) -> int:
    """Bytes in ``"16GiB"``, ``"16G"``, ``"512Mi"`` (binary), ``"16GB"`` (decimal) or a number.

    A prefix alone or with ``i`` is binary, as sizes are shown; with ``B`` and no ``i`` it
    is decimal, as disks are sold. Case does not matter; a bare number is bytes.

    Raises:
        ValueError: not a size, or a negative one; callers wrap it in their own error, which
            knows the field it came from.
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a size")
    if isinstance(text, int | float):
        if math.isnan(text) or text < 0:
            raise ValueError(f"{text!r} is not a size")
        return int(text)
    found = _SIZE.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a size such as 16GiB, 512MiB or 64GB")
    number, prefix, binary, byte = found.groups()
    if binary and not prefix:  # "16i", "16iB"
        raise ValueError(f"{text!r} is not a size such as 16GiB, 512MiB or 64GB")
    decimal = bool(byte) and not binary and bool(prefix)
    return int(float(number) * (1000 if decimal else 1024) ** _POWERS[prefix.lower()])


def parse_when(text: str) -> float:
    """Epoch seconds of ``7d`` / ``12h`` (that long ago) or an ISO date or date-time.

    Raises:
        ValueError: it is neither (the caller words the error for its flag).
    """
    import time
    from datetime import datetime

    try:
        return time.time() - parse_duration(text)
    except ValueError:
        pass
    return datetime.fromisoformat(text.strip()).timestamp()
