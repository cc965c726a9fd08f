"""``assert_exports(module)``: a package's ``__all__`` is sorted and is exactly what it exposes.

After httpx's ``tests/test_exported_members.py``, adapted to lazy (PEP 562) packages, whose
names are not in the module's namespace until asked for. Any test may use it::

    from _exports import assert_exports

    def test_exports() -> None:
        assert_exports(rigml.data)
"""

from __future__ import annotations

from types import ModuleType


def assert_exports(module: ModuleType) -> None:
    """Fail unless ``module.__all__`` is sorted, resolves, and is exactly the public surface.

    The public surface is what ``dir(module)`` lists without a leading underscore, every
    name its lazy table (``_LAZY``) can load, and every function or class defined in the
    package that sits in its namespace; submodules are not names of their own.
    """
    names = list(module.__all__)
    assert names == sorted(names), f"{module.__name__}.__all__ is not sorted"
    assert len(names) == len(set(names)), f"{module.__name__}.__all__ repeats a name"
    for name in names:
        assert getattr(module, name) is not None, f"{module.__name__}.{name} does not resolve"
    public = {n for n in names if not n.startswith("_")}
    shown = {n for n in dir(module) if not n.startswith("_")}
    assert shown == public, f"dir({module.__name__}) differs from __all__: {shown ^ public}"
    lazy = set(getattr(module, "_LAZY", {}))
    assert lazy <= set(names), (
        f"{module.__name__} loads names missing from __all__: {lazy - set(names)}"
    )
    package = module.__name__.split(".")[0]
    defined = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and not isinstance(v, ModuleType)
        and str(getattr(v, "__module__", "")).split(".")[0] == package
    }
    assert defined <= set(names), (
        f"{module.__name__} defines names missing from __all__: {defined - set(names)}"
    )
