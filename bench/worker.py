"""The worker: one training run in a fresh process, ``python -m bench.worker``.

Started by the runner with a run spec (JSON file). It waits for ``go`` on stdin (sent once the
independent sampler is ready), then runs the phases ``import``, ``setup``, ``init``, ``warmup``,
``measure`` and ``finish``, marking each with ``time.monotonic()`` (a clock shared by every
process on the host, so the sampler can attribute energy and CPU per phase). It writes one JSON
result (atomically) with the marks, the per-step durations, the duration of every tracker call
in the measure window, what the tracker ran with (settings, threads and processes it started,
the handle of the stored run) and what it was sent (``sent``: values per metric key, histograms,
artifacts), which the recorded-data check (``bench.verify``) compares with what it stored.

The logging profile (``spec["profile"]``) decides what a logged step carries; its data are
computed for every tracker, ``none`` included, so only the tracker calls differ.

This module imports nothing heavy at module level: importing torch and the tracker library is
what the ``import`` phase measures.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

PHASES = ("import", "setup", "init", "warmup", "measure", "finish")
PROGRESS_FILE = "phases.log"


def run_worker(spec: dict[str, Any], run_dir: Path, result: dict[str, Any]) -> None:
    """Run the phases for ``spec``, filling ``result`` as it goes (marks in monotonic seconds).

    ``result`` is filled in place so that a failure keeps the marks of the phases that ran.
    """
    marks: dict[str, list[float]] = {}
    result.update(marks=marks, phase_reached=None)
    # Phase starts also go to a line file as they happen, so that the runner can tell where a
    # worker it had to kill (timeout, SIGKILL) was; opened once, outside every timed phase.
    progress = open(run_dir / PROGRESS_FILE, "a", buffering=1)  # noqa: SIM115

    def begin(phase: str) -> None:
        result["phase_reached"] = phase
        marks[phase] = [time.monotonic()]
        progress.write(phase + "\n")

    def end(phase: str) -> None:
        marks[phase].append(time.monotonic())

    begin("import")
    import psutil
    import torch

    from bench.profiles import Profile, ScalarSource
    from bench.trackers import TrackerOptions, make_tracker
    from workloads.base import Options
    from workloads.registry import load_workload

    torch.set_num_threads(int(spec["threads"]))
    tracker = make_tracker(
        spec["tracker"], run_dir, TrackerOptions(spec.get("sysmetrics_interval_s"))
    )
    t0 = time.perf_counter()
    tracker.load()
    tracker_import_s = time.perf_counter() - t0
    end("import")
    result["tracker"] = {
        "name": tracker.config_name,
        "version": tracker.version(),
        "location": tracker.location(),
        "settings": tracker.settings(),
        "import_s": tracker_import_s,
    }

    begin("setup")
    device = torch.device(spec["device"])
    if device.type == "cuda":
        if device.index is None:  # "cuda": the current device, named by its index
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    result["torch"] = {
        "version": torch.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
    }

    def synchronise() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    workload = load_workload(spec["workload"])()
    options = Options(
        precision=spec.get("precision", "fp32"),
        compile=bool(spec.get("compile", False)),
        loader_workers=int(spec.get("loader_workers", 0)),
    )
    workload.build(spec["preset"], device, int(spec["seed"]), options)
    profile = Profile(**spec["profile"])
    checkpoints = run_dir / "checkpoints"
    if profile.artifact_every:
        checkpoints.mkdir(exist_ok=True)
    synchronise()
    result["workload"] = workload.config()
    end("setup")
    samples_per_step = result["workload"]["samples_per_step"]
    tokens_per_step = result["workload"]["tokens_per_step"]
    rate_keys = 2 if tokens_per_step else 1  # samples_per_s (and tokens_per_s) in each log
    source = ScalarSource(profile, workload.model, rate_keys)
    config = {
        "workload": spec["workload"],
        "preset": spec["preset"],
        "profile": profile.name,
        **result["workload"],
    }

    me = psutil.Process()
    threads = {"before_init": me.num_threads()}
    python_threads = {t.ident for t in threading.enumerate()}
    children = {c.pid for c in me.children(recursive=True)}  # DataLoader workers, if any
    begin("init")
    tracker.init(spec["run_id"], config)
    end("init")
    threads["after_init"] = me.num_threads()
    result["tracker"]["python_threads_started"] = sorted(
        t.name for t in threading.enumerate() if t.ident not in python_threads
    )
    result["tracker"]["processes_started"] = sorted(
        _name(c) for c in me.children(recursive=True) if c.pid not in children
    )

    sent_metrics: Counter[str] = Counter()
    sent = {"histograms": 0, "artifacts": 0}
    calls_s: dict[str, list[float]] = {"log": [], "histogram": [], "artifact": []}

    def loop(first: int, count: int, durations: list[float] | None) -> dict[str, float]:
        """Steps ``first..first+count-1``, logging as the profile says.

        Each tracker call is timed (``calls_s``, measure window only). A logged step carries
        the throughput since the previous logged step (timed after materialising, which
        synchronises with the device), as a training script would.
        """
        last: dict[str, float] = {}
        previous = (first - 1, time.perf_counter())

        def timed(kind: str, call: Any, *args: Any) -> None:
            t = time.perf_counter()
            call(*args)
            if durations is not None:
                calls_s[kind].append(time.perf_counter() - t)

        for i in range(first, first + count):
            t0 = time.perf_counter()
            metrics = workload.step(i)
            if i % profile.every == 0:
                last, extras = source.materialise(metrics)  # one device synchronisation
                now = time.perf_counter()
                elapsed = now - previous[1]
                last["samples_per_s"] = (i - previous[0]) * samples_per_step / elapsed
                if tokens_per_step:
                    last["tokens_per_s"] = (i - previous[0]) * tokens_per_step / elapsed
                previous = (i, now)
                scalars = source.scalars(last, extras)
                timed("log", tracker.log, i, scalars)
                sent_metrics.update(scalars.keys())
            if profile.histogram_every and i % profile.histogram_every == 0:
                hist = source.weight_histogram()
                if tracker.supports_histograms:
                    timed("histogram", tracker.log_histogram, i, "weights", hist)
                    sent["histograms"] += 1
            if profile.artifact_every and i % profile.artifact_every == 0:
                path = checkpoints / f"step_{i:06d}.pt"
                torch.save(workload.model.state_dict(), path)
                if tracker.supports_artifacts:
                    timed("artifact", tracker.log_artifact, i, path)
                    sent["artifacts"] += 1
            if durations is not None:
                durations.append(time.perf_counter() - t0)
        return last

    begin("warmup")
    warm = int(spec["warmup_steps"])
    loop(0, warm, None)
    synchronise()
    end("warmup")

    # Trackers timestamp their own samples on the wall clock: this maps them onto the marks.
    result["clock"] = {"unix_minus_monotonic_s": time.time() - time.monotonic()}
    durations: list[float] = []
    begin("measure")  # the device is idle: warm-up ended with a synchronise
    last = loop(warm, int(spec["steps"]), durations)
    synchronise()
    end("measure")
    workload.close()  # DataLoader workers stop here, outside every timed phase

    begin("finish")
    tracker.finish()
    end("finish")
    threads["after_finish"] = me.num_threads()
    result["tracker"]["threads"] = threads
    result["tracker"]["handle"] = tracker.handle()

    result.update(
        step_durations_s=durations,
        tracker_calls_s=calls_s,
        sent={
            "metrics": dict(sent_metrics),
            "histograms": sent["histograms"] if tracker.supports_histograms else None,
            "artifacts": sent["artifacts"] if tracker.supports_artifacts else None,
        },
        last_metrics={k: (v if math.isfinite(v) else None) for k, v in last.items()},
        phase_reached="done",
    )
    progress.close()


def _name(proc: Any) -> str:
    try:
        return proc.name()
    except Exception:  # exited meanwhile
        return f"pid {proc.pid} (exited)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--spec", type=Path, required=True, help="run spec JSON file")
    parser.add_argument("--result", type=Path, required=True, help="result JSON file to write")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for 'go' on stdin")
    args = parser.parse_args(argv)
    spec = json.loads(args.spec.read_text())
    if not args.no_wait and sys.stdin.readline().strip() != "go":
        print("worker: stdin closed before 'go'; not running", file=sys.stderr)
        return 3
    result: dict[str, Any] = {}
    try:
        run_worker(spec, args.result.parent, result)
        result["error"] = None
        code = 0
    except BaseException as exc:  # the runner needs the error text whatever it is
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
        code = 1
    from bench.jsonio import write_json_atomic

    write_json_atomic(args.result, result)
    return code


if __name__ == "__main__":
    sys.exit(main())
