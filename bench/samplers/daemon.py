"""The sampler process: ``python -m bench.samplers.daemon --pid PID --out FILE``.

Runs outside the training worker. Opens every sampler that works on this host (the process tree
always; NVML and RAPL where present, with the reason recorded where not), prints ``ready`` on
stdout, then reads all samplers every ``--interval`` seconds until the worker and every process
it spawned have exited (or ``--orphan-grace`` seconds after the worker exited, or SIGTERM). It
then writes one JSON document to ``--out`` (atomically) with the time series, the energy sources,
the samplers' descriptions, the reasons for unavailable samplers, and its own CPU time.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench.jsonio import write_json_atomic
from bench.samplers.base import EnergySource, Sampler, SamplerError, SamplerUnavailable
from bench.samplers.proctree import ProcessTreeSampler
from bench.samplers.series import Series

ENERGY_SAMPLERS = ("nvml", "rapl")
SERVICE_PERIOD_S = 0.5


def make_energy_sampler(name: str) -> Sampler:
    """Instantiate an energy sampler by name (``nvml`` or ``rapl``)."""
    if name == "nvml":
        from bench.samplers.nvml import NvmlSampler

        return NvmlSampler()
    if name == "rapl":
        from bench.samplers.rapl import RaplSampler

        return RaplSampler()
    raise ValueError(f"unknown sampler {name!r}; valid: {', '.join(ENERGY_SAMPLERS)}")


def run(
    pid: int,
    out: Path,
    interval_s: float,
    energy: tuple[str, ...],
    orphan_grace_s: float,
    service_pid: int | None = None,
) -> int:
    cpu_start = time.process_time()
    stop = False

    def _on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    tree = ProcessTreeSampler(pid)
    samplers: list[Sampler] = []
    unavailable: dict[str, str] = {}
    errors: list[str] = []
    try:
        tree.open()
    except SamplerUnavailable as exc:
        unavailable["proctree"] = exc.reason
    else:
        samplers.append(tree)
    for name in energy:
        try:
            sampler = make_energy_sampler(name)
            sampler.open()
        except SamplerUnavailable as exc:
            unavailable[name] = exc.reason
        except Exception as exc:  # a broken driver must not take the run down with it
            unavailable[name] = f"{type(exc).__name__}: {exc}"
        else:
            samplers.append(sampler)
    sources: list[EnergySource] = [s for smp in samplers for s in smp.energy_sources()]
    # A tracker's service (an MLflow server: 15 processes) is sampled beside the worker, but
    # only every SERVICE_PERIOD_S, so that the sampler's own CPU stays close to other runs'.
    service = None
    service_every = max(1, round(SERVICE_PERIOD_S / interval_s))
    if service_pid is not None:
        service = ProcessTreeSampler(service_pid, prefix="service")
        try:
            service.open()
        except SamplerUnavailable as exc:
            unavailable["service"] = exc.reason
            service = None

    print("ready", flush=True)
    cpu_loop_start = time.process_time()
    readings: list[tuple[float, dict[str, float]]] = []
    next_t = time.monotonic()
    tick = 0
    while True:
        t = time.monotonic()
        reading: dict[str, float] = {}
        for smp in list(samplers):
            try:
                reading.update(smp.read())
            except SamplerError as exc:
                errors.append(f"{smp.name} failed at t={t:.3f}: {exc}; sampler stopped")
                # Its energy sources stay listed: windows after the failure are then not
                # covered by samples and come out null with a reason, never as a partial sum.
                samplers.remove(smp)
                smp.close()
        last = (
            stop
            or tree.all_exited
            or (tree.root_exit_t is not None and t - tree.root_exit_t > orphan_grace_s)
        )
        if service is not None and (tick % service_every == 0 or last):
            try:
                reading.update(service.read())
            except SamplerError as exc:
                errors.append(f"service sampler failed at t={t:.3f}: {exc}; stopped")
                service = None
        tick += 1
        readings.append((t, reading))
        if last:
            break
        next_t += interval_s
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_t = time.monotonic()  # fell behind: do not burst to catch up
    cpu_end = time.process_time()
    descriptions = {smp.name: smp.describe() for smp in samplers}
    descriptions["proctree"] = tree.describe()
    if service is not None:
        descriptions["service"] = service.describe()
    for smp in samplers:
        smp.close()
    series = Series.from_readings(readings)
    doc = {
        "interval_s": interval_s,
        "sample_count": len(series.t),
        "t": series.t,
        "channels": series.channels,
        "sources": [s.to_dict() for s in sources],
        "unavailable": unavailable,
        "errors": errors,
        "describe": descriptions,
        "root_exit_t": tree.root_exit_t,
        "orphan_cpu_s": tree.orphan_cpu_s(),
        "rss_peak_bytes": tree.rss_peak_bytes,
        "root_rss_peak_bytes": tree.root_rss_peak_bytes,
        "service_rss_peak_bytes": service.rss_peak_bytes if service is not None else None,
        "alive_pids_at_stop": tree.alive_pids(),
        "sampler_cpu_s": cpu_end - cpu_start,
        "sampler_loop_cpu_s": cpu_end - cpu_loop_start,
        "stopped_by_signal": stop,
    }
    write_json_atomic(out, doc)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.samplers.daemon")
    parser.add_argument("--pid", type=int, required=True, help="worker process id")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between readings")
    parser.add_argument(
        "--energy",
        default=",".join(ENERGY_SAMPLERS),
        help="comma-separated energy samplers to try (nvml,rapl); empty for none",
    )
    parser.add_argument("--orphan-grace", type=float, default=30.0, help="seconds")
    parser.add_argument("--service-pid", type=int, help="a service's process to sample too")
    args = parser.parse_args(argv)
    energy = tuple(x for x in args.energy.split(",") if x)
    return run(args.pid, args.out, args.interval, energy, args.orphan_grace, args.service_pid)


if __name__ == "__main__":
    sys.exit(main())
