"""``+codecarbon``: CodeCarbon's ``OfflineEmissionsTracker`` around any configuration.

Always the offline tracker: the online one probes a cloud metadata address and a geolocation
service, which would make runs wait on the network. It starts after the wrapped tracker's
``init`` and stops before its ``finish``, writing ``emissions.csv`` under the run directory;
``allow_multiple_runs`` avoids CodeCarbon's machine-wide lock file. Its power sampling period
is ``--sysmetrics-interval`` when given, CodeCarbon's shipped 15 s otherwise. The country
(which only sets the carbon intensity CodeCarbon multiplies by, not what it costs to run) is
``TRACKERBENCH_CODECARBON_COUNTRY`` (ISO 3166 alpha-3), ``USA`` when unset; it is recorded.
Read-back: the rows of ``emissions.csv`` (one per stop), and the energy CodeCarbon reports per
domain (``cpu_energy``, ``gpu_energy``, ``ram_energy``, kWh) over its own start-to-stop window,
whose ``time.monotonic()`` edges the handle carries, with how CodeCarbon got each figure (its
CPU power is measured only through RAPL or a vendor tool; otherwise it is a TDP x load model;
its RAM power is always a model).
"""

from __future__ import annotations

import csv
import importlib.metadata
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.trackers.base import Tracker, TrackerError

if TYPE_CHECKING:
    from bench.profiles import Histogram

COUNTRY_ENV = "TRACKERBENCH_CODECARBON_COUNTRY"
SHIPPED_MEASURE_POWER_S = 15.0
KWH_J = 3.6e6
# CodeCarbon CPU modes that read a power or energy counter; the others (``cpu_load``,
# ``constant``) multiply a TDP from its table by the load.
MEASURED_CPU_MODES = frozenset({"intel_rapl", "intel_power_gadget", "windows_emi"})


class CodecarbonAddon(Tracker):
    """Delegates every call to ``inner``; adds an emissions tracker from init to finish."""

    name = "+codecarbon"
    distribution = "codecarbon"

    def __init__(self, inner: Tracker) -> None:
        super().__init__(inner.run_dir, inner.options)
        self.inner = inner
        self.stores_data = True  # the emissions file is checked even around ``none``
        self.supports_histograms = inner.supports_histograms
        self.supports_artifacts = inner.supports_artifacts

    @property
    def out_dir(self) -> Path:
        return self.run_dir / "codecarbon"

    @property
    def country(self) -> str:
        return os.environ.get(COUNTRY_ENV, "USA")

    def environment(self) -> dict[str, str]:
        return self.inner.environment()

    def service(self) -> Any:
        return self.inner.service()

    def load(self) -> None:
        self.inner.load()
        from codecarbon import OfflineEmissionsTracker

        self._cls = OfflineEmissionsTracker

    def init(self, run_name: str, config: dict[str, Any]) -> None:
        self.inner.init(run_name, config)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        interval = self.sysmetrics_interval_s or SHIPPED_MEASURE_POWER_S
        self._emissions = self._cls(
            country_iso_code=self.country,
            output_dir=str(self.out_dir),
            save_to_file=True,
            project_name=run_name,
            measure_power_secs=interval,
            log_level="error",
            allow_multiple_runs=True,
        )
        self._emissions.start()
        self._window = [time.monotonic()]

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.inner.log(step, metrics)

    def log_histogram(self, step: int, name: str, hist: Histogram) -> None:
        self.inner.log_histogram(step, name, hist)

    def log_artifact(self, step: int, path: Path) -> None:
        self.inner.log_artifact(step, path)

    def finish(self) -> None:
        try:
            self._window.append(time.monotonic())
            self._emissions.stop()
        finally:
            self.inner.finish()

    def handle(self) -> dict[str, Any]:
        hardware = []
        for item in getattr(self._emissions, "_hardware", []):  # CodeCarbon's own objects
            hardware.append(
                {"kind": type(item).__name__, "mode": getattr(item, "_mode", None)}
                | {"description": str(item.description())}
            )
        return {
            **self.inner.handle(),
            "codecarbon": {"window_monotonic_s": self._window, "hardware": hardware},
        }

    def read_back(self, handle: dict[str, Any]) -> dict[str, Any]:
        found = (
            self.inner.read_back(handle)
            if self.inner.stores_data
            else {"metrics": None, "histograms": None, "artifacts": None, "method": "-"}
        )
        path = self.out_dir / "emissions.csv"
        try:
            with open(path, newline="") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as exc:
            raise TrackerError(f"codecarbon wrote no {path.name}: {exc}") from exc
        found["emissions_rows"] = len(rows)
        found["method"] = f"{found['method']}; rows of codecarbon's emissions.csv"
        found["reported_energy"] = [
            *(found.get("reported_energy") or []),
            *codecarbon_reported(rows[-1] if rows else None, handle.get("codecarbon") or {}),
        ]
        return found

    def version(self) -> str | None:
        return self.inner.version()

    def location(self) -> str | None:
        return self.inner.location()

    def settings(self) -> dict[str, Any]:
        try:
            cc_version = importlib.metadata.version("codecarbon")
        except importlib.metadata.PackageNotFoundError:
            cc_version = None
        chosen = self.sysmetrics_interval_s
        return {
            **self.inner.settings(),
            "codecarbon": {
                "version": cc_version,
                "tracker": "OfflineEmissionsTracker",
                "country_iso_code": self.country,
                "measure_power_s": chosen or SHIPPED_MEASURE_POWER_S,
                "interval_source": "--sysmetrics-interval" if chosen else "shipped default",
            },
        }


def codecarbon_reported(row: dict[str, str] | None, facts: dict[str, Any]) -> list[dict[str, Any]]:
    """CodeCarbon's energy per domain over its start-to-stop window (``reported_energy``
    entries of kind ``total_j``; ``energy_j`` None when it wrote no row)."""
    modes = {h.get("kind"): h.get("mode") for h in facts.get("hardware") or []}
    names = {h.get("kind"): h.get("description") for h in facts.get("hardware") or []}
    cpu_mode = modes.get("CPU")
    cpu_measured = cpu_mode in MEASURED_CPU_MODES
    cpu_how = (
        f"CodeCarbon CPU mode {cpu_mode}: "
        + ("a power counter" if cpu_measured else "its TDP table x CPU load (a model)")
        if cpu_mode
        else f"CodeCarbon CPU: {names.get('CPU') or 'no CPU entry'}"
    )
    gpu_count = int(float(row["gpu_count"])) if row and row.get("gpu_count") else 0
    domains = (
        ("cpu", "cpu_energy", cpu_measured, cpu_how),
        ("gpu", "gpu_energy", True, "CodeCarbon GPU: NVML total-energy counter"),
        ("ram", "ram_energy", False, "CodeCarbon RAM: a model of RAM power (per GB or DIMM)"),
    )
    out = []
    for domain, column, measured, how in domains:
        value = row.get(column) if row else None
        reason = None if row else "CodeCarbon wrote no emissions row"
        if domain == "gpu" and row and not gpu_count:
            value, reason = None, "CodeCarbon saw no GPU"
        out.append(
            {
                "tool": "codecarbon",
                "quantity": column,
                "domain": domain,
                "kind": "total_j",
                "method": "measured" if measured else "estimated",
                "how": how,
                "reason": reason,
                "energy_j": float(value) * KWH_J if value not in (None, "") else None,
                "devices_reported": gpu_count if domain == "gpu" else None,
                "window_monotonic_s": facts.get("window_monotonic_s"),
            }
        )
    return out
