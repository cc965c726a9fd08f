"""The contract itself: its dataclasses, YAML text in and out, and validation of contract files.

A :class:`Contract` is plain data: columns with their checks, a row range, strictness.
This module turns YAML into one (``load_contract``, ``contract_from_dict``, which name the
key at fault) and back (``contract_to_yaml``), and knows the units of ``max_age``. It needs
neither pandas nor pandera except to compare timestamps, so reading a contract stays cheap;
inferring one lives in :mod:`._infer`, checking data against one in :mod:`._check`.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigml.errors import InvalidContract, MissingExtra

TYPES = ("int", "float", "bool", "string", "timestamp", "date")
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


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


def _to_ts(v: Any) -> Any:
    import pandas as pd

    ts = pd.Timestamp(v)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts
