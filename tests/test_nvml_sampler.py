"""NvmlSampler against a fake NVML replaying real A100 / K40m traces (no GPU needed).

The NVML functions are patched on the real ``pynvml`` module with ``autospec=True`` (as
ml-energy/zeus does), so calls with a wrong signature fail, while the real constants and the
real ``NVMLError`` classes stay in place for the sampler's ``except`` clauses.
"""

from __future__ import annotations

import contextlib
import csv
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from unittest import mock

import numpy as np
import pynvml
import pytest

from bench.samplers.base import SamplerError, SamplerUnavailable
from bench.samplers.nvml import NvmlError, NvmlSampler, nvml_facts

TRACES = Path(__file__).parent / "data" / "nvml-traces"


@dataclass(frozen=True)
class Trace:
    """One nvidia-smi trace: time (s), utilisation (%), temperature (C), SM clock (MHz),
    power.draw (W) and, where recorded, power.draw.instant (W)."""

    t: np.ndarray
    util: np.ndarray
    temp: np.ndarray
    sm_clock: np.ndarray
    power: np.ndarray
    power_instant: np.ndarray | None


def load_trace(name: str) -> Trace:
    with open(TRACES / f"{name}_transient_gpudata.csv", newline="") as f:
        rows = [[c.strip() for c in r] for r in list(csv.reader(f))[1:] if r]
    fmt = "%Y/%m/%d %H:%M:%S.%f"
    t = np.array([datetime.strptime(r[0], fmt).timestamp() for r in rows])

    def col(k: int) -> np.ndarray:
        return np.array([float(r[k]) for r in rows])

    instant = col(6) if len(rows[0]) > 6 else None
    return Trace(t - t[0], col(1), col(3), col(4), col(5), instant)


A100 = load_trace("A100")
K40M = load_trace("K40m")


@dataclass(eq=False)  # hashable by identity: it is an NVML handle
class FakeGpu:
    """One fake GPU replaying ``trace`` from row ``offset`` on (row = offset + host.row)."""

    name: str
    trace: Trace
    offset: int = 0
    energy_counter: bool = True
    instant_field: bool = True
    memory: bool = True
    mem_total: int = 40 * 2**30
    uuid: str = ""
    host: FakeHost | None = None
    fail: dict[str, Exception] = field(default_factory=dict)
    field_return: int | None = None  # force the field's nvmlReturn (e.g. GPU_IS_LOST)

    def __post_init__(self) -> None:
        # The counter the hardware keeps: trapezoid-integrated instant power, mJ, from row 0.
        p = self.trace.power_instant if self.trace.power_instant is not None else self.trace.power
        steps = 0.5 * (p[1:] + p[:-1]) * np.diff(self.trace.t) * 1000.0
        self._energy_mj = np.concatenate([[0.0], np.cumsum(steps)])

    @property
    def k(self) -> int:
        assert self.host is not None
        return self.offset + self.host.row

    def check(self, call: str) -> None:
        if call in self.fail:
            raise self.fail[call]


