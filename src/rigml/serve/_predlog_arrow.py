"""Prediction records to Arrow tables: one column per input feature, the outputs, the request.

The service hands the log one record per request (its rows' inputs as a DataFrame or an
array, one output per row). The writer thread converts a whole flush at once: records are
grouped by (model, version, arm), the inputs of a group concatenated in one ``pd.concat`` or
``np.concatenate`` (10,000 one-row frames take about 40 ms), and the request's fields repeated
per row with ``np.repeat``. A record that cannot be converted is left out and counted; it
never spoils the rest of the flush.

Columns: ``request_id``, ``row`` (the row's place in its request), ``time`` (epoch seconds),
``model``, ``version``, ``arm``, ``latency_ms``, ``in.<feature>`` for each input column
(``in.0``, ``in.1``... for an array without ``input_names``), ``out`` (a list per row when the
model gives several outputs), and ``proba.<class>`` when the record holds ``proba``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

BASE_COLUMNS = ("request_id", "row", "time", "model", "version", "arm", "latency_ms")
INPUT_PREFIX = "in."
PROBA_PREFIX = "proba."
OUTPUT = "out"

GroupKey = tuple[str, int, str]  # model, version, arm


@dataclass(frozen=True)
class Converted:
    """One group's rows as an Arrow table, and the records left out of it."""

    key: GroupKey
    table: pa.Table
    rejected: int


def row_count(record: Mapping[str, Any]) -> int:
    """Rows in a record: one per output. ``TypeError``/``KeyError`` when it has none."""
    return len(record["outputs"])


def group_key(record: Mapping[str, Any]) -> GroupKey:
    return (str(record["model"]), int(record["version"]), str(record.get("arm") or "primary"))


def convert(records: Sequence[Mapping[str, Any]]) -> list[Converted]:
    """Tables of ``records``, one per (model, version, arm); bad records left out, counted."""
    groups: dict[GroupKey, list[Mapping[str, Any]]] = {}
    rejected_keys = 0
    for rec in records:
        try:
            key = group_key(rec)
        except (KeyError, TypeError, ValueError):
            rejected_keys += 1
            continue
        groups.setdefault(key, []).append(rec)
    out: list[Converted] = []
    for key, recs in groups.items():
        table, rejected = _group_table(recs)
        if table is not None:
            out.append(Converted(key, table, rejected))
        elif rejected:
            out.append(Converted(key, _empty(), rejected))
    if rejected_keys:
        out.append(Converted(("", 0, ""), _empty(), rejected_keys))
    return out


def _empty() -> pa.Table:
    import pyarrow as pa

    return pa.table({})


def _group_table(recs: list[Mapping[str, Any]]) -> tuple[pa.Table | None, int]:
    """All records at once; when that fails, one by one so a bad one only loses itself."""
    try:
        return _table_of(recs), 0
    except Exception:
        pass
    tables, rejected = [], 0
    for rec in recs:
        try:
            tables.append(_table_of([rec]))
        except Exception:
            rejected += 1
    return (concat(tables) if tables else None), rejected


def concat(tables: Iterable[pa.Table]) -> pa.Table:
    """Tables with possibly different columns as one (missing columns are nulls)."""
    import pyarrow as pa

    return pa.concat_tables(list(tables), promote_options="permissive")


def _table_of(recs: list[Mapping[str, Any]]) -> pa.Table:
    """Records of one group whose inputs share a kind (frames; arrays of one width)."""
    frames: list[list[Mapping[str, Any]]] = [[], []]  # DataFrame-like, array inputs
    for rec in recs:
        frames[_is_array(rec["inputs"])].append(rec)
    parts = [_kind_table(part, array=bool(i)) for i, part in enumerate(frames) if part]
    return parts[0] if len(parts) == 1 else concat(parts)


def _is_array(inputs: Any) -> int:
    return int(hasattr(inputs, "ndim") and not hasattr(inputs, "columns"))


