"""NVML sampler: energy, power and a few resource readings of every visible NVIDIA GPU.

Energy of GPU ``i`` (the CUDA ordinal, i.e. the position in ``CUDA_VISIBLE_DEVICES``) comes from
the total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules, Volta and newer)
when it works, reported as ``gpu{i}.energy_j``: joules since ``open()``. Where the counter is not
supported (Kepler, Maxwell, Pascal) the energy must be integrated from ``gpu{i}.power_w``.

Power is read from the instant-power field (``NVML_FI_DEV_POWER_INSTANT``, milliwatts) when the
driver supports it, otherwise from ``nvmlDeviceGetPowerUsage`` (milliwatts; on Ampere and newer a
one-second moving average, on older GPUs the sensor's latest value). Which one is used is decided
once per device at ``open()`` and recorded in ``describe()``.

Channels per visible GPU ``i`` (those the device does not support are left out, decided at open):

- ``gpu{i}.energy_j``: joules since ``open()`` (only with the energy counter)
- ``gpu{i}.power_w``: watts
- ``gpu{i}.util_pct``: percent of time a kernel was running over the driver's last period
- ``gpu{i}.mem_used_bytes``: bytes of device memory in use
- ``gpu{i}.sm_clock_mhz``: SM clock in MHz
- ``gpu{i}.temp_c``: GPU die temperature in degrees Celsius

Integer entries in ``CUDA_VISIBLE_DEVICES`` are matched to NVML indices, which follow PCI bus
order; CUDA's own order matches only with ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (or on hosts with
identical GPUs). UUID entries (``GPU-...``) are exact on every host.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bench.samplers.base import EnergySource, Sampler, SamplerError, SamplerUnavailable

# NVML's field id of the instant power (milliwatts); older pynvml releases lack the constant.
_FI_DEV_POWER_INSTANT_DEFAULT = 186

# Union member of c_nvmlValue_t for each NVML_VALUE_TYPE_* (0..6).
_VALUE_MEMBERS = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")


class NvmlError(SamplerError):
    """An NVML call that must work failed while sampling.

    ``call`` is the NVML function that failed, ``device`` the device it was about (e.g.
    ``"gpu0 (NVML index 2)"``) and ``nvml_error`` NVML's error text.
    """

    def __init__(self, call: str, nvml_error: str, device: str | None = None) -> None:
        where = f" on {device}" if device else ""
        super().__init__(f"{call} failed{where}: {nvml_error}")
        self.call = call
        self.device = device
        self.nvml_error = nvml_error


def _import_pynvml() -> Any:
    """Return the ``pynvml`` module, or raise SamplerUnavailable if it is not installed."""
    try:
        import pynvml
    except ImportError as e:
        raise SamplerUnavailable(
            f"NVML not available: the nvidia-ml-py package (module pynvml) is not installed ({e})"
        ) from e
    return pynvml


def _init_reason(pynvml: Any, e: Exception) -> str:
    """Words for the user on why ``nvmlInit()`` failed."""
    hint = ""
    if isinstance(e, getattr(pynvml, "NVMLError_LibraryNotFound", ())):
        hint = " (no NVIDIA driver on this host)"
    elif isinstance(e, getattr(pynvml, "NVMLError_DriverNotLoaded", ())):
        hint = " (the NVIDIA kernel driver is not loaded)"
    elif isinstance(e, getattr(pynvml, "NVMLError_NoPermission", ())):
        hint = " (no permission to open the NVIDIA device files)"
    return f"NVML not available: {e}{hint}"


def _text(value: Any) -> str:
    """NVML strings come back as ``bytes`` from older pynvml releases, ``str`` from newer."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _cuda_version_text(version: int) -> str:
    """NVML encodes the CUDA driver version as 1000 * major + 10 * minor (12020 -> "12.2")."""
    return f"{version // 1000}.{(version % 1000) // 10}"


def _field_number(fv: Any) -> float:
    """The numeric value of one ``c_nvmlFieldValue_t``, read from the member its type names."""
    vtype = int(fv.valueType)
    if not 0 <= vtype < len(_VALUE_MEMBERS):
        raise ValueError(f"unknown NVML value type {vtype}")
    return float(getattr(fv.value, _VALUE_MEMBERS[vtype]))


def parse_visible_devices(spec: str) -> list[str]:
    """Split a ``CUDA_VISIBLE_DEVICES`` value into its stripped, non-empty entries."""
    return [part.strip() for part in spec.split(",") if part.strip()]


