"""Run a matrix: one fresh worker process and one independent sampler process per run.

Per run: spawn the worker (its own session, so the whole process group can be killed), spawn
the sampler process watching the worker's PID, wait for the sampler's ``ready``, send the
worker ``go``, wait for the worker with a timeout (``wait4``, which also yields the kernel's
exact CPU figure for the worker and every descendant it reaped), wait for the
sampler to follow any orphans to their end, then append ONE record to ``runs.jsonl``.

The ``teardown`` phase (from ``finish()`` returning to the worker's exit, where atexit hooks
run) is measured here, from the moment ``wait4`` reports the exit (20 ms polling).
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench import SCHEMA_VERSION
from bench.jsonio import read_json_or_none, write_json_atomic
from bench.matrix import LATER_FIELDS, MatrixSpec, RunSpec
from bench.reported import compare_reported
from bench.results import ResultsError, append_record, latest_records, read_meta, write_meta
from bench.samplers.base import EnergySource
from bench.samplers.series import Series, value_between, window_energy
from bench.services import Service, ServiceError
from bench.trackers import TELEMETRY_OFF_ENV, Tracker, TrackerOptions, make_tracker
from bench.verify import compare_recorded
from bench.versions import same_version, split_version
from bench.worker import PHASES, PROGRESS_FILE
from workloads.throughput import summarise_throughput

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CALL_KINDS = ("log", "histogram", "artifact")


@dataclass(frozen=True)
class RunnerOptions:
    """How runs are executed (not part of the matrix fingerprint)."""

    out_dir: Path
    timeout_s: float = 900.0
    sample_interval_s: float = 0.05
    orphan_grace_s: float = 30.0
    energy_samplers: tuple[str, ...] = ("nvml", "rapl")
    sampler_start_timeout_s: float = 60.0
    service_start_timeout_s: float = 120.0
    verify_timeout_s: float = 300.0
    python: str = sys.executable
    # ``NAME@VERSION`` configuration -> interpreter of its version's environment (worker,
    # read-back and service run there; bench.versions); other configurations use ``python``.
    tracker_pythons: Mapping[str, str] = field(default_factory=dict)

    def python_for(self, tracker: str) -> str:
        """The interpreter that runs configuration ``tracker``'s worker, service and read-back.

        A versioned configuration without its environment is a programming error: running it
        with this environment's release would record the wrong version's cost.
        """
        if split_version(tracker)[1] is None:
            return self.python
        try:
            return str(self.tracker_pythons[tracker])
        except KeyError:
            raise ValueError(f"no environment prepared for {tracker!r}") from None


class Interrupted(Exception):
    """The user interrupted the matrix (Ctrl-C); the current run was recorded as such."""


# --------------------------------------------------------------------------- directory


def check_writable(out_dir: Path) -> None:
    """Raise ``ResultsError`` unless ``out_dir`` exists writable or can be created."""
    probe = Path(out_dir).resolve()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ResultsError(f"{out_dir}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ResultsError(f"{out_dir}: not writable ({probe} does not allow writing)")


def prepare_directory(
    out_dir: Path, matrix: MatrixSpec, meta_facts: Callable[[], dict[str, Any]], command: str
) -> dict[str, dict[str, Any]]:
    """Create or reopen ``out_dir`` for ``matrix``; return the latest record of each run.

    A directory holding another matrix is refused (nothing is written to it).
    """
    check_writable(out_dir)
    out_dir = Path(out_dir)
    meta = read_meta(out_dir)
    if meta is not None:
        theirs = meta.get("matrix", {})
        ours = matrix.to_dict()
        if meta.get("matrix_fingerprint") != matrix.fingerprint():
            diff = [
                f"{key}: {theirs.get(key, LATER_FIELDS.get(key))!r} there, {ours[key]!r} now"
                for key in sorted(ours)
                if theirs.get(key, LATER_FIELDS.get(key)) != ours[key]
            ]
            raise ResultsError(
                f"{out_dir} holds runs of a different comparison ({'; '.join(diff) or 'spec'}). "
                "Use a new --out directory, or repeat the original command to resume it."
            )
        return latest_records(out_dir, repair_tail=True)
    if (out_dir / "runs.jsonl").exists():
        raise ResultsError(f"{out_dir} has runs.jsonl but no meta.json; refusing to mix results")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_meta(
        out_dir,
        {
            "matrix": matrix.to_dict(),
            "matrix_fingerprint": matrix.fingerprint(),
            "command": command,
            "created_at": _utc_now(),
            "environment": meta_facts(),
        },
    )
    return {}


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- processes


def _kill_tree(pid: int) -> list[int]:
    """SIGKILL ``pid``'s process group and its descendants (even those in other sessions)."""
    procs: list[psutil.Process] = []
    with suppress(psutil.Error):
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    killed = []
    for proc in procs:
        try:
            proc.kill()
            killed.append(proc.pid)
        except psutil.Error:
            pass
    return killed


