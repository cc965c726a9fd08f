"""What the user asks the planner: :class:`FitRequest`, checked once at the entry.

Contradictions (QLoRA on fp32 weights, full fine-tuning of quantised weights, a GGUF type
for training) are refused here with an error that names both options, so the estimator
can trust what it gets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from rigml.errors import InvalidInput
from rigml.fit.formats import DTYPE_BYTES, WeightFormat, kv_bytes, weight_format

Task = Literal["infer", "lora", "qlora", "full"]
TASKS: tuple[str, ...] = ("infer", "lora", "qlora", "full")
OPTIMIZERS: tuple[str, ...] = ("adamw", "adamw-8bit", "sgd", "adafactor")
ATTENTION: tuple[str, ...] = ("flash", "eager")
# How full fine-tuning holds 16-bit training (fp32 is the same in all three):
# mixed: 16-bit weights and gradients, fp32 master copy with the optimizer (DeepSpeed, FSDP);
# amp:   fp32 weights and gradients, torch.autocast's 16-bit copies (HF Trainer fp16/bf16=True
#        over an fp32 model); pure: everything in 16 bits (a bf16 model with torch's AdamW).
PRECISIONS: tuple[str, ...] = ("mixed", "amp", "pure")
TARGET_SETS = {
    "all-linear": None,
    "attention": (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "query",
        "key",
        "value",
        "q",
        "k",
        "v",
        "o",
        "dense",
        "q_a_proj",
        "q_b_proj",
        "kv_a_proj_with_mqa",
        "kv_b_proj",
    ),
    "qv": ("q_proj", "v_proj", "query", "value", "q", "v", "q_b_proj", "kv_b_proj"),
    "mlp": (
        "gate_proj",
        "up_proj",
        "down_proj",
        "shared_expert.gate_proj",
        "shared_expert.up_proj",
        "shared_expert.down_proj",
        "intermediate",
        "output",
        "fc1",
        "fc2",
    ),
}
# Fused projections in some checkpoints (Phi-3, GPT-2) name several of the planner's matrices.
_FUSED = {
    "qkv_proj": ("q_proj", "k_proj", "v_proj"),
    "gate_up_proj": ("gate_proj", "up_proj"),
    "c_attn": ("q_proj", "k_proj", "v_proj"),
    "c_proj": ("o_proj", "down_proj"),
    "c_fc": ("up_proj",),
    "w1": ("gate_proj",),  # Mixtral's expert matrices: w1 gate, w3 up, w2 down
    "w3": ("up_proj",),
    "w2": ("down_proj",),
}

DEFAULT_CONTEXT = {"infer": 4096, "lora": 2048, "qlora": 2048, "full": 2048}


@dataclass(frozen=True)
class FitRequest:
    """The workload to plan for. ``context`` is tokens per sequence (prompt + generated).

    ``None`` fields take a default that depends on the task or the model (see
    :meth:`resolved`); the report shows the resolved values.
    """

    task: Task = "infer"
    dtype: str = "bf16"
    quant: str | None = None
    double_quant: bool | None = None
    context: int | None = None
    batch: int = 1
    kv_dtype: str | None = None
    lora_rank: int = 16
    lora_targets: str = "all-linear"
    gradient_checkpointing: bool = False
    optimizer: str = "adamw"
    gpus: int = 1
    attention: str = "flash"
    precision: str = "mixed"

    @property
    def training(self) -> bool:
        return self.task != "infer"

    @property
    def act_bytes(self) -> float:
        return DTYPE_BYTES[self.dtype]

    def weight_format(self) -> WeightFormat:
        if self.quant is None:
            return weight_format(self.dtype)
        return weight_format(self.quant, double_quant=bool(self.double_quant))

    def kv_bytes(self) -> float:
        return kv_bytes(self.kv_dtype or ("fp16" if self.dtype != "fp32" else "fp32"))

    def targets(self) -> tuple[str, ...] | None:
        """The matrices LoRA adapts, ``None`` for every linear layer."""
        key = self.lora_targets.strip().lower()
        if key in TARGET_SETS:
            return TARGET_SETS[key]
        names: list[str] = []
        for part in filter(None, (p.strip() for p in self.lora_targets.split(","))):
            names.extend(_FUSED.get(part, (part,)))
        return tuple(names)

    def resolved(self, max_context: int | None) -> FitRequest:
        """This request with defaults filled in and every option checked.

        Raises:
            InvalidInput: a value is out of range or two options contradict each other.
        """
        return check_request(self, max_context)


def _bad(message: str, hint: str) -> InvalidInput:
    return InvalidInput(message, hint=hint)


def _check_choices(req: FitRequest) -> None:
    """Each named option is one the planner knows; counts are positive."""
    if req.task not in TASKS:
        raise _bad(f"unknown task {req.task!r}", f"one of: {', '.join(TASKS)}")
    if req.dtype not in DTYPE_BYTES:
        raise _bad(f"unknown dtype {req.dtype!r}", "one of: fp32, bf16, fp16")
    if req.optimizer not in OPTIMIZERS:
        raise _bad(f"unknown optimizer {req.optimizer!r}", f"one of: {', '.join(OPTIMIZERS)}")
    if req.precision not in PRECISIONS:
        raise _bad(f"unknown precision {req.precision!r}", f"one of: {', '.join(PRECISIONS)}")
    if req.attention not in ATTENTION:
        raise _bad(f"unknown attention {req.attention!r}", "flash (also SDPA) or eager")
    for name, value in (("batch", req.batch), ("gpus", req.gpus), ("lora rank", req.lora_rank)):
        if value < 1:
            raise _bad(f"{name} must be at least 1, got {value}", f"pass a positive {name}")
    if req.context is not None and req.context < 1:
        raise _bad(f"context must be at least 1 token, got {req.context}", "pass --context 4096")


def _qlora_quant(req: FitRequest) -> tuple[str, bool]:
    """QLoRA's base weights: bitsandbytes 4-bit (nf4 by default), double-quantised by default."""
    if req.dtype == "fp32":
        raise _bad(
            "QLoRA with fp32 weights contradicts itself: QLoRA keeps the base weights in "
            "4 bits and computes in bf16 or fp16",
            "drop --dtype fp32 (QLoRA computes in bf16), or use --task lora or full",
        )
    quant = req.quant or "nf4"
    fmt = weight_format(quant)
    if fmt.family != "bnb" or fmt.name.startswith("int8"):
        raise _bad(
            f"QLoRA trains adapters over bitsandbytes 4-bit weights, not {quant}",
            "use --quant nf4 (or fp4) with --task qlora, or --task lora for 16-bit weights",
        )
    double = True if req.double_quant is None else req.double_quant  # the QLoRA paper's recipe
    weight_format(quant, double_quant=double)
    return quant, double


