"""Rollouts: live stats per arm, the router that splits a model's traffic among its arms,
and the guard that rolls a failing canary back.

The request path only appends to a bounded deque and bumps two integers
(:meth:`ArmStats.observe`); percentiles are sorted out when someone asks (``/v1/status``)
or when the guard judges a canary, every :data:`JUDGE_EVERY` of its requests but at most
every :data:`JUDGE_INTERVAL` seconds (about 0.5 ms each, whatever the load). Everything
here runs on the event loop, so it needs no lock.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.serve._slot import ModelSlot

log = logging.getLogger("rigml.serve")
WINDOW_N = 2048  # the latest requests an arm's window holds ...
WINDOW_S = 60.0  # ... of the last minute
JUDGE_EVERY = 10  # a canary is judged once per this many of its requests ...
JUDGE_INTERVAL = 0.1  # ... and at most this often (s): a judgement sorts two windows
_BASE = ("primary", "ab")

Entry = tuple[float, float, bool]  # (monotonic time, latency in seconds, succeeded)


@dataclass(frozen=True)
class Window:
    """What an arm's recent requests say: counts, error rate, rate and percentiles (s)."""

    requests: int
    errors: int
    rate: float
    p50: float | None
    p95: float | None
    p99: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def window_of(entries: Sequence[Entry], span: float) -> Window:
    """The stats of ``entries`` seen over ``span`` seconds (nearest-rank percentiles)."""
    latencies = sorted(e[1] for e in entries)
    errors = sum(1 for e in entries if not e[2])
    n = len(latencies)

    def rank(q: float) -> float | None:
        return latencies[max(0, math.ceil(q * n) - 1)] if n else None

    return Window(n, errors, n / max(span, 1.0), rank(0.50), rank(0.95), rank(0.99))


class ArmStats:
    """Totals since the service started, and a window of the latest requests."""

    __slots__ = ("clock", "entries", "errors", "requests", "since")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.requests = 0
        self.errors = 0
        self.entries: deque[Entry] = deque(maxlen=WINDOW_N)
        self.since = clock()

    def observe(self, latency: float, ok: bool) -> None:
        """One answered request (``ok`` False for a 5xx): the whole cost on the request path."""
        self.requests += 1
        if not ok:
            self.errors += 1
        self.entries.append((self.clock(), latency, ok))

    def recent(self) -> tuple[list[Entry], float]:
        """The window's entries of the last :data:`WINDOW_S` seconds and the span they cover."""
        now = self.clock()
        cutoff = now - WINDOW_S
        held = list(self.entries)  # one C-level copy: safe against a concurrent restart
        entries = [e for e in held if e[0] >= cutoff]
        start = max(cutoff, self.since)
        if len(held) == WINDOW_N and entries:
            start = max(start, entries[0][0])  # the count bound, not the minute, cut it
        return entries, now - start

    def window(self) -> Window:
        return window_of(*self.recent())

    def restart_window(self) -> None:
        """Forget the window (a new version, a re-armed canary); totals stay."""
        self.since = self.clock()
        self.entries = deque(maxlen=WINDOW_N)


@dataclass
class Arm:
    """One arm of a model as the router sees it: its slot, live share, stats, verdict."""

    slot: ModelSlot
    share: float
    stats: ArmStats = field(default_factory=ArmStats)
    rolled_back: dict[str, Any] | None = None
    judged_at: float = -math.inf

    @property
    def role(self) -> str:
        return self.slot.spec.kind

    @property
    def name(self) -> str:
        return self.slot.arm


@dataclass(frozen=True)
class Guard:
    """When a canary is rolled back: margins over the primary, judged past a sample size."""

    max_error_delta: float | None = 0.05
    max_p99_ratio: float | None = 2.0
    min_requests: int = 100

    def verdict(self, candidate: Window, primary: Window) -> str | None:
        """Why the candidate must go, or None while it holds (or is too young to judge)."""
        if candidate.requests < self.min_requests:
            return None
        delta = candidate.error_rate - primary.error_rate
        if self.max_error_delta is not None and delta > self.max_error_delta:
            return (
                f"error rate {candidate.error_rate:.1%} is {delta:.1%} above the primary's "
                f"{primary.error_rate:.1%} (limit {self.max_error_delta:.1%})"
            )
        if (
            self.max_p99_ratio is None
            or primary.requests < self.min_requests
            or not candidate.p99
            or not primary.p99
        ):
            return None
        ratio = candidate.p99 / primary.p99
        if ratio > self.max_p99_ratio:
            return (
                f"p99 {candidate.p99 * 1000:.1f} ms is {ratio:.1f}x the primary's "
                f"{primary.p99 * 1000:.1f} ms (limit {self.max_p99_ratio:g}x)"
            )
        return None


