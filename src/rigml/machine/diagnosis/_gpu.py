"""GPU rules: thermal and power throttling, a GPU starved of data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rigml.machine.diagnosis._helpers import (
    _Clock,
    _core_matrix,
    _enough,
    _finite,
    _gpu_name,
    _np,
    _others_mean,
    _reasons,
)
from rigml.machine.diagnosis._model import Finding

if TYPE_CHECKING:
    import numpy as np

    from rigml.machine.diagnosis._model import Context, Thresholds
    from rigml.machine.timeline import Timeline


_THERMAL = frozenset({"sw_thermal", "hw_thermal"})
_POWER = frozenset({"sw_power_cap", "hw_power_brake"})


@dataclass(frozen=True, eq=False)
class _ClockFall:
    """How one busy GPU's SM clock fell from its peak, and what it reported meanwhile."""

    gpu: int
    name: str
    t: np.ndarray
    clk: np.ndarray
    temp: np.ndarray | None
    power: np.ndarray | None
    reasons: list[set[str]]
    idx: np.ndarray  # the busy samples
    ip: int  # the sample at the peak clock
    il: int  # the sample at the lowest clock after the peak
    drop: float  # fall from the peak, as a fraction of it
    rise: float  # temperature rise meanwhile, NaN when unknown
    need: int  # samples with a throttle reason needed to report it
    dropped: bool  # the fall counts as throttled
    clock_text: str

    @property
    def busy_n(self) -> int:
        return len(self.idx)

    def numbers(self) -> dict[str, float]:
        clk = self.clk
        return {
            "gpu": float(self.gpu),
            "clock_peak_mhz": float(clk[self.ip]),
            "clock_low_mhz": float(clk[self.il]),
            "clock_drop_percent": round(100 * self.drop, 2),
        }


