"""knm: one interface to phone-number carriers — search, buy, release and check numbers."""

from knm.errors import KnmError
from knm.numbers.record import PhoneNumber

__all__ = ["KnmError", "PhoneNumber", "__version__"]
__version__ = "0.1.0"
