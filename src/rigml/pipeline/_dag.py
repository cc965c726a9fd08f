"""``rig dag``: the stages, their edges and each one's status, for text or JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.pipeline._spec import Pipeline
    from rigml.pipeline._status import StageStatus


@dataclass(frozen=True)
class DagNode:
    name: str
    level: int  # 0 for stages that need no other; else one more than the deepest upstream
    upstream: tuple[str, ...]
    status: StageStatus
    desc: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "level": self.level,
            "upstream": list(self.upstream),
            "state": self.status.state,
            "reasons": list(self.status.reasons),
            "desc": self.desc,
        }


@dataclass(frozen=True)
class Dag:
    pipeline: str
    nodes: tuple[DagNode, ...]

    def to_dict(self) -> dict[str, Any]:
        edges = [{"from": u, "to": n.name} for n in self.nodes for u in n.upstream]
        return {
            "pipeline": self.pipeline,
            "stages": [n.to_dict() for n in self.nodes],
            "edges": edges,
        }


def pipeline_dag(lab: Lab, pipeline: Pipeline, *, targets: list[str] | None = None) -> Dag:
    """The graph of the selected stages (default: all), in run order, with their status."""
    from rigml.pipeline._graph import build_graph
    from rigml.pipeline._status import pipeline_status

    graph = build_graph(pipeline.stages)
    statuses = pipeline_status(lab, pipeline, targets=targets)
    level: dict[str, int] = {}
    nodes = []
    for status in statuses:
        ups = graph.upstream[status.name]
        level[status.name] = 1 + max((level[u] for u in ups), default=-1)
        desc = pipeline.stages[status.name].desc
        nodes.append(DagNode(status.name, level[status.name], ups, status, desc))
    return Dag(pipeline.name, tuple(nodes))
