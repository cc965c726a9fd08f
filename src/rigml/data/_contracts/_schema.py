"""The contract file's schema: pydantic v2 models whose errors name the key at fault.

``validate`` turns parsed YAML into a :class:`ContractModel` or raises
:class:`~rigml.errors.InvalidContract` listing every problem as ``field path: expected
..., found ...`` (``columns.age.min: expected a number, found 'zero'``). The models are the
file's grammar only; :mod:`._model` turns them into the plain dataclasses the rest of
rigml uses. pydantic is imported when this module is, which :mod:`._model` defers until a
contract is read.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rigml._units import parse_duration
from rigml.data._contracts._model import TYPES
from rigml.errors import InvalidContract

_TIMES = ("timestamp", "date")
_NUMERIC = (None, "int", "float", "bool")

Share = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
Quantile = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


def _number(v: Any) -> float:
    """A finite int or float (YAML's ``true`` and ``.inf`` are not numbers here)."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"expected a number, found {v!r}")
    return v


Number = Annotated[float, PlainValidator(_number)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BoundsModel(_Model):
    """``{min: N, max: N}``; either may be left out, not both."""

    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _ordered(self) -> BoundsModel:
        if self.min is None and self.max is None:
            raise ValueError("expected {min: N, max: N} (either may be left out), found neither")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class ColumnModel(_Model):
    type: Literal["int", "float", "bool", "string", "timestamp", "date"] | None = None
    nullable: StrictBool = True
    min: Any = None
    max: Any = None
    unique: StrictBool = False
    categories: Annotated[list[Any], Field(min_length=1)] | None = None
    max_unseen_share: Share | None = None
    max_null_rate: Share | None = None
    mean: BoundsModel | None = None
    quantiles: dict[Quantile, BoundsModel] = Field(default_factory=dict)
    max_age: Any = None

    @field_validator("min", "max")
    @classmethod
    def _bound(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return v
        return _iso(v) if info.data.get("type") in _TIMES else _number(v)

    @field_validator("max_age")
    @classmethod
    def _age(cls, v: Any) -> Any:
        if v is None:
            return v
        try:
            parse_duration(v)
        except (TypeError, ValueError):
            raise ValueError(
                f"expected an age such as 7d, 12h, 90m or 3600s, found {v!r}"
            ) from None
        return str(v)

    @model_validator(mode="after")
    def _consistent(self) -> ColumnModel:
        if self.min is not None and self.max is not None and _order(self.min) > _order(self.max):
            raise ValueError(f"min {self.min!r} is above max {self.max!r}")
        if self.max_unseen_share is not None and self.categories is None:
            raise ValueError("max_unseen_share needs 'categories' to say what is seen")
        if (self.mean is not None or self.quantiles) and self.type not in _NUMERIC:
            raise ValueError(f"mean and quantiles need a numeric column, not {self.type}")
        if self.max_age is not None and self.type not in (None, *_TIMES):
            raise ValueError(f"max_age (freshness) needs a timestamp column, not {self.type}")
        return self


class ContractModel(_Model):
    version: Literal[1] = 1
    dataset: str | None = None
    rows: BoundsModel | None = None
    strict: StrictBool = False
    columns: Annotated[dict[str, ColumnModel | None], Field(min_length=1)]


def _iso(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v
    try:
        dt.datetime.fromisoformat(str(v))
    except ValueError:
        raise ValueError(f"expected an ISO date or time (2024-06-01T00:00), found {v!r}") from None
    return v


def _order(v: Any) -> Any:
    """Comparable form of a bound: timestamps as naive UTC datetimes, numbers as they are."""
    if isinstance(v, int | float):
        return v
    t = v if isinstance(v, dt.datetime) else None
    if t is None:
        t = dt.datetime.combine(v, dt.time()) if isinstance(v, dt.date) else _parse(v)
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


def _parse(v: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(str(v))


def validate(data: Any, where: str) -> ContractModel:
    """``data`` (parsed YAML) as a contract.

    Raises:
        InvalidContract: every problem, each as ``path: expected ..., found ...``.
    """
    if not isinstance(data, dict):
        raise InvalidContract(where, f"must be a mapping with a 'columns' key, found {data!r}")
    if isinstance(data.get("columns"), dict):  # YAML reads a column named 1 as a number
        data = {**data, "columns": {str(k): v for k, v in data["columns"].items()}}
    try:
        return ContractModel.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(e) for e in exc.errors()]
        raise InvalidContract(where, "; ".join(dict.fromkeys(problems))) from None


def _known_keys(loc: tuple[str, ...]) -> list[str]:
    """The keys allowed where the unknown key ``loc[-1]`` was found."""
    if len(loc) == 1:
        return sorted(ContractModel.model_fields)
    if len(loc) == 3 and loc[0] == "columns":
        return sorted(ColumnModel.model_fields)
    return sorted(BoundsModel.model_fields)


def _problem(e: Any) -> str:
    """One pydantic error as ``path: expected ..., found ...``."""
    loc = tuple(str(p) for p in e["loc"] if p != "[key]")
    path = ".".join(loc) or "the contract"
    kind, msg, found = e["type"], str(e["msg"]), e.get("input")
    if loc == ("columns",) and kind in ("too_short", "dict_type", "missing"):
        return "'columns' must map column names to their checks"
    if kind == "extra_forbidden":
        from rigml.config import suggest

        return f"{path}: unknown key; {suggest(loc[-1], _known_keys(loc))}"
    if kind == "value_error":
        return f"{path}: {msg.removeprefix('Value error, ')}"
    if kind == "literal_error" and loc[-1:] == ("type",):
        return f"{path}: expected one of {', '.join(TYPES)}, found {found!r}"
    expected = msg.removeprefix("Input should be ").removeprefix("Value should have ")
    return f"{path}: expected {expected}, found {found!r}"
