"""``rigml.fit`` exposes exactly its ``__all__``, lazily, and imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys


def test_public_names_are_exactly_all() -> None:
    import rigml.fit

    assert set(dir(rigml.fit)) == set(rigml.fit.__all__)
    for name in rigml.fit.__all__:
        assert getattr(rigml.fit, name) is not None


def test_planning_loads_no_heavy_library() -> None:
    probe = (
        "import sys; from rigml.fit import plan_fit; plan_fit('llama-3.1-8b', vram_gb=24);"
        "print([m for m in ('torch', 'transformers', 'numpy', 'sqlalchemy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
