"""The result directory: ``runs.jsonl`` (append-only records) and ``meta.json``.

Records are appended one line at a time, flushed and fsynced, and never rewritten. A rerun
resumes: a run whose latest record is ``ok`` is skipped; any other run (``failed``,
``timeout``, ``interrupted``, or no record at all) runs again and its new record is appended.
Readers take the latest record per ``run_id``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import SCHEMA_VERSION
from bench.jsonio import write_json_atomic

RUNS_FILE = "runs.jsonl"
META_FILE = "meta.json"
SUPPORTED_SCHEMA_VERSIONS = (1, 2)


class ResultsError(Exception):
    """A result directory or file is missing, corrupt, of an unknown schema, or mismatched."""


def append_record(out_dir: Path, record: dict[str, Any]) -> None:
    """Append one record as a JSON line to ``runs.jsonl`` and fsync it."""
    line = json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"
    with open(Path(out_dir) / RUNS_FILE, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def _check_schema(doc: dict[str, Any], where: str) -> None:
    version = doc.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ResultsError(
            f"{where}: unknown schema_version {version!r} (this trackerbench reads "
            f"{', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}); upgrade trackerbench or use the "
            f"version that wrote it"
        )


def iter_records(
    path: Path, repair_tail: bool = False, skipped: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield every record of a ``runs.jsonl`` file, oldest first.

    A corrupt line raises :class:`ResultsError` naming the line number. The one exception is a
    final line without its newline (a write cut short by a crash): with ``repair_tail`` it is
    cut off the file (it never was a complete record), otherwise it is an error too.

    With a ``skipped`` list (read-only readers such as the report's ``--skip-corrupt``), corrupt
    and incomplete lines are not errors: each one's message is appended to the list instead. An
    unknown ``schema_version`` is always an error.
    """
    path = Path(path)
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    if tail and skipped is not None and not repair_tail:
        skipped.append(f"{path}:{len(lines) + 1}: incomplete last line (a write was cut short)")
    elif tail:
        if not repair_tail:
            raise ResultsError(
                f"{path}:{len(lines) + 1}: incomplete last line (a write was cut short); "
                "rerun the same `trackerbench run` command to repair and resume"
            )
        with open(path, "r+b") as fh:
            fh.truncate(len(data) - len(tail))
            fh.flush()
            os.fsync(fh.fileno())
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            message = f"{path}:{number}: corrupt record ({exc})"
            if skipped is None:
                raise ResultsError(message) from exc
            skipped.append(message)
            continue
        _check_schema(doc, f"{path}:{number}")
        yield doc


def latest_records(out_dir: Path, repair_tail: bool = False) -> dict[str, dict[str, Any]]:
    """The latest record of each run in ``out_dir`` (``{}`` when there is no ``runs.jsonl``)."""
    path = Path(out_dir) / RUNS_FILE
    if not path.exists():
        return {}
    latest: dict[str, dict[str, Any]] = {}
    for doc in iter_records(path, repair_tail=repair_tail):
        latest[doc["run_id"]] = doc
    return latest


def read_meta(out_dir: Path) -> dict[str, Any] | None:
    """``meta.json`` of ``out_dir``, or ``None`` when absent."""
    path = Path(out_dir) / META_FILE
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: corrupt ({exc})") from exc
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: corrupt (not a JSON object)")
    _check_schema(doc, str(path))
    return doc


def write_meta(out_dir: Path, meta: dict[str, Any]) -> None:
    """Write ``meta.json`` atomically, stamped with the schema version."""
    doc = {"schema_version": SCHEMA_VERSION, **meta}
    write_json_atomic(Path(out_dir) / META_FILE, doc, indent=2)
