"""Weights & Biases configurations.

- ``wandb-offline``: offline mode as shipped. It still starts the ``wandb-core`` service
  process, writes the run file (under this run's directory) and samples system statistics
  (every 15 s unless ``--sysmetrics-interval``); only the upload is skipped.
- ``wandb-offline-nostats``: the same with the system-statistics sampler off (``x_disable_stats``).
- ``wandb-disabled``: ``mode="disabled"``: the cost of the no-op API; nothing is stored.
- ``wandb-online``: uploads to a W&B server; usable only with credentials (``WANDB_API_KEY`` or
  a netrc entry) and a server that answers. The key is passed through the environment, never
  recorded.

Read-back (offline): the run file (``run-ID.wandb``) is the W&B variant of the LevelDB log
format (a 7-byte header, then 32 KiB blocks of records, each with a 7-byte header of checksum,
length and type, and records split across blocks); each record is a ``wandb_internal_pb2.Record``
protocol buffer from the installed ``wandb``. History rows, artifact records and system-stats
records are counted. Checksums are not verified; a record cut short at the end of the file is
ignored (and its data then counts as lost).
"""

from __future__ import annotations

import json
import netrc
import os
import re
import struct
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from bench.profiles import Histogram

from bench.trackers.base import Tracker, TrackerError

WANDB_INTERNAL_KEYS = frozenset({"_runtime", "_step", "_timestamp", "_wandb"})
_BLOCK = 32768
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_run_file(path: Path) -> list[bytes]:
    """The record payloads of a W&B run file, in order."""
    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise TrackerError(f"{path}: not a W&B run file (header {data[:7]!r})")
    records: list[bytes] = []
    pos, pending = _HEADER, None
    while pos + _HEADER <= len(data):
        left_in_block = _BLOCK - pos % _BLOCK
        if left_in_block < _HEADER:
            pos += left_in_block  # block trailer padding
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        body = data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if len(body) < length:
            break  # cut short at the end of the file
        if kind == _FULL:
            records.append(body)
        elif kind == _FIRST:
            pending = body
        elif kind == _MIDDLE and pending is not None:
            pending += body
        elif kind == _LAST and pending is not None:
            records.append(pending + body)
            pending = None
        elif kind == 0 and length == 0:
            continue
    return records


_GPU_POWER = re.compile(r"gpu\.(\d+)\.powerWatts")
_GPU_ENERGY = re.compile(r"gpu\.(\d+)\.energyJoules")


