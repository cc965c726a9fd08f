"""GPU readings behind one interface, so code that needs a GPU can be tested without one.

Two sources implement :class:`GpuSource`:

- :class:`NvmlSource` asks the NVIDIA driver through NVML (package ``nvidia-ml-py``,
  imported lazily). When there is no driver it says why instead of raising, and every
  per-field call is guarded on its own: a field the GPU does not support reads ``None``
  and never costs the other fields.
- :class:`RecordedSource` replays readings recorded in the same shape, one frame per
  :meth:`~RecordedSource.read`. Tests use it, and so can anyone without a GPU: point
  ``RIG_GPU_RECORDING`` at a recording and :func:`default_source` returns it.

Indices are NVML's (PCI bus order); NVML ignores ``CUDA_VISIBLE_DEVICES``.

Recording format (JSON)::

    {
      "format": "rigml-gpu-recording/1",
      "description": "free text: what was running, where it was recorded",
      "interval_s": 1.0,
      "gpus": [                                  # GpuInfo fields; all but index and name optional
        {"index": 0, "name": "NVIDIA GeForce RTX 4090", "uuid": "GPU-…",
         "memory_total": 25757220864, "driver_version": "550.54.14",
         "cuda_driver_version": "12.4", "compute_capability": "8.9",
         "pcie_gen_current": 1, "pcie_gen_max": 4, "pcie_width_current": 16,
         "pcie_width_max": 16, "power_limit_w": 450.0, "power_default_limit_w": 450.0}
      ],
      "frames": [                                # one frame per read(), in order
        {"t": 0.0, "readings": [                 # GpuReading fields; all but index optional
          {"index": 0, "utilization_percent": 1.0, "memory_used": 434110464,
           "memory_total": 25757220864, "temperature_c": 35.0, "power_w": 21.4,
           "sm_clock_mhz": 210.0, "mem_clock_mhz": 405.0,
           "throttle_reasons": ["gpu_idle"]}     # names, or NVML's integer bitmask
        ]}
      ]
    }

Bytes are bytes, power is watts, clocks are MHz. A recording may also be given in memory as
a plain list of frames (each a list of reading dicts); its inventory is then made up from
the first frame.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rigml.errors import InvalidInput, NotFound

__all__ = [
    "NOT_THROTTLING",
    "RECORDING_ENV",
    "THROTTLE_REASONS",
    "GpuInfo",
    "GpuReading",
    "GpuSource",
    "InvalidRecording",
    "NvmlSource",
    "RecordedSource",
    "RecordingNotFound",
    "decode_throttle_reasons",
    "default_source",
    "is_throttled",
]

RECORDING_ENV = "RIG_GPU_RECORDING"
"""Environment variable naming a recording that :func:`default_source` replays instead."""

THROTTLE_REASONS: dict[int, str] = {
    0x001: "gpu_idle",
    0x002: "applications_clocks_setting",
    0x004: "sw_power_cap",
    0x008: "hw_slowdown",
    0x010: "sync_boost",
    0x020: "sw_thermal",
    0x040: "hw_thermal",
    0x080: "hw_power_brake",
    0x100: "display_clock_setting",
    0x200: "board_limit",
    0x400: "reliability",
}
"""NVML ``nvmlClocksEventReason*`` (formerly ``*ThrottleReason*``) bits and our names."""

NOT_THROTTLING = frozenset({"gpu_idle"})
"""Reasons that lower clocks without holding work back: an idle GPU is not throttled."""


class RecordingNotFound(NotFound):
    """The GPU recording file named by the caller or ``RIG_GPU_RECORDING`` does not exist."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"no GPU recording at {path}",
            hint=f"fix the path, or unset {RECORDING_ENV} to read the real GPUs",
        )
        self.path = path


