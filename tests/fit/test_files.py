"""Weight-file headers: safetensors and GGUF, read without loading weights.

GGUF files are written by the reference writer (the ``gguf`` package from llama.cpp), so
the reader is checked against the format as its maintainers write it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from rigml.fit import FitRequest, InvalidModelConfig, estimate, load_model
from rigml.fit._files import read_gguf

gguf = pytest.importorskip("gguf")  # in the test extra; the reader itself needs nothing

H, FF, LAYERS, VOCAB = 64, 192, 2, 100


def _safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> Path:
    header, offset = {}, 0
    sizes = {"BF16": 2, "F32": 4, "I32": 4}
    for name, (dtype, shape) in tensors.items():
        n = int(np.prod(shape)) * sizes[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)
    return path


def _llama_tensors() -> dict[str, tuple[str, list[int]]]:
    t = {"model.embed_tokens.weight": ("BF16", [VOCAB, H]), "lm_head.weight": ("BF16", [VOCAB, H])}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        t |= {
            p + "self_attn.q_proj.weight": ("BF16", [H, H]),
            p + "self_attn.k_proj.weight": ("BF16", [H // 2, H]),
            p + "self_attn.v_proj.weight": ("BF16", [H // 2, H]),
            p + "self_attn.o_proj.weight": ("BF16", [H, H]),
            p + "mlp.gate_proj.weight": ("BF16", [FF, H]),
            p + "mlp.up_proj.weight": ("BF16", [FF, H]),
            p + "mlp.down_proj.weight": ("BF16", [H, FF]),
            p + "input_layernorm.weight": ("BF16", [H]),
            p + "post_attention_layernorm.weight": ("BF16", [H]),
        }
    return t | {"model.norm.weight": ("BF16", [H])}


def test_safetensors_folder_gives_exact_counts(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    config = {
        "model_type": "llama",
        "hidden_size": H,
        "intermediate_size": FF,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": VOCAB,
        "tie_word_embeddings": False,
    }
    (folder / "config.json").write_text(json.dumps(config))
    tensors = _llama_tensors()
    half = len(tensors) // 2
    names = list(tensors)
    _safetensors(folder / "model-00001-of-00002.safetensors", {n: tensors[n] for n in names[:half]})
    _safetensors(folder / "model-00002-of-00002.safetensors", {n: tensors[n] for n in names[half:]})
    spec = load_model(str(folder))
    expected = sum(int(np.prod(s)) for _, s in tensors.values())
    assert spec.params == expected
    assert spec.stored_bytes == expected * 2 and spec.stored_format == "bf16"
    assert spec.kv_width == 2 * 2 * 16


def test_safetensors_without_config_guesses_from_shapes(tmp_path: Path) -> None:
    path = _safetensors(tmp_path / "model.safetensors", _llama_tensors())
    spec = load_model(str(path))
    assert spec.kind == "decoder" and spec.layers == LAYERS and spec.hidden == H
    assert spec.vocab == VOCAB and spec.intermediate == FF


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x01\x02", "too short"),
        (struct.pack("<Q", 10) + b"{", "truncated"),
        (struct.pack("<Q", 4) + b"nope", "not JSON"),
        (struct.pack("<Q", 2**40), "not plausible"),
        (struct.pack("<Q", 14) + b'{"a": {"x":1}}', "malformed entry"),
    ],
)
def test_bad_safetensors(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(InvalidModelConfig, match=problem):
        load_model(str(path))


def _write_gguf(path: Path, qtype: object = None) -> Path:
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(LAYERS)
    w.add_context_length(2048)
    w.add_embedding_length(H * 4)
    w.add_feed_forward_length(FF * 4)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_file_type(15)  # Q4_K_M
    w.add_token_list([f"t{i}" for i in range(VOCAB)])
    hidden = H * 4
    w.add_tensor("token_embd.weight", np.zeros((VOCAB, hidden), dtype=np.float16))
    q4k = gguf.GGMLQuantizationType.Q4_K
    block, size = gguf.GGML_QUANT_SIZES[q4k]
    for i in range(LAYERS):
        for name, shape in (("attn_q", (hidden, hidden)), ("ffn_up", (FF * 4, hidden))):
            n = shape[0] * shape[1] // block * size
            w.add_tensor(
                f"blk.{i}.{name}.weight",
                np.zeros(n, dtype=np.uint8),
                raw_shape=(shape[0], shape[1] // block * size),
                raw_dtype=q4k,
            )
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_gguf_header_matches_the_reference_writer(tmp_path: Path) -> None:
    path = _write_gguf(tmp_path / "tiny-Q4_K_M.gguf")
    wf = read_gguf(path)
    hidden = H * 4
    assert wf.metadata["llama.block_count"] == LAYERS
    assert wf.metadata["tokenizer.ggml.tokens"] == VOCAB  # kept as its length
    q4k_bytes = LAYERS * (hidden * hidden + FF * 4 * hidden) // 256 * 144
    assert wf.stored_bytes == VOCAB * hidden * 2 + q4k_bytes
    assert wf.params == VOCAB * hidden + LAYERS * (hidden * hidden + FF * 4 * hidden)
    spec = load_model(str(path))
    assert spec.stored_format == "Q4_K_M" and spec.layers == LAYERS and spec.vocab == VOCAB
    # a GGUF's weights cost what the file holds
    est = estimate(spec, FitRequest().resolved(spec.max_context))
    assert est.parts["weights"] == wf.stored_bytes


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda b: b"GGML" + b[4:], "magic"),
        (lambda b: b[:4] + struct.pack("<I", 1) + b[8:], "version 1"),
        (lambda b: b[:200], "truncated"),
    ],
)
def test_bad_gguf(tmp_path: Path, mutate, problem: str) -> None:
    good = _write_gguf(tmp_path / "good.gguf").read_bytes()
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(mutate(good))
    with pytest.raises(InvalidModelConfig, match=problem):
        load_model(str(bad))


def test_unreadable_and_unsupported_paths(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(InvalidModelConfig, match="unsupported file type"):
        load_model(str(tmp_path / "weights.bin"))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InvalidModelConfig, match="not valid JSON"):
        load_model(str(tmp_path / "config.json"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidModelConfig, match=r"no config\.json"):
        load_model(str(empty))
    with pytest.raises(InvalidModelConfig, match="no such file"):
        load_model(str(tmp_path / "missing.gguf"))
