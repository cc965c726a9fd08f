"""Data contracts: the checks a dataset version must pass, validated with pandera.

A contract is YAML::

    version: 1
    rows: {min: 900, max: 1100}          # row-count range of the whole table
    strict: false                        # true: columns the contract does not name fail
    columns:
      age:
        type: int                        # int | float | bool | string | timestamp | date
        nullable: false
        min: 0
        max: 120
        unique: false
        max_null_rate: 0.01              # dataset level: share of nulls
        mean: {min: 35, max: 45}         # dataset level
        quantiles: {0.5: {min: 30, max: 50}}
      plan:
        type: string
        categories: [basic, pro]         # rows with other values fail...
        max_unseen_share: 0.02           # ...unless this share of unseen values is allowed
      signup:
        type: timestamp
        max_age: 7d                      # freshness: the newest value is at most this old

The table (every tabular file of the version, or ``--file``) is streamed in chunks of
``chunk_rows``. Row-level checks (type, nulls, range, categories) are a pandera
``DataFrameSchema`` validated lazily on each chunk, so every failure is collected with its
row. Dataset-level expectations (rows, null rate, mean, quantiles, unseen share, freshness,
uniqueness across chunks) are aggregated while streaming and then validated by a second
pandera schema over a one-row frame of those aggregates. Quantiles come from a uniform
sample of at most ``SAMPLE_SIZE`` values per column (exact below that).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import ContractFailed, InvalidContract, MissingExtra

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from rigml.data.tabular import TablePart
    from rigml.data.versions import Progress, VersionInfo
    from rigml.lab import Lab

TYPES = ("int", "float", "bool", "string", "timestamp", "date")
CHUNK_ROWS = 500_000
SAMPLE_SIZE = 200_000
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# -- the contract ----------------------------------------------------------------------------


@dataclass
class Bounds:
    min: float | None = None
    max: float | None = None

    def to_dict(self) -> dict[str, float]:
        return {k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}


@dataclass
class ColumnSpec:
    name: str
    type: str | None = None
    nullable: bool = True
    min: Any = None
    max: Any = None
    unique: bool = False
    categories: list[Any] | None = None
    max_unseen_share: float | None = None
    max_null_rate: float | None = None
    mean: Bounds | None = None
    quantiles: dict[float, Bounds] = field(default_factory=dict)
    max_age: str | None = None

    def check_ids(self) -> list[str]:
        """The checks this column contributes, by id."""
        n = self.name
        ids = [f"{n}: type {self.type}" if self.type else f"{n}: present"]
        if not self.nullable:
            ids.append(f"{n}: not null")
        if self.min is not None or self.max is not None:
            ids.append(f"{n}: range")
        if self.categories is not None:
            ids.append(
                f"{n}: unseen share" if self.max_unseen_share is not None else f"{n}: categories"
            )
        if self.unique:
            ids.append(f"{n}: unique")
        if self.max_null_rate is not None:
            ids.append(f"{n}: null rate")
        if self.mean is not None:
            ids.append(f"{n}: mean")
        ids += [f"{n}: q{q:g}" for q in self.quantiles]
        if self.max_age is not None:
            ids.append(f"{n}: freshness")
        return ids


@dataclass
class Contract:
    columns: list[ColumnSpec]
    rows: Bounds | None = None
    strict: bool = False
    dataset: str | None = None

    def check_ids(self) -> list[str]:
        ids = ["rows"] if self.rows is not None else []
        if self.strict:
            ids.append("no other columns")
        for c in self.columns:
            ids += c.check_ids()
        return ids

    def count_checks(self) -> int:
        return len(self.check_ids())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": 1}
        if self.dataset:
            out["dataset"] = self.dataset
        if self.rows is not None:
            out["rows"] = self.rows.to_dict()
        if self.strict:
            out["strict"] = True
        cols: dict[str, Any] = {}
        for c in self.columns:
            d: dict[str, Any] = {}
            if c.type:
                d["type"] = c.type
            d["nullable"] = c.nullable
            for key in ("min", "max"):
                if getattr(c, key) is not None:
                    d[key] = getattr(c, key)
            if c.unique:
                d["unique"] = True
            if c.categories is not None:
                d["categories"] = list(c.categories)
            if c.max_unseen_share is not None:
                d["max_unseen_share"] = c.max_unseen_share
            if c.max_null_rate is not None:
                d["max_null_rate"] = c.max_null_rate
            if c.mean is not None:
                d["mean"] = c.mean.to_dict()
            if c.quantiles:
                d["quantiles"] = {float(q): b.to_dict() for q, b in c.quantiles.items()}
            if c.max_age is not None:
                d["max_age"] = c.max_age
            cols[c.name] = d
        out["columns"] = cols
        return out


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise MissingExtra("data", module="pyyaml") from exc
    return yaml


def contract_to_yaml(contract: Contract) -> str:
    """The contract as YAML text, with a header saying how it was made."""
    yaml = _yaml()
    head = (
        "# rigml data contract: edit the bounds to what the data must satisfy, then run\n"
        "#   rig data check NAME@VERSION --contract this.yaml\n"
    )
    return head + yaml.safe_dump(contract.to_dict(), sort_keys=False, allow_unicode=True)


def load_contract(path: str | os.PathLike[str]) -> Contract:
    """Read and validate a contract YAML file.

    Raises:
        InvalidContract: the file is missing, not YAML, or a key has a bad value (named).
    """
    yaml = _yaml()
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidContract(where, "the file does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidContract(where, f"cannot be read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidContract(
            where, f"is not valid YAML{line}: {getattr(exc, 'problem', exc)}"
        ) from exc
    return contract_from_dict(data, where=where)


def contract_from_dict(data: Any, *, where: str = "<dict>") -> Contract:
    """Validate a parsed contract; errors name the key at fault."""
    if not isinstance(data, dict):
        raise InvalidContract(where, "must be a mapping with a 'columns' key")
    unknown = set(data) - {"version", "dataset", "rows", "strict", "columns"}
    if unknown:
        raise InvalidContract(where, f"unknown keys {sorted(unknown)}")
    if data.get("version", 1) != 1:
        raise InvalidContract(where, f"version {data.get('version')!r} is not supported (1 is)")
    cols = data.get("columns")
    if not isinstance(cols, dict) or not cols:
        raise InvalidContract(where, "'columns' must map column names to their checks")
    specs = [_column_spec(str(name), body, where) for name, body in cols.items()]
    return Contract(
        columns=specs,
        rows=_bounds(data.get("rows"), f"{where}: rows") if data.get("rows") is not None else None,
        strict=_bool(data.get("strict", False), f"{where}: strict"),
        dataset=data.get("dataset"),
    )


_COLUMN_KEYS = {
    "type", "nullable", "min", "max", "unique", "categories", "max_unseen_share",
    "max_null_rate", "mean", "quantiles", "max_age",
}  # fmt: skip


def _column_spec(name: str, body: Any, where: str) -> ColumnSpec:
    at = f"{where}: columns.{name}"
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidContract(at, "must be a mapping of checks")
    unknown = set(body) - _COLUMN_KEYS
    if unknown:
        raise InvalidContract(at, f"unknown keys {sorted(unknown)}; known: {sorted(_COLUMN_KEYS)}")
    typ = body.get("type")
    if typ is not None and typ not in TYPES:
        raise InvalidContract(f"{at}.type", f"{typ!r} is not one of {', '.join(TYPES)}")
    spec = ColumnSpec(name=name, type=typ)
    spec.nullable = _bool(body.get("nullable", True), f"{at}.nullable")
    spec.unique = _bool(body.get("unique", False), f"{at}.unique")
    for key in ("min", "max"):
        v = body.get(key)
        if v is not None:
            if typ in ("timestamp", "date"):
                _timestamp(v, f"{at}.{key}")
            elif not _is_number(v):
                raise InvalidContract(f"{at}.{key}", f"must be a number, got {v!r}")
        setattr(spec, key, v)
    if (
        spec.min is not None
        and spec.max is not None
        and _order(spec.min, typ) > _order(spec.max, typ)
    ):
        raise InvalidContract(at, f"min {spec.min!r} is above max {spec.max!r}")
    cats = body.get("categories")
    if cats is not None:
        if not isinstance(cats, list) or not cats:
            raise InvalidContract(f"{at}.categories", "must be a non-empty list of values")
        spec.categories = cats
    for key in ("max_unseen_share", "max_null_rate"):
        v = body.get(key)
        if v is not None:
            if not _is_number(v) or not 0 <= v <= 1:
                raise InvalidContract(f"{at}.{key}", f"must be a share between 0 and 1, got {v!r}")
            setattr(spec, key, float(v))
    if spec.max_unseen_share is not None and spec.categories is None:
        raise InvalidContract(f"{at}.max_unseen_share", "needs 'categories' to say what is seen")
    if body.get("mean") is not None:
        spec.mean = _bounds(body["mean"], f"{at}.mean")
    quants = body.get("quantiles") or {}
    if not isinstance(quants, dict):
        raise InvalidContract(f"{at}.quantiles", "must map a quantile (0.5) to {min, max}")
    for q, b in quants.items():
        try:
            qf = float(q)
        except (TypeError, ValueError):
            qf = -1.0
        if not 0 <= qf <= 1:
            raise InvalidContract(f"{at}.quantiles", f"{q!r} is not a quantile between 0 and 1")
        spec.quantiles[qf] = _bounds(b, f"{at}.quantiles.{q}")
    if body.get("max_age") is not None:
        parse_age(body["max_age"], f"{at}.max_age")
        spec.max_age = str(body["max_age"])
    if (spec.mean is not None or spec.quantiles) and typ not in (None, "int", "float", "bool"):
        raise InvalidContract(at, f"mean and quantiles need a numeric column, not {typ}")
    if spec.max_age is not None and typ not in (None, "timestamp", "date"):
        raise InvalidContract(f"{at}.max_age", f"freshness needs a timestamp column, not {typ}")
    return spec


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _bool(v: Any, at: str) -> bool:
    if not isinstance(v, bool):
        raise InvalidContract(at, f"must be true or false, got {v!r}")
    return v


def _bounds(v: Any, at: str) -> Bounds:
    if not isinstance(v, dict) or not set(v) <= {"min", "max"} or not v:
        raise InvalidContract(at, f"must be {{min: N, max: N}} (either may be left out), got {v!r}")
    b = Bounds(v.get("min"), v.get("max"))
    for x in (b.min, b.max):
        if x is not None and not _is_number(x):
            raise InvalidContract(at, f"bounds must be numbers, got {x!r}")
    if b.min is not None and b.max is not None and b.min > b.max:
        raise InvalidContract(at, f"min {b.min} is above max {b.max}")
    return b


def _timestamp(v: Any, at: str) -> Any:
    import datetime as dt

    if isinstance(v, dt.datetime | dt.date):
        return v
    try:
        return dt.datetime.fromisoformat(str(v))
    except ValueError as exc:
        raise InvalidContract(at, f"{v!r} is not an ISO date or time (2024-06-01T00:00)") from exc


def _order(v: Any, typ: str | None) -> Any:
    if typ in ("timestamp", "date"):
        return _to_ts(v)
    return v


def parse_age(text: Any, at: str = "max_age") -> float:
    """``"7d"``, ``"12h"``, ``"1w 2d"``, ``"90m"``, ``"3600s"`` or seconds as a number."""
    if _is_number(text):
        return float(text)
    parts = _AGE.findall(str(text))
    if not parts or _AGE.sub("", str(text)).strip():
        raise InvalidContract(at, f"{text!r} is not an age such as 7d, 12h, 90m or 3600s")
    return sum(float(n) * _UNITS[u] for n, u in parts)


# -- inferring -------------------------------------------------------------------------------


def infer_contract(lab: Lab, ref: str, *, file: str | None = None) -> Contract:
    """Propose a contract from the data of version ``ref``: a starting point to edit.

    Types, nullability, observed ranges, categories of text columns with few values,
    uniqueness, row count within 20%, null rates with a margin, the mean within half a
    standard deviation, the median within the observed quartiles, and freshness for a
    timestamp column whose newest value is less than 30 days old.
    """
    from rigml.data.profile import TableProfiler, table_parts
    from rigml.data.tabular import table_batches

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


# -- checking --------------------------------------------------------------------------------


@dataclass
class Failure:
    check: str
    column: str | None
    failing_rows: int | None
    examples: list[dict[str, Any]]  # value, file, row (1-based data row of that file)
    detail: str = ""


@dataclass
class CheckReport:
    ref: str
    passed: bool
    checks: int
    failed: int
    rows: int
    failures: list[Failure]
    observed: dict[str, Any]  # dataset-level figures: rows, null rates, means, quantiles...
    contract_object: str
    seconds: float
    id: int | None = None  # the stored result

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoredCheck:
    id: int
    created_at: float
    passed: bool
    checks: int
    failed: int
    contract_object: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def _to_ts(v: Any) -> Any:
    import pandas as pd

    ts = pd.Timestamp(v)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


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
            bounded(f"{n}: freshness", None, parse_age(c.max_age))
        if c.unique:
            bounded(f"{n}: unique", None, 0.0)
    return pa_.DataFrameSchema(cols) if cols else None


def _frames(
    parts: Sequence[TablePart], contract: Contract, chunk_rows: int
) -> Iterator[tuple[pd.DataFrame, list[tuple[int, str, int]]]]:
    """Chunks as pandas frames with (first chunk row, file, first file row) spans."""
    import pyarrow as pa

    from rigml.data.tabular import table_batches

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
    return pa.Table.from_arrays(arrays, names=names).to_pandas(types_mapper=mapping.get)


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
    import numpy as np
    import pandas as pd

    from rigml.data.profile import table_parts

    pa_ = _pandera()
    t0 = time.perf_counter()
    info, parts = table_parts(lab, ref, file=file)
    row_schema, numbering = _row_schema(contract)
    ids = contract.check_ids()
    found: dict[str, Failure] = {}
    agg = _Aggregates(contract)
    total_rows = sum(p.meta.get("rows", 0) for p in parts)
    done = 0

    def failure(check_id: str, column: str | None) -> Failure:
        if check_id not in found:
            found[check_id] = Failure(check_id, column, 0, [])
        return found[check_id]

    for df, spans in _frames(parts, contract, chunk_rows):
        starts = np.array([s[0] for s in spans])

        def locate(i: int, value: Any, starts: Any = starts, spans: Any = spans) -> dict[str, Any]:
            k = int(np.searchsorted(starts, i, side="right")) - 1
            first, label, file_row = spans[k]
            return {"value": _plain(value), "file": label, "row": file_row + (i - first) + 1}

        try:
            row_schema.validate(df, lazy=True)
        except pa_.errors.SchemaErrors as exc:
            _collect(exc.failure_cases, numbering, contract, len(df), locate, failure, examples)
        agg.feed(df, locate, examples)
        done += len(df)
        if progress:
            progress("check", done, total_rows)
    figures = agg.figures(time.time())
    ds_schema = _dataset_schema(contract)
    if ds_schema is not None:
        frame = pd.DataFrame({k: [np.nan if v is None else float(v)] for k, v in figures.items()})
        try:
            ds_schema.validate(frame, lazy=True)
        except pa_.errors.SchemaErrors as exc:
            for key in dict.fromkeys(str(c) for c in exc.failure_cases["column"] if c is not None):
                col = key.split(": ", 1)[0] if ": " in key else None
                f = failure(key, col)
                value = figures.get(key)
                f.failing_rows = _dataset_failing_rows(key, value, agg, col)
                if value is None:
                    f.detail = "could not be measured: the column is missing or has no values"
                else:
                    f.detail = f"observed {_plain(value)}; expected {_expected(contract, key)}"
                if key.endswith(": unique"):
                    f.examples = agg.dup_examples.get(col or "", [])[:examples]
                elif key.endswith(": unseen share"):
                    f.examples = agg.unseen_examples.get(col or "", [])[:examples]
    failures = [found[i] for i in ids if i in found] + [f for i, f in found.items() if i not in ids]
    contract_yaml = contract_to_yaml(contract).encode()
    report = CheckReport(
        ref=info.ref,
        passed=not failures,
        checks=len(ids),
        failed=len(failures),
        rows=agg.rows,
        failures=failures,
        observed={k: _plain(v) for k, v in figures.items()},
        contract_object=lab.objects.put_bytes(contract_yaml),
        seconds=time.perf_counter() - t0,
    )
    if store:
        report.id = _store(lab, info, report)
    return report


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
    contract: Contract,
    chunk_len: int,
    locate: Any,
    failure: Any,
    examples: int,
) -> None:
    """Fold pandera's failure cases of one chunk into per-check failures."""
    import pandas as pd

    types = {c.name: c.type for c in contract.columns}
    for (column, check_name, number), group in cases.groupby(
        ["column", "check", "check_number"], dropna=False, sort=False
    ):
        col = (
            None
            if column is None or (isinstance(column, float) and math.isnan(column))
            else str(column)
        )
        check_name = str(check_name)
        whole = False
        if check_name == "column_in_dataframe":
            for missing in group["failure_case"]:
                name = str(missing)
                cid = f"{name}: type {types[name]}" if types.get(name) else f"{name}: present"
                f = failure(cid, name)
                f.failing_rows = (f.failing_rows or 0) + chunk_len
                f.detail = "the column is missing"
            continue
        if check_name == "column_in_schema":
            f = failure("no other columns", None)
            f.detail = "columns the contract does not name: " + ", ".join(
                sorted({str(v) for v in group["failure_case"]})
            )
            continue
        if check_name.startswith("dtype("):
            cid, whole = f"{col}: type {types.get(col or '')}", True
        elif check_name == "not_nullable":
            cid = f"{col}: not null"
        elif number is not None and not pd.isna(number):
            cid = numbering.get((col or "", int(number)), f"{col}: {check_name}")
        else:
            cid = f"{col}: {check_name}"
        f = failure(cid, col)
        if whole:
            f.failing_rows = (f.failing_rows or 0) + chunk_len
            found = str(group["failure_case"].iloc[0])
            f.detail = f"found {found}, expected {_DTYPES.get(types.get(col or '') or '', '?')}"
            continue
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


