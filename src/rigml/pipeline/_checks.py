"""Checks across stages: one writer per output, no cycle, deps that exist, params that do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rigml.pipeline._schema import located

if TYPE_CHECKING:
    from rigml.pipeline._spec import Pipeline


def check(pipeline: Pipeline, *, deps_on_disk: bool = True) -> None:
    """Raise the first cross-stage mistake of ``pipeline`` as a located error.

    Raises:
        InvalidPipeline: two stages write one output (or one inside another's), the outs
            feed a cycle, a dep nobody produces is not on disk, or a param key is absent.
    """
    from rigml.pipeline._graph import build_graph, find_cycle

    _outputs(pipeline)
    graph = build_graph(pipeline.stages)
    cycle = find_cycle(graph)
    if cycle is not None:
        raise located(
            pipeline.file.name,
            pipeline.text,
            ("stages", _template(cycle[0])),
            "the stages form a cycle: " + " -> ".join(cycle),
            hint="a stage cannot depend, even indirectly, on its own outs",
        )
    for stage in pipeline.stages.values():
        for i, dep in enumerate(stage.deps):
            if not deps_on_disk or (stage.name, dep) in graph.producers:
                continue
            if not (pipeline.root / dep).exists():
                raise located(
                    pipeline.file.name,
                    pipeline.text,
                    ("stages", _template(stage.name), "deps", i),
                    f"dep {dep!r} does not exist and no stage has it in its outs",
                    hint="create the file, fix the path, or add it to the outs of the stage "
                    "that writes it",
                )
    _params(pipeline)


def _template(name: str) -> str:
    """The key in rig.yaml that ``name`` came from (``train@a`` from ``train``)."""
    return name.split("@", 1)[0]


def _outputs(pipeline: Pipeline) -> None:
    from rigml.pipeline._graph import overlaps

    seen: list[tuple[str, str]] = []
    for stage in pipeline.stages.values():
        for i, out in enumerate(stage.outs):
            other = next(((o, n) for o, n in seen if overlaps(o, out)), None)
            if other is not None:
                same = "writes" if other[0] == out else f"writes {other[0]!r}, which overlaps"
                raise located(
                    pipeline.file.name,
                    pipeline.text,
                    ("stages", _template(stage.name), "outs", i),
                    f"{out!r} is an output of {stage.name!r}, but stage {other[1]!r} {same} it",
                    hint="each path has one stage that writes it; give them different outs",
                )
            seen.append((out, stage.name))


def _params(pipeline: Pipeline) -> None:
    from rigml.pipeline._params import is_missing, lookup, read_params

    for stage in pipeline.stages.values():
        for rel, keys in stage.params.items():
            data = read_params(pipeline.root, rel)
            loc = ("stages", _template(stage.name), "params")
            if data is None:
                raise located(
                    pipeline.file.name,
                    pipeline.text,
                    loc,
                    f"params file {rel!r} does not exist",
                    hint=f"create {rel} with the keys {', '.join(keys)}",
                )
            for key in keys:
                if is_missing(lookup(data, key)):
                    raise located(
                        pipeline.file.name,
                        pipeline.text,
                        loc,
                        f"param {key!r} is not in {rel}",
                        hint=f"add {key} to {rel}, or remove it from the stage's params",
                    )
