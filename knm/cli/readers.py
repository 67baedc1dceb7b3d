"""Reading the files `knm numbers import` and `import-kazoo` are given.

These belong in the library, where the HTTP API could use them too: the validated readers
land in `knm.numbers.importers` (branch `store-bulk`), which replaces this module.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from knm import errors
from knm.phone import looks_like_number


def existing_file(path: str, field: str) -> Path:
    """A file to read, or `400 invalid` naming `field` (missing, unreadable)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise errors.Invalid(field, f"{path}: no such file")
    if not os.access(p, os.R_OK):
        raise errors.Invalid(field, f"{path}: not readable")
    return p


def csv_numbers(path: Path) -> Iterator[str]:
    """Numbers from a CSV: the `number` column if there is a header, else the first column."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        column = 0
        for line_no, row in enumerate(reader, 1):
            cells = [c.strip() for c in row]
            if not cells or not any(cells) or cells[0].startswith("#"):
                continue
            if line_no == 1 and not looks_like_number(cells[0]):
                lowered = [c.lower() for c in cells]
                if "number" in lowered:
                    column = lowered.index("number")
                    continue
                if not any(looks_like_number(c) for c in cells):
                    continue  # some other header
            if column >= len(cells) or not cells[column]:
                continue
            yield cells[column]


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def kazoo_docs(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Number documents from files: one document, a list of them, or a folder of `*.json`."""
    files: list[Path] = []
    for raw in paths:
        path = existing_file(raw, "path")
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    docs: list[dict[str, Any]] = []
    for file in files:
        try:
            loaded = json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise errors.Invalid("path", f"{file}: not JSON ({exc})") from None
        if isinstance(loaded, dict) and isinstance(loaded.get("docs"), list):
            loaded = loaded["docs"]  # a CouchDB _all_docs style dump
        items = loaded if isinstance(loaded, list) else [loaded]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("doc"), dict):
                item = item["doc"]
            if not isinstance(item, dict):
                raise errors.Invalid("path", f"{file}: expected number documents (objects)")
            docs.append(item)
    return docs
