"""Which files of a version form a table, as parts a reader can stream.

Files of one folder and format form one table (``train/*.csv``). ``table_parts`` resolves a
version, picks one table (or one file) and returns its files as
:class:`~rigml.data._tabular.TablePart` objects on the local object store. Profiles and
contracts (inferring and checking) all start here, so it belongs to none of them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from rigml.data._tabular import TablePart
    from rigml.lab import Lab


def table_label(path: str, fmt: str) -> str:
    """The name of the table a file is part of: its folder and format, e.g. ``train/*.csv``."""
    folder = os.path.dirname(path)
    return f"{folder}/*.{fmt}" if folder else f"*.{fmt}"


def table_parts(lab: Lab, ref: str, *, file: str | None = None) -> tuple[Any, list[TablePart]]:
    """The tabular files of one table of version ``ref`` as readable parts.

    Files of one folder and format form one table, as ``rig data add`` checks them. A version
    with one table needs no ``file``; otherwise ``file`` names one file, or one table by its
    label (``train/*.csv``, ``*.parquet``).

    Local object stores are read in place; remote ones are not supported here yet.

    Raises:
        NotFound: the version holds no tabular file (or not ``file``).
        InvalidInput: the version holds several tables and ``file`` picks none.
    """
    from rigml.data._refs import resolve
    from rigml.data._tabular import TablePart, require_pyarrow
    from rigml.data._versions import version_files

    require_pyarrow()
    info = resolve(lab, ref)
    files = [f for f in version_files(lab, info) if f.tabular]
    groups: dict[str, list[Any]] = {}
    for f in files:
        groups.setdefault(table_label(f.path, (f.tabular or {})["format"]), []).append(f)
    if file is not None:
        files = groups.get(file) or [f for f in files if f.path == file]
        if not files:
            raise NotFound(
                f"{info.ref} has no tabular file or table {file!r}",
                hint=f"tables: {', '.join(groups) or 'none'}; files: `rig data show {info.ref}`",
            )
    elif len(groups) > 1:
        listed = ", ".join(f"{label} ({len(fs)} files)" for label, fs in groups.items())
        raise InvalidInput(
            f"{info.ref} holds {len(groups)} tables: {listed}",
            hint=f"pick one with --file, e.g. --file '{next(iter(groups))}' or a file's path",
        )
    if not files:
        raise NotFound(
            f"{info.ref} holds no tabular file (CSV, TSV, Parquet, JSON Lines) with a schema",
            hint="tabular files added with --no-inspect have no schema; add them again",
        )
    if not lab.objects.is_local:
        raise InvalidInput(
            "reading tables from a remote object store is not supported yet",
            hint=f"check out the version locally: `rig data checkout {info.ref} DIR`",
        )
    parts = [TablePart(f.path, lab.objects.location(f.object), f.tabular or {}) for f in files]
    for p in parts:
        if not os.path.isfile(p.path):
            from rigml.errors import ObjectNotFound

            raise ObjectNotFound(os.path.basename(os.path.dirname(p.path)) + p.path[-62:])
    return info, parts
