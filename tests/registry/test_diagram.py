"""The lineage diagram: Mermaid text that parses, and a PNG laid out in columns by kind."""

from __future__ import annotations

import itertools
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from rigml.errors import MissingExtra, OutputNotWritable
from rigml.registry._diagram import (
    KINDS,
    LineageEdge,
    LineageGraph,
    LineageNode,
    _fit,
    _layout,
    _Sheet,
    render_png,
    to_mermaid,
)

PNG = b"\x89PNG\r\n\x1a\n"
NODE = re.compile(r'^ {4}(?P<id>n_\w+)\["(?P<text>[^"]*)"\]$')
EDGE = re.compile(r'^ {4}(?P<src>n_\w+) -->(?:\|"(?P<label>[^"]*)"\|)? (?P<dst>n_\w+)$')
CLASSDEF = re.compile(r"^ {4}classDef (?P<name>[ks]_\w+) (?P<style>[\w:#,-]+)$")
CLASS = re.compile(r"^ {4}class (?P<ids>n_\w+(?:,n_\w+)*) (?P<name>[ks]_\w+)$")


def lineage() -> LineageGraph:
    """A version's story: inputs, a run, two gates, the version, two aliases, a service."""
    nodes = (
        LineageNode("dataset:churn@3", "dataset", "churn v3", "12,400 rows · 3 files"),
        LineageNode("contract:churn", "contract", "contract churn", "passed 3/3", "ok"),
        LineageNode("commit:a1b2c3d", "commit", "commit a1b2c3d", "a1b2c3d (dirty)", "warning"),
        LineageNode("environment:e1", "environment", "python 3.11", "py3.11 · 142 packages"),
        LineageNode("machine:ws", "machine", 'workstation "bob\'s"', "RTX 4090 · 64 GiB"),
        LineageNode("run:3f2a", "run", "run brisk-otter-1", "finished", "ok"),
        LineageNode("gate:auc", "gate", "auc >= 0.85", "0.91 ✓", "ok"),
        LineageNode("gate:latency", "gate", "latency p95 < 20 ms", "24 ms", "failed"),
        LineageNode("version:churn@4", "version", "churn v4", "LogisticRegression"),
        LineageNode("alias:production", "alias", "production"),
        LineageNode("alias:staging", "alias", "staging"),
        LineageNode("service:churn-api", "service", "churn-api", "127.0.0.1:8080"),
    )
    edges = (
        LineageEdge("run:3f2a", "dataset:churn@3", "trained on"),
        LineageEdge("dataset:churn@3", "contract:churn", "checked by"),
        LineageEdge("run:3f2a", "commit:a1b2c3d", "code"),
        LineageEdge("run:3f2a", "environment:e1"),
        LineageEdge("run:3f2a", "machine:ws", "ran on"),
        LineageEdge("run:3f2a", "gate:auc", "checked by"),
        LineageEdge("run:3f2a", "gate:latency", "checked by"),
        LineageEdge("run:3f2a", "version:churn@4", "made"),
        LineageEdge("alias:production", "version:churn@4", "holds"),
        LineageEdge("alias:staging", "version:churn@4", "holds"),
        LineageEdge("service:churn-api", "alias:production", "serves"),
    )
    return LineageGraph(nodes, edges)


def big_lineage() -> LineageGraph:
    """30 nodes: 8 datasets (4 with contracts), 3 runs with 2 gates and a version each..."""
    nodes = [
        LineageNode(f"dataset:d{i}", "dataset", f'data "{i}" · ü', "[x] {y}") for i in range(8)
    ]
    edges = []
    for i in range(4):
        nodes.append(LineageNode(f"contract:c{i}", "contract", f"contract {i}", "", "ok"))
        edges.append(LineageEdge(f"dataset:d{2 * i}", f"contract:c{i}", "checked by"))
    nodes += [
        LineageNode("commit:x", "commit", "commit a1b2c3d"),
        LineageNode("environment:x", "environment", "py3.11"),
        LineageNode("machine:x", "machine", "ws"),
    ]
    for r in range(3):
        nodes.append(LineageNode(f"run:{r}", "run", f"run {r} " + "long " * 20, "ok", "ok"))
        edges += [LineageEdge(f"run:{r}", f"dataset:d{i}", "trained on") for i in range(r, 8, 3)]
        edges += [LineageEdge(f"run:{r}", f"{k}:x") for k in ("commit", "environment", "machine")]
        for g in range(2):
            nodes.append(LineageNode(f"gate:{r}{g}", "gate", f"gate {g}", "", "warning"))
            edges.append(LineageEdge(f"run:{r}", f"gate:{r}{g}", "checked by"))
        nodes.append(LineageNode(f"version:{r}", "version", f"churn v{r}"))
        edges.append(LineageEdge(f"run:{r}", f"version:{r}", "made"))
    nodes += [
        LineageNode("alias:p", "alias", "production"),
        LineageNode("alias:s", "alias", "staging"),
        LineageNode("service:x", "service", "churn-api"),
    ]
    edges += [
        LineageEdge("alias:p", "version:2", "holds"),
        LineageEdge("alias:s", "version:1", "holds"),
        LineageEdge("service:x", "alias:p", "serves"),
        LineageEdge("service:x", "version:0", "shadows"),
    ]
    assert len(nodes) == 30
    return LineageGraph(tuple(nodes), tuple(edges))


