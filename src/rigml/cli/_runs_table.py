"""The table of ``rig runs list``: which columns, how wide, and what did not fit.

By default the table shows the run's attributes and the params and metrics most runs
have, as many as fit the terminal; the rest are named in one line after the table
("+3 more columns (see --columns): ..."). ``--columns`` picks exactly what to show.
Cells never wrap: a long name ends in "…", so every line fits the terminal and no word
is split across lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rigml.cli import _ui
from rigml.errors import InvalidInput

if TYPE_CHECKING:
    from rigml.track.queries import RunInfo

__all__ = ["COLUMN_NAMES", "Column", "parse_columns", "print_runs"]

_ATTRS: dict[str, Callable[[RunInfo], Any]] = {
    "id": lambda r: r.id[:8],
    "name": lambda r: r.name,
    "experiment": lambda r: r.experiment,
    "status": lambda r: _ui.status(r.status),
    "started": lambda r: _ui.when(r.start_time, short=True),
    "ended": lambda r: _ui.when(r.end_time, short=True),
    "duration": lambda r: _ui.duration(r.duration),
    "host": lambda r: r.host,
    "user": lambda r: r.user,
    "git_commit": lambda r: r.git_commit[:10] if r.git_commit else None,
    "git_branch": lambda r: r.git_branch,
}
_ALIASES = {"start_time": "started", "end_time": "ended"}
_GROUPS = ("params", "metrics", "tags")  # a folded column: every key as k=v
_FIXED = ("id", "name", "experiment", "status", "started", "duration")
_TEXT = {"name", "experiment", "host", "user", "git_branch", *_GROUPS}
COLUMN_NAMES = (
    f"{', '.join(_ATTRS)}, params, metrics, tags, params.<key>, metrics.<key>, tags.<key>"
)
_MAX_PARAMS = 5  # dynamic columns considered by default
_MAX_METRICS = 6
_CAP = 28  # widest a text column starts out
_DYNAMIC_CAP = 16  # widest a param, metric or tag column may be
_MIN_TEXT = 8  # narrowest a text column is shrunk to
_COMFORTABLE = 16  # text columns shrink to this to make room for params and metrics


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its header, one value per run, and how wide it would like to be."""

    key: str
    cells: tuple[Any, ...]
    natural: int  # widest of header and cells, in terminal columns
    text: bool  # may be cut short with "…" (names, strings); ids and numbers may not

    @property
    def least(self) -> int:
        return min(self.natural, _MIN_TEXT) if self.text else self.natural


def parse_columns(spec: str) -> list[str]:
    """The column keys of ``--columns id,name,metrics.acc``, in order, without repeats.

    Raises:
        InvalidInput: an unknown column or an empty key; the message lists the valid ones.
    """
    keys: list[str] = []
    for raw in spec.split(","):
        name = raw.strip()
        if not name:
            continue
        name = _ALIASES.get(name, name)
        prefix, dot, key = name.partition(".")
        if name in _ATTRS or name in _GROUPS or (dot and prefix in _GROUPS and key):
            keys.append(name)
            continue
        raise InvalidInput(
            f"unknown column {name!r} in --columns {spec!r}",
            hint=f"columns: {COLUMN_NAMES}",
        )
    if not keys:
        raise InvalidInput("--columns names no column", hint=f"columns: {COLUMN_NAMES}")
    return list(dict.fromkeys(keys))


def build_column(runs: Sequence[RunInfo], key: str) -> Column:
    """The column ``key`` of ``runs``: an attribute, a group, or one param/metric/tag."""
    prefix, dot, name = key.partition(".")
    if key in _ATTRS:
        cells = tuple(_ATTRS[key](r) for r in runs)
    elif key in _GROUPS:
        cells = tuple(_folded(_group(r, key)) for r in runs)
    else:
        cells = tuple(_group(r, prefix).get(name) for r in runs)
    natural = max([len(key), *(_ui.cell_width(c) for c in cells)])
    text = key in _TEXT or prefix == "tags" or any(isinstance(c, str) for c in cells if dot)
    return Column(key, cells, natural, text)


def _group(run: RunInfo, group: str) -> dict[str, Any]:
    if group == "params":
        return run.params
    if group == "tags":
        return dict(run.tags)
    return {k: v for k, v in run.metrics.items() if not k.startswith("sys/")}


def _folded(values: dict[str, Any]) -> str:
    """``lr=0.01 opt=adam``: every key of a group in one cell."""

    def plain(v: Any) -> str:
        if isinstance(v, str):
            return v
        if isinstance(v, dict | list):
            return json.dumps(v)
        return str(_ui.fmt(v))

    return " ".join(f"{k}={plain(v)}" for k, v in sorted(values.items())) or "-"