def _kind_table(recs: list[Mapping[str, Any]], *, array: bool) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    counts = np.fromiter((row_count(r) for r in recs), dtype=np.int64, count=len(recs))
    inputs = _array_inputs(recs) if array else _frame_inputs(recs)
    if len(inputs) != int(counts.sum()):
        raise ValueError("inputs and outputs differ in length")
    columns: dict[str, Any] = _base(recs, counts)
    for name in inputs.columns:
        columns[f"{INPUT_PREFIX}{name}"] = pa.array(inputs[name].to_numpy(), from_pandas=True)
    columns[OUTPUT] = _outputs([r["outputs"] for r in recs])
    columns.update(_proba(recs))
    return pa.table(columns)


def _base(recs: list[Mapping[str, Any]], counts: np.ndarray[Any, Any]) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa

    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    rows = np.arange(total, dtype=np.int32) - np.repeat(starts, counts).astype(np.int32)
    first = recs[0]

    def repeat(key: str, dtype: Any) -> np.ndarray[Any, Any]:
        return np.repeat(np.array([r[key] for r in recs], dtype=dtype), counts)

    return {
        "request_id": pa.array(repeat("request_id", object).astype(str), type=pa.string()),
        "row": pa.array(rows, type=pa.int32()),
        "time": pa.array(repeat("time", np.float64)),
        "model": pa.array([str(first["model"])] * total, type=pa.string()),
        "version": pa.array(np.full(total, int(first["version"]), dtype=np.int32)),
        "arm": pa.array([str(first.get("arm") or "primary")] * total, type=pa.string()),
        "latency_ms": pa.array(repeat("latency_ms", np.float64)),
    }


def _frame_inputs(recs: list[Mapping[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    if all(isinstance(r["inputs"], list) for r in recs):  # JSON records: one frame for all
        frame = pd.DataFrame.from_records([row for r in recs for row in r["inputs"]])
        frame.columns = [str(c) for c in frame.columns]
        return frame
    frames = [
        r["inputs"] if isinstance(r["inputs"], pd.DataFrame) else _as_frame(r["inputs"])
        for r in recs
    ]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _as_frame(inputs: Any) -> pd.DataFrame:
    """A dict of lists or a list of records, as the service may pass them through."""
    import pandas as pd

    return pd.DataFrame(inputs if isinstance(inputs, Mapping) else list(inputs))


def _array_inputs(recs: list[Mapping[str, Any]]) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    arrays = [np.asarray(r["inputs"]) for r in recs]
    arrays = [a.reshape(len(a), -1) if a.ndim != 2 else a for a in arrays]
    stacked = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
    names = recs[0].get("input_names")
    columns = [str(n) for n in names] if names else [str(i) for i in range(stacked.shape[1])]
    return pd.DataFrame(stacked, columns=columns, copy=False)


def _outputs(outputs: list[Any]) -> pa.Array:
    """One value per row; a row of several outputs becomes a fixed-size list."""
    import numpy as np
    import pyarrow as pa

    arrays = [np.asarray(o) for o in outputs]
    flat = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
    if flat.ndim == 2 and flat.shape[1] == 1:
        flat = flat[:, 0]
    if flat.ndim == 1:
        return pa.array(flat.tolist() if flat.dtype == object else flat)
    width = int(np.prod(flat.shape[1:]))
    values = pa.array(np.ascontiguousarray(flat).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(values, width)


def _proba(recs: list[Mapping[str, Any]]) -> dict[str, Any]:
    """``proba.<class>`` columns when every record carries probabilities (classes optional)."""
    import numpy as np

    if not all(r.get("proba") is not None for r in recs):
        return {}
    proba = np.concatenate([np.asarray(r["proba"], dtype=np.float64) for r in recs])
    proba = proba.reshape(len(proba), -1)
    classes = recs[0].get("classes")
    names = [str(c) for c in classes] if classes is not None else []
    if len(names) != proba.shape[1]:
        names = [str(i) for i in range(proba.shape[1])]
    return {f"{PROBA_PREFIX}{n}": proba[:, i] for i, n in enumerate(names)}
