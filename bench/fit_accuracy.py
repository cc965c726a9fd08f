"""Fit planner accuracy, rigml beside Accelerate's ``estimate-memory``, plus speed.

    .venv/bin/python bench/fit_accuracy.py [--skip-measure]

1. Every usable row of ``tests/fit/published.json`` (published, measured peak memory with
   its citation) is estimated by rigml and by the method of ``accelerate estimate-memory``
   (the model's parameter bytes for inference, four times that for training with Adam),
   which is what a user would otherwise reach for. Accelerate builds each model on the
   meta device from the same config; rows whose architecture Transformers cannot build
   without remote code (Qwen v1) are compared for rigml only. Median and worst absolute
   errors are reported per task.
2. ``rig fit`` wall time (median of 5 spawns) for a model that does not fit, so that the
   mitigation search and the solvers are included.
3. ``--measure`` on this machine's CPU for a small Llama (the figures the tests check).

Writes ``bench/results/fit.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fit"))

from _published import ROWS, UNITS, compare, skip_reason  # noqa: E402

RESULTS = ROOT / "bench" / "results"
# Accelerate divides the fp32 size by 4 for int8 and by 8 for int4.
QUANT_DIVISOR = {"int8": 4, "gptq-8bit": 4, "nf4": 8, "fp4": 8, "gptq-4bit": 8, "awq-4bit": 8}


def accelerate_estimate(row: dict[str, Any]) -> float | None:
    """What ``accelerate estimate-memory`` reports for the row's model and dtype."""
    import torch
    import transformers
    from accelerate import init_empty_weights
    from accelerate.utils import calculate_maximum_sizes

    cfg = dict(row["config"])
    model_type = cfg.pop("model_type")
    cfg.pop("architectures", None)
    try:
        config = transformers.AutoConfig.for_model(model_type, **cfg)
    except (ValueError, KeyError):
        return None  # remote-code architectures (Qwen v1)
    auto = transformers.AutoModel if model_type == "bert" else transformers.AutoModelForCausalLM
    with init_empty_weights():
        model = auto.from_config(config, dtype=torch.float32)
    total_fp32, _ = calculate_maximum_sizes(model)
    size = total_fp32 / (1 if row["dtype"] == "fp32" else 2)
    if row["quant"]:
        size = total_fp32 / QUANT_DIVISOR[row["quant"]]
    if row["task"] != "infer":
        size *= 4  # "Training using Adam (peak vRAM)": model size x 4
    return size * (row.get("gpus") or 1) if row["task"] == "full" else size


def accuracy() -> dict[str, Any]:
    out: dict[str, Any] = {"rows": [], "by_task": {}}
    for row in ROWS:
        if skip_reason(row):
            continue
        c = compare(row)
        acc = accelerate_estimate(row)
        measured = row["measured_gb"] * UNITS[row["unit"]]
        out["rows"].append(
            {
                "id": row["id"],
                "task": row["task"],
                "measured_gib": measured / 2**30,
                "rigml_gib": c.estimated / 2**30,
                "rigml_error": c.error,
                "accelerate_gib": None if acc is None else acc / 2**30,
                "accelerate_error": None if acc is None else (acc - measured) / measured,
            }
        )
    for group, tasks in (("inference", {"infer"}), ("fine-tuning", {"lora", "qlora", "full"})):
        rows = [r for r in out["rows"] if r["task"] in tasks]
        both = [r for r in rows if r["accelerate_error"] is not None]

        def stats(values: list[float]) -> dict[str, float]:
            errs = [abs(v) for v in values]
            return {"n": len(errs), "median": statistics.median(errs), "worst": max(errs)}

        out["by_task"][group] = {
            "rigml_all": stats([r["rigml_error"] for r in rows]),
            "rigml_common": stats([r["rigml_error"] for r in both]),
            "accelerate_common": stats([r["accelerate_error"] for r in both]),
        }
    return out


def command_time() -> float:
    rig = str(Path(sys.executable).with_name("rig"))
    args = [
        rig,
        "fit",
        "llama-3.1-70b",
        "--gpu",
        "RTX 4090",
        "-c",
        "8192",
        "--max-context",
        "--json",
    ]
    times = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(args, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measurements() -> list[dict[str, Any]]:
    from rigml.fit import FitRequest, spec_from_config
    from rigml.fit.measure import measure

    config = {
        "model_type": "llama", "hidden_size": 512, "intermediate_size": 1536,
        "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 2,
        "vocab_size": 32000, "max_position_embeddings": 4096, "tie_word_embeddings": False,
    }  # fmt: skip
    spec = spec_from_config(config, name="tiny-llama")
    cases = {
        "inference, 1x1024": FitRequest(dtype="fp32", context=1024),
        "full, AdamW, 2x512": FitRequest(task="full", dtype="fp32", context=512, batch=2),
        "full + checkpointing, 2x512": FitRequest(
            task="full", dtype="fp32", context=512, batch=2, gradient_checkpointing=True
        ),
        "LoRA r16 all-linear, 2x512": FitRequest(task="lora", dtype="fp32", context=512, batch=2),
    }
    out = []
    for label, req in cases.items():
        m = measure(spec, config, req.resolved(spec.max_context), device="cpu")
        out.append({"case": label, **m.to_dict()})
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-measure", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"accuracy": accuracy(), "rig_fit_seconds": command_time()}
    if not args.skip_measure:
        result["cpu_measurements"] = measurements()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fit.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| rows | task | rigml median / worst | Accelerate estimate-memory median / worst |")
    print("| --- | --- | --- | --- |")
    for group, s in result["accuracy"]["by_task"].items():
        r, a, every = s["rigml_common"], s["accelerate_common"], s["rigml_all"]
        print(
            f"| {r['n']} (all {every['n']}) | {group} | {r['median']:.1%} / {r['worst']:.1%} "
            f"(all rows: {every['median']:.1%} / {every['worst']:.1%}) | "
            f"{a['median']:.1%} / {a['worst']:.1%} |"
        )
    print(
        f"\nrig fit (70B on an RTX 4090, mitigations + --max-context): "
        f"{result['rig_fit_seconds'] * 1000:.0f} ms"
    )
    for m in result.get("cpu_measurements", []):
        print(
            f"- {m['case']}: measured {m['peak_bytes'] / 2**20:,.0f} MiB, estimated "
            f"{m['estimated_bytes'] / 2**20:,.0f} MiB ({m['error']:+.1%})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
