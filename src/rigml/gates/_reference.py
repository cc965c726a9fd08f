"""References of regression rules: what ``production`` in ``metrics.auc >= production - 0.01``
stands for.

A :class:`Reference` is any callable ``reference(alias) -> ReferenceValues | None``; None
means no model holds that alias yet (a first deployment). The registry provides one that
reads its aliases; :class:`RunReference` answers every alias with one run, for
``rig gates check --against RUN`` and for tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rigml.lab import Lab


@dataclass(frozen=True)
class ReferenceValues:
    """The metrics of the model a rule compares against, and who it is."""

    id: str  # a run id, or a model version id from the registry
    metrics: Mapping[str, float] = field(default_factory=dict)
    label: str = ""  # how to name it in messages: "run brisk-otter-1", "churn v3"

    @property
    def owner(self) -> str:
        return self.label or f"reference {self.id}"


class Reference(Protocol):
    """Resolves an alias to the values of the model that holds it, or None when none does."""

    def __call__(self, alias: str) -> ReferenceValues | None: ...


class RunReference:
    """A reference that answers ``aliases`` (every alias when None) with one run's metrics.

    The run is read once, when the reference is made, so a bad ``run_ref`` fails at once.

    Raises:
        RunNotFound: no run, or several, answer to ``run_ref``.
    """

    def __init__(self, lab: Lab, run_ref: str, *, aliases: set[str] | None = None) -> None:
        from rigml.track.queries import get_run

        info = get_run(lab, run_ref)
        self.values = ReferenceValues(info.id, dict(info.metrics), f"reference run {info.name}")
        self.aliases = aliases

    def __call__(self, alias: str) -> ReferenceValues | None:
        if self.aliases is not None and alias not in self.aliases:
            return None
        return self.values

    def __repr__(self) -> str:
        return f"RunReference({self.values.id[:12]}, aliases={self.aliases!r})"
