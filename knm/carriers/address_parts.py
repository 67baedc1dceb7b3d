"""An emergency address in the parts carriers whose E911 records split it (Flowroute,
SignalWire): the house number apart from the street name, the unit's type apart from its
number, and the caller name as a first and a last name (SPEC §13).

Each carrier words its own refusals (`carrier` names it in the message) and maps the unit
type to its own vocabulary; the splitting itself is one rule for all of them.
"""

from __future__ import annotations

import re

__all__ = ["HOUSE_NUMBER", "person", "street_parts", "unit_parts"]

#: a street address's leading house number, and the street after it
HOUSE_NUMBER = re.compile(r"^(\d+(?:-\d+)?[A-Za-z]?(?:\s+\d/\d)?)\s+(\S.*)$")
#: the unit type of a unit given by its number alone (`5B`, `#5B`)
LONE_UNIT = "Unit"


def street_parts(street: str, carrier: str) -> tuple[str, str]:
    """`(street_number, street_name)` of a street address (`140 Geary St` → `140`, `Geary
    St`; `140A`, `12-14`, `140 1/2` are house numbers too); `ValueError` naming `carrier`
    when it does not start with a house number."""
    found = HOUSE_NUMBER.match(" ".join(street.split()))
    if not found:
        raise ValueError(f"{carrier} registers a street number and a street name: the "
                         "street address must start with the house number (\"140 Geary St\")")
    return found.group(1), found.group(2)


def unit_parts(extended: str, carrier: str) -> tuple[str, str] | None:
    """`(unit type, unit number)` of an extended address (`Suite 5` → `Suite`, `5`; a lone
    `5B` or `#5B` → `Unit`, `5B`); None without one; `ValueError` naming `carrier` for a
    unit without a number (`Lobby`), which such records cannot carry."""
    text = " ".join(extended.split())
    if not text:
        return None
    kind, _, rest = text.partition(" ")
    if rest:
        return kind, rest.lstrip("#").strip() or rest
    token = kind.lstrip("#")
    if any(ch.isdigit() for ch in token):
        return LONE_UNIT, token
    raise ValueError(f"{carrier} registers a unit as a type and a number (\"Suite 5\", "
                     "\"Floor 3\"): write the extended address that way")


def person(caller_name: str) -> tuple[str, str]:
    """`(first_name, last_name)` for the name on the record: the last word is the last name
    (`Valued Customer` → `Valued`, `Customer`), a one-word name is both."""
    words = caller_name.split() or ["Valued", "Customer"]
    if len(words) == 1:
        return words[0], words[0]
    return " ".join(words[:-1]), words[-1]
