"""Verdicts, mitigations, solvers and targets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rigml.errors import InvalidInput
from rigml.fit import FitRequest, Target, UnknownGpu, UnknownModel, plan_fit
from rigml.fit.planner import judge, machine_targets, reserve, resolve_targets

GB = 10**9
RECORDED = Path(__file__).parents[1] / "machine" / "recorded"


def gpu(vram_gb: float, name: str = "test GPU") -> list[Target]:
    return [Target(name=name, capacity_bytes=int(vram_gb * GB))]


def test_verdict_thresholds() -> None:
    report = plan_fit("llama-3.1-8b", targets=gpu(80))
    est = report.estimate
    assert judge(est, est.total + reserve(est.total * 2) + GB).status == "comfortable"
    assert judge(est, est.total - est.parts["margin"] // 2).status == "tight"
    assert judge(est, est.tensors - 1).status == "no"
    assert report.primary.verdict.label == "fits comfortably"
    assert report.mitigations == []  # nothing to change


def test_a_model_that_does_not_fit_gets_ranked_changes() -> None:
    report = plan_fit("llama-3.1-70b", FitRequest(context=8192), gpu="RTX 4090")
    assert report.primary.verdict.status == "no"
    actions = [m.action for m in report.mitigations]
    assert any("4-bit" in a for a in actions)
    fitting = [m for m in report.mitigations if m.status == "comfortable"]
    assert all(m.total_bytes < report.estimate.total for m in report.mitigations)
    # the ones that fit come first, cheapest to quality first
    assert report.mitigations[: len(fitting)] == fitting
    assert report.cloud is not None
    assert report.primary.throughput is None  # no speed for what does not fit


def test_combined_changes_fit_and_are_minimal() -> None:
    req = FitRequest(task="full", context=2048)
    report = plan_fit("llama-3.1-8b", req, vram_gb=16)
    c = report.combined
    assert c is not None and c.status == "comfortable"
    assert "QLoRA" in c.action and "LoRA instead" not in c.action  # replaced, not stacked
    again = plan_fit(
        "llama-3.1-8b", replace(req, task="qlora", gradient_checkpointing=True), vram_gb=16
    )
    assert again.primary.verdict.status == "comfortable"


@pytest.mark.parametrize("model", ["qwen2.5-7b", "mistral-7b-v0.1", "gemma-3-27b"])
def test_max_context_is_the_boundary(model: str) -> None:
    report = plan_fit(model, FitRequest(quant="nf4"), vram_gb=24, max_context=True)
    ctx = report.max_context
    assert ctx and ctx > 0
    cap = report.primary.target.capacity_bytes
    fits = plan_fit(model, FitRequest(quant="nf4", context=ctx), targets=gpu(cap / GB))
    assert fits.primary.verdict.status == "comfortable"
    if ctx < (report.model.max_context or 0):
        over = plan_fit(model, FitRequest(quant="nf4", context=ctx + 1), targets=gpu(cap / GB))
        assert over.primary.verdict.status != "comfortable"


def test_max_batch_is_the_boundary() -> None:
    report = plan_fit("qwen2.5-1.5b", FitRequest(context=8192), vram_gb=16, max_batch=True)
    b = report.max_batch
    assert b and 1 < b < 4096
    over = plan_fit("qwen2.5-1.5b", FitRequest(context=8192, batch=b + 1), vram_gb=16)
    assert over.primary.verdict.status != "comfortable"


def test_sliding_window_lets_mistral_go_further() -> None:
    v01 = plan_fit("mistral-7b-v0.1", FitRequest(context=32768), vram_gb=24)
    v03 = plan_fit("mistral-7b-v0.3", FitRequest(context=32768), vram_gb=24)
    assert v01.estimate.parts["kv_cache"] < v03.estimate.parts["kv_cache"] / 4


def test_warnings_for_context_beyond_maximum_and_unknown_architectures(tmp_path: Path) -> None:
    report = plan_fit("phi-3-mini-4k", FitRequest(context=16384), vram_gb=80)
    assert any("beyond" in w and "maximum" in w for w in report.warnings)
    config = tmp_path / "config.json"
    config.write_text('{"model_type": "hyena", "num_parameters": 7000000000}')
    odd = plan_fit(str(config), vram_gb=24)
    assert odd.model.kind == "params-only"
    assert any("parameter count only" in w for w in odd.warnings)


def test_unknown_names_suggest_close_matches() -> None:
    with pytest.raises(UnknownModel) as err:
        plan_fit("lama-3.1-8b", vram_gb=24)
    assert "llama-3.1-8b" in (err.value.hint or "")
    with pytest.raises(UnknownGpu) as gerr:
        resolve_targets(gpu="RTX 4900")
    assert "4090" in (gerr.value.hint or "")
    with pytest.raises(InvalidInput, match="--vram"):
        resolve_targets(vram_gb=-1)


def test_aliases_resolve() -> None:
    assert plan_fit("meta-llama/Llama-3.1-8B-Instruct", vram_gb=24).model.name == "llama-3.1-8b"
    assert resolve_targets(gpu="NVIDIA GeForce RTX 4090")[0].name == "RTX 4090"


def test_machine_gpus_come_from_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "rtx4090_idle.json"))
    targets = machine_targets()
    assert targets[0].kind == "gpu" and "4090" in targets[0].name
    assert targets[0].gpu is not None and targets[0].gpu.bandwidth_gbs
    report = plan_fit("llama-3.1-8b", FitRequest(quant="awq-4bit"))
    assert report.primary.throughput is not None
    assert (
        report.primary.throughput.decode_tokens_s and report.primary.throughput.decode_tokens_s > 0
    )


def test_without_a_gpu_the_target_is_system_ram(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "none.json"
    empty.write_text('{"gpus": [], "frames": []}')
    monkeypatch.setenv("RIG_GPU_RECORDING", str(empty))
    targets = machine_targets()
    assert len(targets) == 1 and targets[0].kind == "ram"


def test_decode_speed_is_bandwidth_bound() -> None:
    a100 = plan_fit("llama-3.1-8b", gpu="A100 80GB SXM").primary.throughput
    h100 = plan_fit("llama-3.1-8b", gpu="H100 SXM").primary.throughput
    assert a100 and h100 and a100.decode_tokens_s and h100.decode_tokens_s
    assert h100.decode_tokens_s > a100.decode_tokens_s
    moe = plan_fit("qwen3-30b-a3b", FitRequest(quant="awq-4bit"), gpu="H100 SXM")
    dense = plan_fit("qwen3-32b", FitRequest(quant="awq-4bit"), gpu="H100 SXM")
    assert moe.primary.throughput and dense.primary.throughput
    assert moe.primary.throughput.decode_tokens_s > 3 * dense.primary.throughput.decode_tokens_s


def test_every_catalogue_model_plans_for_every_task() -> None:
    from rigml.fit.catalogue import models

    for name in models():
        for task in ("infer", "lora", "qlora", "full"):
            report = plan_fit(name, FitRequest(task=task), vram_gb=24)
            assert report.estimate.total > 0
            assert report.to_dict()["estimate"]["is_estimate"] is True


def test_a_ram_target_for_training_is_named_cpu_training_with_a_speed_estimate() -> None:
    ram = Target(
        name="system RAM available (no GPU found: CPU inference)",
        capacity_bytes=64 * 2**30,
        kind="ram",
        source="ram",
    )
    report = plan_fit("bert-base", FitRequest(task="full"), targets=[ram])
    assert report.primary.target.name.endswith("(no GPU found: CPU training)")
    assert any("slower than on a GPU" in w for w in report.warnings)
    tp = report.primary.throughput
    assert tp is not None and tp.train_tokens_s and tp.decode_tokens_s is None
    assert "not measured" in tp.assumptions[0]
    infer = plan_fit("bert-base", FitRequest(), targets=[ram])
    assert infer.primary.target.name == ram.name and not infer.warnings
