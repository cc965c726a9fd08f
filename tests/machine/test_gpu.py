"""GPU sources: recorded readings replayed, NVML on a machine without a GPU, NVML field guards."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rigml.errors import InvalidInput, NotFound
from rigml.machine.gpu import (
    GpuInfo,
    GpuReading,
    GpuSource,
    InvalidRecording,
    NvmlSource,
    RecordedSource,
    RecordingNotFound,
    decode_throttle_reasons,
    default_source,
    is_throttled,
)

RECORDED = Path(__file__).parent / "recorded"
MiB = 2**20


def recording(name: str) -> RecordedSource:
    return RecordedSource.from_file(RECORDED / name)


# --------------------------------------------------------------------------- recordings


def test_every_recording_loads_and_is_a_gpu_source() -> None:
    for path in sorted(RECORDED.glob("*.json")):
        src = RecordedSource.from_file(path)
        assert isinstance(src, GpuSource)
        assert src.available() and src.why_unavailable() is None
        assert src.frame_count >= 3
        inventory = src.inventory()
        assert inventory and all(isinstance(g, GpuInfo) for g in inventory)
        for _ in range(src.frame_count):
            frame = src.read()
            assert [r.index for r in frame] == [g.index for g in inventory]
            for r in frame:
                assert 0 <= r.utilization_percent <= 100
                assert 0 < r.memory_used <= r.memory_total


def test_rtx4090_idle_replays_frames_in_order_and_cycles() -> None:
    src = recording("rtx4090_idle.json")
    (gpu,) = src.inventory()
    assert gpu.name == "NVIDIA GeForce RTX 4090"
    assert gpu.memory_total == 24564 * MiB
    assert gpu.compute_capability == "8.9"
    assert gpu.cuda_driver_version == "12.4"
    frames = [src.read() for _ in range(src.frame_count)]
    assert all(f[0].throttle_reasons == ("gpu_idle",) for f in frames)
    assert all(f[0].power_w < 30 for f in frames)
    assert not any(is_throttled(f[0].throttle_reasons) for f in frames)
    assert src.read() == frames[0]  # back to the start
    src.reset()
    assert src.read() == frames[0]


def test_a100_throttling_clocks_fall_as_temperature_rises() -> None:
    src = recording("a100_throttling.json")
    assert src.inventory()[0].name == "NVIDIA A100-SXM4-40GB"
    frames = [src.read()[0] for _ in range(src.frame_count)]
    temps = [r.temperature_c for r in frames]
    clocks = [r.sm_clock_mhz for r in frames]
    assert temps == sorted(temps) and temps[-1] > temps[0]
    assert clocks == sorted(clocks, reverse=True) and clocks[-1] < clocks[0]
    assert frames[0].throttle_reasons == ()
    assert "sw_power_cap" in frames[1].throttle_reasons
    assert "hw_thermal" in frames[-1].throttle_reasons
    assert is_throttled(frames[-1].throttle_reasons)


def test_rtx3090_near_full_has_two_gpus_and_gpu0_98_percent_used() -> None:
    src = recording("rtx3090_near_full.json")
    assert [g.name for g in src.inventory()] == ["NVIDIA GeForce RTX 3090"] * 2
    assert src.inventory()[1].pcie_width_current == 8
    gpu0, gpu1 = src.read()
    assert gpu0.memory_used / gpu0.memory_total == pytest.approx(0.98, abs=0.005)
    assert gpu1.memory_used / gpu1.memory_total < 0.5


def test_without_loop_the_last_frame_repeats() -> None:
    frames = [[{"index": 0, "temperature_c": t}] for t in (40, 50, 60)]
    src = RecordedSource(frames, loop=False)
    assert [src.read()[0].temperature_c for _ in range(5)] == [40, 50, 60, 60, 60]


def test_list_of_frames_makes_up_an_inventory_and_decodes_int_masks() -> None:
    src = RecordedSource(
        [{"readings": [{"index": 0, "memory_total": 8 * 2**30, "throttle_reasons": 0x24}]}]
    )
    assert src.inventory() == [GpuInfo(index=0, name="recorded GPU 0", memory_total=8 * 2**30)]
    (reading,) = src.read()
    assert reading.throttle_reasons == ("sw_power_cap", "sw_thermal")
    assert reading.power_w is None


def test_empty_recording_is_unavailable_and_reads_nothing() -> None:
    src = RecordedSource({"frames": []})
    assert not src.available()
    assert "no frames" in (src.why_unavailable() or "")
    assert src.read() == [] and src.inventory() == []


def test_missing_and_malformed_recordings_raise_rig_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordingNotFound) as missing:
        RecordedSource.from_file(tmp_path / "nope.json")
    assert isinstance(missing.value, NotFound) and isinstance(missing.value, LookupError)
    assert "nope.json" in missing.value.message and missing.value.hint

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidRecording, match="not JSON"):
        RecordedSource.from_file(bad)

    bad.write_text(json.dumps({"frames": [[{"temperature_c": 40}]]}))
    with pytest.raises(InvalidInput, match="index"):
        RecordedSource.from_file(bad)


# --------------------------------------------------------------------------- throttle bits


@pytest.mark.parametrize(
    ("mask", "names"),
    [
        (0, ()),
        (0x1, ("gpu_idle",)),
        (0x4, ("sw_power_cap",)),
        (0x4 | 0x20 | 0x40, ("sw_power_cap", "sw_thermal", "hw_thermal")),
        (0x8 | 0x80, ("hw_slowdown", "hw_power_brake")),
        (0x1 | 0x800, ("gpu_idle", "unknown_0x800")),
    ],
)
def test_throttle_reasons_decode_from_the_nvml_bitmask(mask: int, names: tuple[str, ...]) -> None:
    assert decode_throttle_reasons(mask) == names


def test_idle_alone_is_not_throttled() -> None:
    assert not is_throttled(("gpu_idle",))
    assert not is_throttled(())
    assert not is_throttled(None)
    assert is_throttled(("gpu_idle", "sw_thermal"))


# --------------------------------------------------------------------------- NVML


def test_nvml_on_this_machine_never_raises() -> None:
    src = NvmlSource()
    if src.available():  # a machine with a GPU: real readings
        assert src.why_unavailable() is None
        assert len(src.read()) == len(src.inventory()) > 0
    else:
        reason = src.why_unavailable()
        assert reason and ("NVML" in reason or "NVIDIA" in reason)
        assert src.read() == []
        assert src.inventory() == []
    src.close()
    src.close()  # closing twice is harmless


class FakeNvml:
    """Just enough of pynvml for one GPU, raising pynvml's own errors where told to."""

    def __init__(
        self, *, unsupported: set[str] = frozenset(), init_error: int | None = None
    ) -> None:
        self._pynvml = pytest.importorskip("pynvml")
        self.NVMLError = self._pynvml.NVMLError
        self.unsupported = unsupported
        self.init_error = init_error
        self.inits = 0
        self.shutdowns = 0

    def __getattr__(self, name: str) -> Any:
        # constants (NVML_ERROR_*, NVML_CLOCK_*) come from the real binding
        if name.startswith("NVML_"):
            return getattr(self._pynvml, name)
        raise AttributeError(name)

    def _call(self, name: str, value: Any) -> Any:
        if name in self.unsupported:
            raise self._pynvml.NVMLError(self._pynvml.NVML_ERROR_NOT_SUPPORTED)
        return value

    def nvmlInit(self) -> None:
        self.inits += 1
        if self.init_error is not None:
            raise self._pynvml.NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> str:
        return f"handle{i}"

    def nvmlSystemGetDriverVersion(self) -> str:
        return self._call("driver", "550.54.14")

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self._call("cuda", 12040)

    def nvmlDeviceGetName(self, h: str) -> bytes:
        return self._call("name", b"NVIDIA L4")  # old bindings return bytes

    def nvmlDeviceGetUUID(self, h: str) -> str:
        return self._call("uuid", "GPU-00000000-1111-2222-3333-444444444444")

    def nvmlDeviceGetMemoryInfo(self, h: str) -> SimpleNamespace:
        return self._call("memory", SimpleNamespace(total=23034 * MiB, used=1200 * MiB))

    def nvmlDeviceGetCudaComputeCapability(self, h: str) -> tuple[int, int]:
        return self._call("cc", (8, 9))

    def nvmlDeviceGetCurrPcieLinkGeneration(self, h: str) -> int:
        return self._call("pcie", 4)

    def nvmlDeviceGetMaxPcieLinkGeneration(self, h: str) -> int:
        return self._call("pcie", 4)

    def nvmlDeviceGetCurrPcieLinkWidth(self, h: str) -> int:
        return self._call("pcie", 16)

    def nvmlDeviceGetMaxPcieLinkWidth(self, h: str) -> int:
        return self._call("pcie", 16)

    def nvmlDeviceGetEnforcedPowerLimit(self, h: str) -> int:
        return self._call("power_limit", 72000)

    def nvmlDeviceGetPowerManagementDefaultLimit(self, h: str) -> int:
        return self._call("power_limit", 72000)

    def nvmlDeviceGetUtilizationRates(self, h: str) -> SimpleNamespace:
        return self._call("util", SimpleNamespace(gpu=87, memory=40))

    def nvmlDeviceGetTemperature(self, h: str, sensor: int) -> int:
        return self._call("temperature", 66)

    def nvmlDeviceGetPowerUsage(self, h: str) -> int:
        return self._call("power", 69512)

    def nvmlDeviceGetClockInfo(self, h: str, clock: int) -> int:
        sm = clock == self._pynvml.NVML_CLOCK_SM
        return self._call("clocks", 2040 if sm else 6250)

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: str) -> int:
        if "event_reasons_missing" in self.unsupported:
            raise self._pynvml.NVMLError(self._pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        return self._call("throttle", 0x4)

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, h: str) -> int:
        return self._call("throttle", 0x20)


