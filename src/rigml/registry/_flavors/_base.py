"""What every flavor provides: save an object, wrap a file, load a folder, predict.

A flavor is a frozen record of plain functions (no class hierarchy): ``matches`` tells its
objects apart without importing their library (an object of a library nobody imported
cannot be one of its objects), ``save`` writes files, ``live`` and ``load`` give a
:class:`Native` adapter over the in-memory or the loaded model.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rigml.errors import InvalidInput, MissingExtra

if TYPE_CHECKING:
    from types import ModuleType

    from rigml.registry._signature import InputFormat, Signature


@dataclass(frozen=True)
class Saved:
    """What a flavor wrote into a package folder."""

    files: tuple[str, ...]
    pickle: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadContext:
    """A package folder to load: its model files, the flavor's details, the caller's trust,
    and the files' verified digests (a key for what loading learnt about those bytes)."""

    folder: Path
    files: tuple[str, ...]
    extra: Mapping[str, Any]
    trusted: bool
    digests: Mapping[str, str] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        """The model file of a one-file flavor."""
        return self.folder / self.files[0]


class Native(Protocol):
    """A model behind one interface: ``predict`` on data in the container ``wants``.

    ``wants`` None means "as the signature's example came"; ``predict_proba`` is only
    called when ``has_proba`` is true.
    """

    raw: Any
    wants: InputFormat | None
    has_proba: bool

    def predict(self, data: Any) -> Any: ...

    def predict_proba(self, data: Any) -> Any: ...

    def signature(self) -> Signature | None: ...


@dataclass(frozen=True)
class Flavor:
    """One model format. ``library`` is the distribution whose version matters (its other
    names in ``aliases``), ``module`` what is imported, ``extra`` the rigml extra."""

    name: str
    library: str | None
    module: str | None
    extra: str | None
    matches: Callable[[Any], bool]
    save: Callable[[Any, Path, dict[str, Any]], Saved]
    live: Callable[[Any, Saved], Native]
    load: Callable[[LoadContext], Native]
    suffixes: tuple[str, ...] = ()
    wrap: Callable[[Path, Path], Saved] | None = None
    sniff: Callable[[Path], bool] | None = None
    aliases: tuple[str, ...] = ()

    def installed_version(self) -> str | None:
        """The installed version of ``library`` (under any of its names); None if absent."""
        for dist in (self.library, *self.aliases):
            found = dist_version(dist) if dist is not None else None
            if found is not None:
                return found
        return None

    def available(self) -> bool:
        return self.module is None or importlib.util.find_spec(self.module) is not None


def loaded(module: str) -> ModuleType | None:
    """``module`` if something already imported it: no object of it can exist otherwise."""
    return sys.modules.get(module)


def need(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(extra, module=module) from None


def only_option(options: Mapping[str, Any], flavor: str, known: tuple[str, ...]) -> None:
    """Refuse flavor options this flavor does not know (a typo would be silently lost)."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        accepted = ", ".join(known) if known else "none"
        raise InvalidInput(
            f"the {flavor} flavor takes no option {', '.join(unknown)}",
            hint=f"its options: {accepted}",
        )


def class_path(obj: Any) -> str:
    """``module:qualname`` of ``obj``'s class."""
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def copy_file(path: Path, dest: Path) -> str:
    """Copy ``path`` into ``dest`` under its own name; returns that name."""
    import shutil

    shutil.copyfile(path, dest / path.name)
    return path.name


def is_zip(path: Path) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


@functools.lru_cache(maxsize=256)
def dist_version(dist: str) -> str | None:
    """An installed distribution's version, read once per process: importlib.metadata
    scans site-packages (a millisecond), and every load asks."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None
