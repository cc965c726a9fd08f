"""Plot metric histories of several runs, overlaid, into a PNG file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rigml.errors import InvalidInput, MissingExtra

if TYPE_CHECKING:
    from rigml.lab import Lab


def plot_runs(
    lab: Lab,
    refs: Sequence[str],
    metrics: Sequence[str],
    output: str | os.PathLike[str],
    *,
    x: str = "step",
) -> Path:
    """One panel per metric, one line per run; ``x`` is ``step`` or ``time`` (seconds).

    Raises:
        MissingExtra: matplotlib is not installed.
        InvalidInput: none of the runs has one of the metrics.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingExtra("plot", module="matplotlib") from exc
    import numpy as np

    from rigml.track.queries import get_run, load_history

    if x not in ("step", "time"):
        raise InvalidInput(f"x axis must be 'step' or 'time', got {x!r}", hint="use --x step")
    infos = [get_run(lab, r) for r in refs]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(8, 3.2 * len(metrics)), squeeze=False)
    try:
        for ax, metric in zip(axes[:, 0], metrics, strict=True):
            drawn = 0
            for info in infos:
                hist = load_history(lab, info.id, metric)
                if not len(hist):
                    continue
                xs = hist.steps if x == "step" else hist.times - info.start_time
                ys = np.where(np.isfinite(hist.values), hist.values, np.nan)
                ax.plot(xs, ys, label=f"{info.name} ({info.id[:8]})", linewidth=1.2)
                drawn += 1
            if not drawn:
                have = sorted({k for i in infos for k in i.metrics})
                raise InvalidInput(
                    f"no run among {', '.join(i.id[:8] for i in infos)} has metric {metric!r}",
                    hint=f"metrics they have: {', '.join(have[:12]) or 'none'}",
                )
            ax.set_title(metric)
            ax.set_xlabel("step" if x == "step" else "seconds since start")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        fig.tight_layout()
        dest = Path(output)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.stem}.tmp.png")
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, dest)
    finally:
        plt.close(fig)
    return dest
