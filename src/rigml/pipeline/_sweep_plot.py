"""The picture of a sweep: each swept param against the objective, one panel a param."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import MissingExtra

if TYPE_CHECKING:
    from rigml.pipeline._sweep import SweepReport


def plot_sweep(report: SweepReport, path: str | os.PathLike[str]) -> Path:
    """Write a PNG of param versus objective for every trial (pruned ones greyed, at their
    last intermediate value), the best trial marked. Returns the path written.

    Raises:
        MissingExtra: matplotlib is not installed.
        OutputNotWritable: ``path`` cannot be written.
    """
    from rigml._output import output_path

    plt = _pyplot()
    keys = sorted({k for t in report.trials for k in t.params})
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(4 * max(1, len(keys)), 3.5))
    panels = list(axes.flat) if hasattr(axes, "flat") else [axes]
    best = report.best
    for ax, key in zip(panels, keys, strict=False):
        for state, style in (("complete", {"c": "tab:blue"}), ("pruned", {"c": "0.7"})):
            points = [
                (_x(t.params[key]), t.value)
                for t in report.trials
                if t.state == state and t.value is not None and key in t.params
            ]
            if points:
                ax.scatter(*zip(*points, strict=True), label=state, s=18, **style)
        if best is not None and key in best.params:
            ax.scatter([_x(best.params[key])], [best.value], marker="*", s=160, c="tab:red",
                       label=f"best (trial {best.number})")  # fmt: skip
        ax.set_xlabel(key)
        ax.set_ylabel(report.metric)
        if key in report.log_keys:
            ax.set_xscale("log")
    panels[0].legend(fontsize="small")
    fig.suptitle(f"sweep {report.name}: {report.metric} ({report.direction})")
    fig.tight_layout()
    try:
        with output_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return Path(path)


def _x(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingExtra("plot", module="matplotlib") from exc
    return plt