def unescape(text: str) -> str:
    """Mermaid's entity codes back to characters."""
    text = text.replace("#quot;", '"')
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text)


def parse(mermaid: str) -> tuple[dict[str, str], list[tuple[str, str, str | None]], dict]:
    """Nodes (id -> label text), edges and classes of our Mermaid; fails on any other line."""
    lines = mermaid.splitlines()
    assert lines[0] == "flowchart LR"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str | None]] = []
    classdefs: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for line in lines[1:]:
        if m := NODE.match(line):
            assert m["id"] not in nodes, f"{m['id']} declared twice"
            nodes[m["id"]] = m["text"]
        elif m := EDGE.match(line):
            edges.append((m["src"], m["dst"], m["label"]))
        elif m := CLASSDEF.match(line):
            classdefs[m["name"]] = m["style"]
        elif m := CLASS.match(line):
            members[m["name"]] = m["ids"].split(",")
        else:
            raise AssertionError(f"a line of no known shape: {line!r}")
    return nodes, edges, {"defs": classdefs, "members": members}


# -- the graph -------------------------------------------------------------------------------


def test_a_graph_refuses_duplicate_ids_dangling_edges_and_unknown_kinds() -> None:
    a = LineageNode("a", "run", "a")
    with pytest.raises(ValueError, match="more than once: \\['a'\\]"):
        LineageGraph((a, a))
    with pytest.raises(ValueError, match="no node 'b'"):
        LineageGraph((a,), (LineageEdge("a", "b"),))
    with pytest.raises(ValueError, match="unknown kind 'model'"):
        LineageNode("m", "model", "m")
    with pytest.raises(ValueError, match="unknown status 'passed'"):
        LineageNode("m", "run", "m", status="passed")


# -- Mermaid ---------------------------------------------------------------------------------


def test_mermaid_declares_each_node_once_and_every_edge_end() -> None:
    g = lineage()
    nodes, edges, _ = parse(to_mermaid(g))
    assert len(nodes) == len(g.nodes)
    assert len(edges) == len(g.edges)
    for src, dst, _label in edges:
        assert src in nodes and dst in nodes


def test_mermaid_labels_escape_quotes_and_brackets_and_read_back_as_written() -> None:
    g = lineage()
    nodes, edges, _ = parse(to_mermaid(g))
    shown = sorted(unescape(t) for t in nodes.values())
    written = sorted(n.label + (f"<br/>{n.detail}" if n.detail else "") for n in g.nodes)
    assert shown == written
    for text in nodes.values():
        assert not set(text.replace("<br/>", "")) & set('"[](){}|<>`')
    assert sorted(unescape(lab or "") for *_, lab in edges) == sorted(e.label for e in g.edges)
    assert nodes["n_machine_ws"] == "workstation #quot;bob's#quot;<br/>RTX 4090 · 64 GiB"
    assert "a1b2c3d #40;dirty#41;" in nodes["n_commit_a1b2c3d"]


def test_an_edge_without_a_label_is_a_plain_arrow() -> None:
    text = to_mermaid(lineage())
    assert "    n_run_3f2a --> n_environment_e1" in text.splitlines()
    assert '    n_run_3f2a -->|"made"| n_version_churn_4' in text.splitlines()


def test_mermaid_ids_are_safe_unique_and_never_a_keyword() -> None:
    odd = ["a:b", "a_b", "a b", "end", "::", "", "ü@1", "class"]
    g = LineageGraph(tuple(LineageNode(i, "run", f"run {k}") for k, i in enumerate(odd)))
    nodes, _, _ = parse(to_mermaid(g))
    assert len(nodes) == len(odd)
    assert all(re.fullmatch(r"n_[A-Za-z0-9_]+", i) for i in nodes)
    assert {"n_a_b", "n_a_b_2", "n_a_b_3", "n_end", "n_node", "n_node_2", "n_1", "n_class"} == (
        set(nodes)
    )


