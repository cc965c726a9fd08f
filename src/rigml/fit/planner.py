"""Will it fit, and what to change if not: :func:`plan_fit` behind ``rig fit``.

The planner estimates memory (:mod:`rigml.fit.memory`) and compares it with a target: this
machine's GPUs (NVML), a GPU from the shipped table (``--gpu "RTX 4090"``), a bare memory
size (``--vram 24``), or, on a machine without a GPU, system RAM for CPU inference.

Verdicts:

fits comfortably
    the total, allocator margin included, leaves at least 5% of the GPU (0.5 GiB at least)
    for other programs and longer inputs;
fits with compromises
    the tensors fit but eat into that reserve or the margin: close other GPU programs,
    expect out-of-memory errors on longer inputs;
does not fit
    even the tensors alone exceed the GPU.

When the request does not fit comfortably, each applicable mitigation is estimated on its
own, then the cheapest ones are combined until the model fits. They are ranked by cost to
quality first, then to speed (:data:`MITIGATIONS` states each cost).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from rigml._units import GIB
from rigml.errors import InvalidInput
from rigml.fit import catalogue
from rigml.fit.architecture import ModelSpec
from rigml.fit.memory import MemoryEstimate, estimate, weight_bytes
from rigml.fit.request import FitRequest
from rigml.fit.sources import load_model
from rigml.fit.throughput import Throughput, cpu_training, throughput

Status = Literal["comfortable", "tight", "no"]
LABELS = {
    "comfortable": "fits comfortably",
    "tight": "fits with compromises",
    "no": "does not fit",
}
MAX_BATCH = 4096


@dataclass(frozen=True)
class Target:
    """Memory to fit into: one GPU (times ``count`` identical ones), or system RAM."""

    name: str
    capacity_bytes: int
    kind: Literal["gpu", "ram"] = "gpu"
    source: str = "table"  # "machine" | "table" | "vram" | "ram"
    gpu: catalogue.Gpu | None = None
    used_bytes: int | None = None  # in use by other programs now (this machine only)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "capacity_bytes": self.capacity_bytes,
            "kind": self.kind,
            "source": self.source,
            "used_bytes": self.used_bytes,
            "bandwidth_gbs": self.gpu.bandwidth_gbs if self.gpu else None,
            "bf16_tflops": self.gpu.bf16_tflops if self.gpu else None,
        }


@dataclass(frozen=True)
class Verdict:
    status: Status
    need_bytes: int
    capacity_bytes: int

    @property
    def label(self) -> str:
        return LABELS[self.status]

    @property
    def headroom_bytes(self) -> int:
        return self.capacity_bytes - self.need_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "label": self.label,
            "need_bytes": self.need_bytes,
            "capacity_bytes": self.capacity_bytes,
            "headroom_bytes": self.headroom_bytes,
        }


def reserve(capacity: int) -> int:
    """Memory a comfortable fit leaves free: 5% of the GPU, at least 0.5 GiB."""
    return max(int(0.05 * capacity), GIB // 2)


def judge(est: MemoryEstimate, capacity: int, *, cpu: bool = False) -> Verdict:
    """The verdict for ``est`` in ``capacity`` bytes (``cpu``: system RAM, no CUDA context).

    Comfortable leaves :func:`reserve` free with the margin counted; with compromises, the
    need without the allocator margin still fits; otherwise it does not fit.
    """
    total = est.total - (est.parts["cuda_context"] if cpu else 0)
    if total <= capacity - reserve(capacity):
        status: Status = "comfortable"
    elif total - est.parts["margin"] <= capacity:
        status = "tight"
    else:
        status = "no"
    return Verdict(status, total, capacity)


@dataclass(frozen=True)
class Mitigation:
    """One change to the request, its new total, and what it costs."""

    action: str
    flags: str  # how to ask rig fit for it
    quality_cost: int  # 0 none ... 4 large
    speed_cost: int  # 0 none (or faster) ... 4 large
    cost: str  # the cost in words
    total_bytes: int
    status: Status

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": LABELS[self.status]}


@dataclass(frozen=True)
class TargetResult:
    target: Target
    verdict: Verdict
    throughput: Throughput | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.to_dict(),
            "verdict": self.verdict.to_dict(),
            "throughput": self.throughput.to_dict() if self.throughput else None,
        }


@dataclass(frozen=True)
class FitReport:
    """Everything ``rig fit`` prints; ``--json`` is :meth:`to_dict`."""

    model: ModelSpec
    request: FitRequest
    estimate: MemoryEstimate
    results: list[TargetResult]
    mitigations: list[Mitigation] = field(default_factory=list)
    combined: Mitigation | None = None
    offload: Mitigation | None = None
    cloud: catalogue.Gpu | None = None
    cloud_gpus_needed: int = 1
    max_context: int | None = None
    max_batch: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def primary(self) -> TargetResult:
        return self.results[0]

    def to_dict(self) -> dict[str, Any]:
        m = self.model
        return {
            "model": {
                "name": m.name,
                "kind": m.kind,
                "model_type": m.model_type,
                "params": m.params,
                "active_params": m.active_params,
                "layers": m.layers,
                "hidden": m.hidden,
                "heads": m.heads,
                "kv_heads": m.kv_heads,
                "head_dim": m.head_dim,
                "vocab": m.vocab,
                "max_context": m.max_context,
                "experts": m.experts,
                "active_experts": m.active_experts,
                "sliding_window": m.window,
                "windowed_layers": m.windowed_layers,
                "tied_embeddings": m.tied_embeddings,
                "stored_bytes": m.stored_bytes,
                "stored_format": m.stored_format,
            },
            "request": asdict(self.request),
            "estimate": {"is_estimate": True, **self.estimate.to_dict()},
            "targets": [r.to_dict() for r in self.results],
            "mitigations": [x.to_dict() for x in self.mitigations],
            "combined": self.combined.to_dict() if self.combined else None,
            "cpu_offload": self.offload.to_dict() if self.offload else None,
            "smallest_cloud_gpu": (
                {**self.cloud.to_dict(), "count": self.cloud_gpus_needed} if self.cloud else None
            ),
            "max_context": self.max_context,
            "max_batch": self.max_batch,
            "warnings": self.warnings,
        }


# ---------------------------------------------------------------------------- targets


def machine_targets() -> list[Target]:
    """This machine's NVIDIA GPUs, largest first; system RAM when there is none."""
    from rigml.machine.readings import read_gpus, read_memory

    targets: list[Target] = []
    gpus = read_gpus()  # no driver, a broken one: no GPUs, plan against RAM
    for info in gpus.gpus:
        total = gpus.memory_total(info)
        if not total:
            continue
        reading = gpus.reading(info.index)
        targets.append(
            Target(
                name=f"GPU {info.index}: {info.name}",
                capacity_bytes=int(total),
                source="machine",
                gpu=catalogue.find_gpu(info.name),
                used_bytes=reading.memory_used if reading else None,
            )
        )
    if targets:
        return sorted(targets, key=lambda t: -t.capacity_bytes)
    mem = read_memory()
    return [
        Target(
            name="system RAM available (no GPU found: CPU inference)",
            capacity_bytes=mem.available_bytes,
            kind="ram",
            source="ram",
            used_bytes=mem.used_bytes,
        )
    ]


