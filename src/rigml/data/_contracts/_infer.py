"""Inferring a contract from a version's data: a starting point for a person to edit.

``infer_contract`` profiles the table in one stream with :class:`~rigml.data._profile.TableProfiler`
and turns what it saw into bounds with a margin. It is kept apart from checking because it
shares none of its machinery: it needs the profiler, not pandera.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from rigml.data._contracts._model import TYPES, Bounds, ColumnSpec, Contract, _to_ts

if TYPE_CHECKING:
    from rigml.lab import Lab


def infer_contract(lab: Lab, ref: str, *, file: str | None = None) -> Contract:
    """Propose a contract from the data of version ``ref``: a starting point to edit.

    Types, nullability, observed ranges, categories of text columns with few values,
    uniqueness, row count within 20%, null rates with a margin, the mean within half a
    standard deviation, the median within the observed quartiles, and freshness for a
    timestamp column whose newest value is less than 30 days old.
    """
    from rigml.data._profile import TableProfiler
    from rigml.data._tables import table_parts
    from rigml.data._tabular import table_batches

    info, parts = table_parts(lab, ref, file=file)
    rows, cols = TableProfiler().fit(b for _l, b in table_batches(parts)).result()
    specs = []
    now = time.time()
    for c in cols:
        fam = c.family if c.family in TYPES else None
        spec = ColumnSpec(name=c.name, type=fam, nullable=c.nulls > 0)
        if c.nulls:
            spec.max_null_rate = min(1.0, math.ceil((c.null_rate * 1.5 + 0.01) * 100) / 100)
        if fam in ("int", "float") and c.min is not None:
            spec.min, spec.max = c.min, c.max
        if fam in ("timestamp", "date") and c.min is not None:
            spec.min = c.min
            newest = _to_ts(c.max).timestamp() if c.max is not None else None
            if newest is not None and now - newest < 30 * 86400:
                spec.max_age = f"{max(1, math.ceil((now - newest) / 86400) * 2)}d"
        if (
            fam == "string"
            and c.distinct is not None
            and c.distinct <= 25
            and c.count >= 2 * c.distinct
            and len(c.top) == c.distinct
        ):
            spec.categories = sorted(c.top)
        if (
            fam in ("int", "string")
            and rows > 1
            and c.nulls == 0
            and c.distinct is not None
            and c.distinct == c.count
        ):
            spec.unique = True
        if fam in ("int", "float") and c.mean is not None and c.std is not None and c.count >= 30:
            half = max(c.std * 0.5, abs(c.mean) * 1e-6, 1e-9)
            spec.mean = Bounds(_round(c.mean - half), _round(c.mean + half))
            q25, q75 = c.quantiles.get("0.25"), c.quantiles.get("0.75")
            if q25 is not None and q75 is not None and q25 < q75:
                spec.quantiles = {0.5: Bounds(_round(q25), _round(q75))}
        specs.append(spec)
    lo, hi = math.floor(rows * 0.8), math.ceil(rows * 1.2)
    return Contract(columns=specs, rows=Bounds(lo, hi), dataset=info.name)


def _round(v: float) -> float:
    return float(f"{v:.6g}")
