"""AMD GPUs, read through ``rocm-smi`` when it is installed.

NVIDIA GPUs are read through a :class:`~rigml.machine.gpu.GpuSource` (:func:`read_gpus`);
AMD has no such binding here yet, so :func:`read_amd_gpus` asks ``rocm-smi`` with a short
timeout and says so when an AMD GPU is on the bus but the tool is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rigml.machine.readings._files import read_small as _read
from rigml.machine.readings._files import to_int as _to_int

_ROCM_SMI_TIMEOUT_S = 0.8
_SYS_DRM = Path("/sys/class/drm")


@dataclass(frozen=True)
class AmdGpu:
    """One AMD GPU as ``rocm-smi`` reports it."""

    index: int
    card: str
    name: str | None
    vendor: str | None
    gfx_version: str | None
    memory_total_bytes: int | None
    memory_used_bytes: int | None
    memory_free_bytes: int | None


def parse_rocm_smi(text: str) -> list[AmdGpu]:
    """GPUs from the output of ``rocm-smi --showproductname --showmeminfo vram --json``.

    Defensive on purpose: rocm-smi may print warnings before the JSON, and its key names
    changed between releases ("Card series" / "Card Series" / "Device Name"); a key that is
    missing or reads "N/A" becomes ``None``. Entries that are not ``cardN`` (such as
    ``system``) are skipped.

    Raises:
        ValueError: The output holds no JSON object.
    """
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in rocm-smi's output")
    try:
        data, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as exc:
        raise ValueError(f"rocm-smi's output is not valid JSON ({exc})") from None
    if not isinstance(data, Mapping):
        raise ValueError("rocm-smi's JSON is not an object of cards")
    gpus = []
    for card, raw in data.items():
        match = re.fullmatch(r"card(\d+)", str(card))
        if not match or not isinstance(raw, Mapping):
            continue
        values = {str(k).strip().lower(): v for k, v in raw.items()}

        def get(*keys: str, values: dict[str, Any] = values) -> str | None:
            for key in keys:
                v = values.get(key)
                if v is not None and str(v).strip() not in ("", "N/A", "n/a"):
                    return str(v).strip()
            return None

        total = _to_int(get("vram total memory (b)"))
        used = _to_int(get("vram total used memory (b)"))
        gpus.append(
            AmdGpu(
                index=int(match.group(1)),
                card=str(card),
                name=get("card series", "device name", "card model", "marketing name"),
                vendor=get("card vendor", "card vendor name"),
                gfx_version=get("gfx version"),
                memory_total_bytes=total,
                memory_used_bytes=used,
                memory_free_bytes=max(0, total - used)
                if total is not None and used is not None
                else None,
            )
        )
    return sorted(gpus, key=lambda g: g.index)


def _amd_on_pci() -> bool:
    """Whether a display device with AMD's PCI vendor id (0x1002) is present."""
    try:
        cards = list(_SYS_DRM.glob("card*/device/vendor"))
    except OSError:
        return False
    return any(_read(p) == "0x1002" for p in cards)


def _run_rocm_smi(exe: str) -> tuple[list[AmdGpu], str | None]:
    cmd = [exe, "--showproductname", "--showmeminfo", "vram", "--json"]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=_ROCM_SMI_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [], f"rocm-smi did not answer within {_ROCM_SMI_TIMEOUT_S} s"
    except OSError as exc:
        return [], f"rocm-smi could not run: {exc}"
    try:
        gpus = parse_rocm_smi(done.stdout)
    except ValueError as exc:
        tail = (done.stderr or "").strip().splitlines()[-1:] or [str(exc)]
        return [], f"rocm-smi gave no GPU list (exit {done.returncode}): {tail[0][:200]}"
    return gpus, None if gpus else "rocm-smi lists no AMD GPU"


def _amd_missing_note() -> str | None:
    if _amd_on_pci():
        return "an AMD GPU is on the PCI bus but rocm-smi is not installed, so it is not read"
    return None


@dataclass(frozen=True)
class AmdGpusReading:
    """The AMD GPUs ``rocm-smi`` lists; ``note`` says why the list is empty, when it is."""

    gpus: tuple[AmdGpu, ...]
    note: str | None = None


def read_amd_gpus() -> AmdGpusReading:
    """AMD GPUs through ``rocm-smi`` (a subprocess, under a second); never raises."""
    exe = shutil.which("rocm-smi")
    if exe is None:
        return AmdGpusReading((), _amd_missing_note())
    gpus, note = _run_rocm_smi(exe)
    return AmdGpusReading(tuple(gpus), note)
