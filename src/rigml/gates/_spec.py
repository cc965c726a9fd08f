"""The mapping form of a gate rule, validated by pydantic with located errors.

``{rule: TEXT, name: LABEL}`` or ``{metric: KEY, op: OP, value: BOUND, slices: SEGMENT |
true, name: LABEL}``; both become the same :class:`~rigml.gates._rules.Gate` as the text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from rigml.errors import InvalidGate
from rigml.gates._rules import Gate, parse_gate


class _RuleText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str
    name: str | None = None


class _RuleParts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str
    op: Literal[">=", ">", "<=", "<", "==", "!="]
    value: float | str
    slices: bool | str = False
    name: str | None = None

    def text(self) -> str:
        metric = self.metric
        if not metric.startswith(("metrics.", "artifacts.")):
            metric = f"metrics.{metric}"
        if self.slices is True:
            metric = f"slices({metric})"
        elif isinstance(self.slices, str):
            metric = f"slices({metric}, by={self.slices})"
        value = f"{self.value!r}" if isinstance(self.value, float) else self.value
        return f"{metric} {self.op} {value}"


def gate_from_mapping(spec: Mapping[str, Any], *, where: str) -> Gate:
    """A :class:`Gate` from its mapping form.

    Raises:
        InvalidGate: an unknown or missing field, a bad value, or a rule that cannot be read.
    """
    model: type[_RuleText | _RuleParts] = _RuleText if "rule" in spec else _RuleParts
    try:
        parsed = model.model_validate(dict(spec))
    except ValidationError as exc:
        raise InvalidGate(*_first_problem(exc, where, model)) from None
    text = parsed.rule if isinstance(parsed, _RuleText) else parsed.text()
    gate = parse_gate(text, where=where)
    return dataclasses.replace(gate, name=parsed.name)


def _first_problem(exc: ValidationError, where: str, model: type[BaseModel]) -> tuple[str, str]:
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else ""  # the mapping is flat
    place = f"{where}.{field}" if field else where
    if err["type"] == "extra_forbidden":
        known = (
            "rule and name"
            if model is _RuleText
            else "metric, op, value, slices and name (or rule and name)"
        )
        return place, f"unknown field; the fields are {known}"
    if err["type"] == "missing":
        return place, "missing; a rule mapping needs metric, op and value (or rule)"
    if field == "value":
        return (
            place,
            f"expected a number or a bound such as 'production - 1%', got {err['input']!r}",
        )
    if field == "slices":
        return place, f"expected a segment name or true, got {err['input']!r}"
    return place, str(err["msg"])
