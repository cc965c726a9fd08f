"""Values of params: dotted keys (``train.lr``) read from YAML or JSON params files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rigml.errors import InvalidPipeline

_MISSING = object()
_read: dict[tuple[str, int, int, int], dict[str, Any]] = {}  # (path, size, mtime, ctime) -> data


def read_params(root: Path, rel: str) -> dict[str, Any] | None:
    """The mapping in params file ``rel`` of the project, or None when there is no such file.

    Raises:
        InvalidPipeline: the file is not a YAML/JSON mapping.
    """
    path = root / rel
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _read:
        if len(_read) > 64:
            _read.clear()
        _read[key] = _parse(path, rel)
    return _read[key]


def _parse(path: Path, rel: str) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidPipeline(rel, "", f"cannot be read: {exc}") from exc
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise InvalidPipeline(rel, "", f"is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidPipeline(rel, "", f"expected a mapping of params, got {type(data).__name__}")
    return data


def lookup(data: dict[str, Any], key: str) -> Any:
    """The value at dotted ``key`` (a top-level key with dots wins), or ``MISSING``."""
    if key in data:
        return data[key]
    found: Any = data
    for part in key.split("."):
        if not isinstance(found, dict) or part not in found:
            return _MISSING
        found = found[part]
    return found


def is_missing(value: Any) -> bool:
    return value is _MISSING


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings (and lists) as ``{"a.b": value}``, as metrics and params are logged."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(data, list):
        out = {}
        for i, v in enumerate(data):
            out.update(flatten(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: data} if prefix else {}