def default_keys(runs: Sequence[RunInfo], preferred: Sequence[str]) -> tuple[list[str], list[str]]:
    """The attribute columns, and the param/metric columns worth showing, best first.

    ``preferred`` (the keys the runs are sorted by) come first, then metrics, then
    params; ``experiment`` is left out when every run is in the same one.
    """
    fixed = [k for k in _FIXED if k != "experiment" or len({r.experiment for r in runs}) > 1]
    params = [f"params.{k}" for k in _common([r.params for r in runs], _MAX_PARAMS)]
    metrics = [f"metrics.{k}" for k in _common([_group(r, "metrics") for r in runs], _MAX_METRICS)]
    ranked = [k for k in preferred if k.partition(".")[0] in _GROUPS]
    ranked += [k for k in metrics + params if k not in ranked]
    return fixed, ranked


def _common(dicts: list[dict[str, Any]], limit: int) -> list[str]:
    """The keys most runs have, at most ``limit`` of them, in key order."""
    counts: dict[str, int] = {}
    for d in dicts:
        for k in d:
            counts[k] = counts.get(k, 0) + 1
    return sorted(sorted(counts, key=lambda k: (-counts[k], k))[:limit])


def fit(
    fixed: list[Column], optional: list[Column], width: int, *, urgent: int = 0
) -> tuple[list[Column], list[int], list[Column]]:
    """Choose column widths for ``width`` terminal columns.

    Text columns of ``fixed`` shrink (widest first) until the table fits; then each
    ``optional`` column, in order, joins if it fits, shrinking long text columns down to
    a comfortable width to make room (the first ``urgent`` ones, the sort keys, down to
    the narrowest). Returns the columns kept, their widths, and the optional columns
    left out.
    """
    widths = [min(c.natural, _CAP) if c.text else c.natural for c in fixed]
    least = [c.least for c in fixed]
    _shrink(widths, least, _ui.table_width(widths) - width, whole=False)
    kept, dropped = list(fixed), []
    for n, column in enumerate(optional):
        w = min(column.natural, _DYNAMIC_CAP)
        excess = _ui.table_width([*widths, w]) - width
        floors = (
            least
            if n < urgent
            else [max(m, min(x, _COMFORTABLE)) for m, x in zip(least, widths, strict=True)]
        )
        if excess <= 0 or _shrink(widths, floors, excess):
            kept.append(column)
            widths.append(w)
            least.append(min(w, _MIN_TEXT) if column.text else w)
        else:
            dropped.append(column)
    return kept, widths, dropped


def _shrink(widths: list[int], floors: Sequence[int], excess: int, *, whole: bool = True) -> bool:
    """Take ``excess`` columns off the widest ``widths`` above their ``floors``.

    With ``whole``, change nothing and return False unless all of ``excess`` can go;
    without it, take what there is.
    """
    room = sum(max(0, w - f) for w, f in zip(widths, floors, strict=True))
    if excess <= 0:
        return True
    if whole and room < excess:
        return False
    for _ in range(min(excess, room)):
        widest = max(
            (i for i in range(len(widths)) if widths[i] > floors[i]), key=lambda i: widths[i]
        )
        widths[widest] -= 1
    return room >= excess


def print_runs(
    runs: Sequence[RunInfo], *, columns: str | None = None, sort_keys: Sequence[str] = ()
) -> None:
    """Draw ``runs`` as a table that fits the terminal.

    Raises:
        InvalidInput: ``columns`` names an unknown column.
    """
    width = _ui.width()
    if columns:
        chosen = [build_column(runs, k) for k in parse_columns(columns)]
        kept, widths, dropped = fit(chosen, [], width)
    else:
        fixed, ranked = default_keys(runs, sort_keys)
        kept, widths, dropped = fit(
            [build_column(runs, k) for k in fixed],
            [build_column(runs, k) for k in ranked],
            width,
            urgent=len([k for k in ranked if k in sort_keys]),
        )
        order = {k: i for i, k in enumerate(fixed + sorted(ranked, key=_display_order))}
        pairs = sorted(zip(kept, widths, strict=True), key=lambda p: order[p[0].key])
        kept, widths = [p[0] for p in pairs], [p[1] for p in pairs]
    title = None
    if "experiment" not in [c.key for c in kept] and len({r.experiment for r in runs}) == 1:
        title = f"experiment {runs[0].experiment}"
    rows = [[c.cells[i] for c in kept] for i in range(len(runs))]
    _ui.table([c.key for c in kept], rows, title=title, truncate=True, max_widths=widths)
    if dropped:
        names = ", ".join(c.key for c in dropped)
        more = f"+{len(dropped)} more column{'s' if len(dropped) > 1 else ''} (see --columns)"
        _ui.write(f"{more}: {names}", markup=False, style="dim", no_wrap=True, overflow="ellipsis")


def _display_order(key: str) -> tuple[int, str]:
    """Params before metrics before tags, each in key order."""
    prefix, _, name = key.partition(".")
    return (_GROUPS.index(prefix), name)
