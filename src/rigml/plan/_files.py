"""Reading the catalogues and workload files as plain data (JSON, or YAML with PyYAML).

Writing a user's output goes through :mod:`rigml._output`, not here."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rigml.errors import InvalidInput, InvalidPrices, MissingExtra

__all__ = ["read_data_file"]


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
