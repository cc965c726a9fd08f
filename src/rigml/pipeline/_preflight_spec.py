"""The stage keys only ``rig preflight`` reads: ``model:``, ``smoke:``, ``resources.memory``.

``rig.yaml`` stores ``model`` and ``smoke`` as written (see :mod:`rigml.pipeline._schema`);
they are validated here, when preflight reads them, with errors located in ``rig.yaml``
as every other mistake of the file is (``rig.yaml:9: stages.train.smoke.timeout: ...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from rigml.fit.request import FitRequest
    from rigml.pipeline._spec import Pipeline, Stage

DEFAULT_SMOKE_TIMEOUT_S = 60.0


class ModelSpec(BaseModel):
    """``model:`` of a stage: the model it loads and the workload, as ``rig fit`` takes them."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)  # a catalogue name, or a path relative to the stage's wdir
    task: Literal["infer", "lora", "qlora", "full"] = "infer"
    dtype: str = "bf16"
    quant: str | None = None
    double_quant: bool | None = None
    context: int | None = Field(default=None, ge=1)
    batch: int = Field(default=1, ge=1)
    kv_dtype: str | None = None
    lora_rank: int = Field(default=16, ge=1)
    lora_targets: str = "all-linear"
    gradient_checkpointing: bool = False
    optimizer: str = "adamw"
    gpus: int = Field(default=1, ge=1)
    attention: str = "flash"
    precision: str = "mixed"

    def request(self) -> FitRequest:
        from rigml.fit.request import FitRequest

        return FitRequest(**self.model_dump(exclude={"name"}))


class SmokeModel(BaseModel):
    """``smoke:`` as a mapping; a plain string is the ``cmd``."""

    model_config = ConfigDict(extra="forbid")

    cmd: str | list[str]
    timeout: str | float = DEFAULT_SMOKE_TIMEOUT_S


@dataclass(frozen=True)
class Smoke:
    cmds: tuple[str, ...]
    timeout_s: float


def _loc(stage: Stage, *keys: str) -> tuple[int | str, ...]:
    return ("stages", stage.name.split("@", 1)[0], *keys)


def model_spec(pipeline: Pipeline, stage: Stage) -> ModelSpec | None:
    """The stage's ``model:``, or None.

    Raises:
        InvalidPipeline: it is not a mapping of the keys above (located).
    """
    from rigml.pipeline._schema import validate

    raw = stage.later.get("model")
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"name": raw}
    spec: ModelSpec = validate(
        ModelSpec, raw, pipeline.file.name, _loc(stage, "model"), pipeline.text
    )
    return spec


def smoke_spec(pipeline: Pipeline, stage: Stage) -> Smoke | None:
    """The stage's ``smoke:`` (a command, a list, or ``{cmd, timeout}``), or None.

    Raises:
        InvalidPipeline: a malformed entry or a timeout that is not a duration (located).
    """
    from rigml.pipeline._schema import located, validate

    raw = stage.later.get("smoke")
    if raw is None:
        return None
    if isinstance(raw, str | list):
        raw = {"cmd": raw}
    loc = _loc(stage, "smoke")
    file, text = pipeline.file.name, pipeline.text
    model: SmokeModel = validate(SmokeModel, raw, file, loc, text)
    cmds = (model.cmd,) if isinstance(model.cmd, str) else tuple(model.cmd)
    if not cmds or any(not c.strip() for c in cmds):
        raise located(file, text, (*loc, "cmd"), "expected a non-empty command")
    try:
        from rigml._units import parse_duration

        timeout = parse_duration(model.timeout)
    except ValueError as exc:
        raise located(file, text, (*loc, "timeout"), str(exc), hint="e.g. timeout: 60s") from exc
    if timeout <= 0:
        raise located(file, text, (*loc, "timeout"), "expected a timeout above 0 s")
    return Smoke(cmds, timeout)


def memory_bytes(pipeline: Pipeline, stage: Stage) -> int | None:
    """``resources.memory`` in bytes (``16GiB``, ``16G`` and ``512Mi`` binary, ``16GB``
    decimal, a bare number in bytes), or None when the stage does not say.

    Raises:
        InvalidPipeline: the value is not a size (located).
    """
    from rigml.pipeline._schema import located

    value: Any = (stage.resources or {}).get("memory")
    if value is None:
        return None
    from rigml._units import parse_bytes

    try:
        return parse_bytes(value)
    except ValueError:
        raise located(
            pipeline.file.name,
            pipeline.text,
            _loc(stage, "resources", "memory"),
            f"expected a size such as 16GiB or 512MiB, got {value!r}",
        ) from None