class FakeHost:
    """A fake NVML host; the test sets ``row`` before each ``read()``."""

    def __init__(self, gpus: list[FakeGpu]) -> None:
        self.gpus = gpus
        self.row = 0
        for i, g in enumerate(gpus):
            g.host = self
            g.uuid = g.uuid or f"GPU-{uuid.uuid5(uuid.NAMESPACE_DNS, f'{g.name}-{i}')}"

    # Signatures follow pynvml's (checked by autospec).
    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlSystemGetDriverVersion(self) -> str:
        return "535.104.05"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12020

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        if not 0 <= index < len(self.gpus):
            raise pynvml.NVMLError_InvalidArgument()
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle: FakeGpu) -> str:
        return handle.name

    def nvmlDeviceGetUUID(self, handle: FakeGpu) -> str:
        return handle.uuid

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeGpu) -> int:
        handle.check("nvmlDeviceGetTotalEnergyConsumption")
        if not handle.energy_counter:
            raise pynvml.NVMLError_NotSupported()
        return int(handle._energy_mj[handle.k])

    def nvmlDeviceGetFieldValues(self, handle: FakeGpu, fieldIds: list[int]):
        handle.check("nvmlDeviceGetFieldValues")
        values = (pynvml.c_nvmlFieldValue_t * len(fieldIds))()
        for v, fid in zip(values, fieldIds, strict=True):
            v.fieldId = fid
            if fid != pynvml.NVML_FI_DEV_POWER_INSTANT or not handle.instant_field:
                v.nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED
                continue
            v.nvmlReturn = (
                pynvml.NVML_SUCCESS if handle.field_return is None else handle.field_return
            )
            v.valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
            v.value.uiVal = round(handle.trace.power_instant[handle.k] * 1000)
        return values

    def nvmlDeviceGetPowerUsage(self, handle: FakeGpu) -> int:
        handle.check("nvmlDeviceGetPowerUsage")
        return round(handle.trace.power[handle.k] * 1000)

    def nvmlDeviceGetUtilizationRates(self, handle: FakeGpu):
        return pynvml.c_nvmlUtilization_t(gpu=int(handle.trace.util[handle.k]), memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle: FakeGpu, version=None):
        if not handle.memory:
            raise pynvml.NVMLError_NotSupported()
        used = int(handle.mem_total * handle.trace.util[handle.k] / 100)
        return pynvml.c_nvmlMemory_t(
            total=handle.mem_total, free=handle.mem_total - used, used=used
        )

    def nvmlDeviceGetClockInfo(self, handle: FakeGpu, type: int) -> int:
        assert type == pynvml.NVML_CLOCK_SM
        return int(handle.trace.sm_clock[handle.k])

    def nvmlDeviceGetTemperature(self, handle: FakeGpu, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return int(handle.trace.temp[handle.k])


PATCHED = [name for name in vars(FakeHost) if name.startswith("nvml")]


@contextlib.contextmanager
def fake_nvml(host: FakeHost) -> Iterator[dict[str, mock.MagicMock]]:
    with contextlib.ExitStack() as stack:
        mocks = {
            name: stack.enter_context(
                mock.patch.object(pynvml, name, autospec=True, side_effect=getattr(host, name))
            )
            for name in PATCHED
        }
        yield mocks


def a100(**kw) -> FakeGpu:
    return FakeGpu("NVIDIA A100-SXM4-40GB", A100, **kw)


def k40m(**kw) -> FakeGpu:
    kw.setdefault("energy_counter", False)
    kw.setdefault("instant_field", False)
    return FakeGpu("Tesla K40m", K40M, mem_total=12 * 2**30, **kw)


def replay(sampler: NvmlSampler, host: FakeHost, rows: range) -> list[dict[str, float]]:
    out = []
    for n in rows:
        host.row = n
        out.append(sampler.read())
    return out


def series(readings: list[dict[str, float]], channel: str) -> np.ndarray:
    return np.array([r[channel] for r in readings])


@pytest.fixture(autouse=True)
def _no_cuda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


# 1. energy counter -------------------------------------------------------------------------


def test_energy_counter_replays_integrated_a100_trace() -> None:
    host = FakeHost([a100()])
    start = 40  # open mid-idle: the counter is already non-zero and must be subtracted
    rows = range(start, len(A100.t))
    with fake_nvml(host):
        host.row = start
        s = NvmlSampler()
        s.open()
        readings = replay(s, host, rows)
        s.close()

    energy = series(readings, "gpu0.energy_j")
    expected = np.trapezoid(A100.power_instant[start:], A100.t[start:])
    assert expected > 1000  # ~17 s at 60..190 W
    assert energy[-1] == pytest.approx(expected, abs=2e-3)  # counter has 1 mJ resolution
    # Cumulative since open at every reading, not just at the end.
    for j in (0, 100, 600, len(rows) // 2):
        part = np.trapezoid(
            A100.power_instant[start : start + j + 1], A100.t[start : start + j + 1]
        )
        assert energy[j] == pytest.approx(part, abs=2e-3)
    assert [e.to_dict() for e in s.energy_sources()] == [
        {
            "domain": "gpu0",
            "channel": "gpu0.energy_j",
            "kind": "cumulative_j",
            "method": "nvml-energy-counter",
        }
    ]
    d = s.describe()["devices"][0]
    assert d["energy_counter"] is True and d["energy_method"] == "nvml-energy-counter"
    # The other channels come from the trace too.
    np.testing.assert_array_equal(series(readings, "gpu0.util_pct"), A100.util[start:])
    np.testing.assert_array_equal(series(readings, "gpu0.temp_c"), A100.temp[start:])
    np.testing.assert_array_equal(series(readings, "gpu0.sm_clock_mhz"), A100.sm_clock[start:])
    np.testing.assert_array_equal(
        series(readings, "gpu0.mem_used_bytes"),
        (host.gpus[0].mem_total * A100.util[start:] / 100).astype(int),
    )


# 2. power polling (Kepler) -----------------------------------------------------------------


def test_power_polling_on_k40m_replay() -> None:
    host = FakeHost([k40m(memory=False)])
    with fake_nvml(host) as m:
        s = NvmlSampler()
        s.open()
        readings = replay(s, host, range(len(K40M.t)))
        s.close()
        assert m["nvmlDeviceGetTotalEnergyConsumption"].call_count == 1  # probed once at open

    assert [e.to_dict() for e in s.energy_sources()] == [
        {
            "domain": "gpu0",
            "channel": "gpu0.power_w",
            "kind": "power_w",
            "method": "nvml-power-polling",
        }
    ]
    d = s.describe()["devices"][0]
    assert d["power_reading"] == "average"
    assert d["power_call"] == "nvmlDeviceGetPowerUsage"
    assert d["energy_counter"] is False
    assert "mem_used_bytes" in d["skipped"]
    assert all("gpu0.energy_j" not in r and "gpu0.mem_used_bytes" not in r for r in readings)
    np.testing.assert_allclose(series(readings, "gpu0.power_w"), K40M.power, atol=1e-9)
    np.testing.assert_array_equal(series(readings, "gpu0.sm_clock_mhz"), K40M.sm_clock)


# 3. instant power field --------------------------------------------------------------------


@pytest.mark.parametrize("instant", [True, False])
def test_instant_field_used_when_supported(instant: bool) -> None:
    assert np.any(A100.power != A100.power_instant)  # the two columns differ somewhere
    host = FakeHost([a100(instant_field=instant)])
    with fake_nvml(host):
        s = NvmlSampler()
        s.open()
        readings = replay(s, host, range(len(A100.t)))
        s.close()
    want = A100.power_instant if instant else A100.power
    np.testing.assert_allclose(series(readings, "gpu0.power_w"), want, atol=1e-9)
    assert s.describe()["devices"][0]["power_reading"] == ("instant" if instant else "average")


# 4. several GPUs, CUDA_VISIBLE_DEVICES -----------------------------------------------------


def four_gpu_host() -> FakeHost:
    return FakeHost([k40m(), a100(offset=0), a100(offset=300), a100(offset=600)])


def test_cuda_visible_devices_indices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    host = four_gpu_host()
    rows = range(0, 400)
    with fake_nvml(host) as m:
        s = NvmlSampler()
        s.open()
        readings = replay(s, host, rows)
        s.close()
        polled = {c.args[0] for c in m["nvmlDeviceGetPowerUsage"].call_args_list}
        polled |= {c.args[0] for c in m["nvmlDeviceGetFieldValues"].call_args_list}
    assert polled == {host.gpus[2], host.gpus[0]}  # exactly two devices sampled
    assert {k.split(".")[0] for r in readings for k in r} == {"gpu0", "gpu1"}
    # gpu0 is NVML index 2 (A100 from row 300), gpu1 is NVML index 0 (the K40m).
    np.testing.assert_allclose(
        series(readings, "gpu0.power_w"), A100.power_instant[300 : 300 + len(rows)], atol=1e-9
    )
    np.testing.assert_allclose(series(readings, "gpu1.power_w"), K40M.power[: len(rows)], atol=1e-9)
    np.testing.assert_array_equal(series(readings, "gpu1.sm_clock_mhz"), K40M.sm_clock[:400])
    devices = s.describe()["devices"]
    assert [(d["ordinal"], d["nvml_index"], d["name"]) for d in devices] == [
        (0, 2, "NVIDIA A100-SXM4-40GB"),
        (1, 0, "Tesla K40m"),
    ]
    assert [d["uuid"] for d in devices] == [host.gpus[2].uuid, host.gpus[0].uuid]
    assert [e.method for e in s.energy_sources()] == ["nvml-energy-counter", "nvml-power-polling"]


def test_cuda_visible_devices_uuids() -> None:
    host = four_gpu_host()
    spec = f"{host.gpus[3].uuid[:12]}, {host.gpus[1].uuid}"  # a prefix and a full UUID
    with fake_nvml(host):
        s = NvmlSampler(visible_devices=spec)
        s.open()
        host.row = 5
        r = s.read()
        s.close()
    assert [d["nvml_index"] for d in s.describe()["devices"]] == [3, 1]
    assert r["gpu0.power_w"] == pytest.approx(A100.power_instant[605])
    assert r["gpu1.power_w"] == pytest.approx(A100.power_instant[5])


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("0,7", ["7", "4 GPU"]),
        ("GPU-00000000-dead", ["GPU-00000000-dead", "no GPU"]),
        ("1,1", ["twice"]),
        ("MIG-abc", ["MIG"]),
    ],
)
def test_cuda_visible_devices_bad(spec: str, words: list[str]) -> None:
    with fake_nvml(four_gpu_host()) as m:
        s = NvmlSampler(visible_devices=spec)
        with pytest.raises(SamplerUnavailable) as exc:
            s.open()
        assert m["nvmlShutdown"].call_count == 1  # init undone
    for w in words:
        assert w in exc.value.reason


