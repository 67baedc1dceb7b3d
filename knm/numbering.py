"""Which E.164 numbers are real: phonenumbers' numbering plans, compiled for bulk checks.

`phonenumbers.is_valid_number` costs about 30 µs for a US number (it matches a dozen type
patterns twice, with Python around each match), so validating the million numbers of one
`knm numbers generate` or inventory import would take longer than storing them. The verdict
here is the same — phonenumbers' own metadata, read the way `is_valid_number` reads it (the
calling code's regions in order, a region's leading digits deciding for it, a number valid
when it matches the general pattern and one type's pattern of that length) — but each
region's patterns for one length are joined into one compiled regex: about 2 µs a number.
`tests/core/test_numbering.py` holds the two to the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

#: the number types `is_valid_number` accepts (any type but UNKNOWN); geographic ones first,
#: as most numbers are
_TYPES = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip",
          "personal_number", "pager", "uan", "voicemail")
#: E.164: at most 15 digits after the `+`
MAX_DIGITS = 15


#: "1", "44", "883": the calling code its digits name (calling codes are prefix-free, so at
#: most one of a number's first three digits' prefixes is one)
_CODE_OF = {str(code): code for code in COUNTRY_CODE_TO_REGION_CODE}
#: (calling code, length of the national number) → the check of that shape of number
_checks: dict[tuple[int, int], Callable[[str], object]] = {}


def split(number: str) -> tuple[int, str] | None:
    """`+14155550100` → `(1, "4155550100")`: the calling code and the national significant
    number. None when the text is not `+` and digits, or starts with no calling code."""
    if number[:1] != "+" or not number[1:].isdigit() or not number.isascii():
        return None
    head = number[1:4]
    code = _CODE_OF.get(head[:1]) or _CODE_OF.get(head[:2]) or _CODE_OF.get(head)
    if code is None:
        return None
    return code, number[1 + len(str(code)):]


def country_code(number: str) -> int | None:
    parts = split(number)
    return parts[0] if parts else None


def is_valid(number: str) -> bool:
    """True for a number in E.164 form (`+` and at most 15 digits) that phonenumbers takes as
    a valid number of its calling code: a real country's (or a non-geographic service's, such
    as iNum's +883) numbering plan has numbers of that shape."""
    if len(number) - 1 > MAX_DIGITS:
        return False
    parts = split(number)
    if parts is None:
        return False
    code, national = parts
    key = (code, len(national))
    check = _checks.get(key)
    if check is None:
        check = _checks.setdefault(key, _check_for(code, len(national)))
    return bool(check(national))


def _check_for(code: int, length: int) -> Callable[[str], object]:
    """How to check a national number of `length` digits after `code`: the one region's
    pattern, or — when several regions share the code (NANP) — phonenumbers' walk through
    them: the region whose leading digits match decides; one without leading digits accepts
    what its patterns match."""
    plans = _plans(code)
    if len(plans) == 1:
        only = _pattern(code, plans[0][0], length)
        return only.fullmatch if only is not None else _never
    steps = [(leading, _pattern(code, region, length)) for region, leading in plans]

    def check(national: str) -> bool:
        for leading, pattern in steps:
            matches = pattern is not None and pattern.fullmatch(national) is not None
            if leading is not None:
                if leading.match(national):  # the number is this region's: its verdict
                    return matches
            elif matches:
                return True
        return False

    return check


def _never(national: str) -> bool:
    return False


@cache
def _plans(code: int) -> tuple[tuple[str, re.Pattern[str] | None], ...]:
    """The calling code's regions in phonenumbers' order, with their leading-digits pattern
    (read only when several regions share the code)."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    out: list[tuple[str, re.Pattern[str] | None]] = []
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
        if metadata is None:
            continue
        leading = metadata.leading_digits if len(regions) > 1 else None
        out.append((region, re.compile(leading) if leading else None))
    return tuple(out)


@lru_cache(maxsize=4096)
def _pattern(code: int, region: str, length: int) -> re.Pattern[str] | None:
    """One regex for "valid in `region` at this length": the general pattern as a lookahead,
    then any type whose possible lengths allow `length`. None: no number of this length."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    if metadata is None:
        return None
    general = _desc_pattern(metadata.general_desc, length)
    if general is None:
        return None
    types = list(dict.fromkeys(p for p in (_desc_pattern(getattr(metadata, name), length)
                                           for name in _TYPES) if p))
    if not types:
        return None
    return re.compile(f"(?=(?:{general})\\Z)(?:" + "|".join(f"(?:{p})" for p in types) + ")")


def _desc_pattern(desc: object, length: int) -> str | None:
    """A number description's pattern if numbers of `length` can match it."""
    if desc is None:
        return None
    lengths = getattr(desc, "possible_length", None) or ()
    if lengths and length not in lengths:
        return None
    return getattr(desc, "national_number_pattern", None) or None
