"""A profile for people: a sparkline for the terminal and a self-contained HTML report.

The report is a Jinja2 template (``templates/profile.html.j2``, shipped inside the package)
rendered with autoescaping, so a value such as ``<script>`` in the data shows as text and
never runs. Charts are inline SVG built from numbers computed here: no plotting library,
and the report stays one file. Histogram bins of timestamp and date columns are labelled
with ISO dates, not the epoch seconds they are counted in. jinja2 loads on first render.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.data._profile import ColumnProfile, Profile

_BLOCKS = "▁▂▃▄▅▆▇█"
_HEADERS = ("column", "type", "nulls", "distinct", "min", "max", "mean", "std")


def sparkline(counts: Sequence[int]) -> str:
    """A histogram in one line of block characters."""
    if not counts:
        return ""
    top = max(counts) or 1
    return "".join(_BLOCKS[min(7, round(c / top * 7))] if c else " " for c in counts)


@dataclass(frozen=True)
class _Bar:
    x: str
    y: str
    w: str
    h: str
    tip: str


@dataclass(frozen=True)
class _Chart:
    width: int
    height: int
    bars: list[_Bar]
    first: str
    last: str


@dataclass(frozen=True)
class _Card:
    """What the template shows of one column: a summary row and a chart card."""

    name: str
    type: str
    cells: list[str]
    chart: _Chart | None
    caption: str
    quantiles: str


def _chart(values: Sequence[int], labels: Sequence[str], *, width: int = 360) -> _Chart:
    height, pad = 120, 18
    top = (max(values) if values else 1) or 1
    bw = (width - 2) / (len(values) or 1)
    bars = []
    for i, v in enumerate(values):
        h = (height - pad) * v / top
        tip = f"{labels[i] if i < len(labels) else ''}: {v:,}"
        bars.append(
            _Bar(
                f"{1 + i * bw:.1f}",
                f"{height - pad - h:.1f}",
                f"{max(bw - 1, 1):.1f}",
                f"{h:.1f}",
                tip,
            )
        )
    first, last = (labels[0], labels[-1]) if labels else ("", "")
    return _Chart(width, height, bars, first, last)


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _edge_text(edges: Sequence[float], family: str) -> list[str]:
    """Bin edges as text: ISO dates (and times, for bins under a day) for time columns."""
    if family not in ("timestamp", "date"):
        return [f"{e:.4g}" for e in edges]
    step = (edges[-1] - edges[0]) / max(len(edges) - 1, 1)
    pattern = "%Y-%m-%d" if family == "date" or step >= 86400 else "%Y-%m-%d %H:%M"
    return [datetime.fromtimestamp(e, UTC).strftime(pattern) for e in edges]


def _card(c: ColumnProfile) -> _Card:
    cells = [c.name, c.type, f"{c.null_rate:.1%}"]
    cells += [_fmt(v) for v in (c.distinct, c.min, c.max, c.mean, c.std)]
    chart = None
    if c.histogram:
        edges = _edge_text(c.bin_edges, c.family)
        labels = [f"{edges[i]}–{edges[i + 1]}" for i in range(len(c.histogram))]
        chart = _chart(c.histogram, labels)
        caption = "histogram (from a sample)" if c.approximate else "histogram"
    elif c.top:
        chart = _chart(list(c.top.values()), list(c.top.keys()))
        caption = "most frequent values: " + ", ".join(
            f"{k} ({v:,})" for k, v in list(c.top.items())[:5]
        )
    else:
        caption = "no values to plot"
    quantiles = ", ".join(f"q{q}={_fmt(v)}" for q, v in c.quantiles.items())
    return _Card(c.name, c.type, cells, chart, caption, quantiles)


@functools.cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("rigml.data", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render_html(prof: Profile) -> str:
    """A self-contained HTML report: a summary table and one chart per column."""
    template = _environment().get_template("profile.html.j2")
    return str(template.render(prof=prof, headers=_HEADERS, cards=[_card(c) for c in prof.columns]))


def write_html(prof: Profile, path: str | os.PathLike[str]) -> None:
    """Write :func:`render_html` atomically.

    Raises:
        OutputNotWritable: ``path`` cannot be written (its folder is not created).
    """
    from rigml._output import write_output

    write_output(path, render_html(prof))
