"""Split filter and sort text into tokens, decoding quoted strings and backquoted keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rigml.errors import InvalidQuery

__all__ = ["Fail", "Token", "tokenize"]

TokenKind = Literal["word", "field", "string", "op", "(", ")", ",", "end"]

COMPARISONS = ("<=", ">=", "<>", "!=", "==", "<", ">", "=")  # longest first
_WORD_PUNCT = frozenset("_-/.+%@:")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # as written
    pos: int  # offset in the query, 0-based
    value: str = ""  # string: the decoded text; field: the backquoted key
    prefix: str = ""  # field: what came before ".`"


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c in _WORD_PUNCT


Fail = Callable[[str], InvalidQuery]  # a problem -> the error to raise, naming the query


def tokenize(query: str, fail: Fail) -> list[Token]:
    """The tokens of ``query``, ending with an ``end`` token at its length.

    Raises:
        InvalidQuery: (from ``fail``) an unterminated string or key, or a character that
            starts no token.
    """
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
            continue
        if c in "(),":
            tokens.append(Token(c, c, i))  # type: ignore[arg-type]  # c is one of the kinds
            i += 1
        elif op := next((o for o in COMPARISONS if query.startswith(o, i)), None):
            tokens.append(Token("op", op, i))
            i += len(op)
        elif c in "'\"":
            value, end = _read_quoted(query, i, fail)
            tokens.append(Token("string", query[i:end], i, value))
            i = end
        elif _is_word_char(c):
            tok = _read_word(query, i, fail)
            tokens.append(tok)
            i = tok.pos + len(tok.text)
        elif c == "`":
            raise fail(
                f"unexpected '`' at column {i + 1}; backquote only the key, as in metrics.`my key`"
            )
        else:
            raise fail(f"unexpected character {c!r} at column {i + 1}")
    tokens.append(Token("end", "", n))
    return tokens


def _read_word(query: str, start: int, fail: Fail) -> Token:
    """A bare word, or a field whose key is backquoted (``metrics.`my key```)."""
    j = start
    while j < len(query) and _is_word_char(query[j]):
        j += 1
    if query[start:j].endswith(".") and query.startswith("`", j):
        key, end = _read_quoted(query, j, fail)
        return Token("field", query[start:end], start, key, query[start : j - 1])
    return Token("word", query[start:j], start)


def _read_quoted(query: str, start: int, fail: Fail) -> tuple[str, int]:
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
    raise fail(f"unterminated {what} starting at column {start + 1}; close it with {quote}")
