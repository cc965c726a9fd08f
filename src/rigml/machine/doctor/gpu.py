"""``gpu.*`` checks of the hardware: PCIe link, power limit, temperature at idle (from NVML)."""

from __future__ import annotations

from typing import Any

from rigml.machine.doctor._context import DoctorContext, _need_gpus
from rigml.machine.doctor._errors import FactUnavailable
from rigml.machine.doctor._facts import GpuFacts
from rigml.machine.doctor._registry import _check
from rigml.machine.doctor._results import Outcome, Status, _worst
from rigml.machine.gpu import GpuInfo, GpuReading


def _gpu_label(info: GpuInfo) -> str:
    return f"GPU {info.index} ({info.name})"


def _fold(verdicts: list[tuple[GpuInfo, Status, str]]) -> tuple[Status, str]:
    """The worst status over all GPUs, and a summary naming the GPUs that have it."""
    status = _worst(s for _, s, _ in verdicts)
    shown = [v for v in verdicts if v[1] == status] if status != "pass" else verdicts
    return status, "; ".join(f"{_gpu_label(g)}: {text}" for g, _, text in shown)


def _readings_by_index(facts: GpuFacts) -> dict[int, GpuReading]:
    return {r.index: r for r in facts.readings}


@_check("gpu.pcie_link", "GPU PCIe link")
def check_pcie(ctx: DoctorContext) -> Outcome:
    """Whether each GPU's PCIe link runs at its maximum generation and width.

    Why: every batch, weight and gradient that crosses between host and GPU goes over this
    link. A card in an x8 slot, on a riser or with a dirty contact moves data at half speed
    or less: data loading and multi-GPU training without NVLink stall.

    GPUs lower their link *generation* to save power when idle, so a lower generation only
    counts while the GPU is busy (utilisation over {busy_util_percent:g}%); a narrower
    *width* always counts.

    Thresholds: warn when the width is below the maximum, or the generation below it under
    load; fail when the width is a quarter of the maximum or less (x4 of x16).

    Fix: move the card to a full x16 slot wired to the CPU (the motherboard manual says which
    slots share lanes), reseat it, replace a riser cable, and check the BIOS sets the slot to
    the card's PCIe generation (not "Auto" on a flaky riser). Confirm under load with
    `nvidia-smi -q -d PCIE`.
    """
    facts = _need_gpus(ctx)
    t = ctx.thresholds
    readings = _readings_by_index(facts)
    verdicts: list[tuple[GpuInfo, Status, str]] = []
    for g in facts.gpus:
        if None in (g.pcie_gen_current, g.pcie_gen_max, g.pcie_width_current, g.pcie_width_max):
            continue
        assert g.pcie_width_current is not None and g.pcie_width_max is not None
        assert g.pcie_gen_current is not None and g.pcie_gen_max is not None
        r = readings.get(g.index)
        util = r.utilization_percent if r else None
        busy = util is not None and util > t.busy_util_percent
        link = f"gen {g.pcie_gen_current} x{g.pcie_width_current} of gen {g.pcie_gen_max} "
        link += f"x{g.pcie_width_max}"
        if g.pcie_width_current * 4 <= g.pcie_width_max:
            verdicts.append((g, "fail", f"{link}: a quarter of the lanes or fewer"))
        elif g.pcie_width_current < g.pcie_width_max:
            verdicts.append((g, "warn", f"{link}: fewer lanes than the card has"))
        elif g.pcie_gen_current < g.pcie_gen_max and busy:
            verdicts.append((g, "warn", f"{link} while {util:.0f}% busy"))
        elif g.pcie_gen_current < g.pcie_gen_max:
            verdicts.append((g, "pass", f"{link} while idle (normal power saving)"))
        else:
            verdicts.append((g, "pass", link))
    if not verdicts:
        raise FactUnavailable("NVML did not report the PCIe link of any GPU")
    status, summary = _fold(verdicts)
    evidence = {
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "gen": [g.pcie_gen_current, g.pcie_gen_max],
                "width": [g.pcie_width_current, g.pcie_width_max],
                "utilization_percent": getattr(readings.get(g.index), "utilization_percent", None),
                "status": s,
            }
            for g, s, _ in verdicts
        ]
    }
    fix = None
    if status != "pass":
        fix = (
            "put the card in a full x16 slot wired to the CPU (the board manual says which "
            "slots share lanes), reseat it or replace the riser, set the slot's PCIe "
            "generation in the BIOS; confirm under load with `nvidia-smi -q -d PCIE`"
        )
    return Outcome(status, summary, evidence, fix)


