"""Contradictory and out-of-range options are refused with a message naming them."""

from __future__ import annotations

import pytest

from rigml.errors import InvalidInput
from rigml.fit import FitRequest
from rigml.fit.formats import UnknownFormat, weight_format


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        (FitRequest(task="qlora", dtype="fp32"), "QLoRA with fp32 weights"),
        (FitRequest(task="full", quant="int8"), "full fine-tuning"),
        (FitRequest(task="lora", quant="nf4"), "is QLoRA"),
        (FitRequest(task="lora", quant="Q4_K_M"), "llama.cpp inference format"),
        (FitRequest(task="qlora", quant="awq-4bit"), "bitsandbytes 4-bit"),
        (FitRequest(task="full", kv_dtype="fp8"), "inference setting"),
        (FitRequest(quant="int8", double_quant=True), "double quantisation"),
        (FitRequest(batch=0), "batch must be at least 1"),
        (FitRequest(context=0), "context must be at least 1"),
        (FitRequest(gpus=0), "gpus must be at least 1"),
        (FitRequest(task="pretrain"), "unknown task"),  # type: ignore[arg-type]
        (FitRequest(optimizer="lion"), "unknown optimizer"),
        (FitRequest(task="full", precision="fp8"), "unknown precision"),
        (FitRequest(task="lora", lora_targets=" , "), "no LoRA target"),
    ],
)
def test_contradictions_are_refused(request_: FitRequest, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        request_.resolved(8192)


def test_unknown_formats_suggest_close_names() -> None:
    with pytest.raises(UnknownFormat) as err:
        weight_format("Q4_K_N")
    assert "Q4_K_M" in (err.value.hint or "")


def test_defaults_depend_on_task_and_model() -> None:
    assert FitRequest().resolved(131072).context == 4096
    assert FitRequest().resolved(512).context == 512  # never beyond the model's maximum
    qlora = FitRequest(task="qlora").resolved(None)
    assert (qlora.quant, qlora.double_quant, qlora.context) == ("nf4", True, 2048)
    assert FitRequest(quant="q4_k_m").weight_format().name == "Q4_K_M"


def test_quantised_formats_carry_their_real_cost() -> None:
    assert weight_format("nf4").bits == 4.5
    assert weight_format("nf4", double_quant=True).bits == pytest.approx(4.127, abs=0.001)
    assert weight_format("gptq-4bit").bits > 4
