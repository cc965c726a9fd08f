"""Checking a version against a contract, in chunks, with two pandera schemas.

Row-level checks are a pandera ``DataFrameSchema`` validated lazily on each chunk, so every
failure is collected with its file and row; dataset-level figures are aggregated while the
chunks stream past (:class:`_Aggregates`) and validated by a second schema over a one-row
frame. pandas, numpy, pyarrow and pandera are imported inside the functions that use them.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rigml.data._contracts._model import Contract, _to_ts, contract_to_yaml, max_age_seconds
from rigml.data._contracts._results import CheckReport, Failure, _store
from rigml.errors import MissingExtra

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from rigml.data._tabular import TablePart
    from rigml.data._versions import Progress
    from rigml.lab import Lab

CHUNK_ROWS = 500_000
SAMPLE_SIZE = 200_000


def _pandera() -> Any:
    try:
        import pandera.pandas as pa_
    except ImportError as exc:
        raise MissingExtra("data", module="pandera") from exc
    return pa_


_DTYPES = {
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "string": "str",
    "timestamp": "datetime64[us]",
    "date": "datetime64[us]",
}


def _row_schema(contract: Contract) -> tuple[Any, dict[tuple[str, int], str]]:
    """The pandera schema of row-level checks, and (column, check number) -> check id."""
    pa_ = _pandera()
    columns = {}
    numbering: dict[tuple[str, int], str] = {}
    for c in contract.columns:
        checks = []
        if c.min is not None or c.max is not None:
            lo = _to_ts(c.min) if c.type in ("timestamp", "date") and c.min is not None else c.min
            hi = _to_ts(c.max) if c.type in ("timestamp", "date") and c.max is not None else c.max
            if lo is not None and hi is not None:
                checks.append(pa_.Check.in_range(lo, hi))
            elif lo is not None:
                checks.append(pa_.Check.ge(lo))
            else:
                checks.append(pa_.Check.le(hi))
            numbering[(c.name, len(checks) - 1)] = f"{c.name}: range"
        if c.categories is not None and c.max_unseen_share is None:
            checks.append(pa_.Check.isin(c.categories))
            numbering[(c.name, len(checks) - 1)] = f"{c.name}: categories"
        columns[c.name] = pa_.Column(
            _DTYPES[c.type] if c.type else None,
            checks=checks,
            nullable=c.nullable,
            required=True,
        )
    return pa_.DataFrameSchema(columns, strict=contract.strict, coerce=False), numbering


class _Aggregates:
    """Dataset-level figures gathered while the chunks stream past."""

    def __init__(self, contract: Contract, seed: int = 0) -> None:
        import numpy as np

        self.contract = contract
        self.rows = 0
        self.rng = np.random.default_rng(seed)
        self.nulls: dict[str, int] = {}
        self.present: set[str] = set()
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.samples: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.unseen: dict[str, int] = {}
        self.unseen_examples: dict[str, list[dict[str, Any]]] = {}
        self.newest: dict[str, Any] = {}
        self.hashes: dict[str, list[np.ndarray]] = {}
        self.dup_examples: dict[str, list[dict[str, Any]]] = {}

    def feed(self, df: pd.DataFrame, locate: Any, examples: int) -> None:
        import numpy as np
        import pandas as pd

        self.rows += len(df)
        for c in self.contract.columns:
            if c.name not in df.columns:
                continue
            self.present.add(c.name)
            s = df[c.name]
            notna = s.notna()
            nn = int(notna.sum())
            self.nulls[c.name] = self.nulls.get(c.name, 0) + len(s) - nn
            self.counts[c.name] = self.counts.get(c.name, 0) + nn
            if c.mean is not None or c.quantiles:
                values = pd.to_numeric(s[notna], errors="coerce").to_numpy(
                    dtype=np.float64, na_value=np.nan
                )
                values = values[np.isfinite(values)]
                self.sums[c.name] = self.sums.get(c.name, 0.0) + float(values.sum())
                if c.quantiles:
                    self._sample(c.name, values)
            if c.categories is not None and c.max_unseen_share is not None:
                bad = notna & ~s.isin(c.categories)
                n_bad = int(bad.sum())
                self.unseen[c.name] = self.unseen.get(c.name, 0) + n_bad
                ex = self.unseen_examples.setdefault(c.name, [])
                if n_bad and len(ex) < examples:
                    for i in np.flatnonzero(bad.to_numpy())[: examples - len(ex)]:
                        ex.append(locate(int(i), s.iloc[int(i)]))
            if c.max_age is not None and nn:
                top = s[notna].max()
                if c.name not in self.newest or top > self.newest[c.name]:
                    self.newest[c.name] = top
            if c.unique:  # nulls are missing values, not duplicates of each other
                self.hashes.setdefault(c.name, []).append(
                    pd.util.hash_pandas_object(s[notna], index=False).to_numpy(dtype=np.uint64)
                )
                ex = self.dup_examples.setdefault(c.name, [])
                if len(ex) < examples:
                    dup = (s.duplicated(keep=False) & notna).to_numpy()
                    for i in np.flatnonzero(dup)[: examples - len(ex)]:
                        ex.append(locate(int(i), s.iloc[int(i)]))

    def _sample(self, name: str, values: np.ndarray) -> None:
        import numpy as np

        keys = self.rng.random(len(values))
        if name in self.samples:
            old_v, old_k = self.samples[name]
            values, keys = np.concatenate([old_v, values]), np.concatenate([old_k, keys])
        if len(values) > SAMPLE_SIZE:
            keep = np.argpartition(keys, SAMPLE_SIZE)[:SAMPLE_SIZE]
            values, keys = values[keep], keys[keep]
        self.samples[name] = (values, keys)

    def figures(self, now: float) -> dict[str, float | None]:
        """One figure per dataset-level check id."""
        import numpy as np

        out: dict[str, float | None] = {}
        if self.contract.rows is not None:
            out["rows"] = float(self.rows)
        for c in self.contract.columns:
            n = c.name
            here = n in self.present
            count = self.counts.get(n, 0)
            total = count + self.nulls.get(n, 0)
            if c.max_null_rate is not None:
                out[f"{n}: null rate"] = self.nulls.get(n, 0) / total if here and total else None
            if c.mean is not None:
                out[f"{n}: mean"] = self.sums.get(n, 0.0) / count if here and count else None
            for q in c.quantiles:
                sample = self.samples.get(n, (np.empty(0), np.empty(0)))[0]
                out[f"{n}: q{q:g}"] = float(np.quantile(sample, q)) if len(sample) else None
            if c.categories is not None and c.max_unseen_share is not None:
                out[f"{n}: unseen share"] = (
                    self.unseen.get(n, 0) / count if here and count else (0.0 if here else None)
                )
            if c.max_age is not None:
                newest = self.newest.get(n)
                # a time without a zone is UTC here, as the tables store it
                age = now - _to_ts(newest).timestamp() if newest is not None else None
                out[f"{n}: freshness"] = age
            if c.unique:
                hashes = self.hashes.get(n)
                if not here or not hashes:
                    out[f"{n}: unique"] = None if not here else 0.0
                else:
                    _u, counts = np.unique(np.concatenate(hashes), return_counts=True)
                    out[f"{n}: unique"] = float(counts[counts > 1].sum())
        return out


def _dataset_schema(contract: Contract) -> Any:
    """A pandera schema over the one-row frame of dataset-level figures."""
    pa_ = _pandera()
    cols: dict[str, Any] = {}

    def bounded(key: str, lo: float | None, hi: float | None) -> None:
        if lo is not None and hi is not None:
            check = pa_.Check.in_range(lo, hi)
        elif lo is not None:
            check = pa_.Check.ge(lo)
        else:
            check = pa_.Check.le(hi)
        cols[key] = pa_.Column(float, checks=[check], nullable=False, required=True)

    if contract.rows is not None:
        bounded("rows", contract.rows.min, contract.rows.max)
    for c in contract.columns:
        n = c.name
        if c.max_null_rate is not None:
            bounded(f"{n}: null rate", None, c.max_null_rate)
        if c.mean is not None:
            bounded(f"{n}: mean", c.mean.min, c.mean.max)
        for q, b in c.quantiles.items():
            bounded(f"{n}: q{q:g}", b.min, b.max)
        if c.categories is not None and c.max_unseen_share is not None:
            bounded(f"{n}: unseen share", None, c.max_unseen_share)
        if c.max_age is not None:
            bounded(f"{n}: freshness", None, max_age_seconds(c))
        if c.unique:
            bounded(f"{n}: unique", None, 0.0)
    return pa_.DataFrameSchema(cols) if cols else None


def _frames(
    parts: Sequence[TablePart], contract: Contract, chunk_rows: int
) -> Iterator[tuple[pd.DataFrame, list[tuple[int, str, int]]]]:
    """Chunks as pandas frames with (first chunk row, file, first file row) spans."""
    import pyarrow as pa

    from rigml.data._tabular import table_batches

    wanted = None if contract.strict else [c.name for c in contract.columns]
    pending: list[pa.RecordBatch] = []
    spans: list[tuple[int, str, int]] = []
    n = 0
    file_rows: dict[str, int] = {}

    def flush() -> tuple[pd.DataFrame, list[tuple[int, str, int]]]:
        table = pa.Table.from_batches(pending)
        return _to_pandas(table, contract), list(spans)

    for label, batch in table_batches(parts, columns=wanted):
        if n >= chunk_rows:
            yield flush()
            pending.clear()
            spans.clear()
            n = 0
        spans.append((n, label, file_rows.get(label, 0)))
        file_rows[label] = file_rows.get(label, 0) + batch.num_rows
        pending.append(batch)
        n += batch.num_rows
    if pending:
        yield flush()


def _to_pandas(table: pa.Table, contract: Contract) -> pd.DataFrame:
    """Arrow to pandas with nullable dtypes, so a null never turns integers into floats."""
    import pandas as pd
    import pyarrow as pa

    types = {c.name: c.type for c in contract.columns}
    arrays, names = [], []
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if pa.types.is_timestamp(t):
            # sub-microsecond digits are dropped, not an error (pandas' range is µs here)
            col = col.cast(pa.timestamp("us", tz=t.tz), safe=False) if t.unit != "us" else col
            if t.tz is not None:
                col = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
        elif pa.types.is_date(t):
            col = col.cast(pa.timestamp("us"))
        elif pa.types.is_integer(t) and types.get(name) == "float":
            col = col.cast(pa.float64())  # an int column satisfies a float contract
        elif pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
        arrays.append(col)
        names.append(name)
    mapping = {
        pa.int8(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(),
        pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.Int64Dtype(), pa.uint16(): pd.Int64Dtype(),
        pa.uint32(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(),
    }  # fmt: skip
    frame: pd.DataFrame = pa.Table.from_arrays(arrays, names=names).to_pandas(
        types_mapper=mapping.get
    )
    return frame


class _Failures:
    """Failures by check id, each created on first use, with the table's own columns (to
    say what a missing column could have been)."""

    def __init__(self, contract: Contract, examples: int, columns: Sequence[str]) -> None:
        self.contract, self.examples, self.columns = contract, examples, list(columns)
        self.types = {c.name: c.type for c in contract.columns}
        self.found: dict[str, Failure] = {}

    def get(self, check_id: str, column: str | None) -> Failure:
        if check_id not in self.found:
            self.found[check_id] = Failure(check_id, column, 0, [])
        return self.found[check_id]

    def missing_column(self, name: str, rows: int) -> None:
        typ = self.types.get(name)
        f = self.get(f"{name}: type {typ}" if typ else f"{name}: present", name)
        f.failing_rows = (f.failing_rows or 0) + rows
        have = ", ".join(self.columns[:20]) + (" ..." if len(self.columns) > 20 else "")
        f.detail = f"the column {name!r} is missing; the table has {have or 'no columns'}"

    def ordered(self, ids: Sequence[str]) -> list[Failure]:
        """In the contract's order, then any other (pandera's own) checks."""
        known = [self.found[i] for i in ids if i in self.found]
        return known + [f for i, f in self.found.items() if i not in ids]


def check(
    lab: Lab,
    ref: str,
    contract: Contract,
    *,
    file: str | None = None,
    examples: int = 5,
    chunk_rows: int = CHUNK_ROWS,
    store: bool = True,
    progress: Progress | None = None,
) -> CheckReport:
    """Validate version ``ref`` against ``contract`` and store the result with the version.

    Never raises for failing data: the report says what failed, how many rows, and shows a
    few examples with their file and row. Use :func:`require_passing_check` to gate on it.

    Raises:
        DatasetNotFound: no such version.
        NotFound: the version holds no tabular file.
        MissingExtra: pandera/pyarrow are not installed (``rigml[data]``).
    """
    from rigml.data._tables import table_parts
    from rigml.data._tabular import unified_schema

    _pandera()
    t0 = time.perf_counter()
    info, parts = table_parts(lab, ref, file=file)
    failures = _Failures(contract, examples, unified_schema(parts).names)
    agg = _Aggregates(contract)
    _check_rows(parts, contract, chunk_rows, failures, agg, progress)
    figures = agg.figures(time.time())
    _check_dataset(contract, figures, agg, failures)
    ids = contract.check_ids()
    found = failures.ordered(ids)
    report = CheckReport(
        ref=info.ref,
        passed=not found,
        checks=len(ids),
        failed=len(found),
        rows=agg.rows,
        failures=found,
        observed={k: _plain(v) for k, v in figures.items()},
        contract_object=lab.objects.put_bytes(contract_to_yaml(contract).encode()),
        seconds=time.perf_counter() - t0,
    )
    if store:
        report.id = _store(lab, info, report)
    return report


Locate = Callable[[int, Any], dict[str, Any]]


def _locator(spans: list[tuple[int, str, int]]) -> Locate:
    """Chunk row -> ``{value, file, row}`` (the 1-based data row of that file)."""
    import numpy as np

    starts = np.array([s[0] for s in spans])

    def locate(i: int, value: Any) -> dict[str, Any]:
        k = int(np.searchsorted(starts, i, side="right")) - 1
        first, label, file_row = spans[k]
        return {"value": _plain(value), "file": label, "row": file_row + (i - first) + 1}

    return locate


def _check_rows(
    parts: Sequence[TablePart],
    contract: Contract,
    chunk_rows: int,
    failures: _Failures,
    agg: _Aggregates,
    progress: Progress | None,
) -> None:
    """Row-level checks chunk by chunk; dataset-level figures gathered on the way."""
    pa_ = _pandera()
    row_schema, numbering = _row_schema(contract)
    total_rows = sum(p.meta.get("rows", 0) for p in parts)
    done = 0
    for df, spans in _frames(parts, contract, chunk_rows):
        locate = _locator(spans)
        try:
            row_schema.validate(df, lazy=True)
        except pa_.errors.SchemaErrors as exc:
            _collect(exc.failure_cases, numbering, len(df), locate, failures)
        agg.feed(df, locate, failures.examples)
        done += len(df)
        if progress:
            progress("check", done, total_rows)


def _check_dataset(
    contract: Contract, figures: dict[str, float | None], agg: _Aggregates, failures: _Failures
) -> None:
    """Dataset-level checks: one pandera schema over the one-row frame of ``figures``."""
    import numpy as np
    import pandas as pd

    pa_ = _pandera()
    ds_schema = _dataset_schema(contract)
    if ds_schema is None:
        return
    frame = pd.DataFrame({k: [np.nan if v is None else float(v)] for k, v in figures.items()})
    try:
        ds_schema.validate(frame, lazy=True)
    except pa_.errors.SchemaErrors as exc:
        for key in dict.fromkeys(str(c) for c in exc.failure_cases["column"] if c is not None):
            col = key.split(": ", 1)[0] if ": " in key else None
            f = failures.get(key, col)
            value = figures.get(key)
            f.failing_rows = _dataset_failing_rows(key, value, agg, col)
            if value is None:
                f.detail = "could not be measured: the column is missing or has no values"
            else:
                f.detail = f"observed {_plain(value)}; expected {_expected(contract, key)}"
            if key.endswith(": unique"):
                f.examples = agg.dup_examples.get(col or "", [])[: failures.examples]
            elif key.endswith(": unseen share"):
                f.examples = agg.unseen_examples.get(col or "", [])[: failures.examples]


def _dataset_failing_rows(key: str, value: Any, agg: _Aggregates, col: str | None) -> int | None:
    if value is None:
        return None
    if key == "rows":
        return None
    if key.endswith(": null rate"):
        return agg.nulls.get(col or "", 0)
    if key.endswith(": unseen share"):
        return agg.unseen.get(col or "", 0)
    if key.endswith(": unique"):
        return int(value)
    return None


def _expected(contract: Contract, key: str) -> str:
    schema = _dataset_schema(contract)
    checks = schema.columns[key].checks if schema is not None and key in schema.columns else []
    return ", ".join(_describe(c) for c in checks) or "-"


def _describe(check: Any) -> str:
    stats = getattr(check, "statistics", {}) or {}
    if "min_value" in stats and "max_value" in stats:
        return f"between {stats['min_value']} and {stats['max_value']}"
    if "min_value" in stats:
        return f">= {stats['min_value']}"
    if "max_value" in stats:
        return f"<= {stats['max_value']}"
    return str(check)


def _collect(
    cases: pd.DataFrame,
    numbering: dict[tuple[str, int], str],
    chunk_len: int,
    locate: Locate,
    failures: _Failures,
) -> None:
    """Fold pandera's failure cases of one chunk into per-check failures."""
    for (column, check_name, number), group in cases.groupby(
        ["column", "check", "check_number"], dropna=False, sort=False
    ):
        col = None if column is None or _is_nan(column) else str(column)
        check_name = str(check_name)
        if check_name == "column_in_dataframe":
            for missing in group["failure_case"]:
                failures.missing_column(str(missing), chunk_len)
        elif check_name == "column_in_schema":
            f = failures.get("no other columns", None)
            f.detail = "columns the contract does not name: " + ", ".join(
                sorted({str(v) for v in group["failure_case"]})
            )
        elif check_name.startswith("dtype("):
            f = failures.get(f"{col}: type {failures.types.get(col or '')}", col)
            f.failing_rows = (f.failing_rows or 0) + chunk_len
            want = _DTYPES.get(failures.types.get(col or "") or "", "?")
            f.detail = f"found {group['failure_case'].iloc[0]}, expected {want}"
        else:
            cid = _row_check_id(col, check_name, number, numbering)
            _add_cases(failures.get(cid, col), group, locate, failures.examples)


def _is_nan(v: object) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _row_check_id(
    col: str | None, check_name: str, number: object, numbering: dict[tuple[str, int], str]
) -> str:
    if check_name == "not_nullable":
        return f"{col}: not null"
    if isinstance(number, numbers.Real) and not math.isnan(float(number)):
        return numbering.get((col or "", int(float(number))), f"{col}: {check_name}")
    return f"{col}: {check_name}"


def _add_cases(f: Failure, group: pd.DataFrame, locate: Locate, examples: int) -> None:
    idx = group["index"].dropna()
    f.failing_rows = (f.failing_rows or 0) + int(idx.nunique())
    for i, value in zip(
        idx.iloc[: examples * 2], group["failure_case"].iloc[: examples * 2], strict=False
    ):
        if len(f.examples) >= examples:
            break
        f.examples.append(locate(int(i), value))


def _plain(v: Any) -> Any:
    """A JSON-ready scalar."""
    import datetime as dt

    if v is None:
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    try:
        import pandas as pd

        if v is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    return v
