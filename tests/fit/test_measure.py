"""``--measure`` on the CPU: a small Llama built from its config, measured for real.

The worker resets the process's peak RSS, builds the model with random weights and runs
the task; the estimate of the tensors must land near the measured peak. On a GPU the same
code reads ``torch.cuda.max_memory_allocated`` instead.
"""

from __future__ import annotations

from importlib.util import find_spec

import pytest

from rigml.errors import InvalidInput
from rigml.fit import FitRequest, spec_from_config
from rigml.fit.measure import measure

# Checked without importing: torch in this process would change what other tests see.
_MISSING = [m for m in ("torch", "transformers", "peft") if find_spec(m) is None]
pytestmark = pytest.mark.skipif(
    bool(_MISSING), reason=f"needs rigml[torch] ({', '.join(_MISSING)} missing)"
)

TINY = {
    "model_type": "llama",
    "hidden_size": 512,
    "intermediate_size": 1536,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": False,
}
SPEC = spec_from_config(TINY, name="tiny-llama")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("request_", "tolerance"),
    [
        (FitRequest(dtype="fp32", context=1024), 0.30),
        (FitRequest(task="full", dtype="fp32", context=512, batch=2), 0.20),
        (
            FitRequest(
                task="full", dtype="fp32", context=512, batch=2, gradient_checkpointing=True
            ),
            0.25,
        ),
        (FitRequest(task="lora", dtype="fp32", context=512, batch=2), 0.25),
    ],
    ids=["infer", "full", "full-checkpointing", "lora"],
)
def test_estimate_matches_measured_peak(request_: FitRequest, tolerance: float) -> None:
    req = request_.resolved(SPEC.max_context)
    got = measure(SPEC, TINY, req, device="cpu")
    assert got.device == "cpu" and got.peak_bytes > 0
    assert abs(got.error) <= tolerance, (got.peak_bytes, got.estimated_bytes)


def test_qlora_cannot_be_measured_on_the_cpu() -> None:
    with pytest.raises(InvalidInput, match="CUDA GPU"):
        measure(SPEC, TINY, FitRequest(task="qlora").resolved(4096), device="cpu")


def test_an_architecture_transformers_lacks_is_a_clear_error() -> None:
    config = {**TINY, "model_type": "not-a-model"}
    spec = spec_from_config(config, name="odd")
    with pytest.raises(InvalidInput, match="cannot build"):
        measure(spec, config, FitRequest(dtype="fp32", context=16).resolved(None), device="cpu")
