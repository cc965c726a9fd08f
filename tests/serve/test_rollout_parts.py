"""The rollout parts without a server: arm windows, the weighted sticky router, the guard,
and the --ab / --canary specs."""

from __future__ import annotations

from typing import Any

import pytest

from rigml.errors import InvalidServeConfig
from rigml.serve import ArmSpec, ServeConfig
from rigml.serve._rollout import WINDOW_N, ArmStats, Guard, Router, Window


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeSlot:
    """What the router reads of a slot: its spec, readiness and arm name."""

    def __init__(self, spec: ArmSpec, ready: bool = True) -> None:
        self.spec, self.ready = spec, ready

    @property
    def arm(self) -> str:
        return self.spec.arm

    @property
    def name(self) -> str:
        return self.spec.name


def router(*specs: ArmSpec, unready: tuple[str, ...] = ()) -> Router:
    return Router([FakeSlot(s, s.arm not in unready) for s in specs])  # type: ignore[misc]


def test_window_percentiles_errors_and_rate() -> None:
    clock = Clock()
    stats = ArmStats(clock)
    for i in range(1, 101):  # 1 ms .. 100 ms, one request every 0.1 s
        clock.now += 0.1
        stats.observe(i / 1000, ok=i % 10 != 0)
    win = stats.window()
    assert (win.requests, win.errors, stats.requests, stats.errors) == (100, 10, 100, 10)
    assert win.error_rate == pytest.approx(0.1)
    assert (win.p50, win.p95, win.p99) == (0.050, 0.095, 0.099)
    assert win.rate == pytest.approx(10.0)


def test_window_keeps_the_last_minute_and_the_last_n() -> None:
    clock = Clock()
    stats = ArmStats(clock)
    stats.observe(5.0, ok=False)
    clock.now += 61
    stats.observe(0.001, ok=True)
    win = stats.window()
    assert (win.requests, win.errors, win.p99) == (1, 0, 0.001)
    assert stats.requests == 2  # totals keep everything
    for _ in range(WINDOW_N + 10):
        stats.observe(0.002, ok=True)
    assert stats.window().requests == WINDOW_N
    stats.restart_window()
    assert stats.window().requests == 0 and stats.requests == WINDOW_N + 12


def test_router_splits_by_share_and_is_sticky() -> None:
    r = router(ArmSpec("churn@production"), ArmSpec("churn@staging", "canary", 25, "canary"))
    keys = [f"user-{i}" for i in range(4000)]
    first = {k: r.choose(k).name for k in keys}
    assert {k: r.choose(k).name for k in keys} == first  # sticky
    on_canary = sum(1 for v in first.values() if v == "canary") / len(keys)
    assert 0.22 < on_canary < 0.28
    r.set_share(r.canaries[0], 60)
    after = {k: r.choose(k).name for k in keys}
    assert all(after[k] == "canary" for k in keys if first[k] == "canary")  # they stay
    assert r.share(r.base[0]) == pytest.approx(40)
    r.set_share(r.canaries[0], 0)
    assert {r.choose(k).name for k in keys} == {"primary"}


def test_router_weights_ab_arms_and_a_canary_over_them() -> None:
    r = router(
        ArmSpec("churn@3", "ab", 70, "control"),
        ArmSpec("churn@4", "ab", 30, "treatment"),
        ArmSpec("churn@staging", "canary", 50, "canary"),
    )
    assert [r.share(a) for a in r.arms] == pytest.approx([35, 15, 50])
    counts: dict[str, int] = {}
    for i in range(4000):
        name = r.choose(f"k{i}").name
        counts[name] = counts.get(name, 0) + 1
    assert 0.31 < counts["control"] / 4000 < 0.39
    assert 0.12 < counts["treatment"] / 4000 < 0.18


