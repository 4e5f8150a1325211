"""Reservations, the local authorization list and the authorization cache.

The part of :class:`~loadgen.sim.station.Station` that decides who may charge where.
Tags are compared case-insensitively throughout (1.6 7.28 CiString20, errata 3.74).

* **Reservations** (1.6 5.13 / 5.3, 2.0.1 H01 / H02): ReserveNow makes a connector
  Reserved until its expiry; only the reserved tag, its parent / group tag, or a tag of
  that group (its parent known from the local list or the cache) can start there, and
  that start carries the reservationId and ends the reservation (H01.FR.15). At the
  expiry the connector is Available again (2.0.1 ReservationStatusUpdate Expired); a
  fault or an Inoperative change removes it (H01.FR.16/17: Removed). Reservations of
  connector 0 (no EVSE) hold no connector: each keeps one free (see
  :meth:`Authorization._held_for_another`); 2.x reports the last free ones Reserved
  (:meth:`Authorization._mark_reserved`), 1.6 none.
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
  its expiry counts as Expired (1.6 3.5.1, 3.5.4). Offline with unknown-tag allowance, a
  tag neither holds, or one they hold as Accepted, is too (1.6 3.5.4, C13.FR.04). An
  answer that contradicts the list is a LocalListConflict (1.6 3.5.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loadgen.sim.connectors import Connector, Outgoing
from loadgen.sim.extras import Reservation
from loadgen.sim.part import StationPart
from loadgen.sim.states import ACCEPTED, ONLINE

if TYPE_CHECKING:
    from loadgen.ocpp.dialect import ConnectorStatus, IdInfo, StopReason
    from loadgen.sim.extras import Extras

#: The ``connector_id`` of a reservation of connector 0 (any connector; 2.x no evseId).
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
        def _free(self, connector: Connector, held_ok: bool = False) -> bool: ...
        def _queue(self, item: Outgoing, *, front: bool = False) -> None: ...
        def _queue_station_status(
            self, now: float, triggered: bool = False, error: str = "NoError"
        ) -> None: ...
        def _set_status(
            self, connector: Connector, status: ConnectorStatus, now: float
        ) -> None: ...
        def _show_status(
            self, connector: Connector, status: ConnectorStatus, now: float
        ) -> None: ...
        def _update_due(self) -> None: ...
        def read_setting(self, name: str) -> str | None: ...
        def end_transaction(
            self,
            connector: Connector,
            now: float,
            reason: StopReason,
            unplug: bool = True,
            stopped_by: str | None = None,
        ) -> None: ...

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
        replaced = ext.reservations.pop(reservation_id, None)  # H01.FR.02; 1.6 5.13
        if replaced is not None:
            self._unreserve(replaced, now)
        if connector_id is None:
            if not self._flag("reserve_unspecified"):  # H01.FR.19; 1.6 connector 0
                return "Rejected"
            targets = self.connectors
            # H01.FR.04/07, 1.6 5.13: one connector stays free for each of them
            if len(self._open_connectors()) > self._any_held():
                self._reserved(
                    Reservation(reservation_id, ANY_CONNECTOR, id_tag, group_tag, expires_at)
                )
                self._mark_reserved(now)
                return "Accepted"
        else:
            wanted = self._connector(connector_id)
            if wanted is None:
                return "Rejected"
            targets = [wanted]
            if self._free(wanted) and not self._held_for_another(wanted, None):
                self._reserved(
                    Reservation(reservation_id, wanted.id, id_tag, group_tag, expires_at)
                )
                self._set_status(wanted, "Reserved", now)  # H01.FR.23
                return "Accepted"
        statuses = {c.status for c in targets}
        if statuses == {"Faulted"}:
            return "Faulted"  # H01.FR.12
        if all(not c.operative or c.status == "Unavailable" for c in targets):
            return "Unavailable"  # H01.FR.14
        return "Occupied"  # H01.FR.11

    def _reserved(self, reservation: Reservation) -> None:
        ext = self._extras()
        ext.reservations[reservation.reservation_id] = reservation
        self.counters.reservations += 1
        ext.refresh_due()
        self._update_due()

    def _unreserve(self, held: Reservation, now: float) -> None:
        """A reservation ended: its connector is Available again; one of any connector
        may leave connectors marked Reserved free (:meth:`_mark_reserved`)."""
        if held.connector_id != ANY_CONNECTOR:
            connector = self.connectors[held.connector_id - 1]
            if connector.status == "Reserved":
                self._set_status(connector, "Available", now)
        self._mark_reserved(now)

    def cancel_reservation(self, reservation_id: int) -> str:
        """Cancel it: the connector is Available again (H02.FR.03/04; 1.6 5.1)."""
        ext = self.ext
        held = None if ext is None else ext.reservations.pop(reservation_id, None)
        if ext is None or held is None:
            return "Rejected"
        self.counters.reservations_cancelled += 1
        self._unreserve(held, self.now_s)
        ext.refresh_due()
        self._update_due()
        return "Accepted"

    def _any_held(self) -> int:
        """How many reservations of any connector are held."""
        ext = self.ext
        if ext is None:
            return 0
        return sum(1 for held in ext.reservations.values() if held.connector_id == ANY_CONNECTOR)

    def _open_connectors(self) -> list[Connector]:
        """The connectors a reservation of any connector may still count on: the free
        ones with nothing plugged in, and those reported Reserved only for such
        reservations (2.x H01.FR.20)."""
        ext = self.ext
        marked = () if ext is None else ext.marked
        return [c for c in self.connectors if c.id in marked or (not c.plugged and self._free(c))]

    def _mark_reserved(self, now: float) -> None:
        """2.x H01.FR.20: while the open connectors (:meth:`_open_connectors`) are no more
        than the reservations of any connector, each is reported Reserved; once they are
        more (a reservation used, cancelled or expired, a connector freed), Available
        again. 1.6 reports none (the dialect's ``marks_reserved_for_any``). Called where
        a reservation or a connector's status changes, while a reservation is held."""
        ext = self.ext
        if ext is None or not self.dialect.marks_reserved_for_any:
            return
        marked = ext.marked
        for connector_id in [i for i in marked if self.connectors[i - 1].status != "Reserved"]:
            marked.discard(connector_id)  # its status moved on (a session, a fault)
        if not marked and not ext.reservations:
            return
        held = self._any_held()
        open_connectors = self._open_connectors()
        mark = held > 0 and len(open_connectors) <= held
        for connector in open_connectors:
            if mark and connector.id not in marked:
                marked.add(connector.id)
                self._show_status(connector, "Reserved", now)
            elif not mark and connector.id in marked:
                marked.discard(connector.id)
                self._show_status(connector, "Available", now)

    def _reserved_for(self, connector: Connector, id_tag: str, group: str | None = None) -> bool:
        """Whether ``id_tag`` (of ``group``, when the request says) may start on this
        Reserved connector: its reservation, or, when it is marked for the reservations of
        any connector, one of those takes the tag."""
        ext = self.ext
        if ext is None:
            return False
        held = ext.held_on(connector.id)
        if held is not None:
            return self._admits(held, id_tag, group)
        return connector.id in ext.marked and self._any_for(id_tag, group) is not None

    def _any_for(self, id_tag: str, group: str | None = None) -> Reservation | None:
        """A reservation of any connector that takes ``id_tag``, if any."""
        ext = self.ext
        if ext is not None:
            for held in ext.reservations.values():
                if held.connector_id == ANY_CONNECTOR and self._admits(held, id_tag, group):
                    return held
        return None

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
        """Whether a session of ``id_tag`` (None: a tag not known yet, or a reservation;
        of ``group``, when the request says) on this open connector would leave fewer
        open connectors than reservations of any connector it does not use (1.6 5.13:
        "one connector remains available for the reserved idTag"; H01.FR.07). A tag such
        a reservation takes uses one up, and may start on any open connector."""
        held = self._any_held()
        if held == 0:
            return False
        if id_tag is not None and self._any_for(id_tag, group) is not None:
            held -= 1
        return len(self._open_connectors()) - 1 < held

    def _claim(self, connector: Connector, id_tag: str, group: str | None = None) -> None:
        """A session of the reserved tag (or group) begins here: the reservation (the
        connector's, else one of any connector) is set aside for it, and ends when its
        transaction starts; a session that ends before that gives it back
        (:meth:`_unclaim`; 1.6 5.13, H01: only a transaction ends a reservation)."""
        ext = self.ext
        if ext is None:
            return
        held = ext.held_on(connector.id)
        if held is None or not self._admits(held, id_tag, group):
            held = self._any_for(id_tag, group)
            if held is None:
                return
        del ext.reservations[held.reservation_id]
        ext.claimed[connector.id] = held
        ext.refresh_due()
        ext.marked.discard(connector.id)  # its session's status follows
        self._mark_reserved(self.now_s)

    def _unclaim(self, connector: Connector, now: float) -> None:
        """The session set aside a reservation here and started no transaction (refused,
        unanswered, unplugged): the reservation holds again (until its expiry), and
        the connector it names is Reserved again."""
        ext = self.ext
        held = None if ext is None else ext.claimed.pop(connector.id, None)
        if ext is None or held is None:
            return
        ext.reservations[held.reservation_id] = held
        ext.refresh_due()
        self._update_due()
        if held.connector_id == connector.id and connector.status == "Available":
            self._set_status(connector, "Reserved", now)
        else:
            self._mark_reserved(now)

    def _expire_reservations(self, now: float) -> None:
        ext = self.ext
        assert ext is not None
        for key, held in list(ext.reservations.items()):
            if now >= held.expires_at:
                del ext.reservations[key]
                self.counters.reservations_expired += 1
                self._unreserve(held, now)
                self._reservation_update(held.reservation_id, "Expired")

    def _drop_reservation(self, connector: Connector, now: float) -> None:
        """The connector went Faulted or Unavailable: its reservation is removed."""
        ext = self.ext
        held = None if ext is None else ext.held_on(connector.id)
        if ext is not None and held is not None:
            del ext.reservations[held.reservation_id]
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
        """The list's version; 2.x: 0 while LocalAuthListCtrlr.Enabled is false (D02.FR.03);
        1.6: 0 while the list is empty (5.10: "0 SHALL be used to indicate that the local
        authorization list is empty"), also after a versioned update emptied it."""
        ext = self.ext
        if self.dialect.version == "1.6":
            return 0 if ext is None or not ext.local_list else ext.local_version
        if ext is None or not self._flag("local_auth_list_enabled"):
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
        if self._locally_authorized(id_tag):
            self.counters.authorized_locally += 1
            return True
        return False

    def _locally_authorized(self, id_tag: str) -> bool:
        """Whether the tag is authorized without asking the server: online with
        LocalPreAuthorize, offline with LocalAuthorizeOffline (1.6 3.5), and Accepted in
        the local list, or else in the cache. Offline with AllowOfflineTxForUnknownId /
        OfflineTxForUnknownIdEnabled, a tag neither knows (1.6 3.5.4, C15.FR.08), and one
        they hold as Accepted even without LocalAuthorizeOffline (C13.FR.04: the list's
        Accepted entries; 1.6 3.5.4: a tag they cannot authorize counts as unknown); an
        entry not Accepted, or past its expiry, refuses the tag (1.6 3.5.4, C13.FR.06)."""
        ext = self.ext
        online = self.phase == ONLINE and self.registration == ACCEPTED
        unknown_ok = not online and self._flag("allow_offline_tx_for_unknown_id")
        # C13.FR.01: the list first, else the cache; else Authorize
        info = None if ext is None else self._known(id_tag.casefold())
        if info is None:
            return unknown_ok
        if not unknown_ok and not self._flag(
            "local_pre_authorize" if online else "local_authorize_offline"
        ):
            return False
        if info.group is not None and self._is_master_group(info.group):
            return False  # a Master Pass is the server's to tell (C16): Authorize it
        return self._status_now(info) == "Accepted"

    def _is_master_group(self, group: str) -> bool:
        """Whether a group tag is AuthCtrlr.MasterPassGroupId (C16; empty: no group is)."""
        master = self.read_setting("master_pass_group_id")
        if not master:
            return False
        return self.dialect.token_value(group).casefold() == master.casefold()

    def _master_pass(self, info: IdInfo, now: float, id_tag: str | None = None) -> bool:
        """Whether the server's answer makes the tag (``id_tag``) a Master Pass (its
        groupIdToken is AuthCtrlr.MasterPassGroupId); then every transaction stops
        (C16.FR.02: a station without a UI), its end naming the tag (E07.FR.02), and the
        tag starts none (C16.FR.03)."""
        if info.group is None or not self._is_master_group(info.group):
            return False
        for connector in self.connectors:
            if connector.tx is not None:
                self.end_transaction(connector, now, "MasterPass", stopped_by=id_tag)
        return True

    def _learn(self, id_tag: str, info: IdInfo | None) -> None:
        """What the server said of a tag (an Authorize's or a transaction start's answer).

        1.6: a status the local list contradicts is a LocalListConflict (3.5.2), told by
        connector 0's StatusNotification; Accepted and ConcurrentTx both mean valid
        (3.5.2). The cache remembers it (3.5.1: all IdTagInfo received; C10.FR.04/05),
        unless the list holds the tag (3.5.3), while the cache is on and something reads
        it (else it would only cost memory): LocalPreAuthorize, LocalAuthorizeOffline, or
        the unknown-tag allowance, for which a tag the cache holds is not unknown
        (C13.FR.04, 1.6 3.5.4)."""
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
        if self._flag("auth_cache_enabled") and (
            self._flag("local_pre_authorize")
            or self._flag("local_authorize_offline")
            or self._flag("allow_offline_tx_for_unknown_id")
        ):
            self._extras().remember(key, info)

    def _forget(self, key: str) -> IdInfo | None:
        """Remove a casefolded tag from the cache, the customer data a station keeps besides
        the local list, which only the CSMS changes (2.0.1 N10.FR.03/06); what the cache
        held of it."""
        ext = self.ext
        cache = None if ext is None else ext.cache
        return None if cache is None else cache.pop(key, None)

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
