"""A :class:`Lineage` as a graph of boxes and arrows, for Mermaid text and the PNG."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rigml.registry._diagram import LineageEdge, LineageGraph, LineageNode

if TYPE_CHECKING:
    from rigml.registry._lineage import Lineage


def lineage_graph(lin: Lineage) -> LineageGraph:
    """Inputs (data, code, environment, machine) -> run -> gates -> version -> aliases."""
    v = lin.version
    vid = f"version:{v.ref}"
    nodes = [LineageNode(vid, "version", f"{v.name} v{v.version}", f"{v.flavor} · {v.size:,} B")]
    edges: list[LineageEdge] = []
    if lin.run is not None:
        rid = f"run:{lin.run['id']}"
        nodes.append(LineageNode(rid, "run", f"run {lin.run['name']}", lin.run["status"]))
        edges.append(LineageEdge(rid, vid, "registered as"))
        _inputs(lin, rid, nodes, edges)
        for gate in lin.gates[-1:]:  # the newest report: older ones add noise, not insight
            gid = f"gate:{gate['id']}"
            status = "ok" if gate["passed"] else "failed"
            detail = f"{len(gate['rules'])} rule(s) {'passed' if gate['passed'] else 'failed'}"
            nodes.append(LineageNode(gid, "gate", f"gates #{gate['id']}", detail, status))
            edges.append(LineageEdge(rid, gid, "judged by"))
    for alias in v.aliases:
        aid = f"alias:{v.name}@{alias}"
        nodes.append(LineageNode(aid, "alias", alias, _moved_by(lin, alias)))
        edges.append(LineageEdge(vid, aid, "holds"))
    for service in lin.served_by:
        sid = f"service:{service.get('name')}"
        nodes.append(LineageNode(sid, "service", str(service.get("name")), service.get("url", "")))
        edges.append(LineageEdge(vid, sid, "served by"))
    return LineageGraph(tuple(nodes), tuple(edges))


def _inputs(lin: Lineage, rid: str, nodes: list[LineageNode], edges: list[LineageEdge]) -> None:
    run = lin.run or {}
    for up in lin.upstream:
        label = f"stage {up['name']}" if up.get("name") else f"run {up['id'][:8]} (deleted)"
        nodes.append(LineageNode(f"run:{up['id']}", "run", label, up.get("status", "")))
        edges.append(LineageEdge(f"run:{up['id']}", f"run:{up['fed']}", "fed"))
    for ds in lin.datasets:
        did = f"dataset:{ds['ref']}"
        contract: dict[str, Any] | None = ds.get("contract")
        status, detail = "", f"{ds['files']} file(s)"
        if contract is not None:
            status = "ok" if contract["passed"] else "failed"
            detail = f"contract {contract['checks'] - contract['failed']}/{contract['checks']}"
        nodes.append(LineageNode(did, "dataset", ds["ref"], detail, status))
        for user in ds.get("used_by") or [run.get("id")]:
            edges.append(LineageEdge(did, f"run:{user}", "read by"))
    if run.get("git_commit"):
        dirty = run.get("git_dirty")
        cid = f"commit:{run['git_commit']}"
        detail = (run.get("git_branch") or "") + (" (dirty)" if dirty else "")
        status = "warning" if dirty else "ok"
        nodes.append(LineageNode(cid, "commit", run["git_commit"][:10], detail, status))
        edges.append(LineageEdge(cid, rid, "code"))
    if lin.environment and not lin.environment.get("missing"):
        env = lin.environment
        eid = f"environment:{env['object']}"
        detail = f"py{env.get('python')} · {env.get('packages')} packages"
        nodes.append(LineageNode(eid, "environment", "environment", detail))
        edges.append(LineageEdge(eid, rid, "ran in"))
    if lin.machine and not lin.machine.get("missing"):
        m = lin.machine
        mid = f"machine:{m['object']}"
        gpus = m.get("gpus") or []
        detail = f"{m.get('cores')} cores" + (f" · {len(gpus)} GPU(s)" if gpus else "")
        nodes.append(LineageNode(mid, "machine", str(m.get("hostname") or "machine"), detail))
        edges.append(LineageEdge(mid, rid, "ran on"))


def _moved_by(lin: Lineage, alias: str) -> str:
    moves = [
        p for p in lin.promotions if p["alias"] == alias and p["to_version"] == lin.version.version
    ]
    if not moves:
        return ""
    last = moves[-1]
    return f"{last['action']} by {last['actor']}"
