"""Give a filter or sort tree its meaning in SQL (SQLAlchemy Core, SQLite and PostgreSQL).

The caller selects from ``runs`` joined with ``experiments``; every metric, param or tag
comparison is a subquery correlated to ``runs.id`` on the ``(run_id, key)`` primary keys.
What each field type means (NaN, JSON params, text order, times) is described in
:mod:`rigml.track._where`.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
)

from rigml._units import parse_duration
from rigml.errors import InvalidQuery
from rigml.store.schema import experiments, latest_metrics, params, runs, tags
from rigml.track._filter._syntax import (
    And,
    Compare,
    Everything,
    Expr,
    Field,
    In,
    IsNull,
    Like,
    Not,
    Or,
    SortKey,
    Value,
)

__all__ = ["Compiler", "sort_terms"]

_TABLES: dict[str, Table] = {"metric": latest_metrics, "param": params, "tag": tags}
_TEXT_COLUMNS: dict[str, ColumnElement[Any]] = {
    "id": runs.c.id,
    "name": runs.c.name,
    "status": runs.c.status,
    "experiment": experiments.c.name,
    "git_commit": runs.c.git_commit,
    "git_branch": runs.c.git_branch,
    "host": runs.c.host,
    "user": runs.c.user,
}
_NUMBER_COLUMNS: dict[str, ColumnElement[Any]] = {
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "duration": runs.c.end_time - runs.c.start_time,
}
_NULLABLE_ATTRS = {"git_commit", "git_branch", "user", "end_time", "duration"}
_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_LIKE_ESCAPE = "\\"
_JSON_NAN = json.dumps(math.nan)  # 'NaN', how params store a NaN


class Compiler:
    """Compiles the tree of one filter; ``query`` is its text, for error messages."""

    def __init__(self, query: str) -> None:
        self.query = query

    def fail(self, problem: str) -> InvalidQuery:
        return InvalidQuery(self.query, problem)

    def expr(self, node: Expr) -> ColumnElement[bool]:
        match node:
            case Everything():
                return true()
            case Or(operands):
                return or_(*(self.expr(e) for e in operands))
            case And(operands):
                return and_(*(self.expr(e) for e in operands))
            case Not(operand):
                return not_(self.expr(operand))
            case IsNull(field, negate):
                return self.null_test(field, negate=negate)
            case Compare(field, op, value):
                return self.keyed(field, self.compare(field, op, value))
            case In(field, values, negate):
                if negate:
                    cond = and_(*(self.compare(field, "!=", v) for v in values))
                else:
                    cond = or_(*(self.compare(field, "=", v) for v in values))
                return self.keyed(field, cond)
            case Like(field, pattern, negate):
                cond = self.like(field, pattern)
                return self.keyed(field, not_(cond) if negate else cond)
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    def keyed(self, field: Field, cond: ColumnElement[bool]) -> ColumnElement[bool]:
        """A metric, param or tag condition holds for a run having the key: EXISTS (...)."""
        if field.kind == "attr":
            return cond
        return _exists(_TABLES[field.kind], field.name, cond)

    def null_test(self, field: Field, *, negate: bool) -> ColumnElement[bool]:
        if field.kind == "attr":
            column = _attr_column(field.name)
            return column.is_not(None) if negate else column.is_(None)
        found = _exists(_TABLES[field.kind], field.name)
        return found if negate else not_(found)

    def compare(self, field: Field, op: str, v: Value) -> ColumnElement[bool]:
        if field.kind == "metric":
            if v.kind != "number":
                raise self.fail(
                    f"metric {field.name!r} is a number and cannot be compared with "
                    f"{v.describe()} at column {v.pos + 1}"
                )
            return _compare_float(latest_metrics.c.value, op, v.number, nan_is_null=True)
        if field.kind == "param":
            return self.compare_param(field, op, v)
        if field.kind == "tag":
            return self.compare_text(field, tags.c.value, op, v)
        if field.is_time or field.is_duration:
            seconds = self.time_value(field, v) if field.is_time else self.duration_value(field, v)
            return _compare_float(_NUMBER_COLUMNS[field.name], op, seconds, nan_is_null=False)
        return self.compare_text(field, _TEXT_COLUMNS[field.name], op, v)

    def time_value(self, field: Field, v: Value) -> float:
        """Epoch seconds from a number, a date or an ISO datetime (local time unless zoned)."""
        if v.kind == "number":
            return v.number
        seconds = _parse_time(v.text) if v.kind == "string" else None
        if seconds is not None:
            return seconds
        raise self.fail(
            f"{field.text} is in epoch seconds or a date/time, and {v.describe()} at column "
            f"{v.pos + 1} is neither; write e.g. {field.text} > 2026-11-01 or "
            f"{field.text} > 2026-11-01T12:30"
        )

    def duration_value(self, field: Field, v: Value) -> float:
        """Seconds from a number or a duration such as ``90s``, ``10m``, ``1.5h``, ``2d``."""
        if v.kind == "number":
            return v.number
        if v.kind == "string":
            try:
                return parse_duration(v.text)
            except ValueError:
                pass
        raise self.fail(
            f"{field.text} is in seconds, and {v.describe()} at column {v.pos + 1} is not a "
            f"duration; write e.g. {field.text} > 600, {field.text} > 10m or {field.text} > 1.5h"
        )

    def compare_param(self, field: Field, op: str, v: Value) -> ColumnElement[bool]:
        text, num = params.c.value, params.c.num
        if v.kind == "number":
            x = v.number
            if math.isnan(x):  # SQLite stores a NaN num as NULL, PostgreSQL as NaN
                return _nan_test(text == _JSON_NAN, op)
            if op == "=":
                return num == x
            if op == "!=":
                return or_(num.is_(None), num != x)
            # PostgreSQL orders NaN above every number; NaN orders nowhere here
            return and_(text != _JSON_NAN, _OPS[op](num, x))
        if v.kind == "bool":
            if op not in ("=", "!="):
                raise self.fail(
                    f"{op!r} cannot order {field.text} by {v.describe()} at column "
                    f"{v.pos + 1}; use = or !="
                )
            return _OPS[op](text, "true" if v.flag else "false")
        encoded = json.dumps(v.text)
        if op in ("=", "!="):
            return _OPS[op](text, encoded)
        inner = func.substr(text, 2, func.length(text) - 2)  # the JSON string, unquoted
        return and_(text.like('"%'), _OPS[op](inner, encoded[1:-1]))

    def compare_text(
        self, field: Field, column: ColumnElement[Any], op: str, v: Value
    ) -> ColumnElement[bool]:
        if v.kind == "number" and op not in ("=", "!="):
            raise self.fail(
                f"{field.text} is text, so {op!r} {v.text} at column {v.pos + 1} would "
                f"compare text order; quote it ({field.text} {op} '{v.text}') if you mean that"
            )
        return _OPS[op](column, v.text)

    def like(self, field: Field, v: Value) -> ColumnElement[bool]:
        if field.is_number:
            raise self.fail(
                f"'like' matches text, but {field.text} is a number (column {field.pos + 1}); "
                "use <, >, = or in"
            )
        if field.kind == "param":  # match the decoded string: its JSON text, quotes and all
            pattern = '"' + _like_pattern(v.text, lambda c: json.dumps(c)[1:-1]) + '"'
            return params.c.value.ilike(pattern, escape=_LIKE_ESCAPE)
        column = tags.c.value if field.kind == "tag" else _TEXT_COLUMNS[field.name]
        return column.ilike(_like_pattern(v.text, str), escape=_LIKE_ESCAPE)


def sort_terms(key: SortKey) -> list[ColumnElement[Any]]:
    """ORDER BY terms for one key, runs without the value (NaN metrics too) last.

    Written portably as ``(value IS NULL), value``; params sort by their number, then by
    their JSON text, so numbers come before other values.
    """
    field = key.field

    def direction(e: ColumnElement[Any]) -> ColumnElement[Any]:
        return e.desc() if key.descending else e.asc()

    if field.kind == "metric":
        value = _scalar(latest_metrics.c.value, latest_metrics, field.name)
        return [value.is_(None), direction(value)]
    if field.kind == "param":
        text = _scalar(params.c.value, params, field.name)
        num = _scalar(params.c.num, params, field.name, params.c.value != _JSON_NAN)
        return [text.is_(None), num.is_(None), direction(num), direction(text)]
    if field.kind == "tag":
        value = _scalar(tags.c.value, tags, field.name)
        return [value.is_(None), direction(value)]
    column = _attr_column(field.name)
    if field.name in _NULLABLE_ATTRS:
        return [column.is_(None), direction(column)]
    return [direction(column)]


# -- SQL helpers -------------------------------------------------------------------------


def _parse_time(text: str) -> float | None:
    """Epoch seconds of ``text``: a number, or an ISO date or datetime; None otherwise."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        return None


