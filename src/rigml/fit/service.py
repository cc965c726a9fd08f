"""``rig fit`` as one call: plan a model for a request and, when asked, measure it.

The command parses its options into a :class:`~rigml.fit.request.FitRequest` and
:class:`FitOptions`, calls :func:`run_fit` and renders the :class:`FitOutcome`; every
decision in between lives here, where other front ends can reuse it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput

if TYPE_CHECKING:
    from rigml.fit.measure import Measurement
    from rigml.fit.planner import FitReport
    from rigml.fit.request import FitRequest


@dataclass(frozen=True)
class FitOptions:
    """Where to plan and what else to work out, beside the request itself."""

    gpu: str | None = None  # a GPU from the table instead of this machine's
    vram_gb: float | None = None  # a GPU with this much memory, in GiB
    max_context: bool = False
    max_batch: bool = False
    measure: bool = False  # build the model with random weights and measure its peak


@dataclass(frozen=True)
class FitOutcome:
    """The plan, and the measurement when one was asked for."""

    report: FitReport
    measured: Measurement | None = None

    @property
    def fits(self) -> bool:
        """Whether the first target holds the request at all (``rig fit`` exits 3 if not)."""
        return self.report.primary.verdict.status != "no"

    def to_dict(self) -> dict[str, Any]:
        data = self.report.to_dict()
        if self.measured is not None:
            data["measured"] = self.measured.to_dict()
        return data


def run_fit(
    model: str | None,
    request: FitRequest,
    options: FitOptions | None = None,
    *,
    on_measure: Callable[[], None] | None = None,
) -> FitOutcome:
    """Plan ``model`` for ``request``; measure it too with ``options.measure``.

    ``on_measure`` is called just before measuring starts (it takes a while).

    Raises:
        InvalidInput: no model named, or an option out of range.
        UnknownModel, UnknownGpu, InvalidModelConfig, MissingExtra, MeasureFailed: see each.
    """
    from rigml.fit.planner import plan_fit

    if model is None:
        raise InvalidInput("name a model", hint="e.g. `rig fit llama-3.1-8b`; `rig fit --list`")
    options = options or FitOptions()
    report = plan_fit(
        model,
        request,
        gpu=options.gpu,
        vram_gb=options.vram_gb,
        max_context=options.max_context,
        max_batch=options.max_batch,
    )
    if not options.measure:
        return FitOutcome(report)
    from rigml.fit.measure import check_measurable, measure

    check_measurable(report.model, report.request)
    if on_measure is not None:
        on_measure()
    return FitOutcome(report, measure(report.model, report.model.config, report.request))
