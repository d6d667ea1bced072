"""RaplSampler against a fake powercap tree (no real RAPL needed)."""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import pytest

from bench.samplers import rapl as rapl_mod
from bench.samplers.base import SamplerError, SamplerUnavailable
from bench.samplers.rapl import RaplError, RaplSampler, rapl_facts

SMALL_MAX = 999_999  # counter range in uJ: values 0..999_999, wraps every 1 J


class FakePowercap:
    """A powercap tree laid out like sysfs: top-level zones plus nested sub-zones.

    Counters are advanced by deltas and wrapped the way the kernel ABI describes:
    ``energy_uj`` stays in ``[0, max_energy_range_uj]``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.zones: dict[str, Path] = {}
        self.max: dict[str, int] = {}
        self.raw: dict[str, int] = {}

    def add(self, zone: str, name: str, *, max_uj: int = SMALL_MAX, start: int = 0) -> Path:
        parts = zone.split(":")
        parent = self.root if len(parts) == 2 else self.zones[f"{parts[0]}:{parts[1]}"]
        path = parent / zone
        path.mkdir(parents=True)
        (path / "name").write_text(name + "\n")
        (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
        self.zones[zone], self.max[zone] = path, max_uj
        self.set(zone, start)
        return path

    def set(self, zone: str, raw: int) -> None:
        self.raw[zone] = raw
        (self.zones[zone] / "energy_uj").write_text(f"{raw}\n")

    def advance(self, zone: str, delta_uj: int) -> None:
        assert 0 <= delta_uj <= self.max[zone], "a test delta may not wrap twice"
        self.set(zone, (self.raw[zone] + delta_uj) % (self.max[zone] + 1))


def standard_tree(tmp_path: Path, *, two_drams: bool = False) -> FakePowercap:
    fake = FakePowercap(tmp_path / "powercap")
    fake.add("intel-rapl:0", "package-0", start=10)
    fake.add("intel-rapl:0:0", "core", start=20)
    fake.add("intel-rapl:0:1", "dram", start=30)
    fake.add("intel-rapl:1", "package-1", start=40)
    if two_drams:
        fake.add("intel-rapl:1:0", "dram", start=50)
    return fake


def to_uj(joules: float) -> int:
    return round(joules * 1e6)


def test_wrap_around_twice_equals_sum_of_true_deltas(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path / "powercap")
    fake.add("intel-rapl:0", "package-0", start=SMALL_MAX - 1_000)
    s = RaplSampler(fake.root)
    s.open()
    # Crosses the wrap on the 2nd and the 5th step; one step lands exactly on the maximum.
    deltas = [400, 700_000, 299_000, 1, 999_000, 123]
    true_total = 0
    for d in deltas:
        fake.advance("intel-rapl:0", d)
        true_total += d
        assert to_uj(s.read()["rapl.package-0.energy_j"]) == true_total
    assert s.describe()["domains"][0]["wraps"] == 2
    assert true_total == sum(deltas) == 1_998_524


def test_counter_at_max_then_zero_counts_one_microjoule(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path / "powercap")
    fake.add("intel-rapl:0", "package-0", start=SMALL_MAX)
    s = RaplSampler(fake.root)
    s.open()
    fake.set("intel-rapl:0", 0)
    assert to_uj(s.read()["rapl.package-0.energy_j"]) == 1


def test_long_sequence_with_wraps_is_monotone_and_exact(tmp_path: Path) -> None:
    fake = standard_tree(tmp_path)
    s = RaplSampler(fake.root)
    s.open()
    rng = random.Random(1234)
    deltas = {z: [rng.randrange(20_000, 120_000) for _ in range(50)] for z in ("0", "1", "d")}
    zone_of = {"0": "intel-rapl:0", "1": "intel-rapl:1", "d": "intel-rapl:0:1"}
    channel_of = {
        "0": "rapl.package-0.energy_j",
        "1": "rapl.package-1.energy_j",
        "d": "rapl.dram.energy_j",
    }
    expected = {z: list(itertools.accumulate(ds)) for z, ds in deltas.items()}
    last = dict.fromkeys(deltas, 0.0)
    for step in range(50):
        for z in deltas:
            fake.advance(zone_of[z], deltas[z][step])
        fake.advance("intel-rapl:0:0", 77_777)  # ignored sub-zone keeps moving too
        reading = s.read()
        for z in deltas:
            value = reading[channel_of[z]]
            assert value >= last[z]
            assert to_uj(value) == expected[z][step]
            last[z] = value
    # each channel's total spans at least two full counter ranges, i.e. two or more wraps
    wraps = {d["label"]: d["wraps"] for d in s.describe()["domains"]}
    for z, label in (("0", "package-0"), ("1", "package-1"), ("d", "dram")):
        assert expected[z][-1] > 2 * (SMALL_MAX + 1)
        assert wraps[label] >= 2


def test_domains_exclude_core_include_dram_and_label_packages(tmp_path: Path) -> None:
    fake = standard_tree(tmp_path)
    s = RaplSampler(fake.root)
    s.open()
    assert set(s.read()) == {
        "rapl.package-0.energy_j",
        "rapl.package-1.energy_j",
        "rapl.dram.energy_j",
    }
    sources = s.energy_sources()
    assert [(e.domain, e.channel) for e in sources] == [
        ("package-0", "rapl.package-0.energy_j"),
        ("package-1", "rapl.package-1.energy_j"),
        ("dram", "rapl.dram.energy_j"),
    ]
    assert {e.kind for e in sources} == {"cumulative_j"}
    assert {e.method for e in sources} == {"rapl"}
    desc = s.describe()
    by_label = {d["label"]: d for d in desc["domains"]}
    assert by_label["dram"]["zone"] == "intel-rapl:0:1"
    assert by_label["dram"]["energy_uj_path"] == str(fake.zones["intel-rapl:0:1"] / "energy_uj")
    assert by_label["package-1"]["max_energy_range_uj"] == SMALL_MAX
    # the first reading without any change is zero, not the raw counter value
    assert all(v == 0.0 for v in s.read().values())


def test_duplicate_names_are_disambiguated(tmp_path: Path) -> None:
    fake = standard_tree(tmp_path, two_drams=True)
    s = RaplSampler(fake.root)
    s.open()
    assert [e.domain for e in s.energy_sources()] == ["package-0", "package-1", "dram-0", "dram-1"]
    fake.advance("intel-rapl:1:0", 5_000)
    reading = s.read()
    assert to_uj(reading["rapl.dram-1.energy_j"]) == 5_000
    assert reading["rapl.dram-0.energy_j"] == 0.0


def test_flat_sysfs_layout_does_not_double_count(tmp_path: Path) -> None:
    # /sys/class/powercap lists every zone (and the control type) flat, as symlinks.
    fake = standard_tree(tmp_path)
    (fake.root / "intel-rapl").mkdir()
    for zone in ("intel-rapl:0:0", "intel-rapl:0:1"):
        os.symlink(fake.zones[zone], fake.root / zone)
    fake.add("intel-rapl:2", "psys")  # whole-SoC zone: must be skipped
    s = RaplSampler(fake.root)
    s.open()
    assert [e.domain for e in s.energy_sources()] == ["package-0", "package-1", "dram"]


def test_missing_root_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SamplerUnavailable, match="powercap") as exc:
        RaplSampler(tmp_path / "nope").open()
    assert "does not exist" in exc.value.reason
    facts = rapl_facts(tmp_path / "nope")
    assert facts == {"available": False, "reason": exc.value.reason, "domains": []}


def test_this_host_without_powercap_is_unavailable() -> None:
    root = Path("/sys/class/powercap")
    if root.exists() and any(root.glob("intel-rapl:*/energy_uj")):
        readable = all(os.access(p, os.R_OK) for p in root.glob("intel-rapl:*/energy_uj"))
        if readable:
            pytest.skip("this host has readable RAPL counters")
    with pytest.raises(SamplerUnavailable):
        RaplSampler().open()
    assert rapl_facts()["available"] is False


def test_no_package_zone_is_unavailable(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path / "powercap")
    fake.add("intel-rapl:0", "psys")
    with pytest.raises(SamplerUnavailable, match="no package zones"):
        RaplSampler(fake.root).open()


def test_permission_denied_is_unavailable_with_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = standard_tree(tmp_path)
    target = fake.zones["intel-rapl:1"] / "energy_uj"
    real_open = open

    def guarded_open(path, *args, **kwargs):
        if Path(path) == target:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(rapl_mod, "open", guarded_open, raising=False)
    with pytest.raises(SamplerUnavailable) as exc:
        RaplSampler(fake.root).open()
    reason = exc.value.reason
    assert "permission" in reason.lower()
    assert str(target) in reason
    assert "CVE-2020-8694" in reason and "chmod a+r" in reason
    assert rapl_facts(fake.root)["reason"] == reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_chmod_000_energy_is_unavailable(tmp_path: Path) -> None:
    fake = standard_tree(tmp_path)
    target = fake.zones["intel-rapl:0"] / "energy_uj"
    target.chmod(0)
    try:
        with pytest.raises(SamplerUnavailable, match="(?i)permission"):
            RaplSampler(fake.root).open()
    finally:
        target.chmod(0o644)


def test_file_disappearing_mid_run_raises_rapl_error(tmp_path: Path) -> None:
    fake = standard_tree(tmp_path)
    s = RaplSampler(fake.root)
    s.open()
    fake.advance("intel-rapl:0:1", 1_000)
    assert to_uj(s.read()["rapl.dram.energy_j"]) == 1_000
    gone = fake.zones["intel-rapl:0:1"] / "energy_uj"
    gone.unlink()
    with pytest.raises(RaplError) as exc:
        s.read()
    assert str(gone) in str(exc.value)
    assert isinstance(exc.value, SamplerError)
    assert not isinstance(exc.value, SamplerUnavailable)


def test_rapl_facts_lists_domains_and_read_before_open_fails(tmp_path: Path) -> None:
    fake = standard_tree(tmp_path)
    facts = rapl_facts(fake.root)
    assert facts["available"] is True and facts["reason"] is None
    assert [d["label"] for d in facts["domains"]] == ["package-0", "package-1", "dram"]
    with pytest.raises(RaplError, match="before open"):
        RaplSampler(fake.root).read()