def _reap(proc: subprocess.Popen, block: bool) -> tuple[int, Any] | None:
    """``wait4`` for ``proc``: its exit code and the kernel's rusage (``None`` if still running).

    The rusage covers the process and every descendant it reaped.
    """
    pid, wstatus, rusage = os.wait4(proc.pid, 0 if block else os.WNOHANG)
    if not pid:
        return None
    proc.returncode = os.waitstatus_to_exitcode(wstatus)  # so Popen never waits on it again
    return proc.returncode, rusage


def _wait_ready(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait for the sampler's ``ready`` line."""
    deadline = time.monotonic() + timeout_s
    fd = proc.stdout.fileno()
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:
                return False
            buf += chunk
            if b"ready\n" in buf:
                return True
        elif proc.poll() is not None:
            return False
    return False


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


# --------------------------------------------------------------------------- one run

INHERITED_TRACKER_PREFIXES = ("WANDB_", "MLFLOW_", "TRACKIO_", "CODECARBON_")
KEPT_TRACKER_VARIABLES = frozenset({"WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY"})
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def base_environment(inherited: Mapping[str, str]) -> dict[str, str]:
    """The environment of every process of a run, before the tracker's own variables.

    Tracker settings the user happens to have set (``MLFLOW_ENABLE_ASYNC_LOGGING``,
    ``TRACKIO_SPACE_ID``, ``WANDB_MODE``, ...) are dropped so that they cannot change what a
    configuration is; W&B's credentials, server URL and entity stay for ``wandb-online``.
    Telemetry is switched off, and local services are never reached through a proxy.
    """
    env = {
        k: v
        for k, v in inherited.items()
        if k in KEPT_TRACKER_VARIABLES or not k.startswith(INHERITED_TRACKER_PREFIXES)
    }
    env.update(TELEMETRY_OFF_ENV)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    for key in ("NO_PROXY", "no_proxy"):
        present = [h for h in env.get(key, "").split(",") if h]
        env[key] = ",".join([*present, *(h for h in LOCAL_HOSTS if h not in present)])
    return env


def run_one(spec: RunSpec, opts: RunnerOptions) -> dict[str, Any]:
    """Execute one run and return its record (not yet written)."""
    out_dir = Path(opts.out_dir).resolve()
    run_dir = out_dir / "work" / spec.run_id
    if run_dir.exists():
        shutil.rmtree(run_dir)  # leftovers of an attempt that left no ok record
    run_dir.mkdir(parents=True)
    write_json_atomic(run_dir / "spec.json", spec.to_dict(), indent=2)

    python = opts.python_for(spec.tracker)
    tracker = make_tracker(
        spec.tracker, run_dir, TrackerOptions(spec.sysmetrics_interval_s), python=python
    )
    env = base_environment(os.environ)
    sampler_env = dict(env)
    try:
        service = tracker.service()
        if service is not None:
            service.start_timeout_s = opts.service_start_timeout_s
        env.update(tracker.environment())  # after service(): it may name the service's port
    except Exception as exc:  # a broken adapter fails its run, not the matrix
        error = f"tracker {spec.tracker!r} could not prepare the run: {type(exc).__name__}: {exc}"
        return _failed_before_worker(spec, error, _utc_now(), run_dir.relative_to(out_dir))
    try:
        return _run_with_service(
            spec, opts, python, tracker, service, env, sampler_env, out_dir, run_dir
        )
    finally:
        if service is not None and service.proc is not None and service.proc.returncode is None:
            service.stop()  # an exception on the way: never leave the service running


def _failed_before_worker(
    spec: RunSpec,
    error: str,
    started_at: str,
    run_dir: Path,
    service: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of a run that failed before its worker started (tracker or service)."""
    return build_record(
        spec=spec,
        status="failed",
        error=error,
        started_at=started_at,
        wall_s=0.0,
        result={},
        samples=None,
        rusage=None,
        exit_code=None,
        killed=list((service or {}).get("killed_pids", [])),
        run_dir=run_dir,
        service=service,
    )


def _run_with_service(
    spec: RunSpec,
    opts: RunnerOptions,
    python: str,
    tracker: Tracker,
    service: Service | None,
    env: dict[str, str],
    sampler_env: dict[str, str],
    out_dir: Path,
    run_dir: Path,
) -> dict[str, Any]:
    spec_path = run_dir / "spec.json"
    result_path = run_dir / "result.json"
    samples_path = run_dir / "samples.json"
    worker_log = run_dir / "worker.log"
    sampler_log = run_dir / "sampler.log"
    started_at = _utc_now()
    if service is not None:
        try:
            service.start(sampler_env)
        except ServiceError as exc:
            stopped = service.stop()
            facts = {"name": service.name, "pid": service.pid, "start_s": None, **stopped}
            return _failed_before_worker(
                spec, str(exc), started_at, run_dir.relative_to(out_dir), facts
            )
    exit_t: float | None = None
    status, error = "ok", None
    rusage = None
    exit_code: int | None = None
    killed: list[int] = []
    interrupted = False
    with open(worker_log, "wb") as wlog, open(sampler_log, "wb") as slog:
        worker = subprocess.Popen(
            [
                python,
                "-m",
                "bench.worker",
                "--spec",
                str(spec_path),
                "--result",
                str(result_path),
            ],
            stdin=subprocess.PIPE,
            stdout=wlog,
            stderr=subprocess.STDOUT,
            cwd=run_dir,
            env=env,
            start_new_session=True,
        )
        sampler = subprocess.Popen(
            [
                opts.python,
                "-m",
                "bench.samplers.daemon",
                "--pid",
                str(worker.pid),
                "--out",
                str(samples_path),
                "--interval",
                str(opts.sample_interval_s),
                "--energy",
                ",".join(opts.energy_samplers),
                "--orphan-grace",
                str(opts.orphan_grace_s),
                *(["--service-pid", str(service.pid)] if service is not None else []),
            ],
            stdout=subprocess.PIPE,
            stderr=slog,
            cwd=run_dir,
            env=sampler_env,
            start_new_session=True,
        )
        t_start = time.monotonic()
        try:
            if not _wait_ready(sampler, opts.sampler_start_timeout_s):
                raise RuntimeError(
                    "sampler process did not start: " + (_tail(sampler_log) or "no output")
                )
            worker.stdin.write(b"go\n")
            worker.stdin.close()
            while True:
                reaped = _reap(worker, block=False)
                if reaped:
                    exit_t = time.monotonic()
                    exit_code, rusage = reaped
                    break
                if time.monotonic() - t_start > opts.timeout_s:
                    killed = _kill_tree(worker.pid)
                    exit_code, rusage = _reap(worker, block=True)
                    status = "timeout"
                    error = f"run exceeded the {opts.timeout_s:g} s timeout; process tree killed"
                    break
                time.sleep(0.02)
        except KeyboardInterrupt:
            interrupted = True
            status, error = "interrupted", "interrupted by the user (Ctrl-C)"
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            if worker.returncode is None:
                killed += _kill_tree(worker.pid)
                exit_code, rusage = _reap(worker, block=True)
            # From here on the run is recorded whatever happens: Ctrl-C is held back until
            # run_matrix has appended the record; a pending one cuts the orphan wait short.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            deadline = time.monotonic() + (0 if interrupted else opts.orphan_grace_s + 30)
            while sampler.poll() is None and time.monotonic() < deadline:
                if signal.SIGINT in signal.sigpending():
                    break
                time.sleep(0.05)
            if sampler.poll() is None:
                sampler.terminate()  # it writes what it has on SIGTERM
                try:
                    sampler.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    sampler.kill()
                    sampler.wait()
            if sampler.stdout:
                sampler.stdout.close()
    wall_s = time.monotonic() - t_start

    samples = read_json_or_none(samples_path)
    for pid in (samples or {}).get("alive_pids_at_stop", []):
        killed += _kill_tree(pid)  # orphans still running after the grace period
    result = read_json_or_none(result_path) or {}
    if "phase_reached" not in result:  # killed before writing its result
        started = _tail(run_dir / PROGRESS_FILE).split()
        result["phase_reached"] = started[-1] if started else None
    finish_mark = (result.get("marks") or {}).get("finish")
    if exit_t is not None and finish_mark and len(finish_mark) == 2:
        # atexit hooks (e.g. W&B tearing down wandb-core) run after finish() returns
        result["marks"]["teardown"] = [finish_mark[1], exit_t]
    if status == "ok":
        if exit_code != 0:
            status = "failed"
            if exit_code is not None and exit_code < 0:
                try:
                    error = f"worker killed by signal {signal.Signals(-exit_code).name}"
                except ValueError:
                    error = f"worker killed by signal {-exit_code}"
            else:
                error = result.get("error") or f"worker exited with code {exit_code}"
        elif result.get("phase_reached") != "done":
            status, error = "failed", "worker exited without a complete result"
        else:
            error = _version_mismatch(spec.tracker, result.get("tracker") or {})
            status = "failed" if error else status
    if status == "failed" and not result.get("error"):
        tail = _tail(worker_log, 1500)
        if tail:
            error = f"{error}\n--- worker log tail ---\n{tail}"
    recorded, reported = None, None
    if status == "ok" and signal.SIGINT in signal.sigpending():
        recorded = {
            "checked": False,
            "reason": "interrupted (Ctrl-C) before the read-back",
            "data_loss": None,
        }
    elif status == "ok":
        recorded, reported = _check_recorded(
            tracker, python, spec_path, result_path, result, env, opts
        )
    service_facts = None
    if service is not None:
        stopped = service.stop()
        service_facts = {
            "name": service.name,
            "pid": service.pid,
            "start_s": service.start_s,
            **stopped,
            "disk_bytes": _disk_bytes(run_dir / "server"),
            "rss_peak_bytes": (samples or {}).get("service_rss_peak_bytes"),
        }
        killed += stopped["killed_pids"]
    return build_record(
        spec=spec,
        status=status,
        error=error,
        started_at=started_at,
        wall_s=wall_s,
        result=result,
        samples=samples,
        rusage=rusage,
        exit_code=exit_code,
        killed=sorted(set(killed)),
        run_dir=run_dir.relative_to(out_dir),
        recorded=recorded,
        reported=reported,
        service=service_facts,
        tracker_disk_bytes=_disk_bytes(run_dir, exclude=HARNESS_FILES),
    )


HARNESS_FILES = frozenset(
    {
        "spec.json",
        "result.json",
        "samples.json",
        "recorded.json",
        "worker.log",
        "sampler.log",
        "verify.log",
        "service.log",
        PROGRESS_FILE,
        "checkpoints",  # the worker's own checkpoints, saved for every tracker
        "server",  # a service's store: counted as the service's
    }
)


def _disk_bytes(root: Path, exclude: frozenset[str] = frozenset()) -> int | None:
    """Bytes of the regular files under ``root`` (top-level names in ``exclude`` skipped)."""
    if not root.exists():
        return None
    total = 0
    for top in root.iterdir():
        if top.name in exclude:
            continue
        paths = [top] if not top.is_dir() else [p for p in top.rglob("*")]
        for path in paths:
            with suppress(OSError):
                if path.is_file() and not path.is_symlink():
                    total += path.stat().st_size
    return total


def _version_mismatch(config: str, tracker: dict[str, Any]) -> str | None:
    """Why a ``NAME@VERSION`` run's worker did not run that version (``None`` when it did).

    The worker reports the version its ``sys.path`` resolves (``tracker.version``) and where
    from (``tracker.location``); the request alone proves nothing.
    """
    requested = split_version(config)[1]
    if requested is None or same_version(tracker.get("version"), requested):
        return None
    return (
        f"the worker imported version {tracker.get('version')} "
        f"(from {tracker.get('location')}), not the requested {requested}"
    )


def _check_recorded(
    tracker: Tracker,
    python: str,
    spec_path: Path,
    result_path: Path,
    result: dict[str, Any],
    env: dict[str, str],
    opts: RunnerOptions,
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """Run the read-back in a fresh process: the record's ``tracker.recorded`` block, and the
    power and energy figures the tracker recorded (``None`` when the read-back failed)."""
    if not tracker.stores_data:
        return {
            "checked": False,
            "applicable": False,
            "reason": f"{tracker.config_name} stores nothing by design",
            "data_loss": None,
        }, []
    out = result_path.parent / "recorded.json"
    log = result_path.parent / "verify.log"
    argv = [python, "-m", "bench.verify", "--spec", str(spec_path)]
    argv += ["--result", str(result_path), "--out", str(out)]
    with open(log, "wb") as fh:
        try:
            subprocess.run(
                argv,
                cwd=result_path.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=opts.verify_timeout_s,
            )
        except subprocess.TimeoutExpired:
            return {
                "checked": False,
                "reason": f"read-back exceeded {opts.verify_timeout_s:g} s",
                "data_loss": None,
            }, None
    doc = read_json_or_none(out) or {"found": None, "error": "no output: " + _tail(log, 800)}
    if doc.get("found") is None:
        return {
            "checked": False,
            "reason": f"read-back failed: {doc.get('error')}",
            "data_loss": None,
        }, None
    reported = doc["found"].get("reported_energy")
    reported = reported if isinstance(reported, list) else []
    try:
        block = compare_recorded(result.get("sent") or {}, doc["found"])
    except Exception as exc:  # a malformed read-back must not stop the matrix
        return {
            "checked": False,
            "reason": f"read-back not comparable: {type(exc).__name__}: {exc}",
            "data_loss": None,
        }, reported
    block["read_back_s"] = doc.get("read_back_s")
    return block, reported


def duration_summary(durations_s: list[float]) -> dict[str, Any]:
    """Count, total, mean and percentiles (seconds) of durations (``None`` when empty)."""
    keys = ("total_s", "mean_s", "p50_s", "p90_s", "p99_s", "max_s")
    if not durations_s:
        return {"count": 0, **dict.fromkeys(keys)}
    d = np.asarray(durations_s, dtype=float)
    p50, p90, p99 = np.percentile(d, [50, 90, 99])
    values = (d.sum(), d.mean(), p50, p90, p99, d.max())
    return {"count": int(d.size), **{k: float(v) for k, v in zip(keys, values, strict=True)}}


# --------------------------------------------------------------------------- the record


def step_summary(durations_s: list[float]) -> dict[str, Any]:
    """Count, mean and percentiles (seconds) of per-step durations."""
    summary = duration_summary(durations_s)
    if summary["count"]:
        summary["timing"] = "host wall clock per step (time.perf_counter), logging included"
    return summary


def _energy_gaps(samples: dict[str, Any] | None) -> str:
    """Why each energy sampler is missing (``nvml: ...; rapl: ...``)."""
    if samples is None:
        return "the sampler process produced no data"
    unavailable = samples.get("unavailable", {})
    return "; ".join(
        f"{name}: {reason}"
        for name, reason in unavailable.items()
        if name not in ("proctree", "service")
    )


def _no_energy_reason(samples: dict[str, Any] | None) -> str:
    if samples is None:
        return _energy_gaps(samples)
    return "no energy sampler available on this host (" + _energy_gaps(samples) + ")"


def build_record(
    *,
    spec: RunSpec,
    status: str,
    error: str | None,
    started_at: str,
    wall_s: float,
    result: dict[str, Any],
    samples: dict[str, Any] | None,
    rusage: Any,
    exit_code: int | None,
    killed: list[int],
    run_dir: Path,
    recorded: dict[str, Any] | None = None,
    reported: list[dict[str, Any]] | None = None,
    service: dict[str, Any] | None = None,
    tracker_disk_bytes: int | None = None,
) -> dict[str, Any]:
    """Assemble the record for one run from the worker's result and the sampler's data.

    ``recorded``: the recorded-data check (``None`` when the run did not complete);
    ``reported``: the power and energy figures the tracker recorded itself (the read-back's
    ``reported_energy``, :mod:`bench.reported`; ``None`` when not read back);
    ``service``: start time, CPU, memory and disk of the tracker's service, if it has one.
    """
    sampled = samples or {}
    series = Series(sampled.get("t", []), sampled.get("channels", {}))
    sources = [EnergySource(**s) for s in sampled.get("sources", [])]
    reason = _no_energy_reason(samples) if not sources else None
    phases: dict[str, Any] = {}
    for phase in (*PHASES, "teardown"):
        mark = result.get("marks", {}).get(phase)
        if not mark or len(mark) != 2:
            continue
        t0, t1 = mark
        energy = window_energy(series, sources, t0, t1, reason)
        phases[phase] = {
            "wall_s": t1 - t0,
            "cpu_s": value_between(series, "proc.cpu_s", t0, t1),
            **(
                {"service_cpu_s": value_between(series, "service.cpu_s", t0, t1)}
                if service is not None
                else {}
            ),
            "energy_j": energy.energy_j,
            "energy_method": energy.method,
            "energy_reason": energy.reason,
            "energy_by_domain_j": energy.by_domain_j,
        }
    worker_cpu = rusage.ru_utime + rusage.ru_stime if rusage is not None else None
    orphan_cpu = sampled.get("orphan_cpu_s")
    cpu_total = worker_cpu + (orphan_cpu or 0.0) if worker_cpu is not None else None
    write_bytes = series.last("proc.write_bytes")
    described = sampled.get("describe") or {}
    processes = (described.get("proctree") or {}).get("processes")
    times = series.t
    tracker = dict(result.get("tracker") or {"name": spec.tracker, "version": None})
    calls = result.get("tracker_calls_s") or {}
    tracker["calls"] = {kind: duration_summary(calls.get(kind) or []) for kind in CALL_KINDS}
    tracker["calls_timing"] = "host wall clock per tracker call, measure window only"
    tracker["disk_bytes"] = tracker_disk_bytes
    tracker["recorded"] = recorded or {"checked": False, "reason": "the run did not complete"}
    tracker["reported_energy"] = {"checked": False, "reason": "the run did not complete"}
    if status == "ok":
        try:
            tracker["reported_energy"] = compare_reported(
                reported, result, series, sources, _energy_gaps(samples) or None
            )
        except Exception as exc:  # a malformed read-back must not stop the matrix
            tracker["reported_energy"] = {
                "checked": False,
                "reason": f"the tracker's figures are not comparable: {type(exc).__name__}: {exc}",
            }
    if service is not None:
        windows = [m for m in (result.get("marks") or {}).values() if len(m) == 2]
        service["cpu_s_during_run"] = (
            value_between(series, "service.cpu_s", windows[0][0], windows[-1][1])
            if windows
            else None
        )
        service["cpu_method"] = (
            "cpu_s: kernel rusage (wait4) of the service's whole life, start-up and read-back "
            "included; cpu_s_during_run and phases.*.service_cpu_s: sampled process tree"
        )
        service["processes"] = (described.get("service") or {}).get("processes")
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "status": status,
        "error": error,
        "started_at": started_at,
        "wall_s": wall_s,
        "spec": spec.to_dict(),
        "phases": phases,
        "phase_reached": result.get("phase_reached"),
        "steps": step_summary(result.get("step_durations_s") or []),
        "process": {
            "cpu_s": cpu_total,
            "cpu_method": "kernel rusage of the worker and reaped descendants (wait4) "
            "+ sampled CPU of descendants it never reaped",
            "worker_cpu_s": worker_cpu,
            "orphan_cpu_s": orphan_cpu,
            "rss_peak_bytes": sampled.get("rss_peak_bytes"),
            "rss_peak_method": "peak of the summed RSS of the live process tree, sampled",
            # sampled: wait4's ru_maxrss would carry the runner's own peak across fork/exec
            "worker_rss_peak_bytes": sampled.get("root_rss_peak_bytes"),
            "write_bytes": int(write_bytes) if write_bytes is not None else None,
            "exit_code": exit_code,
            "processes": processes,
            "killed_pids": killed,
        },
        "sampler": {
            "interval_s": sampled.get("interval_s"),
            "sample_count": len(times),
            "achieved_interval_s": float(np.median(np.diff(times))) if len(times) > 2 else None,
            "cpu_s": sampled.get("sampler_cpu_s"),
            "loop_cpu_s": sampled.get("sampler_loop_cpu_s"),
            "sources": [s.to_dict() for s in sources],
            "unavailable": sampled.get("unavailable"),
            "errors": sampled.get("errors"),
            "devices": {k: v for k, v in described.items() if k not in ("proctree", "service")},
        },
        "tracker": tracker,
        "data_loss": tracker["recorded"].get("data_loss"),
        "service": service,
        "throughput": summarise_throughput(
            result.get("workload"),
            spec.steps,
            phases.get("measure", {}).get("wall_s"),
            (result.get("torch") or {}).get("device_name"),
            spec.precision,
        ),
        "workload": {
            "config": result.get("workload"),
            "torch": result.get("torch"),
            "last_metrics": result.get("last_metrics"),
        },
        "clock": result.get("clock"),
        "files": {"run_dir": str(run_dir)},
    }


# --------------------------------------------------------------------------- the matrix


def run_matrix(
    runs: list[RunSpec],
    done: dict[str, dict[str, Any]],
    opts: RunnerOptions,
    on_start: Callable[[RunSpec], None] = lambda spec: None,
    on_done: Callable[[RunSpec, dict[str, Any]], None] = lambda spec, rec: None,
) -> list[dict[str, Any]]:
    """Run every run not already ``ok`` in ``done``; append each record as it completes.

    Returns the new records. Raises :class:`Interrupted` after recording the interrupted run.
    """
    new: list[dict[str, Any]] = []
    for spec in runs:
        previous = done.get(spec.run_id)
        if previous is not None and previous.get("status") == "ok":
            continue
        on_start(spec)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, set())
        try:
            record = run_one(spec, opts)  # holds Ctrl-C back from its clean-up on
            append_record(opts.out_dir, record)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a held-back Ctrl-C lands here
        new.append(record)
        on_done(spec, record)
        if record["status"] == "interrupted":
            raise Interrupted(spec.run_id)
    return new
