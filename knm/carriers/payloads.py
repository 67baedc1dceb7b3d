"""Reading what carriers send: hardened XML, the carriers' error texts, XML child helpers.

Why a module of its own: every carrier reads bodies it does not control, and the rules for
that are the same for all of them — no DTD, entity or external reference in XML (billion
laughs, XXE); an error text is taken from a bounded prefix of the body, never from the whole
of it (a 200 MB error page must not be decoded and parsed on a thread holding the GIL); the
common JSON and XML error shapes are understood once. Pure functions, no knm state.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeET

__all__ = [
    "ERROR_PREFIX_BYTES",
    "children",
    "element_dict",
    "error_details",
    "error_text",
    "json_or_none",
    "first",
    "flat",
    "json_error_message",
    "local_name",
    "parse_xml_text",
    "text_of",
    "xml_error_parts",
]

#: how much of an error body is read and looked at: enough for any carrier's error document,
#: small enough that decoding and parsing it costs microseconds
ERROR_PREFIX_BYTES = 64 * 1024
#: XML elements whose text is an error message in the common shapes (SOAP, Bandwidth, …)
XML_MESSAGE_TAGS = ("Description", "ErrorMessage", "message", "status")


def parse_xml_text(text: str | bytes) -> ET.Element:
    """Parse XML with no DTD, entity or external reference allowed (billion laughs, XXE).

    Raises `ValueError` for anything unparseable or forbidden; callers turn it into
    `MalformedResponse`.
    """
    try:
        return SafeET.fromstring(text, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except (ET.ParseError, defusedxml.DefusedXmlException, ValueError) as exc:
        raise ValueError(f"unreadable XML: {type(exc).__name__}: {exc}") from None


# -- XML helpers (namespaces ignored: carriers' SOAP and REST dialects differ in them) ---------


def local_name(tag: Any) -> str:
    """`{http://tempuri.org/}getDIDsResult` → `getDIDsResult` (comments have no name)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def first(root: ET.Element | None, name: str) -> ET.Element | None:
    """The first element anywhere under `root` (itself included) with local name `name`."""
    if root is None:
        return None
    return next((el for el in root.iter() if local_name(el.tag) == name), None)


def text_of(root: ET.Element | None, name: str) -> str | None:
    """The text of `first(root, name)`: None when there is no such element, `""` when empty."""
    element = first(root, name)
    return None if element is None else (element.text or "")


def children(root: ET.Element | None, container: str, item: str) -> list[ET.Element]:
    """The `item` elements of the direct child `container` of `root` (`DIDs/DID`)."""
    box = None if root is None else next(
        (el for el in root if local_name(el.tag) == container), None)
    return [] if box is None else [el for el in box if local_name(el.tag) == item]


def flat(element: ET.Element) -> dict[str, str]:
    """An element's direct children as `{local name: stripped text}`."""
    return {local_name(child.tag): (child.text or "").strip() for child in element}


def element_dict(element: ET.Element) -> dict[str, Any]:
    """An element's children as nested dicts of their texts; empty elements left out."""
    out: dict[str, Any] = {}
    for child in element:
        if len(child):
            out[local_name(child.tag)] = element_dict(child)
        elif child.text and child.text.strip():
            out[local_name(child.tag)] = child.text.strip()
    return out


def xml_error_parts(root: ET.Element) -> Iterator[str]:
    """Texts of the message elements of the common XML error shapes, in document order."""
    for el in root.iter():
        if local_name(el.tag) in XML_MESSAGE_TAGS and el.text and el.text.strip():
            yield el.text.strip()


# -- error texts ---------------------------------------------------------------------------


def json_error_message(doc: Any) -> str | None:
    """The message of the common JSON error shapes: JSON:API `errors[]` (`code: detail`),
    `message`, `error`, `detail`, `title`, `error_message` (nested objects searched too)."""
    if isinstance(doc, dict):
        errs = doc.get("errors")
        if isinstance(errs, list) and errs:
            parts = []
            for e in errs:
                if isinstance(e, dict):
                    text = e.get("detail") or e.get("title") or e.get("message")
                    code = e.get("code")
                    parts.append(f"{code}: {text}" if code and text else str(text or code))
                else:
                    parts.append(str(e))
            return "; ".join(p for p in parts if p)
        for key in ("message", "error", "detail", "title", "error_message"):
            value = doc.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict):
                inner = json_error_message(value)
                if inner:
                    return inner
    return None


def error_details(doc: Any) -> str | None:
    """The reasons of a JSON:API-style error body (`errors[].detail`, else `title`), joined,
    without the codes `json_error_message` puts before them: what a person is shown when a
    carrier refuses an address."""
    rows = doc.get("errors") if isinstance(doc, dict) else None
    texts = [str(e.get("detail") or e.get("title") or "") for e in rows or []
             if isinstance(e, dict)]
    return "; ".join(t for t in texts if t) or None


def json_or_none(content: bytes) -> Any:
    """An error body's JSON (None when it is not JSON: its reason is then unknown)."""
    try:
        return json.loads(content or b"null")
    except ValueError:
        return None


def error_text(body: bytes, *, charset: str | None = None) -> str | None:
    """The carrier's own error text from (a prefix of) an error body: the common JSON and XML
    shapes, else the text itself. None for an empty body.

    Only the first `ERROR_PREFIX_BYTES` are looked at, whatever the caller passes: a body cut
    there is usually not parseable any more, and then its text is the message (the caller
    clips it)."""
    text = body[:ERROR_PREFIX_BYTES].decode(charset or "utf-8", "replace").strip()
    if not text:
        return None
    if text[:1] in "{[":
        try:
            return json_error_message(json.loads(text)) or text
        except ValueError:
            return text
    if text.startswith("<"):
        try:
            root = parse_xml_text(text)
        except ValueError:
            return text
        return "; ".join(xml_error_parts(root)) or text
    return text
