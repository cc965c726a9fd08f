"""``rigml.plan`` exposes exactly its ``__all__``, lazily."""

from __future__ import annotations

import subprocess
import sys


def test_public_names_are_exactly_all() -> None:
    import rigml.plan

    for name in rigml.plan.__all__:
        assert callable(getattr(rigml.plan, name))
    assert {n for n in dir(rigml.plan) if not n.startswith("_")} == set(rigml.plan.__all__)
    assert rigml.plan.__all__ == sorted(rigml.plan.__all__)


def test_importing_the_package_loads_nothing_else() -> None:
    probe = (
        "import rigml.plan, sys; "
        "print(sorted(m for m in sys.modules if m.startswith('rigml.plan.') "
        "or m in ('numpy', 'sqlalchemy', 'matplotlib')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
