"""The contract itself: its dataclasses, YAML text in and out, and validation of contract files.

A :class:`Contract` is plain data: columns with their checks, a row range, strictness.
This module turns YAML into one (``load_contract``, ``contract_from_dict``, which name the
key at fault) and back (``contract_to_yaml``). The file's grammar is pydantic models in
:mod:`._schema`, loaded when a contract is read; ``max_age`` is read with
:func:`rigml._units.parse_duration`. Inferring a contract lives in :mod:`._infer`, checking
data against one in :mod:`._check`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigml.errors import InvalidContract, MissingExtra

TYPES = ("int", "float", "bool", "string", "timestamp", "date")


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
    body: str = yaml.safe_dump(contract.to_dict(), sort_keys=False, allow_unicode=True)
    return head + body


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
    """Validate a parsed contract (pydantic, :mod:`._schema`); errors name the key at fault.

    Raises:
        InvalidContract: every problem, as ``columns.age.min: expected a number, found 'x'``.
    """
    from rigml.data._contracts._schema import validate

    model = validate(data, where)
    columns = [
        _column(name, body) if body is not None else ColumnSpec(name=name)
        for name, body in model.columns.items()
    ]
    return Contract(
        columns=columns,
        rows=_bounds(model.rows),
        strict=model.strict,
        dataset=model.dataset,
    )


def _bounds(b: Any) -> Bounds | None:
    return None if b is None else Bounds(b.min, b.max)


def _column(name: str, m: Any) -> ColumnSpec:
    return ColumnSpec(
        name=name,
        type=m.type,
        nullable=m.nullable,
        min=m.min,
        max=m.max,
        unique=m.unique,
        categories=list(m.categories) if m.categories is not None else None,
        max_unseen_share=m.max_unseen_share,
        max_null_rate=m.max_null_rate,
        mean=_bounds(m.mean),
        quantiles={float(q): Bounds(b.min, b.max) for q, b in m.quantiles.items()},
        max_age=m.max_age,
    )


def max_age_seconds(spec: ColumnSpec) -> float | None:
    """The column's ``max_age`` in seconds (validated when the contract was read)."""
    from rigml._units import parse_duration

    if spec.max_age is None:
        return None
    try:
        return parse_duration(spec.max_age)
    except ValueError as exc:
        raise InvalidContract(f"columns.{spec.name}.max_age", str(exc)) from exc


def _to_ts(v: Any) -> Any:
    import pandas as pd

    ts = pd.Timestamp(v)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts
