"""Peak, mean, low and last value of every metric of a timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rigml.machine.diagnosis._helpers import _np
from rigml.machine.diagnosis._model import MetricSummary

if TYPE_CHECKING:
    from rigml.machine.timeline import Timeline


def summarise(timeline: Timeline) -> dict[str, MetricSummary]:
    """Peak (and when), mean, low and last value of every metric that has a value."""
    np = _np()
    out: dict[str, MetricSummary] = {}
    elapsed = timeline.elapsed
    for name in timeline.names:
        col = timeline.column(name)
        valid = np.isfinite(col)
        if not valid.any():
            continue
        values = col[valid]
        j = int(np.argmax(values))
        out[name] = MetricSummary(
            peak=float(values[j]),
            peak_at_s=round(float(elapsed[valid][j]), 3),
            mean=float(values.mean()),
            min=float(values.min()),
            last=float(values[-1]),
            count=int(valid.sum()),
        )
    return out
