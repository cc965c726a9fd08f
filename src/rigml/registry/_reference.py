"""The model at an alias, as the reference of regression gates (``production - 0.01``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rigml.gates import ReferenceValues
    from rigml.lab import Lab


class RegistryReference:
    """Resolves an alias of model ``name`` to its holder's run metrics; None: nobody holds it.

    Each alias is read once per reference, so one evaluation sees one holder per alias.
    """

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.name = name
        self._seen: dict[str, ReferenceValues | None] = {}

    def __call__(self, alias: str) -> ReferenceValues | None:
        if alias not in self._seen:
            self._seen[alias] = self._read(alias)
        return self._seen[alias]

    def _read(self, alias: str) -> ReferenceValues | None:
        from rigml.errors import ModelNotFound
        from rigml.gates import ReferenceValues
        from rigml.registry._refs import get_version
        from rigml.track.queries import get_run

        try:
            held = get_version(self.lab, f"{self.name}@{alias}")
        except ModelNotFound:
            return None  # no such model yet, or nobody holds the alias: a first deployment
        if held.run_id is None:
            return ReferenceValues(held.ref, {}, f"{held.ref} ({alias}, no run)")
        run = get_run(self.lab, held.run_id)
        label = f"{held.ref} ({alias}, run {run.name})"
        return ReferenceValues(held.ref, dict(run.metrics), label)

    def __repr__(self) -> str:
        return f"RegistryReference({self.name!r})"
