"""Bytes per weight and per cached token: dtypes, weight quantisation and KV-cache types.

Each figure names where it comes from. Quantised formats carry their real storage cost
(block scales and zero points included), not the nominal bit width: nf4 is 4.5 bits per
weight, not 4.
"""

from __future__ import annotations

from dataclasses import dataclass

from rigml.errors import InvalidInput

DTYPE_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0}


@dataclass(frozen=True)
class WeightFormat:
    """How weights are stored on the GPU.

    ``bits`` is the average storage per quantised weight. ``keeps_embeddings`` means the
    format leaves embeddings and the output head in 16 bits (bitsandbytes, GPTQ, AWQ);
    GGUF files quantise them too (their mix is inside ``bits``).
    """

    name: str
    bits: float
    family: str  # "float" | "bnb" | "gptq" | "awq" | "gguf"
    keeps_embeddings: bool
    source: str
    quality: int  # 0 lossless ... 4 noticeable; orders mitigations by cost to quality

    @property
    def quantised(self) -> bool:
        return self.family != "float"


_BNB = "bitsandbytes: Dettmers et al. 2023 (QLoRA, section 2: blocks of 64, fp32 absmax)"
_GPTQ = "GPTQ/AWQ 4-bit, group size 128: fp16 scale and packed 4-bit zero point per group"
_GGUF = (
    "llama.cpp tools/quantize README: bits per weight of the whole file, Llama 3.1 8B where "
    "listed (K-quants, IQ4_XS, IQ2_XXS), Llama 2 7B otherwise"
)

WEIGHT_FORMATS: dict[str, WeightFormat] = {
    f.name: f
    for f in (
        WeightFormat("fp32", 32.0, "float", False, "IEEE 754 single precision", 0),
        WeightFormat("bf16", 16.0, "float", False, "bfloat16", 0),
        WeightFormat("fp16", 16.0, "float", False, "IEEE 754 half precision", 0),
        # LLM.int8(): int8 weights plus one fp32 scale per output row (negligible).
        WeightFormat("int8", 8.0, "bnb", True, "bitsandbytes LLM.int8(), Dettmers et al. 2022", 1),
        # 4 bits + fp32 absmax per 64 weights = 4.5; double quantisation stores the absmax
        # in 8 bits with an fp32 constant per 256 blocks: 4 + 8/64 + 32/(64*256) = 4.127.
        WeightFormat("nf4", 4.5, "bnb", True, _BNB, 2),
        WeightFormat("fp4", 4.5, "bnb", True, _BNB, 3),
        WeightFormat("nf4-dq", 4 + 8 / 64 + 32 / (64 * 256), "bnb", True, _BNB, 2),
        WeightFormat("fp4-dq", 4 + 8 / 64 + 32 / (64 * 256), "bnb", True, _BNB, 3),
        WeightFormat("gptq-4bit", 4 + 16 / 128 + 4 / 128, "gptq", True, _GPTQ, 2),
        WeightFormat("gptq-8bit", 8 + 16 / 128 + 8 / 128, "gptq", True, _GPTQ, 1),
        WeightFormat("awq-4bit", 4 + 16 / 128 + 4 / 128, "awq", True, _GPTQ, 2),
        WeightFormat("fp8", 8.0, "fp8", True, "FP8 E4M3 weights with per-tensor scales", 1),
        # OCP microscaling FP4: 4-bit values plus one 8-bit scale per 32 (gpt-oss experts)
        WeightFormat("mxfp4", 4 + 8 / 32, "mxfp4", True, "OCP Microscaling (MX) v1.0, MXFP4", 2),
        WeightFormat("Q8_0", 8.5, "gguf", False, _GGUF, 1),
        WeightFormat("Q6_K", 6.56, "gguf", False, _GGUF, 1),
        WeightFormat("Q5_K_M", 5.70, "gguf", False, _GGUF, 2),
        WeightFormat("Q5_K_S", 5.57, "gguf", False, _GGUF, 2),
        WeightFormat("Q5_0", 5.54, "gguf", False, _GGUF, 2),
        WeightFormat("Q4_K_M", 4.89, "gguf", False, _GGUF, 2),
        WeightFormat("Q4_K_S", 4.67, "gguf", False, _GGUF, 3),
        WeightFormat("Q4_0", 4.55, "gguf", False, _GGUF, 3),
        WeightFormat("IQ4_XS", 4.46, "gguf", False, _GGUF, 3),
        WeightFormat("Q3_K_L", 4.27, "gguf", False, _GGUF, 3),
        WeightFormat("Q3_K_M", 3.91, "gguf", False, _GGUF, 4),
        WeightFormat("Q3_K_S", 3.64, "gguf", False, _GGUF, 4),
        WeightFormat("Q2_K", 3.16, "gguf", False, _GGUF, 4),
        WeightFormat("IQ2_XXS", 2.38, "gguf", False, _GGUF, 4),
    )
}

# Bytes per cached element. q8_0 and q4_0 are llama.cpp's block formats (32 values plus an
# fp16 scale: 34 and 18 bytes); fp8 is vLLM's --kv-cache-dtype fp8.
KV_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "q8_0": 34 / 32, "q4_0": 18 / 32}

_ALIASES = {
    "float32": "fp32",
    "float16": "fp16",
    "half": "fp16",
    "bfloat16": "bf16",
    "8bit": "int8",
    "llm.int8": "int8",
    "4bit": "nf4",
    "gptq": "gptq-4bit",
    "gptq-int4": "gptq-4bit",
    "gptq-int8": "gptq-8bit",
    "awq": "awq-4bit",
    "awq-int4": "awq-4bit",
}


class UnknownFormat(InvalidInput):
    def __init__(self, what: str, value: str, known: list[str]) -> None:
        import difflib

        close = difflib.get_close_matches(value, known, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"one of: {', '.join(known)}"
        super().__init__(f"unknown {what} {value!r}", hint=hint)
        self.value = value


def weight_format(name: str, *, double_quant: bool = False) -> WeightFormat:
    """The format named by ``--quant`` or ``--dtype`` (case-insensitive for GGUF types).

    Raises:
        UnknownFormat: ``name`` is no known format; the hint lists close matches.
    """
    key = _ALIASES.get(name.lower(), name)
    fmt = (
        WEIGHT_FORMATS.get(key)
        or WEIGHT_FORMATS.get(key.upper())
        or WEIGHT_FORMATS.get(key.lower())
    )
    if fmt is None:
        raise UnknownFormat("weight format", name, sorted(WEIGHT_FORMATS))
    if double_quant:
        if fmt.family != "bnb" or fmt.name == "int8":
            raise InvalidInput(
                f"double quantisation applies to bitsandbytes 4-bit (nf4, fp4), not {fmt.name}",
                hint="drop --double-quant, or use --quant nf4",
            )
        fmt = WEIGHT_FORMATS[fmt.name.removesuffix("-dq") + "-dq"]
    return fmt


def kv_bytes(name: str) -> float:
    """Bytes per cached element for ``--kv-dtype``.

    Raises:
        UnknownFormat: not a KV-cache type the planner knows.
    """
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in KV_BYTES:
        raise UnknownFormat("KV-cache dtype", name, sorted(KV_BYTES))
    return KV_BYTES[key]
