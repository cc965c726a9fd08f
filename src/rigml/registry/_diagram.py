"""A model version's lineage as a picture: Mermaid text for Markdown, a PNG for everyone else.

The registry gathers what led to a version (datasets, contracts, the commit, the
environment and machine, the run, its gates) and what follows from it (aliases, services)
into a :class:`LineageGraph`; this module only draws it. :func:`to_mermaid` writes a
``flowchart LR`` that GitHub, GitLab and mermaid-cli render as it is; :func:`render_png`
draws the same graph with matplotlib (the ``plot`` extra) in columns by kind, so the story
reads left to right: inputs, run, gates, version, aliases, services.
"""

from __future__ import annotations

import itertools
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rigml.errors import MissingExtra

__all__ = [
    "KINDS",
    "STATUSES",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "render_png",
    "to_mermaid",
]

# kind -> its column, left to right; kinds sharing a column are stacked in this order
_LAYERS: Mapping[str, int] = {
    "dataset": 0,
    "contract": 0,
    "commit": 0,
    "environment": 0,
    "machine": 0,
    "run": 1,
    "gate": 2,
    "version": 3,
    "alias": 4,
    "service": 5,
}
KINDS: tuple[str, ...] = tuple(_LAYERS)
STATUSES: tuple[str, ...] = ("", "ok", "failed", "warning")

# kind -> (fill, stroke): pale fills tell kinds apart, status owns the thick border
_KIND_COLOURS: Mapping[str, tuple[str, str]] = {
    "dataset": ("#dbeafe", "#1e40af"),
    "contract": ("#e0e7ff", "#3730a3"),
    "commit": ("#f3f4f6", "#374151"),
    "environment": ("#ecfccb", "#3f6212"),
    "machine": ("#f5f5f4", "#44403c"),
    "run": ("#fef3c7", "#92400e"),
    "gate": ("#fce7f3", "#9d174d"),
    "version": ("#dcfce7", "#166534"),
    "alias": ("#ede9fe", "#5b21b6"),
    "service": ("#cffafe", "#155e75"),
}
# status -> (border, fill override or ""): a failure is red all over, the rest only edged
_STATUS_COLOURS: Mapping[str, tuple[str, str]] = {
    "ok": ("#16a34a", ""),
    "failed": ("#dc2626", "#fee2e2"),
    "warning": ("#d97706", ""),
}
_TEXT = "#111827"


@dataclass(frozen=True)
class LineageNode:
    """One box: a dataset version, a run, a gate, a model version, an alias...

    ``id`` is unique within a graph (``"run:3f2a"``, ``"version:churn@4"``); ``label`` is
    the short name shown in the box, ``detail`` one more line under it, and ``status``
    (``"ok"``, ``"failed"``, ``"warning"`` or ``""``) colours the box's border.
    """

    id: str
    kind: str
    label: str
    detail: str = ""
    status: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _LAYERS:
            raise ValueError(f"lineage node {self.id!r}: unknown kind {self.kind!r}")
        if self.status not in STATUSES:
            raise ValueError(f"lineage node {self.id!r}: unknown status {self.status!r}")


@dataclass(frozen=True)
class LineageEdge:
    """An arrow from ``src`` to ``dst`` (node ids), e.g. ``"trained on"`` or ``"holds"``."""

    src: str
    dst: str
    label: str = ""


@dataclass(frozen=True)
class LineageGraph:
    """Nodes and the arrows between them; every arrow's ends are nodes of the graph."""

    nodes: tuple[LineageNode, ...] = ()
    edges: tuple[LineageEdge, ...] = ()

    def __post_init__(self) -> None:
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"lineage node ids appear more than once: {twice}")
        known = set(ids)
        for e in self.edges:
            for end in (e.src, e.dst):
                if end not in known:
                    raise ValueError(f"lineage edge {e.src!r} -> {e.dst!r}: no node {end!r}")


# -- Mermaid ---------------------------------------------------------------------------------

