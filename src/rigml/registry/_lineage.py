"""Where a model version came from and where it went: one query per question, one report.

Upstream: the run, its git commit and uncommitted diff, the dataset versions it read and
their contract results, the environment lock, the machine fingerprint, the gate reports.
Along the way: every alias move and approval. Downstream: the services serving it (read
from the serving tables when they exist; serving registers itself there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rigml.registry._refs import ModelVersion, get_version

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.lab import Lab
    from rigml.registry._diagram import LineageGraph


@dataclass(frozen=True)
class Lineage:
    """The provenance of one version; every section is JSON-ready."""

    version: ModelVersion
    run: dict[str, Any] | None
    upstream: list[dict[str, Any]] = field(default_factory=list)  # pipeline stages before it
    datasets: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] | None = None
    machine: dict[str, Any] | None = None
    gates: list[dict[str, Any]] = field(default_factory=list)
    promotions: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    served_by: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.to_dict(),
            "run": self.run,
            "upstream": self.upstream,
            "datasets": self.datasets,
            "environment": self.environment,
            "machine": self.machine,
            "gates": self.gates,
            "promotions": self.promotions,
            "approvals": self.approvals,
            "served_by": self.served_by,
        }

    def graph(self) -> LineageGraph:
        from rigml.registry._lineage_graph import lineage_graph

        return lineage_graph(self)


def lineage(lab: Lab, ref: str) -> Lineage:
    """The lineage of the version ``ref`` names.

    Raises:
        ModelNotFound, InvalidModelRef: no such model, version or alias.
    """
    from rigml.registry._aliases import alias_history
    from rigml.registry._approvals import approvals

    version = get_version(lab, ref)
    run = _run(lab, version.run_id) if version.run_id else None
    moves = [
        m.to_dict()
        for m in alias_history(lab, version.name)
        if version.version in (m.from_version, m.to_version)
    ]
    upstream = _upstream(lab, run) if run else []
    with lab.store.read() as conn:
        datasets = _all_datasets(conn, run, upstream)
        gates = _gates(conn, version.run_id) if version.run_id else []
    return Lineage(
        version=version,
        run=run,
        upstream=upstream,
        datasets=datasets,
        environment=_environment(lab, run),
        machine=_machine(lab, run),
        gates=gates,
        promotions=moves,
        approvals=[a.to_dict() for a in approvals(lab, version.ref)],
        served_by=[],
    )


def _run(lab: Lab, run_id: str) -> dict[str, Any]:
    from rigml.track.artifacts import list_artifacts
    from rigml.track.queries import get_run

    info = get_run(lab, run_id)
    diff = next((a for a in list_artifacts(lab, run_id) if a.path == "rig/git.diff"), None)
    out = info.to_dict()
    out["git_diff"] = None if diff is None else {"object": diff.object, "size": diff.size}
    return out


UPSTREAM_TAG = "rig.upstream"  # set by pipeline stages: the runs whose outs they read
MAX_UPSTREAM = 200


def _upstream(lab: Lab, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The pipeline runs before ``run``, nearest first, by their ``rig.upstream`` tags."""
    from rigml.errors import RunNotFound
    from rigml.track.queries import get_run

    seen = {run["id"]}
    todo = _tagged_upstream(run)
    found: list[dict[str, Any]] = []
    while todo and len(found) < MAX_UPSTREAM:
        run_id, fed = todo.pop(0)
        if run_id in seen:
            continue
        seen.add(run_id)
        try:
            info = get_run(lab, run_id).to_dict()
        except RunNotFound:  # deleted since: lineage says so rather than failing
            found.append({"id": run_id, "name": None, "fed": fed, "missing": True})
            continue
        found.append({"id": run_id, "name": info["name"], "status": info["status"], "fed": fed})
        todo += _tagged_upstream(info)
    return found


