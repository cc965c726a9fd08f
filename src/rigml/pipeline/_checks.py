"""Checks across stages: one writer per output, no cycle, deps that exist, params that do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.pipeline._spec import Pipeline


def located(*args: Any, **kwargs: Any) -> Exception:
    """The schema module's located error; imported only on a mistake (it loads pydantic)."""
    from rigml.pipeline._schema import located as make

    return make(*args, **kwargs)


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
    seen: list[tuple[str, str]] = []
    outs: set[str] = set()
    holders: set[str] = set()  # every folder above a seen out: one inside them overlaps
    for stage in pipeline.stages.values():
        for i, out in enumerate(stage.outs):
            if _may_overlap(out, outs, holders):
                _no_overlap(pipeline, stage.name, i, out, seen)
            seen.append((out, stage.name))
            outs.add(out)
            holders.update(_parents(out))


def _no_overlap(
    pipeline: Pipeline, name: str, i: int, out: str, seen: list[tuple[str, str]]
) -> None:
    from rigml.pipeline._graph import overlaps

    other = next(((o, n) for o, n in seen if overlaps(o, out)), None)
    if other is not None:
        same = "writes" if other[0] == out else f"writes {other[0]!r}, which overlaps"
        raise located(
            pipeline.file.name,
            pipeline.text,
            ("stages", _template(name), "outs", i),
            f"{out!r} is an output of {name!r}, but stage {other[1]!r} {same} it",
            hint="each path has one stage that writes it; give them different outs",
        )


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return [".", *("/".join(parts[:k]) for k in range(1, len(parts)))]


def _may_overlap(out: str, outs: set[str], holders: set[str]) -> bool:
    """A quick no for most outs: neither equal to, inside, nor holding a seen one."""
    if not outs:
        return False
    if out == "." or out in outs or out in holders or "." in outs:
        return True
    return any(p in outs for p in _parents(out)[1:])


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
