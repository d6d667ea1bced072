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
    _descendants: dict[int, psutil.Process] = field(default_factory=dict, init=False)
    _rusage: Any = field(default=None, init=False)

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
            self._remember_descendants()
            if self._reap(block=False):
                code = self.proc.returncode
                self.stop()
                raise ServiceError(
                    f"{self.name} exited with code {code} before becoming healthy\n"
                    f"--- {self.name} log tail ---\n{self.log_tail()}"
                )
            if _healthy(self.health_url):
                self.start_s = time.monotonic() - t0
                self._remember_descendants()
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceError(
                    f"{self.name} did not answer {self.health_url} with 200 within "
                    f"{self.start_timeout_s:g} s; stopped it\n"
                    f"--- {self.name} log tail ---\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def _remember_descendants(self) -> None:
        """Note every descendant seen, so that stop() finds them even after the main one died."""
        with suppress(psutil.Error):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self._descendants.setdefault(child.pid, child)

    def _reap(self, block: bool) -> bool:
        """``wait4`` for the main process (keeping its rusage); True once it has exited."""
        if self.proc.returncode is not None:
            return True
        pid, status, rusage = os.wait4(self.proc.pid, 0 if block else os.WNOHANG)
        if not pid:
            return False
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._rusage = rusage
        return True

    def stop(self) -> dict[str, Any]:
        """Stop the whole process tree; return the kernel's CPU figure and what had to be killed.

        ``cpu_s`` is the ``wait4`` rusage of the service's main process and every descendant it
        reaped (its whole life: start-up, the run, the recorded-data check). Ctrl-C is held back
        until every process is gone.
        """
        if self.stopped is not None:
            return self.stopped
        out: dict[str, Any] = {"cpu_s": None, "exit_code": None, "killed_pids": []}
        if self.proc is None:
            return out
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            if self.proc.returncode is None:
                self._remember_descendants()
            group = self.proc.pid  # its session's process group outlives a dead leader
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_grace_s
            while not self._reap(block=False) and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.proc.returncode is None:
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
                self._reap(block=True)
                out["killed_pids"].append(self.proc.pid)
            killed = []
            for proc in self._descendants.values():  # still running: ignored SIGTERM, or
                with suppress(psutil.Error):  # left the group, or orphaned by a dead leader
                    if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                        proc.kill()
                        killed.append(proc)
                        out["killed_pids"].append(proc.pid)
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)  # any member never seen as a descendant
            psutil.wait_procs(killed, timeout=5)
            if self._rusage is not None:
                out["cpu_s"] = self._rusage.ru_utime + self._rusage.ru_stime
            out["exit_code"] = self.proc.returncode
            self.stopped = out
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return out


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _healthy(url: str) -> bool:
    """True when ``url`` answers 200 (never through a proxy: services are on 127.0.0.1)."""
    try:
        with _NO_PROXY.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False
