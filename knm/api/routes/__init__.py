"""The HTTP routes, one module per job; `knm.api.app.create_app` includes them in the order
`ROUTERS` gives (Starlette matches routes in order).

`numbers.router` ends with `…/phone_numbers/{number}`, which matches any word, so it must come
after every router with a more specific `…/phone_numbers/<word>` path (`collection`, `fix`,
`orders`, …): a new router goes before it.
"""

from __future__ import annotations

V2 = "/v2"
ACCOUNT = V2 + "/accounts/{account_id}/phone_numbers"
