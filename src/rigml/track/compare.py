"""Compare runs side by side: params, final metrics, and environment differences."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.track.queries import RunInfo


@dataclass
class Comparison:
    runs: list[RunInfo]
    params: dict[str, list[Any]]  # key -> value per run (None when absent)
    metrics: dict[str, list[float | None]]
    attributes: dict[str, list[Any]]  # status, duration, git commit, python, host...
    environment: list[dict[str, Any]] = field(default_factory=list)  # vs the first run
    different_params: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from rigml.track.queries import _json_float

        return {
            "runs": [r.id for r in self.runs],
            "names": [r.name for r in self.runs],
            "params": self.params,
            "different_params": self.different_params,
            "metrics": {
                k: [None if v is None else _json_float(v) for v in vs]
                for k, vs in self.metrics.items()
            },
            "attributes": self.attributes,
            "environment": self.environment,
        }


def _load_json(lab: Lab, digest: str | None) -> dict[str, Any] | None:
    if not digest:
        return None
    data: dict[str, Any] = json.loads(lab.objects.get_bytes(digest))
    return data


def compare_runs(lab: Lab, refs: Sequence[str], *, system_metrics: bool = False) -> Comparison:
    """Line up ``refs`` (ids, prefixes or names); environments are diffed against the first.

    Raises:
        RunNotFound: a reference matches no run, or several.
    """
    from rigml.track.queries import get_run

    infos = [get_run(lab, r) for r in refs]
    pkeys = sorted({k for r in infos for k in r.params})
    mkeys = sorted(
        {k for r in infos for k in r.metrics if system_metrics or not k.startswith("sys/")}
    )
    params = {k: [r.params.get(k) for r in infos] for k in pkeys}
    different = [k for k, vs in params.items() if len({json.dumps(v) for v in vs}) > 1]
    attributes: dict[str, list[Any]] = {
        "status": [r.status for r in infos],
        "experiment": [r.experiment for r in infos],
        "duration_s": [None if r.duration is None else round(r.duration, 3) for r in infos],
        "git_commit": [r.git_commit[:10] if r.git_commit else None for r in infos],
        "git_dirty": [r.git_dirty for r in infos],
        "python": [r.python for r in infos],
        "host": [r.host for r in infos],
    }
    environment: list[dict[str, Any]] = []
    base = infos[0]
    base_env = _load_json(lab, base.env_object)
    if base_env is not None:
        from dataclasses import asdict

        from rigml.machine.env import diff_environments

        for other in infos[1:]:
            env = _load_json(lab, other.env_object)
            if env is None or other.env_object == base.env_object:
                continue
            for change in diff_environments(base_env, env):
                environment.append({"run": other.id, **asdict(change)})
    return Comparison(
        runs=infos,
        params=params,
        metrics={k: [r.metrics.get(k) for r in infos] for k in mkeys},
        attributes=attributes,
        environment=environment,
        different_params=different,
    )