def _store(lab: Lab, info: VersionInfo, report: CheckReport) -> int:
    from sqlalchemy import insert

    from rigml.store.schema import dataset_checks

    body = json.dumps(report.to_dict(), default=str)

    def write(conn: Any) -> int:
        res = conn.execute(
            insert(dataset_checks).values(
                version_id=info.id,
                contract_object=report.contract_object,
                passed=report.passed,
                checks=report.checks,
                failed=report.failed,
                report=body,
                created_at=time.time(),
            )
        )
        return int(res.inserted_primary_key[0])

    return lab.store.transact(write)


def checks_of(lab: Lab, version: VersionInfo) -> list[StoredCheck]:
    """Stored check results of a version, newest first."""
    from sqlalchemy import select

    from rigml.store.schema import dataset_checks as dc

    with lab.store.read() as conn:
        rows = conn.execute(
            select(
                dc.c.id,
                dc.c.created_at,
                dc.c.passed,
                dc.c.checks,
                dc.c.failed,
                dc.c.contract_object,
            )
            .where(dc.c.version_id == version.id)
            .order_by(dc.c.created_at.desc(), dc.c.id.desc())
        ).all()
    return [
        StoredCheck(r.id, r.created_at, bool(r.passed), r.checks, r.failed, r.contract_object)
        for r in rows
    ]


