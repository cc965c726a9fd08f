"""Reading the catalogues and workload files, and writing outputs atomically."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rigml.errors import InvalidInput, InvalidPrices, MissingExtra

__all__ = ["read_data_file", "write_atomic"]


def read_data_file(
    path: str | Path, error: Callable[[str, str], InvalidInput] = InvalidPrices
) -> Any:
    """A JSON or YAML file as plain data; YAML needs PyYAML (the ``plan`` extra).

    Raises:
        InvalidPrices (or ``error``): the file is missing or cannot be parsed.
        MissingExtra: a YAML file without PyYAML installed.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(p), f"cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise error(str(p), "not a text file (expected UTF-8 JSON or YAML)") from None
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise MissingExtra("plan", module="pyyaml") from exc
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise error(str(p), f"not valid YAML: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(str(p), f"not valid JSON: {exc.msg} at line {exc.lineno}") from None


def write_atomic(dest: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` then rename ``tmp`` to ``dest``, creating its folder.

    Raises:
        InvalidInput: the folder cannot be created or the file cannot be written.
    """
    out = Path(dest)
    tmp = out.with_name(f".{out.name}.tmp{out.suffix}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise InvalidInput(
            f"cannot write {out}: {exc.strerror or exc}",
            hint="choose a path in a folder you can write to",
        ) from None
    return out
