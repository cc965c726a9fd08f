"""Parameter counts and the architecture facts that change memory, read from configs."""

from __future__ import annotations

import pytest

from rigml.fit import InvalidModelConfig, load_model, spec_from_config
from rigml.fit.catalogue import models


@pytest.mark.parametrize("name", list(models()))
def test_catalogue_counts_match_published(name: str) -> None:
    entry = models()[name]
    spec = load_model(name)
    assert spec.params == pytest.approx(entry.params_b * 1e9, rel=0.03), spec.params
    if entry.active_params_b and spec.kind == "decoder":
        # Vendors count active parameters differently (with or without embeddings).
        assert spec.active_params == pytest.approx(entry.active_params_b * 1e9, rel=0.35)


def test_catalogue_has_the_families_the_issue_names() -> None:
    names = set(models())
    assert len(names) >= 40
    for required in (
        "llama-3.1-405b",
        "mixtral-8x22b",
        "qwen3-30b-a3b",
        "deepseek-v3",
        "gemma-3-27b",
        "phi-4",
        "bert-base",
        "modernbert-base",
        "vit-base-patch16-224",
        "whisper-large-v3",
        "sd-1.5",
    ):
        assert required in names


LLAMA_8B = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "tie_word_embeddings": False,
}


def test_grouped_query_attention_sets_the_kv_width() -> None:
    gqa = spec_from_config(LLAMA_8B, name="x")
    mha = spec_from_config({**LLAMA_8B, "num_key_value_heads": 32}, name="y")
    assert gqa.kv_width == 2 * 8 * 128
    assert mha.kv_width == 4 * gqa.kv_width
    assert gqa.params == 8_030_261_248  # Meta's published count, to the parameter


def test_tied_embeddings_drop_the_output_head() -> None:
    untied = spec_from_config(LLAMA_8B, name="x")
    tied = spec_from_config({**LLAMA_8B, "tie_word_embeddings": True}, name="y")
    assert untied.params - tied.params == 128256 * 4096


def test_moe_keeps_every_expert_but_activates_few() -> None:
    spec = load_model("mixtral-8x7b")
    assert spec.experts == 8 and spec.active_experts == 2
    assert spec.params == pytest.approx(46.7e9, rel=0.01)
    assert spec.active_params == pytest.approx(12.9e9, rel=0.02)


def test_mla_caches_the_compressed_latent() -> None:
    spec = load_model("deepseek-v3")
    assert spec.kv_width == 512 + 64  # kv_lora_rank + qk_rope_head_dim
    assert spec.params == pytest.approx(671e9, rel=0.01)


def test_sliding_windows_are_read_per_family() -> None:
    mistral = load_model("mistral-7b-v0.1")
    assert (mistral.window, mistral.windowed_layers) == (4096, mistral.layers)
    gemma2 = load_model("gemma-2-9b")
    assert gemma2.windowed_layers == gemma2.layers // 2
    gemma3 = load_model("gemma-3-27b")
    assert gemma3.windowed_layers == gemma3.layers - gemma3.layers // 6
    assert load_model("qwen2.5-7b").window is None  # use_sliding_window is false


def test_encoders_and_encoder_decoders() -> None:
    vit = load_model("vit-base-patch16-224")
    assert vit.kind == "encoder" and vit.encoder_tokens == 197
    whisper = load_model("whisper-large-v3")
    assert whisper.kind == "encoder-decoder" and whisper.kv_layers == 32


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ([1, 2], "expected a JSON object"),
        ({"model_type": "llama", "hidden_size": 64}, "num_hidden_layers"),
        ({**LLAMA_8B, "hidden_size": "big"}, "non-negative number"),
        ({**LLAMA_8B, "num_attention_heads": 0}, "must be positive"),
        ({"model_type": "mamba-x"}, "no parameter count"),
        ({"model_type": "diffusion"}, "components"),
    ],
)
def test_malformed_configs_say_what_is_wrong(config: object, problem: str) -> None:
    with pytest.raises(InvalidModelConfig, match=problem):
        spec_from_config(config, name="bad")  # type: ignore[arg-type]


def test_unknown_architecture_falls_back_to_its_parameter_count() -> None:
    spec = spec_from_config({"model_type": "rwkv9", "num_parameters": 3_000_000_000}, name="r")
    assert spec.kind == "params-only" and spec.params == 3_000_000_000
    assert "parameter count only" in spec.notes[0]
