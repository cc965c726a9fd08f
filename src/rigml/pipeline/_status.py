"""Whether each stage is up to date, and why not.

A stage is stale when its command, environment, params, deps (files by blake3, dataset
versions by fingerprint) or outs changed since ``rig.lock`` recorded it, or when it never
ran. An out that is merely missing, while its object is in the store, is restored instead
of rerunning the stage (state ``restore``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rigml.data._refs import VersionInfo
    from rigml.lab import Lab
    from rigml.pipeline._digests import Hasher
    from rigml.pipeline._spec import Pipeline, Stage

State = Literal["up to date", "stale", "restore"]


@dataclass(frozen=True)
class StageStatus:
    name: str
    state: State
    reasons: tuple[str, ...]
    restore: tuple[str, ...] = ()  # outs to restore from the object store
    gates: tuple[str, ...] = ()  # the stage's gate rules, judged after it is up to date

    @property
    def stale(self) -> bool:
        return self.state == "stale"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"], d["restore"] = list(self.reasons), list(self.restore)
        d["gates"] = list(self.gates)
        return d


@dataclass
class Context:
    """What one status computation shares between stages: digests, datasets, the lock."""

    lab: Lab
    pipeline: Pipeline
    hasher: Hasher
    lock: dict[str, dict[str, Any]]
    versions: dict[str, VersionInfo] = field(default_factory=dict)
    restorable: dict[str, dict[str, Any]] = field(default_factory=dict)  # out -> its record

    def expected(self, dep: str) -> str | None:
        """The digest ``dep`` will have once the outs about to be restored are back."""
        record = self.restorable.get(dep)
        if record is not None:
            return str(record.get("hash"))
        for out, record in self.restorable.items():
            if dep.startswith(out + "/") and record.get("kind") == "folder":
                from rigml.pipeline._digests import folder_entries

                rel = dep[len(out) + 1 :]
                entries = folder_entries(self.lab.objects.get_bytes(str(record["hash"])))
                return next((d for p, d, _s in entries if p == rel), None)
        return None

    def version(self, ref: str) -> VersionInfo:
        if ref not in self.versions:
            from rigml.data._refs import resolve

            self.versions[ref] = resolve(self.lab, ref)
        return self.versions[ref]


def current_params(ctx: Context, stage: Stage) -> dict[str, dict[str, Any]]:
    """``{params file: {key: value}}`` as the files hold them now."""
    from rigml.pipeline._params import is_missing, lookup, read_params

    out: dict[str, dict[str, Any]] = {}
    for rel, keys in stage.params.items():
        data = read_params(ctx.pipeline.root, rel) or {}
        values = {k: lookup(data, k) for k in keys}
        out[rel] = {k: (None if is_missing(v) else v) for k, v in values.items()}
    return out


def stage_status(ctx: Context, stage: Stage, *, fresh: bool = False) -> StageStatus:
    """The status of ``stage`` against its ``rig.lock`` entry in ``ctx``."""
    entry = ctx.lock.get(stage.name)
    if not entry:
        return StageStatus(stage.name, "stale", ("never run",))
    from rigml.pipeline._env import env_digest

    reasons: list[str] = []
    if list(entry.get("cmd") or []) != list(stage.cmd):
        reasons.append("cmd changed")
    if entry.get("env") != env_digest():
        reasons.append("environment changed")
    reasons += _param_reasons(ctx, stage, entry)
    reasons += _dep_reasons(ctx, stage, entry, fresh)
    out_reasons, restore = _out_reasons(ctx, stage, entry, fresh)
    reasons += out_reasons
    if reasons:
        return StageStatus(stage.name, "stale", tuple(reasons))
    if restore:
        missing = tuple(f"out {o} missing (restored from cache)" for o in restore)
        return StageStatus(stage.name, "restore", missing, tuple(restore))
    return StageStatus(stage.name, "up to date", ("up to date",))


def _param_reasons(ctx: Context, stage: Stage, entry: dict[str, Any]) -> list[str]:
    recorded = entry.get("params") or {}
    reasons = []
    for rel, values in current_params(ctx, stage).items():
        old = recorded.get(rel) or {}
        for key, value in values.items():
            if key not in old:
                reasons.append(f"param {key} added")
            elif old[key] != value:
                reasons.append(f"param {key} changed")
    return reasons


def _dep_reasons(ctx: Context, stage: Stage, entry: dict[str, Any], fresh: bool) -> list[str]:
    recorded = {d["path"]: d for d in entry.get("deps") or [] if "path" in d}
    data = {d["data"]: d for d in entry.get("deps") or [] if "data" in d}
    reasons = []
    for dep in stage.deps:
        now = ctx.hasher.digest(dep, fresh=fresh)
        old = recorded.pop(dep, None)
        expected = ctx.expected(dep) if now.kind == "missing" and ctx.restorable else None
        if expected is not None:
            if old is None or old.get("hash") != expected:
                reasons.append(f"dep {dep} changed")
        elif now.kind == "missing":
            reasons.append(f"dep {dep} missing")
        elif old is None:
            reasons.append(f"dep {dep} added")
        elif old.get("hash") != now.hash:
            reasons.append(f"dep {dep} changed")
    reasons += [f"dep {dep} removed" for dep in recorded]
    for ref in stage.data:
        old = data.pop(ref, None)
        info = ctx.version(ref)
        if old is None:
            reasons.append(f"dep data:{ref} added")
        elif old.get("hash") != info.fingerprint:
            reasons.append(f"dep data:{ref} changed (now {info.ref})")
    reasons += [f"dep data:{ref} removed" for ref in data]
    return reasons


def _out_reasons(
    ctx: Context, stage: Stage, entry: dict[str, Any], fresh: bool
) -> tuple[list[str], list[str]]:
    recorded = {o["path"]: o for o in entry.get("outs") or []}
    reasons: list[str] = []
    restore: list[str] = []
    for out in stage.outs:
        old = recorded.get(out)
        if old is None:
            reasons.append(f"out {out} added")
            continue
        now = ctx.hasher.digest(out, fresh=fresh)
        if now.kind == "missing":
            if _cached(ctx.lab, old):
                restore.append(out)
            else:
                reasons.append(f"out {out} missing")
        elif now.hash != old.get("hash"):
            reasons.append(f"out {out} modified")
    return reasons, restore


def _cached(lab: Lab, out: dict[str, Any]) -> bool:
    """Whether every object of recorded out ``out`` is in the object store."""
    from rigml.data._hashing import missing_objects

    digest = out.get("hash")
    if not isinstance(digest, str):
        return False
    if out.get("kind") != "folder":
        return not missing_objects(lab.objects, [digest])
    if missing_objects(lab.objects, [digest]):
        return False
    from rigml.pipeline._digests import folder_entries

    entries = folder_entries(lab.objects.get_bytes(digest))
    return not missing_objects(lab.objects, [d for _p, d, _s in entries])


def pipeline_status(
    lab: Lab, pipeline: Pipeline, *, targets: list[str] | None = None, force: bool = False
) -> list[StageStatus]:
    """Every selected stage (``targets`` and what they need), in run order, with reasons.

    A stage downstream of one that will run is stale too ("upstream stage X will run"):
    what it reads is about to change. ``rig run`` checks it again once that has run.

    Raises:
        UnknownStage: a target is not a stage of the pipeline.
        DatasetNotFound: a ``data:`` dep names no dataset version.
    """
    from rigml.pipeline._digests import Hasher
    from rigml.pipeline._graph import build_graph
    from rigml.pipeline._lockfile import read_lock

    graph = build_graph(pipeline.stages)
    order = graph.topological(select(pipeline, graph, targets))
    with Hasher(lab, pipeline.root) as hasher:
        ctx = Context(lab, pipeline, hasher, read_lock(pipeline.lock_file))
        out: list[StageStatus] = []
        will_run: set[str] = set()
        for name in order:
            status = stage_status(ctx, pipeline.stages[name])
            ups = [u for u in graph.upstream[name] if u in will_run]
            extra = tuple(f"upstream stage {u} will run" for u in ups)
            if force:
                status = StageStatus(name, "stale", ("forced", *_real(status)))
            elif extra:
                status = StageStatus(name, "stale", (*_real(status), *extra))
            if status.stale:
                will_run.add(name)
            _note_restorable(ctx, name, status)
            if pipeline.stages[name].gates:
                rules = tuple(g.text for g in pipeline.stages[name].gates)
                status = dataclasses.replace(status, gates=rules)
            out.append(status)
        return out


def _note_restorable(ctx: Context, name: str, status: StageStatus) -> None:
    """Outs a plan restores count as present, with their recorded content, downstream."""
    if status.state == "restore":
        for out in ctx.lock[name].get("outs") or []:
            if out.get("path") in status.restore:
                ctx.restorable[str(out["path"])] = out


def _real(status: StageStatus) -> tuple[str, ...]:
    return () if status.state == "up to date" else status.reasons


def select(pipeline: Pipeline, graph: Any, targets: list[str] | None) -> set[str]:
    """``targets`` (all stages when empty) and every stage upstream of them.

    A target may be a ``foreach``/``matrix`` template name: ``train`` selects ``train@*``.
    """
    from rigml.errors import UnknownStage

    if not targets:
        return set(pipeline.stages)
    chosen: list[str] = []
    for target in targets:
        found = [n for n in pipeline.stages if n == target or n.split("@", 1)[0] == target]
        if not found:
            raise UnknownStage(target, list(pipeline.stages))
        chosen += found
    return set(graph.closure(chosen))