def resolve_targets(*, gpu: str | None = None, vram_gb: float | None = None) -> list[Target]:
    """The targets a command asks for: ``--gpu``, ``--vram``, or this machine.

    Raises:
        UnknownGpu: ``gpu`` is not in the table (close names in the hint).
        InvalidInput: ``vram_gb`` is not a positive number.
    """
    if vram_gb is not None:
        if not (vram_gb > 0 and math.isfinite(vram_gb)):
            raise InvalidInput(
                f"--vram must be a positive number of GiB, got {vram_gb}", hint="e.g. --vram 24"
            )
        found = catalogue.find_gpu(gpu) if gpu else None
        return [
            Target(
                name=f"{vram_gb:g} GiB GPU" if not found else found.name,
                capacity_bytes=int(vram_gb * 2**30),
                source="vram",
                gpu=found,
            )
        ]
    if gpu is not None:
        g = catalogue.gpu(gpu)
        return [Target(name=g.name, capacity_bytes=g.vram_bytes, gpu=g)]
    return machine_targets()


# ---------------------------------------------------------------------------- mitigations

_Change = Callable[[ModelSpec, FitRequest], FitRequest | None]


def _quant(name: str, gguf: str | None = None) -> _Change:
    """Weights in ``name`` (``gguf`` for a model that is already a GGUF file), when that
    actually stores fewer bytes than the request does now."""

    def change(spec: ModelSpec, req: FitRequest) -> FitRequest | None:
        if req.task != "infer":
            return None
        on_gguf = spec.prequantised or (req.quant and req.weight_format().family == "gguf")
        fmt = gguf if on_gguf else name
        if fmt is None:
            return None
        new = replace(req, quant=fmt, double_quant=None)
        return new if weight_bytes(spec, new) < weight_bytes(spec, req) else None

    return change