class InvalidRecording(InvalidInput):
    """A GPU recording is not in the shape documented in :mod:`rigml.machine.gpu`."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(
            f"cannot read GPU recording {where}: {problem}",
            hint="see the recording format in the rigml.machine.gpu module docstring",
        )
        self.where = where


@dataclass(frozen=True)
class GpuInfo:
    """What a GPU is: the parts of a reading that do not change while it runs."""

    index: int
    name: str
    uuid: str | None = None
    memory_total: int | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    compute_capability: str | None = None
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    power_limit_w: float | None = None
    power_default_limit_w: float | None = None


@dataclass(frozen=True)
class GpuReading:
    """One reading of one GPU; a field is ``None`` when the GPU or driver does not report it."""

    index: int
    utilization_percent: float | None = None
    memory_used: int | None = None
    memory_total: int | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    sm_clock_mhz: float | None = None
    mem_clock_mhz: float | None = None
    throttle_reasons: tuple[str, ...] | None = None


@runtime_checkable
class GpuSource(Protocol):
    """Anything that can list GPUs and read them: NVML, a recording, a test double."""

    def available(self) -> bool:
        """Whether :meth:`read` can return readings."""
        ...

    def why_unavailable(self) -> str | None:
        """A plain sentence saying why there are no readings, or ``None`` when there are."""
        ...

    def inventory(self) -> list[GpuInfo]:
        """The GPUs, or ``[]`` when unavailable."""
        ...

    def read(self) -> list[GpuReading]:
        """One reading per GPU, or ``[]`` when unavailable."""
        ...

    def close(self) -> None:
        """Release the driver; a later call may start it again."""
        ...


def decode_throttle_reasons(mask: int) -> tuple[str, ...]:
    """Names of the bits set in NVML's clocks-event (throttle) bitmask, lowest bit first.

    Bits this version does not know come back as ``"unknown_0x…"`` rather than vanishing,
    so a new driver's reason still shows up as *something* holding clocks down.
    """
    names: list[str] = []
    bit = 1
    while bit <= mask:
        if mask & bit:
            names.append(THROTTLE_REASONS.get(bit, f"unknown_{bit:#x}"))
        bit <<= 1
    return tuple(names)


def is_throttled(reasons: Iterable[str] | None) -> bool:
    """Whether any reason other than idling is holding the clocks down."""
    return any(r not in NOT_THROTTLING for r in reasons or ())


# --------------------------------------------------------------------------- NVML


def _import_pynvml() -> Any:
    import warnings

    # The old `pynvml` wrapper package warns on import that it is deprecated; the binding
    # we use is the same module, so the notice is noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import pynvml  # type: ignore[import-untyped,unused-ignore]  # no stubs; used as Any

    return pynvml


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _error_code(exc: BaseException) -> int | None:
    code = getattr(exc, "value", None)
    return code if isinstance(code, int) else None


def _init_failure(nvml: Any, exc: BaseException) -> str:
    """Translate an NVML start-up error into a sentence a user can act on."""
    code = _error_code(exc)

    def is_(name: str, default: int) -> bool:
        return code == getattr(nvml, name, default)

    if is_("NVML_ERROR_LIBRARY_NOT_FOUND", 12):
        where = " (NVIDIA GPUs are not supported on macOS)" if sys.platform == "darwin" else ""
        return f"NVML library not found: no NVIDIA driver installed{where}"
    if is_("NVML_ERROR_DRIVER_NOT_LOADED", 9):
        return (
            "NVIDIA driver not loaded: its kernel module is not running (does `nvidia-smi` work?)"
        )
    if is_("NVML_ERROR_NO_PERMISSION", 4):
        return (
            "no permission to open the NVIDIA devices (/dev/nvidia*): check your groups, "
            "or pass the GPUs into the container"
        )
    if is_("NVML_ERROR_LIB_RM_VERSION_MISMATCH", 18):
        return (
            "the NVIDIA driver and its NVML library have different versions, usually after a "
            "driver update without a reboot: reboot"
        )
    if is_("NVML_ERROR_FUNCTION_NOT_FOUND", 13):
        return "the NVIDIA driver is too old for this NVML binding: update the driver"
    return f"NVML could not start: {exc}"


def _cuda_version(value: int | None) -> str | None:
    """NVML's CUDA version integer (12040) as text ("12.4")."""
    if not value:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def _watts(milliwatts: Any) -> float | None:
    return None if milliwatts is None else float(milliwatts) / 1000.0


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class NvmlSource:
    """Reads NVIDIA GPUs through NVML, started once on first use.

    Args:
        nvml: The NVML binding module; ``pynvml`` by default. Tests pass a stand-in with the
            same functions and an ``NVMLError`` class.

    Never raises for a missing driver or an unsupported field: :meth:`available` turns
    False and :meth:`why_unavailable` says why, or the field reads ``None``.
    """

    def __init__(self, *, nvml: Any | None = None) -> None:
        self._nvml: Any = nvml  # the binding module, or None until started
        self._lock = threading.Lock()
        self._started = False
        self._reason: str | None = None
        self._handles: list[tuple[int, Any]] = []

    # -- lifecycle

    def _ensure(self) -> bool:
        with self._lock:
            if not self._started:
                self._reason = self._start()
                self._started = True
            return self._reason is None

    def _start(self) -> str | None:
        if self._nvml is None:
            try:
                self._nvml = _import_pynvml()
            except ImportError:
                return "the NVML binding is not installed: pip install nvidia-ml-py"
        nvml = self._nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            return _init_failure(nvml, exc)
        except OSError as exc:  # a broken libnvidia-ml.so can fail in the loader itself
            return f"NVML library could not be loaded: {exc}"
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except nvml.NVMLError as exc:
            self._shutdown()
            return f"NVML started but could not count the GPUs: {exc}"
        handles: list[tuple[int, Any]] = []
        for i in range(count):
            try:
                handles.append((i, nvml.nvmlDeviceGetHandleByIndex(i)))
            except nvml.NVMLError:
                continue  # one lost or forbidden GPU should not hide the others
        if not handles:
            self._shutdown()
            return (
                "the NVIDIA driver is loaded but reports no usable GPU"
                if count == 0
                else f"NVML lists {count} GPU(s) but none could be opened"
            )
        self._handles = handles
        return None

    def _shutdown(self) -> None:
        with contextlib.suppress(self._nvml.NVMLError):
            self._nvml.nvmlShutdown()

    def close(self) -> None:
        """Shut NVML down if this source started it; the next call starts it again."""
        with self._lock:
            if self._started and self._reason is None:
                self._shutdown()
            self._started = False
            self._reason = None
            self._handles = []

    # -- answers

    def available(self) -> bool:
        return self._ensure()

    def why_unavailable(self) -> str | None:
        self._ensure()
        return self._reason

    def _get(self, name: str, *args: Any) -> Any:
        """Call one NVML function; ``None`` when it is missing or fails for this GPU."""
        fn = getattr(self._nvml, name, None)
        if fn is None:
            return None
        try:
            return fn(*args)
        except self._nvml.NVMLError:
            return None

    def _throttle_mask(self, handle: Any) -> int | None:
        # EventReasons replaced ThrottleReasons in driver 535; older drivers only have the latter.
        for name in (
            "nvmlDeviceGetCurrentClocksEventReasons",
            "nvmlDeviceGetCurrentClocksThrottleReasons",
        ):
            fn = getattr(self._nvml, name, None)
            if fn is None:
                continue
            try:
                return int(fn(handle))
            except self._nvml.NVMLError as exc:
                if _error_code(exc) != getattr(self._nvml, "NVML_ERROR_FUNCTION_NOT_FOUND", 13):
                    return None
        return None

    def inventory(self) -> list[GpuInfo]:
        if not self._ensure():
            return []
        driver = self._get("nvmlSystemGetDriverVersion")
        cuda = _cuda_version(self._get("nvmlSystemGetCudaDriverVersion"))
        gpus = []
        for index, h in self._handles:
            name = self._get("nvmlDeviceGetName", h)
            uuid = self._get("nvmlDeviceGetUUID", h)
            mem = self._get("nvmlDeviceGetMemoryInfo", h)
            cc = self._get("nvmlDeviceGetCudaComputeCapability", h)
            limit = self._get("nvmlDeviceGetEnforcedPowerLimit", h)
            if limit is None:
                limit = self._get("nvmlDeviceGetPowerManagementLimit", h)
            gpus.append(
                GpuInfo(
                    index=index,
                    name=_text(name) if name is not None else f"NVIDIA GPU {index}",
                    uuid=_text(uuid) if uuid is not None else None,
                    memory_total=_int(getattr(mem, "total", None)),
                    driver_version=_text(driver) if driver is not None else None,
                    cuda_driver_version=cuda,
                    compute_capability=f"{cc[0]}.{cc[1]}" if cc else None,
                    pcie_gen_current=_int(self._get("nvmlDeviceGetCurrPcieLinkGeneration", h)),
                    pcie_gen_max=_int(self._get("nvmlDeviceGetMaxPcieLinkGeneration", h)),
                    pcie_width_current=_int(self._get("nvmlDeviceGetCurrPcieLinkWidth", h)),
                    pcie_width_max=_int(self._get("nvmlDeviceGetMaxPcieLinkWidth", h)),
                    power_limit_w=_watts(limit),
                    power_default_limit_w=_watts(
                        self._get("nvmlDeviceGetPowerManagementDefaultLimit", h)
                    ),
                )
            )
        return gpus

    def read(self) -> list[GpuReading]:
        if not self._ensure():
            return []
        nvml = self._nvml
        temp_gpu = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
        clock_sm = getattr(nvml, "NVML_CLOCK_SM", 1)
        clock_mem = getattr(nvml, "NVML_CLOCK_MEM", 2)
        readings = []
        for index, h in self._handles:
            util = self._get("nvmlDeviceGetUtilizationRates", h)
            mem = self._get("nvmlDeviceGetMemoryInfo", h)
            mask = self._throttle_mask(h)
            readings.append(
                GpuReading(
                    index=index,
                    utilization_percent=_num(getattr(util, "gpu", None)),
                    memory_used=_int(getattr(mem, "used", None)),
                    memory_total=_int(getattr(mem, "total", None)),
                    temperature_c=_num(self._get("nvmlDeviceGetTemperature", h, temp_gpu)),
                    power_w=_watts(self._get("nvmlDeviceGetPowerUsage", h)),
                    sm_clock_mhz=_num(self._get("nvmlDeviceGetClockInfo", h, clock_sm)),
                    mem_clock_mhz=_num(self._get("nvmlDeviceGetClockInfo", h, clock_mem)),
                    throttle_reasons=None if mask is None else decode_throttle_reasons(mask),
                )
            )
        return readings


