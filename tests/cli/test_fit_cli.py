"""``rig fit``: JSON for scripts, tables for people, exit codes and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigml.cli import main

RECORDED = Path(__file__).parents[1] / "machine" / "recorded"


def rig(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_breakdown_and_verdict(capsys) -> None:
    code, out, err = rig(capsys, "fit", "llama-3.1-8b", "--vram", "24", "--json")
    assert code == 0, err
    data = json.loads(out)
    parts = data["estimate"]["parts"]
    assert set(parts) == {
        "weights",
        "kv_cache",
        "activations",
        "gradients",
        "optimizer",
        "adapters",
        "cuda_context",
        "margin",
    }
    assert data["estimate"]["total_bytes"] == sum(parts.values())
    assert data["estimate"]["is_estimate"] is True and data["estimate"]["assumptions"]
    (target,) = data["targets"]
    assert target["verdict"]["label"] == "fits comfortably"
    assert data["model"]["kv_heads"] == 8 and data["request"]["context"] == 4096


def test_tables_for_a_model_that_does_not_fit(capsys) -> None:
    code, out, _ = rig(capsys, "fit", "llama-3.1-70b", "--gpu", "RTX 4090", "-c", "8192")
    assert code == 3  # does not fit: scripts can gate on it
    assert "does not fit" in out and "what to change" in out
    assert "4-bit weights" in out and "smallest common cloud GPU" in out


def test_solvers_in_json(capsys) -> None:
    code, out, _ = rig(
        capsys,
        "fit",
        "qwen2.5-7b",
        "-q",
        "nf4",
        "--vram",
        "12",
        "--max-context",
        "--max-batch",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["max_context"] > 4096 and data["max_batch"] >= 1


def test_training_options_flow_through(capsys) -> None:
    code, out, _ = rig(
        capsys,
        "fit",
        "mistral-7b-v0.3",
        "-t",
        "qlora",
        "--gc",
        "-r",
        "64",
        "--lora-targets",
        "attention",
        "--optimizer",
        "adamw-8bit",
        "--gpu",
        "RTX 3090",
        "--json",
    )
    assert code == 0
    req = json.loads(out)["request"]
    assert req["quant"] == "nf4" and req["double_quant"] is True
    assert req["gradient_checkpointing"] is True and req["lora_rank"] == 64


def test_this_machines_gpu(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "rtx4090_idle.json"))
    code, out, _ = rig(capsys, "fit", "qwen2.5-7b")
    assert code == 0
    assert "GPU 0: NVIDIA GeForce RTX 4090" in out and "decode ~" in out


def test_lists(capsys) -> None:
    code, out, _ = rig(capsys, "fit", "--list", "--json")
    assert code == 0 and len(json.loads(out)) >= 40
    code, out, _ = rig(capsys, "fit", "--list-gpus")
    assert code == 0 and "H100 SXM" in out and "RTX 4090" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["fit", "lama-3.1-8b"], 1, "did you mean llama-3.1-8b"),
        (["fit", "llama-3.1-8b", "--gpu", "RTX 4900"], 1, "no GPU 'RTX 4900'"),
        (["fit", "llama-3.1-8b", "-t", "qlora", "--dtype", "fp32"], 2, "contradicts itself"),
        (["fit", "llama-3.1-8b", "-q", "Q4_K_N"], 2, "Q4_K_M"),
        (["fit", "llama-3.1-8b", "--batch", "0"], 2, "batch must be at least 1"),
        (["fit"], 2, "name a model"),
        (["fit", "./missing/config.json"], 2, "no such file"),
    ],
)
def test_bad_input_is_one_clear_error(capsys, args: list[str], code: int, message: str) -> None:
    got, _out, err = rig(capsys, *args)
    assert got == code
    assert message in err.replace("\n", " ")
    assert "Traceback" not in err


def test_a_config_file_from_disk(capsys, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "model_type": "qwen2",
                "hidden_size": 896,
                "intermediate_size": 4864,
                "num_hidden_layers": 24,
                "num_attention_heads": 14,
                "num_key_value_heads": 2,
                "vocab_size": 151936,
                "max_position_embeddings": 32768,
                "tie_word_embeddings": True,
            }
        )
    )
    code, out, _ = rig(capsys, "fit", str(config), "--vram", "8", "--json")
    assert code == 0
    assert json.loads(out)["model"]["params"] == pytest.approx(494e6, rel=0.01)


def test_gpu_table_memory_is_in_gib_as_nvidia_smi_reports(capsys) -> None:
    # NVML reports 24,564 MiB for an RTX 4090: 24 GiB, not "26 GB" (which reads as another card)
    code, out, _ = rig(capsys, "fit", "--list-gpus")
    assert code == 0
    row = next(line for line in out.splitlines() if "RTX 4090 " in line)
    assert "24.0 GiB" in row and " GB " not in row.replace("GB/s", "")
    h100 = next(line for line in out.splitlines() if "H100 SXM" in line)
    assert "79.6 GiB" in h100  # 81,559 MiB


def test_cloud_gpu_memory_is_in_gib(capsys) -> None:
    code, out, _ = rig(capsys, "fit", "llama-3.1-70b", "--gpu", "RTX 4090", "-c", "8192")
    assert code == 3
    line = next(x for x in out.splitlines() if "smallest common cloud GPU" in x)
    assert "GiB)" in line and " GB)" not in line


# ---------------------------------------------------------------------------- per family


def _no_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This machine as one without an NVIDIA GPU: a GPU recording with no frames."""
    empty = tmp_path / "no_gpu.json"
    empty.write_text(json.dumps({"format": "rigml-gpu-recording/1", "frames": []}))
    monkeypatch.setenv("RIG_GPU_RECORDING", str(empty))