def _tagged_upstream(run: dict[str, Any]) -> list[tuple[str, str]]:
    text = (run.get("tags") or {}).get(UPSTREAM_TAG) or ""
    return [(r, run["id"]) for r in text.split(",") if r]


def _all_datasets(
    conn: Connection, run: dict[str, Any] | None, upstream: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The dataset versions the run and its upstream runs read; ``used_by``: which runs."""
    out: dict[str, dict[str, Any]] = {}
    for r in ([run] if run else []) + [u for u in upstream if not u.get("missing")]:
        for ds in _datasets(conn, r["id"]):
            out.setdefault(ds["ref"], {**ds, "used_by": []})["used_by"].append(r["id"])
    return list(out.values())


def _datasets(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from rigml.store.schema import dataset_checks as dc
    from rigml.store.schema import dataset_usage as du
    from rigml.store.schema import dataset_versions as dv
    from rigml.store.schema import datasets as ds

    used = conn.execute(
        select(dv.c.id, ds.c.name, dv.c.version, dv.c.fingerprint, dv.c.files, dv.c.bytes)
        .join(du, du.c.version_id == dv.c.id)
        .join(ds, ds.c.id == dv.c.dataset_id)
        .where(du.c.run_id == run_id)
        .order_by(ds.c.name, dv.c.version)
    ).all()
    out = []
    for row in used:
        check = conn.execute(
            select(dc.c.passed, dc.c.checks, dc.c.failed, dc.c.created_at)
            .where(dc.c.version_id == row.id)
            .order_by(dc.c.created_at.desc())
            .limit(1)
        ).first()
        out.append(
            {
                "ref": f"{row.name}@{row.version}",
                "fingerprint": row.fingerprint,
                "files": row.files,
                "bytes": row.bytes,
                "contract": None if check is None else check._asdict(),
            }
        )
    return out


def _gates(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from rigml.store.schema import gate_reports as gr

    rows = conn.execute(
        select(gr.c.id, gr.c.evaluated_at, gr.c.passed, gr.c.rules, gr.c.reference_id)
        .where(gr.c.run_id == run_id)
        .order_by(gr.c.evaluated_at, gr.c.id)
    ).all()
    return [
        {
            "id": r.id,
            "evaluated_at": r.evaluated_at,
            "passed": bool(r.passed),
            "rules": json.loads(r.rules),
            "reference": r.reference_id,
        }
        for r in rows
    ]


def _object_json(lab: Lab, digest: str | None) -> dict[str, Any] | None:
    from rigml.errors import RigError

    if not digest:
        return None
    try:
        data = json.loads(lab.objects.get_bytes(digest))
    except (RigError, ValueError):
        return {"object": digest, "missing": True}
    return data if isinstance(data, dict) else None


def _environment(lab: Lab, run: dict[str, Any] | None) -> dict[str, Any] | None:
    env = _object_json(lab, run.get("env_object")) if run else None
    if env is None or env.get("missing"):
        return env
    python = env.get("python") or {}
    frameworks = {
        k: v.get("version") if isinstance(v, dict) else v
        for k, v in (env.get("frameworks") or {}).items()
    }
    frameworks = {k: v for k, v in frameworks.items() if v}
    return {
        "object": run["env_object"] if run else None,
        "python": python.get("version"),
        "packages": len(env.get("packages") or []),
        "frameworks": frameworks,
    }


def _machine(lab: Lab, run: dict[str, Any] | None) -> dict[str, Any] | None:
    fp = _object_json(lab, run.get("machine_object")) if run else None
    if fp is None or fp.get("missing"):
        return fp
    cpu = fp.get("cpu") or {}
    return {
        "object": run["machine_object"] if run else None,
        "hostname": fp.get("hostname"),
        "cpu": cpu.get("model"),
        "cores": cpu.get("logical_cores"),
        "memory_bytes": (fp.get("memory") or {}).get("total_bytes"),
        "gpus": [g.get("name") for g in fp.get("gpus") or []],
    }
