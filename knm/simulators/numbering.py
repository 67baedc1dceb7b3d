"""What the carrier simulators of Twilio, SignalWire, Vonage and Flowroute share beyond base.py.

base.py stocks NANP numbers only and leaves auth to each simulator. These four carriers all use
HTTP Basic auth, and three of them describe a number's place (state, city, rate center), so
those pieces live here once: the Basic check, an invented but stable locality per area code,
and a deterministic international stock (GB) with the same "minus what is owned" rule as
`Simulator.stock`.
"""

from __future__ import annotations

import base64
import hashlib
import random
from typing import Any

from knm.simulators.base import TOLLFREE_NPAS, RecordedRequest, Simulator

#: area code → (state, city, LATA, postal code, latitude, longitude); the rest are invented
NPA_PLACES: dict[str, tuple[str, str, str, str, str, str]] = {
    "201": ("NJ", "Jersey City", "224", "07302", "40.72", "-74.05"),
    "206": ("WA", "Seattle", "674", "98101", "47.61", "-122.33"),
    "212": ("NY", "New York", "132", "10001", "40.75", "-73.99"),
    "213": ("CA", "Los Angeles", "730", "90012", "34.05", "-118.24"),
    "303": ("CO", "Denver", "656", "80202", "39.75", "-104.99"),
    "305": ("FL", "Miami", "460", "33130", "25.77", "-80.20"),
    "312": ("IL", "Chicago", "358", "60601", "41.88", "-87.63"),
    "404": ("GA", "Atlanta", "438", "30303", "33.75", "-84.39"),
    "415": ("CA", "San Francisco", "722", "94105", "37.79", "-122.39"),
    "512": ("TX", "Austin", "558", "78701", "30.27", "-97.74"),
    "617": ("MA", "Boston", "128", "02108", "42.36", "-71.06"),
    "646": ("NY", "New York", "132", "10011", "40.74", "-74.00"),
    "702": ("NV", "Las Vegas", "721", "89101", "36.17", "-115.14"),
    "808": ("HI", "Hilo", "834", "96720", "19.72", "-155.09"),
    "973": ("NJ", "Newark", "224", "07102", "40.74", "-74.17"),
}
_STATES = ("AL", "AZ", "KY", "MI", "MN", "MO", "NC", "OH", "OR", "PA", "TN", "UT", "VA", "WI")


def basic_auth(request: RecordedRequest) -> tuple[str, str] | None:
    """The (user, password) of an HTTP Basic `Authorization` header, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def place(national: str) -> dict[str, Any]:
    """Where a 10-digit NANP number is: state, city, rate center, LATA, postal code, lat/long.
    Known area codes get their real city; others a stable invented one. Toll-free numbers
    have no place (empty strings), as carriers answer them."""
    npa = national[:3]
    if npa in TOLLFREE_NPAS:
        return {"region": "", "city": "", "rate_center": "", "lata": "", "postal_code": "",
                "latitude": "", "longitude": ""}
    known = NPA_PLACES.get(npa)
    if known is None:
        pick = int(hashlib.sha256(npa.encode()).hexdigest()[:8], 16)
        state = _STATES[pick % len(_STATES)]
        known = (state, f"Town {npa}", str(100 + pick % 800), f"{pick % 90000 + 10000}",
                 "38.00", "-95.00")
    state, city, lata, postal, lat, lon = known
    return {"region": state, "city": city,
            "rate_center": city.upper().replace(" ", "")[:10], "lata": lata,
            "postal_code": postal, "latitude": lat, "longitude": lon}


def npas_in(region: str = "", city: str = "") -> list[str]:
    """The known area codes of a state (and city), for searches that name a place only."""
    return [npa for npa, (state, town, *_rest) in sorted(NPA_PLACES.items())
            if (not region or state == region.upper())
            and (not city or town.lower() == city.lower())]


def international(sim: Simulator, dial_code: str, start: str, quantity: int, *,
                  length: int = 10) -> list[str]:
    """Up to `quantity` E.164 numbers `+<dial_code><start>…` whose national part has `length`
    digits, sorted, the same every run for a simulator, minus the ones it owns."""
    start = "".join(ch for ch in start if ch.isdigit())[:length]
    digest = hashlib.sha256(f"{sim.name}:{dial_code}:{start}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    room = 10 ** (length - len(start))
    target = min(sim.stock_size, room)
    pool: set[str] = set()
    while len(pool) < target:
        rest = "".join(rng.choice("0123456789") for _ in range(length - len(start)))
        if not start and rest[0] == "0":
            continue
        pool.add(f"+{dial_code}{start}{rest}")
    with sim.lock:
        free = sorted(n for n in pool if n not in sim.owned)
    return free[:max(0, quantity)]


def gb_kind(number: str) -> str:
    """`local`, `mobile` or `tollfree` for a +44 number, by its national prefix."""
    national = number.removeprefix("+44")
    if national.startswith(("800", "808")):
        return "tollfree"
    if national.startswith("7"):
        return "mobile"
    return "local"


def nanp_kind(number: str) -> str:
    """`tollfree` or `local` for a +1 number."""
    return "tollfree" if number[2:5] in TOLLFREE_NPAS else "local"