@pytest.mark.parametrize("gpu", [[], ["--gpu", "RTX 4090"]])
def test_diffusion_speaks_of_images_not_kv_cache_or_generate(capsys, gpu: list[str]) -> None:
    code, out, _ = rig(capsys, "fit", "flux.1-dev", *gpu)
    assert code in (0, 3)
    flat = " ".join(out.split())
    assert (
        "KV cache" not in flat
        and "generate()" not in flat
        and "tokens" not in flat.split("assumptions:")[0].replace("tokens/s", "")
    )
    assert "resolution 1024x1024 px" in flat and "denoising step" in flat
    assert "transformer 11.9B" in flat  # the pipeline's components
    assert "diffusers builds the whole pipeline in system RAM" in flat


def test_diffusion_ram_to_load_counts_the_whole_pipeline(capsys) -> None:
    _, out, _ = rig(capsys, "fit", "flux.1-dev", "--gpu", "H100 SXM", "--json")
    est = json.loads(out)["estimate"]
    # diffusers holds every component in RAM before .to("cuda"): all 16.9B bf16 weights
    assert est["ram_bytes"] > est["download_bytes"] >= 16.8e9 * 2


def test_diffusion_offload_and_solver_speak_diffusers(capsys) -> None:
    _, out, _ = rig(capsys, "fit", "sdxl", "--vram", "8", "-c", "2048", "--max-context")
    flat = " ".join(out.split())
    assert "tokens" not in flat and "llama.cpp" not in flat and "decoding" not in flat
    assert "largest image that fits 8 GiB GPU: 365x365 px" in flat
    assert "smaller images: 365x365 px (--context 365)" in flat
    assert "tensor parallel" not in flat


@pytest.mark.parametrize("gpu", [[], ["--gpu", "T4"]])
@pytest.mark.parametrize("model", ["bert-base", "vit-base-patch16-224"])
def test_encoders_keep_no_kv_cache_and_generate_nothing(capsys, model: str, gpu: list[str]) -> None:
    code, out, _ = rig(capsys, "fit", model, *gpu)
    assert code == 0
    flat = " ".join(out.split())
    assert "KV cache" not in flat and "KV heads" not in flat and "generate()" not in flat
    assert "one forward pass" in flat and "12 heads x 64" in flat


def test_encoder_download_and_ram_follow_the_fp32_checkpoint(capsys) -> None:
    _, out, _ = rig(capsys, "fit", "bert-base", "--gpu", "T4", "--json")
    data = json.loads(out)
    est, params = data["estimate"], data["model"]["params"]
    assert est["download_bytes"] == params * 4  # google-bert ships fp32 weights
    assert est["ram_bytes"] == int(1.5 * 2**30) + params * 4
    assert any("fp32" in a and "torch_dtype" in a for a in est["assumptions"])


def test_training_without_a_gpu_targets_cpu_ram_and_says_it_is_slow(
    capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_gpu(monkeypatch, tmp_path)
    code, out, _ = rig(capsys, "fit", "bert-base", "-t", "full")
    assert code == 0
    flat = " ".join(out.split())
    assert "CPU training" in flat and "CPU inference" not in flat
    assert "slower than on a GPU" in flat and "an estimate" in flat
    assert "training ~" in flat and "tokens/s" in flat


def test_training_with_a_gpu_has_no_cpu_warning(capsys) -> None:
    code, out, _ = rig(capsys, "fit", "bert-base", "-t", "full", "--gpu", "T4")
    assert code == 0 and "CPU" not in out.replace("CPU offload", "")


def test_inference_without_a_gpu_targets_cpu_inference(
    capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_gpu(monkeypatch, tmp_path)
    code, out, _ = rig(capsys, "fit", "bert-base")
    assert code == 0
    flat = " ".join(out.split())
    assert "CPU inference" in flat and "CPU training" not in flat


def test_measure_refuses_a_diffusion_model_before_announcing_it(capsys) -> None:
    code, out, err = rig(capsys, "fit", "flux.1-dev", "--gpu", "RTX 4090", "--measure")
    assert code == 2 and "--measure builds text decoders and encoders" in err.replace("\n", " ")
    assert "measuring" not in out and "Traceback" not in err


def test_help_keeps_the_defaults_it_states(capsys) -> None:
    code, out, _ = rig(capsys, "fit", "--help")
    flat = " ".join(out.replace("│", " ").split())
    assert code == 0
    assert "(default: 4096 for inference, 2048 for training;" in flat
    assert "q4_0 (default: fp16)" in flat