def _attr_column(name: str) -> ColumnElement[Any]:
    return _TEXT_COLUMNS[name] if name in _TEXT_COLUMNS else _NUMBER_COLUMNS[name]


def _exists(table: Table, key: str, cond: ColumnElement[bool] | None = None) -> ColumnElement[bool]:
    """``EXISTS (SELECT 1 FROM table WHERE run_id = runs.id AND key = :key [AND cond])``."""
    where = [table.c.run_id == runs.c.id, table.c.key == key]
    if cond is not None:
        where.append(cond)
    return select(literal_column("1")).where(*where).exists()


def _scalar(
    column: ColumnElement[Any], table: Table, key: str, *extra: ColumnElement[bool]
) -> ColumnElement[Any]:
    return (
        select(column)
        .where(table.c.run_id == runs.c.id, table.c.key == key, *extra)
        .scalar_subquery()
    )


def _nan_test(is_nan: ColumnElement[bool], op: str) -> ColumnElement[bool]:
    if op == "=":
        return is_nan
    if op == "!=":
        return not_(is_nan)
    return false()  # NaN is neither above nor below anything


def _compare_float(
    column: ColumnElement[Any], op: str, x: float, *, nan_is_null: bool
) -> ColumnElement[bool]:
    """Compare a float column, where NULL is NaN (metrics) or absent (run times)."""
    if nan_is_null:
        if math.isnan(x):
            return _nan_test(column.is_(None), op)
        if op == "!=":  # NaN differs from every number
            return or_(column != x, column.is_(None))
    elif math.isnan(x):  # no NaN here: = nan finds nothing, != nan every run with a value
        return column.is_not(None) if op == "!=" else false()
    return _OPS[op](column, x)


def _like_pattern(pattern: str, encode: Callable[[str], str]) -> str:
    """Turn a user pattern (``%``, ``_``, backslash escapes) into one for ESCAPE '\\'.

    Each literal character is passed through ``encode`` (JSON for params) and then has
    the LIKE specials escaped, so only the user's own wildcards stay wildcards.
    """

    def literal(c: str) -> str:
        text = encode(c)
        for special in (_LIKE_ESCAPE, "%", "_"):
            text = text.replace(special, _LIKE_ESCAPE + special)
        return text

    out: list[str] = []
    chars = iter(pattern)
    for c in chars:
        if c == "\\":
            out.append(literal(next(chars, "\\")))
        elif c in "%_":
            out.append(c)
        else:
            out.append(literal(c))
    return "".join(out)
