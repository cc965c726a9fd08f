"""``rig cost``: local against cloud (TCO, break-even, chart), tracked usage, prices, grid."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.plan.tco import TcoReport
    from rigml.plan.usage import UsageReport

app = typer.Typer(
    help="What a workload costs here against the cloud, what tracked runs cost, and their "
    "carbon. Every figure is an estimate with its assumptions and the price catalogue's age.",
    invoke_without_command=True,
    no_args_is_help=False,
)

_PRICES = typer.Option(
    None, "--prices", help="Price file (JSON/YAML) on top of the shipped catalogue."
)


@app.callback()
def cost(
    ctx: typer.Context,
    model: str | None = typer.Option(
        None, "--model", "-m", help="Workload model (catalogue name or path) for the fit planner."
    ),
    task: str = typer.Option("infer", "--task", "-t", help="infer, lora, qlora or full."),
    quant: str | None = typer.Option(None, "--quant", "-q", help="Weight quantisation."),
    context: int | None = typer.Option(None, "--context", "-c", help="Tokens per sequence."),
    gradient_checkpointing: bool = typer.Option(False, "--gc", help="Gradient checkpointing."),
    gpu: str | None = typer.Option(
        None,
        "--gpu",
        help="Local GPU to buy or own [default: this machine's, else the cheapest that fits].",
    ),
    price: float | None = typer.Option(None, "--price", help="Its purchase price, USD."),
    owned: bool = typer.Option(False, "--owned", help="Already bought: count no purchase."),
    extra: float = typer.Option(0.0, "--extra", help="Other purchases with it (USD)."),
    years: float = typer.Option(3.0, "--years", help="Depreciation period in years (<= 15)."),
    hours: float | None = typer.Option(None, "--hours", help="Hours a month it runs."),
    utilisation: float | None = typer.Option(
        None, "--utilisation", "-u", help="Share of the month it runs (0-1) [default: 0.25]."
    ),
    electricity: float | None = typer.Option(None, "--electricity", help="USD per kWh."),
    power: float | None = typer.Option(None, "--power", help="Measured GPU power (W)."),
    storage: float = typer.Option(200.0, "--storage-gb", help="Cloud storage kept (GB)."),
    egress: float = typer.Option(50.0, "--egress-gb", help="Cloud egress a month (GB)."),
    offer: str | None = typer.Option(None, "--offer", help="Cloud instance id to compare."),
    prices: Path | None = _PRICES,
    chart: Path | None = typer.Option(None, "--chart", help="Write a PNG of cumulative cost."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Local GPU against the smallest cloud instance that fits: monthly cost, break-even."""
    if ctx.invoked_subcommand is not None:
        return
    from rigml.fit.request import FitRequest
    from rigml.plan.tco import TcoInputs, tco_report

    request = (
        FitRequest(
            task=task,  # type: ignore[arg-type]  # checked in FitRequest.resolved
            quant=quant,
            context=context,
            gradient_checkpointing=gradient_checkpointing,
        )
        if model
        else None
    )
    inputs = TcoInputs(
        model=model,
        request=request,
        gpu=gpu,
        purchase_usd=price,
        owned=owned,
        years=years,
        hours_per_month=hours,
        utilisation=utilisation,
        electricity_usd_per_kwh=electricity,
        power_w=power,
        storage_gb=storage,
        egress_gb_month=egress,
        offer=offer,
        extra_usd=extra,
        prices_path=prices,
    )
    report = tco_report(inputs, lab=_lab_if_any())
    _show_tco(report, chart, json_out)


def _lab_if_any() -> Lab | None:
    """The current lab, or ``None`` outside one: measured power from runs is then simply
    not available."""
    from rigml.cli import _state
    from rigml.errors import RigError

    try:
        return _state.open_lab()
    except RigError:
        return None


def _show_tco(report: TcoReport, chart: Path | None, json_out: bool) -> None:
    """The report as JSON or tables, with its chart drawn first when asked for."""
    from rigml.cli import _ui

    png = None
    if chart is not None:
        from rigml.plan.chart import cost_chart

        png = cost_chart(report, chart)
    if json_out:
        data = report.to_dict()
        data["chart"] = str(png) if png else None
        _ui.write_json(data)
        return
    _render_tco(report, png)