def _when(cond: Callable[[ModelSpec, FitRequest], bool], **changes: Any) -> _Change:
    def change(spec: ModelSpec, req: FitRequest) -> FitRequest | None:
        return replace(req, **changes) if cond(spec, req) else None

    return change


@dataclass(frozen=True)
class _Option:
    """A change the planner may suggest; options on the same ``axis`` replace each other."""

    action: str
    flags: str
    axis: str
    quality: int
    speed: int
    cost: str
    change: _Change


MITIGATIONS: list[_Option] = [
    _Option(
        "8-bit AdamW optimizer states",
        "--optimizer adamw-8bit",
        "optimizer",
        0,
        0,
        "matches 32-bit AdamW in the bitsandbytes paper's experiments",
        _when(lambda s, r: r.training and r.optimizer == "adamw", optimizer="adamw-8bit"),
    ),
    _Option(
        "FP8 KV cache",
        "--kv-dtype fp8",
        "kv",
        0,
        0,
        "small accuracy loss on long contexts; vLLM --kv-cache-dtype fp8, llama.cpp -ctk q8_0",
        _when(
            lambda s, r: r.task == "infer" and r.kv_bytes() >= 2 and s.kv_width > 0, kv_dtype="fp8"
        ),
    ),
    _Option(
        "gradient checkpointing",
        "--gradient-checkpointing",
        "checkpointing",
        0,
        2,
        "about 30% slower steps (one extra forward pass per step)",
        _when(
            lambda s, r: r.training and not r.gradient_checkpointing, gradient_checkpointing=True
        ),
    ),
    _Option(
        "8-bit weights (int8 / Q8_0)",
        "--quant int8",
        "weights",
        1,
        1,
        "near-lossless; bitsandbytes int8 decodes slower than 16-bit, GGUF Q8_0 does not",
        _quant("int8", "Q8_0"),
    ),
    _Option(
        "LoRA instead of full fine-tuning",
        "--task lora",
        "method",
        1,
        0,
        "trains low-rank adapters: close to full fine-tuning on most instruction tasks",
        _when(lambda s, r: r.task == "full", task="lora"),
    ),
    _Option(
        "smaller micro-batch with gradient accumulation",
        "--batch 1",
        "batch",
        0,
        1,
        "same effective batch, more steps; lower GPU utilisation",
        _when(lambda s, r: r.training and r.batch > 1, batch=1),
    ),
    _Option(
        "4-bit weights (AWQ / GPTQ / Q4_K_M)",
        "--quant awq-4bit",
        "weights",
        2,
        0,
        "a small quality loss; usually faster decoding (fewer bytes per token)",
        _quant("awq-4bit", "Q4_K_M"),
    ),
    _Option(
        "QLoRA (4-bit NF4 base weights)",
        "--task qlora",
        "method",
        2,
        1,
        "adapters over 4-bit weights: slightly below 16-bit LoRA, ~30% slower steps",
        _when(
            lambda s, r: r.task in ("lora", "full"),
            task="qlora",
            quant=None,
            double_quant=None,
            dtype="bf16",
        ),
    ),
    _Option(
        "smaller batch",
        "--batch 1",
        "batch",
        0,
        2,
        "fewer sequences at once: lower total throughput",
        _when(lambda s, r: r.task == "infer" and r.batch > 1, batch=1),
    ),
    _Option(
        "3-bit weights (Q3_K_M)",
        "--quant Q3_K_M",
        "weights",
        4,
        0,
        "a noticeable quality loss, worse on small models",
        _quant("Q3_K_M", "Q3_K_M"),
    ),
]