@_check("gpu.power_limit", "GPU power limit")
def check_power_limit(ctx: DoctorContext) -> Outcome:
    """Whether a GPU's power limit was lowered below its default.

    Why: the power limit caps the clocks under load. A limit lowered by a previous user, a
    tuning script or a datacenter policy costs throughput roughly in proportion at full
    load, and nothing else tells you.

    Thresholds: warn when the enforced limit is below {power_warn_fraction:g} × the default
    limit. Never fails: a lower limit can be a deliberate choice for heat, noise or
    efficiency.

    Fix: `sudo nvidia-smi -i INDEX -pl DEFAULT_WATTS` restores it until reboot (persistence
    mode keeps it: `sudo nvidia-smi -pm 1`); find what lowers it at boot (a systemd unit,
    /etc/rc.local, a GPU management tool). Ignore this if you lowered it on purpose.
    """
    facts = _need_gpus(ctx)
    t = ctx.thresholds
    verdicts: list[tuple[GpuInfo, Status, str]] = []
    for g in facts.gpus:
        if not g.power_limit_w or not g.power_default_limit_w:
            continue
        ratio = g.power_limit_w / g.power_default_limit_w
        text = f"{g.power_limit_w:.0f} W of default {g.power_default_limit_w:.0f} W"
        if ratio < t.power_warn_fraction:
            verdicts.append((g, "warn", f"{text} ({100 * ratio:.0f}%)"))
        else:
            verdicts.append((g, "pass", text))
    if not verdicts:
        raise FactUnavailable("NVML did not report the power limits of any GPU")
    status, summary = _fold(verdicts)
    evidence = {
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "power_limit_w": g.power_limit_w,
                "power_default_limit_w": g.power_default_limit_w,
                "status": s,
            }
            for g, s, _ in verdicts
        ]
    }
    fix = None
    if status == "warn":
        fixes = [
            f"`sudo nvidia-smi -i {g.index} -pl {g.power_default_limit_w:.0f}`"
            for g, s, _ in verdicts
            if s == "warn"
        ]
        fix = (
            "restore the default: " + ", ".join(fixes) + " (until reboot; find what lowers it "
            "at boot); ignore if you lowered it on purpose"
        )
    return Outcome(status, summary, evidence, fix)


@_check("gpu.idle_temperature", "GPU temperature at idle")
def check_idle_temperature(ctx: DoctorContext) -> Outcome:
    """Whether an idle GPU is already hot.

    A GPU counts as idle when its utilisation is at most {busy_util_percent:g}%; busy GPUs
    are not judged (being hot under load is their job).

    Why: an idle GPU should sit near room temperature plus 10-25 °C. Hot at idle points to
    a stopped fan, clogged filters, a case without airflow or a neighbour card blowing into
    it; the moment work starts, it reaches its thermal limit and lowers its clocks.

    Thresholds: warn at {idle_warn_temp_c:g} °C or more while idle, fail at
    {idle_fail_temp_c:g} °C or more.

    Fix: check the fans (`nvidia-smi -q -d TEMPERATURE,PERFORMANCE`; a fan at 0% with a hot
    GPU is broken or on a bad curve), clean the dust filters, give the case intake and
    exhaust, space the cards; make sure nothing is quietly using the GPU (`nvidia-smi`).
    """
    facts = _need_gpus(ctx)
    t = ctx.thresholds
    readings = _readings_by_index(facts)
    verdicts: list[tuple[GpuInfo, Status, str]] = []
    busy: list[str] = []
    for g in facts.gpus:
        r = readings.get(g.index)
        if r is None or r.temperature_c is None:
            continue
        util = r.utilization_percent
        if util is not None and util > t.busy_util_percent:
            busy.append(f"GPU {g.index} {util:.0f}% busy at {r.temperature_c:.0f} °C")
            continue
        text = f"{r.temperature_c:.0f} °C at {util or 0:.0f}% utilisation"
        if r.temperature_c >= t.idle_fail_temp_c:
            verdicts.append((g, "fail", text))
        elif r.temperature_c >= t.idle_warn_temp_c:
            verdicts.append((g, "warn", text))
        else:
            verdicts.append((g, "pass", text))
    evidence: dict[str, Any] = {
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "temperature_c": readings[g.index].temperature_c,
                "utilization_percent": readings[g.index].utilization_percent,
                "status": s,
            }
            for g, s, _ in verdicts
        ],
        "busy": busy,
    }
    if not verdicts:
        if busy:
            return Outcome(
                "skip",
                "every GPU is busy, so idle temperature cannot be judged ("
                + "; ".join(busy)
                + "); run doctor while they are idle",
                evidence,
            )
        raise FactUnavailable("NVML did not report the temperature of any GPU")
    status, summary = _fold(verdicts)
    fix = None
    if status != "pass":
        fix = (
            "check the fans (`nvidia-smi -q -d TEMPERATURE,PERFORMANCE`), clean the dust "
            "filters, give the case intake and exhaust, space the cards; and check nothing "
            "is quietly using the GPU (`nvidia-smi`)"
        )
    return Outcome(status, summary, evidence, fix)
