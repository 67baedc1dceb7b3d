"""`knm.numbering.is_valid` gives phonenumbers' own verdict (at a fifteenth of the cost), on
every region's example numbers and their neighbours, and on random digits."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knm import numbering


def reference(text: str) -> bool:
    """phonenumbers' answer for E.164 text (which also caps E.164 at 15 digits)."""
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return False
    return (len(text) - 1 <= 15 and phonenumbers.is_valid_number(parsed)
            and phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == text)


def _examples() -> list[str]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(11):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                found.append(phonenumbers.format_number(example,
                                                        phonenumbers.PhoneNumberFormat.E164))
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            found.append(phonenumbers.format_number(example,
                                                    phonenumbers.PhoneNumberFormat.E164))
    return sorted(set(found))


def test_agrees_with_phonenumbers_on_real_numbers_and_their_neighbours() -> None:
    rng = random.Random(7)
    samples = []
    for example in _examples():
        samples.append(example)
        samples.extend(example[:-3] + f"{rng.randrange(1000):03d}" for _ in range(5))
        samples.extend(example[:-5] + f"{rng.randrange(100000):05d}" for _ in range(5))
        samples.extend([example + "0", example[:-1]])  # one digit too many, too few
    assert len(samples) > 10_000
    assert sum(map(numbering.is_valid, samples)) > 4_000  # not a suite of rejections
    assert [s for s in samples if numbering.is_valid(s) != reference(s)] == []


@settings(max_examples=3000, deadline=None)
@given(code=st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
       digits=st.text(alphabet="0123456789", min_size=0, max_size=15))
def test_agrees_with_phonenumbers_on_random_digits(code: int, digits: str) -> None:
    text = f"+{code}{digits}"
    assert numbering.is_valid(text) == reference(text)


@pytest.mark.parametrize("text", ["", "+", "14155550100", "+1 415 555 0100", "+1415555010x",
                                  "+١٤١٥٥٥٥٠١٠٠", "+999123", "+1999", "+10", "+4155550100",
                                  "+1415555010012345"])
def test_not_numbers(text: str) -> None:
    assert not numbering.is_valid(text)


def test_split_and_country_code() -> None:
    assert numbering.split("+14155550100") == (1, "4155550100")
    assert numbering.split("+442079460000") == (44, "2079460000")
    assert numbering.split("+883510000000091") == (883, "510000000091")
    assert numbering.split("+999123") is None and numbering.split("4155550100") is None
    assert numbering.country_code("+33999999999") == 33
    assert numbering.is_valid("+14155550100") and numbering.is_valid("+883510000000091")