def point(key: str | None) -> float:
    """Where a request falls in [0, 100): fixed for a key (sticky), random without one."""
    if not key:
        return random.random() * 100
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 / 100


class Router:
    """A model's traffic split: canaries take their shares first (so a key that reached a
    canary stays on it while its share grows), the primary or A/B arms split the rest by
    their configured shares. Shadows get no traffic of their own."""

    def __init__(self, slots: Iterable[ModelSlot]) -> None:
        self.arms = [Arm(s, s.spec.share) for s in slots]
        self.base = [a for a in self.arms if a.role in _BASE]
        self.canaries = [a for a in self.arms if a.role == "canary"]
        self.shadows = [a for a in self.arms if a.role == "shadow"]
        self._edges: list[tuple[float, Arm]] = []
        self._layout()

    def _layout(self) -> None:
        edges, edge = [], 0.0
        for arm in self.canaries:
            edge += arm.share
            edges.append((edge, arm))
        rest, total = 100.0 - edge, sum(a.slot.spec.share for a in self.base)
        for arm in self.base:
            edge += rest * arm.slot.spec.share / total
            edges.append((edge, arm))
        self._edges = edges

    def share(self, arm: Arm) -> float:
        """The share of traffic ``arm`` gets now (%)."""
        if arm.role == "shadow":
            return 0.0
        if arm.role == "canary":
            return arm.share
        rest = 100.0 - sum(a.share for a in self.canaries)
        return rest * arm.slot.spec.share / sum(a.slot.spec.share for a in self.base)

    def choose(self, key: str | None) -> Arm:
        """The arm for one request; an arm not loaded yet hands its request to a base arm."""
        if len(self._edges) == 1:
            return self._edges[0][1]
        at = point(key)
        chosen = self._edges[-1][1]
        for edge, arm in self._edges:
            if at < edge:
                chosen = arm
                break
        if chosen.slot.ready:
            return chosen
        return next((a for a in self.base if a.slot.ready), chosen)

    def set_share(self, arm: Arm, share: float) -> float:
        """Give canary ``arm`` ``share`` % (capped so the canaries stay within 100)."""
        others = sum(a.share for a in self.canaries if a is not arm)
        arm.share = max(0.0, min(share, 100.0 - others))
        self._layout()
        return arm.share

    def canary(self, name: str | None) -> Arm | None:
        """The canary named ``name`` (the first one when None), or None."""
        return next((a for a in self.canaries if name in (None, a.name)), None)

    def baseline(self) -> Window:
        """The base arms' windows together: what a canary is measured against."""
        entries: list[Entry] = []
        span = 0.0
        for arm in self.base:
            part, part_span = arm.stats.recent()
            entries += part
            span = max(span, part_span)
        return window_of(entries, span)

    def judge(self, arm: Arm, guard: Guard) -> str | None:
        """Roll canary ``arm`` back when the guard says so; the reason, or None."""
        if arm.rolled_back is not None or arm.share <= 0:
            return None
        now = arm.stats.clock()
        if now - arm.judged_at < JUDGE_INTERVAL:
            return None
        arm.judged_at = now
        reason = guard.verdict(arm.stats.window(), self.baseline())
        if reason is not None:
            self.roll_back(arm, reason)
        return reason

    def roll_back(self, arm: Arm, reason: str) -> None:
        self.set_share(arm, 0.0)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        arm.rolled_back = {"reason": reason, "at": at}
        log.warning(
            "rolled back canary %s of %s (%s): %s",
            arm.name,
            arm.slot.name,
            arm.slot.spec.ref,
            reason,
        )


def rollback_counter(registry: Any) -> Any:
    """``rig_serve_canary_rollbacks_total{model, arm}`` in the service's registry."""
    from prometheus_client import Counter

    return Counter(
        "rig_serve_canary_rollbacks",
        "Canaries rolled back automatically (share set to 0)",
        ("model", "arm"),
        registry=registry,
    )
