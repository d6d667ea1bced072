"""Small JSON file helpers shared by the runner, worker and sampler process."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, doc: Any, indent: int | None = None) -> None:
    """Write ``doc`` as JSON to ``path`` through a temporary file, fsync and ``os.replace``.

    Readers see either the old file or the complete new one, never a partial write.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=indent, sort_keys=indent is not None, allow_nan=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json_or_none(path: Path) -> Any:
    """The JSON document in ``path``, or ``None`` when it is missing or unreadable.

    For files a process that may have been killed was supposed to write.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
