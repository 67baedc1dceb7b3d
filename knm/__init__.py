"""knm: one interface to phone-number carriers — search, buy, release and check numbers.

`knm.PhoneNumber` is resolved on first use (PEP 562), so `import knm.errors` — or any small
module — does not load the number record and its dependencies (phonenumbers) first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from knm.errors import KnmError

if TYPE_CHECKING:
    from knm.record import PhoneNumber

__all__ = ["KnmError", "PhoneNumber", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "PhoneNumber":
        from knm.record import PhoneNumber

        return PhoneNumber
    raise AttributeError(f"module 'knm' has no attribute {name!r}")
