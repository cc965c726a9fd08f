"""GPU memory for a model and a workload, part by part: :func:`estimate`.

Every part is a formula over the architecture (:class:`~rigml.fit.architecture.ModelSpec`)
and the request (:class:`~rigml.fit.request.FitRequest`), with its source:

weights
    parameters x bytes per weight (:mod:`rigml.fit.formats`). Weight-only quantisers keep
    embeddings and an untied output head in 16 bits.
KV cache
    batch x cached tokens x layers x ``kv_width`` x bytes per element: two tensors (K, V)
    of ``kv_heads * head_dim`` per token per layer, so grouped-query attention shrinks it
    by ``heads / kv_heads`` (Ainslie et al. 2023, "GQA"); sliding-window layers cache at most
    the window; DeepSeek's MLA caches one compressed latent (DeepSeek-V2 paper, section 2.1).
activations
    inference: the tensors alive inside one layer during prefill (residual, normed input,
    q/k/v, and the MLP's intermediate tensors), plus last-token logits in fp32; training:
    what autograd saves per layer for the backward pass, derived as in Korthikanti et al.
    2022 ("Reducing Activation Recomputation in Large Transformer Models", section 4.1,
    34sbh per layer for GPT) but for the actual MLP (SwiGLU saves gate, up, their product
    and the activation: 4 x intermediate) and with flash attention saving q, k, v and the
    output instead of the s x s score matrix (Dao et al. 2022). RMSNorm saves its input in
    fp32, as the Transformers implementations compute it. The logits for the loss cost
    batch x seq x vocab x 12 bytes at the backward peak: the logits in fp32 (the loss
    upcasts them), the fp32 log-softmax kept for backward and its fp32 gradient (checked
    with ``rig fit --measure`` in the tests). Gradient checkpointing keeps each layer's input
    and recomputes one layer at a time (Chen et al. 2016).
gradients, optimizer
    the ZeRO paper's accounting (Rajbhandari et al. 2020, section 3.1): mixed-precision
    AdamW holds 16-bit weights and gradients plus an fp32 master copy, momentum and
    variance: 2 + 2 + 12 bytes per trained parameter. AMP over fp32 weights (``torch.autocast``,
    the Trainer's fp16/bf16 flag) holds 4 + 4 + 8 plus the 16-bit weight copies autocast
    keeps for backward; pure 16-bit training 2 + 2 + 4. 8-bit AdamW stores the two states in
    8 bits (Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization"); SGD
    with momentum keeps one state; Adafactor factors the second moment into a row and a
    column vector per matrix (Shazeer & Stern 2018).
adapters
    LoRA's A and B matrices in fp32 (PEFT's default), with fp32 gradients and AdamW states.
framework and CUDA context
    the CUDA context, cuBLAS workspaces and PyTorch's kernels: 0.5 GiB with lazy module
    loading (CUDA 11.7+), more on older stacks.
allocator margin
    PyTorch's caching allocator rounds and fragments: 5% of tensor memory for inference,
    10% for training (the gap between ``max_memory_reserved`` and ``max_memory_allocated``
    seen in practice).

The estimate is an estimate: :attr:`MemoryEstimate.assumptions` lists what it took for
granted, and tests compare it with published measurements (``tests/fit/published.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rigml._units import GIB
from rigml.fit.architecture import ModelSpec
from rigml.fit.request import FitRequest

CUDA_CONTEXT = int(0.5 * GIB)
PROCESS_RAM = int(1.5 * GIB)  # the Python process with torch and a tokenizer loaded
MAX_SHARD = 5 * 10**9  # Hub checkpoints are sharded at 5 GB; loading holds one at a time

PARTS = (
    "weights",
    "kv_cache",
    "activations",
    "gradients",
    "optimizer",
    "adapters",
    "cuda_context",
    "margin",
)
PART_LABELS = {
    "weights": "weights",
    "kv_cache": "KV cache",
    "activations": "activations",
    "gradients": "gradients",
    "optimizer": "optimizer states",
    "adapters": "adapter parameters",
    "cuda_context": "framework and CUDA context",
    "margin": "allocator margin",
}


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per GPU by part, plus system RAM and disk; ``total`` is what one GPU needs."""

    parts: dict[str, int]
    ram_bytes: int
    download_bytes: int
    checkpoint_bytes: int
    trainable_params: int
    gpus: int
    assumptions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def tensors(self) -> int:
        """What ``torch.cuda.max_memory_allocated`` would count: no context, no margin."""
        return self.total - self.parts["cuda_context"] - self.parts["margin"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_bytes": self.total,
            "parts": dict(self.parts),
            "ram_bytes": self.ram_bytes,
            "download_bytes": self.download_bytes,
            "checkpoint_bytes": self.checkpoint_bytes,
            "trainable_params": self.trainable_params,
            "gpus": self.gpus,
            "assumptions": list(self.assumptions),
        }


