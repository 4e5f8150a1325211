"""Reservations, the local authorization list and the authorization cache.

The part of :class:`~loadgen.sim.station.Station` that decides who may charge where.
Tags are compared case-insensitively throughout (1.6 7.28 CiString20, errata 3.74).

* **Reservations** (1.6 5.13 / 5.3, 2.0.1 H01 / H02): ReserveNow makes a connector
  Reserved until its expiry; only the reserved tag, its parent / group tag, or a tag of
  that group (its parent known from the local list or the cache) can start there, and
  that start carries the reservationId and ends the reservation (H01.FR.15). At the
  expiry the connector is Available again (2.0.1 ReservationStatusUpdate Expired); a
  fault or an Inoperative change removes it (H01.FR.16/17: Removed). A reservation of
  connector 0 (no EVSE) holds no connector: see :meth:`Authorization._held_for_another`.
* **Local list** (1.6 5.15 / 5.9, 2.0.1 D01 / D02): SendLocalList Full replaces it,
  Differential adds, updates and (entries without a status) removes; a Differential at
  or below the current version is a VersionMismatch (D01.FR.19). Entries keep their
  expiry and parent tag.
* **Cache** (1.6 3.5.1, C10, C11): what the server said last of each tag, from every
  Authorize and transaction start answer, except for tags the list holds (1.6 3.5.3);
  ClearCache empties it.
* **Local authorization** (1.6 3.5): online with LocalPreAuthorize, offline with
  LocalAuthorizeOffline, a tag the list holds as Accepted (the list first, C13.FR.01), or
  else the cache, is authorized without Authorize (C12.FR.02, C14.FR.02); an entry past
  its expiry counts as Expired (1.6 3.5.1, 3.5.4). An answer that contradicts the list is
  a LocalListConflict (1.6 3.5.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loadgen.sim.connectors import Connector, Outgoing
from loadgen.sim.extras import Reservation
from loadgen.sim.part import StationPart
from loadgen.sim.states import ACCEPTED, ONLINE

if TYPE_CHECKING:
    from loadgen.ocpp.dialect import ConnectorStatus, IdInfo
    from loadgen.sim.extras import Extras

#: The key of a reservation of connector 0 (any connector) in ``Extras.reservations``.
ANY_CONNECTOR = 0


class Authorization(StationPart):
    """Reservations, local list and cache (a part of :class:`Station`)."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:  # more of the Station this is a part of (StationPart: the common ones)
        phase: int
        registration: int

        def _extras(self) -> Extras: ...
        def _flag(self, name: str) -> bool: ...
        def _int_setting(self, name: str, default: int) -> int: ...
        def _connector(self, connector_id: int) -> Connector | None: ...
        def _free(self, connector: Connector) -> bool: ...
        def _queue(self, item: Outgoing, *, front: bool = False) -> None: ...
        def _queue_station_status(
            self, now: float, triggered: bool = False, error: str = "NoError"
        ) -> None: ...
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
                self._unreserve(held_on, now)
        reservation = Reservation(reservation_id, id_tag, group_tag, expires_at)
        if connector_id is None:
            if not self._flag("reserve_unspecified"):  # H01.FR.19; 1.6 connector 0
                return "Rejected"
            targets = self.connectors
            free = [c for c in targets if self._free(c)]
            if free and ANY_CONNECTOR not in ext.reservations:  # one such at a time
                # 1.6 5.13: "SHALL NOT reserve a specific connector". No connector is
                # reported Reserved either: that status names one connector, which would
                # tell the server (and other drivers) that this one is taken while every
                # free connector still serves them. Instead the last free connector
                # refuses other tags (_held_for_another), and the reserved tag starts on
                # any connector. Marking the remaining connectors Reserved when no more
                # are free than reserved (what 2.0.1 H01 asks) would re-examine every
                # connector on each status change, a cost on every charger's status path.
                self._reserved(ANY_CONNECTOR, reservation)
                return "Accepted"
        else:
            wanted = self._connector(connector_id)
            if wanted is None:
                return "Rejected"
            targets = [wanted]
            if self._free(wanted) and not self._held_for_another(wanted, id_tag):
                self._reserved(wanted.id, reservation)
                self._set_status(wanted, "Reserved", now)  # H01.FR.23
                return "Accepted"
        statuses = {c.status for c in targets}
        if statuses == {"Faulted"}:
            return "Faulted"  # H01.FR.12
        if all(not c.operative or c.status == "Unavailable" for c in targets):
            return "Unavailable"  # H01.FR.14
        return "Occupied"  # H01.FR.11

    def _reserved(self, key: int, reservation: Reservation) -> None:
        ext = self._extras()
        ext.reservations[key] = reservation
        self.counters.reservations += 1
        ext.refresh_due()
        self._update_due()

    def _unreserve(self, key: int, now: float) -> None:
        """A reservation ended: its connector is Available again (that of connector 0
        changed no status)."""
        if key != ANY_CONNECTOR:
            connector = self.connectors[key - 1]
            if connector.status == "Reserved":
                self._set_status(connector, "Available", now)

    def cancel_reservation(self, reservation_id: int) -> str:
        """Cancel it: the connector is Available again (H02.FR.03/04; 1.6 5.1)."""
        ext = self.ext
        if ext is not None:
            for key, held in list(ext.reservations.items()):
                if held.reservation_id == reservation_id:
                    del ext.reservations[key]
                    self.counters.reservations_cancelled += 1
                    self._unreserve(key, self.now_s)
                    ext.refresh_due()
                    self._update_due()
                    return "Accepted"
        return "Rejected"

    def _reserved_for(self, connector: Connector, id_tag: str, group: str | None = None) -> bool:
        """Whether ``id_tag`` (of ``group``, when the request says) may start on this
        Reserved connector."""
        ext = self.ext
        held = None if ext is None else ext.reservations.get(connector.id)
        return held is not None and self._admits(held, id_tag, group)

    def _admits(self, held: Reservation, id_tag: str, group: str | None = None) -> bool:
        """Whether the reservation takes ``id_tag``: the tag, or its parent as the request
        gives it (2.0.1 RequestStartTransaction's groupIdToken, F01.FR.21/22,
        F02.FR.23/24) or as the local list or else the cache knows it (1.6 5.13, 3.10)."""
        if held.admits(id_tag, group):
            return True
        info = self._known(id_tag.casefold())
        return info is not None and info.group is not None and held.admits(id_tag, info.group)

    def _held_for_another(
        self, connector: Connector, id_tag: str | None, group: str | None = None
    ) -> bool:
        """Whether a session of ``id_tag`` (None: a tag not known yet; of ``group``, when
        the request says) on this free connector would leave no free connector for a
        reservation of connector 0 it does not satisfy (1.6 5.13: "one connector remains
        available for the reserved idTag")."""
        ext = self.ext
        held = None if ext is None else ext.reservations.get(ANY_CONNECTOR)
        if held is None or (id_tag is not None and self._admits(held, id_tag, group)):
            return False
        return not any(c is not connector and self._free(c) for c in self.connectors)

    def _claim(self, connector: Connector, id_tag: str, group: str | None = None) -> None:
        """A session of the reserved tag (or group) begins here: its start ends the
        reservation (the connector's, else one of connector 0)."""
        ext = self.ext
        if ext is None:
            return
        key = connector.id
        held = ext.reservations.get(key)
        if held is None or not self._admits(held, id_tag, group):
            key = ANY_CONNECTOR
            held = ext.reservations.get(key)
            if held is None or not self._admits(held, id_tag, group):
                return
        del ext.reservations[key]
        ext.claimed[connector.id] = held.reservation_id
        self.counters.reservations_used += 1
        ext.refresh_due()

    def _expire_reservations(self, now: float) -> None:
        ext = self.ext
        assert ext is not None
        for key, held in list(ext.reservations.items()):
            if now >= held.expires_at:
                del ext.reservations[key]
                self.counters.reservations_expired += 1
                self._unreserve(key, now)
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
        self, version: int, full: bool, entries: list[tuple[str, IdInfo | None]]
    ) -> str:
        """Replace or update the local list (see the module docstring).

        Failed for a version below 1: GetLocalListVersion could not tell it from no list
        (0) or no support (-1) (1.6 5.10, errata 3.52); and for a Full update with an
        entry that has no status (1.6 SendLocalList.req: required when Full), with no
        change."""
        if not self._flag("local_auth_list_enabled"):
            return "Failed" if self.dialect.version != "1.6" else "NotSupported"
        if version <= 0:
            return "Failed"
        if len(entries) > self._int_setting("send_local_list_max_length", 500):
            return "Failed"  # D01.FR.11
        keyed = [(tag.casefold(), info) for tag, info in entries]
        if len({key for key, _ in keyed}) != len(keyed):
            return "Failed"  # D01.FR.06: unique tokens
        ext = self._extras()
        fresh: dict[str, IdInfo]
        if full:
            fresh = {}
            for key, info in keyed:
                if info is None:
                    return "Failed"
                fresh[key] = info
        else:
            if version <= ext.local_version:
                return "VersionMismatch"  # D01.FR.19; 1.6 5.15
            fresh = dict(ext.local_list or {})
            for key, info in keyed:
                if info is None:
                    fresh.pop(key, None)  # D01.FR.17
                else:
                    fresh[key] = info  # D01.FR.16
        if len(fresh) > self._int_setting("local_auth_list_max_length", 1000):
            return "Failed"
        ext.local_list = fresh or None
        ext.local_version = version  # kept for an emptied list too (docs/fleets.md)
        cache = ext.cache
        if cache:  # listed tags leave the cache (1.6 3.5.3)
            for key in fresh.keys() & cache.keys():
                del cache[key]
        return "Accepted"

    def local_list_version(self) -> int:
        """The list's version; 2.x: 0 while LocalAuthListCtrlr.Enabled is false (D02.FR.03)."""
        ext = self.ext
        if ext is None or (
            self.dialect.version != "1.6" and not self._flag("local_auth_list_enabled")
        ):
            return 0
        return ext.local_version

    def _listed(self, key: str) -> IdInfo | None:
        """The local list's entry for a casefolded tag; None when there is none (or the
        list is off)."""
        ext = self.ext
        local = None if ext is None else ext.local_list
        if local is None or not self._flag("local_auth_list_enabled"):
            return None
        return local.get(key)

    def _known(self, key: str) -> IdInfo | None:
        """What the local list, else the cache, holds of a casefolded tag (1.6 3.5.3: the
        list has priority)."""
        info = self._listed(key)
        if info is None:
            ext = self.ext
            cache = None if ext is None else ext.cache
            if cache is not None and self._flag("auth_cache_enabled"):
                info = cache.get(key)
        return info

    def _status_now(self, info: IdInfo) -> str:
        """An entry's status now: Expired once past its expiry (1.6 3.5.1, 3.5.4)."""
        expires_at = info.expires_at
        if expires_at is not None and expires_at <= self.now_s + self.wall_offset_s:
            return "Expired"
        return info.status

    def _no_authorize_needed(self, id_tag: str) -> bool:
        """Whether a tag goes without an Authorize: authorization is off (2.x
        AuthCtrlr.Enabled false), or the local list / cache authorize it (counted)."""
        if not self._flag("auth_enabled"):
            return True
        if self.ext is not None and self._locally_authorized(id_tag):
            self.counters.authorized_locally += 1
            return True
        return False

    def _locally_authorized(self, id_tag: str) -> bool:
        """Whether the tag is authorized without asking the server: online with
        LocalPreAuthorize, offline with LocalAuthorizeOffline (1.6 3.5), and Accepted in
        the local list, or else in the cache."""
        ext = self.ext
        if ext is None:
            return False
        online = self.phase == ONLINE and self.registration == ACCEPTED
        if not self._flag("local_pre_authorize" if online else "local_authorize_offline"):
            return False
        info = self._known(id_tag.casefold())  # C13.FR.01: the list first; else Authorize
        return info is not None and self._status_now(info) == "Accepted"

    def _learn(self, id_tag: str, info: IdInfo | None) -> None:
        """What the server said of a tag (an Authorize's or a transaction start's answer).

        1.6: a status the local list contradicts is a LocalListConflict (3.5.2), told by
        connector 0's StatusNotification; Accepted and ConcurrentTx both mean valid
        (3.5.2). The cache remembers it (3.5.1: all IdTagInfo received; C10.FR.04/05),
        unless the list holds the tag (3.5.3), while the cache is on and LocalPreAuthorize
        or LocalAuthorizeOffline reads it (else it would only cost memory)."""
        if info is None:
            return
        key = id_tag.casefold()
        ext = self.ext
        listed = None if ext is None or ext.local_list is None else self._listed(key)
        if listed is not None:
            if self.dialect.version == "1.6" and _valid(self._status_now(listed)) != _valid(
                info.status
            ):
                self._queue_station_status(self.now_s, error="LocalListConflict")
            return
        if (
            self._flag("local_pre_authorize") or self._flag("local_authorize_offline")
        ) and self._flag("auth_cache_enabled"):
            self._extras().remember(key, info)

    def clear_cache(self) -> str:
        """Empty the authorization cache (C11.FR.03; Rejected when it is off, C11.FR.04)."""
        if not self._flag("auth_cache_enabled"):
            return "Rejected"
        ext = self.ext
        if ext is not None:
            ext.cache = None
        return "Accepted"


def _valid(status: str) -> str:
    """A status as the local list's validity: ConcurrentTx is a valid tag (1.6 3.5.2)."""
    return "Accepted" if status == "ConcurrentTx" else status