def _evaluate(spec: ModelSpec, req: FitRequest, capacity: int) -> tuple[MemoryEstimate, Verdict]:
    est = estimate(spec, req.resolved(spec.max_context))
    return est, judge(est, capacity)


def _apply(spec: ModelSpec, req: FitRequest, options: list[_Option]) -> FitRequest:
    for option in options:
        req = option.change(spec, req) or req
    return req


def _combine(spec: ModelSpec, req: FitRequest, capacity: int) -> Mitigation | None:
    """The cheapest set of changes that fits: add options by cost, one per axis, then drop
    any the fit does not need."""
    chosen: dict[str, _Option] = {}
    for option in sorted(MITIGATIONS, key=lambda o: (o.quality, o.speed)):
        if option.change(spec, _apply(spec, req, list(chosen.values()))) is None:
            continue
        chosen[option.axis] = option  # a stronger option on an axis replaces the weaker one
        steps = list(chosen.values())
        if _evaluate(spec, _apply(spec, req, steps), capacity)[1].status == "comfortable":
            break
    else:
        return None
    for option in sorted(steps, key=lambda o: (-o.quality, -o.speed)):
        rest = [o for o in steps if o is not option]
        if rest and _evaluate(spec, _apply(spec, req, rest), capacity)[1].status == "comfortable":
            steps = rest
    if len(steps) < 2:
        return None  # a single change is already in the list
    est, verdict = _evaluate(spec, _apply(spec, req, steps), capacity)
    return Mitigation(
        " + ".join(o.action for o in steps),
        " ".join(o.flags for o in steps),
        max(o.quality for o in steps),
        max(o.speed for o in steps),
        "the costs of each change together",
        est.total,
        verdict.status,
    )


# What a change costs a diffusion pipeline, where the text above speaks of tokens.
_DIFFUSION_COSTS = {
    "weights": "quantised denoiser and text encoders (diffusers with bitsandbytes or GGUF): "
    "some loss of detail; steps are not faster",
}


def _mitigation(
    spec: ModelSpec, option: _Option, est: MemoryEstimate, verdict: Verdict
) -> Mitigation:
    cost = option.cost
    if spec.kind == "diffusion":
        cost = _DIFFUSION_COSTS.get(option.axis, cost)
    return Mitigation(
        option.action,
        option.flags,
        option.quality,
        option.speed,
        cost,
        est.total,
        verdict.status,
    )


def _shorter_context(spec: ModelSpec, req: FitRequest, capacity: int) -> Mitigation | None:
    """The longest context that fits (the largest image, for a diffusion pipeline)."""
    ctx = solve_context(spec, req, capacity)
    if not (ctx and req.context and ctx < req.context):
        return None
    est, verdict = _evaluate(spec, replace(req, context=ctx), capacity)
    if spec.kind == "diffusion":
        action, cost = f"smaller images: {ctx}x{ctx} px", "less detail; upscale afterwards"
    else:
        action = f"shorter context: {ctx:,} tokens"
        cost = "the model sees less text at once (truncate or chunk long inputs)"
    quality = 2 if req.task == "infer" else 1
    return Mitigation(action, f"--context {ctx}", quality, 0, cost, est.total, verdict.status)


