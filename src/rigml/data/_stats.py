"""Streaming column statistics shared by ``rig data add`` (tabular) and profiles.

Mean and variance are merged batch by batch with Chan et al.'s pairwise formula: each batch
contributes its own count, mean and sum of squared deviations (two passes over the batch, in
numpy), so values with a large offset (timestamps in ns, ids near 1e12) keep their precision,
which the textbook ``E[x²] - E[x]²`` loses.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

ORDERED = ("int", "float", "bool", "string", "timestamp", "date")


class Moments:
    """Count, mean and M2 (sum of squared deviations) of a stream of float arrays."""

    __slots__ = ("m2", "mean", "n")

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def feed(self, values: np.ndarray) -> None:
        """Add finite float64 values (callers drop NaN and infinities)."""
        nb = len(values)
        if nb == 0:
            return
        mb = float(values.mean())
        m2b = float(((values - mb) ** 2).sum())
        if self.n == 0:
            self.n, self.mean, self.m2 = nb, mb, m2b
            return
        n = self.n + nb
        delta = mb - self.mean
        self.mean += delta * nb / n
        self.m2 += m2b + delta * delta * self.n * nb / n
        self.n = n

    @property
    def std(self) -> float | None:
        """Population standard deviation, or None without values."""
        if not self.n:
            return None
        var = max(0.0, self.m2 / self.n)
        return math.sqrt(var) if math.isfinite(var) else None

    @property
    def mean_or_none(self) -> float | None:
        return self.mean if self.n and math.isfinite(self.mean) else None


class ColumnStats:
    """Non-null count, nulls, min, max and moments of one column, fed array by array."""

    def __init__(self) -> None:
        self.count = 0
        self.nulls = 0
        self.min: Any = None
        self.max: Any = None
        self.moments = Moments()

    def feed(self, arr: pa.Array | pa.ChunkedArray, fam: str, *, numeric: bool) -> Any:
        """Update from ``arr`` (of family ``fam``); returns the array without nulls, or None.

        ``numeric``: also update the moments (numbers and booleans).
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        n, nulls = len(arr), arr.null_count
        self.count += n - nulls
        self.nulls += nulls
        if n == nulls:
            return None
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        valid = pc.drop_null(arr) if nulls else arr
        if fam in ORDERED:
            mm = pc.min_max(valid)
            lo, hi = _finite(mm["min"].as_py()), _finite(mm["max"].as_py())
            if lo is not None and (self.min is None or lo < self.min):
                self.min = lo
            if hi is not None and (self.max is None or hi > self.max):
                self.max = hi
        if numeric:
            self.moments.feed(finite_floats(valid))
        return valid


def finite_floats(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The finite values of a numeric or boolean array (without nulls) as float64."""
    import numpy as np
    import pyarrow as pa

    values = np.asarray(arr.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    finite: np.ndarray = values[np.isfinite(values)]
    return finite


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