# Mermaid reads these inside a quoted label; its entity codes (#quot;, #35;) show them as text
_MERMAID_ESCAPES = {
    '"': "#quot;",
    "#": "#35;",
    "&": "#38;",
    "<": "#60;",
    ">": "#62;",
    "[": "#91;",
    "]": "#93;",
    "(": "#40;",
    ")": "#41;",
    "{": "#123;",
    "}": "#125;",
    "|": "#124;",
    "`": "#96;",
}
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_]+")


def to_mermaid(graph: LineageGraph) -> str:
    """The graph as a Mermaid ``flowchart LR``, ready for a Markdown code block.

    Node ids become safe Mermaid ids (letters, digits, ``_``, unique, never a keyword such
    as ``end``); labels are quoted with every character Mermaid would read as syntax
    escaped, so any dataset or run name renders as written. Each kind and status present
    gets a ``classDef``.
    """
    if not graph.nodes:
        return 'flowchart LR\n    n_empty["no lineage recorded"]\n'
    ids = _mermaid_ids(n.id for n in graph.nodes)
    cells = _layout(graph).cells
    order = sorted(graph.nodes, key=lambda n: cells[n.id])
    lines = ["flowchart LR"]
    for node in order:
        text = _mermaid_text(node.label)
        if node.detail:
            text += "<br/>" + _mermaid_text(node.detail)
        lines.append(f'    {ids[node.id]}["{text}"]')
    for e in graph.edges:
        arrow = f'-->|"{_mermaid_text(e.label)}"|' if e.label else "-->"
        lines.append(f"    {ids[e.src]} {arrow} {ids[e.dst]}")
    lines += _mermaid_classes(order, ids)
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """One line of label text with Mermaid's syntax characters turned into entity codes."""
    flat = " ".join(text.split())
    return "".join(_MERMAID_ESCAPES.get(ch, ch) for ch in flat)


