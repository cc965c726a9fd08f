"""The syntax tree of a filter or sort spec: small frozen nodes, no SQL.

The parser (``_parse``) builds these from text; the compiler (``_compile``) gives them
meaning in SQL. Every node keeps where it was written (``pos``, 0-based) so a compile-time
error still points at the right column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ATTRIBUTES",
    "DURATION_ATTRS",
    "TIME_ATTRS",
    "And",
    "Compare",
    "Everything",
    "Expr",
    "Field",
    "In",
    "IsNull",
    "Like",
    "Not",
    "Or",
    "SortKey",
    "Value",
]

FieldKind = Literal["metric", "param", "tag", "attr"]
ValueKind = Literal["number", "string", "bool"]
CompareOp = Literal["=", "!=", "<", "<=", ">", ">="]

TIME_ATTRS = ("start_time", "end_time")  # epoch seconds; dates and ISO datetimes accepted
DURATION_ATTRS = ("duration",)  # seconds; 90s, 10m, 1.5h, 2d accepted
ATTRIBUTES = (  # in the order error messages list them
    "id",
    "name",
    "status",
    "experiment",
    "start_time",
    "end_time",
    "duration",
    "git_commit",
    "git_branch",
    "host",
    "user",
)
PREFIXES = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
}


@dataclass(frozen=True, slots=True)
class Field:
    """``metrics.acc``, ``params.`my key```, ``duration``..."""

    kind: FieldKind
    name: str  # the key, or the attribute's name in lower case
    text: str  # as written
    pos: int

    @property
    def is_time(self) -> bool:
        return self.kind == "attr" and self.name in TIME_ATTRS

    @property
    def is_duration(self) -> bool:
        return self.kind == "attr" and self.name in DURATION_ATTRS

    @property
    def is_number(self) -> bool:
        """Stored as a number: comparing it with text is an error, not text order."""
        return self.kind == "metric" or self.is_time or self.is_duration


@dataclass(frozen=True, slots=True)
class Value:
    """A literal: ``0.9``, ``nan``, ``'adam'``, ``adam``, ``true``, ``2026-11-01``."""

    kind: ValueKind
    text: str  # a string's decoded text; a number or boolean as written
    pos: int
    number: float = 0.0
    flag: bool = False

    def describe(self) -> str:
        if self.kind == "string":
            return f"the string {self.text!r}"
        return f"the {'number' if self.kind == 'number' else 'boolean'} {self.text}"


@dataclass(frozen=True, slots=True)
class Compare:
    field: Field
    op: CompareOp
    value: Value


@dataclass(frozen=True, slots=True)
class Like:
    field: Field
    pattern: Value
    negate: bool = False


@dataclass(frozen=True, slots=True)
class In:
    field: Field
    values: tuple[Value, ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class IsNull:
    field: Field
    negate: bool = False  # ``is not null``


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Everything:
    """The empty filter: every run."""


Expr = Compare | Like | In | IsNull | Not | And | Or | Everything


@dataclass(frozen=True, slots=True)
class SortKey:
    field: Field
    descending: bool = False
