"""The phone-number record: Kazoo's number document, with dirty tracking.

Field names and JSON keys follow Kazoo so its documents load and save unchanged. Setters
record whether anything changed (`is_dirty`), which decides whether an operation writes: an
unchanged number is never saved, so a no-op update costs no write and no revision bump.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from knm import errors
from knm.phone import normalize, to_db
from knm.values import is_account_id, now_gregorian

__all__ = ["LOCAL_MODULES", "STATES", "PhoneNumber", "now_gregorian", "public_fields"]

STATES = ("aging", "available", "deleted", "discovery", "in_service", "port_in", "port_out",
          "released", "reserved")
#: Kazoo's rule, by name because it is a rule of the *document*: numbers of these modules carry
#: the `local` feature (set and cleared with the module name, as `knm_phone_number` does)
LOCAL_MODULES = ("knm_local", "knm_mdn")


@lru_cache(maxsize=4096)
def _prefix_db(prefix: str) -> str | None:
    return to_db(prefix)


def _number_db(number: str) -> str | None:
    """`to_db` depends only on the first five characters: cached per prefix (bulk paths)."""
    return _prefix_db(number[:5]) if len(number) >= 5 else None


def is_public_key(key: str) -> bool:
    return not key.startswith("_") and not key.startswith("pvt_")


def public_fields(doc: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (doc or {}).items()
            if is_public_key(k) and k not in ("id", "used_by")}


_SCALARS = (str, int, float, bool, type(None))


def _tree_copy(value: Any) -> Any:
    """A copy of a JSON-shaped value (dicts and lists of scalars, as records hold); anything
    else is left to `copy.deepcopy`."""
    if isinstance(value, _SCALARS):
        return value
    if type(value) is dict:
        return {key: _tree_copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_tree_copy(item) for item in value]
    return copy.deepcopy(value)


def _is_empty(value: Any) -> bool:
    return value is None or value in ([], "", {}, 0) and not isinstance(value, bool)


class PhoneNumber:
    """One number and everything knm knows about it."""

    def __init__(self, number: str) -> None:
        self.number: str = number
        self.number_db: str | None = _number_db(number)
        self.rev: str | None = None
        self.version: int = 0  # store version; 0 = never saved
        # `assign_to` is the operation's transient target (Kazoo's name: the account a
        # create/move/reserve puts the number in), never stored; `assigned_to` is the stored
        # owner. One letter apart, different lifetimes: kept for Kazoo's field names.
        self.assign_to: str | None = None
        self.assigned_to: str | None = None
        self.prev_assigned_to: str | None = None
        self.used_by: str | None = None
        self.features: dict[str, Any] = {}
        self.state: str | None = None
        self.reserve_history: list[str] = []
        self.ported_in: bool = False
        self.module_name: str | None = None
        self.carrier_data: dict[str, Any] = {}
        self.region: str | None = None
        self.auth_by: str | None = None
        self.dry_run: bool = False
        self.mdn_run: bool = False
        self.locality: dict[str, Any] | None = None
        self.doc: dict[str, Any] = {}
        self.modified: int | None = None
        self.created: int | None = None
        self.is_dirty: bool = False
        self.features_allowed: list[str] = []
        self.features_denied: list[str] = []
        #: SPEC §5.1: `acquire` / `disconnect` while a carrier order is under way or
        #: unsettled (its reference and status are in `carrier_data`); None otherwise
        self.pending_operation: str | None = None

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def new(cls, number: str, *, module_name: str | None = None, state: str | None = None
            ) -> PhoneNumber:
        """A number not stored yet. New records are dirty: they have to be written."""
        pn = cls.from_json({"_id": number})
        if module_name is not None:
            pn.set_module_name(module_name)
        if state is not None:
            pn.set_state(state)
        return pn

    @classmethod
    def from_json(cls, doc: dict[str, Any], *, default_module: str = "knm_local"
                  ) -> PhoneNumber:
        """Read a Kazoo number document (legacy keys and module names migrated). A document
        without a carrier gets `default_module` (the operations pass the configured
        `available_module_name`)."""
        raw_id = doc.get("_id") or doc.get("id")
        if not isinstance(raw_id, str) or not raw_id:
            raise errors.Invalid("_id", "a number document needs an `_id`")
        number = normalize(raw_id)
        if not number.startswith("+") or len(number) < 2:
            raise errors.Invalid("_id", f"{raw_id!r} is not a phone number")
        pn = cls(number)
        pn.assigned_to = doc.get("pvt_assigned_to") or None
        pn.used_by = doc.get("pvt_used_by") or None
        pn.prev_assigned_to = doc.get("pvt_previously_assigned_to") or None
        pn.reserve_history = list(doc.get("pvt_reserve_history") or [])
        created, modified = doc.get("pvt_created"), doc.get("pvt_modified")
        stamp = now_gregorian()
        if isinstance(modified, int) and not isinstance(modified, bool):
            pn.modified = modified
        else:
            pn.modified, pn.is_dirty = stamp, True
        if isinstance(created, int) and not isinstance(created, bool):
            pn.created = created
        else:
            pn.created, pn.is_dirty = stamp, True
        pn.doc = public_fields(doc)
        state = doc.get("pvt_state") or doc.get("pvt_number_state")
        pn.state = state if state in STATES else None
        pn.ported_in = bool(doc.get("pvt_ported_in", False))
        raw_features = doc.get("pvt_features")
        module = doc.get("pvt_module_name")
        pn.module_name = None
        # features first, then the carrier (Kazoo's order): a local carrier then adds its
        # `local` feature even to a legacy list of features
        if raw_features is None:
            pn.reset_features()
        elif isinstance(raw_features, list):  # Kazoo 3.22's list of names
            pn.features = {name: {} for name in raw_features}
            pn._migrate_feature_names()
            pn.is_dirty = True
        elif isinstance(raw_features, dict):
            pn.features = copy.deepcopy(raw_features)
            if pn._migrate_feature_names():
                pn.is_dirty = True
        pn.set_module_name(module if module not in (None, "undefined") else default_module,
                           loading=module not in (None, "undefined"))
        pn.carrier_data = copy.deepcopy(doc.get("pvt_carrier_data") or {})
        pn.region = doc.get("pvt_region")
        pn.auth_by = doc.get("pvt_authorizing_account")
        pn.features_allowed = list(doc.get("pvt_features_allowed") or [])
        pn.features_denied = list(doc.get("pvt_features_denied") or [])
        if "pvt_number_state" in doc:
            pn.is_dirty = True
        pn.rev = doc.get("_rev")
        return pn

    def _migrate_feature_names(self) -> bool:
        changed = False
        for legacy in ("dash_e911", "vitelity_e911", "telnyx_e911"):
            if legacy in self.features:
                self.features.setdefault("e911", self.features.pop(legacy))
                changed = True
        return changed

    def copy(self) -> PhoneNumber:
        """An independent record: every attribute copied, its JSON trees (doc, features,
        carrier data, lists) copied node by node — a settle of a thousand numbers copies
        each record twice, and `copy.deepcopy` was a third of its CPU."""
        out = object.__new__(type(self))
        out.__dict__ = {key: _tree_copy(value) for key, value in self.__dict__.items()}
        return out

    # -- JSON out ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Kazoo's number document."""
        out: dict[str, Any] = dict(self.doc)
        out.update({
            "_id": self.number,
            "pvt_created": self.created or now_gregorian(),
            "pvt_modified": self.modified or now_gregorian(),
            "pvt_type": "number",
            "pvt_db_name": self.number_db,
            "pvt_module_name": self.module_name,
            "pvt_ported_in": self.ported_in,
            "pvt_state": self.state,
        })
        optional = {
            "_rev": self.rev,
            "pvt_assigned_to": self.assigned_to,
            "pvt_carrier_data": self.carrier_data,
            "pvt_features": self.features,
            "pvt_features_allowed": self.features_allowed,
            "pvt_features_denied": self.features_denied,
            "pvt_previously_assigned_to": self.prev_assigned_to,
            "pvt_region": self.region,
            "pvt_reserve_history": self.reserve_history,
            "pvt_used_by": self.used_by,
        }
        out.update({k: v for k, v in optional.items() if not _is_empty(v)})
        return out

    def features_list(self) -> list[str]:
        return sorted(self.features)

    def to_public_json(self) -> dict[str, Any]:
        """What users see (Crossbar's number JSON): public fields plus `_read_only`."""
        out: dict[str, Any] = dict(self.doc)
        extra = {"state": self.state, "used_by": self.used_by,
                 "features": self.features_list()}
        out.update({k: v for k, v in extra.items() if not _is_empty(v)})
        read_only: dict[str, Any] = {
            "created": self.created or now_gregorian(),
            "modified": self.modified or now_gregorian(),
            "features": {"available": self.features_allowed,
                         "settings": copy.deepcopy(self.features)},
            "state": self.state,
        }
        if self.module_name and self.module_name.startswith("knm_"):
            read_only["carrier_module"] = self.module_name.removeprefix("knm_")
        if self.state == "deleted":
            read_only["is_deleted"] = True
        if self.assigned_to:
            read_only["assigned_to"] = self.assigned_to
        if self.locality:
            read_only["locality"] = self.locality
        out["_read_only"] = read_only
        out["id"] = self.number
        return out

    # -- setters -----------------------------------------------------------------------------

    def _touch(self) -> None:
        self.is_dirty = True
        self.modified = now_gregorian()

    def set_module_name(self, name: str | None, *, loading: bool = False) -> None:
        """Set the carrier; migrates `wnm_*` and `knm_bandwidth` names (dirtying)."""
        migrated = False
        if name in (None, "undefined"):
            name, migrated = "knm_local", True
        elif name.startswith("wnm_"):
            name, migrated = "knm_" + name.removeprefix("wnm_"), True
        if name == "knm_bandwidth":
            name, migrated = "knm_bandwidth2", True
        previous = self.module_name
        if name == previous:
            return
        if name in LOCAL_MODULES:
            self.features = dict(self.features)
            self.features["local"] = self.features.get("local") or {}
        elif "local" in self.features:
            self.features = {k: v for k, v in self.features.items() if k != "local"}
        self.module_name = name
        if migrated or (previous is not None and not loading):
            self._touch()

    def set_state(self, state: str) -> None:
        if state not in STATES:
            raise errors.Invalid("state", f"unknown state {state!r}; one of {', '.join(STATES)}")
        if state == self.state:
            return
        first = self.state is None
        self.state = state
        if not first:
            self._touch()

    def set_assigned_to(self, account_id: str | None) -> None:
        if account_id == self.assigned_to:
            return
        if is_account_id(self.assigned_to):
            self.prev_assigned_to = self.assigned_to
        self.assigned_to = account_id
        self.used_by = None
        self._touch()

    def set_used_by(self, app: str | None) -> None:
        if app == self.used_by:
            return
        self.used_by = app
        self._touch()

    def set_ported_in(self, ported_in: bool) -> None:
        if bool(ported_in) == self.ported_in:
            return
        self.ported_in = bool(ported_in)
        self._touch()

    def set_dry_run(self, value: bool) -> None:
        self.dry_run = bool(value)

    def set_carrier_data(self, data: dict[str, Any] | None) -> None:
        data = dict(data or {})
        if data == self.carrier_data:
            return
        self.carrier_data = data
        self._touch()

    def update_carrier_data(self, data: dict[str, Any]) -> None:
        """Merge `data` in; existing keys win (Kazoo's rule), nulls are dropped."""
        merged = _merge_existing_wins(data, self.carrier_data)
        if merged != self.carrier_data:
            self.carrier_data = merged
            self._touch()

    def set_feature(self, name: str, data: Any) -> None:
        if self.features.get(name) == data and name in self.features:
            return
        self.features = dict(self.features)
        self.features[name] = data
        self._touch()

    def reset_features(self) -> None:
        """Local numbers keep their `local` feature; everything else is cleared."""
        new = ({"local": self.features.get("local") or {}}
               if self.module_name in LOCAL_MODULES else {})
        if new != self.features:
            had = bool(self.features)
            self.features = new
            if had:
                self._touch()

    def set_locality(self, locality: dict[str, Any] | None) -> None:
        self.locality = locality

    def reset_doc(self, doc: dict[str, Any] | None = None) -> None:
        """Replace the public fields (private ones are kept)."""
        new = public_fields(doc)
        if new != self.doc:
            self.doc = new
            self._touch()

    def set_reserve_history(self, history: list[str]) -> None:
        if list(history) != self.reserve_history:
            self.reserve_history = list(history)
            self._touch()

    def add_reserve_history(self, account_id: str | None) -> None:
        if account_id is None:
            return
        if self.reserve_history and self.reserve_history[0] == account_id:
            self._touch()
            return
        self.reserve_history = [account_id] + self.reserve_history
        self._touch()

    def unwind_reserve_history(self, released_state: str = "available") -> None:
        """Hand the number back to the previous reserver, or release it."""
        history = self.reserve_history
        if len(history) >= 2:
            self.set_assigned_to(history[1])
            self.set_reserve_history(history[1:])
            self.set_state("reserved")
        else:
            self.set_assigned_to(None)
            self.set_reserve_history([])
            self.set_state(released_state)

    def __repr__(self) -> str:
        return (f"PhoneNumber({self.number!r}, state={self.state!r}, "
                f"module={self.module_name!r}, assigned_to={self.assigned_to!r})")


def _merge_existing_wins(new: dict[str, Any], existing: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in new.items() if v is not None}
    for key, value in existing.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and value:
            out[key] = _merge_existing_wins(out[key], value)
        else:
            out[key] = value
    return {k: v for k, v in out.items() if v is not None}
