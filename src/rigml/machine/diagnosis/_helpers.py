"""Series and formatting helpers shared by the diagnosis rules."""

from __future__ import annotations

import time as _time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from rigml.machine.diagnosis._model import Context, Thresholds
    from rigml.machine.timeline import Timeline


def _np() -> Any:
    import numpy as np

    return np


def _rel(seconds: float) -> str:
    if abs(seconds) < 10:
        return f"t+{seconds:.1f} s"
    if abs(seconds) < 600:
        return f"t+{seconds:.0f} s"
    return f"t+{seconds / 60:.1f} min"


class _Clock:
    """Formats times as the wall clock and the offset from the start of the timeline."""

    def __init__(self, tl: Timeline) -> None:
        self.start = tl.start if len(tl) else _time.time()

    def at(self, t: float) -> str:
        clock = _time.strftime("%H:%M:%S", _time.localtime(t))
        return f"{clock} ({_rel(t - self.start)})"

    def span(self, t0: float, t1: float) -> str:
        a = _time.strftime("%H:%M:%S", _time.localtime(t0))
        b = _time.strftime("%H:%M:%S", _time.localtime(t1))
        return f"from {a} to {b}, {_rel(t0 - self.start)} to {_rel(t1 - self.start)}"

    def offset(self, t: float) -> float:
        return round(t - self.start, 3)


def _size(gb: float) -> str:
    """A disk's free space, with two decimals of GiB: its fall over a few minutes shows in
    the second one, which :func:`rigml._units.format_bytes` (one decimal) would round away."""
    if round(abs(gb), 2) >= 1:
        return f"{gb:.2f} GiB"
    return f"{gb * 1024:.1f} MiB"


def _rate_per_min(mib_s: float) -> str:
    per_min = mib_s * 60
    return f"{per_min / 1024:.2f} GiB/min" if per_min >= 1024 else f"{per_min:.0f} MiB/min"


def _interval(tl: Timeline) -> float:
    meta = tl.meta.get("interval")
    if isinstance(meta, int | float) and meta > 0:
        return float(meta)
    t = tl.times
    if len(t) >= 2:
        return float(_np().median(_np().diff(t)))
    return 1.0


def _enough(tl: Timeline, th: Thresholds, mask: np.ndarray | None = None) -> bool:
    """Whether a trend may be judged: enough samples over enough seconds."""
    t = tl.times if mask is None else tl.times[mask]
    if len(t) < th.min_samples:
        return False
    return float(t[-1] - t[0]) + _interval(tl) >= th.min_seconds


def _finite(a: np.ndarray | None) -> np.ndarray:
    import numpy as np

    if a is None:
        return np.zeros(0, dtype=bool)
    finite: np.ndarray = np.isfinite(a)
    return finite


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive index ranges of consecutive True values."""
    out: list[tuple[int, int]] = []
    start = None
    for i, m in enumerate(mask.tolist()):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(mask) - 1))
    return out


def _reasons(tl: Timeline, gpu: int) -> list[set[str]]:
    return [
        {r for r in (text or "").split(",") if r}
        for text in tl.labels(f"gpu{gpu}/throttle_reasons")
    ]


def _gpu_name(ctx: Context, i: int) -> str:
    name = ctx.gpu_names.get(i)
    return f"gpu{i} ({name})" if name else f"gpu{i}"


def _core_matrix(tl: Timeline) -> np.ndarray | None:
    cores = tl.core_names()
    if not cores:
        return None
    import numpy as np

    return np.vstack([tl.column(c) for c in cores]).T


def _others_mean(cores: np.ndarray) -> np.ndarray:
    """Per sample, the mean of every core but the busiest (NaN where under two are known)."""
    import numpy as np

    finite = np.isfinite(cores)
    known = finite.sum(axis=1)
    total = np.where(finite, cores, 0.0).sum(axis=1)
    top = np.where(finite, cores, -np.inf).max(axis=1)
    out = np.full(len(cores), np.nan)
    many = known >= 2
    out[many] = (total[many] - top[many]) / (known[many] - 1)
    out[known == 1] = 0.0
    return out