# --------------------------------------------------------------------------- recordings

_INFO_FIELDS = frozenset(f.name for f in fields(GpuInfo))
_READING_FIELDS = frozenset(f.name for f in fields(GpuReading))


def _info_from(raw: Any, where: str) -> GpuInfo:
    if not isinstance(raw, Mapping) or "index" not in raw or "name" not in raw:
        raise InvalidRecording(where, f"a GPU entry needs 'index' and 'name', got {raw!r:.80}")
    return GpuInfo(**{k: v for k, v in raw.items() if k in _INFO_FIELDS})


def _reading_from(raw: Any, where: str) -> GpuReading:
    if not isinstance(raw, Mapping) or "index" not in raw:
        raise InvalidRecording(where, f"a reading needs an 'index', got {raw!r:.80}")
    values = {k: v for k, v in raw.items() if k in _READING_FIELDS}
    reasons = values.get("throttle_reasons")
    if isinstance(reasons, int):
        values["throttle_reasons"] = decode_throttle_reasons(reasons)
    elif reasons is not None:
        values["throttle_reasons"] = tuple(str(r) for r in reasons)
    return GpuReading(**values)


def _frame_from(raw: Any, where: str) -> list[GpuReading]:
    items = raw.get("readings") if isinstance(raw, Mapping) else raw
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise InvalidRecording(where, f"a frame must be a list of readings, got {raw!r:.80}")
    return [_reading_from(r, where) for r in items]


