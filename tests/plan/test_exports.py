"""``rigml.plan`` exposes exactly its ``__all__``, lazily, one name per function."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

SUBMODULES = ("carbon", "prices", "rules", "staged", "tco", "usage", "workloads")


def test_all_is_sorted_and_is_what_the_package_shows() -> None:
    import rigml.plan

    assert rigml.plan.__all__ == sorted(rigml.plan.__all__)
    assert len(set(rigml.plan.__all__)) == len(rigml.plan.__all__)
    assert {n for n in dir(rigml.plan) if not n.startswith("_")} == set(rigml.plan.__all__)
    with pytest.raises(AttributeError):
        _ = rigml.plan.tco_rep  # type: ignore[attr-defined]


def test_every_name_resolves_to_its_own_definition_even_after_the_submodules_load() -> None:
    """No public name is a rename, nor shadowed by a submodule of the same name."""
    import rigml.plan

    for sub in SUBMODULES:
        importlib.import_module(f"rigml.plan.{sub}")
    for name in rigml.plan.__all__:
        obj = getattr(rigml.plan, name)
        assert not isinstance(obj, types.ModuleType), name
        assert obj.__name__ == name
        module = sys.modules[obj.__module__]
        assert getattr(module, name) is obj and name in module.__all__


def test_the_old_renames_are_gone() -> None:
    import rigml.plan

    for old in ("tco", "usage"):
        assert old not in rigml.plan.__all__
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("rigml.plan.decide")  # the decision lives in rules and _assess


def test_importing_the_package_loads_nothing_else() -> None:
    probe = (
        "import rigml.plan, sys; "
        "print(sorted(m for m in sys.modules if m.startswith('rigml.plan.') "
        "or m in ('numpy', 'sqlalchemy', 'matplotlib', 'pydantic')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
