"""Profiles of tabular dataset versions: per-column statistics and histograms, in one stream.

Counts, nulls, min, max, mean and standard deviation are exact. Quantiles and histograms
come from a uniform sample of at most ``sample_size`` rows per column (exact when the table
is smaller), kept by the "bottom-k random keys" method so that it stays uniform however
many batches stream past. Distinct counts are exact up to ``MAX_DISTINCT`` values.

:class:`TableProfiler` follows scikit-learn's estimator conventions: ``fit`` learns,
learned state ends in ``_``, and :meth:`TableProfiler.result` before ``fit`` says so.
Contracts reuse it to infer bounds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rigml.data._tables import table_parts
from rigml.errors import NotFittedError, NotFound

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from rigml.data._versions import Progress
    from rigml.lab import Lab

SAMPLE_SIZE = 200_000
MAX_DISTINCT = 1_000_000
MAX_TOP = 10_000  # distinct values counted for top values of text columns
BINS = 20
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass
class ColumnProfile:
    name: str
    type: str
    family: str
    count: int  # non-null values
    nulls: int
    null_rate: float
    distinct: int | None  # None: more than MAX_DISTINCT
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, Any] = field(default_factory=dict)
    histogram: list[int] = field(default_factory=list)
    bin_edges: list[float] = field(default_factory=list)
    top: dict[str, int] = field(default_factory=dict)  # 25 most frequent values (text, bool)
    approximate: bool = False  # quantiles and histogram from a sample


@dataclass
class Profile:
    ref: str
    files: list[str]
    rows: int
    columns: list[ColumnProfile]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def column(self, name: str) -> ColumnProfile:
        for c in self.columns:
            if c.name == name:
                return c
        raise NotFound(f"no column {name!r} in {self.ref}", hint="see `rig data show`")


class _Column:
    """Streaming state of one column."""

    def __init__(self, name: str, dtype: pa.DataType, sample_size: int, rng: Any) -> None:
        from rigml.data._stats import ColumnStats
        from rigml.data._tabular import family

        self.name, self.dtype, self.family = name, dtype, family(dtype)
        self.stats = ColumnStats()
        self.sample_size, self.rng = sample_size, rng
        self.sample_vals: np.ndarray | None = None
        self.sample_keys: np.ndarray | None = None
        self.hashes: list[np.ndarray] = []
        self.hashed = 0
        self.counts: dict[Any, int] = {}
        self.counts_truncated = False

    @property
    def numeric(self) -> bool:
        return self.family in ("int", "float", "bool", "timestamp", "date")

    @property
    def count(self) -> int:
        return self.stats.count

    def feed(self, arr: pa.Array) -> None:
        import numpy as np
        import pyarrow.compute as pc

        plain = self.family in ("int", "float", "bool")
        valid = self.stats.feed(arr, self.family, numeric=plain)
        if valid is None:
            return
        if self.numeric:
            values = _as_float(valid)
            self._sample(values[np.isfinite(values)])
        if self.family in ("string", "bool") and not self.counts_truncated:
            vc = pc.value_counts(valid)
            for v, c in zip(
                vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True
            ):
                if v in self.counts:
                    self.counts[v] += c
                elif len(self.counts) < MAX_TOP:
                    self.counts[v] = c
                else:
                    self.counts_truncated = True
        if self.hashed <= MAX_DISTINCT * 4 and self.family != "other":
            self.hashes.append(_hash(valid))
            self.hashed += len(valid)
            if len(self.hashes) > 16:
                self.hashes = [np.unique(np.concatenate(self.hashes))]

    def _sample(self, values: np.ndarray) -> None:
        import numpy as np

        keys = self.rng.random(len(values))
        if self.sample_vals is None or self.sample_keys is None:
            vals, ks = values, keys
        else:
            vals = np.concatenate([self.sample_vals, values])
            ks = np.concatenate([self.sample_keys, keys])
        if len(vals) > self.sample_size:
            keep = np.argpartition(ks, self.sample_size)[: self.sample_size]
            vals, ks = vals[keep], ks[keep]
        self.sample_vals, self.sample_keys = vals, ks

    def distinct(self) -> int | None:
        import numpy as np

        if self.family == "other":
            return None  # not counted (times of day, durations, nested values)
        if self.hashed > MAX_DISTINCT * 4 or not self.hashes:
            return None if self.hashed else 0
        n = len(np.unique(np.concatenate(self.hashes)))
        return None if n > MAX_DISTINCT else n

    def result(self, bins: int) -> ColumnProfile:
        import numpy as np

        from rigml.data._tabular import jsonable

        st = self.stats
        total = st.count + st.nulls
        prof = ColumnProfile(
            name=self.name,
            type=str(self.dtype),
            family=self.family,
            count=st.count,
            nulls=st.nulls,
            null_rate=st.nulls / total if total else 0.0,
            distinct=self.distinct(),
            min=jsonable(st.min),
            max=jsonable(st.max),
        )
        if self.family in ("int", "float", "bool") and st.count:
            prof.mean = st.moments.mean_or_none
            prof.std = st.moments.std
        sample = self.sample_vals
        if sample is not None and len(sample):
            prof.approximate = self.count > len(sample)
            qs = np.quantile(sample, QUANTILES)
            prof.quantiles = {f"{q:g}": self._back(v) for q, v in zip(QUANTILES, qs, strict=True)}
            lo, hi = float(sample.min()), float(sample.max())
            if lo == hi:
                lo, hi = lo - 0.5, hi + 0.5
            counts, edges = np.histogram(sample, bins=bins, range=(lo, hi))
            if prof.approximate:  # scale the sample's counts to the whole column
                counts = np.round(counts * (self.count / len(sample))).astype(int)
            prof.histogram = [int(c) for c in counts]
            prof.bin_edges = [float(e) for e in edges]
        if self.counts:
            top = sorted(self.counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:25]
            prof.top = {str(k): int(v) for k, v in top}
        return prof

    def _back(self, v: float) -> Any:
        """A sample value in the column's own terms (timestamps as ISO text)."""
        from datetime import UTC, datetime

        if self.family in ("timestamp", "date"):
            return datetime.fromtimestamp(v, UTC).isoformat()
        return float(v)


