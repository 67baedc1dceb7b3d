"""`knm_reserved_reseller`: numbers reserved for the searching account's reseller (Kazoo
§4.6), so a sub-account can pick from what its reseller set aside. Pages correctly."""

from __future__ import annotations

from knm.carriers.base import SearchOptions
from knm.carriers.reserved import Reserved


class ReservedReseller(Reserved):
    name = "knm_reserved_reseller"

    def owner(self, options: SearchOptions) -> str | None:
        # an account that is its own reseller: knm_reserved already offers these numbers,
        # and asking twice would only duplicate them
        if options.reseller_id == options.account_id:
            return None
        return options.reseller_id