def latest_check(lab: Lab, ref: str, *, contract: Contract | None = None) -> CheckReport | None:
    """The newest stored check of version ``ref`` (against ``contract`` when given)."""
    from sqlalchemy import select

    from rigml.data.versions import resolve
    from rigml.objects import hash_bytes
    from rigml.store.schema import dataset_checks as dc

    info = resolve(lab, ref)
    query = select(dc.c.id, dc.c.report).where(dc.c.version_id == info.id)
    if contract is not None:
        query = query.where(dc.c.contract_object == hash_bytes(contract_to_yaml(contract).encode()))
    with lab.store.read() as conn:
        row = conn.execute(query.order_by(dc.c.created_at.desc(), dc.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    data = json.loads(row.report)
    data["failures"] = [Failure(**f) for f in data["failures"]]
    data["id"] = row.id
    return CheckReport(**data)


def require_passing_check(lab: Lab, ref: str, *, contract: Contract | None = None) -> CheckReport:
    """Gate for pipelines: the newest stored check of ``ref`` must have passed.

    Raises:
        ContractFailed: there is no stored check, or the newest one failed.
    """
    report = latest_check(lab, ref, contract=contract)
    if report is None:
        raise ContractFailed(ref, 0, 0, reason=f"{ref} has no stored contract check")
    if not report.passed:
        raise ContractFailed(report.ref, report.failed, report.checks, report)
    return report


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file through a temporary file and a rename."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
