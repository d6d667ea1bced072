"""Tracker versions: ``NAME@VERSION`` environments, ``trackerbench regress`` and version-aware
``compare``.

Ground truth without the network: ``tb-slowlog`` is built here as local wheels in four versions.
1.0.0 and 1.0.1 are the same code (``log`` busy-waits 20 ms), 1.1.0 costs 30 ms per ``log`` and
2.0.0 renamed ``log`` (the adapter's call fails, as after an API change). pip installs them from
``--find-links`` with ``--no-index``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zipfile
from pathlib import Path

import pytest

from analysis.metrics import METRICS_BY_KEY
from analysis.report import threshold_verdict
from analysis.stats import Comparison
from bench.cli import main
from bench.runner import RunnerOptions, _version_mismatch
from bench.trackers import make_tracker, parse_name, unavailable_reason
from bench.versions import (
    MARKER,
    VersionEnvError,
    check_version,
    ensure_env,
    requested_packages,
    same_version,
    split_version,
)

LOG_COST_S = {"1.0.0": 0.020, "1.0.1": 0.020, "1.1.0": 0.030, "2.0.0": 0.020}
QUICK = ["--workload", "mlp", "--preset", "tiny", "--steps", "30", "--warmup", "2"]


def _module(version: str) -> str:
    name = "log" if not version.startswith("2.") else "log_metrics"  # 2.0.0: an API change
    return (
        f'__version__ = "{version}"\n'
        "import time\n\n"
        f"COST_S = {LOG_COST_S[version]!r}\n\n\n"
        f"def {name}(metrics):\n"
        "    t = time.perf_counter()\n"
        "    while time.perf_counter() - t < COST_S:\n"
        "        pass\n"
    )


def build_wheel(out: Path, version: str) -> Path:
    """A pure-Python wheel of ``tb-slowlog`` at ``version`` (RECORD with real hashes)."""
    files = {
        "tb_slowlog/__init__.py": _module(version),
        f"tb_slowlog-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: tb-slowlog\nVersion: {version}\n"
        ),
        f"tb_slowlog-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: trackerbench-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
    }
    record = f"tb_slowlog-{version}.dist-info/RECORD"
    lines = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(data)}")
    lines.append(f"{record},,")
    files[record] = "\n".join(lines) + "\n"
    wheel = out / f"tb_slowlog-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    for version in LOG_COST_S:
        build_wheel(out, version)
    return out


@pytest.fixture(scope="module")
def env_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envs")


def _local(wheels: Path, env_cache: Path) -> list[str]:
    return ["--find-links", str(wheels), "--no-index", "--env-cache", str(env_cache)]


# --------------------------------------------------------------------------- names


def test_version_names_parse_and_the_record_name_drops_the_version(tmp_path):
    assert split_version("mlflow-sqlite+sysmetrics@3.17.2") == (
        "mlflow-sqlite+sysmetrics",
        "3.17.2",
    )
    assert split_version("mlflow-sqlite") == ("mlflow-sqlite", None)
    cls, addons = parse_name("mlflow-sqlite+sysmetrics@3.17.2")
    assert cls.name == "mlflow-sqlite" and addons == ("sysmetrics",)
    tracker = make_tracker("mlflow-server@3.16.1", tmp_path, python="/envs/x/bin/python")
    assert tracker.config_name == "mlflow-server"
    assert tracker.service().argv[0] == "/envs/x/bin/python"  # the server runs that release
    assert same_version("3.18", "3.18.0") and not same_version("3.18.1", "3.18.0")
    with pytest.raises(VersionEnvError, match="not a valid version"):
        check_version("latest")


def test_a_versioned_package_need_not_be_installed_here(test_trackers):
    assert "not installed" in unavailable_reason("test-missing")
    assert unavailable_reason("test-missing@1.0") is None  # its own environment provides it
    with pytest.raises(VersionEnvError, match="no versions"):
        requested_packages(["none@1.0"])
    assert requested_packages(["none", "test-missing@1.0"]) == {
        "test-missing@1.0": ("tb-not-installed", "1.0")
    }


def test_the_worker_must_import_the_requested_version():
    assert _version_mismatch("mlflow-sqlite@3.17.2", {"version": "3.17.2"}) is None
    assert _version_mismatch("mlflow-sqlite", {"version": "3.16.1"}) is None
    error = _version_mismatch("mlflow-sqlite@3.17.2", {"version": "3.16.1", "location": "/x"})
    assert "imported version 3.16.1 (from /x), not the requested 3.17.2" in error
    with pytest.raises(ValueError, match="no environment prepared"):
        RunnerOptions(out_dir=Path("x")).python_for("mlflow-sqlite@3.17.2")


# --------------------------------------------------------------------------- verdict rule


def _comparison(estimate: float, low: float, high: float, p: float) -> Comparison:
    return Comparison(
        kind="ratio",
        design="paired",
        n_config=10,
        n_baseline=10,
        n_pairs=10,
        config_mean=1.0 + estimate,
        baseline_mean=1.0,
        estimate=estimate,
        ci_low=low,
        ci_high=high,
        p_value=p,
        mde=0.015,
        reason=None,
    )


@pytest.mark.parametrize(
    ("estimate", "low", "high", "p", "status", "words"),
    [
        (0.12, 0.08, 0.15, 0.002, "regressed", "slower"),
        (-0.12, -0.15, -0.08, 0.002, "improved", "faster"),
        (0.03, 0.01, 0.05, 0.002, "unchanged", "within the noise threshold"),  # CI reaches 1 %
        (0.01, -0.01, 0.03, 0.4, "unchanged", "no detectable difference (MDE 1.5 %)"),
    ],
)
def test_one_verdict_rule_needs_significance_and_the_whole_ci_beyond_the_threshold(
    estimate, low, high, p, status, words
):
    metric = METRICS_BY_KEY["measure_wall_s"]
    decision = threshold_verdict(metric, _comparison(estimate, low, high, p), p, 1, 0.02)
    assert decision.status == status
    assert words in decision.words


# --------------------------------------------------------------------------- environments


def test_an_environment_is_built_once_checked_and_never_reused_half_built(wheels, tmp_path):
    cache = tmp_path / "envs"
    pip = ["--find-links", str(wheels), "--no-index"]
    env = ensure_env("tb-slowlog", "1.0.0", cache, pip)
    assert env.overlay == ["tb-slowlog==1.0.0"]  # only the release: torch etc. are shared
    assert env.facts["location"].startswith(str(env.root))
    assert ensure_env("tb-slowlog", "1.0.0", cache, pip).facts == env.facts  # cached
    (env.root / MARKER).unlink()  # as after an interrupted build: no marker
    lines: list[str] = []
    ensure_env("tb-slowlog", "1.0.0", cache, pip, log=lines.append)
    assert any("removing an incomplete or outdated environment" in line for line in lines)
    with pytest.raises(VersionEnvError, match=r"cannot install tb-slowlog==9\.9\.9"):
        ensure_env("tb-slowlog", "9.9.9", cache, pip)
    assert not any(p.name.startswith("tb-slowlog-9.9.9") and p.is_dir() for p in cache.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tracker", "test-slowlog", "--versions", "1.0.0"], "at least two versions"),
        (["--tracker", "test-slowlog", "--versions", "1.0.0,x.y"], "not a valid version"),
        (["--tracker", "none", "--versions", "1.0.0,1.0.1"], "baseline has no versions"),
        (["--tracker", "test-slowlog@1.0.0", "--versions", "1.0.0,1.0.1"], "not @"),
        (
            ["--tracker", "a", "--versions", "1,2", "--tracker", "b", "--tracker", "c"]
            + ["--versions", "1,2"],
            "3 --tracker options and 2 --versions",
        ),
        (["--tracker", "test-slowlog", "--versions", "1.0.0,9.9.9"], r"tb-slowlog==9\.9\.9"),
    ],
)
def test_regress_bad_input_is_a_usage_error_before_anything_runs(
    tmp_path, capsys, test_trackers, wheels, env_cache, args, message
):
    out = tmp_path / "out"
    code = main(["regress", *args, *QUICK, *_local(wheels, env_cache), "--out", str(out)])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert re.search(message, err), err
    assert not out.exists()  # nothing written, nothing run


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_regress_calls_the_slower_release_and_not_the_identical_one(
    tmp_path, capsys, test_trackers, wheels, env_cache
):
    out = tmp_path / "regress"
    code = main(
        [
            "regress",
            "--tracker",
            "test-slowlog",
            "--versions",
            "1.0.0,1.0.1,1.1.0,2.0.0",
            *QUICK,
            "--reps",
            "7",
            "--metric",
            "measure_wall_s",
            "--resamples",
            "999",
            *_local(wheels, env_cache),
            "--format",
            "json",
            "--out",
            str(out),
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    rows = {row["name"].rsplit(" → ", 1)[1]: row for row in doc["rows"]}
    assert rows["1.0.1"]["status"] == "unchanged", rows["1.0.1"]
    assert rows["1.1.0"]["status"] == "regressed", rows["1.1.0"]
    # 30 logs x 10 ms more: the measure window is slower by at least a tenth
    assert rows["1.1.0"]["ci95"][0] > 0.10
    assert rows["2.0.0"]["status"] == "not compared"
    assert "no usable runs of test-slowlog 2.0.0" in rows["2.0.0"]["verdict"]
    [failed] = doc["failed"]
    assert failed["version"] == "2.0.0" and failed["failed"] == failed["total"] == 7
    assert "AttributeError" in failed["error"] and "log" in failed["error"]
    # each record carries the version its worker imported, from that version's overlay
    assert doc["imported_versions"] == {
        f"test-slowlog@{v}": [v] for v in ("1.0.0", "1.0.1", "1.1.0")
    }
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    for rec in records:
        if rec["status"] == "ok" and "@" in rec["spec"]["tracker"]:
            assert str(env_cache) in rec["tracker"]["location"]
    # versions are interleaved in every block, with none
    for block in range(7):
        trackers = {r["spec"]["tracker"] for r in records if r["spec"]["block"] == block}
        assert len(trackers) == 5
    assert (out / "regress.md").read_text().startswith("### trackerbench regress: **1 regression")
    assert (out / "report" / "report.md").is_file()


@pytest.mark.slow
def test_compare_exits_1_on_the_slower_release_and_0_on_the_identical_one(
    tmp_path, capsys, test_trackers, wheels, env_cache
):
    dirs = {}
    for version in ("1.0.0", "1.0.1", "1.1.0"):
        dirs[version] = tmp_path / version
        args = ["run", "--tracker", f"test-slowlog@{version}", *QUICK, "--reps", "4"]
        assert main([*args, *_local(wheels, env_cache), "--out", str(dirs[version])]) == 0
    capsys.readouterr()
    base = ["compare", "--metric", "measure_wall_s", "--resamples", "999"]
    assert main([*base, str(dirs["1.0.0"]), str(dirs["1.1.0"]), "--format", "markdown"]) == 1
    text = capsys.readouterr().out
    assert text.startswith("### trackerbench compare: **1 regression(s)**")
    assert "tracker version 1.0.0 in A, 1.1.0 in B" in text
    assert main([*base, str(dirs["1.0.0"]), str(dirs["1.0.1"]), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in doc["rows"]] == ["unchanged"]
    assert doc["environment_warnings"] == []  # same host, torch, threads


def test_compare_warns_when_the_environments_differ(tmp_path, capsys):
    from analysis.compare import Entry, Side, compare_sides, to_markdown

    metric = METRICS_BY_KEY["measure_wall_s"]
    facts = {"gpu": "none", "torch": "2.13.0+cpu", "cpu_model": "Xeon", "threads": "2"}

    def side(name: str, values: list[float], **changed: str) -> Side:
        entry = Entry("mlp tiny standard none", {metric.key: values}, metrics=(metric,))
        return Side(Path(name), "result directory", {entry.name: entry}, {}, {**facts, **changed})

    a = side("a", [1.0, 1.01, 0.99, 1.0])
    b = side("b", [1.0, 1.0, 1.01, 0.99], torch="2.12.0+cu126", gpu="NVIDIA H200", threads="16")
    result = compare_sides(a, b, n_resamples=999)
    assert result.warnings == [
        "GPU differs: none in A, NVIDIA H200 in B",
        "torch differs: 2.13.0+cpu in A, 2.12.0+cu126 in B",
        "torch threads differs: 2 in A, 16 in B",
    ]
    assert "> ⚠️ torch differs" in to_markdown(result)
    assert compare_sides(a, side("c", [1.0, 1.0, 1.0, 1.0]), n_resamples=999).warnings == []