def weight_bytes(spec: ModelSpec, req: FitRequest) -> int:
    """Bytes the weights take on the GPU in the requested format (all GPUs together)."""
    fmt = req.weight_format()
    if spec.prequantised and req.quant is None and req.task == "infer":
        return spec.stored_bytes or 0  # a GGUF file's own mix of types, read from its header
    if fmt.keeps_embeddings:
        quantised = spec.params - spec.embedding_params
        return int(quantised * fmt.bits / 8 + spec.embedding_params * 2)
    return int(spec.params * fmt.bits / 8)


def kv_cache_bytes(spec: ModelSpec, req: FitRequest, context: int, batch: int) -> int:
    """The KV cache for ``batch`` sequences of ``context`` tokens (inference only)."""
    if spec.kind == "params-only":
        return 0
    per_elem = req.kv_bytes()
    if spec.kind == "encoder-decoder":
        tokens = spec.decoder_layers * (context + (spec.encoder_tokens or context))
    elif spec.kind != "decoder":
        return 0
    else:
        windowed = spec.windowed_layers
        full = spec.layers - windowed
        tokens = full * context + windowed * min(context, spec.window or context)
    return int(batch * tokens * spec.kv_width * per_elem)


def _layer_saved_bytes(spec: ModelSpec, req: FitRequest, seq: int) -> float:
    """Bytes autograd keeps per token in one layer for the backward pass."""
    a = req.act_bytes
    h, inter = spec.hidden, spec.intermediate
    q = spec.heads * spec.head_dim
    attn = a * (h + q + spec.kv_width + q)  # normed input, q, k, v, attention output
    mlp = a * (h + (4 if spec.glu else 2) * inter)
    norms = 2 * 4 * h  # RMSNorm/LayerNorm inputs kept in fp32
    saved = attn + mlp + norms
    if req.task in ("lora", "qlora"):
        # Measured with PEFT (tests/fit/test_measure.py): each adapted matrix keeps an
        # output-sized tensor alive for backward (the adapter's branch added to the base).
        saved += a * spec.lora_out_width(req.targets())
    if req.attention == "eager":
        saved += spec.heads * seq * (2 * a + 4)  # scores, fp32 softmax, probabilities
    if spec.kind in ("encoder", "encoder-decoder"):
        saved += 2 * (a + 1) * h  # hidden dropouts: outputs and masks (BERT-style training)
        if req.attention == "eager":
            saved += spec.heads * seq * (a + 1)
    return saved


def _layer_live_bytes(spec: ModelSpec, req: FitRequest) -> float:
    """Bytes per token alive inside one layer's forward pass (inference peak)."""
    a = req.act_bytes
    q = spec.heads * spec.head_dim
    mlp = (3 if spec.glu else 2) * spec.intermediate
    return a * (2 * spec.hidden + max(q + spec.kv_width + q, mlp))


