"""How every simulator decides an emergency address's fate (SPEC §13), so tests and users
reach each outcome the same way whatever the carrier:

- postal code `00000` → the carrier rejects the address;
- a street containing `CORRECTME` → the carrier suggests a corrected address (the street
  without the word, upper-cased), which is itself valid;
- an address outside the carrier's countries → rejected;
- any other address → valid, normalised the way carriers' geocoders do (upper case, single
  spaces).
"""

from __future__ import annotations

from collections.abc import Iterable

INVALID, CORRECTED, VALID = "invalid", "corrected", "valid"
REJECTED_POSTAL_CODE = "00000"
CORRECT_ME = "CORRECTME"
#: what a rejection says (the words are the simulators', the shapes the carriers')
REJECTED_BECAUSE = "This address could not be validated / geocoded"


def normalised(text: str | None) -> str:
    """Upper case, runs of spaces made one: a geocoder's spelling of the text."""
    return " ".join(str(text or "").split()).upper()


def fate(street: str | None, postal_code: str | None, country: str | None = "US", *,
         countries: Iterable[str] = ("US", "CA")) -> str:
    """`invalid`, `corrected` or `valid` for an address given in these parts."""
    if (postal_code or "").strip() == REJECTED_POSTAL_CODE or not (street or "").strip():
        return INVALID
    if normalised(country or "US") not in {c.upper() for c in countries}:
        return INVALID
    if CORRECT_ME in normalised(street):
        return CORRECTED
    return VALID


def corrected_street(street: str | None) -> str:
    """The street a carrier suggests for one marked `CORRECTME`."""
    return normalised(normalised(street).replace(CORRECT_ME, " "))
