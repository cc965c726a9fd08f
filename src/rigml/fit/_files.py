"""Headers of weight files: safetensors and GGUF, read without loading a single weight.

Both formats put a self-describing header in front of the tensors, so a 40 GB file costs
a few kilobytes of reading (plus the tokenizer's vocabulary in a GGUF header). The GGUF
reader follows the format's specification (ggml ``docs/gguf.md``, versions 2 and 3) and
is checked in the tests against files written by the reference ``gguf`` package. Writing
it here, rather than depending on ``gguf``, keeps the base install free of a reader that
memory-maps the whole file through NumPy for a header of a few kilobytes.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from typing import IO, Any

from rigml.fit.architecture import InvalidModelConfig

# ggml tensor types: (elements per block, bytes per block); ggml/include/ggml.h, ggml.c.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}
# general.file_type (llama.cpp's LLAMA_FTYPE): the name users know a GGUF file by.
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
}  # fmt: skip
SAFETENSORS_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
    "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8,
}  # fmt: skip
_MAX_HEADER = 100 * 2**20  # safetensors caps its header at 100 MB
_EMBED_NAMES = ("embed_tokens", "wte", "word_embeddings", "token_embd", "lm_head", "output.")


@dataclass
class WeightFile:
    """What a weight file's header says: tensors' element counts and stored bytes."""

    path: str
    format: str  # "safetensors" | "gguf"
    params: int = 0
    stored_bytes: int = 0
    embedding_params: int = 0
    dtype_bytes: dict[str, int] = field(default_factory=dict)  # stored bytes by tensor type
    shapes: dict[str, list[int]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def main_type(self) -> str | None:
        return (
            max(self.dtype_bytes, key=lambda k: self.dtype_bytes[k]) if self.dtype_bytes else None
        )


def _add(wf: WeightFile, name: str, shape: list[int], dtype: str, nbytes: int) -> None:
    count = math.prod(shape) if shape else 1
    wf.params += count
    wf.stored_bytes += nbytes
    wf.dtype_bytes[dtype] = wf.dtype_bytes.get(dtype, 0) + nbytes
    wf.shapes[name] = shape
    if any(k in name for k in _EMBED_NAMES) and len(shape) == 2:
        wf.embedding_params += count


def read_safetensors(path: str | os.PathLike[str], into: WeightFile | None = None) -> WeightFile:
    """Read a ``.safetensors`` header: 8-byte little-endian length, then a JSON table.

    Raises:
        InvalidModelConfig: the file is truncated or its header is not that table.
    """
    where = os.fspath(path)
    wf = into or WeightFile(path=where, format="safetensors")
    try:
        with open(where, "rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                raise InvalidModelConfig(where, "the file is too short to be safetensors")
            (length,) = struct.unpack("<Q", raw)
            if length > _MAX_HEADER:
                raise InvalidModelConfig(where, f"header length {length} is not plausible")
            body = fh.read(length)
    except OSError as exc:
        raise InvalidModelConfig(where, exc.strerror or str(exc)) from exc
    if len(body) != length:
        raise InvalidModelConfig(where, "the header is truncated")
    try:
        header = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidModelConfig(where, f"the header is not JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise InvalidModelConfig(where, "the header is not a JSON object")
    wf.metadata.update(header.pop("__metadata__", None) or {})
    for name, info in header.items():
        try:
            dtype, shape = str(info["dtype"]), [int(d) for d in info["shape"]]
            start, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidModelConfig(where, f"tensor {name!r} has a malformed entry") from exc
        _add(wf, name, shape, dtype, end - start)
    return wf


# ---------------------------------------------------------------------------- GGUF

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
            11: "<q", 12: "<d"}  # fmt: skip
_STRING, _ARRAY = 8, 9


class _Reader:
    def __init__(self, fh: IO[bytes], where: str) -> None:
        self.fh, self.where = fh, where

    def take(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise InvalidModelConfig(self.where, "the GGUF header is truncated")
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > 2**24:
            raise InvalidModelConfig(self.where, f"a string of {n} bytes is not plausible")
        return self.take(n).decode("utf-8", errors="replace")

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            inner, count = self.unpack("<I"), self.unpack("<Q")
            if count > 2**26:
                raise InvalidModelConfig(self.where, f"an array of {count} items is not plausible")
            if inner in _SCALARS:  # read numbers in one go
                size = struct.calcsize(_SCALARS[inner])
                return list(struct.unpack(f"<{count}{_SCALARS[inner][1]}", self.take(size * count)))
            return [self.value(inner) for _ in range(count)]
        raise InvalidModelConfig(self.where, f"unknown GGUF value type {vtype}")


def read_gguf(path: str | os.PathLike[str]) -> WeightFile:
    """Read a GGUF header: metadata key/values and every tensor's shape and type.

    The tokenizer's vocabulary array is kept only as its length.

    Raises:
        InvalidModelConfig: not a GGUF file, an unsupported version, or a truncated header.
    """
    where = os.fspath(path)
    wf = WeightFile(path=where, format="gguf")
    try:
        with open(where, "rb") as raw:
            fh = _Reader(raw, where)
            if fh.take(4) != b"GGUF":
                raise InvalidModelConfig(where, "it does not start with the GGUF magic bytes")
            version = fh.unpack("<I")
            if version not in (2, 3):
                raise InvalidModelConfig(where, f"GGUF version {version} is not supported (2, 3)")
            n_tensors, n_kv = fh.unpack("<Q"), fh.unpack("<Q")
            if n_tensors > 2**20 or n_kv > 2**20:
                raise InvalidModelConfig(where, "the tensor or key count is not plausible")
            for _ in range(n_kv):
                key = fh.string()
                value = fh.value(fh.unpack("<I"))
                wf.metadata[key] = len(value) if key == "tokenizer.ggml.tokens" else value
            for _ in range(n_tensors):
                name = fh.string()
                n_dims = fh.unpack("<I")
                if n_dims > 8:
                    raise InvalidModelConfig(where, f"tensor {name!r} has {n_dims} dimensions")
                shape = [fh.unpack("<Q") for _ in range(n_dims)]
                ttype = fh.unpack("<I")
                fh.unpack("<Q")  # offset into the data section
                if ttype not in GGML_TYPES:
                    raise InvalidModelConfig(where, f"tensor {name!r} has unknown type {ttype}")
                type_name, block, size = GGML_TYPES[ttype]
                count = math.prod(shape) if shape else 1
                _add(wf, name, shape, type_name, count // block * size)
    except OSError as exc:
        raise InvalidModelConfig(where, exc.strerror or str(exc)) from exc
    return wf


def gguf_config(wf: WeightFile) -> dict[str, Any]:
    """An HF-style config from GGUF metadata (``{arch}.embedding_length`` and friends)."""
    md = wf.metadata
    arch = str(md.get("general.architecture", ""))

    def get(key: str) -> Any:
        value = md.get(f"{arch}.{key}")
        return max(value) if isinstance(value, list) and value else value

    config = {
        "model_type": arch,
        "hidden_size": get("embedding_length"),
        "num_hidden_layers": get("block_count"),
        "intermediate_size": get("feed_forward_length"),
        "num_attention_heads": get("attention.head_count"),
        "num_key_value_heads": get("attention.head_count_kv"),
        "head_dim": get("attention.key_length"),
        "max_position_embeddings": get("context_length"),
        "vocab_size": md.get("tokenizer.ggml.tokens") or get("vocab_size"),
        "sliding_window": get("attention.sliding_window"),
        "num_local_experts": get("expert_count"),
        "num_experts_per_tok": get("expert_used_count"),
        "moe_intermediate_size": get("expert_feed_forward_length"),
        "tie_word_embeddings": "output.weight" not in wf.shapes,
    }
    return {k: v for k, v in config.items() if v is not None}


def file_type_name(wf: WeightFile) -> str | None:
    """The GGUF's quantisation as llama.cpp names it (``Q4_K_M``), from ``general.file_type``."""
    ftype = wf.metadata.get("general.file_type")
    return FILE_TYPES.get(ftype) if isinstance(ftype, int) else wf.main_type
