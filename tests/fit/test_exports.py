"""``rigml.fit`` exposes exactly its ``__all__``, lazily, and imports nothing heavy."""

from __future__ import annotations

import importlib
import subprocess
import sys


def test_all_is_sorted_and_every_name_resolves() -> None:
    import rigml.fit

    assert rigml.fit.__all__ == sorted(rigml.fit.__all__)
    assert len(set(rigml.fit.__all__)) == len(rigml.fit.__all__)
    for name in rigml.fit.__all__:
        value = getattr(rigml.fit, name)
        assert value is not None
        # the name is the object its module defines, not a copy or a renamed shim
        assert getattr(value, "__name__", name) == name


def test_public_names_exposed_are_exactly_all() -> None:
    import rigml.fit

    public = {n for n in dir(rigml.fit) if not n.startswith("_")}
    assert public == set(rigml.fit.__all__)
    assert set(rigml.fit._LAZY) == set(rigml.fit.__all__)


def test_no_public_name_is_shadowed_by_a_submodule() -> None:
    import pkgutil

    import rigml.fit

    submodules = {m.name for m in pkgutil.iter_modules(rigml.fit.__path__)}
    assert not submodules & set(rigml.fit.__all__)
    for name in submodules:
        importlib.import_module(f"rigml.fit.{name}")  # each import sets a package attribute
    test_all_is_sorted_and_every_name_resolves()


def test_an_unknown_name_is_an_attribute_error() -> None:
    import pytest

    import rigml.fit

    with pytest.raises(AttributeError, match="no attribute 'planner_shim'"):
        rigml.fit.planner_shim  # noqa: B018


def test_the_exported_types_are_the_ones_the_modules_define() -> None:
    import rigml.fit

    for name, module in (
        ("FitReport", "planner"),
        ("FitRequest", "request"),
        ("MemoryEstimate", "memory"),
        ("FitOutcome", "service"),
    ):
        defined = getattr(importlib.import_module(f"rigml.fit.{module}"), name)
        assert getattr(rigml.fit, name) is defined


def test_planning_loads_no_heavy_library() -> None:
    probe = (
        "import sys; from rigml.fit import plan_fit; plan_fit('llama-3.1-8b', vram_gb=24);"
        "print([m for m in ('torch', 'transformers', 'numpy', 'sqlalchemy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
