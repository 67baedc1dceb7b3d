"""The one clock knm's time-to-live checks read: the config snapshot's age and the search
caches' expiry.

It is injectable so that a test moves time forward (`with clock.use(ManualClock()) as now:
now.advance(2)`) instead of sleeping through a TTL: instant, and deterministic on a loaded
machine. Two readings, because the two kinds of TTL need different clocks:

- `monotonic()` for what lives and dies in one process (the config snapshot, the in-memory
  cache): it never jumps when the host's time is set.
- `wall()` for expiry stamps that several processes compare (the database cache's rows).

Redis expires its keys on its own clock, which nothing here reaches.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def wall(self) -> float: ...


class SystemClock:
    """The host's clocks: what knm reads unless a test says otherwise."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class ManualClock:
    """Time that moves only when told to (`advance`), starting from the real readings."""

    def __init__(self) -> None:
        self._monotonic = time.monotonic()
        self._wall = time.time()

    def monotonic(self) -> float:
        return self._monotonic

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        self._monotonic += seconds
        self._wall += seconds


_current: Clock = SystemClock()

C = TypeVar("C", bound=Clock)


def monotonic() -> float:
    """Seconds on the current clock's monotonic reading (for in-process TTLs)."""
    return _current.monotonic()


def wall() -> float:
    """Seconds since the epoch on the current clock (for TTLs other processes compare)."""
    return _current.wall()


@contextmanager
def use(clock: C) -> Iterator[C]:
    """Read time from `clock` inside the block (every cache and the config snapshot, existing
    ones included, since they read through this module); the previous clock afterwards."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
