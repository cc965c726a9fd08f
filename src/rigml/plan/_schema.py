"""The shapes of the files ``rig plan`` and ``rig cost`` read, as pydantic v2 models.

Price catalogues (``--prices``), grid tables (``--grid``) and workload files (``rig plan
-f``) are validated here, and a failure becomes one located, readable error: the file, the
field path (``workloads[2].frequency``), what was expected and what was found. pydantic is
imported only when a file is read (this module loads lazily), never by ``import rigml``.

Checks that need rigml's own knowledge (the GPU table, the workload families, the fit
settings) run inside validators and raise :func:`problem`, which carries the sentence and,
where there is one, a hint (close matches) through to the error the caller raises.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from rigml.errors import InvalidInput

__all__ = [
    "GridFile",
    "PriceFile",
    "RegionEntry",
    "WorkloadEntry",
    "WorkloadFile",
    "problem",
    "validate",
]

MAX_G_PER_KWH = 5000.0
M = TypeVar("M", bound=BaseModel)


def problem(text: str, hint: str | None = None) -> PydanticCustomError:
    """A validation failure in rigml's words; ``hint`` reaches the raised error."""
    return PydanticCustomError("rig", "{problem}", {"problem": text, "hint": hint})


# -- turning a ValidationError into a located message -------------------------------------


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _models_in(a)]


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that validates the value at ``loc`` (list indexes pass through)."""
    cur: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue
        if cur is None or part not in cur.model_fields:
            return None
        found = _models_in(cur.model_fields[part].annotation)
        cur = found[0] if found else None
    return cur


def _ident(data: Any, loc: tuple[int | str, ...]) -> str | None:
    """The ``id`` (or ``code``) of the innermost entry on the way to ``loc``, to name it."""
    found, cur = None, data
    for part in loc:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(part, int) and isinstance(cur, dict):  # an entry of a list
            key = cur.get("id", cur.get("code"))
            found = str(key) if key not in (None, "") else found
    return found


def _expected(model: type[BaseModel] | None) -> str:
    return ", ".join(model.model_fields) if model is not None else ""


def _sentence(err: Any, root: type[BaseModel], extra: list[str]) -> tuple[str, str | None]:
    kind, loc, found = err["type"], tuple(err["loc"]), err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "rig":
        return str(ctx.get("problem", err["msg"])), ctx.get("hint")
    if kind == "extra_forbidden":
        from rigml.config import close_match

        model = _model_at(root, loc[:-1])
        known = list(model.model_fields) if model is not None else []
        guesses = [f"{k} -> {c}" for k in sorted(extra) if (c := close_match(k, known))]
        hint = f"did you mean {', '.join(guesses)}?" if guesses else None
        return f"unknown keys {sorted(extra)}; expected {_expected(model)}", hint
    if kind == "missing":
        keys = f"; found {', '.join(map(str, found))}" if isinstance(found, dict) and found else ""
        return f"missing (required){keys}", None
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        keys = _expected(_model_at(root, loc))
        return f"expected an object with {keys}, got {found!r}", None
    if kind == "list_type":
        return f"expected a list, got {found!r}", None
    text = str(err["msg"])
    text = text.removeprefix("Input should be ").removeprefix("Value error, ")
    return f"expected {text}, got {found!r}", None


def validate(
    model: type[M],
    data: Any,
    file: str,
    error: Callable[[str, str, str | None], InvalidInput],
) -> M:
    """``data`` (read from ``file``) as ``model``, or ``error(where, problem, hint)``.

    ``where`` is the file and the field path (with the entry's id where it has one); the
    problem says what was expected and what was found; only the first error is told, with
    a count of the others.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    extra: list[str] = []
    rest = len(errors) - 1
    if first["type"] == "extra_forbidden":
        loc = loc[:-1]
        same = [e for e in errors if e["type"] == "extra_forbidden" and tuple(e["loc"][:-1]) == loc]
        extra = [str(e["loc"][-1]) for e in same]
        rest = len(errors) - len(same)
    text, hint = _sentence(first, model, extra)
    if rest > 0:
        text += f" (and {rest} more problem{'s' if rest > 1 else ''})"
    where = " ".join(p for p in (file, _path(loc)) if p)
    ident = _ident(data, loc)
    if ident is not None:
        where += f" (id {ident!r})"
    raise error(where, text, hint)


# -- shared field checks ------------------------------------------------------------------


def _number(name: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise problem(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise problem(f"{name} must be finite, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise problem(f"{name} must be {'above' if positive else 'at least'} 0, got {value!r}")
    return float(value)


def _date(name: str, value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise problem(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


def _source(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise problem("every figure needs a source (a URL or a document name)")
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class _Sourced(BaseModel):
    """An entry of a catalogue: its numbers are checked, it names a source and a date.

    Unknown keys are ignored (a user's notes beside a figure), as they always were.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)
    NUMBERS: ClassVar[tuple[str, ...]] = ()
    POSITIVE: ClassVar[tuple[str, ...]] = ()

    source: str
    as_of: dt.date

    @field_validator("source", mode="before")
    @classmethod
    def _has_source(cls, v: Any) -> str:
        return _source(v)

    @field_validator("as_of", mode="before")
    @classmethod
    def _is_date(cls, v: Any) -> dt.date:
        return _date("as_of", v)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers(cls, v: Any, info: ValidationInfo) -> Any:
        name = info.field_name or ""
        if name in cls.NUMBERS and v is not None:
            return _number(name, v, positive=name in cls.POSITIVE)
        return v


class _Identified(_Sourced):
    id: str

    @field_validator("id", mode="before")
    @classmethod
    def _has_id(cls, v: Any) -> str:
        if v is None or not str(v).strip():
            raise problem("each entry needs an id")
        return str(v)


def _catalogue_gpu(value: Any) -> str:
    from rigml.fit import catalogue

    gpu = catalogue.find_gpu(_text(value))
    if gpu is None:
        raise problem(f"gpu {value!r} is not in the GPU table (rig fit --list-gpus)")
    return gpu.name


# -- prices -------------------------------------------------------------------------------


class OfferEntry(_Identified):
    NUMBERS = ("usd_per_hour",)
    POSITIVE = ("usd_per_hour",)

    provider: str = ""
    instance: str = ""
    gpu: str
    gpus: int = 1
    usd_per_hour: float
    region: str = ""

    @field_validator("gpu", mode="before")
    @classmethod
    def _known_gpu(cls, v: Any) -> str:
        return _catalogue_gpu(v)

    @field_validator("gpus", mode="before")
    @classmethod
    def _whole(cls, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise problem(f"gpus must be a whole number of at least 1, got {v!r}")
        return v


class HardwareEntry(_Identified):
    NUMBERS = ("usd", "street_usd")

    gpu: str
    usd: float
    kind: str = ""
    street_usd: float | None = None
    street_source: str = ""
    street_as_of: dt.date | None = None

    @field_validator("gpu", mode="before")
    @classmethod
    def _known_gpu(cls, v: Any) -> str:
        return _catalogue_gpu(v)

    @field_validator("street_as_of", mode="before")
    @classmethod
    def _street_date(cls, v: Any) -> dt.date | None:
        return None if v is None else _date("street_as_of", v)

    @model_validator(mode="after")
    def _street_is_sourced(self) -> HardwareEntry:
        if self.street_usd is not None:
            if not self.street_source.strip():
                raise problem("street_usd needs its own street_source")
            if self.street_as_of is None:
                raise problem("street_usd needs its own street_as_of date")
        return self


class PartEntry(_Identified):
    NUMBERS = ("usd", "gb")

    part: str = ""
    what: str = ""
    usd: float
    kind: str = ""
    gb: float | None = None


class FeesEntry(_Identified):
    NUMBERS = ("storage_usd_per_gb_month", "egress_usd_per_gb")

    provider: str
    what: str = ""
    storage_usd_per_gb_month: float
    egress_usd_per_gb: float

    @field_validator("provider", mode="before")
    @classmethod
    def _named(cls, v: Any) -> str:
        if not _text(v).strip():
            raise problem("each provider_fees entry needs a provider")
        return _text(v).strip()


class StorageFigure(_Sourced):
    NUMBERS = ("usd_per_gb_month",)
    usd_per_gb_month: float
    what: str = ""


class EgressFigure(_Sourced):
    NUMBERS = ("usd_per_gb",)
    usd_per_gb: float
    what: str = ""


class ElectricityFigure(_Sourced):
    NUMBERS = ("usd_per_kwh",)
    usd_per_kwh: float
    what: str = ""


class PriceFile(BaseModel):
    """A price catalogue: the shipped one, or a user's on top (every key optional there)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cloud: list[OfferEntry] = []
    hardware: list[HardwareEntry] = []
    parts: list[PartEntry] = []
    provider_fees: list[FeesEntry] = []
    storage: StorageFigure | None = None
    egress: EgressFigure | None = None
    electricity: ElectricityFigure | None = None
    note: str = ""


# -- grid intensity -----------------------------------------------------------------------


class RegionEntry(_Sourced):
    code: str
    name: str = ""
    aliases: list[str] = []
    g_per_kwh: float
    year: int | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _has_code(cls, v: Any) -> str:
        if not _text(v).strip():
            raise problem("each region needs a code")
        return _text(v).upper()

    @field_validator("g_per_kwh", mode="before")
    @classmethod
    def _in_range(cls, v: Any) -> float:
        ok = not isinstance(v, bool) and isinstance(v, int | float)
        if not ok or not 0 <= v < MAX_G_PER_KWH:
            raise problem(f"g_per_kwh must be a number from 0 to {MAX_G_PER_KWH:g}, got {v!r}")
        return float(v)

    @field_validator("aliases", mode="before")
    @classmethod
    def _names(cls, v: Any) -> list[str]:
        return [str(a) for a in v] if isinstance(v, list) else [str(v)]


class GridFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    regions: list[RegionEntry]


# -- workloads ----------------------------------------------------------------------------


def _workload_problem(exc: InvalidInput) -> PydanticCustomError:
    """An InvalidWorkload from the shared parsers, minus the ``-w`` flag's hint."""
    hint = exc.hint if not (exc.hint or "").startswith("write FAMILY[") else None
    return problem(str(getattr(exc, "problem", exc.message)), hint)


def _model_item(v: Any) -> Any:
    """A model entry: a catalogue name, or {model: NAME, ...} with `rig fit` settings."""
    from rigml.errors import InvalidWorkload
    from rigml.plan.workloads import check_model_entry

    try:
        check_model_entry(v, "")
    except InvalidWorkload as exc:
        raise _workload_problem(exc) from None
    return v


_ModelItem = Annotated[Any, AfterValidator(_model_item)]


class WorkloadEntry(BaseModel):
    """One entry of ``workloads``: a family, and whatever of its defaults it changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    frequency: Any = None
    hours: Any = None
    models: list[_ModelItem] | None = None
    name: Any = ""

    @field_validator("family", mode="before")
    @classmethod
    def _known_family(cls, v: Any) -> str:
        from rigml.errors import InvalidWorkload
        from rigml.plan.workloads import find_family

        try:
            return find_family(_text(v), "").name
        except InvalidWorkload as exc:
            raise _workload_problem(exc) from None

    @field_validator("frequency")
    @classmethod
    def _readable(cls, v: Any) -> Any:
        from rigml.errors import InvalidWorkload
        from rigml.plan.workloads import parse_frequency

        if v is not None:
            try:
                parse_frequency(v)
            except InvalidWorkload as exc:
                raise _workload_problem(exc) from None
        return v

    @field_validator("hours")
    @classmethod
    def _per_run(cls, v: Any) -> float | None:
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 744:
            raise problem(f"hours per run must be a number above 0 and at most 744, got {v!r}")
        return float(v)

    @field_validator("models", mode="before")
    @classmethod
    def _listed(cls, v: Any) -> Any:
        return v if v is None or isinstance(v, list) else [v]

    @field_validator("name")
    @classmethod
    def _label(cls, v: Any) -> str:
        return _text(v)


class WorkloadFile(BaseModel):
    """A ``rig plan -f`` file: the horizon and the list of workloads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workloads: list[WorkloadEntry]
    horizon_months: Any = 6

    @field_validator("workloads")
    @classmethod
    def _some(cls, v: list[WorkloadEntry]) -> list[WorkloadEntry]:
        if not v:
            raise problem("lists no workloads")
        return v

    @field_validator("horizon_months")
    @classmethod
    def _months(cls, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 36:
            raise problem(f"horizon_months must be a whole number from 1 to 36, got {v!r}")
        return v
