"""The public surface of ``rigml`` and ``rigml.track`` is exactly their sorted ``__all__``."""

from __future__ import annotations

from types import ModuleType

import pytest

import rigml
import rigml.track
from _exports import assert_exports


@pytest.mark.parametrize("module", [rigml, rigml.track], ids=lambda m: m.__name__)
def test_all_is_sorted_and_is_exactly_what_the_package_exposes(module: ModuleType) -> None:
    assert_exports(module)


def test_a_name_outside_all_is_not_there() -> None:
    for module in (rigml, rigml.track):
        with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
            getattr(module, "nothing_here")  # noqa: B009


def _fake(all_: list[str], lazy: dict[str, str]) -> ModuleType:
    module = ModuleType("fake")
    module.__all__ = all_  # type: ignore[attr-defined]
    module._LAZY = lazy  # type: ignore[attr-defined]
    module.__getattr__ = lambda name: name if name in lazy else None  # type: ignore[method-assign]
    module.__dir__ = lambda: sorted(all_)  # type: ignore[method-assign]
    return module


@pytest.mark.parametrize(
    ("all_", "lazy", "complaint"),
    [
        (["b", "a"], {"a": "m", "b": "m"}, "not sorted"),
        (["a"], {"a": "m", "hidden": "m"}, "missing from __all__"),
    ],
)
def test_the_check_catches_an_unsorted_or_incomplete_all(all_, lazy, complaint) -> None:
    with pytest.raises(AssertionError, match=complaint):
        assert_exports(_fake(all_, lazy))
