"""Tokens per second, estimated from the GPU's spec sheet: :func:`throughput`.

Decoding one token reads every active weight and the whole KV cache once, so it is bound
by memory bandwidth: ``tokens/s = batch x efficiency x bandwidth / bytes read per step``.
Prefill and training are bound by compute: a forward pass costs 2 FLOPs per active
parameter per token (plus attention over the context), a training step 6 (Kaplan et al.
2020, "Scaling Laws for Neural Language Models", section 2.1), 8 with gradient
checkpointing's extra forward, and about 4 for LoRA (no weight gradients for the frozen
base). Efficiencies are typical figures, not measurements of this machine: 70% of peak
bandwidth for decoding, 50% model-FLOPs utilisation for prefill, 40% for training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.fit.architecture import ModelSpec
    from rigml.fit.catalogue import Gpu
    from rigml.fit.memory import MemoryEstimate
    from rigml.fit.request import FitRequest

DECODE_EFFICIENCY = 0.70
PREFILL_MFU = 0.50
TRAIN_MFU = 0.40
# Dense matmul rate PyTorch sustains on a many-core desktop or server CPU (AVX2/AVX-512):
# an assumption for CPU training, not a measurement of this machine.
CPU_TFLOPS = 0.5


@dataclass(frozen=True)
class Throughput:
    """Estimated tokens per second; ``None`` where it does not apply."""

    decode_tokens_s: float | None
    prefill_tokens_s: float | None
    train_tokens_s: float | None
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_estimate": True,
            "decode_tokens_s": self.decode_tokens_s,
            "prefill_tokens_s": self.prefill_tokens_s,
            "train_tokens_s": self.train_tokens_s,
            "assumptions": list(self.assumptions),
        }


def _attention_flops(spec: ModelSpec, context: int) -> float:
    """FLOPs per token for attention scores and mixing over an average of context/2 keys."""
    return 4.0 * spec.layers * spec.heads * spec.head_dim * context / 2


def throughput(
    spec: ModelSpec, req: FitRequest, est: MemoryEstimate, gpu: Gpu | None
) -> Throughput | None:
    """Estimate decode, prefill and training speed on ``gpu`` (``None`` without its specs)."""
    if gpu is None or spec.kind in ("diffusion", "params-only"):
        return None
    n = req.gpus
    ctx = req.context or 1
    active_share = spec.active_params / max(1, spec.params)
    notes = []
    decode = prefill = train = None
    flops = (gpu.bf16_tflops if req.dtype != "fp32" else gpu.fp32_tflops) or 0.0
    if req.task == "infer":
        if flops:
            per_token = 2.0 * spec.active_params + _attention_flops(spec, ctx)
            prefill = PREFILL_MFU * flops * 1e12 * n / per_token
            step = "forward" if spec.kind == "encoder" else "prefill"
            notes.append(f"{step}: {PREFILL_MFU:.0%} of {flops:g} dense TFLOPS")
        if gpu.bandwidth_gbs and spec.kind != "encoder":  # encoders do not decode
            if spec.is_moe:
                # a batch of B tokens touches 1 - (1 - k/E)^B of the experts
                touched = 1 - (1 - spec.active_experts / spec.experts) ** req.batch
                dense = spec.active_params - spec.active_experts / spec.experts * (
                    spec.params - spec.active_params
                ) / max(1e-9, 1 - spec.active_experts / spec.experts)
                share = (max(0.0, dense) + touched * (spec.params - max(0.0, dense))) / spec.params
                active_share = min(1.0, max(active_share, share))
            step_bytes = est.parts["weights"] * n * active_share + est.parts["kv_cache"] * n
            decode = (
                req.batch * DECODE_EFFICIENCY * gpu.bandwidth_gbs * 1e9 * n / max(1, step_bytes)
            )
            if prefill is not None and decode > prefill:
                decode = prefill  # large batches become compute-bound
                notes.append("decode: capped by compute at this batch")
            notes.append(
                f"decode: {DECODE_EFFICIENCY:.0%} of {gpu.bandwidth_gbs:g} GB/s over the weights "
                f"read per step and a full KV cache, batch {req.batch}"
            )
    elif flops:
        mult, per_token = _train_flops_per_token(spec, req)
        train = TRAIN_MFU * flops * 1e12 * n / per_token
        notes.append(
            f"training: {mult:g} FLOPs per active parameter per token at {TRAIN_MFU:.0%} of "
            f"{flops:g} dense TFLOPS"
        )
    if n > 1:
        notes.append(f"{n} GPUs assumed to scale linearly (an upper bound)")
    if spec.is_moe:
        notes.append(f"MoE: {spec.active_params / 1e9:.3g}B of {spec.params / 1e9:.3g}B active")
    return Throughput(decode, prefill, train, tuple(notes))


def _train_flops_per_token(spec: ModelSpec, req: FitRequest) -> tuple[float, float]:
    """FLOPs per active parameter per token, and per token in all, for one training step."""
    mult = 6.0 if req.task == "full" else 4.0
    if req.gradient_checkpointing:
        mult += 2.0
    return mult, mult * spec.active_params + 3 * _attention_flops(spec, req.context or 1)


def cpu_training(spec: ModelSpec, req: FitRequest) -> Throughput | None:
    """Training speed on the CPU at :data:`CPU_TFLOPS`: an order of magnitude, no more."""
    if not req.training or spec.kind in ("diffusion", "params-only"):
        return None
    mult, per_token = _train_flops_per_token(spec, req)
    return Throughput(
        None,
        None,
        CPU_TFLOPS * 1e12 / per_token,
        (
            f"CPU training: {mult:g} FLOPs per active parameter per token at an assumed "
            f"{CPU_TFLOPS:g} TFLOPS sustained (not measured on this machine)",
        ),
    )
