"""Services a tracker configuration needs running beside the worker (e.g. an MLflow server).

The runner starts the service before the worker, in a session of its own, waits for its health
URL to answer 200, and stops it (SIGTERM to the process group, SIGKILL after a grace period)
after the run and its recorded-data check. The kernel's exact CPU figure for the service comes
from ``wait4`` at stop; the independent sampler watches its process tree during the run.
Services bind to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil


class ServiceError(Exception):
    """A service did not start (exited, or not healthy in time); carries its log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A process to run during one run.

    ``argv`` is started in ``cwd`` with ``env`` added to the environment; ``health_url`` is
    polled every 0.2 s until it answers HTTP 200, for at most ``start_timeout_s`` seconds.
    """

    name: str
    argv: list[str]
    health_url: str
    cwd: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 120.0
    stop_grace_s: float = 10.0
    proc: subprocess.Popen | None = field(default=None, init=False)
    start_s: float | None = field(default=None, init=False)
    stopped: dict[str, Any] | None = field(default=None, init=False)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def log_tail(self, limit: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def start(self, base_env: dict[str, str]) -> None:
        """Start the process and wait until healthy; on failure stop it and raise."""
        env = {**base_env, **self.env}
        t0 = time.monotonic()
        try:
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    self.argv,
                    cwd=self.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            raise ServiceError(f"{self.name} could not be started: {exc}") from exc
        deadline = t0 + self.start_timeout_s
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.stop()
                raise ServiceError(
                    f"{self.name} exited with code {code} before becoming healthy\n"
                    f"--- {self.name} log tail ---\n{self.log_tail()}"
                )
            if _healthy(self.health_url):
                self.start_s = time.monotonic() - t0
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceError(
                    f"{self.name} did not answer {self.health_url} with 200 within "
                    f"{self.start_timeout_s:g} s; stopped it\n"
                    f"--- {self.name} log tail ---\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def stop(self) -> dict[str, Any]:
        """Stop the whole process tree; return the kernel's CPU figure and what had to be killed.

        ``cpu_s`` is the ``wait4`` rusage of the service's main process and every descendant it
        reaped (its whole life: start-up, the run, the recorded-data check).
        """
        if self.stopped is not None:
            return self.stopped
        out: dict[str, Any] = {"cpu_s": None, "exit_code": None, "killed_pids": []}
        if self.proc is None:
            return out
        self.stopped = out
        try:
            tree = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(True)]
        except psutil.Error:
            tree = []
        if self.proc.returncode is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace_s
        rusage = None
        while self.proc.returncode is None and time.monotonic() < deadline:
            pid, status, rusage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.05)
        if self.proc.returncode is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            _, status, rusage = os.wait4(self.proc.pid, 0)
            self.proc.returncode = os.waitstatus_to_exitcode(status)
            out["killed_pids"].append(self.proc.pid)
        killed = []
        for proc in tree[1:]:  # descendants that left the process group, or ignored SIGTERM
            with suppress(psutil.Error):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    proc.kill()
                    killed.append(proc)
                    out["killed_pids"].append(proc.pid)
        psutil.wait_procs(killed, timeout=5)
        if rusage is not None:
            out["cpu_s"] = rusage.ru_utime + rusage.ru_stime
        out["exit_code"] = self.proc.returncode
        return out


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False
