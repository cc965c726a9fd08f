"""``rig machine``: what this machine is, and how a planner classifies it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from rigml._units import format_bytes

if TYPE_CHECKING:
    from rigml.machine.inventory import Inventory
    from rigml.machine.profile import MachineProfile


def machine(
    json_out: bool = typer.Option(
        False,
        "--json",
        help="Print JSON instead of tables (schema version 1, documented in "
        "rigml/machine/schema.md).",
    ),
) -> None:
    """Describe this machine: system, CPU, memory, disks, GPUs, ML software, and its profile.

    The profile is the archetype (laptop-first, cpu-only-desktop, single-gpu-desktop,
    multi-gpu-workstation, server) and the RAM / VRAM / storage bands (entry, comfortable,
    heavy) that planning commands reason with, each with the figures and thresholds used.
    """
    from rigml.cli import _ui
    from rigml.machine.inventory import inventory
    from rigml.machine.profile import classify

    inv = inventory()
    profile = classify(inv)
    if json_out:
        _ui.write_json({**inv.to_dict(), "profile": profile.to_dict()})
        return
    _render(inv, profile)


def _size(n: int | None) -> str | None:
    return None if n is None else format_bytes(n)


def _render(inv: Inventory, profile: MachineProfile) -> None:
    from rigml.cli import _ui

    _render_system(inv)
    _render_cpu(inv)
    _render_memory(inv)
    _render_disks(inv)
    _render_gpus(inv)
    _render_software(inv)
    _render_profile(profile)
    for note in inv.notes:
        _ui.write(f"[dim]note: {_escape(note)}[/]")


def _render_system(inv: Inventory) -> None:
    from rigml.cli import _ui

    s, ch = inv.system, inv.chassis
    virt = []
    if ch.virtual_machine:
        virt.append("virtual machine")
    if ch.container:
        virt.append(f"container ({ch.container})")
    _ui.table(
        ["", "value"],
        [
            ["host", s.hostname],
            ["OS", s.distro or s.os],
            ["kernel", s.kernel],
            ["arch", s.arch],
            ["chassis", f"{ch.kind} ({ch.reason})"],
            ["vendor / product", " / ".join(x for x in (ch.vendor, ch.product) if x) or None],
            ["virtualisation", ", ".join(virt) or "none detected"],
        ],
        title="system",
    )


def _render_cpu(inv: Inventory) -> None:
    from rigml.cli import _ui

    cpu = inv.cpu
    freqs = [
        f"{name} {value:.0f} MHz"
        for name, value in (
            ("now", cpu.freq_current_mhz),
            ("min", cpu.freq_min_mhz),
            ("max", cpu.freq_max_mhz),
        )
        if value
    ]
    sets = ", ".join(cpu.instruction_sets) or None
    if sets is None and cpu.flags is not None:
        sets = "none of AVX2, AVX-512, AMX, NEON"
    counts = f"{cpu.sockets or '?'} / {cpu.physical_cores or '?'} / {cpu.logical_cores or '?'}"
    _ui.table(
        ["", "value"],
        [
            ["model", cpu.model],
            ["vendor", cpu.vendor],
            ["sockets / cores / threads", counts],
            ["frequency", ", ".join(freqs) or None],
            ["ML instruction sets", sets],
        ],
        title="CPU",
    )


def _render_memory(inv: Inventory) -> None:
    from rigml.cli import _ui

    mem = inv.memory
    _ui.table(
        ["", "total", "available / used"],
        [
            ["RAM", _size(mem.total_bytes), f"{_size(mem.available_bytes)} available"],
            [
                "swap",
                "none" if mem.swap_total_bytes == 0 else _size(mem.swap_total_bytes),
                None if not mem.swap_total_bytes else f"{_size(mem.swap_used_bytes)} used",
            ],
        ],
        title="memory",
    )


def _render_disks(inv: Inventory) -> None:
    from rigml.cli import _ui

    if not inv.disks:
        _ui.write("[dim]disks: no local filesystem could be read[/]")
        return
    _ui.table(
        ["mount", "device", "kind", "fs", "size", "free", "model"],
        [
            [
                d.mountpoint + (f" (+{len(d.also_mounted_at)} more)" if d.also_mounted_at else ""),
                d.device
                if not d.parent or d.device.endswith(d.parent)
                else f"{d.device} on {d.parent}",
                d.kind + (", removable" if d.removable else ""),
                d.fstype,
                _size(d.total_bytes),
                _size(d.free_bytes),
                d.model,
            ]
            for d in inv.disks
        ],
        title="disks",
    )


def _render_profile(profile: MachineProfile) -> None:
    from rigml.cli import _ui

    _ui.write(f"[bold]profile:[/] {profile.archetype}  [dim]{_escape(profile.reason)}[/]")
    _ui.table(
        ["resource", "amount", "band", "comfortable from", "heavy from", "why"],
        [
            [
                b.resource,
                None if b.value_gib is None else f"{b.value_gib:g} GiB",
                _ui.Styled(f"[{_BAND_STYLE.get(b.band, 'white')}]{b.band}[/]"),
                f"{b.comfortable_gib:g} GiB",
                f"{b.heavy_gib:g} GiB",
                b.reason,
            ]
            for b in (profile.ram, profile.vram, profile.storage)
        ],
        title="bands",
    )


_BAND_STYLE = {"none": "dim", "entry": "yellow", "comfortable": "green", "heavy": "bold green"}


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _render_gpus(inv: Inventory) -> None:
    from rigml.cli import _ui

    g = inv.gpus
    if g.nvidia:
        rows = []
        for x in g.nvidia:
            pcie = None
            if x.pcie_gen_max is not None or x.pcie_width_max is not None:
                pcie = (
                    f"gen {x.pcie_gen_current or '?'}/{x.pcie_gen_max or '?'} "
                    f"x{x.pcie_width_current or '?'}/x{x.pcie_width_max or '?'}"
                )
            power = None
            if x.power_limit_w is not None:
                power = f"{x.power_limit_w:.0f} W"
                if x.power_default_limit_w and x.power_default_limit_w != x.power_limit_w:
                    power += f" (default {x.power_default_limit_w:.0f} W)"
            rows.append(
                [
                    x.index,
                    x.name,
                    _size(x.memory_total_bytes),
                    _size(x.memory_free_bytes),
                    x.compute_capability,
                    pcie,
                    power,
                    None if x.temperature_c is None else f"{x.temperature_c:.0f} °C",
                    f"{x.driver_version or '?'} / CUDA {x.cuda_driver_version or '?'}",
                ]
            )
        _ui.table(
            [
                "#",
                "NVIDIA GPU",
                "VRAM",
                "free",
                "compute",
                "PCIe now/max",
                "power limit",
                "temp",
                "driver / CUDA",
            ],
            rows,
            title="NVIDIA GPUs",
        )
    else:
        _ui.write(f"no NVIDIA GPU visible: {_escape(g.nvidia_note or 'NVML lists none')}")
    if g.amd:
        _ui.table(
            ["#", "AMD GPU", "gfx", "VRAM", "free"],
            [
                [
                    x.index,
                    x.name,
                    x.gfx_version,
                    _size(x.memory_total_bytes),
                    _size(x.memory_free_bytes),
                ]
                for x in g.amd
            ],
            title="AMD GPUs",
        )
    elif g.amd_note:
        _ui.write(f"AMD GPUs: {_escape(g.amd_note)}")


def _render_software(inv: Inventory) -> None:
    from rigml.cli import _ui

    s, sw = inv.system, inv.software
    torch = "not installed"
    if sw.torch is not None:
        build = "CPU build"
        if sw.torch.get("cuda"):
            build = f"CUDA {sw.torch['cuda']}"
        elif sw.torch.get("hip"):
            build = f"ROCm {sw.torch['hip']}"
        torch = f"{sw.torch.get('version') or '?'} ({build})"
    toolkit = None
    if sw.cuda_toolkit is not None:
        toolkit = f"{sw.cuda_toolkit.get('version') or '?'} at {sw.cuda_toolkit.get('path') or '?'}"
    runtimes = ", ".join(
        f"{r.name} {r.version}" if r.version else r.name for r in sw.container_runtimes
    )
    installed = [f"{k} {v}" for k, v in sw.ml_packages.items() if v]
    missing = [k for k, v in sw.ml_packages.items() if not v]
    venv = " (virtualenv)" if s.in_virtualenv else ""
    _ui.table(
        ["", "value"],
        [
            ["Python", f"{s.python_implementation} {s.python}{venv}"],
            ["torch", torch],
            ["CUDA toolkit", toolkit or "not found"],
            ["containers", runtimes or "none found"],
            ["ML packages", ", ".join(installed) or "none"],
            ["not installed", ", ".join(missing) or None],
        ],
        title="software",
    )