def test_fake_nvml_fills_every_field() -> None:
    src = NvmlSource(nvml=FakeNvml())
    assert src.available()
    (info,) = src.inventory()
    assert info == GpuInfo(
        index=0,
        name="NVIDIA L4",
        uuid="GPU-00000000-1111-2222-3333-444444444444",
        memory_total=23034 * MiB,
        driver_version="550.54.14",
        cuda_driver_version="12.4",
        compute_capability="8.9",
        pcie_gen_current=4,
        pcie_gen_max=4,
        pcie_width_current=16,
        pcie_width_max=16,
        power_limit_w=72.0,
        power_default_limit_w=72.0,
    )
    (reading,) = src.read()
    assert reading == GpuReading(
        index=0,
        utilization_percent=87.0,
        memory_used=1200 * MiB,
        memory_total=23034 * MiB,
        temperature_c=66.0,
        power_w=69.512,
        sm_clock_mhz=2040.0,
        mem_clock_mhz=6250.0,
        throttle_reasons=("sw_power_cap",),
    )


def test_unsupported_fields_read_none_and_the_others_survive() -> None:
    fake = FakeNvml(unsupported={"power", "temperature", "throttle", "cc", "power_limit"})
    src = NvmlSource(nvml=fake)
    (reading,) = src.read()
    assert reading.power_w is None
    assert reading.temperature_c is None
    assert reading.throttle_reasons is None
    assert reading.utilization_percent == 87.0
    assert reading.memory_used == 1200 * MiB
    assert reading.sm_clock_mhz == 2040.0
    (info,) = src.inventory()
    assert info.compute_capability is None and info.power_limit_w is None
    assert info.name == "NVIDIA L4" and info.cuda_driver_version == "12.4"
    assert fake.inits == 1  # started once for all calls


