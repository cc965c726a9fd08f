"""The shipped catalogues: popular open models (as configs) and common GPUs.

Both are JSON files in ``rigml/fit/data`` with a date and a source per entry, so the
planner works offline and every figure can be traced. Names match case-insensitively, on
the entry's name or any alias (Hub ids, NVML names, short spellings); a miss suggests the
closest names.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from rigml._units import GIB, MIB
from rigml.errors import NotFound


class UnknownModel(NotFound):
    def __init__(self, name: str, close: list[str]) -> None:
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else "see `rig fit --list`, or pass a config.json, .safetensors or .gguf path"
        )
        super().__init__(f"no model {name!r} in the catalogue and no such file", hint=hint)
        self.name, self.close = name, close


class UnknownGpu(NotFound):
    def __init__(self, name: str, close: list[str]) -> None:
        hint = f"did you mean {', '.join(close)}?" if close else "or give its memory: --vram 24"
        super().__init__(f"no GPU {name!r} in the GPU table", hint=hint)
        self.name, self.close = name, close


@dataclass(frozen=True)
class CatalogueModel:
    name: str
    family: str
    params_b: float
    active_params_b: float | None
    source: str
    aliases: tuple[str, ...]
    config: dict[str, Any]


@dataclass(frozen=True)
class Gpu:
    """A GPU model: memory, bandwidth and dense tensor throughput from its spec sheet."""

    name: str
    vram_bytes: int
    bandwidth_gbs: float | None
    bf16_tflops: float | None
    fp32_tflops: float | None
    segment: str
    cloud: bool
    source: str | None = None
    tdp_w: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vram_bytes": self.vram_bytes,
            "bandwidth_gbs": self.bandwidth_gbs,
            "bf16_tflops": self.bf16_tflops,
            "segment": self.segment,
            "cloud": self.cloud,
        }


def _key(text: str) -> str:
    """Spelling-insensitive key: 'NVIDIA GeForce RTX 4090' and 'rtx-4090' compare equal."""
    text = text.lower().strip()
    text = re.sub(r"^(nvidia|amd|geforce|tesla|radeon)\s+", "", text)
    text = re.sub(r"^(nvidia|amd|geforce|tesla|radeon)\s+", "", text)
    return re.sub(r"[\s_\-]+", "", text)


def _load(name: str) -> Any:
    return json.loads(resources.files("rigml.fit").joinpath("data", name).read_text("utf-8"))


@cache
def models_data() -> dict[str, Any]:
    data: dict[str, Any] = _load("models.json")
    return data


@cache
def models() -> dict[str, CatalogueModel]:
    """Every catalogue model, by name, in file order."""
    out = {}
    for m in models_data()["models"]:
        out[m["name"]] = CatalogueModel(
            name=m["name"],
            family=m.get("family", ""),
            params_b=float(m.get("params_b") or 0),
            active_params_b=m.get("active_params_b"),
            source=m.get("source", ""),
            aliases=tuple(m.get("aliases", ())),
            config=m["config"],
        )
    return out


@cache
def _model_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for m in models().values():
        for alias in (m.name, *m.aliases):
            index.setdefault(_key(alias), m.name)
            index.setdefault(_key(alias.split("/")[-1]), m.name)
    return index


def find_model(name: str) -> CatalogueModel | None:
    """The catalogue entry called ``name`` (or an alias of it), else ``None``."""
    hit = _model_index().get(_key(name)) or _model_index().get(_key(name.split("/")[-1]))
    return models()[hit] if hit else None


def close_models(name: str) -> list[str]:
    names = list(models())
    keyed = {_key(n): n for n in names}
    found = difflib.get_close_matches(_key(name), list(keyed), n=4, cutoff=0.6)
    return [keyed[k] for k in found]


@cache
def gpus() -> dict[str, Gpu]:
    """Every GPU in the table, by name."""
    out = {}
    for g in _load("gpus.json")["gpus"]:
        out[g["name"]] = Gpu(
            name=g["name"],
            # what the driver reports: NVML's figure where known, else the marketed GB taken
            # as GiB (consumer cards report exactly that)
            vram_bytes=int(g["memory_mib"]) * MIB
            if g.get("memory_mib")
            else int(float(g["vram_gb"]) * GIB),
            bandwidth_gbs=g.get("memory_bandwidth_gbs"),
            bf16_tflops=g.get("bf16_tflops") or g.get("fp16_tflops"),
            fp32_tflops=g.get("fp32_tflops"),
            segment=g.get("segment", ""),
            cloud=bool(g.get("cloud")),
            source=g.get("source"),
            tdp_w=g.get("tdp_w"),
        )
    return out


@cache
def _gpu_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for g in _load("gpus.json")["gpus"]:
        for alias in (g["name"], *g.get("aliases", ())):
            index.setdefault(_key(alias), g["name"])
    return index


def find_gpu(name: str) -> Gpu | None:
    """The GPU called ``name`` (any alias, including the NVML name), else ``None``."""
    hit = _gpu_index().get(_key(name))
    return gpus()[hit] if hit else None


def gpu(name: str) -> Gpu:
    """Like :func:`find_gpu`, but a miss raises.

    Raises:
        UnknownGpu: no such GPU; the hint names close matches.
    """
    found = find_gpu(name)
    if found is None:
        keys = _gpu_index()
        close = difflib.get_close_matches(_key(name), list(keys), n=6, cutoff=0.5)
        raise UnknownGpu(name, list(dict.fromkeys(keys[k] for k in close))[:3])
    return found


def cloud_gpus() -> list[Gpu]:
    """GPUs commonly rented by the hour, smallest memory first, then slowest (cheapest)."""
    return sorted(
        (g for g in gpus().values() if g.cloud),
        key=lambda g: (g.vram_bytes, g.bandwidth_gbs or 0),  # older, cheaper cards first
    )
