"""Plot metric histories of several runs, overlaid, into a PNG file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput, MissingExtra

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.track.queries import RunInfo

__all__ = ["plot_runs"]


def plot_runs(
    lab: Lab,
    refs: Sequence[str],
    metrics: Sequence[str],
    output: str | os.PathLike[str],
    *,
    x: str = "step",
) -> Path:
    """One panel per metric, one line per run; ``x`` is ``step`` or ``time`` (seconds).

    The PNG is written through :mod:`rigml._output`: whole or not at all, and never into
    a folder that does not exist.

    Raises:
        MissingExtra: matplotlib is not installed.
        InvalidInput: ``x`` is neither axis, or none of the runs has one of the metrics.
        RunNotFound: a reference matches no run, or several.
        OutputNotWritable: the file cannot be written there.
    """
    from rigml._output import check_output_dir, output_path
    from rigml.track.queries import get_run

    if x not in ("step", "time"):
        raise InvalidInput(f"x axis must be 'step' or 'time', got {x!r}", hint="use --x step")
    plt = _pyplot()
    dest = check_output_dir(output)  # before drawing anything
    infos = [get_run(lab, r) for r in refs]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(8, 3.2 * len(metrics)), squeeze=False)
    try:
        for ax, metric in zip(axes[:, 0], metrics, strict=True):
            _draw_metric(lab, ax, infos, metric, x=x)
        fig.tight_layout()
        with output_path(dest, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)
    return dest


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingExtra("plot", module="matplotlib") from exc
    return plt


def _draw_metric(lab: Lab, ax: Any, infos: Sequence[RunInfo], metric: str, *, x: str) -> None:
    """One panel: a line per run that logged ``metric``.

    Raises:
        InvalidInput: no run logged it.
    """
    import numpy as np

    from rigml.track.queries import load_history

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
