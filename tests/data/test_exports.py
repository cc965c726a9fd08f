"""``rigml.data`` exposes exactly its ``__all__``, lazily, one name per function."""

from __future__ import annotations

import subprocess
import sys


def test_all_is_sorted_and_every_name_resolves() -> None:
    import rigml.data

    assert rigml.data.__all__ == sorted(rigml.data.__all__)
    for name in rigml.data.__all__:
        value = getattr(rigml.data, name)
        assert callable(value) and value.__name__ == name  # no aliases: one name each


def test_public_names_exposed_are_exactly_all() -> None:
    """httpx style: after every name (and so every module behind it) is loaded, the
    package's public attributes are ``__all__``; no module shadows a function."""
    probe = (
        "import rigml.data as d, types\n"
        "for n in d.__all__: getattr(d, n)\n"
        "print(sorted(n for n in vars(d) if not n.startswith('_')) == d.__all__)\n"
        "print(isinstance(d.checkout, types.FunctionType), d.profile.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "rigml.data._profile"]


def test_old_names_are_gone() -> None:
    import rigml.data

    for old in ("add_version", "checkout_version", "profile_version", "verify_objects", "log"):
        assert not hasattr(rigml.data, old)


def test_importing_the_package_loads_no_heavy_library() -> None:
    heavy = "('pyarrow', 'pandas', 'pandera', 'pydantic', 'jinja2')"
    probe = f"import rigml.data, sys; print([m for m in {heavy} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
