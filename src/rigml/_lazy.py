"""Lazy package attributes (PEP 562): a package lists its public names and the module
that defines each; the module is imported on first use, so ``import rigml.x`` stays cheap.

Each package ends with::

    __getattr__, __dir__ = attach(__name__, _LAZY, __all__, globals())
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any


def attach(
    package: str,
    table: Mapping[str, str],
    names: Sequence[str],
    namespace: MutableMapping[str, Any],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__``.

    ``table`` maps each public name to its module: ``"_evaluate"`` (inside ``package``) or
    a dotted full name (``"rigml.track.api"``). A loaded value is kept in ``namespace`` (the
    package's globals), so later look-ups do not come back here.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        where = module if "." in module else f"{package}.{module}"
        value = getattr(importlib.import_module(where), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
