import csv
from datetime import datetime

import numpy as np
import pytest

from bench.samplers.base import EnergySource
from bench.samplers.series import (
    Series,
    cumulative_between,
    integrate_between,
    window_energy,
)
from tests.conftest import DATA


def test_integrate_constant_power_is_power_times_time():
    ts = [0.0, 1.0, 2.0, 3.0]
    assert integrate_between(ts, [100.0] * 4, 0.5, 2.5) == pytest.approx(200.0)


def test_integrate_ramp_with_interpolated_edges():
    ts = [0.0, 2.0]
    # power rises 0 -> 200 W over 2 s; between 0.5 s and 1.5 s the mean is 100 W
    assert integrate_between(ts, [0.0, 200.0], 0.5, 1.5) == pytest.approx(100.0)


def test_cumulative_counter_interpolates_inside_intervals():
    assert cumulative_between([0, 10], [0, 1000], 2.5, 7.5) == pytest.approx(500.0)


def test_window_outside_samples_is_an_error_not_a_number():
    with pytest.raises(ValueError):
        integrate_between([1.0, 2.0], [5.0, 5.0], 0.5, 1.5)


def _a100_trace():
    with open(DATA / "nvml-traces" / "A100_transient_gpudata.csv") as fh:
        rows = list(csv.reader(fh))[1:]
    t = np.array(
        [datetime.strptime(r[0].strip(), "%Y/%m/%d %H:%M:%S.%f").timestamp() for r in rows]
    )
    return t - t[0], np.array([float(r[6]) for r in rows])


def test_window_energy_power_path_matches_hand_trapezoid_on_real_trace():
    t, p = _a100_trace()
    samples = [(float(ti), {"gpu0.power_w": float(pi)}) for ti, pi in zip(t, p, strict=True)]
    src = [EnergySource("gpu0", "gpu0.power_w", "power_w", "nvml-power-polling")]
    i0, i1 = 100, 900
    energy = window_energy(Series.from_readings(samples), src, float(t[i0]), float(t[i1]))
    expected = float(np.sum((p[i0 + 1 : i1 + 1] + p[i0:i1]) / 2 * np.diff(t[i0 : i1 + 1])))
    assert energy.energy_j == pytest.approx(expected, rel=1e-9)
    assert energy.method == "nvml-power-polling"
    assert energy.by_domain_j == {"gpu0": pytest.approx(expected, rel=1e-9)}


def test_window_energy_sums_domains_and_names_methods():
    samples = [
        (0.0, {"a.energy_j": 0.0, "b.power_w": 10.0}),
        (4.0, {"a.energy_j": 40.0, "b.power_w": 10.0}),
    ]
    sources = [
        EnergySource("gpu0", "a.energy_j", "cumulative_j", "nvml-energy-counter"),
        EnergySource("package-0", "b.power_w", "power_w", "rapl"),
    ]
    energy = window_energy(Series.from_readings(samples), sources, 1.0, 3.0)
    assert energy.energy_j == pytest.approx(20.0 + 20.0)
    assert energy.method == "nvml-energy-counter+rapl"


def test_no_sources_gives_null_with_the_reason():
    energy = window_energy(
        Series.from_readings([(0.0, {}), (1.0, {})]), [], 0.0, 1.0, "nvml: no driver"
    )
    assert energy.energy_j is None and energy.reason == "nvml: no driver"


def test_domain_not_covering_window_gives_null_not_partial_sum():
    samples = [
        (0.0, {"a.energy_j": 0.0, "b.energy_j": 0.0}),
        (1.0, {"a.energy_j": 5.0}),  # b stopped answering after t=0
        (2.0, {"a.energy_j": 10.0}),
    ]
    sources = [
        EnergySource("gpu0", "a.energy_j", "cumulative_j", "nvml-energy-counter"),
        EnergySource("gpu1", "b.energy_j", "cumulative_j", "nvml-energy-counter"),
    ]
    energy = window_energy(Series.from_readings(samples), sources, 0.5, 1.5)
    assert energy.energy_j is None
    assert "gpu1" in energy.reason
