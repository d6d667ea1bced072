"""``+codecarbon``: CodeCarbon's ``OfflineEmissionsTracker`` around any configuration.

Always the offline tracker: the online one probes a cloud metadata address and a geolocation
service, which would make runs wait on the network. It starts after the wrapped tracker's
``init`` and stops before its ``finish``, writing ``emissions.csv`` under the run directory;
``allow_multiple_runs`` avoids CodeCarbon's machine-wide lock file. Its power sampling period
is ``--sysmetrics-interval`` when given, CodeCarbon's shipped 15 s otherwise. The country
(which only sets the carbon intensity CodeCarbon multiplies by, not what it costs to run) is
``TRACKERBENCH_CODECARBON_COUNTRY`` (ISO 3166 alpha-3), ``USA`` when unset; it is recorded.
Read-back: the rows of ``emissions.csv`` (one per stop).
"""

from __future__ import annotations

import csv
import importlib.metadata
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.trackers.base import Tracker, TrackerError

if TYPE_CHECKING:
    from bench.profiles import Histogram

COUNTRY_ENV = "TRACKERBENCH_CODECARBON_COUNTRY"
SHIPPED_MEASURE_POWER_S = 15.0


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

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.inner.log(step, metrics)

    def log_histogram(self, step: int, name: str, hist: Histogram) -> None:
        self.inner.log_histogram(step, name, hist)

    def log_artifact(self, step: int, path: Path) -> None:
        self.inner.log_artifact(step, path)

    def finish(self) -> None:
        try:
            self._emissions.stop()
        finally:
            self.inner.finish()

    def handle(self) -> dict[str, Any]:
        return self.inner.handle()

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
