"""All terminal output goes through here; rich is imported only when something is drawn."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def console() -> Console:
    import os

    from rich.console import Console

    # Piped output (CI logs, `| less`) gets room for wide tables instead of 80 columns.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
    return Console(highlight=False, width=width)


@cache
def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def write(text: str = "", **kwargs: Any) -> None:
    console().print(text, **kwargs)


def error(message: str, hint: str | None = None) -> None:
    from rich.markup import escape

    err_console().print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        err_console().print(f"[dim]hint:[/] {escape(hint)}", soft_wrap=True)


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def _finite(o: Any) -> Any:
    """JSON has no NaN/inf: write them as strings "nan", "inf", "-inf"."""
    if isinstance(o, float):
        return o if math.isfinite(o) else str(o)
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_finite(v) for v in o]
    return o


def write_json(data: Any) -> None:
    if hasattr(data, "to_dict"):
        data = data.to_dict()
    elif isinstance(data, list):
        data = [d.to_dict() if hasattr(d, "to_dict") else d for d in data]
    sys.stdout.write(json.dumps(_finite(data), indent=2, default=_json_default) + "\n")
    sys.stdout.flush()


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    truncate: bool = False,
    max_widths: Sequence[int | None] | None = None,
) -> None:
    """Print a table; long cells fold onto more lines, or with ``truncate`` end in "…".

    ``max_widths`` caps each column (None: no cap); a truncated table never wraps a cell,
    so words are never split across lines.
    """
    from rich.table import Table

    t = Table(title=title, header_style="bold", title_justify="left")
    caps = list(max_widths or [])
    for i, c in enumerate(columns):
        cap = caps[i] if i < len(caps) else None
        if truncate:
            t.add_column(c, overflow="ellipsis", no_wrap=True, max_width=cap)
        else:
            t.add_column(c, overflow="fold", max_width=cap)
    for row in rows:
        t.add_row(*(fmt(v) for v in row))
    console().print(t)


TABLE_OVERHEAD = (3, 1)  # a bordered table spends 3 columns per column (padding, rule) + 1


def table_width(widths: Sequence[int]) -> int:
    """The terminal columns a bordered table with these column widths takes."""
    per_column, edge = TABLE_OVERHEAD
    return sum(widths) + per_column * len(widths) + edge


def cell_width(v: Any) -> int:
    """How many terminal columns ``fmt(v)`` takes once its markup is drawn."""
    from rich.text import Text

    return Text.from_markup(fmt(v)).cell_len


def width() -> int:
    """The width output is drawn at (the terminal's, COLUMNS, or 160 when piped)."""
    return console().width


def confirm(question: str, *, default: bool = False) -> bool:
    from rich.prompt import Confirm

    return bool(Confirm.ask(question, default=default, console=err_console()))


class Styled(str):
    """Text that carries Rich markup on purpose; every other string is escaped."""


def fmt(v: Any) -> str:
    """A value as a short, exact-enough cell."""
    from rich.markup import escape

    if isinstance(v, Styled):
        return v
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.6g}"
    return escape(str(v))


def when(ts: float | None, *, short: bool = False) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """``42.5s``, ``12m34s``, ``2h03m``; ``-`` when unknown (see :mod:`rigml._units`)."""
    from rigml._units import format_duration

    return format_duration(seconds)


STATUS_STYLE = {
    "running": "cyan",
    "finished": "green",
    "failed": "red",
    "killed": "yellow",
    "crashed": "bold red",
    "pass": "green",
    "warn": "yellow",
    "fail": "bold red",
    "skip": "dim",
}


def status(s: str) -> Styled:
    return Styled(f"[{STATUS_STYLE.get(s, 'white')}]{s}[/]")
