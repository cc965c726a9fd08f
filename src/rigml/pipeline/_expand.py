"""``foreach`` and ``matrix``: one stage definition stamped out as several, as in DVC.

``foreach: [a, b]`` with ``do: {...}`` makes ``NAME@a`` and ``NAME@b``; a mapping makes
``NAME@KEY`` with ``${key}`` and ``${item}`` (``${item.field}`` for mappings of mappings).
``matrix: {model: [cnn, xgb], lr: [0.1, 0.01]}`` makes the cartesian product
``NAME@cnn-0.1`` ... with ``${item.model}`` and ``${item.lr}``. A string that is exactly one
``${...}`` takes the value itself (a number stays a number).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from rigml.pipeline._schema import Loc, located

_VAR = re.compile(r"\$\{\s*([A-Za-z_][\w.-]*)\s*\}")

Expanded = tuple[str, dict[str, Any], Loc]


def expand(name: str, raw: dict[str, Any], file: str, text: str) -> list[Expanded]:
    """The stages ``raw`` stands for: itself, or one per ``foreach`` item / ``matrix`` cell.

    Raises:
        InvalidPipeline: a malformed ``foreach``/``matrix``, or an unknown ``${...}``.
    """
    loc: Loc = ("stages", name)
    if "foreach" in raw:
        return _foreach(name, raw, file, text)
    if "matrix" in raw:
        return _matrix(name, raw, file, text)
    if "do" in raw:
        raise located(file, text, (*loc, "do"), "`do` belongs with `foreach`")
    return [(name, raw, loc)]


def _foreach(name: str, raw: dict[str, Any], file: str, text: str) -> list[Expanded]:
    loc: Loc = ("stages", name)
    extra = sorted(set(raw) - {"foreach", "do"})
    if extra:
        raise located(file, text, (*loc, extra[0]), "a foreach stage holds only `foreach` and `do`")
    body, items = raw.get("do"), raw["foreach"]
    if not isinstance(body, dict):
        raise located(file, text, (*loc, "do"), "expected the stage to stamp out (a mapping)")
    if isinstance(items, list):
        pairs = [(_label(item, i), item) for i, item in enumerate(items)]
    elif isinstance(items, dict):
        pairs = [(str(k), v) for k, v in items.items()]
    else:
        raise located(file, text, (*loc, "foreach"), f"expected a list or mapping, got {items!r}")
    if not pairs:
        raise located(file, text, (*loc, "foreach"), "is empty: it makes no stage")
    out: list[Expanded] = []
    for key, item in pairs:
        values = {"item": item, "key": key}
        out.append((f"{name}@{key}", _substitute(body, values, file, text, (*loc, "do")), loc))
    return out


def _matrix(name: str, raw: dict[str, Any], file: str, text: str) -> list[Expanded]:
    loc: Loc = ("stages", name, "matrix")
    matrix = raw["matrix"]
    if not isinstance(matrix, dict) or not matrix:
        raise located(file, text, loc, f"expected a mapping of names to lists, got {matrix!r}")
    for key, values in matrix.items():
        if not isinstance(values, list) or not values:
            raise located(file, text, (*loc, key), f"expected a non-empty list, got {values!r}")
    body = {k: v for k, v in raw.items() if k != "matrix"}
    keys = list(matrix)
    out: list[Expanded] = []
    for combo in itertools.product(*(matrix[k] for k in keys)):
        item = dict(zip(keys, combo, strict=True))
        label = "-".join(_label(v, 0) for v in combo)
        stage = _substitute(body, {"item": item}, file, text, ("stages", name))
        out.append((f"{name}@{label}", stage, ("stages", name)))
    return out


def _label(item: Any, index: int) -> str:
    return str(item) if isinstance(item, str | int | float | bool) else str(index)


def _substitute(value: Any, values: dict[str, Any], file: str, text: str, loc: Loc) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, values, file, text, (*loc, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values, file, text, (*loc, i)) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _VAR.fullmatch(value.strip())
    if whole:
        return _lookup(whole.group(1), values, file, text, loc)
    return _VAR.sub(lambda m: str(_lookup(m.group(1), values, file, text, loc)), value)


def _lookup(name: str, values: dict[str, Any], file: str, text: str, loc: Loc) -> Any:
    head, *rest = name.split(".")
    if head not in values:
        known = ", ".join(f"${{{k}}}" for k in values)
        raise located(file, text, loc, f"unknown variable ${{{name}}}; here there are {known}")
    found = values[head]
    for part in rest:
        if not isinstance(found, dict) or part not in found:
            raise located(file, text, loc, f"${{{name}}}: the item has no field {part!r}")
        found = found[part]
    return found
