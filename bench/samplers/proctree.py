"""Process-tree sampler: CPU, RSS and bytes written by a worker and every process it spawns.

Trackers start helper processes (W&B's ``wandb-core`` runs in a session of its own, so it is
outside the worker's process group, and it can outlive ``wandb.finish()``). This sampler follows
every descendant it has ever seen until it exits, including descendants that were re-parented
after the worker exited ("orphans").

CPU accounting, per reading: for each live process, ``user + system + children_user +
children_system`` (a child that its parent has reaped is already inside the parent's
``children_*``), plus the last reading of every dead process whose parent was not in the tree to
reap it. The result is cumulative CPU seconds of the tree (``proc.cpu_s``). The runner's exact
total comes from the kernel (``wait4`` rusage of the worker); this sampler supplies the per-phase
split and the CPU of orphans that the worker never reaped (``orphan_cpu_s``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.samplers.base import Sampler, SamplerUnavailable


@dataclass
class _Tracked:
    proc: psutil.Process
    name: str
    ppid: int
    cpu_s: float = 0.0
    write_bytes: int = 0
    alive: bool = True
    orphan: bool = False
    first_seen_t: float = field(default_factory=time.monotonic)


class ProcessTreeSampler(Sampler):
    """Samples the process tree rooted at ``root_pid``.

    Channels (prefix ``proc``; ``service`` for a tracker's service instead): ``proc.cpu_s``
    (cumulative CPU seconds of the tree), ``proc.rss_bytes`` (sum of resident memory of the
    live tree, bytes), ``proc.write_bytes`` (cumulative bytes the tree sent to the storage
    layer, from ``/proc/PID/io``), ``proc.count`` (live processes).
    """

    name = "proctree"

    def __init__(self, root_pid: int, prefix: str = "proc") -> None:
        self.root_pid = root_pid
        self.prefix = prefix
        self._tracked: dict[tuple[int, float], _Tracked] = {}
        self._dead_carry_cpu_s = 0.0
        self._dead_write_bytes = 0
        self.root_exit_t: float | None = None
        self.rss_peak_bytes = 0
        self.root_rss_peak_bytes = 0
        self._io_supported = True

    def open(self) -> None:
        try:
            root = psutil.Process(self.root_pid)
            root.cpu_times()
        except psutil.Error as exc:
            raise SamplerUnavailable(f"cannot observe process {self.root_pid}: {exc}") from exc
        self._root = self._track(root)
        if self._root is None:
            raise SamplerUnavailable(f"process {self.root_pid} exited before sampling began")

    def _track(self, proc: psutil.Process) -> _Tracked | None:
        try:
            key = (proc.pid, proc.create_time())
            if key not in self._tracked:
                self._tracked[key] = _Tracked(proc=proc, name=proc.name(), ppid=proc.ppid())
            return self._tracked[key]
        except psutil.Error:
            return None

    def _tree_pids(self) -> set[int]:
        return {t.proc.pid for t in self._tracked.values() if t.alive}

    def _root_alive(self) -> bool:
        if not self._root.alive:
            return False
        try:
            return self._root.proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def read(self) -> dict[str, float]:
        now = time.monotonic()
        root_alive = self._root_alive()
        if root_alive:
            try:
                for child in self._root.proc.children(recursive=True):
                    self._track(child)
            except psutil.Error:
                root_alive = False
        if not root_alive and self.root_exit_t is None:
            self.root_exit_t = now
            for (pid, _), t in self._tracked.items():
                # Still running (zombies included) after the worker is gone: nobody in the tree
                # will reap it, so its CPU is not in the worker's rusage. A child the worker
                # reaped just before exiting is no longer running and stays un-orphaned.
                if pid != self.root_pid and t.alive and t.proc.is_running():
                    t.orphan = True
        live_cpu = 0.0
        rss = 0
        live_write = 0
        count = 0
        tree_pids = self._tree_pids()
        for t in self._tracked.values():
            if not t.alive:
                continue
            try:
                with t.proc.oneshot():
                    ct = t.proc.cpu_times()
                    mem = t.proc.memory_info().rss
                    t.ppid = t.proc.ppid()
                    wb = self._write_bytes(t.proc)
                    status = t.proc.status()
            except psutil.Error:
                self._mark_dead(t, tree_pids)
                continue
            t.cpu_s = ct.user + ct.system + ct.children_user + ct.children_system
            t.write_bytes = max(t.write_bytes, wb)
            if t.ppid not in tree_pids and t.proc.pid != self.root_pid:
                t.orphan = True
            live_cpu += t.cpu_s
            live_write += t.write_bytes
            if status != psutil.STATUS_ZOMBIE:
                rss += mem
                count += 1
                if t.proc.pid == self.root_pid:
                    self.root_rss_peak_bytes = max(self.root_rss_peak_bytes, mem)
        self.rss_peak_bytes = max(self.rss_peak_bytes, rss)
        p = self.prefix
        return {
            f"{p}.cpu_s": live_cpu + self._dead_carry_cpu_s,
            f"{p}.rss_bytes": float(rss),
            f"{p}.write_bytes": float(live_write + self._dead_write_bytes),
            f"{p}.count": float(count),
        }

    def _write_bytes(self, proc: psutil.Process) -> int:
        if not self._io_supported:
            return 0
        try:
            return int(proc.io_counters().write_bytes)
        except (AttributeError, NotImplementedError):
            self._io_supported = False
            return 0
        except psutil.AccessDenied:
            return 0  # /proc/PID/io of a non-dumpable process; the process itself is alive

    def _mark_dead(self, t: _Tracked, tree_pids: set[int]) -> None:
        t.alive = False
        # A dead process reaped by a parent inside the tree is already in that parent's
        # children_* CPU times and /proc/PID/io; only one whose parent is outside the tree
        # needs carrying. The root is carried too, so the cumulative channels never drop.
        is_root = t.proc.pid == self.root_pid
        if is_root or t.orphan or t.ppid not in tree_pids:
            t.orphan = not is_root
            self._dead_carry_cpu_s += t.cpu_s
            self._dead_write_bytes += t.write_bytes

    @property
    def all_exited(self) -> bool:
        """True once the root and every descendant ever seen have exited."""
        return all(not t.alive for t in self._tracked.values())

    def alive_pids(self) -> list[int]:
        """PIDs of tracked processes still alive (e.g. orphans to clean up)."""
        return sorted(t.proc.pid for t in self._tracked.values() if t.alive)

    def orphan_cpu_s(self) -> float:
        """CPU seconds of processes the worker never reaped (last sampled value)."""
        return float(sum(t.cpu_s for t in self._tracked.values() if t.orphan))

    def describe(self) -> dict[str, Any]:
        return {
            "root_pid": self.root_pid,
            "processes": [
                {
                    "pid": t.proc.pid,
                    "name": t.name,
                    "cpu_s": round(t.cpu_s, 6),
                    "orphan": t.orphan,
                    "alive_at_end": t.alive,
                }
                for t in sorted(self._tracked.values(), key=lambda x: x.first_seen_t)
            ],
            "io_counters_supported": self._io_supported,
        }
