"""``rig fit --measure``: build the model with random weights and measure its peak memory.

The model is built from its config by Transformers (no download), then runs the requested
workload once: a prefill of ``context`` tokens that fills the KV cache (logits for the last
token, as ``generate()`` computes them) for inference; a forward, backward and optimizer
step for fine-tuning (LoRA through PEFT). It runs in a child process so that the peak
belongs to this workload alone:

- on a CUDA GPU, ``torch.cuda.max_memory_allocated`` (tensors only, the figure the
  estimate's ``tensors`` predicts) and ``max_memory_reserved`` (the allocator's cache);
- on the CPU, the growth of the process's peak resident memory (``VmHWM``, reset through
  ``/proc/self/clear_refs`` before the model is built), which also counts allocator
  overhead, so it reads a little above the tensors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from typing import Any

from rigml.errors import InvalidInput, MissingExtra, RigError
from rigml.fit.architecture import ModelSpec
from rigml.fit.memory import estimate
from rigml.fit.request import FitRequest


class MeasureFailed(RigError):
    def __init__(self, problem: str) -> None:
        super().__init__(
            f"measuring the model failed: {problem}",
            hint="run with a smaller --context or --batch, or without --measure",
        )


@dataclass(frozen=True)
class Measurement:
    device: str  # "cuda:0 (NVIDIA H100 80GB HBM3)" or "cpu"
    peak_bytes: int  # max_memory_allocated on CUDA, peak RSS growth on the CPU
    reserved_bytes: int | None
    estimated_bytes: int  # the estimate's tensors (no CUDA context, no margin)
    seconds: float
    method: str

    @property
    def error(self) -> float:
        return (self.estimated_bytes - self.peak_bytes) / max(1, self.peak_bytes)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error": self.error}


def _check_extras(req: FitRequest) -> None:
    import importlib.util

    modules = ("torch", "transformers", "peft") if req.task in ("lora", "qlora") else ()
    for module in modules or ("torch", "transformers"):
        if importlib.util.find_spec(module) is None:
            raise MissingExtra("torch", module=module)


def _check_measurable(spec: ModelSpec, req: FitRequest) -> None:
    """Refuse what the worker cannot build or run as the estimate assumes.

    Raises:
        InvalidInput: not a text decoder/encoder, an option the worker cannot honour, or
            a context beyond the model's maximum.
    """
    if spec.kind not in ("decoder", "encoder") or spec.encoder_tokens:
        raise InvalidInput(
            f"--measure builds text decoders and encoders; {spec.name} is a "
            f"{'vision ' if spec.encoder_tokens else ''}{spec.kind}",
            hint="drop --measure for this model",
        )
    unsupported = [
        flag
        for flag, used in (
            ("--quant", req.quant is not None and req.task != "qlora"),
            ("--kv-dtype", req.kv_dtype not in (None, "fp16", "bf16", "fp32")),
            ("--gpus", req.gpus > 1),
            ("--optimizer", req.optimizer not in ("adamw", "sgd")),
        )
        if used
    ]
    if unsupported:
        raise InvalidInput(
            f"--measure runs the model in {req.dtype} on one device with torch's own kernels; it "
            f"cannot honour {', '.join(unsupported)}",
            hint="measure without those options (the estimate still uses them)",
        )
    if spec.max_context and req.context and req.context > spec.max_context:
        raise InvalidInput(
            f"--measure needs a context within {spec.name}'s maximum of {spec.max_context:,}",
            hint=f"pass --context {spec.max_context} or less",
        )


def check_measurable(spec: ModelSpec, req: FitRequest) -> None:
    """Raise now, before any slow work, what :func:`measure` would refuse.

    Raises:
        MissingExtra: torch or transformers (``rigml[torch]``), or peft for LoRA.
        InvalidInput: the model or an option cannot be measured here.
    """
    _check_measurable(spec, req)
    _check_extras(req)


def _job(
    spec: ModelSpec, config: dict[str, Any], req: FitRequest, device: str, limit: int
) -> dict[str, Any]:
    """What the worker process runs, as JSON on its standard input."""
    return {
        "config": config,
        "task": req.task,
        "dtype": req.dtype,
        "context": req.context,
        "batch": req.batch,
        "lora_rank": req.lora_rank,
        "lora_targets": list(req.targets() or ()) or "all-linear",
        "optimizer": req.optimizer,
        "gradient_checkpointing": req.gradient_checkpointing,
        "attention": req.attention,
        "encoder": spec.kind == "encoder",
        "device": device,
        "limit_bytes": limit,
    }


def _run_worker(spec: ModelSpec, job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run the worker in a child process; its last output line is the result.

    Raises:
        InvalidInput: the worker refused the input (it says why).
        MeasureFailed: it failed, printed no result, or ran out of time.
    """
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "rigml.fit._measure_worker"],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        )
    except subprocess.TimeoutExpired as exc:
        raise MeasureFailed(f"no result after {timeout:.0f} s") from exc
    lines = proc.stdout.strip().splitlines()
    try:
        out: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        out = {}
    if proc.returncode != 0 or "error" in out or "peak_bytes" not in out:
        problem = out.get("error") or (proc.stderr.strip().splitlines() or ["no output"])[-1]
        if out.get("kind") == "input":
            raise InvalidInput(f"cannot measure {spec.name}: {problem}", hint=out.get("hint"))
        raise MeasureFailed(problem)
    return out


def measure(
    spec: ModelSpec,
    config: dict[str, Any],
    req: FitRequest,
    *,
    device: str = "auto",
    timeout: float = 900,
) -> Measurement:
    """Run ``req`` on a randomly initialised ``config`` and report its peak memory.

    Raises:
        MissingExtra: torch or transformers (``rigml[torch]``), or peft for LoRA.
        InvalidInput: the workload cannot be measured here (QLoRA on the CPU, a model too
            large for this machine's memory, an architecture Transformers cannot build).
        MeasureFailed: the child process failed or ran out of time.
    """
    check_measurable(spec, req)
    # The worker trains in the weights' dtype with torch's AdamW (states in that dtype, no
    # fp32 master copy): checked above, so the estimate is of exactly that.
    est = estimate(spec, replace(req, precision="pure"))
    out = _run_worker(spec, _job(spec, config, req, device, est.total), timeout)
    method = out["method"]
    if req.task == "full" and req.dtype != "fp32":
        method += f"; pure {req.dtype} training, compared with that estimate"
    return Measurement(
        device=out["device"],
        peak_bytes=int(out["peak_bytes"]),
        reserved_bytes=out.get("reserved_bytes"),
        estimated_bytes=est.tensors,
        seconds=float(out["seconds"]),
        method=method,
    )
