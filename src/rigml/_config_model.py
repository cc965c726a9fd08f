"""The schema of ``rig.toml`` as pydantic models, and pydantic's errors as located messages.

A module of its own so that pydantic is imported only when a lab is opened; ``import rigml``
and ``rig --help`` never load it (tests/test_startup.py checks).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from rigml.config import (
    check_endpoint,
    check_objects_url,
    check_store_url,
    close_match,
    suggest,
)
from rigml.errors import InvalidConfig

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


def _custom(check: Any, value: str | None) -> str | None:
    if value:
        problem = check(value)
        if problem:
            raise PydanticCustomError("rig_url", problem)
    return value


class StoreSection(BaseModel):
    model_config = _STRICT
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _custom(check_store_url, value)


class ObjectsSection(BaseModel):
    model_config = _STRICT
    url: str | None = None
    endpoint_url: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _custom(check_objects_url, value)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return _custom(check_endpoint, value)


class TrackingSection(BaseModel):
    model_config = _STRICT
    capture_git: bool = True
    capture_environment: bool = True
    capture_machine: bool = True
    system_metrics: bool = True
    system_metrics_interval: float = Field(default=5.0, gt=0)
    flush_interval: float = Field(default=1.0, gt=0)
    heartbeat_timeout: float = Field(default=120.0, gt=0)


class PipelineSection(BaseModel):
    model_config = _STRICT
    executor: Literal["local", "ray"] = "local"
    address: str | None = None  # the Ray cluster; unset: a local Ray


class RegistrySection(BaseModel):
    model_config = _STRICT
    approval: list[str] = []


class RigToml(BaseModel):
    model_config = _STRICT
    store: StoreSection = StoreSection()
    objects: ObjectsSection = ObjectsSection()
    tracking: TrackingSection = TrackingSection()
    pipeline: PipelineSection = PipelineSection()
    registry: RegistrySection = RegistrySection()


_SECTIONS: dict[str, type[BaseModel]] = {
    "store": StoreSection,
    "objects": ObjectsSection,
    "tracking": TrackingSection,
    "pipeline": PipelineSection,
    "registry": RegistrySection,
}

_EXPECTED = {
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "float_type": "expected a number",
    "greater_than": "expected a positive number",
    "model_type": "expected a table",
    "dict_type": "expected a table",
    "list_type": "expected a list of strings",
}


def validate(raw: dict[str, Any], *, where: str) -> RigToml:
    """The parsed file as a model.

    Raises:
        InvalidConfig: every problem of the file in one message, each located.
    """
    try:
        return RigToml.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        if len(problems) == 1:
            raise InvalidConfig(where, problems[0]) from None
        listed = "".join(f"\n  {p}" for p in problems)
        raise InvalidConfig(where, f"{len(problems)} problems:{listed}") from None


def _describe(err: Any) -> str:
    loc = [str(part) for part in err["loc"]]
    kind = err["type"]
    if kind == "extra_forbidden":
        if len(loc) == 1:
            known = [f"[{name}]" for name in _SECTIONS]
            return f"[{loc[0]}]: unknown section; {suggest(f'[{loc[0]}]', known)}"
        keys = list(_SECTIONS[loc[0]].model_fields)
        return f"[{loc[0]}] {loc[1]}: unknown setting; {suggest(loc[1], keys)}"
    place = f"[{loc[0]}] {' '.join(loc[1:])}".strip() if loc else "file"
    if kind == "rig_url":
        return f"{place}: {err['msg']}"
    if kind == "literal_error":
        return f"{place}: {_choices(err)}"
    expected = _EXPECTED.get(kind, err["msg"])
    return f"{place}: {expected}, got {_toml_repr(err['input'])}"


def _choices(err: Any) -> str:
    """``expected "local" or "ray", got "rey"; did you mean ray?`` for a fixed set of words."""
    known = [str(v) for v in err["ctx"]["expected"].replace("'", "").split(" or ")]
    text = f"expected {' or '.join(_toml_repr(k) for k in known)}, got {_toml_repr(err['input'])}"
    close = close_match(str(err["input"]), known) if isinstance(err["input"], str) else None
    return f"{text}; did you mean {close}?" if close else text


def _toml_repr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)
