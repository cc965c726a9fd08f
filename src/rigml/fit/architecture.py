"""What a model is, in the terms memory depends on: :class:`ModelSpec`, read from a config.

A Hugging Face ``config.json`` names the architecture's sizes; :func:`spec_from_config` turns
it into a :class:`ModelSpec` with the parameter count worked out layer by layer, and the
facts that change memory kept explicit: grouped-query attention (``kv_heads``), multi-head
latent attention (DeepSeek's compressed KV cache), sliding-window layers, MoE experts (all
resident, a few active), tied embeddings and vocabulary size.

Parameter counts are exact sums of the weight matrices the Transformers implementations
create (norms and biases included where they exist); a test checks them against each
catalogue model's published count. Families the parser does not know fall back to a
parameter-count estimate that says so in ``notes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from rigml.errors import InvalidInput

Kind = Literal["decoder", "encoder", "encoder-decoder", "diffusion", "params-only"]

# model_type values whose MLP is two matrices with an activation between (GELU/ReLU MLP);
# every other decoder is taken as gated (SwiGLU/GeGLU: gate, up and down).
_PLAIN_MLP = {
    "gpt2",
    "gpt_bigcode",
    "gpt_neox",
    "gptj",
    "falcon",
    "phi",
    "opt",
    "bloom",
    "starcoder2",
    "mpt",
    "codegen",
}
# Families whose config class defaults tie_word_embeddings to False when the key is absent.
_UNTIED_BY_DEFAULT = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "phi3",
    "phimoe",
    "deepseek_v2",
    "deepseek_v3",
    "olmo2",
    "granite",
}
_KNOWN_DECODERS = _PLAIN_MLP | _UNTIED_BY_DEFAULT | {
    "qwen", "gemma", "gemma2", "gemma3", "gemma3_text", "phi3", "olmo", "olmo2", "falcon3",
    "granite", "gpt_oss", "smollm", "smollm2", "cohere", "internlm2", "exaone", "mistral3",
    "deepseek_v2", "deepseek_v3", "deepseek2", "llama4_text", "glm", "glm4", "starcoder2",
}  # fmt: skip
_ENCODERS = {"bert", "roberta", "xlm-roberta", "distilbert", "deberta-v2", "modernbert", "vit"}
_ENCODER_DECODERS = {"whisper", "t5", "mt5", "bart"}


class InvalidModelConfig(InvalidInput):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(
            f"cannot read the model config {where}: {problem}",
            hint="pass a Hugging Face config.json (or its folder), a .safetensors or .gguf file, "
            "or a catalogue name from `rig fit --list`",
        )
        self.where = where


@dataclass(frozen=True)
class Linear:
    """A weight matrix repeated in every layer that has it: LoRA targets are chosen by name."""

    name: str
    fan_in: int
    fan_out: int
    per_layer: int = 1  # e.g. the number of experts holding this matrix in an MoE layer
    layers: int = 0  # how many layers have it


@dataclass(frozen=True)
class ModelSpec:
    """The architecture facts a memory estimate needs; ``params`` is the total count.

    ``kv_width`` is the number of elements cached per token in each attention layer
    (``2 * kv_heads * head_dim``, or DeepSeek's compressed latent plus its RoPE key).
    ``window`` applies to ``windowed_layers`` of the ``layers``; the rest attend globally.
    ``active_params`` is what one token's forward pass reads (MoE: active experts only).
    ``embedding_params`` counts the input embeddings and an untied output head, which
    weight-only quantisers (bitsandbytes, GPTQ, AWQ) keep in 16 bits.
    """

    name: str
    kind: Kind
    model_type: str | None
    params: int
    active_params: int
    embedding_params: int
    hidden: int = 0
    layers: int = 0
    heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    kv_width: int = 0
    intermediate: int = 0  # MLP width one token passes through (active experts summed)
    glu: bool = True
    vocab: int = 0
    max_context: int | None = None
    tied_embeddings: bool = False
    experts: int = 0
    active_experts: int = 0
    window: int | None = None
    windowed_layers: int = 0
    decoder_layers: int = 0  # encoder-decoder: layers that keep a KV cache
    encoder_tokens: int | None = None  # ViT patches, Whisper frames: the fixed input length
    linears: tuple[Linear, ...] = ()
    stored_bytes: int | None = None  # the size of the weights as a file holds them
    stored_format: str | None = None  # e.g. "bf16", "Q4_K_M"
    components: dict[str, int] = field(default_factory=dict)  # diffusion pipelines
    default_resolution: int | None = None
    notes: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def prequantised(self) -> bool:
        """The weights come from a file already quantised (a GGUF type, not 16/32-bit)."""
        return bool(self.stored_bytes) and self.stored_format not in ("bf16", "fp16", "fp32")

    @property
    def kv_layers(self) -> int:
        """Layers that keep a KV cache while generating."""
        return self.decoder_layers or (self.layers if self.kind == "decoder" else 0)

    def lora_params(self, rank: int, targets: tuple[str, ...] | None) -> int:
        """Adapter parameters for rank ``rank`` on the named matrices (``None``: all linear).

        LoRA adds A (rank x fan_in) and B (fan_out x rank) beside each targeted matrix:
        Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", section 4.
        """
        total = 0
        for lin in self.linears:
            if targets is None or lin.name in targets:
                total += rank * (lin.fan_in + lin.fan_out) * lin.per_layer * lin.layers
        return total

    def lora_out_width(self, targets: tuple[str, ...] | None) -> float:
        """Output elements per token per layer of the adapted matrices (active experts only)."""
        total = 0.0
        for lin in self.linears:
            if targets is None or lin.name in targets:
                copies = lin.per_layer if lin.per_layer == 1 else self.active_experts
                total += lin.fan_out * copies * lin.layers / max(1, self.layers)
        return total

    def with_notes(self, *notes: str) -> ModelSpec:
        return replace(self, notes=(*self.notes, *notes))


# --------------------------------------------------------------------------- config reading


def _get(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    return default


def _int(cfg: dict[str, Any], where: str, *keys: str, default: int | None = None) -> int:
    value = _get(cfg, *keys, default=default)
    if value is None:
        raise InvalidModelConfig(where, f"it has no {keys[0]!r}")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidModelConfig(where, f"{keys[0]!r} must be a non-negative number, got {value!r}")
    return int(value)


def spec_from_config(config: dict[str, Any], *, name: str, where: str | None = None) -> ModelSpec:
    """Read a Hugging Face ``config.json`` (as a dict) into a :class:`ModelSpec`.

    Raises:
        InvalidModelConfig: the config is not a mapping, or lacks a size it needs.
    """
    where = where or name
    if not isinstance(config, dict):
        raise InvalidModelConfig(where, f"expected a JSON object, got {type(config).__name__}")
    try:
        spec = _dispatch(config, name, where)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        if isinstance(exc, InvalidModelConfig):
            raise
        raise InvalidModelConfig(where, f"a size has an impossible value ({exc})") from exc
    return replace(spec, config=dict(config))


def _dispatch(config: dict[str, Any], name: str, where: str) -> ModelSpec:
    model_type = str(config.get("model_type") or "").lower() or None
    if model_type == "diffusion":
        return _diffusion(config, name, where)
    text = config.get("text_config")
    if isinstance(text, dict) and "hidden_size" in text:
        # Multimodal checkpoints (Gemma 3 4B+, Llava...): the language model plus a vision tower.
        inner = {"model_type": text.get("model_type", model_type), **text}
        spec = spec_from_config(inner, name=name, where=where)
        vision = config.get("vision_config")
        extra = _vision_tower(vision) if isinstance(vision, dict) else 0
        return replace(
            spec,
            params=spec.params + extra,
            active_params=spec.active_params + extra,
            notes=(*spec.notes, f"includes a vision tower of {extra / 1e6:.0f}M parameters")
            if extra
            else spec.notes,
        )
    if model_type in _ENCODERS:
        return _encoder(config, name, where, model_type)
    if model_type in _ENCODER_DECODERS:
        return _encoder_decoder(config, name, where, model_type)
    if _get(config, "hidden_size", "n_embd", "d_model") is None:
        return _params_only(config, name, where)
    return _decoder(config, name, where, model_type)


@dataclass(frozen=True)
class _DecoderSizes:
    """The sizes a decoder config states, read once and checked."""

    model_type: str | None
    h: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    inter: int
    glu: bool
    tied: bool


@dataclass(frozen=True)
class _Attention:
    linears: tuple[Linear, ...]
    extra: int  # per layer: biases and norms beside the matrices
    kv_width: int
    head_dim: int
    note: str | None = None


@dataclass(frozen=True)
class _Mlp:
    linears: tuple[Linear, ...]
    experts: int
    active: int
    moe_layers: int
    router: int  # per MoE layer
    per_token_inter: int
    inactive: int  # parameters of the experts a token does not use
    note: str | None = None


def _decoder_sizes(cfg: dict[str, Any], where: str, model_type: str | None) -> _DecoderSizes:
    h = _int(cfg, where, "hidden_size", "n_embd", "d_model")
    n_layers = _int(cfg, where, "num_hidden_layers", "n_layer", "num_layers")
    heads = _int(cfg, where, "num_attention_heads", "n_head", "num_heads")
    if heads == 0 or h == 0 or n_layers == 0:
        raise InvalidModelConfig(where, "hidden size, layers and heads must be positive")
    if cfg.get("multi_query"):
        kv_heads = 1
    else:
        kv_heads = _int(cfg, where, "num_key_value_heads", "n_head_kv", default=heads)
        kv_heads = kv_heads or heads
    head_dim = _int(cfg, where, "head_dim", default=h // heads)
    vocab = _int(cfg, where, "vocab_size")
    inter = _int(cfg, where, "intermediate_size", "n_inner", "ffn_dim", default=4 * h)
    if model_type == "qwen":  # Qwen (v1) counts w1 and w2 together in intermediate_size
        inter //= 2
    tied = cfg.get("tie_word_embeddings")
    if tied is None:
        tied = model_type not in _UNTIED_BY_DEFAULT
    return _DecoderSizes(
        model_type, h, n_layers, heads, kv_heads, head_dim, vocab, inter,
        glu=model_type not in _PLAIN_MLP, tied=bool(tied),
    )  # fmt: skip


def _latent_attention(cfg: dict[str, Any], where: str, sz: _DecoderSizes) -> _Attention:
    """DeepSeek's MLA: low-rank q and a compressed KV latent shared by the heads."""
    h, heads = sz.h, sz.heads
    kv_lora = int(cfg["kv_lora_rank"])
    rope = _int(cfg, where, "qk_rope_head_dim")
    nope = _int(cfg, where, "qk_nope_head_dim")
    v_dim = _int(cfg, where, "v_head_dim")
    q_lora = cfg.get("q_lora_rank")
    qk = heads * (nope + rope)
    linears: list[Linear] = []
    if q_lora:
        linears += [Linear("q_a_proj", h, q_lora), Linear("q_b_proj", q_lora, qk)]
    else:
        linears.append(Linear("q_proj", h, qk))
    linears += [
        Linear("kv_a_proj_with_mqa", h, kv_lora + rope),
        Linear("kv_b_proj", kv_lora, heads * (nope + v_dim)),
        Linear("o_proj", heads * v_dim, h),
    ]
    return _Attention(
        linears=tuple(linears),
        extra=(q_lora or 0) + kv_lora,  # their RMSNorms
        kv_width=kv_lora + rope,  # vLLM/SGLang cache the latent, not per-head K and V
        head_dim=nope + rope,  # query and key width per head; values are v_head_dim wide
        note="multi-head latent attention: the KV cache holds the compressed latent",
    )


def _attention(cfg: dict[str, Any], where: str, sz: _DecoderSizes) -> _Attention:
    """q, k, v, o (grouped-query when ``kv_heads < heads``), with biases and q/k norms."""
    if cfg.get("kv_lora_rank"):
        return _latent_attention(cfg, where, sz)
    h, mt, head_dim = sz.h, sz.model_type, sz.head_dim
    q_dims, kv_dims = sz.heads * head_dim, sz.kv_heads * head_dim
    linears = (
        Linear("q_proj", h, q_dims),
        Linear("k_proj", h, kv_dims),
        Linear("v_proj", h, kv_dims),
        Linear("o_proj", q_dims, h),
    )
    bias = bool(cfg.get("attention_bias")) or mt in ("qwen", "qwen2")
    extra = (q_dims + 2 * kv_dims) if bias else 0
    if mt in ("gpt2", "gpt_bigcode", "starcoder2"):
        extra = q_dims + 2 * kv_dims + h  # every projection has a bias
    if mt in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text", "olmo2"):
        extra += 2 * head_dim  # q_norm and k_norm
    return _Attention(linears, extra, 2 * kv_dims, head_dim)


def _mlp_linears(
    sz: _DecoderSizes, prefix: str, width: int, count: int, layers: int
) -> list[Linear]:
    names = ("gate_proj", "up_proj", "down_proj") if sz.glu else ("up_proj", "down_proj")
    dims = [(sz.h, width)] * (len(names) - 1) + [(width, sz.h)]
    return [
        Linear(f"{prefix}{n}" if prefix else n, i, o, count, layers)
        for n, (i, o) in zip(names, dims, strict=True)
    ]


def _moe_layer_count(cfg: dict[str, Any], n_layers: int) -> int:
    """Experts on every ``step``-th layer after the first dense ones, except dense-only ones."""
    first_dense = int(cfg.get("first_k_dense_replace") or 0)
    step = int(_get(cfg, "moe_layer_freq", "decoder_sparse_step", default=1) or 1)
    dense_only = set(cfg.get("mlp_only_layers") or [])
    return sum(
        1
        for i in range(n_layers)
        if i >= first_dense and (i - first_dense) % step == 0 and i not in dense_only
    )


def _mlp(cfg: dict[str, Any], where: str, sz: _DecoderSizes) -> _Mlp:
    """Dense MLPs everywhere, or experts (plus shared experts and a router) on MoE layers."""
    experts = _int(cfg, where, "num_local_experts", "num_experts", "n_routed_experts", default=0)
    active = _int(cfg, where, "num_experts_per_tok", "moe_top_k", default=0) if experts else 0
    if experts and not 0 < active <= experts:
        raise InvalidModelConfig(
            where, f"{experts} experts need num_experts_per_tok between 1 and {experts}"
        )
    moe_layers = _moe_layer_count(cfg, sz.layers) if experts else 0
    dense_layers = sz.layers - moe_layers
    linears = _mlp_linears(sz, "", sz.inter, 1, dense_layers) if dense_layers else []
    if not moe_layers:
        return _Mlp(tuple(linears), experts, active, 0, 0, sz.inter, 0)
    expert_width = int(_get(cfg, "moe_intermediate_size", default=sz.inter))
    shared_width = int(cfg.get("shared_expert_intermediate_size") or 0)
    n_shared = int(cfg.get("n_shared_experts") or 0)
    if n_shared:
        shared_width = n_shared * expert_width
    linears += _mlp_linears(sz, "", expert_width, experts, moe_layers)
    if shared_width:
        linears += _mlp_linears(sz, "shared_expert.", shared_width, 1, moe_layers)
    per_token = active * expert_width + shared_width
    return _Mlp(
        linears=tuple(linears),
        experts=experts,
        active=active,
        moe_layers=moe_layers,
        router=sz.h * experts + (sz.h if cfg.get("shared_expert_intermediate_size") else 0),
        per_token_inter=per_token if dense_layers == 0 else max(sz.inter, per_token),
        inactive=moe_layers * (experts - active) * (3 if sz.glu else 2) * sz.h * expert_width,
        note=f"MoE: {experts} experts resident, {active} active per token",
    )


def _decoder_embeddings(cfg: dict[str, Any], where: str, sz: _DecoderSizes) -> tuple[int, int]:
    """Input embeddings (learned positions included) and the output head (0 when tied)."""
    positions = 0
    if sz.model_type in ("gpt2", "gpt_bigcode"):
        positions = _int(cfg, where, "n_positions", "max_position_embeddings") * sz.h
    return sz.vocab * sz.h + positions, 0 if sz.tied else sz.vocab * sz.h


def _decoder(cfg: dict[str, Any], name: str, where: str, model_type: str | None) -> ModelSpec:
    sz = _decoder_sizes(cfg, where, model_type)
    attn = _attention(cfg, where, sz)
    mlp = _mlp(cfg, where, sz)
    if attn.head_dim == 0:
        raise InvalidModelConfig(where, "head_dim must be positive")
    n_layers, h = sz.layers, sz.h
    # Attention matrices live in every layer: fill in their layer count.
    linears = tuple(
        replace(lin, layers=n_layers) if lin.layers == 0 else lin
        for lin in (*attn.linears, *mlp.linears)
    )
    matrices = sum(lin.fan_in * lin.fan_out * lin.per_layer * lin.layers for lin in linears)
    norms = n_layers * (4 if model_type and "gemma" in model_type else 2) * h + h
    mlp_bias = (sz.inter + h) if model_type in ("gpt2", "gpt_bigcode", "starcoder2") else 0
    embed, head = _decoder_embeddings(cfg, where, sz)
    params = (
        embed + head + matrices + norms + n_layers * (attn.extra + mlp_bias)
        + mlp.moe_layers * mlp.router
    )  # fmt: skip
    notes = [n for n in (attn.note, mlp.note) if n]
    if model_type not in _KNOWN_DECODERS:
        notes.append(
            f"architecture {model_type or 'unnamed'!s} is not one the planner knows: read as a "
            "Llama-style decoder from its sizes (attention, MLP, norms); check the parameter count"
        )
    window, windowed = _sliding_window(cfg, model_type, n_layers)
    if window:
        notes.append(f"sliding window of {window} tokens on {windowed} of {n_layers} layers")
    max_ctx = _int(cfg, where, "max_position_embeddings", "n_positions", "seq_length", default=0)
    return ModelSpec(
        name=name,
        kind="decoder",
        model_type=model_type,
        params=params,
        active_params=params - mlp.inactive,
        embedding_params=embed + head,
        hidden=h,
        layers=n_layers,
        heads=sz.heads,
        kv_heads=sz.kv_heads,
        head_dim=attn.head_dim,
        kv_width=attn.kv_width,
        intermediate=mlp.per_token_inter,
        glu=sz.glu,
        vocab=sz.vocab,
        max_context=max_ctx or None,
        tied_embeddings=sz.tied,
        experts=mlp.experts,
        active_experts=mlp.active,
        window=window,
        windowed_layers=windowed,
        linears=linears,
        notes=tuple(notes),
    )


def _sliding_window(
    cfg: dict[str, Any], model_type: str | None, n_layers: int
) -> tuple[int | None, int]:
    """Window size and how many layers use it, from the several ways configs say it."""
    window = cfg.get("sliding_window")
    if not window or cfg.get("use_sliding_window") is False:
        return None, 0
    window = int(window)
    types = cfg.get("layer_types")
    if isinstance(types, list) and types:
        return window, sum(1 for t in types if "sliding" in str(t))
    pattern = cfg.get("sliding_window_pattern")
    if model_type in ("gemma3", "gemma3_text"):
        pattern = pattern or 6  # five local layers, then one global
    if pattern:
        return window, n_layers - n_layers // int(pattern)
    if model_type == "gemma2":
        return window, n_layers // 2  # local and global layers alternate
    if model_type in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe"):
        first_global = int(cfg.get("max_window_layers") or n_layers)
        return window, max(0, n_layers - first_global)
    return window, n_layers


def _encoder(cfg: dict[str, Any], name: str, where: str, model_type: str) -> ModelSpec:
    h = _int(cfg, where, "hidden_size", "dim")
    n_layers = _int(cfg, where, "num_hidden_layers", "n_layers")
    heads = _int(cfg, where, "num_attention_heads", "n_heads")
    inter = _int(cfg, where, "intermediate_size", "hidden_dim", default=4 * h)
    glu = model_type == "modernbert"
    notes: list[str] = []
    if model_type == "vit":
        image = _int(cfg, where, "image_size", default=224)
        patch = _int(cfg, where, "patch_size", default=16)
        channels = _int(cfg, where, "num_channels", default=3)
        tokens = (image // patch) ** 2 + 1
        embed = channels * patch * patch * h + h + tokens * h + h  # conv, bias, positions, cls
        vocab = 0
        max_ctx: int | None = tokens
    else:
        vocab = _int(cfg, where, "vocab_size")
        max_ctx = _get(cfg, "max_position_embeddings", default=512)
        positions = 0 if model_type == "modernbert" else int(max_ctx or 512) * h
        types = int(cfg.get("type_vocab_size") or 0) * h
        embed = vocab * h + positions + types + 2 * h
        tokens = None
    bias = model_type != "modernbert"
    attn = 4 * h * h + (4 * h if bias else 0)
    mlp = (3 if glu else 2) * h * inter + ((inter + h) if bias else 0)
    if glu:  # ModernBERT's Wi projects to 2 * intermediate (gate and up in one matrix)
        mlp = 2 * h * inter + h * inter
    norms = 4 * h if bias else 2 * h
    pooler = h * h + h if model_type in ("bert", "roberta", "xlm-roberta", "vit") else 0
    params = embed + n_layers * (attn + mlp + norms) + pooler + 2 * h
    linears = (
        Linear("query", h, h, 1, n_layers),
        Linear("key", h, h, 1, n_layers),
        Linear("value", h, h, 1, n_layers),
        Linear("dense", h, h, 1, n_layers),
        Linear("intermediate", h, inter * (2 if glu else 1), 1, n_layers),
        Linear("output", inter, h, 1, n_layers),
    )
    return ModelSpec(
        name=name,
        kind="encoder",
        model_type=model_type,
        params=params,
        active_params=params,
        embedding_params=vocab * h,
        hidden=h,
        layers=n_layers,
        heads=heads,
        kv_heads=heads,
        head_dim=h // heads,
        intermediate=inter,
        glu=glu,
        vocab=vocab,
        max_context=max_ctx,
        encoder_tokens=tokens,
        linears=linears,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class _Seq2Seq:
    """An encoder-decoder's sizes and parameter count, as each family defines them."""

    d: int
    enc: int
    dec: int
    heads: int
    head_dim: int
    ff: int
    glu: bool
    params: int
    embed: int
    head: int
    max_ctx: int | None
    tokens: int | None  # Whisper: the encoder's fixed 1,500 audio frames


def _whisper(cfg: dict[str, Any], where: str, d: int, vocab: int) -> _Seq2Seq:
    enc = _int(cfg, where, "encoder_layers")
    dec = _int(cfg, where, "decoder_layers")
    heads = _int(cfg, where, "decoder_attention_heads", "encoder_attention_heads")
    ff = _int(cfg, where, "decoder_ffn_dim", "encoder_ffn_dim")
    mels = _int(cfg, where, "num_mel_bins", default=80)
    src = _int(cfg, where, "max_source_positions", default=1500)
    tgt = _int(cfg, where, "max_target_positions", default=448)
    attn = 4 * d * d + 3 * d  # q, k, v, o; k has no bias
    mlp = 2 * d * ff + ff + d
    enc_layer = attn + mlp + 4 * d
    dec_layer = 2 * attn + mlp + 6 * d
    embed = vocab * d + tgt * d + src * d + (mels * d * 3 + d) + (d * d * 3 + d)
    params = embed + enc * enc_layer + dec * dec_layer + 4 * d
    return _Seq2Seq(d, enc, dec, heads, d // heads, ff, False, params, embed, 0, tgt, src)


def _t5(cfg: dict[str, Any], where: str, d: int, vocab: int) -> _Seq2Seq:
    """T5 family: no biases, relative positions, gated-gelu in Flan-T5."""
    enc = _int(cfg, where, "num_layers")
    dec = _int(cfg, where, "num_decoder_layers", default=enc)
    heads = _int(cfg, where, "num_heads")
    head_dim = _int(cfg, where, "d_kv", default=d // heads)
    ff = _int(cfg, where, "d_ff")
    glu = "gated" in str(cfg.get("feed_forward_proj", ""))
    attn = 4 * d * heads * head_dim
    mlp = (3 if glu else 2) * d * ff
    rel = 32 * heads  # relative attention bias, first layer of each stack
    head = 0 if cfg.get("tie_word_embeddings", True) else vocab * d
    embed = vocab * d
    params = embed + head + enc * (attn + mlp + 2 * d) + dec * (2 * attn + mlp + 3 * d)
    params += 2 * rel + 2 * d
    return _Seq2Seq(d, enc, dec, heads, head_dim, ff, glu, params, embed, head, None, None)


def _encoder_decoder(cfg: dict[str, Any], name: str, where: str, model_type: str) -> ModelSpec:
    d = _int(cfg, where, "d_model", "hidden_size")
    vocab = _int(cfg, where, "vocab_size")
    m = (_whisper if model_type == "whisper" else _t5)(cfg, where, d, vocab)
    width, attn_layers, mlp_layers = m.heads * m.head_dim, m.enc + 2 * m.dec, m.enc + m.dec
    linears = (
        Linear("q", d, width, 1, attn_layers),
        Linear("k", d, width, 1, attn_layers),
        Linear("v", d, width, 1, attn_layers),
        Linear("o", width, d, 1, attn_layers),
        Linear("fc1", d, m.ff * (2 if m.glu else 1), 1, mlp_layers),
        Linear("fc2", m.ff, d, 1, mlp_layers),
    )
    return ModelSpec(
        name=name,
        kind="encoder-decoder",
        model_type=model_type,
        params=m.params,
        active_params=m.params,
        embedding_params=m.embed + m.head,
        hidden=d,
        layers=m.enc + m.dec,
        heads=m.heads,
        kv_heads=m.heads,
        head_dim=m.head_dim,
        kv_width=2 * width,
        intermediate=m.ff,
        glu=m.glu,
        vocab=vocab,
        max_context=m.max_ctx,
        decoder_layers=m.dec,
        encoder_tokens=m.tokens,
        linears=linears,
    )


def _vision_tower(cfg: dict[str, Any]) -> int:
    """Parameters of a ViT/SigLIP tower from its sizes (used for multimodal checkpoints)."""
    h = int(cfg.get("hidden_size") or 0)
    n = int(cfg.get("num_hidden_layers") or 0)
    inter = int(cfg.get("intermediate_size") or 4 * h)
    image, patch = int(cfg.get("image_size") or 224), int(cfg.get("patch_size") or 14)
    per_layer = 4 * h * h + 4 * h + 2 * h * inter + inter + h + 4 * h
    return n * per_layer + 3 * patch * patch * h + (image // patch) ** 2 * h


def _diffusion(cfg: dict[str, Any], name: str, where: str) -> ModelSpec:
    components = cfg.get("components")
    if not isinstance(components, dict) or not components:
        raise InvalidModelConfig(where, "a diffusion entry needs its 'components' counts")
    counts = {str(k): int(v) for k, v in components.items()}
    total = sum(counts.values())
    return ModelSpec(
        name=name,
        kind="diffusion",
        model_type="diffusion",
        params=total,
        active_params=total,
        embedding_params=0,
        components=counts,
        default_resolution=int(cfg.get("default_resolution") or 512),
        notes=(
            "diffusion pipeline: weights counted per component; activations are a rough "
            "allowance, not derived from the network",
        ),
    )


def _params_only(cfg: dict[str, Any], name: str, where: str) -> ModelSpec:
    count = _get(cfg, "num_parameters", "n_params", "num_params")
    if not count:
        raise InvalidModelConfig(
            where,
            f"unknown architecture {cfg.get('model_type')!r} and no parameter count "
            "(num_parameters) to fall back on",
        )
    return params_only(name, int(count), cfg.get("model_type"))


def params_only(name: str, count: int, model_type: str | None = None) -> ModelSpec:
    """A model known only by its parameter count: weights are exact, the rest a rough guess."""
    return ModelSpec(
        name=name,
        kind="params-only",
        model_type=model_type,
        params=count,
        active_params=count,
        embedding_params=0,
        notes=(
            f"architecture {model_type or 'unknown'!s} is not one the planner reads: the estimate "
            "uses the parameter count only (weights exact; KV cache and activations a rough "
            "allowance)",
        ),
    )
