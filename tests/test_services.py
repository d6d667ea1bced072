"""Services beside a run: started until healthy, stopped with every descendant."""

import sys
import time

import pytest

from bench.services import Service, ServiceError, free_port
from tests.conftest import process_gone

SERVER = """
import http.server, os, signal, subprocess, sys
# a descendant in a session of its own that ignores SIGTERM: stop() must still end it
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
child = subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True)
open("child.pid", "w").write(str(child.pid))

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

print("serving", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def test_service_becomes_healthy_and_stop_ends_its_whole_tree(tmp_path):
    port = free_port()
    service = Service(
        name="health server",
        argv=[sys.executable, "-c", SERVER, str(port)],
        health_url=f"http://127.0.0.1:{port}/health",
        cwd=tmp_path,
        log_path=tmp_path / "service.log",
        start_timeout_s=30,
        stop_grace_s=2,
    )
    service.start({"PATH": "/usr/bin:/bin"})
    assert service.start_s is not None and service.start_s > 0
    for _ in range(50):  # the child's pid file is written before the server listens
        if (tmp_path / "child.pid").exists():
            break
        time.sleep(0.1)
    child = int((tmp_path / "child.pid").read_text())
    assert not process_gone(service.pid) and not process_gone(child)
    stopped = service.stop()
    assert process_gone(service.pid) and process_gone(child)
    assert child in stopped["killed_pids"]
    assert stopped["cpu_s"] is not None and stopped["cpu_s"] > 0
    assert service.stop() is stopped  # stopping twice is harmless
    assert "serving" in service.log_tail()


def test_service_that_exits_early_is_an_error_with_its_log(tmp_path):
    service = Service(
        name="broken",
        argv=[sys.executable, "-c", "print('no such backend'); raise SystemExit(3)"],
        health_url=f"http://127.0.0.1:{free_port()}/health",
        cwd=tmp_path,
        log_path=tmp_path / "service.log",
    )
    with pytest.raises(ServiceError, match="exited with code 3") as err:
        service.start({})
    assert "no such backend" in str(err.value)


def test_missing_executable_is_a_service_error(tmp_path):
    service = Service(
        name="ghost",
        argv=[str(tmp_path / "no-such-binary")],
        health_url="http://127.0.0.1:9/health",
        cwd=tmp_path,
        log_path=tmp_path / "service.log",
    )
    with pytest.raises(ServiceError, match="could not be started"):
        service.start({})


def test_service_dying_during_start_takes_its_children_with_it(tmp_path):
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
        "time.sleep(0.5)\n"
        "sys.exit(1)\n"
    )
    service = Service(
        name="dies",
        argv=[sys.executable, "-c", code],
        health_url=f"http://127.0.0.1:{free_port()}/health",
        cwd=tmp_path,
        log_path=tmp_path / "service.log",
    )
    with pytest.raises(ServiceError, match="exited with code 1"):
        service.start({"PATH": "/usr/bin:/bin"})
    child = int((tmp_path / "child.pid").read_text())
    assert process_gone(child)
    assert service.stopped["exit_code"] == 1 and service.stopped["cpu_s"] is not None