def _check_quant_for_task(req: FitRequest, quant: str) -> None:
    """Quantised weights other tasks cannot use: full fine-tuning, LoRA on 4-bit, GGUF."""
    fmt = weight_format(quant, double_quant=bool(req.double_quant))
    if req.task == "full":
        raise _bad(
            f"full fine-tuning updates every weight, which {fmt.name} weights cannot hold",
            "drop --quant for full fine-tuning, or use --task qlora to train adapters "
            "over quantised weights",
        )
    if req.task == "lora" and fmt.family == "bnb" and fmt.name.startswith(("nf4", "fp4")):
        raise _bad(
            f"LoRA over {fmt.name} weights is QLoRA",
            "use --task qlora (it defaults to nf4 with double quantisation)",
        )
    if req.training and fmt.family == "gguf":
        raise _bad(
            f"{fmt.name} is a llama.cpp inference format; it cannot be fine-tuned here",
            "fine-tune the 16-bit checkpoint (--task lora/qlora), then quantise to GGUF",
        )


def _check_kv_and_targets(req: FitRequest) -> None:
    if req.kv_dtype is not None:
        kv_bytes(req.kv_dtype)
    if req.training and req.kv_dtype not in (None, "fp16", "bf16", "fp32"):
        raise _bad(
            f"a {req.kv_dtype} KV cache is an inference setting; training keeps no KV cache",
            "drop --kv-dtype for fine-tuning",
        )
    targets = req.targets()
    if req.task in ("lora", "qlora") and targets is not None and not targets:
        raise _bad("no LoRA target modules given", "e.g. --lora-targets q_proj,v_proj")


def check_request(req: FitRequest, max_context: int | None) -> FitRequest:
    """Validate ``req`` and fill its defaults; see :meth:`FitRequest.resolved`."""
    _check_choices(req)
    quant, double = req.quant, req.double_quant
    if req.task == "qlora":
        quant, double = _qlora_quant(req)
    elif quant is not None:
        _check_quant_for_task(req, quant)
    elif double:
        weight_format(req.dtype, double_quant=True)  # raises: only for 4-bit bitsandbytes
    _check_kv_and_targets(req)
    context = req.context
    if context is None:
        context = DEFAULT_CONTEXT[req.task]
        if max_context:
            context = min(context, int(max_context))
    return replace(req, quant=quant, double_quant=double, context=context)
