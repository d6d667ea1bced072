"""Trackers' own energy figures against the reference: replayed traces and hand calculations.

A real A100 power trace is played through the fake NVML (the sampler's reference) and the same
trace is written as W&B stats records (a real offline run file) and as MLflow system metrics (a
real sqlite store) at the tools' intervals; the errors must match a hand calculation, and a
window shorter than the tool's interval must give "too few samples", never a number.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from bench.reported import (
    NO_REFERENCE,
    compare_reported,
    energy_from_counter,
    energy_from_power,
)
from bench.samplers.base import EnergySource
from bench.samplers.nvml import NvmlSampler
from bench.samplers.series import Series
from bench.trackers import TrackerOptions, make_tracker
from bench.trackers.codecarbon_addon import codecarbon_reported
from bench.trackers.wandb_tracker import count_run_file
from tests.test_nvml_sampler import A100, FakeHost, a100, fake_nvml

UNIX = 1_790_000_000.0  # the wall clock at monotonic 0 in these tests
GPU0 = EnergySource("gpu0", "gpu0.energy_j", "cumulative_j", "nvml-energy-counter")


# --- hand calculations ----------------------------------------------------------------------


def test_power_samples_integrate_with_edges_held():
    # 100 W until t=2, 300 W after; samples at 0.9 and 2.9 s; window [0, 4].
    # Trapezoid between the samples: (100 + 300) / 2 * 2 = 400 J; edges: 100 * 0.9 + 300 * 1.1
    # = 420 J; total 820 J against the true 800 J: +2.5 %.
    got = energy_from_power([0.9, 2.9, 7.0], [100.0, 300.0, 300.0], 0.0, 4.0)
    assert got.energy_j == pytest.approx(820.0)
    assert got.samples_in_window == 2
    assert got.achieved_interval_s == pytest.approx(3.05)  # median of 2.0 and 4.1


def test_energy_counter_increase_is_scaled_to_the_window():
    # 1000 -> 1600 J between 1 s and 3 s: 300 W, over a 4 s window 1200 J.
    got = energy_from_counter([1.0, 3.0], [1000.0, 1600.0], 0.0, 4.0)
    assert got.energy_j == pytest.approx(1200.0)


@pytest.mark.parametrize("convert", [energy_from_power, energy_from_counter])
def test_a_window_shorter_than_the_interval_has_too_few_samples(convert):
    got = convert([0.0, 15.0, 30.0], [100.0, 100.0, 100.0], 16.0, 21.0)  # 5 s, one 15 s step
    assert got.energy_j is None
    assert got.samples_in_window == 0
    assert "too few samples: 0 inside the 5 s window" in got.reason
    assert "every 15 s" in got.reason


# --- replayed trace -------------------------------------------------------------------------


def _reference_series() -> tuple[Series, float]:
    """The A100 trace read through the fake NVML by the real sampler, times on a monotonic
    clock starting at 100 s; returns the series and the trace's length (s)."""
    host = FakeHost([a100()])
    readings = []
    with fake_nvml(host):
        sampler = NvmlSampler()
        sampler.open()
        for row in range(len(A100.t)):
            host.row = row
            readings.append((100.0 + float(A100.t[row]), sampler.read()))
        sampler.close()
    return Series.from_readings(readings), float(A100.t[-1])


def _tool_samples(interval_s: float, start_s: float, length_s: float) -> tuple[list, list]:
    """The trace's ``power.draw`` (what nvmlDeviceGetPowerUsage returns) every ``interval_s``
    from ``start_s``, on the monotonic clock of :func:`_reference_series`."""
    times = np.arange(start_s, length_s, interval_s)
    return [100.0 + t for t in times], [float(np.interp(t, A100.t, A100.power)) for t in times]


