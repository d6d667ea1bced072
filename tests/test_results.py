import json

import pytest

from bench.results import (
    ResultsError,
    append_record,
    latest_records,
    read_meta,
    write_meta,
)


def _rec(run_id, status="ok", **kw):
    return {"schema_version": 1, "run_id": run_id, "status": status, **kw}


def test_append_then_latest_record_per_run(tmp_path):
    append_record(tmp_path, _rec("a", "failed"))
    append_record(tmp_path, _rec("b"))
    append_record(tmp_path, _rec("a", "ok"))
    latest = latest_records(tmp_path)
    assert latest["a"]["status"] == "ok" and latest["b"]["status"] == "ok"
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 3  # nothing rewritten


def test_corrupt_line_reports_its_number(tmp_path):
    append_record(tmp_path, _rec("a"))
    with open(tmp_path / "runs.jsonl", "a") as fh:
        fh.write("{not json\n")
    append_record(tmp_path, _rec("b"))
    with pytest.raises(ResultsError, match=r"runs\.jsonl:2: corrupt"):
        latest_records(tmp_path)


def test_unknown_schema_version_is_a_clear_error(tmp_path):
    (tmp_path / "runs.jsonl").write_text(json.dumps(_rec("a") | {"schema_version": 99}) + "\n")
    with pytest.raises(ResultsError, match="unknown schema_version 99"):
        latest_records(tmp_path)


def test_truncated_last_line_is_an_error_unless_repairing(tmp_path):
    append_record(tmp_path, _rec("a"))
    with open(tmp_path / "runs.jsonl", "a") as fh:
        fh.write('{"schema_version": 1, "run_id": "b", "sta')  # crash mid-write
    with pytest.raises(ResultsError, match="incomplete last line"):
        latest_records(tmp_path)
    assert list(latest_records(tmp_path, repair_tail=True)) == ["a"]
    # the partial line is gone; the complete one is intact and appending works again
    append_record(tmp_path, _rec("b"))
    assert sorted(latest_records(tmp_path)) == ["a", "b"]


def test_meta_round_trip_and_schema_check(tmp_path):
    write_meta(tmp_path, {"matrix": {"reps": 3}})
    assert read_meta(tmp_path)["matrix"] == {"reps": 3}
    (tmp_path / "meta.json").write_text('{"schema_version": 99}')
    with pytest.raises(ResultsError, match="schema_version"):
        read_meta(tmp_path)
    (tmp_path / "meta.json").write_text("{")
    with pytest.raises(ResultsError, match="corrupt"):
        read_meta(tmp_path)