def test_a_label_over_several_lines_becomes_one() -> None:
    g = LineageGraph((LineageNode("r", "run", "two\nlines\t here", "x\ny"),))
    nodes, _, _ = parse(to_mermaid(g))
    assert nodes == {"n_r": "two lines here<br/>x y"}


def test_each_kind_and_status_present_gets_a_class_and_its_members() -> None:
    g = lineage()
    _, _, classes = parse(to_mermaid(g))
    kinds = {n.kind for n in g.nodes}
    assert set(classes["defs"]) == {f"k_{k}" for k in kinds} | {"s_ok", "s_failed", "s_warning"}
    assert classes["members"]["s_failed"] == ["n_gate_latency"]
    assert sorted(classes["members"]["k_alias"]) == ["n_alias_production", "n_alias_staging"]
    assert "stroke-width:3px" in classes["defs"]["s_ok"]
    kind_styles = [v for k, v in classes["defs"].items() if k.startswith("k_")]
    assert len(set(kind_styles)) == len(kind_styles) == len(kinds)
    members = [m for ms in classes["members"].values() for m in ms]
    assert sorted(set(members)) == sorted(parse(to_mermaid(g))[0])
    only_runs = LineageGraph((LineageNode("r", "run", "r"),))
    assert set(parse(to_mermaid(only_runs))[2]["defs"]) == {"k_run"}


def test_an_empty_graph_is_still_a_diagram() -> None:
    nodes, edges, _ = parse(to_mermaid(LineageGraph()))
    assert list(nodes.values()) == ["no lineage recorded"] and edges == []


def test_mermaid_lists_nodes_column_by_column() -> None:
    nodes, _, _ = parse(to_mermaid(lineage()))
    order = list(nodes)
    assert order.index("n_dataset_churn_3") < order.index("n_run_3f2a")
    assert order.index("n_run_3f2a") < order.index("n_gate_auc") < order.index("n_version_churn_4")
    assert order.index("n_version_churn_4") < order.index("n_alias_production")
    assert order[-1] == "n_service_churn_api"


# -- layout ----------------------------------------------------------------------------------