def test_cuda_visible_devices_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with fake_nvml(four_gpu_host()) as m:
        with pytest.raises(SamplerUnavailable, match="CUDA_VISIBLE_DEVICES is empty"):
            NvmlSampler().open()
        assert m["nvmlInit"].call_count == 0


def test_no_gpus() -> None:
    with fake_nvml(FakeHost([])), pytest.raises(SamplerUnavailable, match="no GPU"):
        NvmlSampler().open()


# 5. NVML missing ---------------------------------------------------------------------------


def test_nvml_library_missing() -> None:
    host = FakeHost([a100()])
    with fake_nvml(host) as m:
        m["nvmlInit"].side_effect = pynvml.NVMLError_LibraryNotFound()
        with pytest.raises(SamplerUnavailable) as exc:
            NvmlSampler().open()
        assert nvml_facts() == {"available": False, "reason": exc.value.reason}
    assert "NVML" in exc.value.reason
    assert "Shared Library Not Found" in exc.value.reason


def test_pynvml_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(SamplerUnavailable, match="nvidia-ml-py"):
        NvmlSampler().open()


def _real_nvml_present() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    try:
        return pynvml.nvmlDeviceGetCount() > 0
    finally:
        pynvml.nvmlShutdown()


@pytest.mark.skipif(_real_nvml_present(), reason="a real GPU with NVML is present")
def test_real_host_without_gpu() -> None:
    with pytest.raises(SamplerUnavailable) as exc:
        NvmlSampler().open()
    assert "NVML" in exc.value.reason
    assert nvml_facts()["available"] is False