def activation_bytes(spec: ModelSpec, req: FitRequest, context: int, batch: int) -> int:
    """Peak activation memory for one forward (inference) or forward+backward (training)."""
    a = req.act_bytes
    if spec.kind == "params-only":
        # No architecture: allow 10% of the 16-bit weights per 2k tokens of batch x context.
        return int(0.10 * spec.params * 2 * batch * context / 2048)
    if spec.kind == "diffusion":
        scale = (context / (spec.default_resolution or 512)) ** 2
        return int(0.25 * spec.params * a * batch * scale * (3 if req.training else 1))
    tokens: float = batch * context
    if spec.encoder_tokens and spec.kind == "encoder":
        tokens = batch * min(context, spec.encoder_tokens)
    elif spec.kind == "encoder-decoder":
        # per-layer figures below are averaged over the stack: encoder layers see the encoder
        # length (Whisper's 1,500 frames; T5's input), decoder layers the context
        enc = spec.layers - spec.decoder_layers
        enc_tokens = spec.encoder_tokens or context
        tokens = batch * (enc * enc_tokens + spec.decoder_layers * context) / max(1, spec.layers)
    if not req.training:
        live = tokens * _layer_live_bytes(spec, req)
        if req.attention == "eager":
            live += batch * spec.heads * context * context * (2 * a + 4)
        logits = batch * spec.vocab * 4 if spec.kind != "encoder" else 0
        return int(live + logits)
    per_layer = tokens * _layer_saved_bytes(spec, req, context)
    if req.gradient_checkpointing:
        saved = spec.layers * tokens * a * spec.hidden + 2 * per_layer
    else:
        saved = spec.layers * per_layer
    loss_logits = tokens * spec.vocab * 12 if spec.kind != "encoder" else 0.0
    workspace = 0.0
    if req.task == "qlora":
        # bitsandbytes dequantises one weight matrix at a time to 16 bits for each matmul.
        biggest = max((lin.fan_in * lin.fan_out for lin in spec.linears), default=0)
        workspace = 2 * a * biggest
    return int(saved + loss_logits + workspace)


def _optimizer_bytes_per_param(req: FitRequest, spec: ModelSpec) -> float:
    """Optimizer states per trained parameter (master weights are counted by the caller).

    Pure 16-bit full fine-tuning keeps the states in the weights' own dtype, as
    ``torch.optim.AdamW`` does; adapters, mixed precision and AMP keep them in fp32.
    """
    if req.task == "full" and req.precision == "pure" and req.optimizer in ("adamw", "sgd"):
        return req.act_bytes * (2 if req.optimizer == "adamw" else 1)
    if req.optimizer == "adafactor":
        # one fp32 row and one column vector per (hidden x intermediate) matrix, no momentum
        return 4.0 * (1 / max(1, spec.hidden) + 1 / max(1, spec.intermediate))
    return {"adamw": 8.0, "adamw-8bit": 2.0, "sgd": 4.0}[req.optimizer]


@dataclass
class _Tally:
    """The tensor parts of one estimate while it is worked out (bytes, before sharding)."""

    weights: float
    kv: float = 0.0
    acts: float = 0.0
    grads: float = 0.0
    opt: float = 0.0
    adapters: float = 0.0
    trainable: int = 0


def _inference_note(spec: ModelSpec, req: FitRequest) -> str:
    """What inference means for this family: a prefill that generates, one pass, or a step."""
    if spec.kind == "diffusion":
        return (
            f"inference: one denoising step at a time on a {req.context}x{req.context} px "
            "image; every component (text encoders, denoiser, VAE) resident on the GPU at "
            "once, without CPU offload"
        )
    if spec.kind == "encoder":
        what = (
            f"the image's {spec.encoder_tokens} patch tokens"
            if spec.encoder_tokens
            else f"{req.context} tokens"
        )
        return (
            f"inference: one forward pass over {what}; an encoder generates nothing, so "
            "nothing is cached between passes"
        )
    return (
        "inference: the whole prompt is prefilled at once (no chunking); logits for the "
        "last token only, as generate() does"
    )