def count_run_file(path: Path) -> dict[str, Any]:
    """Counts of what a W&B run file holds: metric values per key, histograms, artifacts;
    and the GPU power and energy samples of its system-stats records (``reported_energy``)."""
    from wandb.proto import wandb_internal_pb2

    metrics: Counter[str] = Counter()
    histograms = artifacts = stats = 0
    power: dict[int, tuple[list[float], list[float]]] = {}
    energy: dict[int, tuple[list[float], list[float]]] = {}
    for payload in read_run_file(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "history":
            for item in record.history.item:
                keys = list(item.nested_key) or [item.key]
                if keys[0] in WANDB_INTERNAL_KEYS:
                    continue
                if len(keys) == 1:
                    metrics[keys[0]] += 1
                elif keys[1] == "_type" and json.loads(item.value_json) == "histogram":
                    histograms += 1
        elif kind == "artifact":
            artifacts += 1
        elif kind == "stats":
            stats += 1
            t = record.stats.timestamp.seconds + record.stats.timestamp.nanos / 1e9
            for item in record.stats.item:
                for pattern, into in ((_GPU_POWER, power), (_GPU_ENERGY, energy)):
                    match = pattern.fullmatch(item.key)
                    if match:
                        ts, vs = into.setdefault(int(match.group(1)), ([], []))
                        ts.append(t)
                        vs.append(float(json.loads(item.value_json)))
    reported = [
        {
            "tool": "wandb",
            "quantity": "gpu.N.powerWatts",
            "domain": "gpu",
            "kind": "power_w",
            "method": "measured",
            "how": "NVML power reading per GPU (nvmlDeviceGetPowerUsage: a 1 s average on "
            "Ampere and newer), one sample per stats record",
            "devices": {str(i): {"t_unix_s": ts, "values": vs} for i, (ts, vs) in power.items()},
        }
    ]
    if energy:  # releases whose system monitor reads NVML's total-energy counter
        reported.append(
            {
                "tool": "wandb",
                "quantity": "gpu.N.energyJoules",
                "domain": "gpu",
                "kind": "counter_j",
                "method": "measured",
                "how": "NVML total-energy counter per GPU, one sample per stats record",
                "devices": {
                    str(i): {"t_unix_s": ts, "values": vs} for i, (ts, vs) in energy.items()
                },
            }
        )
    return {
        "metrics": dict(metrics),
        "histograms": histograms,
        "artifacts": artifacts,
        "system_metrics_samples": stats,
        "reported_energy": reported if stats else [],
    }


class _Wandb(Tracker):
    distribution = "wandb"
    mode: ClassVar[str] = "offline"
    stats: ClassVar[bool] = True
    samples_by_default = True
    shipped_sysmetrics_interval_s = 15.0

    @property
    def wandb_dir(self) -> Path:
        return self.run_dir / "wandb"

    def environment(self) -> dict[str, str]:
        d = str(self.wandb_dir)
        return {
            "WANDB_MODE": self.mode,
            "WANDB_DIR": d,
            "WANDB_CONFIG_DIR": d + "/config",
            "WANDB_CACHE_DIR": d + "/cache",
            "WANDB_DATA_DIR": d + "/data",
        }

    def load(self) -> None:
        import wandb

        self._wandb = wandb

    def init(self, run_name: str, config: dict[str, Any]) -> None:
        self.wandb_dir.mkdir(parents=True, exist_ok=True)
        # Only settings that differ from the shipped defaults are passed: releases before 0.19
        # (``trackerbench regress``) know neither the ``x_`` names nor pydantic settings.
        extra: dict[str, Any] = {} if self.stats else {"x_disable_stats": True}
        if self.stats and self.sysmetrics_interval_s is not None:
            extra["x_stats_sampling_interval"] = self.sysmetrics_interval_s
        self._run = self._wandb.init(
            project="trackerbench",
            name=run_name,
            config=config,
            mode=self.mode,
            dir=str(self.wandb_dir),
            settings=self._wandb.Settings(**extra),
        )

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self._run.log(metrics, step=step)

    def log_histogram(self, step: int, name: str, hist: Histogram) -> None:
        self._run.log(
            {name: self._wandb.Histogram(np_histogram=(hist.counts, hist.edges))}, step=step
        )

    def log_artifact(self, step: int, path: Path) -> None:
        artifact = self._wandb.Artifact("checkpoint", type="model", metadata={"step": step})
        artifact.add_file(str(path))
        self._run.log_artifact(artifact)

    def finish(self) -> None:
        self._run.finish()

    def handle(self) -> dict[str, Any]:
        return {"run_id": self._run.id, "project": self._run.project, "entity": self._run.entity}

    def read_back(self, handle: dict[str, Any]) -> dict[str, Any]:
        files = sorted(self.wandb_dir.glob(f"wandb/*-{handle['run_id']}/run-*.wandb"))
        if len(files) != 1:
            raise TrackerError(
                f"expected one run file for run {handle['run_id']} under {self.wandb_dir}, "
                f"found {len(files)}"
            )
        found = count_run_file(files[0])
        found["method"] = "records of the offline run file (wandb_internal_pb2.Record)"
        return found

    def settings(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "system_metrics": self.sysmetrics_settings(self.stats),
            "backend": self.backend(),
        }

    def backend(self) -> str | None:
        """Which internal service the imported release runs (wandb-core is default since 0.18)."""
        version = self.version()
        if version is None:
            return None
        from packaging.version import Version

        if Version(version) >= Version("0.18.0"):
            return "wandb-core (Go service)"
        return "legacy Python service (wandb-core opt-in before 0.18)"


class WandbOffline(_Wandb):
    name = "wandb-offline"


class WandbOfflineNoStats(_Wandb):
    name = "wandb-offline-nostats"
    stats = False
    samples_by_default = False


class WandbDisabled(_Wandb):
    name = "wandb-disabled"
    mode = "disabled"
    stats = False
    samples_by_default = False
    stores_data = False

    def settings(self) -> dict[str, Any]:
        return {"mode": self.mode, "system_metrics": {"enabled": False}, "stores": "nothing"}


def _base_url() -> str:
    return os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").rstrip("/")


def _has_credentials(base_url: str) -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


class WandbOnline(_Wandb):
    """Online mode; its read-back goes through the public API (``wandb.Api``)."""

    name = "wandb-online"
    mode = "online"

    @classmethod
    def unavailable_reason(cls, package_here: bool = True) -> str | None:
        reason = super().unavailable_reason(package_here)
        if reason:
            return reason
        base = _base_url()
        if not _has_credentials(base):
            return f"no W&B credentials (WANDB_API_KEY or a netrc entry for {base})"
        try:
            urllib.request.urlopen(base + "/healthz", timeout=3).close()
        except urllib.error.HTTPError:
            pass  # it answered
        except (urllib.error.URLError, OSError) as exc:
            return f"W&B server {base} is not reachable ({exc})"
        return None

    def read_back(self, handle: dict[str, Any]) -> dict[str, Any]:
        import wandb

        run = wandb.Api().run(f"{handle['entity']}/{handle['project']}/{handle['run_id']}")
        metrics: Counter[str] = Counter()
        histograms = 0
        for row in run.scan_history():
            for key, value in row.items():
                if key in WANDB_INTERNAL_KEYS or value is None:
                    continue
                if isinstance(value, dict) and value.get("_type") == "histogram":
                    histograms += 1
                else:
                    metrics[key] += 1
        artifacts = sum(1 for _ in run.logged_artifacts())
        return {
            "metrics": dict(metrics),
            "histograms": histograms,
            "artifacts": artifacts,
            "method": "W&B public API (scan_history, logged_artifacts)",
        }

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "server": _base_url()}
