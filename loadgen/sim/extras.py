"""What a station keeps beyond the idle path, made only when it is needed.

An idle charger holds no :class:`Extras` (its ``ext`` is None): a station gets one when
it first needs any of this: its own identity (serial number and idTags from the ids
file), an EV on a connector (metering), a charging profile, a reservation, a local
authorization list or cache, installed certificates, network connection profiles, a
firmware update or log upload under way, a fault plan, security events waiting for a
connection. So 100,000 idle chargers cost what they did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loadgen.ocpp.dialect import Identity, IdInfo
    from loadgen.ocpp.profiles import ChargingProfile
    from loadgen.ocpp.tariffs import Tariff
    from loadgen.sim.certificates import CertificateStore
    from loadgen.sim.metering import Ev
    from loadgen.sim.network import Network
    from loadgen.sim.tariffs import TxCost

#: Entries kept in the authorization cache (oldest dropped first, C10.FR.07).
CACHE_ENTRIES = 64


class Reservation:
    """A reservation of one connector (or of any, ``connector_id`` 0: 1.6 connector 0,
    2.x no evseId) until ``expires_at`` (the events' clock)."""

    __slots__ = ("connector_id", "expires_at", "group_tag", "id_tag", "reservation_id", "tags")

    def __init__(
        self,
        reservation_id: int,
        connector_id: int,
        id_tag: str,
        group_tag: str | None,
        expires_at: float,
    ) -> None:
        self.reservation_id = reservation_id
        self.connector_id = connector_id
        self.id_tag = id_tag
        self.group_tag = group_tag  # 1.6 parentIdTag / 2.0.1 groupIdToken
        self.expires_at = expires_at
        # the tag and its parent, casefolded: idTags are case-insensitive (1.6 7.28 CiString,
        # errata 3.74)
        self.tags = frozenset(t.casefold() for t in (id_tag, group_tag) if t is not None)

    def admits(self, id_tag: str, parent: str | None = None) -> bool:
        """Whether ``id_tag`` (whose parent / group tag is ``parent``, when known) may use
        it: the tag or its parent is the reservation's tag or parent (1.6 5.13; 2.0.1's
        groupIdToken)."""
        tags = self.tags
        return id_tag.casefold() in tags or (parent is not None and parent.casefold() in tags)


class FirmwareJob:
    """An UpdateFirmware under way: its step, when the next one is due, how it ends."""

    __slots__ = ("due_at", "fails_at", "install_at", "request_id", "signed", "step", "version")

    def __init__(
        self,
        request_id: int | None,
        signed: bool,
        version: str,
        due_at: float,
        fails_at: str | None,
        install_at: float | None = None,
    ) -> None:
        self.request_id = request_id
        self.signed = signed
        self.version = version  # the version the charger reports once installed
        # scheduled, downloading, install_scheduled, waiting, installing, rebooting
        self.step = "scheduled"
        self.due_at: float | None = due_at
        self.fails_at = fails_at  # download, install, signature or None
        self.install_at = install_at  # not installed before then (2.0.1 installDateTime)


class LogJob:
    """A diagnostics / log upload under way."""

    __slots__ = ("kind", "request_id", "token")

    def __init__(self, kind: str, request_id: int | None, token: int) -> None:
        self.kind = kind  # Diagnostics (1.6 GetDiagnostics), DiagnosticsLog or SecurityLog
        self.request_id = request_id
        self.token = token  # matches the Upload action's answer


class EvsAtConnectors(dict[int, "Ev"]):
    """Connector id -> the EV charging there. An EV plugged in takes over its connector's
    export register (2.1 V2X), before the Started event is built from it: a meter
    register never falls, so a second session starts where the first one ended."""

    __slots__ = ("export_wh",)

    def __init__(self, export_wh: dict[int, int]) -> None:
        super().__init__()
        self.export_wh = export_wh  # the station's export registers, by connector id

    def __setitem__(self, connector_id: int, ev: Ev) -> None:
        ev.export_wh = float(self.export_wh.get(connector_id, 0))
        super().__setitem__(connector_id, ev)


class Extras:
    """The lazily made part of a station (see the module docstring)."""

    __slots__ = (
        "aligned_at",
        "cache",
        "certificates",
        "claimed",
        "costs",
        "due",
        "evs",
        "export_wh",
        "fault_at",
        "faulted",
        "firmware",
        "firmware_status",
        "firmware_version",
        "id_tags",
        "identity",
        "local_list",
        "local_version",
        "log",
        "log_status",
        "marked",
        "network",
        "new_password",
        "pending_events",
        "reshare",
        "profiles",
        "recover_at",
        "reservations",
        "serial_number",
        "tariffs",
        "uploads",
    )

    def __init__(self) -> None:
        self.identity: Callable[[str], Identity] | None = None
        self.serial_number: str | None = None
        self.id_tags: tuple[str, ...] = ()
        self.firmware_version: str | None = None  # after an installed update
        self.firmware: FirmwareJob | None = None
        self.firmware_status: tuple[str, int | None] | None = None  # last sent, request id
        self.log: LogJob | None = None
        self.log_status: tuple[str, int | None] | None = None
        self.uploads = 0  # numbers the uploads' tokens
        self.reservations: dict[int, Reservation] = {}  # by reservationId (H01.FR.02)
        # connectors reported Reserved for the reservations of no connector (2.x H01.FR.20)
        self.marked: set[int] = set()
        #: connector id -> the reservation its session set aside (ended by its transaction)
        self.claimed: dict[int, Reservation] = {}
        # the local list and the cache, by casefolded tag (idTags are case-insensitive)
        self.local_list: dict[str, IdInfo] | None = None
        self.local_version = 0
        self.cache: dict[str, IdInfo] | None = None  # what the server said last of each tag
        self.certificates: CertificateStore | None = None  # installed CA certificates
        self.profiles: list[ChargingProfile] = []
        self.export_wh: dict[int, int] = {}  # connector id -> export register (2.1 V2X)
        self.evs = EvsAtConnectors(self.export_wh)
        # EVSE id (0: all) -> its default tariffs (2.1) as (in force from, tariff), in that
        # order: the one in force and those announced for later (validFrom to come)
        self.tariffs: dict[int, list[tuple[float, Tariff]]] = {}
        self.costs: dict[int, TxCost] = {}  # connector id -> its transaction's cost so far
        self.fault_at: float | None = None  # a faulty charger's next fault
        self.recover_at: float | None = None
        self.faulted: int | None = None  # the faulted connector
        #: security events to send once online: kind, techInfo, when it happened
        self.pending_events: list[tuple[str, str | None, float]] = []
        # a BasicAuthPassword / AuthorizationKey the server set: the station reconnects
        # with it once its answer is out (A01)
        self.new_password: bytes | None = None
        self.network: Network | None = None  # network connection profiles (2.0.1 B09, B10)
        self.reshare = False  # a transaction began or ended: the limit is shared anew
        self.aligned_at: float | None = None  # the next clock-aligned reading
        self.due: float | None = None  # the earliest of the times above

    def refresh_due(self) -> None:
        """Recompute :attr:`due` from the jobs, reservations, faults and aligned readings."""
        at: float | None = None
        candidates = [self.fault_at, self.recover_at, self.aligned_at]
        if self.firmware is not None:
            candidates.append(self.firmware.due_at)
        candidates.extend(r.expires_at for r in self.reservations.values())
        for candidate in candidates:
            if candidate is not None and (at is None or candidate < at):
                at = candidate
        self.due = at

    def held_on(self, connector_id: int) -> Reservation | None:
        """The reservation of this connector (not one of any connector), if any."""
        for held in self.reservations.values():
            if held.connector_id == connector_id:
                return held
        return None

    def remember(self, key: str, info: IdInfo) -> None:
        """Note what the server said of a tag (``key``: casefolded) in the authorization
        cache (C10.FR.04/05)."""
        cache = self.cache
        if cache is None:
            cache = self.cache = {}
        cache.pop(key, None)
        cache[key] = info
        if len(cache) > CACHE_ENTRIES:
            del cache[next(iter(cache))]
