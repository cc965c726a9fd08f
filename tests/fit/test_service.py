"""``run_fit``: ``rig fit`` as one call, for the CLI and any other front end."""

from __future__ import annotations

import pytest

from rigml.errors import InvalidInput
from rigml.fit import FitOptions, FitOutcome, FitRequest, run_fit


def test_no_model_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="name a model") as info:
        run_fit(None, FitRequest())
    assert "rig fit --list" in (info.value.hint or "")


def test_the_outcome_carries_the_plan_and_the_exit_answer() -> None:
    fits = run_fit("llama-3.1-8b", FitRequest(), FitOptions(vram_gb=24))
    assert isinstance(fits, FitOutcome) and fits.fits and fits.measured is None
    assert fits.to_dict()["targets"][0]["verdict"]["status"] == "comfortable"
    assert "measured" not in fits.to_dict()
    big = run_fit("llama-3.1-70b", FitRequest(), FitOptions(gpu="RTX 4090", max_context=True))
    assert not big.fits and big.report.max_context == 0


def test_measure_is_refused_before_it_is_announced() -> None:
    announced: list[bool] = []
    with pytest.raises(InvalidInput, match="--measure builds text decoders"):
        run_fit(
            "flux.1-dev",
            FitRequest(),
            FitOptions(gpu="H100 SXM", measure=True),
            on_measure=lambda: announced.append(True),
        )
    assert announced == []
