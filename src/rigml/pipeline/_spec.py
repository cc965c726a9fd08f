"""A pipeline read from ``rig.yaml``: stages with paths made relative to the project root.

Paths in a stage (``deps``, ``outs``, ``metrics``, ``plots``, params files) are relative to
its ``wdir``, which is relative to the folder holding ``rig.yaml`` (the project root); here
they become project-relative POSIX paths, so the graph and ``rig.lock`` compare them as
they are. Metrics and plots are outs too: cached and restored like any other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidPipeline, PipelineNotFound

if TYPE_CHECKING:
    from rigml.gates import Gate

FILE_NAME = "rig.yaml"
DEFAULT_PARAMS = "params.yaml"
DATA_PREFIX = "data:"


@dataclass(frozen=True)
class Stage:
    """One stage, ready to run. ``params`` maps a params file to the keys read from it."""

    name: str
    cmd: tuple[str, ...]
    wdir: str
    deps: tuple[str, ...]
    data: tuple[str, ...]  # dataset refs: NAME@latest, NAME@3, NAME@tag
    params: dict[str, tuple[str, ...]]
    outs: tuple[str, ...]  # every output: outs, then metrics, then plots
    metrics: tuple[str, ...]
    plots: tuple[str, ...]
    resources: dict[str, Any] | None = None
    desc: str | None = None
    later: dict[str, Any] = field(default_factory=dict)  # model, smoke (preflight), registry
    gates: tuple[Gate, ...] = ()  # judged against the stage's run after it ran (_gating)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cmd": list(self.cmd),
            "wdir": self.wdir,
            "deps": list(self.deps) + [DATA_PREFIX + d for d in self.data],
            "params": {f: list(k) for f, k in self.params.items()},
            "outs": list(self.outs),
            "metrics": list(self.metrics),
            "plots": list(self.plots),
            "resources": self.resources,
            "desc": self.desc,
            "gates": [g.text for g in self.gates],
        }


@dataclass(frozen=True)
class Pipeline:
    root: Path
    file: Path
    name: str
    stages: dict[str, Stage]
    text: str = field(repr=False, default="")

    @property
    def lock_file(self) -> Path:
        return self.root / "rig.lock"


def find_pipeline(start: str | os.PathLike[str] | None = None) -> Path:
    """The ``rig.yaml`` at ``start`` (a file, or a folder searched upward, default: here).

    Raises:
        PipelineNotFound: none there or above.
    """
    here = Path(start or os.getcwd()).absolute()
    if here.is_file():
        return here
    for folder in (here, *here.parents):
        if (folder / FILE_NAME).is_file():
            return folder / FILE_NAME
    raise PipelineNotFound(str(here))


def load_pipeline(
    path: str | os.PathLike[str] | None = None, *, deps_on_disk: bool = True
) -> Pipeline:
    """Read and check ``rig.yaml``: schema, paths, outputs, cycles, deps and params.

    The schema part is skipped for a file whose text was already validated (its stages
    are kept as JSON: see :mod:`._parsecache`); the checks against the disk always run.

    ``deps_on_disk=False`` leaves out the check that deps nobody produces exist (``rig
    preflight`` reports each missing one as a failed check instead).

    Raises:
        PipelineNotFound: no rig.yaml at or above ``path``.
        InvalidPipeline: any mistake, located (file, line, stage and key).
    """
    from rigml.pipeline import _checks, _parsecache

    file = find_pipeline(path)
    text = _read_text(file)
    where = file.absolute()
    key = _parsecache.text_key(text, "rig.yaml", str(where))
    pipeline = _from_json(file, text, _parsecache.load("pipeline", where, key))
    if pipeline is None:
        pipeline = _parse(file, text)
        kept = _to_json(pipeline)
        if kept is not None:
            _parsecache.store("pipeline", where, key, kept)
    _checks.check(pipeline, deps_on_disk=deps_on_disk)
    return pipeline


def _parse(file: Path, text: str) -> Pipeline:
    """Validate and expand the stages of ``file`` (its text already read)."""
    from rigml.pipeline._expand import expand
    from rigml.pipeline._schema import PipelineModel, validate

    data = _read_yaml(file, text)
    shown = file.name
    top = validate(PipelineModel, data, shown, (), text)
    stages: dict[str, Stage] = {}
    for name, raw in top.stages.items():
        for stage_name, body, loc in expand(name, raw, shown, text):
            if stage_name in stages:
                raise _located(shown, text, loc, f"two stages are named {stage_name!r}")
            stages[stage_name] = _stage(stage_name, body, file.parent, shown, text, loc)
    return Pipeline(file.parent, file, top.name or file.parent.name, stages, text)


_TUPLES = ("cmd", "deps", "data", "outs", "metrics", "plots")


_KNOWN = {*_TUPLES, "name", "wdir", "resources", "desc", "params", "later", "gates"}


def _to_json(pipeline: Pipeline) -> dict[str, Any] | None:
    """The stages as JSON; None (no caching) if Stage has a field this does not know, or a
    stage has gates (parsed rules, not JSON: such a file is validated every time)."""
    from dataclasses import fields

    if {f.name for f in fields(Stage)} != _KNOWN:
        return None
    if any(stage.gates for stage in pipeline.stages.values()):
        return None
    stages = []
    for stage in pipeline.stages.values():
        d: dict[str, Any] = {k: list(getattr(stage, k)) for k in _TUPLES}
        d.update(name=stage.name, wdir=stage.wdir, resources=stage.resources, desc=stage.desc)
        d.update(params={f: list(k) for f, k in stage.params.items()}, later=stage.later)
        stages.append(d)
    return {"name": pipeline.name, "stages": stages}


def _from_json(file: Path, text: str, data: Any) -> Pipeline | None:
    """The pipeline :func:`_to_json` kept; None when ``data`` is not one."""
    if not isinstance(data, dict):
        return None
    try:
        stages: dict[str, Stage] = {}
        for d in data["stages"]:
            fields = {k: tuple(d[k]) for k in _TUPLES}
            params = {f: tuple(k) for f, k in d["params"].items()}
            stages[d["name"]] = Stage(
                name=d["name"],
                wdir=d["wdir"],
                params=params,
                resources=d["resources"],
                desc=d["desc"],
                later=d["later"],
                **fields,
            )
        return Pipeline(file.parent, file, str(data["name"]), stages, text)
    except (KeyError, TypeError, AttributeError):
        return None


def _located(file: str, text: str, loc: tuple[int | str, ...], problem: str) -> Exception:
    from rigml.pipeline._schema import located

    return located(file, text, loc, problem)


def _read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidPipeline(file.name, "", f"cannot be read: {exc}") from exc


def _read_yaml(file: Path, text: str) -> Any:
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidPipeline(file.name, "", f"is not valid YAML: {problem}", line=line) from exc
    if not isinstance(data, dict):
        raise InvalidPipeline(
            file.name, "", "expected a mapping with `stages:`", hint="start the file with stages:"
        )
    return data


def _stage(
    name: str, body: Any, root: Path, file: str, text: str, loc: tuple[int | str, ...]
) -> Stage:
    from rigml.pipeline._schema import StageModel, validate

    if not isinstance(body, dict):
        raise _located(file, text, loc, f"expected a stage (a mapping with cmd), got {body!r}")
    model: StageModel = validate(StageModel, body, file, loc, text)
    wdir = _inside(root, ".", model.wdir, file, text, (*loc, "wdir"))

    def rel(key: str, paths: list[str]) -> tuple[str, ...]:
        return tuple(
            _inside(root, wdir, p, file, text, (*loc, key, i)) for i, p in enumerate(paths)
        )

    deps = [d for d in model.deps if not d.startswith(DATA_PREFIX)]
    data = tuple(d.removeprefix(DATA_PREFIX).strip() for d in model.deps if d not in deps)
    return Stage(
        name=name,
        cmd=(model.cmd,) if isinstance(model.cmd, str) else tuple(model.cmd),
        wdir=wdir,
        deps=rel("deps", deps),
        data=tuple(d if "@" in d else f"{d}@latest" for d in data),
        params=_params(root, wdir, model.params, file, text, loc),
        outs=rel("outs", model.outs) + rel("metrics", model.metrics) + rel("plots", model.plots),
        metrics=rel("metrics", model.metrics),
        plots=rel("plots", model.plots),
        resources=model.resources.model_dump(exclude_none=True) if model.resources else None,
        desc=model.desc,
        later={
            k: getattr(model, k)
            for k in ("gates", "model", "smoke", "registry")
            if getattr(model, k)
        },
        gates=_gates(model.gates, file, text, (*loc, "gates")),
    )


def _gates(specs: Any, file: str, text: str, loc: tuple[int | str, ...]) -> tuple[Gate, ...]:
    """The stage's ``gates:`` rules, read now so a bad rule fails before anything runs."""
    if specs is None:
        return ()
    import re

    from rigml.errors import InvalidGate
    from rigml.gates import parse_gates

    try:
        return tuple(parse_gates(specs, where="gates"))
    except InvalidGate as exc:
        # exc.where is "gates", "gates[2]" or "gates[2].op": the part below the stage's key
        parts = re.findall(r"\[(\d+)\]|\.(\w+)", exc.where.removeprefix("gates"))
        sub = tuple(int(i) if i else key for i, key in parts)
        from rigml.pipeline._schema import located

        raise located(file, text, (*loc, *sub), exc.problem, hint=exc.hint) from None


def _params(
    root: Path,
    wdir: str,
    entries: list[str | dict[str, list[str]]],
    file: str,
    text: str,
    loc: tuple[int | str, ...],
) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            params_file = _inside(root, wdir, DEFAULT_PARAMS, file, text, (*loc, "params", i))
            out.setdefault(params_file, []).append(entry)
            continue
        for name, keys in entry.items():
            params_file = _inside(root, wdir, name, file, text, (*loc, "params", i, name))
            out.setdefault(params_file, []).extend(keys)
    return {f: tuple(k) for f, k in out.items()}


def _inside(
    root: Path, wdir: str, path: str, file: str, text: str, loc: tuple[int | str, ...]
) -> str:
    """``path`` (relative to ``wdir``) as a project-relative POSIX path.

    Raises:
        InvalidPipeline: it is absolute or leaves the project folder.
    """
    if os.path.isabs(path):
        raise _located(file, text, loc, f"{path!r} is absolute; write it relative to wdir")
    joined = os.path.normpath(os.path.join(wdir, path.strip()))
    if joined == ".." or joined.startswith(".." + os.sep):
        raise _located(file, text, loc, f"{path!r} leaves the project folder {root}")
    return Path(joined).as_posix()
