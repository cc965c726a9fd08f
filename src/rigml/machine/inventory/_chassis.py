"""What kind of box this is: DMI chassis type, battery, virtual machine, container."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rigml.machine.inventory._readers import _read, _to_int

ChassisKind = Literal["laptop", "desktop", "server", "unknown"]

CHASSIS_TYPES: dict[int, tuple[str, ChassisKind]] = {
    1: ("Other", "unknown"),
    2: ("Unknown", "unknown"),
    3: ("Desktop", "desktop"),
    4: ("Low Profile Desktop", "desktop"),
    5: ("Pizza Box", "desktop"),
    6: ("Mini Tower", "desktop"),
    7: ("Tower", "desktop"),
    8: ("Portable", "laptop"),
    9: ("Laptop", "laptop"),
    10: ("Notebook", "laptop"),
    11: ("Hand Held", "laptop"),
    12: ("Docking Station", "unknown"),
    13: ("All in One", "desktop"),
    14: ("Sub Notebook", "laptop"),
    15: ("Space-saving", "desktop"),
    16: ("Lunch Box", "desktop"),
    17: ("Main Server Chassis", "server"),
    18: ("Expansion Chassis", "server"),
    19: ("SubChassis", "server"),
    20: ("Bus Expansion Chassis", "server"),
    21: ("Peripheral Chassis", "server"),
    22: ("RAID Chassis", "server"),
    23: ("Rack Mount Chassis", "server"),
    24: ("Sealed-case PC", "desktop"),
    25: ("Multi-system Chassis", "server"),
    26: ("Compact PCI", "server"),
    27: ("Advanced TCA", "server"),
    28: ("Blade", "server"),
    29: ("Blade Enclosure", "server"),
    30: ("Tablet", "laptop"),
    31: ("Convertible", "laptop"),
    32: ("Detachable", "laptop"),
    33: ("IoT Gateway", "unknown"),
    34: ("Embedded PC", "desktop"),
    35: ("Mini PC", "desktop"),
    36: ("Stick PC", "desktop"),
}
"""SMBIOS chassis type codes (DMI ``chassis_type``): their name and the kind we read."""

_SYS_DMI = Path("/sys/class/dmi/id")
_SYS_POWER = Path("/sys/class/power_supply")


@dataclass(frozen=True)
class Chassis:
    """What kind of box this is, and how we know."""

    kind: ChassisKind
    reason: str
    dmi_type: int | None = None
    dmi_type_name: str | None = None
    vendor: str | None = None
    product: str | None = None
    battery: bool | None = None
    virtual_machine: bool | None = None
    container: str | None = None


def chassis_kind(dmi_type: int | None, battery: bool | None) -> tuple[ChassisKind, str]:
    """The chassis kind and why: DMI's chassis type when it names one, else the battery.

    A machine whose firmware gives no useful chassis type but has a system battery is a
    laptop; without either we say ``unknown`` rather than guess.
    """
    if dmi_type is not None and dmi_type in CHASSIS_TYPES:
        name, kind = CHASSIS_TYPES[dmi_type]
        if kind != "unknown":
            return kind, f"DMI chassis type {dmi_type}, {name}"
    if battery:
        return "laptop", "a system battery is present"
    if dmi_type is not None:
        name = CHASSIS_TYPES.get(dmi_type, ("unlisted", "unknown"))[0]
        return "unknown", f"DMI chassis type {dmi_type}, {name}, names no kind, and no battery"
    return "unknown", "no DMI chassis type and no battery"


def _battery() -> bool | None:
    if not _SYS_POWER.is_dir():
        return None
    try:
        supplies = list(_SYS_POWER.iterdir())
    except OSError:
        return None
    for supply in supplies:
        if _read(supply / "type") != "Battery":
            continue
        # A wireless mouse or headset reports a battery too, with scope "Device".
        if _read(supply / "scope") == "Device":
            continue
        return True
    return False


def _container() -> str | None:
    if Path("/.dockerenv").exists():
        return "docker"
    if Path("/run/.containerenv").exists():
        return "podman"
    # systemd-nspawn, LXC and others set the lower-case `container` variable by convention.
    return os.environ.get("container") or None  # noqa: SIM112


def _read_chassis(cpu_flags: list[str] | None, notes: list[str]) -> Chassis:
    dmi_type = _to_int(_read(_SYS_DMI / "chassis_type"))
    vendor = _read(_SYS_DMI / "sys_vendor") or None
    product = _read(_SYS_DMI / "product_name") or None
    battery = _battery()
    if sys.platform.startswith("linux") and dmi_type is None:
        notes.append(
            "chassis type unknown: /sys/class/dmi is not readable (virtual machine, container "
            "or non-PC firmware)"
        )
    elif not sys.platform.startswith("linux"):
        notes.append("chassis type unknown: DMI and battery are only read on Linux")
    kind, reason = chassis_kind(dmi_type, battery)
    vm: bool | None = None
    if cpu_flags is not None:
        vm = "hypervisor" in cpu_flags or Path("/sys/hypervisor/type").exists()
    return Chassis(
        kind=kind,
        reason=reason,
        dmi_type=dmi_type,
        dmi_type_name=CHASSIS_TYPES[dmi_type][0] if dmi_type in CHASSIS_TYPES else None,
        vendor=vendor,
        product=product,
        battery=battery,
        virtual_machine=vm,
        container=_container(),
    )