def test_an_arm_not_ready_hands_its_requests_to_a_base_arm() -> None:
    r = router(
        ArmSpec("churn@production"),
        ArmSpec("churn@staging", "canary", 100, "canary"),
        unready=("canary",),
    )
    assert {r.choose(f"k{i}").name for i in range(50)} == {"primary"}
    assert r.set_share(r.canaries[0], 250) == 100  # capped


def window(requests: int, errors: int = 0, p99: float | None = 0.01) -> Window:
    return Window(requests, errors, 1.0, p99, p99, p99)


@pytest.mark.parametrize(
    ("candidate", "primary", "reason"),
    [
        (window(99, errors=99), window(500), None),  # too few requests to judge
        (window(100, errors=6), window(500), "error rate"),
        (window(100, errors=6), window(500, errors=25), None),  # 1 point above: holds
        (window(100, p99=0.05), window(500, p99=0.01), "p99"),
        (window(100, p99=0.019), window(500, p99=0.01), None),
        (window(100, p99=0.05), window(10, p99=0.01), None),  # primary too thin for p99
    ],
)
def test_guard_verdicts(candidate: Window, primary: Window, reason: str | None) -> None:
    verdict = Guard(0.05, 2.0, 100).verdict(candidate, primary)
    if reason is None:
        assert verdict is None
    else:
        assert verdict is not None and reason in verdict


def test_guard_can_skip_either_check() -> None:
    guard = Guard(None, None, 10)
    assert guard.verdict(window(100, errors=100, p99=9.0), window(100)) is None


def test_ab_specs_parse_into_named_arms() -> None:
    config = ServeConfig(
        ("homes@production",),
        ab=("churn@3:control=50", "churn@4:treatment=50"),
        canary=("churn@staging:10", "churn@5:5"),
        shadow=("churn@6",),
    )
    arms = config.arms()["churn"]
    assert [(a.arm, a.kind, a.share) for a in arms] == [
        ("control", "ab", 50),
        ("treatment", "ab", 50),
        ("canary", "canary", 10),
        ("canary-2", "canary", 5),
        ("shadow", "shadow", 0),
    ]
    again = ServeConfig.from_env(config.to_env())
    assert again.arms() == config.arms()


@pytest.mark.parametrize(
    ("ab", "refs", "says"),
    [
        (("churn@3:control=50", "churn@4:treatment=40"), (), "adding up to 100"),
        (("churn@3:control=100",), (), "two or more arms"),
        (("churn@3:a=50", "churn@4:a=50"), (), "named 'a'"),
        (("churn@3:canary=50", "churn@4:b=50"), (), "kept for --canary"),
        (("churn@3:50",), (), "REF:NAME=PERCENT"),
        (("churn@3:a=x", "churn@4:b=50"), (), "REF:NAME=PERCENT"),
        (("churn@3:a=50", "churn@4:b=50"), ("churn@production",), "both as a ref"),
    ],
)
def test_bad_ab_specs_are_refused(ab: tuple[str, ...], refs: tuple[str, ...], says: str) -> None:
    with pytest.raises(InvalidServeConfig) as info:
        ServeConfig(refs, ab=ab)
    assert says in str(info.value)
    assert info.value.hint


@pytest.mark.parametrize(
    "options",
    [{"canary_max_error_delta": 0}, {"canary_max_p99_ratio": -1}, {"canary_min_requests": 0}],
)
def test_bad_guard_settings_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidServeConfig):
        ServeConfig(("churn@production",), **options)


def test_a_canary_is_judged_at_most_every_interval() -> None:
    clock = Clock()
    r = router(ArmSpec("churn@production"), ArmSpec("churn@staging", "canary", 50, "canary"))
    canary = r.canaries[0]
    canary.stats = ArmStats(clock)
    guard = Guard(0.05, None, 10)
    assert r.judge(canary, guard) is None  # too young: judged, holds
    for _ in range(20):
        canary.stats.observe(0.01, ok=False)
    assert r.judge(canary, guard) is None  # judged a moment ago
    clock.now += 1
    assert r.judge(canary, guard) is not None
    assert canary.share == 0 and canary.rolled_back is not None
