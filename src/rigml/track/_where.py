"""The filter and sort language of ``rig runs list --where ... --sort ...``, compiled to SQL.

A filter is a boolean expression over comparisons, compiled to SQLAlchemy Core so that it
runs inside the database (SQLite or PostgreSQL) and uses the ``(run_id, key)`` primary
keys. The caller selects from ``runs`` joined with ``experiments``::

    metrics.acc > 0.9 and (params.optimizer = adam or tags.team = 'nlp')
    not params.lr in (0.1, 0.01) and duration < 1h
    metrics.`val loss` is not null and git_branch like 'feature/%'
    start_time >= 2026-11-01 and start_time < '2026-11-08 12:00'

The text is parsed into a syntax tree (:mod:`rigml.track._filter._parse`, nodes in
``_syntax``) and the tree compiled to SQL (``_compile``); this module joins the two.

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
                | date [clock]                           (after start_time / end_time)
                | duration-part+                         (after duration: 1h 30m)

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
- ``start_time`` and ``end_time`` are epoch seconds; they take a number, a date
  (``2026-11-01``, midnight) or an ISO datetime (``2026-11-01T12:30``, ``2026-11-01
  12:30:00``, quoted or not; local time unless it carries ``Z`` or ``+01:00``).
- ``duration`` (``end_time - start_time``, NULL while running) is seconds; it takes a
  number or a duration: ``90s``, ``10m``, ``1.5h``, ``2d``, ``1h 30m``.
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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

    from rigml.track._filter._syntax import Expr, SortKey

__all__ = ["compile_sort", "compile_where", "parse_sort", "parse_where"]


def parse_where(query: str) -> Expr:
    """The syntax tree of a filter (blank: every run).

    Raises:
        InvalidQuery: the filter is malformed; the message names the column.
    """
    from rigml.track._filter._parse import parse_filter

    return parse_filter(query)


def parse_sort(spec: str) -> list[SortKey]:
    """The keys of a sort spec.

    Raises:
        InvalidSortSpec: the spec is malformed or names an unknown key (an InvalidQuery).
    """
    from rigml.track._filter._parse import parse_sort as parse

    return parse(spec)


def compile_where(query: str) -> ColumnElement[bool]:
    """Parse a filter and compile it to a SQL condition.

    Args:
        query: the filter, e.g. ``"metrics.acc > 0.9 and params.optimizer = adam"``;
            blank means every run.

    Returns:
        A condition for ``select(runs).join(experiments).where(...)``: it refers to
        ``runs`` and ``experiments`` and correlates its subqueries to them.

    Raises:
        InvalidQuery: the filter is malformed or compares a field with a value of the
            wrong kind; the message names the column.
    """
    from rigml.track._filter._compile import Compiler

    return Compiler(query).expr(parse_where(query))


def compile_sort(spec: str | list[SortKey]) -> list[ColumnElement[Any]]:
    """Parse a sort spec (or take parsed keys) and compile it to ORDER BY terms.

    ``metrics.acc`` sorts ascending; ``-metrics.acc`` or ``metrics.acc desc`` descending;
    several fields are separated by commas. Runs without the value, NaN metrics included,
    come last in both directions.

    Returns:
        Terms for ``select(runs).join(experiments).order_by(*terms, ...)``.

    Raises:
        InvalidSortSpec: the spec is malformed or names an unknown key.
    """
    from rigml.track._filter._compile import sort_terms

    keys = parse_sort(spec) if isinstance(spec, str) else spec
    return [term for key in keys for term in sort_terms(key)]