def _write_wandb_run_file(path: Path, times: list[float], watts: list[float]) -> Path:
    """A W&B offline run file holding one stats record per sample (LevelDB-style records)."""
    from wandb.proto import wandb_internal_pb2

    out = bytearray(b":W&B\x00\x00\x01")
    for t, w in zip(times, watts, strict=True):
        record = wandb_internal_pb2.Record()
        record.stats.stats_type = wandb_internal_pb2.StatsRecord.StatsType.SYSTEM
        record.stats.timestamp.seconds = int(t)
        record.stats.timestamp.nanos = int(round((t - int(t)) * 1e9))
        for key, value in (("gpu.0.powerWatts", w), ("cpu", 12.5)):
            item = record.stats.item.add()
            item.key, item.value_json = key, repr(value)
        body = record.SerializeToString()
        out += struct.pack("<IHB", 0, len(body), 1) + body
    assert len(out) < 32768  # one block: no record split across blocks
    path.write_bytes(bytes(out))
    return path


def _hand_energy(times: list[float], watts: list[float], t0: float, t1: float) -> float:
    """What a user does with the tool's samples, written out: trapezoids between the samples in
    the window, plus the first and last held flat to the window's edges."""
    pairs = [(t, w) for t, w in zip(times, watts, strict=True) if t0 <= t <= t1]
    total = pairs[0][1] * (pairs[0][0] - t0) + pairs[-1][1] * (t1 - pairs[-1][0])
    for (ta, wa), (tb, wb) in zip(pairs, pairs[1:], strict=False):
        total += (wa + wb) / 2 * (tb - ta)
    return total


def _result(t0: float, t1: float, interval_s: float) -> dict:
    return {
        "marks": {"measure": [t0, t1]},
        "clock": {"unix_minus_monotonic_s": UNIX},
        "tracker": {"settings": {"system_metrics": {"enabled": True, "interval_s": interval_s}}},
    }


def test_wandb_samples_of_a_replayed_trace_against_the_reference(tmp_path):
    series, length = _reference_series()
    t0, t1 = 100.0 + 1.0, 100.0 + length - 0.5  # a measure window inside the trace
    inside = (A100.t + 100.0 >= t0) & (A100.t + 100.0 <= t1)
    reference = float(np.trapezoid(A100.power_instant[inside], A100.t[inside] + 100.0))
    for interval_s in (1.0, 2.0):
        times, watts = _tool_samples(interval_s, 0.3, length)
        run_file = _write_wandb_run_file(
            tmp_path / f"run-{interval_s}.wandb", [UNIX + t for t in times], watts
        )
        found = count_run_file(run_file)
        assert found["system_metrics_samples"] == len(times)
        block = compare_reported(
            found["reported_energy"], _result(t0, t1, interval_s), series, [GPU0], None
        )
        (entry,) = block["entries"]
        expected = _hand_energy(times, watts, t0, t1)
        # rel 1e-7: the run file keeps whole nanoseconds of the wall clock.
        assert entry["reported"]["energy_j"] == pytest.approx(expected, rel=1e-7)
        # The reference: the sampler's counter over the window, the trace's own integral up to
        # the interpolation at the window's edges (the trace steps every ~13 ms).
        assert entry["reference"]["energy_j"] == pytest.approx(reference, rel=0.01)
        ref = entry["reference"]["energy_j"]
        assert entry["error_pct"] == pytest.approx((expected - ref) / ref * 100, abs=1e-6)
        assert entry["samples_in_window"] == sum(t0 <= t <= t1 for t in times)
        assert entry["interval_s"] == interval_s
        assert entry["achieved_interval_s"] == pytest.approx(interval_s)
        assert entry["reported"]["method"] == "measured"
    # W&B's shipped 15 s over this ~16 s trace: at most one sample in the window.
    times, watts = _tool_samples(15.0, 0.3, length)
    run_file = _write_wandb_run_file(tmp_path / "run-15.wandb", [UNIX + t for t in times], watts)
    block = compare_reported(
        count_run_file(run_file)["reported_energy"], _result(t0, t1, 15.0), series, [GPU0], None
    )
    (entry,) = block["entries"]
    assert entry["reported"]["energy_j"] is None and entry["error_pct"] is None
    assert entry["reported"]["reason"].startswith("too few samples")
    assert entry["reference"]["energy_j"] == pytest.approx(reference, rel=0.01)


