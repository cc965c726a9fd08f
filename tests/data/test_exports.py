"""``rigml.data`` exposes exactly its ``__all__``, lazily."""

from __future__ import annotations

import subprocess
import sys


def test_public_names_are_exactly_all() -> None:
    import rigml.data

    for name in rigml.data.__all__:
        assert callable(getattr(rigml.data, name))
    assert {n for n in dir(rigml.data) if not n.startswith("_")} == set(rigml.data.__all__)


def test_importing_the_package_loads_no_heavy_library() -> None:
    heavy = "('pyarrow', 'pandas', 'pandera')"
    probe = f"import rigml.data, sys; print([m for m in {heavy} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
