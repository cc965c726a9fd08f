"""The published measurements in ``published.json``, turned into planner requests.

A row is used when the source states the settings that decide memory (sequence length,
batch, method); the rest stay in the file with the reason they are left out, so the table
keeps every figure found and the test shows which ones it checks.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rigml.fit import FitRequest, estimate, spec_from_config

ROWS = json.loads((Path(__file__).with_name("published.json")).read_text())["rows"]
UNITS = {"GB": 1e9, "GiB": 2**30, "MB": 1e6, "MiB": 2**20}


def skip_reason(row: dict[str, Any]) -> str | None:
    """Why a row cannot be compared (unstated settings, a method the planner lacks)."""
    if row["context"] is None or row["batch"] is None:
        return "sequence length or batch not stated"
    if row["framework"] and "torchtune" in row["framework"].lower():
        return "torchtune recipe: rank, checkpointing and optimizer not stated for the row"
    if row["id"].startswith(("llama-", "bloomz-")):
        return "method settings not stated for the row"
    if "modules_to_save" in str(row.get("lora_targets")):
        return "trains full copies of the embeddings (modules_to_save), not modelled"
    return None


def request_for(row: dict[str, Any]) -> FitRequest:
    task = row["task"]
    quant = row["quant"]
    if task == "qlora" and quant and quant.startswith("gptq"):
        task = "lora"  # Qwen's Q-LoRA: LoRA over a GPTQ checkpoint, not bitsandbytes
    optimizer = str(row.get("optimizer") or "adamw").lower()
    if "adafactor" in optimizer:
        optimizer = "adafactor"
    elif "8bit" in optimizer:
        optimizer = "adamw-8bit"
    else:
        optimizer = "adamw"
    targets = row.get("lora_targets")
    amp = "AMP" in (row.get("notes") or "") or "amp" in row["id"]
    return FitRequest(
        precision="amp" if amp else "mixed",
        task=task,
        dtype=row["dtype"] or "bf16",
        quant=quant,
        double_quant=row.get("double_quant"),
        context=row["context"],
        batch=row["batch"],
        lora_rank=row.get("lora_rank") or 16,
        lora_targets=",".join(targets) if isinstance(targets, list) else "all-linear",
        gradient_checkpointing=bool(row.get("gradient_checkpointing")),
        optimizer=optimizer,
        gpus=row.get("gpus") or 1,
        attention="eager" if row.get("attention") == "eager" else "flash",
    )


@dataclass
class Comparison:
    row: dict[str, Any]
    measured: float
    estimated: float

    @property
    def error(self) -> float:
        return (self.estimated - self.measured) / self.measured


def compare(row: dict[str, Any]) -> Comparison:
    spec = spec_from_config(row["config"], name=row["model"])
    req = request_for(row).resolved(None)
    est = estimate(spec, req)
    # Like for like: the allocator's peak counts tensors only; nvidia-smi and unnamed
    # methods see the whole process (context and allocator cache included).
    got = est.tensors if row["metric"] == "max_memory_allocated" else est.total
    if (row.get("gpus") or 1) > 1:
        got *= row["gpus"]  # the source reports the sum over its GPUs
    return Comparison(row, row["measured_gb"] * UNITS[row["unit"]], float(got))


def comparisons() -> list[Comparison]:
    return [compare(r) for r in ROWS if skip_reason(r) is None]


def summary(items: list[Comparison]) -> dict[str, float]:
    errs = [abs(c.error) for c in items]
    return {"n": len(errs), "median": statistics.median(errs), "worst": max(errs)}
