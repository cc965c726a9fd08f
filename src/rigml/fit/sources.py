"""Where a model comes from: :func:`load_model` turns what the user typed into a spec.

MODEL may be a catalogue name (``llama-3.1-8b``, a Hub id or alias), a model folder (its
``config.json`` and ``*.safetensors`` headers), a ``config.json``, a ``.safetensors`` file
or a ``.gguf`` file. Weight files give the exact parameter count and stored size; a config
gives the architecture. With weights but no readable architecture, the planner falls back
to the parameter count and says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from rigml.fit import catalogue
from rigml.fit._files import (
    WeightFile,
    file_type_name,
    gguf_config,
    read_gguf,
    read_safetensors,
)
from rigml.fit.architecture import (
    InvalidModelConfig,
    ModelSpec,
    params_only,
    spec_from_config,
)

_DTYPE_NAMES = {"BF16": "bf16", "F16": "fp16", "F32": "fp32"}


def load_model(ref: str) -> ModelSpec:
    """The :class:`ModelSpec` for ``ref``: a path if one exists, else a catalogue name.

    Raises:
        UnknownModel: neither a file nor a catalogue name (close names in the hint).
        InvalidModelConfig: the file exists but cannot be read as a model.
    """
    path = Path(ref).expanduser()
    if path.exists():
        return _from_path(path)
    entry = catalogue.find_model(ref)
    if entry is None:
        if any(ref.endswith(ext) for ext in (".json", ".gguf", ".safetensors")) or os.sep in ref:
            raise InvalidModelConfig(ref, "no such file")
        raise catalogue.UnknownModel(ref, catalogue.close_models(ref))
    spec = spec_from_config(entry.config, name=entry.name, where=f"catalogue entry {entry.name}")
    return spec


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise InvalidModelConfig(str(path), exc.strerror or str(exc)) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidModelConfig(str(path), f"not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidModelConfig(str(path), "expected a JSON object")
    return data


def _from_path(path: Path) -> ModelSpec:
    if path.is_dir():
        return _from_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".gguf":
        return _from_gguf(path)
    if suffix == ".safetensors":
        wf = read_safetensors(path)
        beside = path.with_name("config.json")
        return _combine(path.stem, _read_json(beside) if beside.exists() else None, wf, path)
    if suffix == ".json":
        name = path.parent.name if path.name == "config.json" else path.stem
        return spec_from_config(_read_json(path), name=name or path.stem, where=str(path))
    raise InvalidModelConfig(
        str(path), f"unsupported file type {suffix or '(none)'}: expected .json/.safetensors/.gguf"
    )


def _from_folder(path: Path) -> ModelSpec:
    ggufs = sorted(path.glob("*.gguf"))
    shards = _weight_shards(path)
    config = path / "config.json"
    if not config.exists() and not shards and len(ggufs) == 1:
        return _from_gguf(ggufs[0])
    if not config.exists() and not shards:
        raise InvalidModelConfig(str(path), "the folder has no config.json and no weights")
    wf = None
    if shards:
        wf = WeightFile(path=str(path), format="safetensors")
        for shard in shards:
            read_safetensors(shard, into=wf)
    return _combine(path.name, _read_json(config) if config.exists() else None, wf, path)


def _weight_shards(path: Path) -> list[Path]:
    """The model's safetensors shards: those the index names, else every file but adapters
    and the duplicate ``consolidated`` copy some repositories ship beside them."""
    index = path / "model.safetensors.index.json"
    if index.exists():
        weight_map = _read_json(index).get("weight_map")
        if isinstance(weight_map, dict) and weight_map:
            return [path / name for name in sorted(set(map(str, weight_map.values())))]
    files = sorted(path.glob("*.safetensors"))
    main = [f for f in files if not f.name.startswith(("consolidated", "adapter_"))]
    return main or files


def _combine(
    name: str, config: dict[str, Any] | None, wf: WeightFile | None, where: Path
) -> ModelSpec:
    """A spec from a config, with the exact count and size of the weights where known."""
    if config is None and wf is not None:
        config = _guess_config(wf)
        if config is None and wf.params:
            return replace(
                params_only(name, wf.params),
                stored_bytes=wf.stored_bytes,
                stored_format=_DTYPE_NAMES.get(wf.main_type or "", wf.main_type),
            )
    if config is None:
        raise InvalidModelConfig(str(where), "no config.json next to the weights")
    try:
        spec = spec_from_config(config, name=name, where=str(where))
    except InvalidModelConfig:
        if wf is None or not wf.params:
            raise
        spec = params_only(name, wf.params, config.get("model_type"))
    if wf is None or not wf.params:
        return spec
    packed = sum(n for t, n in wf.dtype_bytes.items() if t in ("I32", "U8", "I8"))
    stored_format = _DTYPE_NAMES.get(wf.main_type or "", wf.main_type)
    notes = [f"parameters counted from the weights: {wf.params / 1e9:.3g}B"]
    params = wf.params
    if packed > 0.1 * wf.stored_bytes:
        # GPTQ/AWQ pack eight 4-bit weights per int32, MXFP4 and bitsandbytes two per byte:
        # the header counts packed words, so the config's count stands.
        params = spec.params
        notes = ["weights are packed (quantised): parameters taken from the config"]
    delta = params - spec.params
    return replace(
        spec,
        params=params,
        active_params=max(0, spec.active_params + delta),
        stored_bytes=wf.stored_bytes,
        stored_format=stored_format,
        notes=(*spec.notes, *notes),
    )


def _guess_config(wf: WeightFile) -> dict[str, Any] | None:
    """Sizes from tensor shapes when a safetensors file comes without its config.

    Works for Llama-style names (``model.layers.N.self_attn.k_proj.weight``); head
    counts are not in the shapes, so a 128-wide head is assumed.
    """
    shapes = wf.shapes
    embed = next((s for n, s in shapes.items() if "embed_tokens" in n), None)
    k = next((s for n, s in shapes.items() if n.endswith("layers.0.self_attn.k_proj.weight")), None)
    q = next((s for n, s in shapes.items() if n.endswith("layers.0.self_attn.q_proj.weight")), None)
    up = next((s for n, s in shapes.items() if n.endswith("layers.0.mlp.up_proj.weight")), None)
    if not (embed and k and q and up):
        return None
    layers = 1 + max(int(n.split("layers.")[1].split(".")[0]) for n in shapes if ".layers." in n)
    head_dim = 128 if q[0] % 128 == 0 else 64
    return {
        "model_type": "llama",
        "hidden_size": embed[1],
        "vocab_size": embed[0],
        "num_hidden_layers": layers,
        "num_attention_heads": q[0] // head_dim,
        "num_key_value_heads": k[0] // head_dim,
        "head_dim": head_dim,
        "intermediate_size": up[0],
        "tie_word_embeddings": not any("lm_head" in n for n in shapes),
    }


def _from_gguf(path: Path) -> ModelSpec:
    wf = read_gguf(path)
    config = gguf_config(wf)
    ftype = file_type_name(wf)
    try:
        spec = spec_from_config(config, name=path.stem, where=str(path))
    except InvalidModelConfig:
        spec = params_only(path.stem, wf.params, config.get("model_type"))
    embed = wf.embedding_params
    return replace(
        spec,
        params=wf.params,
        active_params=max(0, spec.active_params + (wf.params - spec.params)),
        embedding_params=embed or spec.embedding_params,
        stored_bytes=wf.stored_bytes,
        stored_format=_DTYPE_NAMES.get(ftype or "", ftype),
        notes=(
            *spec.notes,
            f"GGUF {ftype}: {wf.stored_bytes * 8 / max(1, wf.params):.2f} bits per weight "
            "as stored in the file",
        ),
    )
