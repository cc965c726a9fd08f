"""Cases a review of the planner found wrong once: each stays fixed."""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from rigml.errors import InvalidInput
from rigml.fit import FitRequest, InvalidModelConfig, Target, load_model, plan_fit, spec_from_config
from rigml.fit.catalogue import gpu
from rigml.fit.measure import measure
from rigml.fit.memory import kv_cache_bytes

RECORDED = Path(__file__).parents[1] / "machine" / "recorded"


def test_gpu_memory_is_what_the_driver_reports() -> None:
    recorded = json.loads((RECORDED / "rtx4090_idle.json").read_text())["gpus"][0]
    assert gpu("RTX 4090").vram_bytes == pytest.approx(recorded["memory_total"], rel=0.01)
    assert gpu("H100 SXM").vram_bytes == 81559 * 2**20  # HBM3 with reserved memory


@pytest.mark.parametrize("quant", ["Q4_K_M", "Q8_0", "int8", "nf4", None])
def test_no_mitigation_adds_memory(quant: str | None) -> None:
    report = plan_fit("gemma-2-9b", FitRequest(quant=quant, context=8192), vram_gb=6)
    assert report.mitigations
    for m in report.mitigations:
        assert m.total_bytes < report.estimate.total, m


def test_cloud_suggestion_is_for_the_request_on_one_gpu() -> None:
    report = plan_fit("llama-3.1-70b", FitRequest(gpus=4), vram_gb=24)
    assert report.cloud is not None and report.cloud_gpus_needed == 1
    one = plan_fit(
        "llama-3.1-70b",
        FitRequest(),
        targets=[Target(name=report.cloud.name, capacity_bytes=report.cloud.vram_bytes)],
    )
    assert one.primary.verdict.status == "comfortable"


def test_diffusion_plans_at_its_own_resolution() -> None:
    report = plan_fit("sdxl", vram_gb=24)
    assert report.request.context == 1024
    assert report.primary.verdict.status == "comfortable"


def test_checkpoints_shipped_quantised_are_planned_so() -> None:
    oss = plan_fit("gpt-oss-20b", vram_gb=24)
    assert oss.request.quant == "mxfp4" and oss.estimate.parts["weights"] < 14 * 2**30
    assert any("ships its weights as mxfp4" in w for w in oss.warnings)
    v3 = plan_fit("deepseek-v3", vram_gb=80)
    assert v3.estimate.download_bytes == pytest.approx(671e9, rel=0.02)


def test_mla_head_width_and_t5_cross_attention() -> None:
    v3 = load_model("deepseek-v3")
    assert v3.head_dim == 128 + 64
    t5 = load_model("flan-t5-base")
    req = FitRequest(context=512).resolved(None)
    # self- and cross-attention each cache 512 tokens in every decoder layer
    assert kv_cache_bytes(t5, req, 512, 1) == t5.decoder_layers * 2 * 512 * t5.kv_width * 2


def test_moe_decode_reads_more_experts_as_the_batch_grows() -> None:
    one = plan_fit("qwen3-30b-a3b", FitRequest(quant="awq-4bit", context=1024), gpu="H100 SXM")
    many = plan_fit(
        "qwen3-30b-a3b", FitRequest(quant="awq-4bit", context=1024, batch=64), gpu="H100 SXM"
    )
    a, b = one.primary.throughput, many.primary.throughput
    assert a and b and a.decode_tokens_s and b.decode_tokens_s
    assert b.decode_tokens_s < 64 * a.decode_tokens_s / 4
    big = plan_fit("llama-3.1-8b", FitRequest(context=512, batch=512), gpu="H100 SXM")
    t = big.primary.throughput
    assert t and t.decode_tokens_s and t.prefill_tokens_s
    assert t.decode_tokens_s <= t.prefill_tokens_s  # compute-bound at large batches


def test_mixtral_expert_names_map_to_their_matrices() -> None:
    spec = load_model("mixtral-8x7b")
    down = spec.lora_params(8, ("down_proj",))
    assert down and FitRequest(task="lora", lora_targets="w2").targets() == ("down_proj",)


def test_safetensors_folders_skip_duplicates_and_packed_words(tmp_path: Path) -> None:
    def shard(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> None:
        header, off = {}, 0
        for name, (dtype, shape) in tensors.items():
            n = shape[0] * shape[1] * (2 if dtype == "BF16" else 1)
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
            off += n
        raw = json.dumps(header).encode()
        path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * off)

    config = {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "vocab_size": 100,
    }
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    shard(folder / "model.safetensors", {"w": ("BF16", [1000, 64])})
    shard(folder / "consolidated.safetensors", {"w": ("BF16", [1000, 64])})
    assert load_model(str(folder)).params == 64_000
    packed = tmp_path / "p"
    packed.mkdir()
    (packed / "config.json").write_text(json.dumps(config))
    shard(packed / "model.safetensors", {"w": ("U8", [500, 64])})
    spec = load_model(str(packed))
    assert spec.params == spec_from_config(config, name="x").params and spec.active_params > 0


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"max_position_embeddings": "lots"}, "non-negative number"),
        ({"num_local_experts": 8}, "num_experts_per_tok"),
        ({"head_dim": 0}, "head_dim must be positive"),
    ],
)
def test_bad_sizes(config: dict, problem: str) -> None:
    base = {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 100,
    }
    with pytest.raises(InvalidModelConfig, match=problem):
        spec_from_config({**base, **config}, name="bad")


def test_unknown_families_read_as_llama_say_so() -> None:
    spec = spec_from_config(
        {
            "model_type": "jamba",
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "vocab_size": 100,
        },
        name="j",
    )
    assert any("not one the planner knows" in n for n in spec.notes)


def test_bad_options() -> None:
    with pytest.raises(InvalidInput, match="positive number of GiB"):
        plan_fit("llama-3.1-8b", vram_gb=float("inf"))
    with pytest.raises(InvalidInput, match="bitsandbytes 4-bit"):
        plan_fit("llama-3.1-8b", FitRequest(task="qlora", quant="int8"), vram_gb=24)
    with pytest.raises(InvalidInput, match=r"no matrix of llama-3\.1-8b") as err:
        plan_fit("llama-3.1-8b", FitRequest(task="lora", lora_targets="foo"), vram_gb=24)
    assert "q_proj" in (err.value.hint or "")


def test_system_ram_has_no_cuda_context() -> None:
    est = plan_fit("qwen2.5-0.5b", vram_gb=24).estimate
    ram = Target(
        name="RAM", capacity_bytes=est.total - est.parts["cuda_context"] + 2**30, kind="ram"
    )
    gpu_ = replace(ram, kind="gpu")
    report = plan_fit("qwen2.5-0.5b", targets=[ram, gpu_])
    assert report.results[0].verdict.need_bytes < report.results[1].verdict.need_bytes


def test_measure_refuses_what_it_cannot_honour() -> None:
    spec = load_model("qwen2.5-0.5b")
    with pytest.raises(InvalidInput, match="--quant"):
        measure(spec, spec.config, FitRequest(quant="int8").resolved(spec.max_context))
    vit = load_model("vit-base-patch16-224")
    with pytest.raises(InvalidInput, match="vision"):
        measure(vit, vit.config, FitRequest().resolved(vit.max_context))
