"""``rigml.serve`` exposes exactly its sorted ``__all__``, lazily."""

from __future__ import annotations

import subprocess
import sys

import rigml.serve
from _exports import assert_exports


def test_all_is_sorted_and_is_exactly_what_the_package_exposes() -> None:
    assert_exports(rigml.serve)


def test_importing_the_package_or_its_command_loads_no_heavy_library() -> None:
    heavy = "('fastapi', 'uvicorn', 'numpy', 'pandas', 'sqlalchemy', 'prometheus_client')"
    probe = (
        f"import rigml.serve, rigml.cli.serve, sys; print([m for m in {heavy} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