def test_columns_follow_the_kinds_and_empty_ones_are_dropped() -> None:
    g = lineage()
    cells = _layout(g).cells
    column = {n.kind: cells[n.id][0] for n in g.nodes}
    assert column == {
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
    short = LineageGraph(
        (LineageNode("v", "version", "v"), LineageNode("d", "dataset", "d")),
        (LineageEdge("d", "v"),),
    )
    assert _layout(short).cells == {"d": (0, 0), "v": (1, 0)}


def test_the_layout_is_deterministic_and_does_not_depend_on_node_order() -> None:
    g = big_lineage()
    first = _layout(g)
    assert _layout(g) == first
    assert _layout(LineageGraph(tuple(g.nodes), tuple(g.edges))) == first
    shuffled = LineageGraph(tuple(reversed(g.nodes)), g.edges)
    by_kind = {n.id: n.kind for n in g.nodes}
    for nid, (col, _row) in _layout(shuffled).cells.items():
        assert col == first.cells[nid][0], f"{by_kind[nid]} {nid} moved column"


def test_no_two_cells_share_a_place_and_long_edges_get_slots() -> None:
    g = big_lineage()
    layout = _layout(g)
    places = list(layout.cells.values()) + [c for cs in layout.slots.values() for c in cs]
    assert len(places) == len(set(places))
    for col, size in enumerate(layout.sizes):
        assert sorted(r for c, r in places if c == col) == list(range(size))
    made = g.edges.index(LineageEdge("run:0", "version:0", "made"))
    assert [c for c, _ in layout.slots[made]] == [2]  # through the gate column
    shadows = g.edges.index(LineageEdge("service:x", "version:0", "shadows"))
    assert [c for c, _ in layout.slots[shadows]] == [4]  # through the aliases, leftwards


def test_a_contract_sits_right_below_its_dataset() -> None:
    cells = _layout(big_lineage()).cells
    for i in range(4):
        col, row = cells[f"dataset:d{2 * i}"]
        assert cells[f"contract:c{i}"] == (col, row + 1)


def test_boxes_never_overlap_and_the_figure_grows_with_the_tallest_column() -> None:
    from rigml.registry._diagram import _BOX_H, _BOX_W

    g = big_lineage()
    sheet = _Sheet.of(_layout(g))
    boxes = [sheet.box(n.id) for n in g.nodes]
    for (x1, y1), (x2, y2) in itertools.combinations(boxes, 2):
        assert abs(x1 - x2) >= _BOX_W or abs(y1 - y2) >= _BOX_H
    for x, y in boxes:
        assert 0 <= x <= sheet.width - _BOX_W and 0 <= y <= sheet.height - _BOX_H

    def tall(n: int) -> float:
        datasets = tuple(LineageNode(f"d{i}", "dataset", "d") for i in range(n))
        return _Sheet.of(_layout(LineageGraph(datasets))).height

    assert tall(1) < tall(3) < tall(10)


# -- PNG -------------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_png_is_a_png_of_the_layout_size(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image

    g = lineage()
    out = render_png(g, tmp_path / "lineage.png", dpi=100)
    assert out == tmp_path / "lineage.png"
    sheet = _Sheet.of(_layout(g))
    width, height = png_size(out)
    assert abs(width - sheet.width * 100) <= 1 and abs(height - sheet.height * 100) <= 1
    pixels = matplotlib.image.imread(out)
    assert pixels.shape[:2] == (height, width)
    rgb = pixels[..., :3]
    red = (abs(rgb[..., 0] - 0xDC / 255) < 0.02) & (abs(rgb[..., 1] - 0x26 / 255) < 0.02)
    assert red.sum() > 100, "the failed gate's red border is missing"
    assert (rgb < 0.5).any(axis=-1).sum() > 1000, "no text or lines drawn"
    assert list(tmp_path.iterdir()) == [out], "a temporary file was left behind"


def test_dpi_scales_the_picture(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    small = png_size(render_png(lineage(), tmp_path / "a.png", dpi=50))
    large = png_size(render_png(lineage(), tmp_path / "b.png", dpi=100))
    assert abs(large[0] - 2 * small[0]) <= 2 and abs(large[1] - 2 * small[1]) <= 2
    with pytest.raises(ValueError, match="dpi must be positive"):
        render_png(lineage(), tmp_path / "c.png", dpi=0)


def test_an_empty_graph_and_thirty_nodes_both_draw(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    empty = png_size(render_png(LineageGraph(), tmp_path / "empty.png", dpi=100))
    assert empty == (400, 120)
    width, height = png_size(render_png(big_lineage(), tmp_path / "big.png", dpi=72))
    assert 1000 < width < 2000 and 1000 < height < 3000  # 6 columns; 15 rows in the first


def test_quotes_unicode_dollars_and_missing_glyphs_draw_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    g = LineageGraph(
        (
            LineageNode("d", "dataset", 'churn "eu" · ünïcode ✓', "cost $5 and $6"),
            LineageNode("r", "run", "数据 run", "naïve — 100%", "ok"),
        ),
        (LineageEdge("r", "d", 'trained "on" $x$'),),
    )
    assert png_size(render_png(g, tmp_path / "u.png"))[0] > 0  # pytest turns warnings into errors


def test_a_long_label_is_cut_to_its_box() -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 2), dpi=100)
    FigureCanvasAgg(fig)
    text = fig.text(0.1, 0.5, "", fontsize=9)
    _fit(text, "W" * 200, 1.0)
    renderer = fig.canvas.get_renderer()
    assert text.get_text().endswith("…") and 5 < len(text.get_text()) < 40
    assert text.get_window_extent(renderer).width <= 100
    _fit(text, "short", 1.0)
    assert text.get_text() == "short"
    _fit(text, "$" * 100, 1.0)
    assert not text.get_text().removesuffix("…").endswith("\\")  # no half of an escaped $


def test_the_png_replaces_an_old_one_and_refuses_a_missing_folder(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "lineage.png"
    out.write_bytes(b"old")
    render_png(lineage(), out)
    assert out.read_bytes()[:8] == PNG
    with pytest.raises(OutputNotWritable, match="does not exist"):
        render_png(lineage(), tmp_path / "nowhere" / "lineage.png")
    assert not (tmp_path / "nowhere").exists()


def test_drawing_leaves_matplotlib_settings_alone(tmp_path: Path) -> None:
    mpl = pytest.importorskip("matplotlib")
    backend, params = mpl.get_backend(), dict(mpl.rcParams)
    render_png(lineage(), tmp_path / "lineage.png")
    assert mpl.get_backend() == backend
    assert dict(mpl.rcParams) == params


def test_without_matplotlib_it_asks_for_the_plot_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MissingExtra) as caught:
        render_png(lineage(), tmp_path / "lineage.png")
    assert caught.value.extra == "plot" and "rigml[plot]" in (caught.value.hint or "")
    assert not (tmp_path / "lineage.png").exists()


def test_importing_the_module_loads_no_matplotlib() -> None:
    probe = "import rigml.registry._diagram, sys; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_kind_has_a_column_in_order() -> None:
    nodes = tuple(LineageNode(k, k, k) for k in reversed(KINDS))
    cols = {nid: c for nid, (c, _) in _layout(LineageGraph(nodes)).cells.items()}
    assert [cols[k] for k in KINDS] == [0, 0, 0, 0, 0, 1, 2, 3, 4, 5]