def _usd(v: float | None) -> str:
    return "-" if v is None else f"${v:,.2f}" if abs(v) < 100 else f"${v:,.0f}"


def _render_tco(r: TcoReport, png: Path | None) -> None:
    from rich.markup import escape

    from rigml.cli import _ui

    _ui.write(f"[bold]{escape(r.workload)}[/]: {r.hours_per_month:,.0f} h a month (estimate)")
    o = r.offer
    _ui.table(
        ["", "local", "cloud"],
        [
            [
                "what",
                r.local_gpu or "-",
                f"{o.provider} {o.instance} ({o.gpus} x {o.gpu})" if o else "-",
            ],
            ["up front", _usd(r.purchase_usd), "$0"],
            [
                "per month",
                f"{_usd(r.local_energy_monthly_usd)} electricity",
                f"{_usd(r.cloud_compute_monthly_usd)} compute + "
                f"{_usd(r.cloud_storage_monthly_usd)} storage + "
                f"{_usd(r.cloud_egress_monthly_usd)} egress",
            ],
            [
                "per month, amortised",
                _usd(r.local_amortised_monthly_usd),
                _usd(r.cloud_monthly_usd),
            ],
            [
                f"after {r.months[-1]} months",
                _usd(r.local_cumulative[-1]) if r.local_gpu else "-",
                _usd(r.cloud_cumulative[-1]) if o else "-",
            ],
            [
                "price",
                escape(r.purchase_source),
                f"${o.usd_per_hour:g}/h ({o.as_of})" if o else "-",
            ],
        ],
    )
    be = "-" if r.break_even_month is None else f"month {r.break_even_month:.1f}"
    _ui.write(f"break-even: [bold]{be}[/]: {escape(r.conclusion)}")
    if png:
        _ui.write(f"chart: {escape(str(png))}")
    _ui.write("[dim]assumptions:[/]")
    for a in r.assumptions:
        _ui.write(f"  • {escape(a)}", soft_wrap=True)
    _ui.write(f"[dim]{escape(r.prices_line)}[/]")


