"""Compare two dataset versions: files added, removed and changed; for tabular files also rows,
schema and column statistics.

Rows are compared by content: every row of the columns both sides share is hashed
(pandas' ``hash_pandas_object``, batch by batch, so files larger than memory stream) and the
two multisets of hashes are matched. A row edited in place counts as one removed and one
added, as in a line diff.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from rigml.data._tabular import TablePart
    from rigml.data._versions import FileEntry
    from rigml.lab import Lab

_STATS = ("nulls", "min", "max", "mean", "std")


@dataclass
class TableDiff:
    rows_a: int
    rows_b: int
    rows_added: int | None  # None: rows were not compared (no pandas, or asked not to)
    rows_removed: int | None
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    type_changes: list[dict[str, str]] = field(default_factory=list)  # column, a, b
    stat_changes: list[dict[str, Any]] = field(default_factory=list)  # column, stat, a, b


@dataclass
class FileChange:
    path: str
    status: str  # added | removed | changed
    size_a: int | None
    size_b: int | None
    table: TableDiff | None = None


@dataclass
class DatasetDiff:
    a: str
    b: str
    added: list[FileChange] = field(default_factory=list)
    removed: list[FileChange] = field(default_factory=list)
    changed: list[FileChange] = field(default_factory=list)
    unchanged: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diff(lab: Lab, ref_a: str, ref_b: str, *, rows: bool = True) -> DatasetDiff:
    """What changed from version ``ref_a`` to ``ref_b``.

    Args:
        rows: compare tabular rows by content (reads both files; needs pandas).

    Raises:
        DatasetNotFound: either version does not exist.
    """
    from rigml.data._refs import resolve
    from rigml.data._versions import version_files

    va, vb = resolve(lab, ref_a), resolve(lab, ref_b)
    fa = {f.path: f for f in version_files(lab, va)}
    fb = {f.path: f for f in version_files(lab, vb)}
    if va.kind == vb.kind == "file" and len(fa) == len(fb) == 1:
        # a single-file dataset whose file was renamed: compare the one file with the other
        (pa_, ea), (pb_, _eb) = next(iter(fa.items())), next(iter(fb.items()))
        if pa_ != pb_:
            fa = {pb_: ea}
    out = DatasetDiff(va.ref, vb.ref)
    for path in sorted(fa.keys() | fb.keys()):
        a, b = fa.get(path), fb.get(path)
        if a is not None and b is not None and a.object == b.object:
            out.unchanged += 1
        elif a is None and b is not None:
            t = b.tabular
            table = TableDiff(0, t["rows"], t["rows"], 0) if t else None
            out.added.append(FileChange(path, "added", None, b.size, table))
        elif b is None and a is not None:
            t = a.tabular
            table = TableDiff(t["rows"], 0, 0, t["rows"]) if t else None
            out.removed.append(FileChange(path, "removed", a.size, None, table))
        elif a is not None and b is not None:
            table = None
            if a.tabular and b.tabular:
                table = _table_diff(lab, a, b, rows=rows)
            out.changed.append(FileChange(path, "changed", a.size, b.size, table))
    return out


def _table_diff(lab: Lab, a: FileEntry, b: FileEntry, *, rows: bool) -> TableDiff:
    from rigml.data._tabular import family_of

    ta, tb = a.tabular or {}, b.tabular or {}
    ca = {c["name"]: c for c in ta.get("columns", [])}
    cb = {c["name"]: c for c in tb.get("columns", [])}
    out = TableDiff(ta.get("rows", 0), tb.get("rows", 0), None, None)
    out.columns_added = [c for c in cb if c not in ca]
    out.columns_removed = [c for c in ca if c not in cb]
    shared = [c for c in ca if c in cb]
    for c in shared:
        if ca[c]["type"] != cb[c]["type"]:
            out.type_changes.append({"column": c, "a": ca[c]["type"], "b": cb[c]["type"]})
        for stat in _STATS:
            x, y = ca[c].get(stat), cb[c].get(stat)
            if _differs(x, y):
                out.stat_changes.append({"column": c, "stat": stat, "a": x, "b": y})
    # rows are compared over the shared columns whose values compare; a column that changed
    # kind (int to text...) is reported in type_changes and left out of the row hashes
    comparable = []
    for c in shared:
        fa, fb = family_of(ca[c]["type"]), family_of(cb[c]["type"])
        if "other" not in (fa, fb) and (fa == fb or {fa, fb} <= {"int", "float"}):
            comparable.append(c)
    if rows and comparable:
        try:
            import pandas  # noqa: F401
        except ImportError:
            return out
        added, removed = _row_diff(lab, a, b, comparable)
        out.rows_added, out.rows_removed = added, removed
    return out


def _differs(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    return bool(x != y)


def _row_diff(lab: Lab, a: FileEntry, b: FileEntry, columns: list[str]) -> tuple[int, int]:
    import numpy as np

    from rigml.data._tabular import TablePart, unified_schema
    from rigml.data._versions import local_copy

    def only(meta: dict[str, Any] | None) -> dict[str, Any]:
        meta = dict(meta or {})
        meta["columns"] = [c for c in meta.get("columns", []) if c["name"] in columns]
        return meta

    with local_copy(lab, a) as path_a, local_copy(lab, b) as path_b:
        pa_ = TablePart(a.path, path_a, only(a.tabular))
        pb_ = TablePart(b.path, path_b, only(b.tabular))
        schema = unified_schema([pa_, pb_])
        ha = _row_hashes(pa_, schema, columns)
        hb = _row_hashes(pb_, schema, columns)
    ua, ca = np.unique(ha, return_counts=True)
    ub, cb = np.unique(hb, return_counts=True)
    _common, ia, ib = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    matched = int(np.minimum(ca[ia], cb[ib]).sum())
    return len(hb) - matched, len(ha) - matched


def _row_hashes(part: TablePart, schema: Any, columns: list[str]) -> np.ndarray:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from rigml.data._tabular import batches

    target = pa.schema([schema.field(c) for c in columns])
    chunks = []
    for batch in batches(
        part.path,
        part.meta["format"],
        column_types=part.meta.get("column_types"),
        label=part.label,
    ):
        arrays = [
            batch.column(batch.schema.get_field_index(c)).cast(target.field(c).type)
            for c in columns
        ]
        frame = pa.RecordBatch.from_arrays(arrays, schema=target).to_pandas()
        chunks.append(pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64))
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=np.uint64)
