"""``gpu.*`` checks of the software stack: the driver against torch's CUDA build, torch's view.

``gpu.driver_vs_torch_cuda`` judges the driver with the shipped CUDA → minimum driver table
(:func:`compat_table`, :func:`driver_requirement`); ``gpu.visible_to_torch`` asks a subprocess
whether torch sees the GPUs NVML lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from rigml.machine.doctor._context import DoctorContext, _need_gpus
from rigml.machine.doctor._errors import FactUnavailable
from rigml.machine.doctor._facts import TorchFacts, TorchProbe
from rigml.machine.doctor._registry import _check
from rigml.machine.doctor._results import Outcome


def _version_tuple(text: str | None) -> tuple[int, ...]:
    """``"550.54.14"`` → ``(550, 54, 14)``; stops at the first part that is not a number."""
    parts: list[int] = []
    for piece in (text or "").strip().split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
        if m.end() != len(piece):
            break
    return tuple(parts)


@dataclass(frozen=True)
class DriverRequirement:
    """What a torch CUDA build asks of the NVIDIA driver, from the compatibility table."""

    cuda: str
    minimum: str | None
    toolkit_driver: str | None
    minor_compat_driver: str | None


@cache
def compat_table() -> dict[str, Any]:
    """The shipped CUDA → minimum driver table (``data/cuda_driver_compat.toml``)."""
    import tomllib
    from importlib.resources import files

    text = (files("rigml.machine") / "data" / "cuda_driver_compat.toml").read_text("utf-8")
    return tomllib.loads(text)


def driver_requirement(cuda: str) -> DriverRequirement | None:
    """The driver a CUDA build (``"12.4"``) needs, or ``None`` when its major is unknown.

    ``minimum`` is the lower of the toolkit's own driver and its major's minor-version
    compatibility minimum: below it the build does not start. A minor missing from the table
    (newer than it) is judged by the minor-version compatibility figure alone.
    """
    parts = _version_tuple(cuda)
    if not parts:
        return None
    table = compat_table()
    minor_compat = table["minor_version_compatibility"].get(str(parts[0]))
    key = f"{parts[0]}.{parts[1] if len(parts) > 1 else 0}"
    toolkit = table["toolkit_driver"].get(key)
    if minor_compat is None and toolkit is None:
        return None
    known = [v for v in (toolkit, minor_compat) if v]
    minimum = min(known, key=_version_tuple)
    return DriverRequirement(key, minimum, toolkit, minor_compat)


def _torch_with_cuda(ctx: DoctorContext) -> TorchFacts:
    torch = ctx.get_torch()
    if not torch.installed:
        raise FactUnavailable("torch is not installed in this environment")
    if torch.cuda is None:
        if torch.hip:
            raise FactUnavailable(f"torch {torch.version} is a ROCm build (HIP {torch.hip})")
        raise FactUnavailable(f"torch {torch.version} is a CPU-only build (no CUDA)")
    return torch


# A torch build one CUDA major lower, for drivers too old for the major torch was built with.
_OLDER_BUILD = {12: "cu118", 13: "cu126"}


def _driver_fix(need: str, torch_major: int) -> str:
    fix = (
        f"update the NVIDIA driver to {need} or newer (Ubuntu: `sudo ubuntu-drivers install`, "
        "then reboot)"
    )
    if older := _OLDER_BUILD.get(torch_major):
        fix += (
            ", or install a torch built for an older CUDA: `pip install torch --index-url "
            f"https://download.pytorch.org/whl/{older}`"
        )
    return fix


@_check("gpu.driver_vs_torch_cuda", "NVIDIA driver vs torch's CUDA build")
def check_driver_vs_torch(ctx: DoctorContext) -> Outcome:
    """Whether the NVIDIA driver is new enough for the CUDA version torch was built with.

    torch's CUDA build is read from torch/version.py without importing torch; the driver
    version and the newest CUDA it supports come from NVML. The shipped table
    (rigml/machine/data/cuda_driver_compat.toml, from NVIDIA's CUDA Toolkit Release Notes)
    gives, for each CUDA version, the toolkit's own driver and the minimum for minor-version
    compatibility (CUDA 11.x: 450.80.02, 12.x: 525.60.13, 13.x: 580).

    Why: a torch wheel brings its own CUDA runtime but uses the system's driver. Too old a
    driver and `torch.cuda.is_available()` is False ("The NVIDIA driver on your system is
    too old"), and training silently runs on the CPU.

    Verdict: fail when the driver is below both figures, or supports an older CUDA major
    than torch's build; warn when it is below the toolkit's own driver but within
    minor-version compatibility (it runs, without newer features and PTX JIT); skip when
    there is no GPU, no torch, a CPU or ROCm build, or a CUDA major the table does not know.

    Fix: update the driver (Ubuntu: `sudo ubuntu-drivers install`; others: the NVIDIA
    driver or your distribution's package), or install a torch built for an older CUDA from
    https://download.pytorch.org/whl/.
    """
    gpus = _need_gpus(ctx)
    torch = _torch_with_cuda(ctx)
    info = gpus.gpus[0]
    if not info.driver_version:
        raise FactUnavailable("NVML did not report the driver version")
    assert torch.cuda is not None
    torch_cuda = _version_tuple(torch.cuda)
    if not torch_cuda:
        raise FactUnavailable(f"cannot read torch's CUDA version {torch.cuda!r}")
    case = _DriverCase(
        driver=info.driver_version,
        driver_cuda_text=info.cuda_driver_version,
        torch_version=torch.version,
        torch_cuda_text=torch.cuda,
        torch_cuda=torch_cuda,
        req=driver_requirement(torch.cuda),
        table=compat_table()["about"],
    )
    if case.driver_cuda and case.driver_cuda[0] < torch_cuda[0]:
        return _driver_too_old_for_major(case)
    if case.req is None:
        return _judge_unlisted_cuda(case)
    return _judge_listed_cuda(case, case.req)


@dataclass(frozen=True)
class _DriverCase:
    """The driver NVML reports and the CUDA build torch was made for, with the table's say."""

    driver: str
    driver_cuda_text: str | None
    torch_version: str | None
    torch_cuda_text: str
    torch_cuda: tuple[int, ...]
    req: DriverRequirement | None
    table: dict[str, Any]

    @property
    def have(self) -> tuple[int, ...]:
        return _version_tuple(self.driver)

    @property
    def driver_cuda(self) -> tuple[int, ...]:
        return _version_tuple(self.driver_cuda_text)

    @property
    def what(self) -> str:
        return (
            f"driver {self.driver} (CUDA {self.driver_cuda_text or '?'}), "
            f"torch {self.torch_version} built for CUDA {self.torch_cuda_text}"
        )

    @property
    def evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "driver_version": self.driver,
            "driver_cuda": self.driver_cuda_text,
            "torch_version": self.torch_version,
            "torch_cuda": self.torch_cuda_text,
            "table_written": self.table.get("written"),
            "table_source": self.table.get("source"),
        }
        if self.req is not None:
            evidence |= {
                "minimum_driver": self.req.minimum,
                "toolkit_driver": self.req.toolkit_driver,
                "minor_version_compat_driver": self.req.minor_compat_driver,
            }
        return evidence


def _driver_too_old_for_major(case: _DriverCase) -> Outcome:
    """The driver supports an older CUDA major than torch's build: it cannot start."""
    need = (case.req.minimum if case.req else None) or f"a CUDA {case.torch_cuda[0]} driver"
    return Outcome(
        "fail",
        f"{case.what}: the driver only supports CUDA {case.driver_cuda_text}",
        case.evidence,
        _driver_fix(need, case.torch_cuda[0]),
    )


def _judge_unlisted_cuda(case: _DriverCase) -> Outcome:
    """A CUDA version newer than the table: pass only when the driver says it supports it."""
    if case.driver_cuda and case.driver_cuda >= case.torch_cuda[:2]:
        return Outcome("pass", case.what, case.evidence)
    return Outcome(
        "skip",
        f"CUDA {case.torch_cuda_text} is not in the compatibility table (written "
        f"{case.table.get('written')}): update rigml to judge it",
        case.evidence,
    )


def _judge_listed_cuda(case: _DriverCase, req: DriverRequirement) -> Outcome:
    """A CUDA version in the table: below the minimum fails, below the toolkit's warns."""
    assert req.minimum is not None
    if case.have < _version_tuple(req.minimum):
        return Outcome(
            "fail",
            f"{case.what} needs driver ≥ {req.minimum}",
            case.evidence,
            _driver_fix(req.toolkit_driver or req.minimum, case.torch_cuda[0]),
        )
    below_toolkit = req.toolkit_driver and case.have < _version_tuple(req.toolkit_driver)
    if below_toolkit or (case.driver_cuda and case.driver_cuda < case.torch_cuda[:2]):
        full = req.toolkit_driver or req.minimum
        return Outcome(
            "warn",
            f"{case.what}: runs through minor-version compatibility "
            f"(CUDA {req.cuda}'s own driver is ≥ {full})",
            case.evidence,
            f"for every CUDA {req.cuda} feature (and PTX JIT on new GPUs) update the driver to "
            f"{full} or newer, or install a torch built for CUDA "
            f"{case.driver_cuda_text or 'the driver supports'} or older",
        )
    return Outcome("pass", f"{case.what} (needs ≥ {req.minimum})", case.evidence)


@_check("gpu.visible_to_torch", "GPU visible to torch")
def check_visible_to_torch(ctx: DoctorContext) -> Outcome:
    """Whether torch can use the GPUs the operating system sees.

    Runs `python -c "import torch; print(torch.cuda.is_available(),
    torch.cuda.device_count())"` in a subprocess (never in rig's own process) with a
    {torch_probe_timeout_s:g} s timeout, only when NVML sees a GPU or /dev/nvidia0 exists and
    torch is installed.

    Why: the classic silent failure: a CPU-only torch wheel, CUDA_VISIBLE_DEVICES set to
    nothing, or a driver too old for torch's CUDA, and training runs on the CPU at a
    fraction of the speed while the GPU sits idle.

    Verdict: fail when torch sees no GPU or cannot be imported; warn when it sees fewer GPUs
    than NVML without CUDA_VISIBLE_DEVICES explaining it, or when the probe timed out; skip
    without a GPU or without torch.

    Fix: install a CUDA build of torch (`pip install torch --index-url
    https://download.pytorch.org/whl/cu124`), unset CUDA_VISIBLE_DEVICES, or fix the driver
    (see `gpu.driver_vs_torch_cuda`); the evidence holds torch's own warning.
    """
    gpus = ctx.get_gpu()
    nvml_count = len(gpus.gpus) if gpus.available else None
    if not nvml_count and not gpus.device_node:
        raise FactUnavailable(f"no NVIDIA GPU seen by the OS: {gpus.reason or 'NVML lists none'}")
    torch = ctx.get_torch()
    if not torch.installed:
        raise FactUnavailable("torch is not installed in this environment")
    probe = ctx.get_torch_probe()
    cvd = ctx.environ.get("CUDA_VISIBLE_DEVICES")
    evidence: dict[str, Any] = {
        "nvml_gpus": nvml_count,
        "dev_nvidia0": gpus.device_node,
        "torch_version": torch.version,
        "torch_cuda": torch.cuda,
        "cuda_available": probe.cuda_available,
        "device_count": probe.device_count,
        "CUDA_VISIBLE_DEVICES": cvd,
        "error": probe.error,
        "torch_stderr": probe.stderr_tail or None,
    }
    if probe.timed_out:
        return Outcome(
            "warn",
            f"could not tell: {probe.error}",
            evidence,
            "run `python -c 'import torch; print(torch.cuda.is_available())'` yourself; a "
            "slow first import is often a cold disk or a network filesystem",
        )
    if probe.error:
        return Outcome(
            "fail",
            probe.error,
            evidence,
            "reinstall torch in this environment (`pip install --force-reinstall torch`)",
        )
    if not probe.cuda_available:
        seen = f"{nvml_count} GPU(s)" if nvml_count else "/dev/nvidia0"
        why, fix = _why_torch_sees_none(torch, probe, cvd)
        return Outcome("fail", f"the OS sees {seen} but torch sees none: {why}", evidence, fix)
    return _judge_count(torch, probe.device_count or 0, nvml_count, cvd, evidence)


def _why_torch_sees_none(torch: TorchFacts, probe: TorchProbe, cvd: str | None) -> tuple[str, str]:
    """Why torch sees no GPU the OS sees, and the fix: its build, CUDA_VISIBLE_DEVICES, or
    what torch itself said."""
    if torch.cuda is None:
        return (
            f"torch {torch.version} is a CPU-only build",
            "install a CUDA build: `pip install torch --index-url "
            "https://download.pytorch.org/whl/cu124` (pick the CUDA your driver supports)",
        )
    if cvd is not None and cvd.strip() in ("", "-1"):
        return (
            f"CUDA_VISIBLE_DEVICES={cvd!r} hides every GPU",
            "unset CUDA_VISIBLE_DEVICES (or list the GPUs to use, e.g. =0,1)",
        )
    last = probe.stderr_tail.splitlines()[-1] if probe.stderr_tail else ""
    why = "torch.cuda.is_available() is False" + (f" ({last.strip()})" if last else "")
    return why, "see `rig doctor --explain gpu.driver_vs_torch_cuda`; check `nvidia-smi` works"


def _judge_count(
    torch: TorchFacts, count: int, nvml_count: int | None, cvd: str | None, evidence: dict[str, Any]
) -> Outcome:
    """torch sees GPUs: as many as NVML, or fewer because CUDA_VISIBLE_DEVICES says so."""
    if nvml_count and count < nvml_count:
        if cvd is not None:
            return Outcome(
                "pass",
                f"torch sees {count} of {nvml_count} GPUs (CUDA_VISIBLE_DEVICES={cvd})",
                evidence,
            )
        return Outcome(
            "warn",
            f"torch sees {count} of the {nvml_count} GPUs NVML lists",
            evidence,
            "check `nvidia-smi` for a GPU in a bad state (Xid errors in `sudo dmesg`), and "
            "that no container or cgroup rule hides it",
        )
    return Outcome("pass", f"torch {torch.version} sees {count} GPU(s)", evidence)