class RecordedSource:
    """Replays recorded GPU readings, one frame per :meth:`read`.

    Args:
        recording: A recording document (see the module docstring) or a list of frames.
        loop: Start again after the last frame (default); otherwise keep returning the last.
        where: Where the recording came from, for error messages.

    Raises:
        InvalidRecording: The recording is not in the documented shape.
    """

    def __init__(
        self,
        recording: Mapping[str, Any] | Sequence[Any],
        *,
        loop: bool = True,
        where: str = "<memory>",
    ) -> None:
        if isinstance(recording, Mapping):
            raw_frames = recording.get("frames")
            raw_gpus = recording.get("gpus") or []
            self.description: str | None = recording.get("description")
        else:
            raw_frames, raw_gpus, self.description = recording, [], None
        if not isinstance(raw_frames, Sequence) or isinstance(raw_frames, str):
            raise InvalidRecording(where, "it has no list of 'frames'")
        self._frames = [_frame_from(f, where) for f in raw_frames]
        self._gpus = [_info_from(g, where) for g in raw_gpus]
        if not self._gpus and self._frames:
            self._gpus = [
                GpuInfo(index=r.index, name=f"recorded GPU {r.index}", memory_total=r.memory_total)
                for r in self._frames[0]
            ]
        self.loop = loop
        self.where = where
        self._pos = 0
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, loop: bool = True) -> RecordedSource:
        """Load a JSON recording.

        Raises:
            RecordingNotFound: There is no file at ``path``.
            InvalidRecording: The file is not JSON or not in the documented shape.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RecordingNotFound(str(p)) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRecording(str(p), f"not JSON ({exc})") from None
        if not isinstance(data, Mapping | list):
            raise InvalidRecording(str(p), "expected an object with 'frames' or a list of frames")
        return cls(data, loop=loop, where=str(p))

    @property
    def frame_count(self) -> int:
        """How many frames the recording holds."""
        return len(self._frames)

    def reset(self) -> None:
        """Go back to the first frame."""
        with self._lock:
            self._pos = 0

    def available(self) -> bool:
        return bool(self._frames)

    def why_unavailable(self) -> str | None:
        return None if self._frames else f"the GPU recording {self.where} has no frames"

    def inventory(self) -> list[GpuInfo]:
        return list(self._gpus) if self._frames else []

    def read(self) -> list[GpuReading]:
        with self._lock:
            if not self._frames:
                return []
            frame = self._frames[self._pos]
            if self._pos + 1 < len(self._frames):
                self._pos += 1
            elif self.loop:
                self._pos = 0
            return list(frame)

    def close(self) -> None:
        """Nothing to release; present so a recording stands in for NVML anywhere."""


# --------------------------------------------------------------------------- default

_default_lock = threading.Lock()
_default_nvml: NvmlSource | None = None


def default_source() -> GpuSource:
    """The GPU source this process should use.

    A recording when ``RIG_GPU_RECORDING`` names one (a fresh replay from its first frame
    on each call), else one :class:`NvmlSource` shared by the whole process, so NVML starts
    at most once.

    Raises:
        RecordingNotFound: ``RIG_GPU_RECORDING`` names a file that does not exist.
        InvalidRecording: That file is not a valid recording.
    """
    path = os.environ.get(RECORDING_ENV)
    if path:
        return RecordedSource.from_file(path)
    global _default_nvml
    with _default_lock:
        if _default_nvml is None:
            _default_nvml = NvmlSource()
        return _default_nvml