def _as_float(arr: pa.Array) -> np.ndarray:
    """Numbers, booleans and times as float64 (times in epoch seconds)."""
    import numpy as np
    import pyarrow as pa

    t = arr.type
    if pa.types.is_timestamp(t):
        scale = {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[t.unit]
        raw = arr.cast(pa.int64()).to_numpy(zero_copy_only=False)
        return np.asarray(raw, dtype=np.float64) / scale
    if pa.types.is_date(t):
        days = arr.cast(pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)
        return np.asarray(days, dtype=np.float64) * 86400.0
    return np.asarray(arr.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _hash(arr: pa.Array) -> np.ndarray:
    import numpy as np

    try:
        import pandas as pd

        return pd.util.hash_array(arr.to_numpy(zero_copy_only=False))
    except ImportError:  # pragma: no cover - the data extra brings pandas
        return np.array([hash(v) for v in arr.to_pylist()], dtype=np.int64).view(np.uint64)


class TableProfiler:
    """Learns per-column statistics from a stream of record batches.

    Args:
        sample_size: rows kept per column for quantiles and histograms.
        bins: histogram bins.
        seed: for the sample, so that a profile is reproducible.
    """

    def __init__(self, *, sample_size: int = SAMPLE_SIZE, bins: int = BINS, seed: int = 0) -> None:
        self.sample_size = sample_size
        self.bins = bins
        self.seed = seed

    def fit(self, batches: Iterable[pa.RecordBatch]) -> TableProfiler:
        import numpy as np

        rng = np.random.default_rng(self.seed)
        cols: dict[str, _Column] = {}
        rows = 0
        for batch in batches:
            rows += batch.num_rows
            for f, arr in zip(batch.schema, batch.columns, strict=True):
                if f.name not in cols:
                    cols[f.name] = _Column(f.name, f.type, self.sample_size, rng)
                cols[f.name].feed(arr)
        self.rows_ = rows
        self.columns_ = [c.result(self.bins) for c in cols.values()]
        return self

    def result(self) -> tuple[int, list[ColumnProfile]]:
        if not hasattr(self, "columns_"):
            raise NotFittedError(type(self).__name__)
        return self.rows_, self.columns_


def _counted(
    stream: Iterable[tuple[str, pa.RecordBatch]], total: int, progress: Progress | None
) -> Iterable[pa.RecordBatch]:
    done = 0
    for _label, batch in stream:
        done += batch.num_rows
        if progress:
            progress("profile", done, total)
        yield batch


def profile(
    lab: Lab,
    ref: str,
    *,
    file: str | None = None,
    sample_size: int = SAMPLE_SIZE,
    progress: Progress | None = None,
) -> Profile:
    """Profile the tabular files of a version, read as one table."""
    from rigml.data._tabular import table_batches

    t0 = time.perf_counter()
    info, parts = table_parts(lab, ref, file=file)
    total = sum(p.meta.get("rows", 0) for p in parts)
    prof = TableProfiler(sample_size=sample_size).fit(
        _counted(table_batches(parts), total, progress)
    )
    rows, columns = prof.result()
    return Profile(info.ref, [p.label for p in parts], rows, columns, time.perf_counter() - t0)