def test_nvml_facts_fake_host() -> None:
    host = FakeHost([k40m(), a100()])
    with fake_nvml(host) as m:
        facts = nvml_facts()
        assert m["nvmlShutdown"].call_count == 1
    assert facts["available"] is True
    assert facts["driver_version"] == "535.104.05" and facts["cuda_driver_version"] == "12.2"
    assert [(g["name"], g["uuid"], g["energy_counter"]) for g in facts["gpus"]] == [
        ("Tesla K40m", host.gpus[0].uuid, False),
        ("NVIDIA A100-SXM4-40GB", host.gpus[1].uuid, True),
    ]


# 6. failures mid-run -----------------------------------------------------------------------


@pytest.mark.parametrize("gpu", ["k40m", "a100"])
def test_gpu_lost_mid_run(gpu: str) -> None:
    dev = k40m() if gpu == "k40m" else a100()
    host = FakeHost([a100(), dev])
    with fake_nvml(host):
        s = NvmlSampler()
        s.open()
        replay(s, host, range(10))
        if gpu == "k40m":
            dev.fail["nvmlDeviceGetPowerUsage"] = pynvml.NVMLError_GpuIsLost()
            call = "nvmlDeviceGetPowerUsage"
        else:
            dev.field_return = pynvml.NVML_ERROR_GPU_IS_LOST
            call = "nvmlDeviceGetFieldValues"
        with pytest.raises(NvmlError) as exc:
            s.read()
        s.close()
    err = exc.value
    assert isinstance(err, SamplerError) and not isinstance(err, pynvml.NVMLError)
    assert "gpu1" in str(err) and "NVML index 1" in str(err)
    assert call in str(err) and call in err.call
    assert "GPU is lost" in str(err)


def test_close_shuts_down_once() -> None:
    with fake_nvml(FakeHost([a100()])) as m:
        s = NvmlSampler()
        s.open()
        s.close()
        s.close()
        assert m["nvmlInit"].call_count == 1
        assert m["nvmlShutdown"].call_count == 1
        with pytest.raises(SamplerError):
            s.read()