def _inference(spec: ModelSpec, req: FitRequest, tally: _Tally, notes: list[str]) -> None:
    assert req.context is not None
    tally.kv = kv_cache_bytes(spec, req, req.context, req.batch)
    tally.acts = activation_bytes(spec, req, req.context, req.batch)
    notes.append(_inference_note(spec, req))


def _full_training(spec: ModelSpec, req: FitRequest, tally: _Tally, notes: list[str]) -> None:
    """Every weight trained: gradients and optimizer states as the precision holds them."""
    a = req.act_bytes
    trainable = tally.trainable = spec.params
    half = req.dtype != "fp32"
    tally.grads = trainable * a
    tally.opt = trainable * _optimizer_bytes_per_param(req, spec)
    if half and req.precision == "mixed":
        tally.opt += trainable * 4
        notes.append(
            "mixed precision: 16-bit weights and gradients, fp32 master weights kept "
            "with the optimizer states (ZeRO accounting, 16 bytes per parameter)"
        )
    elif half and req.precision == "amp":
        # fp32 weights and gradients; autocast's 16-bit weight copies live until backward
        # has used them.
        tally.weights, tally.grads = trainable * 4, trainable * 4.0
        tally.acts += int(trainable * a)
        notes.append(
            "AMP: fp32 weights, gradients and optimizer states, plus autocast's 16-bit "
            "copies of the weights (HF Trainer fp16/bf16 over an fp32 model)"
        )
    elif half:
        notes.append("pure 16-bit training: weights, gradients and states in 16 bits")


def _adapter_training(spec: ModelSpec, req: FitRequest, tally: _Tally, notes: list[str]) -> None:
    """LoRA/QLoRA: frozen base weights, fp32 adapters with their gradients and states."""
    trainable = spec.lora_params(req.lora_rank, req.targets())
    if trainable == 0 and spec.kind in ("diffusion", "params-only"):
        trainable = int(spec.params * 0.005)  # ~0.5% of the weights, a typical rank
        notes.append("adapter size assumed at 0.5% of the parameters (no layer shapes)")
    tally.trainable = trainable
    tally.adapters = trainable * 4.0
    tally.grads = trainable * 4.0
    tally.opt = trainable * _optimizer_bytes_per_param(req, spec)
    notes.append(
        f"LoRA rank {req.lora_rank} on {req.lora_targets}: adapters, their gradients "
        "and optimizer states in fp32 (PEFT's default); base weights frozen"
    )


def _training(spec: ModelSpec, req: FitRequest, tally: _Tally, notes: list[str]) -> None:
    assert req.context is not None
    tally.acts = activation_bytes(spec, req, req.context, req.batch)
    if req.task == "full":
        _full_training(spec, req, tally, notes)
    else:
        _adapter_training(spec, req, tally, notes)
    if spec.kind == "diffusion":
        what = f"{req.batch} image(s) at {req.context}x{req.context} px"
    else:
        what = f"{req.batch} x {req.context} tokens"
    notes.append(
        f"training: micro-batch {what}, "
        + ("gradient checkpointing on" if req.gradient_checkpointing else "no checkpointing")
        + f", {req.attention} attention"
    )


def _checkpoint_dtype_bytes(spec: ModelSpec) -> int:
    """Bytes per weight in the published checkpoint: its config's ``torch_dtype``.

    BERT, RoBERTa, ViT, T5 and Whisper checkpoints are mostly fp32; current decoders
    ship bf16 or fp16. Without the key, 16-bit.
    """
    return 4 if str(spec.config.get("torch_dtype", "")).lower() in ("float32", "fp32") else 2


def _download_bytes(spec: ModelSpec, req: FitRequest, weights: float) -> int:
    fmt = req.weight_format()
    if spec.stored_bytes:
        return spec.stored_bytes
    if fmt.family in ("gptq", "awq", "gguf", "fp8", "mxfp4"):
        return int(weights)  # these checkpoints are downloaded already quantised
    return int(spec.params * _checkpoint_dtype_bytes(spec))