def test_mlflow_system_metrics_of_a_replayed_trace(tmp_path, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    series, length = _reference_series()
    t0, t1 = 100.0 + 1.0, 100.0 + length - 0.5
    times, watts = _tool_samples(1.0, 0.3, length)
    uri = "sqlite:///" + str(tmp_path / "mlflow.db")
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("replay"))
    client.log_batch(
        run.info.run_id,
        metrics=[
            Metric("system/gpu_0_power_usage_watts", w, int(round((UNIX + t) * 1000)), i)
            for i, (t, w) in enumerate(zip(times, watts, strict=True))
        ],
    )
    tracker = make_tracker("mlflow-sqlite+sysmetrics", tmp_path, TrackerOptions())
    found = tracker.read_back({"run_id": run.info.run_id, "tracking_uri": uri})
    block = compare_reported(found["reported_energy"], _result(t0, t1, 1.0), series, [GPU0], None)
    (entry,) = block["entries"]
    assert entry["tool"] == "mlflow" and entry["quantity"] == "system/gpu_N_power_usage_watts"
    # MLflow stores milliseconds: the hand calculation uses the stored times.
    stored = [round((UNIX + t) * 1000) / 1000 - UNIX for t in times]
    expected = _hand_energy(stored, watts, t0, t1)
    assert entry["reported"]["energy_j"] == pytest.approx(expected, rel=1e-9)
    ref = entry["reference"]["energy_j"]
    assert entry["error_pct"] == pytest.approx((expected - ref) / ref * 100, abs=1e-6)


def test_no_reference_on_this_host_is_said_not_compared():
    reported = [
        {
            "tool": "wandb",
            "quantity": "gpu.N.powerWatts",
            "domain": "gpu",
            "kind": "power_w",
            "method": "measured",
            "devices": {"0": {"t_unix_s": [UNIX + 1, UNIX + 2, UNIX + 3], "values": [50.0] * 3}},
        }
    ]
    block = compare_reported(reported, _result(0.5, 3.5, 1.0), Series([], {}), [], "nvml: absent")
    (entry,) = block["entries"]
    assert entry["reported"]["energy_j"] == pytest.approx(150.0)
    assert entry["reference"]["energy_j"] is None and entry["error_pct"] is None
    assert entry["reference"]["reason"] == f"{NO_REFERENCE} (nvml: absent)"


def test_codecarbon_estimates_are_labelled_and_use_its_own_window():
    row = {"cpu_energy": "1e-05", "gpu_energy": "0.0", "ram_energy": "2e-05", "gpu_count": "0"}
    facts = {
        "window_monotonic_s": [10.0, 14.0],
        "hardware": [{"kind": "CPU", "mode": "cpu_load", "description": "CPU(Cpu Load)"}],
    }
    entries = {e["domain"]: e for e in codecarbon_reported(row, facts)}
    assert entries["cpu"]["method"] == "estimated" and entries["ram"]["method"] == "estimated"
    assert entries["cpu"]["energy_j"] == pytest.approx(36.0)  # 1e-5 kWh
    assert (
        entries["gpu"]["energy_j"] is None and entries["gpu"]["reason"] == "CodeCarbon saw no GPU"
    )
    rapl = EnergySource("package-0", "rapl.package-0.energy_j", "cumulative_j", "rapl")
    series = Series([9.0, 15.0], {"rapl.package-0.energy_j": [0.0, 60.0]})  # 10 W
    result = {"tracker": {"settings": {"codecarbon": {"measure_power_s": 15.0}}}}
    block = compare_reported(list(entries.values()), result, series, [rapl], None)
    cpu = next(e for e in block["entries"] if e["domain"] == "cpu")
    assert cpu["window_s"] == pytest.approx(4.0)
    assert cpu["reference"]["energy_j"] == pytest.approx(40.0)  # 10 W over CodeCarbon's 4 s
    assert cpu["error_pct"] == pytest.approx(-10.0)
    assert cpu["interval_s"] == 15.0
    ram = next(e for e in block["entries"] if e["domain"] == "ram")
    assert ram["reference"]["reason"].startswith(NO_REFERENCE)  # no dram domain sampled
