"""The DAG: edges from outs to deps, run order, and the stages a target needs."""

from __future__ import annotations

from rigml.pipeline import load_pipeline
from rigml.pipeline._graph import build_graph, find_cycle

from .conftest import Project


def test_edges_order_and_closure(project: Project) -> None:
    project.pipeline(
        """
        stages:
          report: {cmd: x, deps: [metrics], outs: [report.html]}
          evaluate: {cmd: x, deps: [models/a.pkl, data/test.csv], outs: [metrics/eval.json]}
          train: {cmd: x, deps: [data/train.csv], outs: [models]}
          split: {cmd: x, outs: [data]}
          lint: {cmd: x}
        """
    )
    graph = build_graph(load_pipeline().stages)
    assert graph.upstream == {
        "report": ("evaluate",),  # a folder dep holding another stage's out
        "evaluate": ("train", "split"),  # files inside other stages' output folders
        "train": ("split",),
        "split": (),
        "lint": (),
    }
    assert graph.topological() == ["split", "train", "evaluate", "report", "lint"]
    assert graph.closure(["evaluate"]) == {"evaluate", "train", "split"}
    assert graph.topological(graph.closure(["train"])) == ["split", "train"]
    assert graph.downstream()["split"] == ["evaluate", "train"]
    assert find_cycle(graph) is None