@dataclass
class _Device:
    """What was decided at open about one visible GPU."""

    ordinal: int
    nvml_index: int
    handle: Any
    name: str
    uuid: str
    label: str  # "gpu0 (NVML index 2)", for error messages
    power_reading: str | None = None  # "instant" | "average" | None (no power reading)
    energy_counter: bool = False
    energy_at_open_mj: int = 0
    last_energy_mj: int = 0
    optional: list[tuple[str, Callable[[Any], float], str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class NvmlSampler(Sampler):
    """Energy, power, utilisation, memory, SM clock and temperature of every visible GPU.

    ``visible_devices`` has the syntax of ``CUDA_VISIBLE_DEVICES`` (comma-separated NVML
    indices or ``GPU-`` UUIDs, prefixes allowed); ``None`` reads ``CUDA_VISIBLE_DEVICES`` and,
    when that is unset too, samples every GPU NVML sees.
    """

    name: ClassVar[str] = "nvml"

    def __init__(self, visible_devices: str | None = None) -> None:
        if visible_devices is None:
            visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
        self.visible_devices = visible_devices
        self._nvml: Any = None
        self._devices: list[_Device] = []
        self._facts: dict[str, Any] = {}

    # -- open ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Initialise NVML and decide, per visible GPU, which readings to take.

        Raises :class:`SamplerUnavailable` when NVML, a driver or a visible GPU is missing.
        """
        if self._nvml is not None:
            return
        if self.visible_devices is not None and not parse_visible_devices(self.visible_devices):
            raise SamplerUnavailable("CUDA_VISIBLE_DEVICES is empty: no GPU visible")
        pynvml = _import_pynvml()
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:
            raise SamplerUnavailable(_init_reason(pynvml, e)) from e
        try:
            self._facts = _system_facts(pynvml)
            self._devices = self._open_devices(pynvml)
        except BaseException:
            self._devices = []
            _shutdown_quietly(pynvml)
            raise
        self._nvml = pynvml

    def _open_devices(self, pynvml: Any) -> list[_Device]:
        try:
            count = int(pynvml.nvmlDeviceGetCount())
        except pynvml.NVMLError as e:
            raise SamplerUnavailable(f"NVML cannot count GPUs: {e}") from e
        if count == 0:
            raise SamplerUnavailable("NVML sees no GPU on this host")
        handles: dict[int, Any] = {}

        def handle(index: int) -> Any:
            if index not in handles:
                try:
                    handles[index] = pynvml.nvmlDeviceGetHandleByIndex(index)
                except pynvml.NVMLError as e:
                    raise SamplerUnavailable(
                        f"NVML cannot open GPU with NVML index {index}: {e}"
                    ) from e
            return handles[index]

        def uuid_of(index: int) -> str:
            try:
                return _text(pynvml.nvmlDeviceGetUUID(handle(index)))
            except pynvml.NVMLError as e:
                raise SamplerUnavailable(
                    f"NVML cannot read the UUID of NVML index {index}: {e}"
                ) from e

        indices = self._select(count, uuid_of)
        devices = []
        for ordinal, index in enumerate(indices):
            h = handle(index)
            label = f"gpu{ordinal} (NVML index {index})"
            try:
                name = _text(pynvml.nvmlDeviceGetName(h))
            except pynvml.NVMLError as e:
                raise SamplerUnavailable(f"NVML cannot read the name of {label}: {e}") from e
            dev = _Device(ordinal, index, h, name, uuid_of(index), label)
            self._probe(pynvml, dev)
            devices.append(dev)
        return devices

    def _select(self, count: int, uuid_of: Callable[[int], str]) -> list[int]:
        """NVML indices of the visible GPUs, in CUDA ordinal order."""
        if self.visible_devices is None:
            return list(range(count))
        chosen: list[int] = []
        for entry in parse_visible_devices(self.visible_devices):
            if entry.lstrip("+-").isdigit():
                index = int(entry)
                if not 0 <= index < count:
                    raise SamplerUnavailable(
                        f"CUDA_VISIBLE_DEVICES={self.visible_devices!r} names GPU {index}, "
                        f"but this host has {count} GPU(s) (indices 0..{count - 1})"
                    )
            elif entry.startswith("GPU-"):
                matches = [i for i in range(count) if uuid_of(i).startswith(entry)]
                if len(matches) != 1:
                    what = "no GPU" if not matches else f"{len(matches)} GPUs"
                    raise SamplerUnavailable(
                        f"CUDA_VISIBLE_DEVICES entry {entry!r} matches {what} on this host"
                    )
                index = matches[0]
            else:
                raise SamplerUnavailable(
                    f"CUDA_VISIBLE_DEVICES entry {entry!r} is neither a GPU index nor a GPU-"
                    " UUID (MIG instances are not supported)"
                )
            if index in chosen:
                raise SamplerUnavailable(
                    f"CUDA_VISIBLE_DEVICES={self.visible_devices!r} names NVML index {index} twice"
                )
            chosen.append(index)
        return chosen

    def _probe(self, pynvml: Any, dev: _Device) -> None:
        """Decide once which readings work on ``dev``: energy counter, power, optional ones."""
        h = dev.handle
        not_supported = pynvml.NVMLError_NotSupported
        try:
            dev.energy_at_open_mj = int(pynvml.nvmlDeviceGetTotalEnergyConsumption(h))
            dev.last_energy_mj = dev.energy_at_open_mj
            dev.energy_counter = True
        except (not_supported, pynvml.NVMLError_FunctionNotFound):
            dev.energy_counter = False
        except pynvml.NVMLError as e:
            raise SamplerUnavailable(
                f"NVML cannot read the energy counter of {dev.label}: {e}"
            ) from e

        try:
            self._read_instant_power(pynvml, dev)
            dev.power_reading = "instant"
        except (pynvml.NVMLError, ValueError):
            try:
                pynvml.nvmlDeviceGetPowerUsage(h)
                dev.power_reading = "average"
            except pynvml.NVMLError as e:
                if not dev.energy_counter:
                    raise SamplerUnavailable(
                        f"NVML can read neither an energy counter nor the power of {dev.label}: {e}"
                    ) from e
                dev.power_reading = None
                dev.skipped.append("power_w")

        i = dev.ordinal
        candidates: list[tuple[str, Callable[[Any], float], str]] = [
            (
                f"gpu{i}.util_pct",
                lambda hh: float(pynvml.nvmlDeviceGetUtilizationRates(hh).gpu),
                "nvmlDeviceGetUtilizationRates",
            ),
            (
                f"gpu{i}.mem_used_bytes",
                lambda hh: float(pynvml.nvmlDeviceGetMemoryInfo(hh).used),
                "nvmlDeviceGetMemoryInfo",
            ),
            (
                f"gpu{i}.sm_clock_mhz",
                lambda hh: float(pynvml.nvmlDeviceGetClockInfo(hh, pynvml.NVML_CLOCK_SM)),
                "nvmlDeviceGetClockInfo",
            ),
            (
                f"gpu{i}.temp_c",
                lambda hh: float(pynvml.nvmlDeviceGetTemperature(hh, pynvml.NVML_TEMPERATURE_GPU)),
                "nvmlDeviceGetTemperature",
            ),
        ]
        for channel, reader, call in candidates:
            try:
                reader(h)
            except (not_supported, pynvml.NVMLError_FunctionNotFound):
                dev.skipped.append(channel.split(".", 1)[1])
                continue
            except pynvml.NVMLError as e:
                raise SamplerUnavailable(f"{call} failed on {dev.label} at open: {e}") from e
            dev.optional.append((channel, reader, call))

    # -- read ---------------------------------------------------------------------------------

    def _read_instant_power(self, pynvml: Any, dev: _Device) -> float:
        """Instant power of ``dev`` in watts from the NVML field value (milliwatts)."""
        fid = getattr(pynvml, "NVML_FI_DEV_POWER_INSTANT", _FI_DEV_POWER_INSTANT_DEFAULT)
        fv = pynvml.nvmlDeviceGetFieldValues(dev.handle, [fid])[0]
        if int(fv.nvmlReturn) != pynvml.NVML_SUCCESS:
            raise pynvml.NVMLError(int(fv.nvmlReturn))
        return _field_number(fv) / 1000.0

    def read(self) -> dict[str, float]:
        """One reading of every visible GPU (units in the channel names).

        Raises :class:`NvmlError` when a reading decided at open fails now.
        """
        pynvml = self._nvml
        if pynvml is None:
            raise SamplerError("NvmlSampler.read() called before open()")
        out: dict[str, float] = {}
        for dev in self._devices:
            i = dev.ordinal
            call = ""
            try:
                if dev.energy_counter:
                    call = "nvmlDeviceGetTotalEnergyConsumption"
                    mj = int(pynvml.nvmlDeviceGetTotalEnergyConsumption(dev.handle))
                    if mj < dev.last_energy_mj:
                        # A 64-bit millijoule counter does not wrap; going back means a reset.
                        raise NvmlError(
                            call,
                            f"energy counter went backwards ({dev.last_energy_mj} -> {mj} mJ)",
                            dev.label,
                        )
                    dev.last_energy_mj = mj
                    out[f"gpu{i}.energy_j"] = (mj - dev.energy_at_open_mj) / 1000.0
                if dev.power_reading == "instant":
                    call = "nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT)"
                    out[f"gpu{i}.power_w"] = self._read_instant_power(pynvml, dev)
                elif dev.power_reading == "average":
                    call = "nvmlDeviceGetPowerUsage"
                    out[f"gpu{i}.power_w"] = pynvml.nvmlDeviceGetPowerUsage(dev.handle) / 1000.0
                for channel, reader, optional_call in dev.optional:
                    call = optional_call
                    out[channel] = reader(dev.handle)
            except (pynvml.NVMLError, ValueError) as e:
                raise NvmlError(call, str(e), dev.label) from e
        return out

    # -- close / describe ---------------------------------------------------------------------

    def close(self) -> None:
        """Shut NVML down (once); safe to call again."""
        pynvml, self._nvml = self._nvml, None
        if pynvml is not None:
            _shutdown_quietly(pynvml)

    def describe(self) -> dict[str, Any]:
        """Driver facts and, per visible GPU, which readings are used."""
        return {
            "sampler": self.name,
            "visible_devices": self.visible_devices,
            **self._facts,
            "devices": [
                {
                    "ordinal": d.ordinal,
                    "nvml_index": d.nvml_index,
                    "name": d.name,
                    "uuid": d.uuid,
                    "power_reading": d.power_reading,
                    "power_call": {
                        "instant": "nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT)",
                        "average": "nvmlDeviceGetPowerUsage",
                    }.get(d.power_reading or ""),
                    "energy_counter": d.energy_counter,
                    "energy_method": _method(d),
                    "skipped": list(d.skipped),
                }
                for d in self._devices
            ],
        }

    def energy_sources(self) -> list[EnergySource]:
        """One source per visible GPU: the energy counter, else power to integrate."""
        sources = []
        for d in self._devices:
            domain = f"gpu{d.ordinal}"
            if d.energy_counter:
                sources.append(
                    EnergySource(domain, f"{domain}.energy_j", "cumulative_j", _method(d))
                )
            else:
                sources.append(EnergySource(domain, f"{domain}.power_w", "power_w", _method(d)))
        return sources


def _method(dev: _Device) -> str:
    return "nvml-energy-counter" if dev.energy_counter else "nvml-power-polling"


def _shutdown_quietly(pynvml: Any) -> None:
    # A failing shutdown (e.g. after the GPU fell off the bus) leaves nothing for us to undo.
    with contextlib.suppress(pynvml.NVMLError):
        pynvml.nvmlShutdown()


def _system_facts(pynvml: Any) -> dict[str, Any]:
    """Driver and CUDA driver versions (``None`` where NVML cannot tell)."""
    facts: dict[str, Any] = {"driver_version": None, "cuda_driver_version": None}
    with contextlib.suppress(pynvml.NVMLError):
        facts["driver_version"] = _text(pynvml.nvmlSystemGetDriverVersion())
    with contextlib.suppress(pynvml.NVMLError):
        version = int(pynvml.nvmlSystemGetCudaDriverVersion())
        facts["cuda_driver_version"] = _cuda_version_text(version)
    return facts


def nvml_facts() -> dict[str, Any]:
    """Facts for the ``env`` command: driver versions and, per GPU (NVML order), name, UUID and
    whether the total-energy counter works; ``{"available": False, "reason": ...}`` without NVML.
    """
    try:
        pynvml = _import_pynvml()
    except SamplerUnavailable as e:
        return {"available": False, "reason": e.reason}
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        return {"available": False, "reason": _init_reason(pynvml, e)}
    try:
        gpus = []
        for index in range(int(pynvml.nvmlDeviceGetCount())):
            h = pynvml.nvmlDeviceGetHandleByIndex(index)
            try:
                pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
                counter = True
            except pynvml.NVMLError:
                counter = False
            gpus.append(
                {
                    "index": index,
                    "name": _text(pynvml.nvmlDeviceGetName(h)),
                    "uuid": _text(pynvml.nvmlDeviceGetUUID(h)),
                    "energy_counter": counter,
                }
            )
        return {"available": True, **_system_facts(pynvml), "gpus": gpus}
    except pynvml.NVMLError as e:
        return {"available": False, "reason": f"NVML query failed: {e}"}
    finally:
        _shutdown_quietly(pynvml)