def _mermaid_ids(raw: Iterable[str]) -> dict[str, str]:
    """Node id -> a unique Mermaid id: ``n_`` and the id's letters and digits."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for rid in raw:
        base = "n_" + (_UNSAFE_ID.sub("_", rid).strip("_") or "node")
        safe, k = base, 2
        while safe in taken:
            safe, k = f"{base}_{k}", k + 1
        taken.add(safe)
        out[rid] = safe
    return out


def _mermaid_classes(order: list[LineageNode], ids: Mapping[str, str]) -> list[str]:
    """``classDef`` lines for the kinds and statuses present, then who belongs to each."""
    lines: list[str] = []
    members: dict[str, list[str]] = {}
    for kind in KINDS:
        who = [ids[n.id] for n in order if n.kind == kind]
        if who:
            fill, stroke = _KIND_COLOURS[kind]
            lines.append(f"    classDef k_{kind} fill:{fill},stroke:{stroke},color:{_TEXT}")
            members[f"k_{kind}"] = who
    for status, (border, fill) in _STATUS_COLOURS.items():
        who = [ids[n.id] for n in order if n.status == status]
        if who:  # defined after the kinds, so its border wins over the kind's
            paint = f"fill:{fill}," if fill else ""
            lines.append(f"    classDef s_{status} {paint}stroke:{border},stroke-width:3px")
            members[f"s_{status}"] = who
    lines += [f"    class {','.join(who)} {name}" for name, who in members.items()]
    return lines


# -- layout ----------------------------------------------------------------------------------

# A cell of the grid: a box ``(node id, -1, -1)``, or ``("", edge index, column)``, the empty
# slot an arrow passes through on its way across columns it does not stop in.
_Key = tuple[str, int, int]


@dataclass(frozen=True)
class _Layout:
    """The grid: each box's cell, each long arrow's slots, the rows of each column."""

    cells: dict[str, tuple[int, int]]  # node id -> (column, row); rows count from the top
    slots: dict[int, tuple[tuple[int, int], ...]]  # edge index -> its slots, in travel order
    sizes: tuple[int, ...]  # rows in each column


def _layout(graph: LineageGraph) -> _Layout:
    """Place boxes in columns by kind (empty columns dropped) and order each column.

    The first column is stacked by kind, then in the graph's order. Each later column is
    ordered by the mean height of its neighbours in the columns before it (the barycentre
    heuristic of layered drawing), so arrows cross less. An arrow that skips columns gets
    an empty slot in each, so it never runs under a box; a box linked to an earlier box of
    its own column (a contract to its dataset) sits right below it. Pure and deterministic:
    the same graph always gets the same picture.
    """
    layers = sorted({_LAYERS[n.kind] for n in graph.nodes})
    col_of = {n.id: layers.index(_LAYERS[n.kind]) for n in graph.nodes}
    kind_rank = {k: i for i, k in enumerate(KINDS)}
    rank: dict[_Key, tuple[int, int]] = {
        (n.id, -1, -1): (kind_rank[n.kind], i) for i, n in enumerate(graph.nodes)
    }
    columns: list[list[_Key]] = [[] for _ in layers]
    for n in graph.nodes:
        columns[col_of[n.id]].append((n.id, -1, -1))
    links: dict[_Key, list[_Key]] = {k: [] for k in rank}
    passes: dict[int, list[_Key]] = {}  # edge index -> its slots, in travel order
    for i, e in enumerate(graph.edges):
        chain = [(e.src, -1, -1)]
        cs, cd = col_of[e.src], col_of[e.dst]
        step = 1 if cd > cs else -1
        for c in range(cs + step, cd, step) if abs(cd - cs) > 1 else ():
            slot = ("", i, c)
            rank[slot] = (len(KINDS), i)
            columns[c].append(slot)
            chain.append(slot)
            passes.setdefault(i, []).append(slot)
        chain.append((e.dst, -1, -1))
        for a, b in itertools.pairwise(chain):
            links.setdefault(a, []).append(b)
            links.setdefault(b, []).append(a)
    anchor = _anchors(graph, col_of, rank)
    where: dict[_Key, tuple[int, int]] = {}
    height: dict[_Key, float] = {}  # rows above the middle of its column (columns are centred)

    def key(k: _Key) -> tuple[float, int, int, int, int, int]:
        root = anchor.get(k, k)
        seen = [height[m] for m in links[root] if m in height]
        centre = -sum(seen) / len(seen) if seen else float("inf")
        return (centre, *rank[root], int(root != k), *rank[k])

    for c, members in enumerate(columns):
        members.sort(key=key)
        for row, k in enumerate(members):
            where[k] = (c, row)
            height[k] = (len(members) - 1) / 2 - row
    slots = {i: tuple(where[k] for k in ks) for i, ks in passes.items()}
    cells = {k[0]: at for k, at in where.items() if k[1] < 0}
    return _Layout(cells, slots, tuple(len(m) for m in columns))


def _anchors(
    graph: LineageGraph, col_of: Mapping[str, int], rank: Mapping[_Key, tuple[int, int]]
) -> dict[_Key, _Key]:
    """Box -> the earlier box of its own column it hangs below (its first such neighbour)."""
    anchor: dict[_Key, _Key] = {}
    same: dict[_Key, list[_Key]] = {}
    for e in graph.edges:
        if col_of[e.src] == col_of[e.dst] and e.src != e.dst:
            a, b = (e.src, -1, -1), (e.dst, -1, -1)
            same.setdefault(a, []).append(b)
            same.setdefault(b, []).append(a)
    for k in sorted(same, key=rank.__getitem__):
        earlier = sorted((m for m in same[k] if rank[m] < rank[k]), key=rank.__getitem__)
        if earlier:
            anchor[k] = anchor.get(earlier[0], earlier[0])
    return anchor


# -- PNG -------------------------------------------------------------------------------------

_BOX_W, _BOX_H = 2.3, 0.82  # inches
_COL_GAP, _ROW_GAP = 1.5, 0.38
_MARGIN = 0.35
_BOW = 0.7  # how far an arrow between two boxes of one column bows out to the right
_Point = tuple[float, float]


@dataclass(frozen=True)
class _Sheet:
    """The grid in inches from the bottom left of the figure; each column centred."""

    layout: _Layout
    width: float
    height: float

    @classmethod
    def of(cls, layout: _Layout) -> _Sheet:
        cols = len(layout.sizes)
        tallest = max(layout.sizes, default=0)
        width = 2 * _MARGIN + cols * _BOX_W + max(cols - 1, 0) * _COL_GAP
        height = 2 * _MARGIN + tallest * _BOX_H + max(tallest - 1, 0) * _ROW_GAP
        return cls(layout, max(width, 4.0), max(height, 1.2))

    def corner(self, col: int, row: int) -> _Point:
        """The bottom-left corner of a cell."""
        tallest = max(self.layout.sizes)
        pitch = _BOX_H + _ROW_GAP
        top = self.height - _MARGIN - (tallest - self.layout.sizes[col]) * pitch / 2
        return (_MARGIN + col * (_BOX_W + _COL_GAP), top - row * pitch - _BOX_H)

    def box(self, node_id: str) -> _Point:
        return self.corner(*self.layout.cells[node_id])

    def centre_y(self, cell: tuple[int, int]) -> float:
        return self.corner(*cell)[1] + _BOX_H / 2


def render_png(graph: LineageGraph, path: str | os.PathLike[str], *, dpi: int = 144) -> Path:
    """Draw the graph to a PNG at ``path`` (written atomically) and return the path.

    Boxes stand in columns by kind, filled by kind and edged by status; the figure grows
    with the number of columns and the tallest column, so boxes never overlap. Only
    matplotlib's object API is used (a ``Figure`` on an Agg canvas): pyplot, its backend
    and the caller's open figures are left alone.

    Raises:
        MissingExtra: matplotlib is not installed (``pip install 'rigml[plot]'``).
        OutputNotWritable: ``path`` cannot be written, or its folder does not exist.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingExtra("plot", module="matplotlib") from exc
    from rigml._output import output_path

    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    sheet = _Sheet.of(_layout(graph))
    fig = Figure(figsize=(sheet.width, sheet.height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, sheet.width)
    ax.set_ylim(0, sheet.height)
    ax.set_axis_off()
    with warnings.catch_warnings():  # a glyph the font lacks is drawn as a box; say nothing
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from", category=UserWarning)
        for n in graph.nodes:
            _draw_box(ax, n, sheet.box(n.id))
        labels = _Labels(ax)
        for edge, (points, curved) in zip(graph.edges, _routes(graph, sheet), strict=True):
            leg = _draw_edge(ax, points, curved)
            if edge.label:
                one_column = points[0][0] == points[-1][0]
                labels.place(edge.label, leg, 1.3 if one_column else _COL_GAP - 0.12)
        if not graph.nodes:
            ax.text(
                sheet.width / 2,
                sheet.height / 2,
                "no lineage recorded",
                ha="center",
                va="center",
                color="0.4",
            )
        with output_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", facecolor="white")
    return Path(path).expanduser()


def _draw_box(ax: Any, node: LineageNode, corner: _Point) -> None:
    """A rounded box with the kind (small), the label (bold) and the detail line."""
    from matplotlib.patches import FancyBboxPatch

    fill, stroke = _KIND_COLOURS[node.kind]
    width = 1.0
    if node.status:
        stroke, override = _STATUS_COLOURS[node.status]
        fill, width = override or fill, 2.6
    x, y = corner
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            _BOX_W,
            _BOX_H,
            boxstyle="round,pad=0,rounding_size=0.08",
            facecolor=fill,
            edgecolor=stroke,
            linewidth=width,
            zorder=2,
        )
    )
    cx, room = x + _BOX_W / 2, _BOX_W - 0.16
    kind = ax.text(
        x + 0.08, y + _BOX_H - 0.07, "", fontsize=6, color="0.35", ha="left", va="top", zorder=3
    )
    _fit(kind, node.kind.upper(), room)
    label = ax.text(
        cx,
        y + _BOX_H * (0.47 if node.detail else 0.40),
        "",
        fontsize=9,
        fontweight="bold",
        color=_TEXT,
        ha="center",
        va="center",
        zorder=3,
    )
    _fit(label, node.label, room)
    if node.detail:
        detail = ax.text(
            cx, y + _BOX_H * 0.2, "", fontsize=7.5, color="0.2", ha="center", va="center", zorder=3
        )
        _fit(detail, node.detail, room)


