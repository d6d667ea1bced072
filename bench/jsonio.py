"""Small JSON file helpers shared by the runner, worker and sampler process."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a uniquely named temporary file, fsync, ``os.replace``.

    Readers see either the old file or the complete new one, never a partial write; two writers
    of one path at once cannot write into each other's temporary file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for reading
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, doc: Any, indent: int | None = None) -> None:
    """Write ``doc`` as JSON to ``path`` atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(
        path, json.dumps(doc, indent=indent, sort_keys=indent is not None, allow_nan=False)
    )


def read_json_or_none(path: Path) -> Any:
    """The JSON document in ``path``, or ``None`` when it is missing or unreadable.

    For files a process that may have been killed was supposed to write.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
