"""Model names, aliases and references: ``NAME``, ``NAME@3``, ``NAME@v3``, ``NAME@latest``,
``NAME@ALIAS``; each resolves to one :class:`ModelVersion`.

Every registry operation starts from a reference, so this module imports nothing else of
``rigml.registry``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput, InvalidModelRef, ModelNotFound

if TYPE_CHECKING:
    from sqlalchemy import Connection, Row

    from rigml.lab import Lab

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/]{0,254}")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9._\-]{0,63}")
_NUMBER = re.compile(r"v?\d{1,18}")
STANDARD_ALIASES = ("staging", "production", "archived")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model: its package, the run that made it, its aliases."""

    id: int
    name: str
    version: int
    run_id: str | None
    source: str | None  # the run's artifact path it was registered from
    flavor: str
    info: dict[str, Any]  # the package manifest (rigmodel.json)
    fingerprint: str
    size: int
    created_at: float
    created_by: str
    description: str | None
    aliases: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "source": self.source,
            "flavor": self.flavor,
            "fingerprint": self.fingerprint,
            "size": self.size,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "description": self.description,
            "aliases": list(self.aliases),
            "signature": self.info.get("signature"),
            "library": self.info.get("library"),
            "library_version": self.info.get("library_version"),
        }


def check_model_name(name: str) -> str:
    """Letters, digits, ``. _ - /`` (``/`` between non-empty parts); no ``@``.

    Raises:
        InvalidInput: the name is malformed.
    """
    ok = isinstance(name, str) and _NAME.fullmatch(name)
    if not ok or any(part in ("", ".", "..") for part in name.split("/")):
        raise InvalidInput(
            f"model names are 1-255 letters, digits, '.', '_', '-' or '/', got {name!r}",
            hint="e.g. --name churn or --name vision/resnet",
        )
    return name


def check_alias(alias: str) -> str:
    """An alias starts with a letter and is not a version selector (``v3``, ``latest``).

    Raises:
        InvalidInput: the alias is malformed or reserved.
    """
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise InvalidInput(
            f"aliases are 1-64 letters, digits, '.', '_' or '-' starting with a letter, "
            f"got {alias!r}",
            hint=f"e.g. {', '.join(STANDARD_ALIASES)} or champion",
        )
    if alias == "latest" or _NUMBER.fullmatch(alias):
        raise InvalidInput(
            f"{alias!r} cannot be an alias: it reads as a version",
            hint="pick a name such as staging, production or champion",
        )
    return alias


def parse_ref(ref: str) -> tuple[str, str]:
    """``NAME[@SELECTOR]`` into ``(name, selector)``; the selector defaults to ``latest``.

    Raises:
        InvalidModelRef: the reference is malformed.
    """
    if not isinstance(ref, str) or not ref:
        raise InvalidModelRef(str(ref), "it is empty")
    name, sep, sel = ref.partition("@")
    if sep and not sel:
        raise InvalidModelRef(ref, "nothing after '@'")
    if "@" in sel:
        raise InvalidModelRef(ref, "more than one '@'")
    try:
        check_model_name(name)
    except InvalidInput:
        raise InvalidModelRef(ref, f"{name!r} is not a model name") from None
    return name, sel or "latest"


def get_version(lab: Lab, ref: str) -> ModelVersion:
    """The version ``ref`` names.

    Raises:
        InvalidModelRef: the reference is malformed.
        ModelNotFound: no such model, version or alias.
    """
    name, sel = parse_ref(ref)
    with lab.store.read() as conn:
        return resolve_in(conn, name, sel)


def model_id(conn: Connection, name: str) -> int:
    """The id of model ``name``.

    Raises:
        ModelNotFound: no model has that name (the hint names close ones).
    """
    from sqlalchemy import select

    from rigml.store.schema import models

    found = conn.execute(select(models.c.id).where(models.c.name == name)).scalar()
    if found is None:
        from rigml.config import close_match

        names = list(conn.execute(select(models.c.name)).scalars())
        close = close_match(name, names)
        hint = f"did you mean {close}?" if close else None
        raise ModelNotFound(name, known="no such model", hint=hint)
    return int(found)


def resolve_in(conn: Connection, name: str, sel: str) -> ModelVersion:
    """:func:`get_version` on an open connection (inside a write transaction, say).

    One query finds the version (joined to its model by name); a second reads its aliases.
    """
    from sqlalchemy import func, select

    from rigml.store.schema import model_aliases as ma
    from rigml.store.schema import model_versions as mv
    from rigml.store.schema import models

    named = select(models.c.id).where(models.c.name == name).scalar_subquery()
    where: Any
    if sel == "latest":
        latest = select(func.max(mv.c.version)).where(mv.c.model_id == named).scalar_subquery()
        where = (mv.c.model_id == named) & (mv.c.version == latest)
    elif _NUMBER.fullmatch(sel):
        where = (mv.c.model_id == named) & (mv.c.version == int(sel.lstrip("v")))
    else:
        held = select(ma.c.version_id).where(ma.c.model_id == named, ma.c.alias == sel)
        where = mv.c.id == held.scalar_subquery()
    row = conn.execute(select(mv).where(where)).first()
    if row is None:
        mid = model_id(conn, name)  # raises ModelNotFound (with a close name) when absent
        raise ModelNotFound(f"{name}@{sel}", known=_known(conn, mid, sel))
    return version_from_row(conn, row, name)


def _known(conn: Connection, mid: int, sel: str) -> str:
    from sqlalchemy import func, select

    from rigml.store.schema import model_aliases as ma
    from rigml.store.schema import model_versions as mv

    latest = conn.execute(select(func.max(mv.c.version)).where(mv.c.model_id == mid)).scalar()
    versions = f"versions 1 to {latest}" if latest else "no versions yet"
    if sel == "latest" or _NUMBER.fullmatch(sel):
        return versions
    aliases = sorted(conn.execute(select(ma.c.alias).where(ma.c.model_id == mid)).scalars())
    held = f"aliases: {', '.join(aliases)}" if aliases else "no alias is set"
    return f"no version holds alias {sel!r}; {held}"


def aliases_of(conn: Connection, version_id: int) -> list[str]:
    from sqlalchemy import select

    from rigml.store.schema import model_aliases as ma

    return sorted(conn.execute(select(ma.c.alias).where(ma.c.version_id == version_id)).scalars())


def version_from_row(conn: Connection, row: Row[Any], name: str) -> ModelVersion:
    return ModelVersion(
        id=row.id,
        name=name,
        version=row.version,
        run_id=row.run_id,
        source=row.source,
        flavor=row.flavor,
        info=json.loads(row.info),
        fingerprint=row.fingerprint,
        size=row.size,
        created_at=row.created_at,
        created_by=row.created_by,
        description=row.description,
        aliases=aliases_of(conn, row.id),
    )