def _routes(graph: LineageGraph, sheet: _Sheet) -> list[tuple[list[_Point], bool]]:
    """Each edge's way: its points, and whether the legs between columns are S-curves.

    An arrow leaves the side of its box that faces where it goes, and arrives on the
    facing side of the other; the arrows on one side are spread along it, ordered by
    where their other ends are, so they do not cross at the box.
    """
    layout = sheet.layout
    ends: dict[tuple[int, int], _Point] = {}  # (edge, 0 start | 1 end) -> point
    sides: dict[tuple[str, str], list[tuple[float, int, int]]] = {}
    for i, e in enumerate(graph.edges):
        (cs, rs), (cd, rd) = layout.cells[e.src], layout.cells[e.dst]
        ways = [sheet.centre_y(c) for c in layout.slots.get(i, ())]
        after_src = ways[0] if ways else sheet.centre_y((cd, rd))
        before_dst = ways[-1] if ways else sheet.centre_y((cs, rs))
        if cs == cd and abs(rs - rd) == 1:
            src_side, dst_side = ("B", "T") if rs < rd else ("T", "B")
        elif cs == cd:
            src_side, dst_side = "R", "R"
        else:
            src_side, dst_side = ("R", "L") if cs < cd else ("L", "R")
        sides.setdefault((e.src, src_side), []).append((after_src, i, 0))
        sides.setdefault((e.dst, dst_side), []).append((before_dst, i, 1))
    for (nid, side), members in sides.items():
        members.sort(key=lambda m: (-m[0], m[1], m[2]))
        x, y = sheet.box(nid)
        for k, (_, i, end) in enumerate(members):
            shift = 0.5 - (k + 0.5) / len(members)
            ends[(i, end)] = _side_point(x, y, side, shift)
    routes: list[tuple[list[_Point], bool]] = []
    for i, e in enumerate(graph.edges):
        start, stop = ends[(i, 0)], ends[(i, 1)]
        (cs, rs), (cd, rd) = layout.cells[e.src], layout.cells[e.dst]
        if cs == cd:
            routes.append(([start, stop], abs(rs - rd) != 1))
            continue
        points = [start]
        for cell in layout.slots.get(i, ()):
            x, y = sheet.corner(*cell)
            near, far = (x, x + _BOX_W) if cd > cs else (x + _BOX_W, x)
            points += [(near, y + _BOX_H / 2), (far, y + _BOX_H / 2)]
        routes.append(([*points, stop], True))
    return routes


