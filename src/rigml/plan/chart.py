"""A PNG of cumulative local and cloud cost with the break-even month marked.

matplotlib is imported here only (the ``plot`` extra), so ``rig cost`` without ``--chart``
never loads it. The file goes through :mod:`rigml._output`: written to a temporary name
and renamed, so a crash leaves no half-written chart, and an unwritable place (or a missing
folder) is an ``OutputNotWritable``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rigml.errors import MissingExtra

if TYPE_CHECKING:
    from os import PathLike

    from rigml.plan.tco import TcoReport

__all__ = ["cost_chart"]


def cost_chart(report: TcoReport, output: str | PathLike[str]) -> Path:
    """Draw ``report``'s cumulative costs to ``output`` (PNG) and return its path.

    Raises:
        MissingExtra: matplotlib is not installed (``pip install 'rigml[plot]'``).
        OutputNotWritable: ``output`` cannot be written, or its folder does not exist.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingExtra("plot", module="matplotlib") from exc

    fig, ax = plt.subplots(figsize=(8, 4.2))
    try:
        local = f"local: {report.local_gpu}" if report.local_gpu else "local"
        cloud = (
            f"cloud: {report.offer.provider} {report.offer.instance}" if report.offer else "cloud"
        )
        if report.local_gpu:
            ax.plot(report.months, report.local_cumulative, label=local, linewidth=2)
        if report.offer:
            ax.plot(report.months, report.cloud_cumulative, label=cloud, linewidth=2)
        be = report.break_even_month
        if be is not None and be <= report.months[-1]:
            y = report.local_cumulative[0] + report.local_energy_monthly_usd * be
            ax.axvline(be, color="grey", linestyle="--", linewidth=1)
            ax.annotate(
                f"break-even: month {be:.1f}",
                (be, y),
                textcoords="offset points",
                xytext=(6, -14),
                fontsize="small",
            )
        ax.set_xlabel("months")
        ax.set_ylabel("cumulative cost (USD)")
        ax.set_title(f"{report.workload}, {report.hours_per_month:,.0f} h/month (estimate)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper left")
        fig.text(0.01, 0.01, report.prices_line, fontsize=6, color="grey")
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        from rigml._output import output_path

        with output_path(output) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)
    return Path(output).expanduser()
