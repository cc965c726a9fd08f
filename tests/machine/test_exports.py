"""The public surface of ``rigml.machine``: sorted, resolvable, lazy."""

from __future__ import annotations

import subprocess
import sys

import rigml.machine


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical.
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_sorted_and_unique() -> None:
    names = rigml.machine.__all__
    assert names == sorted(names, key=_isort_key)
    assert len(set(names)) == len(names)


def test_every_exported_name_resolves() -> None:
    for name in rigml.machine.__all__:
        assert getattr(rigml.machine, name) is not None, name


def test_all_equals_the_public_names_exposed() -> None:
    import rigml.machine.gpu as gpu
    import rigml.machine.readings as readings

    exposed = set(rigml.machine._MODULE_OF)
    assert exposed == set(rigml.machine.__all__)
    for name in rigml.machine.__all__:
        module = gpu if rigml.machine._MODULE_OF[name].endswith(".gpu") else readings
        assert getattr(rigml.machine, name) is getattr(module, name)
        assert name in module.__all__
    public_readers = {n for n in readings.__all__ if n.startswith("read_")}
    assert public_readers <= set(rigml.machine.__all__)
    assert {n for n in dir(rigml.machine) if n in exposed} == exposed


def test_unknown_names_raise_attribute_error() -> None:
    try:
        rigml.machine.no_such_reader  # noqa: B018
    except AttributeError as exc:
        assert "no_such_reader" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_package_imports_nothing_heavy() -> None:
    code = (
        "import sys, rigml.machine; "
        "heavy = {'psutil', 'pynvml', 'numpy', 'torch', 'pydantic', 'rigml.machine.readings'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
