"""Reservations, the local authorization list and the authorization cache.

The part of :class:`~loadgen.sim.station.Station` that decides who may charge where.

* **Reservations** (1.6 5.13 / 5.3, 2.0.1 H01 / H02): ReserveNow makes a connector
  Reserved until its expiry; only the reserved tag (or its parent / group tag) can start
  there, and that start carries the reservationId and ends the reservation (H01.FR.15).
  At the expiry the connector is Available again (2.0.1 ReservationStatusUpdate Expired);
  a fault or an Inoperative change removes it (H01.FR.16/17: Removed).
* **Local list** (1.6 5.15 / 5.9, 2.0.1 D01 / D02): SendLocalList Full replaces it,
  Differential adds, updates and (entries without a status) removes; a Differential at
  or below the current version is a VersionMismatch (D01.FR.19).
* **Cache** (C10, C11): the last status the server gave each tag; ClearCache empties it.
  With LocalPreAuthorize, a tag the list holds as Accepted (the list first, C13.FR.01),
  or else the cache, starts without Authorize (C12.FR.02, C14.FR.02).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loadgen.sim.connectors import Connector, Outgoing
from loadgen.sim.extras import Reservation
from loadgen.sim.part import StationPart

if TYPE_CHECKING:
    from loadgen.ocpp.dialect import ConnectorStatus
    from loadgen.sim.extras import Extras


class Authorization(StationPart):
    """Reservations, local list and cache (a part of :class:`Station`)."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:  # more of the Station this is a part of (StationPart: the common ones)

        def _extras(self) -> Extras: ...
        def _flag(self, name: str) -> bool: ...
        def _int_setting(self, name: str, default: int) -> int: ...
        def _connector(self, connector_id: int) -> Connector | None: ...
        def _free(self, connector: Connector) -> bool: ...
        def _queue(self, item: Outgoing, *, front: bool = False) -> None: ...
        def _set_status(
            self, connector: Connector, status: ConnectorStatus, now: float
        ) -> None: ...
        def _update_due(self) -> None: ...

    # -- reservations ---------------------------------------------------------------------

    def reserve_now(
        self,
        reservation_id: int,
        connector_id: int | None,
        expiry_at: float,
        id_tag: str,
        group_tag: str | None,
    ) -> str:
        """Reserve a connector (or, when the setting allows, any free one) for ``id_tag``."""
        now = self.now_s
        if self.dialect.version != "1.6" and not self._flag("reservation_enabled"):
            return "Rejected"  # H01.FR.01
        expires_at = expiry_at - self.wall_offset_s
        if expires_at <= now:
            return "Rejected"
        ext = self._extras()
        for held_on, held in list(ext.reservations.items()):
            if held.reservation_id == reservation_id:  # replaced (H01.FR.02; 1.6 5.13)
                del ext.reservations[held_on]
                connector = self.connectors[held_on - 1]
                if connector.status == "Reserved":
                    self._set_status(connector, "Available", now)
        if connector_id is None:
            if not self._flag("reserve_unspecified"):  # H01.FR.19; 1.6 connector 0
                return "Rejected"
            targets = self.connectors
        else:
            wanted = self._connector(connector_id)
            if wanted is None:
                return "Rejected"
            targets = [wanted]
        for connector in targets:
            if self._free(connector):
                ext.reservations[connector.id] = Reservation(
                    reservation_id, id_tag, group_tag, expires_at
                )
                self.counters.reservations += 1
                self._set_status(connector, "Reserved", now)  # H01.FR.23
                ext.refresh_due()
                self._update_due()
                return "Accepted"
        statuses = {c.status for c in targets}
        if statuses == {"Faulted"}:
            return "Faulted"  # H01.FR.12
        if all(not c.operative or c.status == "Unavailable" for c in targets):
            return "Unavailable"  # H01.FR.14
        return "Occupied"  # H01.FR.11

    def cancel_reservation(self, reservation_id: int) -> str:
        """Cancel it: the connector is Available again (H02.FR.03/04; 1.6 5.1)."""
        ext = self.ext
        if ext is not None:
            for connector_id, held in list(ext.reservations.items()):
                if held.reservation_id == reservation_id:
                    del ext.reservations[connector_id]
                    self.counters.reservations_cancelled += 1
                    connector = self.connectors[connector_id - 1]
                    if connector.status == "Reserved":
                        self._set_status(connector, "Available", self.now_s)
                    ext.refresh_due()
                    self._update_due()
                    return "Accepted"
        return "Rejected"

    def _reserved_for(self, connector: Connector, id_tag: str) -> bool:
        """Whether ``id_tag`` may start on this Reserved connector."""
        ext = self.ext
        held = None if ext is None else ext.reservations.get(connector.id)
        return held is not None and held.admits(id_tag)

    def _claim(self, connector: Connector, id_tag: str) -> None:
        """A session of the reserved tag begins here: its start ends the reservation."""
        ext = self.ext
        held = None if ext is None else ext.reservations.get(connector.id)
        if ext is None or held is None or not held.admits(id_tag):
            return
        del ext.reservations[connector.id]
        ext.claimed[connector.id] = held.reservation_id
        self.counters.reservations_used += 1
        ext.refresh_due()

    def _expire_reservations(self, now: float) -> None:
        ext = self.ext
        assert ext is not None
        for connector_id, held in list(ext.reservations.items()):
            if now >= held.expires_at:
                del ext.reservations[connector_id]
                self.counters.reservations_expired += 1
                connector = self.connectors[connector_id - 1]
                if connector.status == "Reserved":
                    self._set_status(connector, "Available", now)
                self._reservation_update(held.reservation_id, "Expired")

    def _drop_reservation(self, connector: Connector, now: float) -> None:
        """The connector went Faulted or Unavailable: its reservation is removed."""
        ext = self.ext
        held = None if ext is None else ext.reservations.pop(connector.id, None)
        if held is not None:
            self._reservation_update(held.reservation_id, "Removed")  # H01.FR.16/17

    def _reservation_update(self, reservation_id: int, status: str) -> None:
        request = self.dialect.reservation_status(reservation_id, status)
        if request is not None:
            self._queue(Outgoing(*request, "other"))

    # -- local list and cache -------------------------------------------------------------

    def send_local_list(
        self, version: int, full: bool, entries: list[tuple[str, str | None]]
    ) -> str:
        """Replace or update the local list (see the module docstring)."""
        if not self._flag("local_auth_list_enabled"):
            return "Failed" if self.dialect.version != "1.6" else "NotSupported"
        if len(entries) > self._int_setting("send_local_list_max_length", 500):
            return "Failed"  # D01.FR.11
        if len({tag for tag, _ in entries}) != len(entries):
            return "Failed"  # D01.FR.06: unique tokens
        ext = self._extras()
        if full:
            fresh = {tag: status for tag, status in entries if status is not None}
        else:
            if version <= ext.local_version:
                return "VersionMismatch"  # D01.FR.19; 1.6 5.15
            fresh = dict(ext.local_list or {})
            for tag, status in entries:
                if status is None:
                    fresh.pop(tag, None)  # D01.FR.17
                else:
                    fresh[tag] = status  # D01.FR.16
        if len(fresh) > self._int_setting("local_auth_list_max_length", 1000):
            return "Failed"
        ext.local_list = fresh or None
        ext.local_version = version
        return "Accepted"

    def local_list_version(self) -> int:
        """The list's version; 2.x: 0 while LocalAuthListCtrlr.Enabled is false (D02.FR.03)."""
        ext = self.ext
        if ext is None or (
            self.dialect.version != "1.6" and not self._flag("local_auth_list_enabled")
        ):
            return 0
        return ext.local_version

    def _locally_authorized(self, id_tag: str) -> bool:
        """LocalPreAuthorize and the tag is Accepted in the local list, or else in the cache."""
        ext = self.ext
        if ext is None or not self._flag("local_pre_authorize"):
            return False
        local = ext.local_list
        if local is not None and self._flag("local_auth_list_enabled") and id_tag in local:
            return local[id_tag] == "Accepted"  # C13.FR.01: the list first; else Authorize
        cache = ext.cache
        if cache is not None and self._flag("auth_cache_enabled"):
            return cache.get(id_tag) == "Accepted"
        return False

    def _cache(self, id_tag: str, status: str | None) -> None:
        """Remember the server's status for a tag (C10.FR.04/05) when the cache is on and
        LocalPreAuthorize uses it (else a cache would only cost memory)."""
        if (
            status is not None
            and self._flag("local_pre_authorize")
            and self._flag("auth_cache_enabled")
        ):
            self._extras().remember(id_tag, status)

    def clear_cache(self) -> str:
        """Empty the authorization cache (C11.FR.03; Rejected when it is off, C11.FR.04)."""
        if not self._flag("auth_cache_enabled"):
            return "Rejected"
        ext = self.ext
        if ext is not None:
            ext.cache = None
        return "Accepted"
