"""The shape of ``rig.yaml``, as pydantic v2 models, and its errors located in the file.

Each stage (after ``foreach`` / ``matrix`` expansion) is validated on its own, so an error
names the stage, the key path and, where the YAML says, the line: ``rig.yaml:12:
stages.train.outs[0]: ...``. Unknown keys get a did-you-mean. pydantic is imported only
when a pipeline is read (this module loads lazily), never by ``import rigml``.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rigml.errors import InvalidPipeline

Loc = tuple[int | str, ...]


class Resources(BaseModel):
    """What a stage needs; stored, and used by the executors of later parts."""

    model_config = ConfigDict(extra="forbid")

    cpus: float | None = Field(default=None, gt=0)
    gpus: int | None = Field(default=None, ge=0)
    memory: str | int | None = None


class StageModel(BaseModel):
    """One stage as written. ``model`` and ``smoke`` are read by ``rig preflight``;
    ``registry`` names the registered model whose aliases the stage's regression gates
    compare with (``production`` in ``metrics.auc >= production - 0.01``)."""

    model_config = ConfigDict(extra="forbid")

    cmd: str | list[str]
    wdir: str = "."
    deps: list[str] = Field(default_factory=list)
    params: list[str | dict[str, list[str]]] = Field(default_factory=list)
    outs: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    plots: list[str] = Field(default_factory=list)
    resources: Resources | None = None
    desc: str | None = None
    gates: Any = None
    model: Any = None
    registry: str | None = Field(default=None, min_length=1, max_length=255)
    smoke: Any = None

    @field_validator("cmd")
    @classmethod
    def _cmd_not_empty(cls, value: str | list[str]) -> str | list[str]:
        parts = [value] if isinstance(value, str) else value
        if not parts or any(not p.strip() for p in parts):
            raise ValueError("a non-empty command (a string, or a list of strings)")
        return value

    @field_validator("deps", "outs", "metrics", "plots")
    @classmethod
    def _paths_not_empty(cls, value: list[str]) -> list[str]:
        if any(not p.strip() for p in value):
            raise ValueError("non-empty paths")
        return value


class PipelineModel(BaseModel):
    """The whole file: an optional ``name`` (the experiment; default the project folder)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    stages: dict[str, dict[str, Any]]


STAGE_KEYS = [*StageModel.model_fields, "foreach", "do", "matrix"]


def path_text(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _did_you_mean(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(known)}"


def _sentence(err: Any, known: list[str]) -> str:
    kind, found = err["type"], err.get("input")
    if kind == "extra_forbidden":
        return f"unknown key {err['loc'][-1]!r}" + _did_you_mean(str(err["loc"][-1]), known)
    if kind == "missing":
        return "missing (required)"
    text = str(err["msg"]).removeprefix("Input should be ").removeprefix("Value error, ")
    return f"expected {text}, got {found!r}"


def validate(model: type[BaseModel], data: Any, file: str, loc: Loc, text: str) -> Any:
    """``data`` (found at ``loc`` of ``file``) as ``model``, or :class:`InvalidPipeline`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    # an unknown key first: a misspelt key also reads as a missing one ("stage" / "stages")
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    where = (*loc, *first["loc"])
    known = list(model.model_fields)
    if model is StageModel:
        nested = len(first["loc"]) > 1 and first["loc"][0] == "resources"
        known = list(Resources.model_fields) if nested else STAGE_KEYS
    problem = _sentence(first, known)
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more)"
    raise located(file, text, where, problem)


def located(file: str, text: str, loc: Loc, problem: str, hint: str | None = None) -> Exception:
    """An :class:`InvalidPipeline` naming ``loc`` and, when the YAML has it, its line."""
    return InvalidPipeline(file, path_text(loc), problem, line=line_of(text, loc), hint=hint)


def line_of(text: str, loc: Loc) -> int | None:
    """The 1-based line of the deepest key or item of ``loc`` in YAML ``text`` (None if none).

    Composed only when an error is told, so reading a valid file parses it once.
    """
    import yaml

    try:
        node: Any = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        found = _child(node, part)
        if found is None:
            break
        marker, node = found
        line = marker.start_mark.line + 1
    return line


def _child(node: Any, part: int | str) -> tuple[Any, Any] | None:
    """``(the key or item node, the value node)`` of ``part`` under ``node``."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return key, value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part], node.value[part]
    return None