@app.command("usage")
def usage_cmd(
    since: str = typer.Option("30d", "--since", help="30d, 12h, 2w or a date."),
    gpu: str | None = typer.Option(None, "--gpu", help="GPU the runs used [default: this one]."),
    region: str = typer.Option("WORLD", "--region", help="Grid region for carbon (DE, FRA...)."),
    electricity: float | None = typer.Option(None, "--electricity", help="USD per kWh."),
    price: float | None = typer.Option(None, "--price", help="Local GPU price, USD."),
    years: float = typer.Option(3.0, "--years", help="Depreciation period in years."),
    offer: str | None = typer.Option(None, "--offer", help="Cloud instance id to compare."),
    prices: Path | None = _PRICES,
    grid: Path | None = typer.Option(None, "--grid", help="Grid-intensity file on top."),
    limit: int = typer.Option(20, "--limit", "-n", help="Runs to list (most costly first)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """What the lab's tracked runs cost here, would have cost in the cloud, and emitted.

    An unknown --region is no error: carbon falls back to the world average, and the
    output says so and lists the regions it knows.
    """
    from rigml.cli import _state, _ui
    from rigml.errors import InvalidInput
    from rigml.plan.usage import UsageInputs, usage_report

    if limit < 0:
        raise InvalidInput(
            f"--limit must be 0 or more runs, got {limit}", hint="e.g. --limit 20, or 0 for totals"
        )
    inputs = UsageInputs(
        since=since,
        gpu=gpu,
        region=region,
        electricity_usd_per_kwh=electricity,
        purchase_usd=price,
        years=years,
        offer=offer,
        prices_path=prices,
        grid_path=grid,
    )
    report = usage_report(_state.open_lab(), inputs)
    if json_out:
        _ui.write_json(report)
        return
    _render_usage(report, limit)


def _render_usage(r: UsageReport, limit: int) -> None:
    from rich.markup import escape

    from rigml.cli import _ui

    rows = [
        [
            c.run_id[:8],
            c.name,
            c.status,
            f"{c.hours:,.2f}",
            f"{c.energy.kwh:,.3f}",
            c.energy.source,
            _usd(c.local_usd),
            _usd(c.cloud_usd),
            f"{c.co2e_g:,.0f}",
        ]
        for c in r.runs[:limit]
    ]
    _ui.table(
        ["run", "name", "status", "hours", "kWh", "energy from", "local", "cloud", "gCO2e"],
        rows,
        title=f"{len(r.runs)} runs since {_ui.when(r.since)} (estimate)",
    )
    cloud = f"{r.offer.provider} {r.offer.instance}" if r.offer else "no comparison"
    grid = f"{r.grid.name}, {r.grid.year}" + (
        f"; fallback: region {r.region_asked!r} is not known" if r.region_fallback else ""
    )
    if r.region_fallback:
        _ui.err_console().print(
            f"warning: no grid intensity for region {r.region_asked!r}: carbon uses the world "
            f"average ({r.grid.g_per_kwh:g} gCO2e/kWh) instead; `rig cost grid` lists the "
            "known regions",
            markup=False,
            soft_wrap=True,
        )
    _ui.write(
        f"total: {r.hours:,.1f} h, {r.kwh:,.2f} kWh ({r.measured_runs} runs measured, "
        f"{r.fallback_runs} from the catalogue), local {_usd(r.local_usd)}, cloud "
        f"{_usd(r.cloud_usd)} ({escape(cloud)}), {r.co2e_g / 1000:,.2f} kg CO2e at "
        f"{r.grid.g_per_kwh:g} g/kWh ({escape(grid)})"
    )
    if not r.runs:
        _ui.write(
            f"no tracked runs started since {_ui.when(r.since)}: track work with "
            "`rigml.track.start_run(...)` in your script (`rig runs` lists them), or widen "
            "--since (e.g. 90d)",
            markup=False,
            soft_wrap=True,
        )
    for n in r.notes:
        _ui.write(f"  • {escape(n)}", soft_wrap=True)
    _ui.write(f"[dim]grid: {escape(r.grid.source)}[/]", soft_wrap=True)
    _ui.write(f"[dim]{escape(r.prices_line)}[/]")


@app.command("prices")
def prices_cmd(
    prices: Path | None = _PRICES,
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """The price catalogue in force, each figure with its source and date."""
    from rigml.cli import _ui
    from rigml.plan.prices import load_prices

    cat = load_prices(prices)
    if json_out:
        _ui.write_json(cat.to_dict())
        return
    _ui.table(
        ["id", "provider", "GPUs", "USD/h", "region", "as of", "source"],
        [
            [o.id, o.provider, f"{o.gpus} x {o.gpu}", o.usd_per_hour, o.region, o.as_of, o.source]
            for o in cat.cloud
        ],
        title="cloud, on demand",
    )
    _ui.table(
        ["id", "what", "USD", "kind", "as of", "source"],
        [[h.id, h.gpu, h.usd, h.kind, h.as_of, h.source] for h in cat.hardware]
        + [[p.id, p.what, p.usd, p.kind, p.as_of, p.source] for p in cat.parts],
        title="hardware",
    )
    for f in (cat.storage, cat.egress, cat.electricity):
        _ui.write(f"{f.what}: {f.value:g} {f.unit} ({f.source}, {f.as_of})", markup=False)
    _ui.write(cat.age_line(), markup=False)


@app.command("grid")
def grid_cmd(
    grid: Path | None = typer.Option(None, "--grid", help="Grid-intensity file on top."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Grid carbon intensity by region (gCO2e/kWh) with its source."""
    from rigml.cli import _ui
    from rigml.plan.carbon import known_regions

    regions = known_regions(grid)
    if json_out:
        _ui.write_json([g.to_dict() for g in regions])
        return
    _ui.table(
        ["code", "region", "gCO2e/kWh", "year", "source"],
        [[g.code, g.name, g.g_per_kwh, g.year, g.source] for g in regions],
    )
