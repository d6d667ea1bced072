"""CPU package / DRAM energy from Linux RAPL through the powercap sysfs interface.

Linux exposes Intel RAPL (and, through the same ``intel_rapl`` driver, AMD RAPL on Zen) as
powercap *zones* under ``/sys/class/powercap``: ``intel-rapl:0``, ``intel-rapl:1`` ... are
top-level zones, ``intel-rapl:0:0``, ``intel-rapl:0:1`` ... are sub-zones of zone 0 (sysfs lists
them both flat in the class directory and nested under their parent). Each zone has a ``name``
file (``package-0``, ``core``, ``uncore``, ``dram``, ``psys``), a cumulative counter
``energy_uj`` (microjoules) and ``max_energy_range_uj`` (microjoules; the counter's range,
after which it wraps back to 0).

Which zones are measured (so that nothing is counted twice):

* top-level zones whose ``name`` starts with ``package`` -- one per CPU socket;
* sub-zones whose ``name`` starts with ``dram`` -- on Intel server parts the DRAM plane is
  *not* part of the package energy even though sysfs nests it under the package zone;
* everything else is skipped: ``core`` / ``uncore`` sub-zones are contained in the package
  energy, ``psys`` (client platforms) covers the whole SoC including the package, and
  ``intel-rapl-mmio`` zones are a second interface to the same package counter.

Channels are ``rapl.<label>.energy_j``: joules since :meth:`RaplSampler.open`, corrected for
wrap-around. Labels come from the ``name`` files (``package-0``, ``package-1``, ``dram``); a
name shared by several zones gets the package index appended (``dram-0``, ``dram-1``).

Wrap-around: ``energy_uj`` takes values in ``[0, max_energy_range_uj]`` and wraps to 0, so when
a reading is lower than the previous one the delta is ``raw - prev + max_energy_range_uj + 1``.
(On Intel the hardware wraps one energy-status unit -- about 61 uJ or 15 uJ -- above the
reported maximum rather than 1 uJ; the error is below 0.1 mJ per wrap.) A counter that wraps
more than once between two readings cannot be detected, so the sampler must be polled faster
than the wrap period, ``max_energy_range_uj / 1e6 / watts`` seconds: a 2^32 uJ (~4.3 kJ) range
wraps every ~60 s at 70 W and ~15 s at 300 W; Intel's usual 2^32 x 61 uJ (~262 kJ) range lasts
~15 min at 300 W. :meth:`RaplSampler.describe` reports each domain's range. Polling every
second is always safe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import EnergySource, Sampler, SamplerError, SamplerUnavailable

DEFAULT_ROOT = "/sys/class/powercap"

_ZONE_RE = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")

SELECTION_RULE = (
    "top-level zones named package* plus sub-zones named dram*; core/uncore (inside the "
    "package), psys (whole SoC) and intel-rapl-mmio (duplicate interface) are skipped"
)


class RaplError(SamplerError):
    """A RAPL counter that was readable at ``open()`` could not be read during the run."""


@dataclass
class _Domain:
    label: str
    zone: str  # e.g. "intel-rapl:0:1"
    name: str  # content of the zone's ``name`` file
    path: Path  # zone directory
    max_range_uj: int
    prev_raw_uj: int = 0
    total_uj: int = 0
    wraps: int = 0  # wrap-arounds seen since open()

    @property
    def energy_path(self) -> Path:
        return self.path / "energy_uj"

    @property
    def channel(self) -> str:
        return f"rapl.{self.label}.energy_j"


def _zone_key(zone: str) -> tuple[int, int]:
    m = _ZONE_RE.match(zone)
    assert m is not None
    return int(m.group(1)), int(m.group(2)) if m.group(2) is not None else -1


def _sanitize(name: str, fallback: str) -> str:
    label = re.sub(r"[^A-Za-z0-9_-]+", "-", name.strip()).strip("-")
    return label or fallback.replace(":", "-")


def _find_zones(root: Path) -> dict[str, Path]:
    """Every ``intel-rapl:N`` / ``intel-rapl:N:M`` zone directory, flat or nested, by zone id."""
    zones: dict[str, Path] = {}
    for entry in sorted(root.iterdir()):
        if _ZONE_RE.match(entry.name) and entry.is_dir():
            zones.setdefault(entry.name, entry)
    for zone, path in list(zones.items()):
        if _zone_key(zone)[1] != -1:
            continue
        for sub in sorted(path.iterdir()):
            if not (sub.is_dir() and _ZONE_RE.match(sub.name)):
                continue
            top, idx = _zone_key(sub.name)
            if idx != -1 and str(top) == zone.split(":")[1]:
                zones.setdefault(sub.name, sub)
    return dict(sorted(zones.items(), key=lambda kv: _zone_key(kv[0])))


def _read_name(path: Path) -> str:
    try:
        return (path / "name").read_text().strip()
    except OSError:
        return ""


def _permission_reason(path: Path, root: Path) -> str:
    return (
        f"no RAPL: permission denied reading {path}. Since Linux 5.10 (CVE-2020-8694, "
        "'Platypus') energy_uj is readable by root only; grant read access with e.g. "
        f"`sudo chmod a+r {root}/intel-rapl:*/energy_uj "
        f"{root}/intel-rapl:*/intel-rapl:*/energy_uj` (until reboot; use a "
        "udev rule or tmpfiles.d entry to persist it) or run the sampler as root"
    )


class RaplSampler(Sampler):
    """Cumulative CPU package (and DRAM) energy in joules from powercap RAPL counters."""

    name = "rapl"

    def __init__(self, root: str | Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        self._domains: list[_Domain] = []
        self._opened = False

    # -- protocol --------------------------------------------------------------------------
    def open(self) -> None:
        """Discover the domains and take the baseline reading of every counter.

        Raises :class:`SamplerUnavailable` when the powercap root is missing, has no package
        zones, or a counter is unreadable (root-only since Linux 5.10).
        """
        root = self.root
        if not root.is_dir():
            raise SamplerUnavailable(
                f"no RAPL: {root} does not exist (not an Intel/AMD Linux host, or a VM/container "
                "without powercap)"
            )
        try:
            zones = _find_zones(root)
        except OSError as e:
            raise SamplerUnavailable(f"no RAPL: cannot list {root}: {e}") from e

        picked: list[tuple[str, str, Path]] = []  # (zone, name, path)
        package_tops: set[int] = set()
        for zone, path in zones.items():
            top, sub = _zone_key(zone)
            name = _read_name(path)
            if sub == -1 and name.startswith("package"):
                picked.append((zone, name, path))
                package_tops.add(top)
        for zone, path in zones.items():
            top, sub = _zone_key(zone)
            name = _read_name(path)
            if sub != -1 and top in package_tops and name.startswith("dram"):
                picked.append((zone, name, path))
        if not picked:
            found = ", ".join(f"{z}={_read_name(p) or '?'}" for z, p in zones.items()) or "none"
            raise SamplerUnavailable(
                f"no RAPL: no package zones under {root} (zones found: {found}); powercap is "
                "present but the intel_rapl_msr driver may not be loaded (`sudo modprobe "
                "intel_rapl_msr`)"
            )
        picked.sort(key=lambda t: (_zone_key(t[0])[1] != -1, _zone_key(t[0])))

        labels = self._labels(picked)
        domains: list[_Domain] = []
        for (zone, name, path), label in zip(picked, labels, strict=True):
            max_range = self._read_int_open(path / "max_energy_range_uj")
            if max_range <= 0:
                raise SamplerUnavailable(
                    f"no RAPL: {path / 'max_energy_range_uj'} reports a range of {max_range} uJ"
                )
            raw = self._read_int_open(path / "energy_uj")
            domains.append(
                _Domain(
                    label=label,
                    zone=zone,
                    name=name,
                    path=path,
                    max_range_uj=max_range,
                    prev_raw_uj=raw,
                )
            )
        self._domains = domains
        self._opened = True

    def read(self) -> dict[str, float]:
        """Joules consumed by each domain since :meth:`open`: ``rapl.<label>.energy_j``.

        Raises :class:`RaplError` naming the file if a counter cannot be read.
        """
        if not self._opened:
            raise RaplError("RaplSampler.read() called before open()")
        raws = [self._read_int_run(d.energy_path) for d in self._domains]
        out: dict[str, float] = {}
        for d, raw in zip(self._domains, raws, strict=True):
            d.total_uj += self._delta_uj(d.prev_raw_uj, raw, d.max_range_uj)
            if raw < d.prev_raw_uj:
                d.wraps += 1
            d.prev_raw_uj = raw
            out[d.channel] = d.total_uj / 1e6
        return out

    def close(self) -> None:
        """Forget the domains; safe to call more than once."""
        self._opened = False

    def energy_sources(self) -> list[EnergySource]:
        """One cumulative-joules source per measured domain (method ``"rapl"``)."""
        return [
            EnergySource(domain=d.label, channel=d.channel, kind="cumulative_j", method="rapl")
            for d in self._domains
        ]

    def describe(self) -> dict[str, Any]:
        """The selection rule and each domain's zone, sysfs path and range (uJ and J)."""
        return {
            "sampler": self.name,
            "root": str(self.root),
            "rule": SELECTION_RULE,
            "domains": [_domain_facts(d) for d in self._domains],
        }

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _delta_uj(prev: int, raw: int, max_range_uj: int) -> int:
        """Microjoules between two raw readings of a counter in ``[0, max_range_uj]``.

        The counter holds ``max_range_uj + 1`` distinct values, so a lower reading means it
        passed ``max_range_uj`` and restarted at 0: ``max_range_uj - prev`` to reach the top,
        ``1`` to wrap to 0, then ``raw``. At most one wrap per interval is assumed.
        """
        if raw >= prev:
            return raw - prev
        return raw - prev + max_range_uj + 1

    @staticmethod
    def _labels(picked: list[tuple[str, str, Path]]) -> list[str]:
        bases = [_sanitize(name, zone) for zone, name, _ in picked]
        tops = [_zone_key(zone)[0] for zone, _, _ in picked]
        labels: list[str] = []
        for (zone, _, _), base, top in zip(picked, bases, tops, strict=True):
            label = base
            if bases.count(base) > 1:
                label = f"{base}-{top}"
                same_top = sum(
                    1 for b, t in zip(bases, tops, strict=True) if b == base and t == top
                )
                if same_top > 1:
                    label = f"{base}-{top}-{_zone_key(zone)[1]}"
            labels.append(label)
        return labels

    def _read_int_open(self, path: Path) -> int:
        try:
            with open(path) as f:
                text = f.read()
        except PermissionError as e:
            raise SamplerUnavailable(_permission_reason(path, self.root)) from e
        except OSError as e:
            raise SamplerUnavailable(f"no RAPL: cannot read {path}: {e}") from e
        try:
            return int(text.strip())
        except ValueError as e:
            raise SamplerUnavailable(f"no RAPL: {path} does not hold an integer: {text!r}") from e

    @staticmethod
    def _read_int_run(path: Path) -> int:
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            raise RaplError(f"cannot read RAPL counter {path}: {e}") from e
        try:
            return int(text.strip())
        except ValueError as e:
            raise RaplError(f"RAPL counter {path} does not hold an integer: {text!r}") from e


def _domain_facts(d: _Domain) -> dict[str, Any]:
    return {
        "label": d.label,
        "zone": d.zone,
        "name": d.name,
        "channel": d.channel,
        "energy_uj_path": str(d.energy_path),
        "max_energy_range_uj": d.max_range_uj,
        "max_energy_range_j": d.max_range_uj / 1e6,
        "wraps": d.wraps,
    }


def rapl_facts(root: str | Path = DEFAULT_ROOT) -> dict[str, Any]:
    """RAPL availability for the ``env`` command.

    Returns ``{"available": bool, "reason": str | None, "domains": [...]}`` where each domain
    is a dict with its label, zone, sysfs ``energy_uj`` path and range (uJ and J).
    """
    sampler = RaplSampler(root)
    try:
        sampler.open()
    except SamplerUnavailable as e:
        return {"available": False, "reason": e.reason, "domains": []}
    try:
        return {
            "available": True,
            "reason": None,
            "domains": sampler.describe()["domains"],
        }
    finally:
        sampler.close()