def _load_ram_bytes(spec: ModelSpec, stored: int, notes: list[str]) -> int:
    """System RAM while loading: the process, plus what the loader holds before the GPU."""
    if spec.kind == "diffusion":
        notes.append(
            "loading: diffusers builds the whole pipeline in system RAM, then .to('cuda') "
            "moves it (RAM to load counts every component)"
        )
        return PROCESS_RAM + stored
    notes.append(
        "loading: Transformers reads one checkpoint shard at a time (the Hub shards at 5 GB, "
        "4.7 GiB)"
    )
    if not spec.stored_bytes and _checkpoint_dtype_bytes(spec) == 4:
        notes.append("the published checkpoint is fp32 (its torch_dtype): 4 bytes per weight")
    return PROCESS_RAM + min(stored, MAX_SHARD)


def _checkpoint_bytes(spec: ModelSpec, req: FitRequest, trainable: int) -> int:
    """One training checkpoint on disk: what is trained, with its optimizer states."""
    if req.task == "full":
        master = 4 if req.dtype != "fp32" and req.precision == "mixed" else 0
        held = 4 if req.precision == "amp" else req.act_bytes
        return int(spec.params * (held + _optimizer_bytes_per_param(req, spec) + master))
    if req.training:
        return int(trainable * (4 + _optimizer_bytes_per_param(req, spec)))
    return 0


def _per_gpu_parts(req: FitRequest, tally: _Tally) -> dict[str, int]:
    """Parts for one GPU: inference splits weights, cache and activations (tensor parallel);
    training shards weights, gradients and states (ZeRO-3/FSDP), activations stay whole."""
    n = req.gpus
    if req.task == "infer":
        weights_n, kv_n, acts_n = tally.weights / n, tally.kv / n, tally.acts / n
        grads, opt = tally.grads, tally.opt
    else:
        weights_n, kv_n, acts_n = tally.weights / n, 0.0, float(tally.acts)
        grads, opt = tally.grads / n, tally.opt / n
    tensors = weights_n + kv_n + acts_n + grads + opt + tally.adapters
    margin = tensors * (0.10 if req.training else 0.05)
    return {
        "weights": int(weights_n),
        "kv_cache": int(kv_n),
        "activations": int(acts_n),
        "gradients": int(grads),
        "optimizer": int(opt),
        "adapters": int(tally.adapters),
        "cuda_context": CUDA_CONTEXT,
        "margin": int(margin),
    }


def estimate(spec: ModelSpec, req: FitRequest) -> MemoryEstimate:
    """Estimate memory for ``spec`` under ``req`` (already :meth:`~FitRequest.resolved`).

    Returns the bytes one GPU needs, part by part; with ``req.gpus > 1`` inference is
    tensor-parallel (weights, KV cache and activations split) and training is fully
    sharded (weights, gradients and optimizer states split; each GPU runs its own
    micro-batch of ``req.batch``).
    """
    assert req.context is not None, "resolve the request first"
    notes: list[str] = []
    fmt = req.weight_format()
    weights = weight_bytes(spec, req)
    tally = _Tally(weights=weights)
    (_inference if req.task == "infer" else _training)(spec, req, tally, notes)
    if fmt.quantised:
        notes.append(f"weights in {fmt.name}: {fmt.bits:.3g} bits per weight ({fmt.source})")
    if req.gpus > 1:
        notes.append(
            f"sharded over {req.gpus} GPUs: "
            + ("tensor parallel" if req.task == "infer" else "ZeRO-3 / FSDP")
            + "; figures are per GPU"
        )
    stored = _download_bytes(spec, req, weights)
    return MemoryEstimate(
        parts=_per_gpu_parts(req, tally),
        ram_bytes=_load_ram_bytes(spec, stored, notes),
        download_bytes=stored,
        checkpoint_bytes=_checkpoint_bytes(spec, req, tally.trainable),
        trainable_params=tally.trainable,
        gpus=req.gpus,
        assumptions=(*spec.notes, *notes),
    )
