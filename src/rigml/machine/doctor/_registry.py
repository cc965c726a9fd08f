"""The check registry: register a check under its id, select checks by id or group, run them."""

from __future__ import annotations

import inspect
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from rigml.machine.doctor._context import DoctorContext
from rigml.machine.doctor._errors import FactUnavailable, UnknownCheck
from rigml.machine.doctor._results import CheckResult, DoctorReport, Outcome
from rigml.machine.doctor._thresholds import Thresholds

CheckFn = Callable[[DoctorContext], Outcome]


@dataclass(frozen=True)
class Check:
    """A registered check: stable id, title and the function that judges."""

    id: str
    title: str
    func: CheckFn

    def doc(self, thresholds: Thresholds | None = None) -> str:
        """The check's docstring with the thresholds filled in: what ``--explain`` prints."""
        text = inspect.getdoc(self.func) or ""
        return text.format_map(asdict(thresholds or Thresholds()))


_REGISTRY: dict[str, Check] = {}


def _check(check_id: str, title: str) -> Callable[[CheckFn], CheckFn]:
    def register(func: CheckFn) -> CheckFn:
        _REGISTRY[check_id] = Check(check_id, title, func)
        return func

    return register


def all_checks() -> list[Check]:
    """Every registered check, in the order ``rig doctor`` shows them."""
    return list(_REGISTRY.values())


def _unknown(name: str) -> UnknownCheck:
    import difflib

    ids = list(_REGISTRY)
    groups = sorted({i.split(".")[0] for i in ids})
    close = difflib.get_close_matches(name, ids + groups, n=3, cutoff=0.5)
    if not close:  # "swap" → memory.swap
        close = [i for i in ids if name and name in i][:3]
    return UnknownCheck(name, close, ids)


def get_check(check_id: str) -> Check:
    """The check with this id.

    Raises:
        UnknownCheck: No check has this id; the error suggests close ones.
    """
    try:
        return _REGISTRY[check_id]
    except KeyError:
        raise _unknown(check_id) from None


def select_checks(only: Iterable[str] | None = None) -> list[Check]:
    """The checks ``only`` names (ids, or groups such as ``gpu``), in registry order; all of
    them when ``only`` is ``None`` or empty.

    Raises:
        UnknownCheck: A name is neither a check id nor a group.
    """
    wanted = list(only or [])
    if not wanted:
        return all_checks()
    chosen: set[str] = set()
    for name in wanted:
        if name in _REGISTRY:
            chosen.add(name)
            continue
        group = [i for i in _REGISTRY if i.split(".")[0] == name]
        if not group:
            raise _unknown(name)
        chosen.update(group)
    return [c for c in _REGISTRY.values() if c.id in chosen]


def _run_one(check: Check, ctx: DoctorContext) -> CheckResult:
    start = time.perf_counter()
    try:
        out = check.func(ctx)
    except FactUnavailable as exc:
        out = Outcome("skip", exc.reason)
    except Exception as exc:
        out = Outcome(
            "skip",
            f"check crashed: {type(exc).__name__}: {exc}",
            {"error": repr(exc)},
            "this is a bug in rigml; please report it with the output of `rig doctor --json`",
        )
    elapsed = time.perf_counter() - start
    return CheckResult(
        check.id, check.title, out.status, out.summary, out.evidence, out.fix, round(elapsed, 4)
    )


def run_checks(
    *, only: Sequence[str] | None = None, context: DoctorContext | None = None
) -> DoctorReport:
    """Run the checks (all, or those ``only`` names) and gather their results.

    Checks run in a few threads, so the slow ones (sizing caches, ``pip check``, importing
    torch in a subprocess) overlap; results come back in registry order whatever finished
    first. A check that raises is reported as "skip" and never stops the others.

    Raises:
        UnknownCheck: ``only`` names a check that does not exist.
    """
    checks = select_checks(only)
    ctx = context if context is not None else DoctorContext()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, min(6, len(checks)))) as pool:
        results = list(pool.map(lambda c: _run_one(c, ctx), checks))
    return DoctorReport(
        results,
        time.perf_counter() - start,
        f"{ctx.system} {platform.release()} {platform.machine()}",
        platform.python_version(),
    )
