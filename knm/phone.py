"""Phone-number values: normalizing, classifying and naming numbers, and the NANP facts every
carrier needs (one list of toll-free area codes, one way to get a number's national digits).

Kazoo's regex converters decide what a bare string means (so `4156301234` still becomes
`+14156301234` and `1000` stays unreconcilable, as Kazoo users expect); the `phonenumbers`
library supplies dial codes, national parsing for other countries and the facts `identify`
reports (country, type, validity).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import phonenumbers

from knm import errors

E164_CONVERTERS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})$"), "+1"),
    (re.compile(r"^011(\d{5,})$|^00(\d{5,})$"), "+"),
    (re.compile(r"^[2-9]\d{7,}$"), "+"),
]

NPAN = re.compile(r"^(\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})$")
_JUNK = re.compile(r"[\s().\-]")

#: every area code NANPA reserves for toll-free service (Kazoo's `tollfree_us` classifier: 800,
#: 822–888 by sevens, 880–889); carriers and the classifier read this one list
US_TOLLFREE_NPAS = ("800", "822", "833", "844", "855", "866", "877",
                    "880", "881", "882", "883", "884", "885", "886", "887", "888", "889")
#: the toll-free area codes numbers are sold in today (the others are reserved for later)
US_TOLLFREE_NPAS_IN_SERVICE = ("800", "833", "844", "855", "866", "877", "888")

#: Kazoo's default classifiers, in order (reference/kazoo-core.md §8.1)
CLASSIFIERS: dict[str, dict[str, Any]] = {
    # Kazoo's regex text, kept verbatim (the classifiers API returns it): it matches exactly
    # the area codes of US_TOLLFREE_NPAS
    "tollfree_us": {"regex": r"^\+1((?:800|88\d|877|866|855|844|833|822)\d{7})$",
                    "friendly_name": "US TollFree", "pretty_print": "SS(###) ### - ####"},
    "toll_us": {"regex": r"^\+1(900\d{7})$", "friendly_name": "US Toll",
                "pretty_print": "SS(###) ### - ####"},
    "emergency": {"regex": r"^(911|922|933|833|811|711|999)$",
                  "friendly_name": "Emergency Dispatcher", "emergency": True},
    "caribbean": {"regex": r"^\+?1((?:684|264|268|242|246|441|284|345|767|809|829|849|473|671"
                           r"|876|664|670|787|939|869|758|784|721|868|649|340)\d{7})$",
                  "friendly_name": "Caribbean", "pretty_print": "SS(###) ### - ####"},
    "did_us": {"regex": r"^(\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})$", "friendly_name": "US DID",
               "pretty_print": "SS(###) ### - ####"},
    "international": {"regex": r"^\+([2-9]\d{7,})$", "friendly_name": "International"},
    "unknown": {"regex": r"^(.*)$", "friendly_name": "Unknown"},
}


def _last_group(match: re.Match[str]) -> str:
    for group in reversed(match.groups()):
        if group is not None:
            return group
    return match.group(0)


def normalize(raw: str, country: str = "US") -> str:
    """E.164 form of `raw` where it can be worked out; otherwise `raw` (cleaned) unchanged."""
    text = _JUNK.sub("", str(raw))
    if text.startswith("+"):
        return text
    for pattern, prefix in E164_CONVERTERS:
        match = pattern.match(text)
        if match:
            return prefix + _last_group(match)
    if country and country.upper() != "US" and text.isdigit():
        try:
            parsed = phonenumbers.parse(text, country.upper())
        except phonenumbers.NumberParseException:
            return text
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return text


_DIGITS = re.compile(r"^\+?\d+$")


def looks_like_number(raw: str) -> bool:
    """Digits with an optional leading `+`, once spaces and `().-` are taken out."""
    return bool(_DIGITS.match(_JUNK.sub("", str(raw))))


def parse_number(raw: str, field: str = "number") -> str:
    """A number a person typed (`(415) 886-7900`, `+14158867900`), in E.164 where it can be
    worked out; text with anything but digits (and `+`, spaces, `().-`) is `400 invalid`
    naming `field`, rather than a `404` for a "number" nobody could have meant."""
    if not looks_like_number(raw):
        raise errors.Invalid(field, f"{raw!r} is not a phone number")
    return normalize(raw)


@lru_cache(maxsize=64)
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def to_npan(raw: str) -> str:
    """`+14158867900` (or `14158867900`, `4158867900`) → `4158867900`; others unchanged."""
    match = NPAN.match(raw)
    return match.group(2) if match else raw


def nanp_digits(prefix: str) -> str | None:
    """The NANP digits of a prefix or number (`+1415` → `415`, `1415886` → `415886`); None
    for another country's E.164 prefix. Carriers that sell only US/Canadian numbers search
    and order in this form."""
    text = prefix.strip()
    if text.startswith("+"):
        return text[2:] if text.startswith("+1") else None
    return text[1:] if len(text) == 11 and text.startswith("1") else text


def national_number(number: str) -> str:
    """What NANP carriers put on the wire: `+14158867900` → `4158867900`; a number of another
    country loses only its `+`."""
    text = normalize(number)
    return text[2:] if text.startswith("+1") else text.removeprefix("+")


def nanp_e164(text: str) -> str:
    """A carrier's NANP number back in E.164: `4158867900`, `14158867900` → `+14158867900`;
    E.164 stays; fewer than 10 digits is no number (`""`)."""
    text = text.strip()
    if text.startswith("+"):
        return text
    return f"+1{text[-10:]}" if len(text) >= 10 else ""


def is_us_tollfree(digits: str) -> bool:
    """NANP digits (`800`, `8885551`) in a toll-free area code."""
    return len(digits) >= 3 and digits[:3] in US_TOLLFREE_NPAS


def to_db(number: str | None) -> str | None:
    """Kazoo's per-prefix database name: `+14158867900` → `numbers%2F%2B1415`."""
    if not number or len(number) < 5:
        return None
    return quote("numbers/" + number[:5], safe="")


