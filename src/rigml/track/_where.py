"""The filter and sort language of ``rig runs list --where ... --sort ...``, compiled to SQL.

A filter is a boolean expression over comparisons, compiled to SQLAlchemy Core so that it
runs inside the database (SQLite or PostgreSQL) and uses the ``(run_id, key)`` primary
keys. The caller selects from ``runs`` joined with ``experiments``::

    metrics.acc > 0.9 and (params.optimizer = adam or tags.team = 'nlp')
    not params.lr in (0.1, 0.01) and duration < 3600
    metrics.`val loss` is not null and git_branch like 'feature/%'

Grammar (keywords are case-insensitive; keys are case-sensitive)::

    filter     := or_expr EOF                            (empty: every run)
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := field ("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") value
                | field ["not"] "like" value
                | field ["not"] "in" "(" value ("," value)* ")"
                | field "is" ["not"] "null"
    field      := ("metrics" | "params" | "tags") "." (key | "`" any "`")
                | id | name | status | experiment | start_time | end_time | duration
                | git_commit | git_branch | host | user
    value      := number | 'string' | "string" | true | false | bare-word

Numbers include ``1e-3``, ``-2``, ``nan``, ``inf`` and ``-inf``; strings take backslash
escapes (``\\'``, ``\\"``, ``\\\\``, ``\\n``, ``\\t``; any other keeps its backslash, so
``'100\\%'`` reaches ``like`` as an escaped ``%``); a bare word such as ``adam`` or
``feature/x`` is a string. ``metric``, ``param`` and ``tag`` work as prefixes too.

Meaning:

- ``metrics.<key>`` is the value at the latest step, where NULL stands for NaN:
  ``= nan`` finds NaN, ``!= x`` includes NaN, ``<``/``>`` never match it. Comparing a
  metric with a string or boolean is an error.
- ``params.<key>`` holds JSON text: numbers compare through ``params.num`` (NaN never
  orders), strings and booleans compare with their JSON encoding, so ``0.01`` and
  ``'0.01'`` stay apart, and ``like`` matches string params only.
- ``tags.<key>`` and the text attributes are text; a number written unquoted is compared
  as the text it was written as (``tags.priority = 10``); ordering them by a number is
  an error (text order would put "10" before "9").
- ``start_time``, ``end_time`` and ``duration`` (``end_time - start_time``, NULL while
  running) are epoch seconds and take numbers only.
- ``like`` uses ``%`` and ``_`` as wildcards, a backslash to escape them, and ignores the
  case of ASCII letters on every backend (SQLite's LIKE does; PostgreSQL gets ILIKE).
- Each metric, param or tag comparison is ``EXISTS (SELECT 1 FROM <table> WHERE run_id =
  runs.id AND key = :k AND <condition>)``: a run without the key matches no comparison,
  including ``!=`` and ``not in``, while ``not (...)`` and ``is null`` (``NOT EXISTS``)
  match it.

Sort specs are comma-separated fields, each ascending unless prefixed by ``-`` or
followed by ``desc``: ``-metrics.acc, name``. Runs without the value sort last either way.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

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

from rigml.errors import InvalidQuery
from rigml.store.schema import experiments, latest_metrics, params, runs, tags

__all__ = ["compile_sort", "compile_where"]

_PREFIXES = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
}
_TABLES: dict[str, Table] = {"metric": latest_metrics, "param": params, "tag": tags}
_TEXT_ATTRS: dict[str, ColumnElement[Any]] = {
    "id": runs.c.id,
    "name": runs.c.name,
    "status": runs.c.status,
    "experiment": experiments.c.name,
    "git_commit": runs.c.git_commit,
    "git_branch": runs.c.git_branch,
    "host": runs.c.host,
    "user": runs.c.user,
}
_NUMBER_ATTRS: dict[str, ColumnElement[Any]] = {
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "duration": runs.c.end_time - runs.c.start_time,
}
_NULLABLE_ATTRS = {"git_commit", "git_branch", "user", "end_time", "duration"}
_ATTR_NAMES = ", ".join([*_TEXT_ATTRS, *_NUMBER_ATTRS])

_COMPARISONS = ("<=", ">=", "<>", "!=", "==", "<", ">", "=")  # longest first
_OP_ALIASES = {"==": "=", "<>": "!="}
_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_RESERVED = {"and", "or", "not", "in", "is", "like"}
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE)
_WORD_PUNCT = frozenset("_-/.+%@:")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_LIKE_ESCAPE = "\\"
_JSON_NAN = json.dumps(math.nan)  # 'NaN', how _encode_param stores a NaN param


def compile_where(query: str) -> ColumnElement[bool]:
    """Parse a filter and compile it to a SQL condition.

    Args:
        query: the filter, e.g. ``"metrics.acc > 0.9 and params.optimizer = adam"``;
            blank means every run.

    Returns:
        A condition for ``select(runs).join(experiments).where(...)``: it refers to
        ``runs`` and ``experiments`` and correlates its subqueries to them.

    Raises:
        InvalidQuery: the filter is malformed; the message names the column.
    """
    parser = _Parser(query, "filter")
    if parser.peek().kind == "end":
        return true()
    condition = parser.or_expr()
    tok = parser.peek()
    if tok.kind == ")":
        raise parser.fail(f"unbalanced parentheses: ')' at column {tok.pos + 1} has no '('")
    if tok.kind != "end":
        raise parser.fail(
            f"expected 'and', 'or' or the end of the filter at column {tok.pos + 1}, "
            f"found {tok.text!r}"
        )
    return condition


def compile_sort(spec: str) -> list[ColumnElement[Any]]:
    """Parse a sort spec and compile it to ORDER BY terms.

    ``metrics.acc`` sorts ascending; ``-metrics.acc`` or ``metrics.acc desc`` descending;
    several fields are separated by commas. Metrics and tags sort by a correlated scalar
    subquery, params by their number and then their JSON text (numbers before other
    values). Runs without the value, NaN metrics included, come last in both directions,
    written portably as ``ORDER BY (subquery IS NULL), subquery``.

    Args:
        spec: e.g. ``"-metrics.acc, name"``; blank gives no terms.

    Returns:
        Terms for ``select(runs).join(experiments).order_by(*terms, ...)``.

    Raises:
        InvalidQuery: the spec is malformed.
    """
    parser = _Parser(spec, "sort spec")
    terms: list[ColumnElement[Any]] = []
    if parser.peek().kind == "end":
        return terms
    while True:
        descending = parser.sign()
        field = parser.field()
        if parser.at_keyword("asc", "desc"):
            word = parser.take()
            if descending is not None:
                raise parser.fail(
                    f"{word.text!r} at column {word.pos + 1} contradicts the sign before "
                    f"{field.text!r}; use one of them"
                )
            descending = word.text.lower() == "desc"
        terms.extend(_sort_terms(field, descending=bool(descending)))
        tok = parser.take()
        if tok.kind == "end":
            return terms
        if tok.kind != ",":
            raise parser.fail(
                f"expected ',', 'asc' or 'desc' at column {tok.pos + 1}, found {tok.text!r}"
            )


# -- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["word", "field", "string", "op", "(", ")", ",", "end"]
    text: str  # as written
    pos: int  # offset in the query, 0-based
    value: str = ""  # string: the decoded text; field: the backquoted key
    prefix: str = ""  # field: what came before ".`"


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c in _WORD_PUNCT


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            tokens.append(_Token(c, c, i))  # type: ignore[arg-type]
            i += 1
        elif op := next((o for o in _COMPARISONS if query.startswith(o, i)), None):
            tokens.append(_Token("op", op, i))
            i += len(op)
        elif c in "'\"":
            value, end = _read_quoted(query, i)
            tokens.append(_Token("string", query[i:end], i, value))
            i = end
        elif _is_word_char(c):
            j = i
            while j < n and _is_word_char(query[j]):
                j += 1
            if query[i:j].endswith(".") and query.startswith("`", j):
                key, end = _read_quoted(query, j)
                tokens.append(_Token("field", query[i:end], i, key, query[i : j - 1]))
                i = end
            else:
                tokens.append(_Token("word", query[i:j], i))
                i = j
        elif c == "`":
            raise InvalidQuery(
                query,
                f"unexpected '`' at column {i + 1}; backquote only the key, as in metrics.`my key`",
            )
        else:
            raise InvalidQuery(query, f"unexpected character {c!r} at column {i + 1}")
    tokens.append(_Token("end", "", n))
    return tokens


def _read_quoted(query: str, start: int) -> tuple[str, int]:
    """Decode the string or backquoted key opening at ``start``; return it and its end."""
    quote, out, i = query[start], [], start + 1
    while i < len(query):
        c = query[i]
        if c == quote:
            if quote == "`" and query.startswith("`", i + 1):  # `` is a literal backquote
                out.append("`")
                i += 2
                continue
            return "".join(out), i + 1
        if c == "\\" and quote != "`" and i + 1 < len(query):
            nxt = query[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    what = "backquoted key" if quote == "`" else "string"
    raise InvalidQuery(
        query, f"unterminated {what} starting at column {start + 1}; close it with {quote}"
    )


# -- parser ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    kind: Literal["metric", "param", "tag", "attr"]
    name: str  # the key, or the attribute's name
    text: str  # as written
    pos: int


@dataclass(frozen=True, slots=True)
class _Value:
    kind: Literal["number", "string", "bool"]
    text: str  # a string's decoded text; a number or boolean as written
    pos: int
    number: float = 0.0
    flag: bool = False

    def describe(self) -> str:
        if self.kind == "string":
            return f"the string {self.text!r}"
        return f"the {'number' if self.kind == 'number' else 'boolean'} {self.text}"


class _Parser:
    """Recursive descent over the tokens; compiles each comparison as it is read."""

    def __init__(self, query: str, what: str) -> None:
        self.query = query
        self.what = what
        self.tokens = _tokenize(query)
        self.i = 0

    # token helpers

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def at_keyword(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.text.lower() in words

    def fail(self, problem: str) -> InvalidQuery:
        return InvalidQuery(self.query, problem)

    def found(self, tok: _Token) -> str:
        if tok.kind == "end":
            return f"but the {self.what} ends there"
        return f"found {tok.text!r}"

    # boolean structure

    def or_expr(self) -> ColumnElement[bool]:
        items = [self.and_expr()]
        while self.at_keyword("or"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else or_(*items)

    def and_expr(self) -> ColumnElement[bool]:
        items = [self.not_expr()]
        while self.at_keyword("and"):
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else and_(*items)

    def not_expr(self) -> ColumnElement[bool]:
        if self.at_keyword("not"):
            self.take()
            return not_(self.not_expr())
        tok = self.peek()
        if tok.kind == "(":
            self.take()
            inner = self.or_expr()
            close = self.take()
            if close.kind == ")":
                return inner
            if close.kind == "end":
                raise self.fail(
                    f"unbalanced parentheses: '(' at column {tok.pos + 1} is never closed"
                )
            raise self.fail(
                f"expected ')' (for '(' at column {tok.pos + 1}), 'and' or 'or' at column "
                f"{close.pos + 1}, {self.found(close)}"
            )
        if tok.kind in ("word", "field") and not self.at_keyword(*_RESERVED):
            return self.comparison()
        raise self.fail(
            f"expected a comparison such as metrics.acc > 0.9 at column {tok.pos + 1}, "
            f"{self.found(tok)}"
        )

    # comparisons

    def sign(self) -> bool | None:
        """Consume a leading '-' (descending) or '+' of a sort field; None if absent."""
        tok = self.peek()
        if tok.kind == "word" and tok.text in ("-", "+"):
            self.take()
            return tok.text == "-"
        head = tok.prefix if tok.kind == "field" else tok.text
        if tok.kind in ("word", "field") and head[:1] in ("-", "+"):
            self.tokens[self.i] = replace(
                tok, text=tok.text[1:], pos=tok.pos + 1, prefix=tok.prefix[1:]
            )
            return head[0] == "-"
        return None

    def field(self) -> _Field:
        tok = self.take()
        if tok.kind == "field":
            return self._keyed(tok.prefix, tok.value, tok)
        if tok.kind != "word" or tok.text.lower() in _RESERVED:
            raise self.fail(
                f"expected a field such as metrics.acc at column {tok.pos + 1}, {self.found(tok)}"
            )
        prefix, dot, key = tok.text.partition(".")
        if dot:
            return self._keyed(prefix, key, tok)
        name = tok.text.lower()
        if name in _TEXT_ATTRS or name in _NUMBER_ATTRS:
            return _Field("attr", name, tok.text, tok.pos)
        if name in _PREFIXES:
            return self._keyed(tok.text, "", tok)
        raise self.fail(
            f"unknown field {tok.text!r} at column {tok.pos + 1}; use metrics.{tok.text}, "
            f"params.{tok.text} or tags.{tok.text}"
        )

    def _keyed(self, prefix: str, key: str, tok: _Token) -> _Field:
        kind = _PREFIXES.get(prefix.lower())
        if kind is None:
            raise self.fail(
                f"unknown field {tok.text!r} at column {tok.pos + 1}; fields are "
                f"metrics.<key>, params.<key>, tags.<key> and {_ATTR_NAMES}"
            )
        if not key:
            raise self.fail(
                f"empty key after '{prefix}.' at column {tok.pos + 1}; write e.g. "
                f"{prefix}.acc, or backquote an odd key: {prefix}.`my key`"
            )
        return _Field(kind, key, tok.text, tok.pos)  # type: ignore[arg-type]

    def value(self, after: str) -> _Value:
        tok = self.peek()
        if tok.kind == "string":
            self.take()
            return _Value("string", tok.value, tok.pos)
        if tok.kind == "word" and tok.text.lower() not in _RESERVED:
            self.take()
            low = tok.text.lower()
            if low in ("true", "false"):
                return _Value("bool", tok.text, tok.pos, flag=low == "true")
            if low == "null":
                raise self.fail(
                    f"null at column {tok.pos + 1} is not a value; write 'is null' or "
                    "'is not null' to find runs without or with a key"
                )
            if _NUMBER.fullmatch(tok.text):
                return _Value("number", tok.text, tok.pos, number=float(tok.text))
            return _Value("string", tok.text, tok.pos)
        raise self.fail(
            f"expected a value after {after!r} at column {tok.pos + 1}, {self.found(tok)}"
        )

    def comparison(self) -> ColumnElement[bool]:
        field = self.field()
        tok = self.peek()
        if tok.kind == "op":
            self.take()
            op = _OP_ALIASES.get(tok.text, tok.text)
            return self.compile(field, op, [self.value(after=tok.text)])
        if self.at_keyword("is"):
            self.take()
            negate = self.at_keyword("not")
            if negate:
                self.take()
            if not self.at_keyword("null"):
                nxt = self.peek()
                raise self.fail(
                    f"expected 'null' after 'is{' not' if negate else ''}' at column "
                    f"{nxt.pos + 1}, {self.found(nxt)}"
                )
            self.take()
            return self.compile_null(field, negate=negate)
        negate = self.at_keyword("not")
        if negate:
            self.take()
        if self.at_keyword("like"):
            self.take()
            op = "not like" if negate else "like"
            return self.compile(field, op, [self.value(after=op)])
        if self.at_keyword("in"):
            self.take()
            return self.compile(field, "not in" if negate else "in", self.value_list())
        tok = self.peek()
        if negate:
            raise self.fail(
                f"expected 'like' or 'in' after 'not' at column {tok.pos + 1}, {self.found(tok)}"
            )
        raise self.fail(
            f"expected an operator (=, !=, <, <=, >, >=, like, in, is null) after "
            f"{field.text!r} at column {tok.pos + 1}, {self.found(tok)}"
        )

    def value_list(self) -> list[_Value]:
        tok = self.take()
        if tok.kind != "(":
            raise self.fail(
                f"expected '(' after 'in' at column {tok.pos + 1}, {self.found(tok)}; "
                "write e.g. in (adam, sgd)"
            )
        values = [self.value(after="(")]
        while True:
            tok = self.take()
            if tok.kind == ")":
                return values
            if tok.kind != ",":
                raise self.fail(
                    f"expected ',' or ')' in the list at column {tok.pos + 1}, {self.found(tok)}"
                )
            values.append(self.value(after=","))

    # compiling

    def compile(self, field: _Field, op: str, values: list[_Value]) -> ColumnElement[bool]:
        if op == "in":
            cond = or_(*(self.compare(field, "=", v) for v in values))
        elif op == "not in":
            cond = and_(*(self.compare(field, "!=", v) for v in values))
        elif op in ("like", "not like"):
            cond = self.like(field, values[0])
            cond = not_(cond) if op == "not like" else cond
        else:
            cond = self.compare(field, op, values[0])
        if field.kind == "attr":
            return cond
        return _exists(_TABLES[field.kind], field.name, cond)

    def compile_null(self, field: _Field, *, negate: bool) -> ColumnElement[bool]:
        if field.kind == "attr":
            column = _attr_column(field.name)
            return column.is_not(None) if negate else column.is_(None)
        found = _exists(_TABLES[field.kind], field.name)
        return found if negate else not_(found)

    def compare(self, field: _Field, op: str, v: _Value) -> ColumnElement[bool]:
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
        if field.name in _NUMBER_ATTRS:
            if v.kind != "number":
                raise self.fail(
                    f"{field.text} is in epoch seconds and cannot be compared with "
                    f"{v.describe()} at column {v.pos + 1}; write e.g. {field.text} > 1714000000"
                )
            return _compare_float(_NUMBER_ATTRS[field.name], op, v.number, nan_is_null=False)
        return self.compare_text(field, _TEXT_ATTRS[field.name], op, v)

    def compare_param(self, field: _Field, op: str, v: _Value) -> ColumnElement[bool]:
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
        self, field: _Field, column: ColumnElement[Any], op: str, v: _Value
    ) -> ColumnElement[bool]:
        if v.kind == "number" and op not in ("=", "!="):
            raise self.fail(
                f"{field.text} is text, so {op!r} {v.text} at column {v.pos + 1} would "
                f"compare text order; quote it ({field.text} {op} '{v.text}') if you mean that"
            )
        return _OPS[op](column, v.text)

    def like(self, field: _Field, v: _Value) -> ColumnElement[bool]:
        if field.kind == "metric" or (field.kind == "attr" and field.name in _NUMBER_ATTRS):
            raise self.fail(
                f"'like' matches text, but {field.text} is a number (column {field.pos + 1}); "
                "use <, >, = or in"
            )
        if field.kind == "param":  # match the decoded string: its JSON text, quotes and all
            pattern = '"' + _like_pattern(v.text, lambda c: json.dumps(c)[1:-1]) + '"'
            return params.c.value.ilike(pattern, escape=_LIKE_ESCAPE)
        column = tags.c.value if field.kind == "tag" else _TEXT_ATTRS[field.name]
        return column.ilike(_like_pattern(v.text, str), escape=_LIKE_ESCAPE)


# -- SQL helpers -------------------------------------------------------------------------


def _attr_column(name: str) -> ColumnElement[Any]:
    return _TEXT_ATTRS[name] if name in _TEXT_ATTRS else _NUMBER_ATTRS[name]


def _exists(table: Table, key: str, cond: ColumnElement[bool] | None = None) -> ColumnElement[bool]:
    """``EXISTS (SELECT 1 FROM table WHERE run_id = runs.id AND key = :key [AND cond])``."""
    where = [table.c.run_id == runs.c.id, table.c.key == key]
    if cond is not None:
        where.append(cond)
    return select(literal_column("1")).where(*where).exists()


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


def _scalar(
    column: ColumnElement[Any], table: Table, key: str, *extra: ColumnElement[bool]
) -> ColumnElement[Any]:
    return (
        select(column)
        .where(table.c.run_id == runs.c.id, table.c.key == key, *extra)
        .scalar_subquery()
    )


def _sort_terms(field: _Field, *, descending: bool) -> list[ColumnElement[Any]]:
    def direction(e: ColumnElement[Any]) -> ColumnElement[Any]:
        return e.desc() if descending else e.asc()

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