def _more_gpus(spec: ModelSpec, req: FitRequest, capacity: int) -> Mitigation | None:
    """The fewest copies of this GPU (2, 4 or 8 times the request's) that fit comfortably."""
    for n in (2, 4, 8):
        est, verdict = _evaluate(spec, replace(req, gpus=req.gpus * n), capacity)
        if verdict.status == "comfortable":
            if spec.kind == "diffusion" and req.task == "infer":
                how = "diffusers places whole components on separate GPUs (device_map)"
            elif req.task == "infer":
                how = "tensor parallel: PCIe traffic between GPUs on every layer"
            else:
                how = "ZeRO-3/FSDP: gathers weights every step"
            return Mitigation(
                f"{req.gpus * n} of these GPUs",
                f"--gpus {req.gpus * n}",
                0,
                1,
                "more hardware; " + how,
                est.total,
                verdict.status,
            )
    return None


def _mitigations(
    spec: ModelSpec, req: FitRequest, capacity: int, *, gpu: bool = True
) -> tuple[list[Mitigation], Mitigation | None]:
    """Each change that saves at least 2% on its own, ranked; and the cheapest combination."""
    found: list[Mitigation] = []
    base = _evaluate(spec, req, capacity)[0].total
    for option in MITIGATIONS:
        new = option.change(spec, req)
        if new is None:
            continue
        est, verdict = _evaluate(spec, new, capacity)
        if est.total <= 0.98 * base:  # saving under 2% is not worth its cost
            found.append(_mitigation(spec, option, est, verdict))
    extra = [
        _shorter_context(spec, req, capacity),
        _more_gpus(spec, req, capacity) if gpu else None,
    ]
    found += [m for m in extra if m is not None]
    found.sort(key=lambda m: (m.status == "no", m.quality_cost, m.speed_cost, m.total_bytes))
    return found, _combine(spec, req, capacity)


def _offload(
    spec: ModelSpec, req: FitRequest, est: MemoryEstimate, target: Target, ram_free: int | None
) -> Mitigation | None:
    """Keep what does not fit in system RAM and stream it over PCIe each step."""
    if target.kind != "gpu":
        return None
    excess = est.total - (target.capacity_bytes - reserve(target.capacity_bytes))
    movable = est.parts["weights"] + (est.parts["optimizer"] if req.training else 0)
    if excess <= 0 or excess > movable:
        return None
    if ram_free is not None and excess > ram_free:
        return None
    cost, flags = _offload_cost(spec, req, excess)
    return Mitigation("CPU offload", flags, 0, 4, cost, est.total - excess, "tight")


_PCIE_GBS = 25.0  # PCIe 4.0 x16 in practice


def _offload_cost(spec: ModelSpec, req: FitRequest, excess: int) -> tuple[str, str]:
    """What offloading ``excess`` bytes costs, and how to ask for it, in the family's tools."""
    held = f"{excess / GIB:.1f} GiB"
    if req.training:
        cost = (
            f"{held} of optimizer states and weights in system RAM "
            "(DeepSpeed ZeRO-Offload): steps bound by the CPU optimizer and PCIe"
        )
        return cost, "device_map='auto' with max_memory (accelerate) or llama.cpp -ngl"
    if spec.kind == "diffusion":
        cost = (
            f"{held} of the pipeline in system RAM: diffusers moves each component to the GPU "
            "when it runs (the text encoders once per prompt), slower per image"
        )
        return cost, "pipe.enable_model_cpu_offload() (diffusers)"
    per_token = excess / 1e9 / _PCIE_GBS
    cost = (
        f"{held} of weights in system RAM. Accelerate streams them over "
        f"PCIe for every token: at most ~{1 / per_token:.1f} tokens/s (PCIe 4.0 x16 at "
        f"{_PCIE_GBS:.0f} GB/s); llama.cpp (-ngl) runs those layers on the CPU instead, bound "
        "by RAM bandwidth"
    )
    return cost, "device_map='auto' with max_memory (accelerate) or llama.cpp -ngl"


