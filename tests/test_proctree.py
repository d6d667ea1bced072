import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from bench.samplers.base import SamplerUnavailable
from bench.samplers.proctree import ProcessTreeSampler

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"

PARENT = textwrap.dedent(f"""
    import subprocess, sys, time
    sys.stdin.readline()
    # a child the parent waits for (its CPU ends up in the parent's children_* times)
    subprocess.run([sys.executable, "-c", {BURN.format(s=0.6)!r}])
    # a detached child in a session of its own that outlives the parent (like wandb-core)
    late = "import time; time.sleep(0.3)\\n" + {BURN.format(s=1.0)!r}
    subprocess.Popen([sys.executable, "-c", late], start_new_session=True)
    time.sleep(0.1)
""")


def test_tree_cpu_includes_reaped_children_and_orphans():
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE)
    sampler = ProcessTreeSampler(proc.pid)
    sampler.open()
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    readings = []
    deadline = time.monotonic() + 30
    while not sampler.all_exited and time.monotonic() < deadline:
        readings.append(sampler.read())
        if proc.poll() is not None:
            pass  # reaped by us: outside the tree, like the runner reaping the worker
        time.sleep(0.02)
    assert sampler.all_exited
    cpu = [r["proc.cpu_s"] for r in readings]
    assert all(b >= a - 1e-9 for a, b in zip(cpu, cpu[1:], strict=False)), "must be cumulative"
    # 0.6 s (reaped child) + 1.0 s (orphan) + interpreter start-ups; sampling loses < 1 period
    assert cpu[-1] >= 1.5
    assert 0.8 <= sampler.orphan_cpu_s() <= 1.3
    names = [p for p in sampler.describe()["processes"]]
    assert sum(1 for p in names if p["orphan"]) == 1


def test_peak_rss_covers_the_tree():
    code = (
        "import sys; sys.stdin.readline(); b = bytearray(200 * 2**20); import time; time.sleep(0.5)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    sampler = ProcessTreeSampler(proc.pid)
    sampler.open()
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    while not sampler.all_exited:
        sampler.read()
        proc.poll()
        time.sleep(0.02)
    assert sampler.rss_peak_bytes >= 200 * 2**20


def test_missing_process_is_unavailable():
    pid = max(psutil.pids()) + 100000
    with pytest.raises(SamplerUnavailable, match=str(pid)):
        ProcessTreeSampler(pid).open()
