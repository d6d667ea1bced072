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


def _follow(code: str) -> tuple[ProcessTreeSampler, list[dict[str, float]]]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    sampler = ProcessTreeSampler(proc.pid)
    sampler.open()
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    readings = []
    deadline = time.monotonic() + 30
    while not sampler.all_exited and time.monotonic() < deadline:
        readings.append(sampler.read())
        proc.poll()  # the test reaps the root, as the runner does
        time.sleep(0.02)
    return sampler, readings


def test_tree_cpu_includes_reaped_children_and_orphans():
    sampler, readings = _follow(PARENT)
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
    sampler, _ = _follow(code)
    assert sampler.rss_peak_bytes >= 200 * 2**20


def test_missing_process_is_unavailable():
    pid = max(psutil.pids()) + 100000
    with pytest.raises(SamplerUnavailable, match=str(pid)):
        ProcessTreeSampler(pid).open()


def test_child_reaped_just_before_the_root_exits_is_not_counted_twice():
    # the root waits for its child and exits at once (W&B's atexit teardown of wandb-core)
    code = (
        "import subprocess, sys; sys.stdin.readline(); "
        f"subprocess.run([sys.executable, '-c', {BURN.format(s=1.0)!r}])"
    )
    for _ in range(3):
        sampler, readings = _follow(code)
        assert sampler.orphan_cpu_s() == 0.0
        assert readings[-1]["proc.cpu_s"] < 1.9  # 1.0 s burnt + start-ups, not 2x


def test_bytes_written_by_a_reaped_child_are_counted_once(tmp_path):
    target = tmp_path / "blob"
    child = (
        f"import os; fh = open({str(target)!r}, 'wb'); fh.write(os.urandom(32 * 2**20)); "
        "fh.flush(); os.fsync(fh.fileno())"
    )
    code = (
        "import subprocess, sys, time; sys.stdin.readline(); "
        f"subprocess.run([sys.executable, '-c', {child!r}]); time.sleep(0.3)"
    )
    _, readings = _follow(code)
    written = readings[-1]["proc.write_bytes"]
    assert 32 * 2**20 <= written < 48 * 2**20