def test_old_driver_falls_back_to_throttle_reasons() -> None:
    src = NvmlSource(nvml=FakeNvml(unsupported={"event_reasons_missing"}))
    assert src.read()[0].throttle_reasons == ("sw_thermal",)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("NVML_ERROR_LIBRARY_NOT_FOUND", "no NVIDIA driver installed"),
        ("NVML_ERROR_DRIVER_NOT_LOADED", "driver not loaded"),
        ("NVML_ERROR_NO_PERMISSION", "permission"),
        ("NVML_ERROR_LIB_RM_VERSION_MISMATCH", "reboot"),
        ("NVML_ERROR_UNKNOWN", "NVML could not start"),
    ],
)
def test_init_failures_become_plain_reasons(code: str, words: str) -> None:
    pynvml = pytest.importorskip("pynvml")
    src = NvmlSource(nvml=FakeNvml(init_error=getattr(pynvml, code)))
    assert not src.available()
    assert words in (src.why_unavailable() or "")
    assert src.read() == [] and src.inventory() == []


def test_close_shuts_nvml_down_and_the_next_call_starts_it_again() -> None:
    fake = FakeNvml()
    src = NvmlSource(nvml=fake)
    src.read()
    src.close()
    assert fake.shutdowns == 1
    assert src.read()
    assert fake.inits == 2


# --------------------------------------------------------------------------- default


def test_default_source_is_one_nvml_source_per_process() -> None:
    first = default_source()
    assert isinstance(first, NvmlSource)
    assert default_source() is first


def test_default_source_replays_the_recording_named_by_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "a100_throttling.json"))
    src = default_source()
    assert isinstance(src, RecordedSource)
    assert src.inventory()[0].name == "NVIDIA A100-SXM4-40GB"
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "missing.json"))
    with pytest.raises(RecordingNotFound, match=r"missing\.json"):
        default_source()