def _shipped_format(spec: ModelSpec) -> str | None:
    """The weight format a checkpoint is published in, from its ``quantization_config``."""
    qc = spec.config.get("quantization_config")
    method = str(qc.get("quant_method", "")).lower() if isinstance(qc, dict) else ""
    return {"fp8": "fp8", "mxfp4": "mxfp4"}.get(method)


def _fits(spec: ModelSpec, req: FitRequest, capacity: int) -> bool:
    return _evaluate(spec, req, capacity)[1].status == "comfortable"


def solve_context(spec: ModelSpec, req: FitRequest, capacity: int) -> int:
    """The longest context (tokens) that fits comfortably; 0 if not even one token does."""
    hi = int(spec.max_context or 1_048_576)
    if not _fits(spec, replace(req, context=1), capacity):
        return 0
    if _fits(spec, replace(req, context=hi), capacity):
        return hi
    lo = 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _fits(spec, replace(req, context=mid), capacity) else (lo, mid)
    return lo


def solve_batch(spec: ModelSpec, req: FitRequest, capacity: int) -> int:
    """The largest batch that fits comfortably at the request's context (up to 4096)."""
    if not _fits(spec, replace(req, batch=1), capacity):
        return 0
    lo, hi = 1, MAX_BATCH
    if _fits(spec, replace(req, batch=hi), capacity):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _fits(spec, replace(req, batch=mid), capacity) else (lo, mid)
    return lo


def _smallest_cloud(spec: ModelSpec, req: FitRequest) -> tuple[catalogue.Gpu | None, int]:
    gpus = catalogue.cloud_gpus()
    one = replace(req, gpus=1)
    for g in gpus:
        if _fits(spec, one, g.vram_bytes):
            return g, 1
    if not gpus:
        return None, 1
    biggest = max(gpus, key=lambda g: (g.vram_bytes, g.bandwidth_gbs or 0))
    for n in (2, 4, 8, 16):
        if _fits(spec, replace(req, gpus=n), biggest.vram_bytes):
            return biggest, n
    return None, 1


# ---------------------------------------------------------------------------- entry


def _prepare(spec: ModelSpec, request: FitRequest) -> tuple[FitRequest, list[str]]:
    """The request resolved for this model, and the warnings that follow from it.

    Raises:
        InvalidInput: an option contradicts another or the model (LoRA targets it lacks).
    """
    warnings: list[str] = []
    if spec.kind == "diffusion" and request.context is None:
        request = replace(request, context=spec.default_resolution)  # pixels, not tokens
    shipped = _shipped_format(spec)
    if shipped and request.quant is None and request.task == "infer":
        request = replace(request, quant=shipped)
        warnings.append(f"{spec.name} ships its weights as {shipped}: planned in that format")
    req = request.resolved(spec.max_context)
    adapters = spec.lora_params(req.lora_rank, req.targets()) if spec.linears else None
    if req.task in ("lora", "qlora") and adapters == 0:
        names = sorted({lin.name for lin in spec.linears})
        raise InvalidInput(
            f"no matrix of {spec.name} is called {req.lora_targets!r}",
            hint=f"its matrices: {', '.join(names)}; or all-linear, attention, qv, mlp",
        )
    if spec.max_context and req.context and req.context > spec.max_context:
        warnings.append(
            f"context {req.context:,} is beyond {spec.name}'s maximum of {spec.max_context:,} "
            "tokens: quality degrades unless the model is extended (RoPE scaling)"
        )
    if spec.kind == "params-only":
        warnings.append(spec.notes[0])
    return req, warnings