def classify(number: str, classifiers: dict[str, dict[str, Any]] | None = None) -> str | None:
    """Name of the first classifier whose regex matches the normalized number."""
    normalized = normalize(number)
    for name, spec in (classifiers or CLASSIFIERS).items():
        regex = spec.get("regex") if isinstance(spec, dict) else spec
        if regex and _compiled(regex).match(normalized):
            return name
    return None


def dialcode_for(country: str) -> str:
    """`US` → `+1`, `FR` → `+33`; an unknown country is `400 invalid` naming `country`."""
    code = phonenumbers.country_code_for_region(str(country).upper())
    if not code:
        raise errors.Invalid("country", f"unknown country {country!r} (ISO 3166 alpha-2)")
    return f"+{code}"


_PREFIX = re.compile(r"^\+?\d+$")


def normalize_prefix(prefix: str, country: str = "US", dialcode: str | None = None) -> str:
    """A search prefix in E.164 form: `415` → `+1415`, `+1415` stays, `+1+1415` is refused."""
    text = re.sub(r"\s", "", str(prefix or ""))
    if not text or not _PREFIX.match(text):
        raise errors.Invalid("prefix", f"prefix {prefix!r} must be digits, optionally after '+'")
    if text.startswith("+"):
        return text
    code = dialcode or dialcode_for(country)
    if not code.startswith("+"):
        code = "+" + code
    if not _PREFIX.match(code):
        raise errors.Invalid("dialcode", f"dial code {dialcode!r} must be digits")
    # North American area codes never start with 1, so a leading 1 is the dial code the
    # user typed out of habit (1415, 1415886): keep it once, never `+11415…`
    if code == "+1" and text.startswith("1"):
        return "+" + text
    return code + text


def identify(number: str) -> dict[str, Any]:
    """What is known about a number: classifier, country and type from phonenumbers."""
    normalized = normalize(number)
    out: dict[str, Any] = {"number": normalized, "classifier": classify(normalized)}
    try:
        parsed = phonenumbers.parse(normalized, None)
    except phonenumbers.NumberParseException:
        out["valid"] = False
        return out
    out["valid"] = phonenumbers.is_valid_number(parsed)
    out["country"] = phonenumbers.region_code_for_number(parsed)
    out["type"] = _NUMBER_TYPES.get(phonenumbers.number_type(parsed), "unknown")
    out["e164"] = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    out["national"] = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return out


_T = phonenumbers.PhoneNumberType
_NUMBER_TYPES = {
    _T.FIXED_LINE: "fixed_line", _T.MOBILE: "mobile", _T.FIXED_LINE_OR_MOBILE: "fixed_or_mobile",
    _T.TOLL_FREE: "toll_free", _T.PREMIUM_RATE: "premium_rate", _T.SHARED_COST: "shared_cost",
    _T.VOIP: "voip", _T.PERSONAL_NUMBER: "personal", _T.PAGER: "pager", _T.UAN: "uan",
    _T.VOICEMAIL: "voicemail",
}


#: the letters of a telephone keypad (ITU E.161), for vanity numbers (`415FLOWERS`)
KEYPAD = {letter: digit for digit, letters in (("2", "ABC"), ("3", "DEF"), ("4", "GHI"),
                                               ("5", "JKL"), ("6", "MNO"), ("7", "PQRS"),
                                               ("8", "TUV"), ("9", "WXYZ"))
          for letter in letters}
_VANITY = re.compile(r"^\+?[0-9A-Za-z]*[A-Za-z][0-9A-Za-z]*$")
_TOLLFREE_WILDCARD = re.compile(r"^(?:\+?1)?(8\d?)\*+$")


def vanity_digits(text: str) -> str | None:
    """A vanity number or prefix dialled on a keypad (`415FLOWERS` → `4153569377`,
    `+1800CALLNOW` → `+18002255669`); None when `text` has no letters or anything else but
    digits and a leading `+`."""
    if not _VANITY.match(text):
        return None
    return "".join(KEYPAD.get(c.upper(), c) for c in text)


def tollfree_wildcard(text: str) -> str | None:
    """The digits of a US toll-free wildcard search (Kazoo's `80*` … `88*`, Bandwidth's
    `tollFreeWildCardPattern`; `1`/`+1` may lead): `80*` → `80`; None for anything else."""
    match = _TOLLFREE_WILDCARD.match(text)
    return match.group(1) if match else None


def region_of(number: str) -> str | None:
    """The ISO 3166 region (`US`, `CA`, `GB`) a carrier's country parameter wants for an E.164
    number (`+14165550123` → `CA`) or prefix (`+4420` → `GB`: the main region of its dial
    code); None when the digits start no dial code. Carriers that take a country beside the
    number (Twilio's path, Vonage's `country`) ask this rather than guessing from `+1`."""
    digits = number.lstrip("+")
    if not digits.isdigit():
        return None
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_valid_number(parsed):
        region = phonenumbers.region_code_for_number(parsed)
        if region and region != "ZZ":
            return region
    for length in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:length] or 0))
        if regions and regions[0] != "001":
            return regions[0]
    return None