def _side_point(x: float, y: float, side: str, shift: float) -> _Point:
    """A point on one side of the box at ``(x, y)``, ``shift`` (-0.5..0.5) from its middle."""
    if side in ("L", "R"):
        return (x if side == "L" else x + _BOX_W, y + _BOX_H / 2 + shift * 0.6 * _BOX_H)
    return (x + _BOX_W / 2 - shift * 0.6 * _BOX_W, y if side == "B" else y + _BOX_H)


def _draw_edge(ax: Any, points: list[_Point], curved: bool) -> tuple[_Point, ...]:
    """The arrow along ``points``; returns its first leg (four Bézier points) for a label."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path as MplPath

    (x0, y0), (x1, y1) = points[0], points[1]
    verts, codes = [points[0]], [MplPath.MOVETO]
    if len(points) == 2 and x0 == x1 and curved:  # one column, far apart: bow out right
        verts += [(x0 + _BOW, y0), (x0 + _BOW, y1), (x1, y1)]
        codes += [MplPath.CURVE4] * 3
    elif curved:  # S-curves in the gaps between columns, straight through slots
        for k, (a, b) in enumerate(itertools.pairwise(points)):
            if k % 2:
                verts.append(b)
                codes.append(MplPath.LINETO)
                continue
            mid = (a[0] + b[0]) / 2
            verts += [(mid, a[1]), (mid, b[1]), b]
            codes += [MplPath.CURVE4] * 3
    else:  # one column, neighbouring rows: a short straight arrow
        third = ((x1 - x0) / 3, (y1 - y0) / 3)  # a straight line, written as a Bézier leg
        verts += [(x0 + third[0], y0 + third[1]), (x1 - third[0], y1 - third[1]), (x1, y1)]
        codes += [MplPath.CURVE4] * 3
    ax.add_patch(
        FancyArrowPatch(
            path=MplPath(verts, codes),
            arrowstyle="-|>",
            mutation_scale=10,
            color="0.35",
            linewidth=1.0,
            zorder=1,
        )
    )
    return tuple(verts[:4])


class _Labels:
    """Puts edge labels on their arrows where they do not cover one another.

    Each label tries the middle of its arrow's first leg, then points further along and
    back; the first spot clear of the labels already placed wins (else the middle).
    """

    _SPOTS = (0.5, 0.35, 0.65, 0.2, 0.8, 0.1, 0.9)

    def __init__(self, ax: Any) -> None:
        self.ax = ax
        self.taken: list[Any] = []  # display-space boxes of the labels placed

    def place(self, label: str, leg: tuple[_Point, ...], room: float) -> None:
        text = self.ax.text(
            *leg[0],
            "",
            fontsize=6.5,
            color="0.25",
            ha="center",
            va="center",
            zorder=4,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
        )
        _fit(text, label, room)
        renderer = self.ax.get_figure().canvas.get_renderer()
        best = None
        for t in self._SPOTS:
            text.set_position(_bezier(leg, t))
            extent = text.get_window_extent(renderer).expanded(1.1, 1.25)
            if not any(extent.overlaps(other) for other in self.taken):
                best = extent
                break
        if best is None:
            text.set_position(_bezier(leg, 0.5))
            best = text.get_window_extent(renderer)
        self.taken.append(best)


def _bezier(leg: tuple[_Point, ...], t: float) -> _Point:
    """The point at ``t`` (0..1) of a cubic Bézier leg."""
    u = 1 - t
    weights = (u**3, 3 * u * u * t, 3 * u * t * t, t**3)
    return (
        sum(w * p[0] for w, p in zip(weights, leg, strict=True)),
        sum(w * p[1] for w, p in zip(weights, leg, strict=True)),
    )


def _fit(artist: Any, text: str, inches: float) -> None:
    """Set ``artist``'s text to one line of ``text``, cut with "…" to ``inches`` wide.

    Measured with the figure's renderer, not guessed from a character count: "WWW" and
    "iii" differ threefold. Dollar signs are escaped (matplotlib would read maths).
    """
    flat = " ".join(text.split()).replace("$", r"\$")
    fig = artist.get_figure()
    limit = inches * fig.dpi
    renderer = fig.canvas.get_renderer()

    def fits(candidate: str) -> bool:
        artist.set_text(candidate)
        return bool(artist.get_window_extent(renderer).width <= limit)

    if fits(flat):
        return
    lo, hi = 0, len(flat)  # the longest prefix that fits with "…" is lo characters
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(flat[:mid].rstrip() + "…"):
            lo = mid
        else:
            hi = mid - 1
    cut = flat[:lo].rstrip()
    if cut.endswith("\\"):  # never leave half of an escaped "\$"
        cut = cut[:-1]
    artist.set_text(cut + "…")
