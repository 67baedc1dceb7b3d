"""What operators import, read and checked once for every door in: CSV files of numbers and
Kazoo number documents.

The command line and the HTTP API hand files to these readers, so both accept the same input
and refuse it for the same reasons. Every number knm is asked to store must be a real one: an
E.164 number (`+`, the country code, at most 15 digits) that phonenumbers takes as valid for
its country code — `+1999`, `+15551234567` or `1000` are refused. A bad line never stops an
import: it is counted and reported with its line number, and the rest goes in.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knm import errors, numbering
from knm import numbers as operations
from knm.numbers import repository
from knm.phone import normalize
from knm.record import PhoneNumber

#: rejected lines kept with their details; all of them are counted
MAX_REPORTED = 1000

_NUMBER = re.compile(r"^\+?\d+$")
_JUNK = re.compile(r"[\s().\-]")

#: (line number, text) of one number in an input
Entry = tuple[int, str]


# -- checking numbers --------------------------------------------------------------------------


def check_number(raw: str) -> str:
    """`raw` (as typed: `(415) 555-0100`, `14155550100`, `+14155550100`) in E.164, when it is
    a real number; otherwise `400 invalid` (cause `number`) saying what is wrong with it."""
    text = _JUNK.sub("", str(raw))
    if not text:
        raise errors.Invalid("number", "no number given")
    if not _NUMBER.match(text):
        raise errors.Invalid("number", f"{raw!r} is not a phone number")
    number = normalize(text)
    if not number.startswith("+"):
        raise errors.Invalid("number", f"{raw!r} is not a number in international form "
                                       "(E.164: + and the country code)")
    digits = len(number) - 1
    if digits > numbering.MAX_DIGITS:
        raise errors.Invalid("number", f"{number} has {digits} digits; an E.164 number has "
                                       f"at most {numbering.MAX_DIGITS}")
    code = numbering.country_code(number)
    if code is None:
        raise errors.Invalid("number", f"{number} starts with no country's calling code")
    if not numbering.is_valid(number):
        raise errors.Invalid("number", f"{number} is not a valid number of country code "
                                       f"+{code}")
    return number


@dataclass(frozen=True)
class Rejected:
    """A line that was not imported, and why."""

    line: int
    value: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "value": self.value, "error": "invalid",
                "message": self.message}


@dataclass
class ImportReport:
    """The outcome of a number import: every entry read is imported, already present (in the
    store, or earlier in the same input) or failed."""

    read: int = 0
    imported: int = 0
    failed: int = 0
    rejected: list[Rejected] = field(default_factory=list)  # the first MAX_REPORTED

    @property
    def already_present(self) -> int:
        return self.read - self.imported - self.failed

    def reject(self, line: int, value: str, message: str) -> None:
        self.failed += 1
        if len(self.rejected) < MAX_REPORTED:
            self.rejected.append(Rejected(line, value, message))

    def to_json(self) -> dict[str, Any]:
        """`errors` is keyed by line number (the first `MAX_REPORTED` bad lines)."""
        return {"imported": self.imported, "already_present": self.already_present,
                "failed": self.failed, "read": self.read,
                "errors": {str(r.line): r.to_json() for r in self.rejected}}


def checked(entries: Iterable[Entry], report: ImportReport) -> Iterator[str]:
    """The numbers of `entries` that may be stored, in E.164 and in order; every entry is
    counted in `report`, and the others are rejected there with their line number."""
    is_valid = numbering.is_valid
    read = 0
    try:
        for line, raw in entries:
            read += 1
            # the common case, a clean E.164 line, costs one validity check
            if is_valid(raw):
                yield raw
                continue
            try:
                yield check_number(raw)
            except errors.Invalid as exc:
                report.reject(line, raw, exc.message)
    finally:  # counted once, not per entry: this loop runs a million times per import
        report.read += read


# -- CSV ---------------------------------------------------------------------------------------


def csv_entries(path: Path) -> Iterator[Entry]:
    """The numbers of a CSV file with their line numbers: the `number` column if the first
    line is a header naming it, else the first column. Blank lines, lines starting with `#`
    and a header are skipped; a line with an empty number cell is an entry (`""`), so that it
    is reported rather than silently dropped."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            yield from _number_cells(reader)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise errors.Invalid("csv", f"{path}: after line {reader.line_num}: not a CSV "
                                        f"file of UTF-8 text ({exc})") from None


def _number_cells(reader: Any) -> Iterator[Entry]:
    column = 0
    for row in reader:
        line = reader.line_num
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if line == 1 and not _NUMBER.match(_JUNK.sub("", cells[0])):
            lowered = [c.lower() for c in cells]
            if "number" in lowered:
                column = lowered.index("number")
                continue
            if not any(_NUMBER.match(_JUNK.sub("", c)) for c in cells):
                continue  # some other header
        yield line, cells[column] if column < len(cells) else ""


# -- Kazoo documents ---------------------------------------------------------------------------


def existing_file(path: str | Path, field_name: str) -> Path:
    """`path` if it is a readable file or folder; else `400 invalid` naming `field_name`."""
    p = Path(path).expanduser()
    if not p.exists():
        raise errors.Invalid(field_name, f"{path}: no such file")
    if not os.access(p, os.R_OK):
        raise errors.Invalid(field_name, f"{path}: not readable")
    return p


def kazoo_documents(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Number documents from files: one document, a list of them, a CouchDB dump (`{"docs":
    [...]}`, rows with `doc`), or a folder of `*.json` files."""
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


@dataclass
class KazooImport:
    """The outcome of importing Kazoo documents: each number imported, already present (the
    same document was imported before, so running an import again changes nothing) or
    failed."""

    imported: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    failed: dict[str, errors.KnmError] = field(default_factory=dict)

    def add(self, other: KazooImport) -> None:
        self.imported.extend(other.imported)
        self.present.extend(other.present)
        self.failed.update(other.failed)

    def to_json(self) -> dict[str, Any]:
        return {"imported": len(self.imported), "already_present": len(self.present),
                "failed": len(self.failed), "numbers": self.imported, "present": self.present,
                "errors": {n: e.to_json() for n, e in self.failed.items()}}


def import_kazoo(docs: Sequence[dict[str, Any]]) -> KazooImport:
    """`knm.numbers.import_kazoo`, telling a number already imported from this document
    (`already present`: not a failure) from one stored with other contents (`409
    number_exists`: the document was not applied)."""
    result = operations.import_kazoo(docs)
    out = KazooImport(imported=[pn.number for pn in result.succeeded])
    clashes = [n for n, e in result.failed.items() if isinstance(e, errors.NumberExists)]
    stored = repository.fetch_many(clashes) if clashes else {}
    by_number = _documents_by_number(docs)
    for number, error in result.failed.items():
        pn, doc = stored.get(number), by_number.get(number)
        if pn is not None and doc is not None and _same_document(pn, doc):
            out.present.append(number)
        else:
            out.failed[number] = error
    return out


def _documents_by_number(docs: Iterable[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("_id"), str) and doc["_id"]:
            out.setdefault(normalize(doc["_id"]), doc)
    return out


def _same_document(stored: PhoneNumber, doc: dict[str, Any]) -> bool:
    """Was `stored` imported from `doc`? Kazoo's `_rev` names a document's revision, and the
    import keeps it; a document without one matches on state and owner."""
    rev = doc.get("_rev")
    if isinstance(rev, str) and rev:
        return stored.rev == rev
    try:
        parsed = PhoneNumber.from_json(doc)
    except errors.KnmError:
        return False
    return (stored.state, stored.assigned_to) == (parsed.state, parsed.assigned_to)
