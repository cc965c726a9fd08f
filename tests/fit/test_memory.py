"""The memory formulas, each checked by hand on a small configuration."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rigml.fit import FitRequest, estimate, spec_from_config
from rigml.fit.memory import kv_cache_bytes

TINY = {
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 768,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "vocab_size": 1000,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": False,
}


def est(req: FitRequest, config: dict | None = None):
    spec = spec_from_config(config or TINY, name="tiny")
    return estimate(spec, req.resolved(spec.max_context))


def test_kv_cache_is_exact() -> None:
    spec = spec_from_config(TINY, name="tiny")
    req = FitRequest(context=1000, batch=3).resolved(None)
    # batch x tokens x layers x (K and V) x kv_heads x head_dim x 2 bytes
    assert kv_cache_bytes(spec, req, 1000, 3) == 3 * 1000 * 4 * 2 * 2 * 32 * 2
    fp8 = replace(req, kv_dtype="fp8")
    assert kv_cache_bytes(spec, fp8, 1000, 3) * 2 == kv_cache_bytes(spec, req, 1000, 3)


def test_sliding_window_caps_the_cache() -> None:
    windowed = {**TINY, "sliding_window": 256}
    long = FitRequest(context=4096)
    assert est(long, windowed).parts["kv_cache"] * 16 == est(long).parts["kv_cache"]


def test_weights_follow_the_format() -> None:
    spec = spec_from_config(TINY, name="tiny")
    bf16 = est(FitRequest()).parts["weights"]
    assert bf16 == spec.params * 2
    nf4 = est(FitRequest(quant="nf4")).parts["weights"]
    # nf4 quantises the matrices; embeddings and the untied head stay 16-bit
    assert nf4 == int((spec.params - spec.embedding_params) * 4.5 / 8 + spec.embedding_params * 2)
    assert (
        est(FitRequest(quant="Q4_K_M")).parts["weights"]
        < est(FitRequest(quant="int8")).parts["weights"]
        < bf16
    )


def test_memory_grows_with_context_and_batch() -> None:
    a = est(FitRequest(context=512)).total
    b = est(FitRequest(context=1024)).total
    c = est(FitRequest(context=1024, batch=2)).total
    assert a < b < c


def test_training_parts() -> None:
    spec = spec_from_config(TINY, name="tiny")
    full = est(FitRequest(task="full"))
    p = full.parts
    assert p["gradients"] == spec.params * 2
    assert p["optimizer"] == spec.params * 12  # fp32 master, momentum, variance
    eight = est(FitRequest(task="full", optimizer="adamw-8bit")).parts["optimizer"]
    assert eight == spec.params * 6
    gc = est(FitRequest(task="full", gradient_checkpointing=True)).parts["activations"]
    assert gc < p["activations"]


def test_precision_conventions_for_full_fine_tuning() -> None:
    spec = spec_from_config(TINY, name="tiny")
    n = spec.params
    mixed = est(FitRequest(task="full")).parts
    amp = est(FitRequest(task="full", precision="amp")).parts
    pure = est(FitRequest(task="full", precision="pure")).parts
    assert (mixed["weights"], mixed["gradients"], mixed["optimizer"]) == (2 * n, 2 * n, 12 * n)
    assert (amp["weights"], amp["gradients"], amp["optimizer"]) == (4 * n, 4 * n, 8 * n)
    assert amp["activations"] == mixed["activations"] + 2 * n  # autocast's 16-bit copies
    assert (pure["weights"], pure["gradients"], pure["optimizer"]) == (2 * n, 2 * n, 4 * n)
    fp32 = [
        est(FitRequest(task="full", dtype="fp32", precision=p)).total
        for p in ("mixed", "amp", "pure")
    ]
    assert len(set(fp32)) == 1  # fp32 training has one convention


def test_lora_trains_rank_times_fan_in_plus_fan_out() -> None:
    qv = est(FitRequest(task="lora", lora_rank=8, lora_targets="q_proj,v_proj"))
    # q: 256 -> 256, v: 256 -> 64, in each of 4 layers
    assert qv.trainable_params == 8 * ((256 + 256) + (256 + 64)) * 4
    assert qv.parts["adapters"] == qv.trainable_params * 4
    assert qv.parts["optimizer"] == qv.trainable_params * 8
    everything = est(FitRequest(task="lora", lora_rank=8))
    assert everything.trainable_params > qv.trainable_params


def test_qlora_sits_between_lora_and_inference() -> None:
    assert (
        est(FitRequest(task="qlora")).parts["weights"]
        < est(FitRequest(task="lora")).parts["weights"]
    )


def test_sharding_divides_what_shards() -> None:
    one = est(FitRequest(task="full"))
    two = est(FitRequest(task="full", gpus=2))
    assert two.parts["weights"] == one.parts["weights"] // 2
    assert two.parts["optimizer"] == pytest.approx(one.parts["optimizer"] / 2, abs=1)
    assert two.parts["activations"] == one.parts["activations"]  # each GPU its own batch
    inf = est(FitRequest(gpus=4)).parts
    assert inf["kv_cache"] == est(FitRequest()).parts["kv_cache"] // 4


def test_estimates_say_they_are_estimates() -> None:
    e = est(FitRequest(task="lora"))
    assert any("LoRA rank 16" in a for a in e.assumptions)
    assert e.total == e.tensors + e.parts["cuda_context"] + e.parts["margin"]
