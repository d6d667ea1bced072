"""The recorded-data check ("nothing lost"): ``python -m bench.verify``.

Runs in a fresh process after the worker has exited (and before a tracker's service is
stopped): it asks the tracker what it stored for the run (``Tracker.read_back``) and writes
the counts. :func:`compare_recorded` sets them against what the worker sent. Asynchronous
trackers are thereby checked after their process has gone, which is when lost data shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

KINDS = ("histograms", "artifacts")


def compare_recorded(sent: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    """The record's ``tracker.recorded`` block: expected vs found counts, and ``data_loss``.

    ``sent`` is the worker's count of what it handed the tracker (``metrics``: values per key,
    ``histograms``, ``artifacts``; ``None`` for a kind the tracker cannot store). ``found`` is
    what :meth:`Tracker.read_back` counted (``None`` for a kind it does not store or check).
    Values found beyond those sent (a key logged twice) are listed as ``extra``, not as loss.
    """
    expected: dict[str, Any] = {}
    got: dict[str, Any] = {}
    missing: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    sent_metrics = sent.get("metrics") or {}
    found_metrics = found.get("metrics")
    if found_metrics is not None:
        expected["metric_keys"] = len(sent_metrics)
        expected["metric_values"] = sum(sent_metrics.values())
        got["metric_keys"] = sum(1 for k in sent_metrics if found_metrics.get(k))
        got["metric_values"] = sum(min(found_metrics.get(k, 0), n) for k, n in sent_metrics.items())
        lost = {k: n - found_metrics.get(k, 0) for k, n in sent_metrics.items()}
        lost = {k: v for k, v in sorted(lost.items()) if v > 0}
        if lost:
            missing["metrics"] = lost
        more = {k: n - sent_metrics.get(k, 0) for k, n in found_metrics.items()}
        more = {k: v for k, v in sorted(more.items()) if v > 0}
        if more:
            extra["metrics"] = more
    for kind in KINDS:
        if sent.get(kind) is None or found.get(kind) is None:
            continue
        expected[kind], got[kind] = sent[kind], found[kind]
        if found[kind] < sent[kind]:
            missing[kind] = sent[kind] - found[kind]
    if "emissions_rows" in found:
        expected["emissions_rows"], got["emissions_rows"] = 1, found["emissions_rows"]
        if found["emissions_rows"] < 1:
            missing["emissions_rows"] = 1
    unchecked = [
        kind
        for kind in ("metrics", *KINDS)
        if sent.get(kind) and found.get(kind) is None  # sent, but not read back
    ]
    if not expected:
        return {
            "checked": False,
            "reason": "the read-back returned nothing to compare with what was sent",
            "unchecked_kinds": unchecked,
            "data_loss": None,
        }
    return {
        "checked": True,
        "method": found.get("method"),
        "expected": expected,
        "found": got,
        "missing": missing,
        "extra": extra,
        "unchecked_kinds": unchecked,
        "system_metrics_samples": found.get("system_metrics_samples"),
        "data_loss": bool(missing),
    }


def check_found(found: Any) -> dict[str, Any]:
    """``found`` if it has the shape :meth:`Tracker.read_back` promises, else ``TypeError``."""
    if not isinstance(found, dict):
        raise TypeError(f"read_back returned {type(found).__name__}, not a dict")
    metrics = found.get("metrics")
    if metrics is not None and not (
        isinstance(metrics, dict)
        and all(isinstance(k, str) and isinstance(v, int) for k, v in metrics.items())
    ):
        raise TypeError("read_back's 'metrics' must be None or a dict of key -> int count")
    for kind in (*KINDS, "emissions_rows"):
        value = found.get(kind)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(f"read_back's {kind!r} must be None or an int, got {value!r}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.verify")
    parser.add_argument("--spec", type=Path, required=True, help="run spec JSON file")
    parser.add_argument("--result", type=Path, required=True, help="the worker's result JSON")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    from bench.jsonio import write_json_atomic
    from bench.trackers import TrackerOptions, make_tracker

    spec = json.loads(args.spec.read_text())
    result = json.loads(args.result.read_text())
    t0 = time.perf_counter()
    try:
        tracker = make_tracker(
            spec["tracker"], args.result.parent, TrackerOptions(spec.get("sysmetrics_interval_s"))
        )
        found = check_found(tracker.read_back(result["tracker"]["handle"]))
        doc: dict[str, Any] = {"found": found, "error": None}
        code = 0
    except Exception as exc:
        traceback.print_exc()
        doc, code = {"found": None, "error": f"{type(exc).__name__}: {exc}"}, 1
    doc["read_back_s"] = time.perf_counter() - t0
    write_json_atomic(args.out, doc)
    return code


if __name__ == "__main__":
    sys.exit(main())