CPU_TRAINING_WARNING = (
    "no GPU found: the target is system RAM and training runs on the CPU, typically 10 to "
    "100 times slower than on a GPU (the throughput shown is an estimate); plan for a GPU "
    "with --gpu NAME or --vram GIB"
)


def _for_task(targets: list[Target], req: FitRequest) -> list[Target]:
    """RAM targets named for what runs there: CPU training, not CPU inference."""
    if not req.training:
        return targets
    return [
        replace(t, name="system RAM available (no GPU found: CPU training)")
        if t.kind == "ram"
        else t
        for t in targets
    ]


def _judge_all(
    spec: ModelSpec, req: FitRequest, est: MemoryEstimate, targets: list[Target]
) -> list[TargetResult]:
    results = []
    for t in targets:
        verdict = judge(est, t.capacity_bytes, cpu=t.kind == "ram")
        speed = None
        if verdict.status != "no":
            on_cpu = t.kind == "ram" and req.training
            speed = cpu_training(spec, req) if on_cpu else throughput(spec, req, est, t.gpu)
        results.append(TargetResult(t, verdict, speed))
    return results


def _ram_free(target: Target) -> int | None:
    """System RAM free now for CPU offload (this machine only)."""
    from rigml.machine.readings import read_memory

    return read_memory().available_bytes if target.source == "machine" else None


def _changes(
    spec: ModelSpec, req: FitRequest, est: MemoryEstimate, primary: TargetResult
) -> tuple[list[Mitigation], Mitigation | None, Mitigation | None]:
    """What to change when the first target is not a comfortable fit: each change, the
    cheapest combination, and CPU offload."""
    if primary.verdict.status == "comfortable":
        return [], None, None
    target = primary.target
    mitigations, combined = _mitigations(spec, req, target.capacity_bytes, gpu=target.kind == "gpu")
    return mitigations, combined, _offload(spec, req, est, target, _ram_free(target))


def plan_fit(
    model: str | ModelSpec,
    request: FitRequest | None = None,
    *,
    gpu: str | None = None,
    vram_gb: float | None = None,
    targets: list[Target] | None = None,
    max_context: bool = False,
    max_batch: bool = False,
) -> FitReport:
    """Estimate ``model`` under ``request`` and judge it against the targets.

    Args:
        model: A catalogue name, a path, or a :class:`ModelSpec`.
        request: The workload; defaults to bf16 inference at 4,096 tokens.
        gpu: Plan for this GPU from the table instead of this machine's.
        vram_gb: Plan for a GPU with this much memory (GiB, as nvidia-smi shows it).
        targets: Explicit targets (tests, callers with their own inventory).
        max_context: Also solve for the longest context that fits the first target.
        max_batch: Also solve for the largest batch that fits the first target.

    Raises:
        UnknownModel, InvalidModelConfig, UnknownGpu, InvalidInput: see each.
    """
    spec = model if isinstance(model, ModelSpec) else load_model(model)
    req, warnings = _prepare(spec, request or FitRequest())
    if targets is None:
        targets = resolve_targets(gpu=gpu, vram_gb=vram_gb)
    targets = _for_task(targets, req)
    if targets and targets[0].kind == "ram" and req.training:
        warnings.append(CPU_TRAINING_WARNING)
    est = estimate(spec, req)
    results = _judge_all(spec, req, est, targets)
    mitigations, combined, offload = _changes(spec, req, est, results[0])
    cloud, count = _smallest_cloud(spec, req)
    capacity = results[0].target.capacity_bytes
    return FitReport(
        model=spec,
        request=req,
        estimate=est,
        results=results,
        mitigations=mitigations,
        combined=combined,
        offload=offload,
        cloud=cloud,
        cloud_gpus_needed=count,
        max_context=solve_context(spec, req, capacity) if max_context else None,
        max_batch=solve_batch(spec, req, capacity) if max_batch else None,
        warnings=warnings,
    )
