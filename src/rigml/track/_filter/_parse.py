"""Recursive descent from tokens to the syntax tree of a filter or a sort spec.

Only the shape is checked here (fields exist, operators and values are where they
belong); what a comparison means for a column's type is the compiler's business.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Literal

from rigml.errors import InvalidQuery, InvalidSortSpec
from rigml.track._filter._syntax import (
    ATTRIBUTES,
    PREFIXES,
    And,
    Compare,
    CompareOp,
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
from rigml.track._filter._tokens import Token, tokenize

__all__ = ["parse_filter", "parse_sort"]

_OPS: dict[str, CompareOp] = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_RESERVED = {"and", "or", "not", "in", "is", "like"}
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOCK = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?", re.I)
_DURATION_PART = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:ms|s|m|h|d|w)", re.IGNORECASE)
_ATTR_NAMES = ", ".join(ATTRIBUTES)
SORT_KEYS = f"{_ATTR_NAMES}, metrics.<key>, params.<key>, tags.<key>"


def parse_filter(query: str) -> Expr:
    """The tree of a filter; blank text is :class:`Everything`.

    Raises:
        InvalidQuery: the filter is malformed; the message names the column.
    """
    parser = _Parser(query, "filter")
    if parser.peek().kind == "end":
        return Everything()
    expr = parser.or_expr()
    tok = parser.peek()
    if tok.kind == ")":
        raise parser.fail(f"unbalanced parentheses: ')' at column {tok.pos + 1} has no '('")
    if tok.kind != "end":
        raise parser.fail(
            f"expected 'and', 'or' or the end of the filter at column {tok.pos + 1}, "
            f"found {tok.text!r}"
        )
    return expr


def parse_sort(spec: str) -> list[SortKey]:
    """The keys of a sort spec such as ``-metrics.acc, name``; blank text gives none.

    Raises:
        InvalidSortSpec: the spec is malformed or names an unknown key.
    """
    parser = _Parser(spec, "sort spec")
    keys: list[SortKey] = []
    if parser.peek().kind == "end":
        return keys
    while True:
        keys.append(parser.sort_key())
        tok = parser.take()
        if tok.kind == "end":
            return keys
        if tok.kind != ",":
            raise parser.fail(
                f"expected ',', 'asc' or 'desc' at column {tok.pos + 1}, found {tok.text!r}"
            )


class _Parser:
    """One pass over the tokens; each method reads one rule of the grammar."""

    def __init__(self, query: str, what: Literal["filter", "sort spec"]) -> None:
        self.query = query
        self.what = what
        self.tokens = tokenize(query, self.fail)
        self.i = 0

    # -- tokens

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def at_keyword(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.text.lower() in words

    def fail(self, problem: str) -> InvalidQuery:
        if self.what == "sort spec":
            return InvalidSortSpec(self.query, problem)
        return InvalidQuery(self.query, problem)

    def found(self, tok: Token) -> str:
        if tok.kind == "end":
            return f"but the {self.what} ends there"
        return f"found {tok.text!r}"

    # -- boolean structure

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.at_keyword("or"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.at_keyword("and"):
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Expr:
        if self.at_keyword("not"):
            self.take()
            return Not(self.not_expr())
        tok = self.peek()
        if tok.kind == "(":
            return self.parenthesized()
        if tok.kind in ("word", "field") and not self.at_keyword(*_RESERVED):
            return self.comparison()
        raise self.fail(
            f"expected a comparison such as metrics.acc > 0.9 at column {tok.pos + 1}, "
            f"{self.found(tok)}"
        )

    def parenthesized(self) -> Expr:
        opening = self.take()
        inner = self.or_expr()
        close = self.take()
        if close.kind == ")":
            return inner
        if close.kind == "end":
            raise self.fail(
                f"unbalanced parentheses: '(' at column {opening.pos + 1} is never closed"
            )
        raise self.fail(
            f"expected ')' (for '(' at column {opening.pos + 1}), 'and' or 'or' at column "
            f"{close.pos + 1}, {self.found(close)}"
        )

    # -- comparisons

    def comparison(self) -> Expr:
        field = self.field()
        tok = self.peek()
        if tok.kind == "op":
            self.take()
            return Compare(field, _OPS[tok.text], self.value(field, after=tok.text))
        if self.at_keyword("is"):
            return self.null_test(field)
        negate = self.at_keyword("not")
        if negate:
            self.take()
        if self.at_keyword("like"):
            self.take()
            return Like(field, self.value(field, after="not like" if negate else "like"), negate)
        if self.at_keyword("in"):
            self.take()
            return In(field, self.value_list(field), negate)
        tok = self.peek()
        if negate:
            raise self.fail(
                f"expected 'like' or 'in' after 'not' at column {tok.pos + 1}, {self.found(tok)}"
            )
        raise self.fail(
            f"expected an operator (=, !=, <, <=, >, >=, like, in, is null) after "
            f"{field.text!r} at column {tok.pos + 1}, {self.found(tok)}"
        )

    def null_test(self, field: Field) -> IsNull:
        self.take()  # is
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
        return IsNull(field, negate)

    def value_list(self, field: Field) -> tuple[Value, ...]:
        tok = self.take()
        if tok.kind != "(":
            raise self.fail(
                f"expected '(' after 'in' at column {tok.pos + 1}, {self.found(tok)}; "
                "write e.g. in (adam, sgd)"
            )
        values = [self.value(field, after="(")]
        while True:
            tok = self.take()
            if tok.kind == ")":
                return tuple(values)
            if tok.kind != ",":
                raise self.fail(
                    f"expected ',' or ')' in the list at column {tok.pos + 1}, {self.found(tok)}"
                )
            values.append(self.value(field, after=","))

    def value(self, field: Field, *, after: str) -> Value:
        tok = self.peek()
        if tok.kind == "string":
            self.take()
            return Value("string", tok.value, tok.pos)
        if tok.kind != "word" or tok.text.lower() in _RESERVED:
            raise self.fail(
                f"expected a value after {after!r} at column {tok.pos + 1}, {self.found(tok)}"
            )
        self.take()
        low = tok.text.lower()
        if low in ("true", "false"):
            return Value("bool", tok.text, tok.pos, flag=low == "true")
        if low == "null":
            raise self.fail(
                f"null at column {tok.pos + 1} is not a value; write 'is null' or "
                "'is not null' to find runs without or with a key"
            )
        if _NUMBER.fullmatch(tok.text):
            return Value("number", tok.text, tok.pos, number=float(tok.text))
        return Value("string", self.rest_of_word(field, tok), tok.pos)

    def rest_of_word(self, field: Field, tok: Token) -> str:
        """A bare word, joined with what belongs to it: ``2026-11-01 12:30``, ``1h 30m``."""
        text = tok.text
        if field.is_time and _DATE.fullmatch(text):
            nxt = self.peek()
            if nxt.kind == "word" and _CLOCK.fullmatch(nxt.text):
                self.take()
                text = f"{text} {nxt.text}"
        elif field.is_duration and _DURATION_PART.fullmatch(text):
            while self.peek().kind == "word" and _DURATION_PART.fullmatch(self.peek().text):
                text = f"{text} {self.take().text}"
        return text

    # -- fields

    def field(self) -> Field:
        tok = self.take()
        if tok.kind == "field":
            return self.keyed(tok.prefix, tok.value, tok)
        if tok.kind != "word" or tok.text.lower() in _RESERVED:
            raise self.fail(
                f"expected a field such as metrics.acc at column {tok.pos + 1}, {self.found(tok)}"
            )
        prefix, dot, key = tok.text.partition(".")
        if dot:
            return self.keyed(prefix, key, tok)
        name = tok.text.lower()
        if name in ATTRIBUTES:
            return Field("attr", name, tok.text, tok.pos)
        if name in PREFIXES:
            return self.keyed(tok.text, "", tok)
        raise self.unknown_field(
            tok, hint=f"use metrics.{tok.text}, params.{tok.text} or tags.{tok.text}"
        )

    def keyed(self, prefix: str, key: str, tok: Token) -> Field:
        kind = PREFIXES.get(prefix.lower())
        if kind is None:
            raise self.unknown_field(
                tok, hint=f"fields are metrics.<key>, params.<key>, tags.<key> and {_ATTR_NAMES}"
            )
        if not key:
            raise self.fail(
                f"empty key after '{prefix}.' at column {tok.pos + 1}; write e.g. "
                f"{prefix}.acc, or backquote an odd key: {prefix}.`my key`"
            )
        return Field(kind, key, tok.text, tok.pos)  # type: ignore[arg-type]  # a FieldKind

    def unknown_field(self, tok: Token, *, hint: str) -> InvalidQuery:
        if self.what == "sort spec":
            return self.fail(
                f"unknown sort key {tok.text!r} at column {tok.pos + 1}; valid keys: {SORT_KEYS}"
            )
        return self.fail(f"unknown field {tok.text!r} at column {tok.pos + 1}; {hint}")

    # -- sort keys

    def sort_key(self) -> SortKey:
        descending = self.sign()
        field = self.field()
        if self.at_keyword("asc", "desc"):
            word = self.take()
            if descending is not None:
                raise self.fail(
                    f"{word.text!r} at column {word.pos + 1} contradicts the sign before "
                    f"{field.text!r}; use one of them"
                )
            descending = word.text.lower() == "desc"
        return SortKey(field, bool(descending))

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
