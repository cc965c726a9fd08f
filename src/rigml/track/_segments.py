"""Pack metric points into columnar segments and back.

A segment holds the points of one metric key from one flush: steps (int64), timestamps
(float64 epoch seconds) and values (float64), each as a little-endian byte string. Packing
uses the stdlib ``array`` module so that a training process never needs numpy to log;
reading uses numpy, where a million points are a few concatenations.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

_SWAP = sys.byteorder != "little"


def _le(a: array[Any]) -> bytes:
    if _SWAP:
        a.byteswap()
    return a.tobytes()


def pack(steps: Sequence[int], times: Sequence[float], values: Sequence[float]) -> dict[str, Any]:
    """Column values of one ``metric_segments`` row (without run_id and key)."""
    return {
        "count": len(values),
        "first_step": min(steps),
        "last_step": max(steps),
        "steps": _le(array("q", steps)),
        "times": _le(array("d", times)),
        "values": _le(array("d", values)),
    }


@dataclass(frozen=True)
class History:
    """Every point of one metric of one run, ordered by step then logging order."""

    key: str
    steps: np.ndarray
    times: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)


def unpack(key: str, rows: Iterable[tuple[bytes, bytes, bytes]]) -> History:
    """Concatenate segments (in insertion order) into one history sorted by step."""
    import numpy as np

    steps, times, values = [], [], []
    for s, t, v in rows:
        steps.append(np.frombuffer(s, dtype="<i8"))
        times.append(np.frombuffer(t, dtype="<f8"))
        values.append(np.frombuffer(v, dtype="<f8"))
    if not values:
        empty = np.empty(0)
        return History(key, empty.astype("int64"), empty, empty)
    st = np.concatenate(steps)
    tm = np.concatenate(times)
    vl = np.concatenate(values)
    if len(st) > 1 and not bool(np.all(st[1:] >= st[:-1])):
        order = np.argsort(st, kind="stable")
        st, tm, vl = st[order], tm[order], vl[order]
    return History(key, st, tm, vl)


def pack_arrays(history: History) -> dict[str, Any]:
    """Column values of one segment holding a whole (numpy) history."""
    return {
        "count": len(history),
        "first_step": int(history.steps.min()),
        "last_step": int(history.steps.max()),
        "steps": history.steps.astype("<i8").tobytes(),
        "times": history.times.astype("<f8").tobytes(),
        "values": history.values.astype("<f8").tobytes(),
    }
