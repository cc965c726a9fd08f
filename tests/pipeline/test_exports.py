"""``rigml.pipeline`` exposes exactly its ``__all__``, lazily, without heavy imports."""

from __future__ import annotations

import subprocess
import sys

from _exports import assert_exports


def test_exports() -> None:
    import rigml.pipeline

    assert_exports(rigml.pipeline)


def test_importing_the_package_loads_no_heavy_library() -> None:
    heavy = "('yaml', 'pydantic', 'sqlalchemy', 'filelock', 'blake3')"
    probe = f"import rigml.pipeline, sys; print([m for m in {heavy} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