def _throttling(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    clock = _Clock(tl)
    found: list[Finding] = []
    for g in tl.gpu_indices():
        fall = _clock_fall(tl, ctx, th, clock, g)
        if fall is None:
            continue
        thermal = _thermal_finding(fall, th, clock)
        if thermal is not None:
            found.append(thermal)
        power = _power_finding(fall, ctx, th, clock)
        if power is not None:
            found.append(power)
    return found


def _clock_fall(
    tl: Timeline, ctx: Context, th: Thresholds, clock: _Clock, g: int
) -> _ClockFall | None:
    """The clock fall of GPU ``g`` while busy; ``None`` without enough busy samples."""
    np = _np()
    clk = tl.get(f"gpu{g}/sm_clock_mhz")
    if clk is None:
        return None
    util = tl.get(f"gpu{g}/util_percent")
    busy = _finite(clk)
    if util is not None:
        busy &= _finite(util) & (util >= th.gpu_busy_percent)
    if not _enough(tl, th, busy):
        return None  # an idle GPU's low clocks are not throttling
    t = tl.times
    temp = tl.get(f"gpu{g}/temp_c")
    idx = np.flatnonzero(busy)
    ip = int(idx[np.argmax(clk[idx])])
    after = idx[idx >= ip]
    il = int(after[np.argmin(clk[after])])
    drop = float((clk[ip] - clk[il]) / clk[ip]) if clk[ip] > 0 else 0.0
    rise = (
        float(temp[il] - temp[ip])
        if temp is not None and math.isfinite(temp[il]) and math.isfinite(temp[ip])
        else math.nan
    )
    name = _gpu_name(ctx, g)
    return _ClockFall(
        gpu=g,
        name=name,
        t=t,
        clk=clk,
        temp=temp,
        power=tl.get(f"gpu{g}/power_w"),
        reasons=_reasons(tl, g),
        idx=idx,
        ip=ip,
        il=il,
        drop=drop,
        rise=rise,
        need=max(th.reason_min_samples, math.ceil(th.reason_min_share * len(idx))),
        dropped=drop >= th.clock_drop_fraction,
        clock_text=(
            f"{name} SM clock fell from {clk[ip]:.0f} MHz at {clock.at(float(t[ip]))} to "
            f"{clk[il]:.0f} MHz at {clock.at(float(t[il]))} ({-100 * drop:.1f}%)"
        ),
    )


def _thermal_finding(fall: _ClockFall, th: Thresholds, clock: _Clock) -> Finding | None:
    """Heat: the clock fell while the temperature rose, or NVML said thermal."""
    np = _np()
    thermal_n = _with_any(fall.reasons, fall.idx, _THERMAL)
    if not ((fall.dropped and fall.rise >= th.temp_rise_c) or thermal_n >= fall.need):
        return None
    evidence = [fall.clock_text]
    numbers = fall.numbers()
    temp, ip, il = fall.temp, fall.ip, fall.il
    if temp is not None and math.isfinite(fall.rise):
        evidence[0] += f" while its temperature rose from {temp[ip]:.0f} °C to {temp[il]:.0f} °C"
        numbers.update(
            {
                "temp_start_c": float(temp[ip]),
                "temp_end_c": float(temp[il]),
                "temp_peak_c": float(max(temp[ip], temp[il], np.nanmax(temp))),
            }
        )
    counts = _reason_counts(fall.reasons, fall.idx, _THERMAL | {"hw_slowdown"})
    if counts:
        evidence.append(_reason_text(counts, fall.busy_n, clock, fall.t))
        numbers["thermal_reason_samples"] = float(thermal_n)
    hard = "hw_thermal" in counts or "hw_slowdown" in counts
    return Finding(
        id="thermal_throttling",
        constraint="thermal",
        title=f"gpu{fall.gpu} is slowing down because it runs hot",
        evidence=evidence,
        numbers=numbers,
        first_fix=(
            "Cool the GPU: check that its fans spin and the chassis breathes "
            "(clean dust filters, add intake airflow, space the cards); meanwhile a "
            "lower power limit (sudo nvidia-smi -pl <watts>) trades a little peak "
            "speed for steady clocks."
        ),
        severity="critical" if hard or fall.drop >= 0.2 else "warning",
    )


def _power_finding(fall: _ClockFall, ctx: Context, th: Thresholds, clock: _Clock) -> Finding | None:
    """Power: NVML said power cap, or the clock fell at the power limit without heat."""
    np = _np()
    idx, power, reasons = fall.idx, fall.power, fall.reasons
    power_n = _with_any(reasons, idx, _POWER)
    limit = ctx.gpu_power_limit_w.get(fall.gpu)
    measured = power is not None and bool(_finite(power[idx]).any())
    at_limit = False
    if power is not None and measured and limit:
        at_limit = bool(np.nanmax(power[idx]) >= th.power_near_limit * limit)
    by_trend = fall.dropped and not (fall.rise >= th.temp_rise_c) and at_limit
    if not (power_n >= fall.need or by_trend):
        return None
    numbers = fall.numbers()
    capped = np.asarray([k for k in idx.tolist() if reasons[k] & _POWER], dtype=int)
    if by_trend or not len(capped):
        evidence = [fall.clock_text]
    else:
        evidence = [_clock_range(fall.name, fall.clk, capped, "while the power cap was reported")]
    counts = _reason_counts(reasons, idx, _POWER)
    if counts:
        evidence.append(_reason_text(counts, fall.busy_n, clock, fall.t))
        numbers["power_cap_samples"] = float(power_n)
    if power is not None and measured:
        jp = int(idx[np.nanargmax(power[idx])])
        against = f" against its {limit:.0f} W limit" if limit else ""
        evidence.append(
            f"power peaked at {power[jp]:.1f} W at {clock.at(float(fall.t[jp]))}{against}"
        )
        numbers["power_peak_w"] = float(power[jp])
        if limit:
            numbers["power_limit_w"] = float(limit)
    fix = (
        "The GPU is held at its power limit: raise the limit if the PSU and cooling "
        "allow (sudo nvidia-smi -pl <max watts>), else this is its speed"
    )
    if "hw_power_brake" in counts:
        fix += "; hw_power_brake means the PSU or its cables cannot deliver: check them"
    return Finding(
        id="power_throttling",
        constraint="power",
        title=f"gpu{fall.gpu} is capped by its power limit",
        evidence=evidence,
        numbers=numbers,
        first_fix=fix + ".",
        severity="warning" if by_trend or "hw_power_brake" in counts else "info",
    )


def _reason_counts(
    reasons: list[set[str]], idx: np.ndarray, names: frozenset[str]
) -> dict[str, tuple[int, int]]:
    """Per reason name among ``names``: in how many samples of ``idx``, and the first one."""
    out: dict[str, tuple[int, int]] = {}
    for k in idx.tolist():
        for r in sorted(reasons[k] & names):
            n, first = out.get(r, (0, k))
            out[r] = (n + 1, first)
    return out


def _with_any(reasons: list[set[str]], idx: np.ndarray, names: frozenset[str]) -> int:
    return sum(1 for k in idx.tolist() if reasons[k] & names)


def _reason_text(
    counts: dict[str, tuple[int, int]], busy_n: int, clock: _Clock, t: np.ndarray
) -> str:
    parts = [
        f"{r} in {n} of {busy_n} busy samples (first at {clock.at(float(t[first]))})"
        for r, (n, first) in sorted(counts.items(), key=lambda kv: -kv[1][0])
    ]
    return "NVML throttle reasons: " + "; ".join(parts)


def _clock_range(name: str, clk: np.ndarray, idx: np.ndarray, when: str) -> str:
    np = _np()
    return (
        f"{name} SM clock was between {np.min(clk[idx]):.0f} and {np.max(clk[idx]):.0f} MHz "
        f"{when} ({len(idx)} samples)"
    )


def _starved_gpu(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    np = _np()
    top = tl.get("cpu_max_core_percent")
    if top is None or not tl.gpu_indices():
        return []
    clock = _Clock(tl)
    t = tl.times
    cores = _core_matrix(tl)
    if cores is not None:
        k = cores.shape[1]
        others = _others_mean(cores)
    else:
        cpu = tl.get("cpu_percent")
        k = ctx.cores or 0
        if cpu is None or k < 1:
            return []
        others = (cpu * k - top) / (k - 1) if k > 1 else np.zeros(len(t))
    found = []
    for g in tl.gpu_indices():
        util = tl.get(f"gpu{g}/util_percent")
        if util is None:
            continue
        valid = _finite(util) & _finite(top) & np.isfinite(others)
        if not _enough(tl, th, valid):
            continue
        low = valid & (util < th.starved_gpu_percent)
        starved = low & (top >= th.pegged_core_percent) & (others < th.idle_cores_percent)
        share = float(starved.sum() / valid.sum())
        if share < th.most_of_run:
            continue
        idx = np.flatnonzero(starved)
        evidence = [
            f"{_gpu_name(ctx, g)} utilisation under {th.starved_gpu_percent:.0f}% in "
            f"{int(low.sum())} of {int(valid.sum())} samples (mean {np.nanmean(util[valid]):.0f}%)",
            f"in {int(starved.sum())} of them ({clock.span(float(t[idx[0]]), float(t[idx[-1]]))}) "
            f"the busiest core averaged {np.mean(top[starved]):.0f}% while the other "
            f"{max(k - 1, 0)} core(s) averaged {np.mean(others[starved]):.0f}%: one thread "
            "prepares the data the GPU waits for",
        ]
        found.append(
            Finding(
                id="starved_gpu",
                constraint="starved_gpu",
                title=f"gpu{g} waits for data: one CPU core is pegged, the rest idle",
                evidence=evidence,
                numbers={
                    "gpu": float(g),
                    "gpu_util_mean": round(float(np.nanmean(util[valid])), 2),
                    "busiest_core_mean": round(float(np.mean(top[starved])), 2),
                    "other_cores_mean": round(float(np.mean(others[starved])), 2),
                    "starved_share": round(share, 3),
                },
                first_fix=(
                    "Load data on more cores: DataLoader(num_workers=<cores - 1>, "
                    "pin_memory=True, persistent_workers=True), or decode and augment once and "
                    "cache the result (or do it on the GPU)."
                ),
                severity="warning",
            )
        )
    return found
