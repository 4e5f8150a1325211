"""Connectors, transactions and meters of a station: sessions from plug-in to unplug.

:class:`Sessions` is the part of :class:`~loadgen.sim.station.Station` that runs
charging sessions, whoever starts them: a scenario (a driver arrives after a pause, by
the fleet's arrivals: the station says a scenario is due, and its driver plugs in,
authorizes, starts, stops and unplugs through :mod:`loadgen.sim.steps`; loadgen's own
is :mod:`loadgen.scenarios.builtin`) or the server (RemoteStart /
RequestStartTransaction). A session::

    plug in (Preparing) -> [Authorize] -> start (Charging, metering) -> end (Finishing)
    -> unplug (Available, or Unavailable when an availability change was scheduled)

An answer other than Accepted to Authorize ends it before any transaction; one to the
start ends the transaction with DeAuthorized (StopTransactionOnInvalidId), or with that
setting false only stops the energy (SuspendedEVSE) while the transaction goes on. With
LocalPreAuthorize, a tag the local list (or the cache) holds as Accepted starts at once
(C14.FR.02, 1.6 3.5).

Every connector of a charging station runs its own sessions. The meter: with
``fleet.sessions`` an :class:`~loadgen.sim.metering.Ev` charges on its curve, else the
session's flat power; either way the charging profiles' limit caps it, integrated piece
by piece between the limit's changes, so the register never falls and the energy is the
integral of the power the samples show.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from loadgen.ocpp.dialect import ConnectorStatus, Payload, Sample, StartTrigger, StopReason
from loadgen.ocpp.samples import Reading, measurand_list
from loadgen.sim.metering import Ev
from loadgen.sim.part import StationPart
from loadgen.sim.states import ACCEPTED, ONLINE, STOPPED

if TYPE_CHECKING:
    from loadgen.ocpp.dialect import IdInfo
    from loadgen.ocpp.profiles import ChargingProfile
    from loadgen.sim.actions import Action
    from loadgen.sim.extras import Extras
    from loadgen.sim.steps import StationApi

#: Most pieces one meter update integrates (the limit's changes between two samples).
_MAX_PIECES = 50
_DAY_S = 86_400


def _on_boundary(wall: float, interval: int) -> bool:
    """Whether wall time ``wall`` (epoch seconds) is a boundary of ``interval`` counted
    from midnight UTC (midnight always is); never for 0 (off)."""
    if interval <= 0:
        return False
    into = (wall % _DAY_S) % interval
    return into < 2e-3 or interval - into < 2e-3 or _DAY_S - wall % _DAY_S < 2e-3


_ENDED = {
    "Local": "ended_local",
    "Remote": "ended_remote",
    "HardReset": "ended_reset",
    "SoftReset": "ended_reset",
    "ImmediateReset": "ended_reset",
    "Reboot": "ended_reset",
    "DeAuthorized": "ended_deauthorized",
}


class Transaction:
    """One transaction on one connector (what a dialect reads is ``TransactionLike``)."""

    __slots__ = (
        "connector_id",
        "deauthorized",
        "ended_for",
        "id_tag",
        "local_id",
        "power_w",
        "remote_start_id",
        "samples",
        "sampled_at",
        "seq_no",
        "server_id",
        "started_at",
    )

    def __init__(
        self, connector_id: int, local_id: str, id_tag: str, remote_start_id: int | None
    ) -> None:
        self.connector_id = connector_id
        self.local_id = local_id  # the station's id: 2.0.1's transactionId
        self.server_id: int | None = None  # the server's id (1.6), once the start is answered
        self.id_tag = id_tag
        self.remote_start_id = remote_start_id
        self.seq_no = 0  # the next TransactionEvent's seqNo (2.0.1)
        #: its authorization ended and it goes on with no energy delivered: the server
        #: refused its tag and StopTransactionOnInvalidId is false (1.6 errata 3.17,
        #: SuspendedEVSE by errata 3.64), or 2.x TxStopPoint keeps it open (E05, E06)
        self.deauthorized = False
        #: why its authorization ended, when the transaction went on (2.x TxStopPoint
        #: without Authorized): its stoppedReason once the EV leaves (E07.FR.05, F03)
        self.ended_for: StopReason | None = None
        self.started_at = 0.0  # the events' clock (a Relative profile's start)
        self.power_w = 0  # the power at the last sample (the fleet's power gauge)
        #: readings its end carries (StopTxnSampledData / TxEndedMeasurands), and when the
        #: last periodic one was taken
        self.samples: list[Sample] | None = None
        self.sampled_at = 0.0

    def next_seq(self) -> int:
        seq = self.seq_no
        self.seq_no = seq + 1
        return seq


class Outgoing:
    """One of the station's own CALLs, queued or in flight."""

    __slots__ = (
        "action",
        "attempts",
        "connector",
        "not_before",
        "payload",
        "pending_ok",
        "purpose",
        "status",
        "tx",
    )

    def __init__(
        self,
        action: str,
        payload: Payload,
        purpose: str,
        connector: Connector | None = None,
        tx: Transaction | None = None,
        *,
        pending_ok: bool = False,
        status: ConnectorStatus | None = None,
    ) -> None:
        self.action = action
        self.payload = payload
        #: what the answer means: boot, heartbeat, status, authorize, start, meter, end, other
        self.purpose = purpose
        self.connector = connector
        self.tx = tx
        self.pending_ok = pending_ok  # may go before the boot is Accepted (a trigger, a report)
        self.status = status  # a StatusNotification's status
        self.attempts = 0
        self.not_before = 0.0  # a retried transaction message waits until then


class Connector:
    """One connector (1.6) or EVSE (2.0.1) and the session on it, if any."""

    __slots__ = (
        "ends_at",
        "id",
        "id_tag",
        "last_meter_at",
        "limit_change_at",
        "meter_wh",
        "next_ended_at",
        "next_meter_at",
        "next_session_at",
        "operative",
        "phase",
        "plugged",
        "remote_start_id",
        "reported",
        "scenario",
        "scheduled_operative",
        "status",
        "trigger",
        "tx",
        "tx_profile",
    )

    def __init__(self, connector_id: int) -> None:
        self.id = connector_id
        self.status: ConnectorStatus = "Available"
        self.reported: ConnectorStatus | None = None  # the status last sent to the server
        self.operative = True
        self.scheduled_operative: bool | None = None  # applied when the session ends
        self.plugged = False
        self.phase: str | None = None  # None, "authorizing" or "charging"
        self.id_tag = ""
        self.trigger: StartTrigger = "Authorized"
        self.remote_start_id: int | None = None
        self.tx: Transaction | None = None
        #: a remote start's TxProfile, while its session waits for the Authorize answer
        self.tx_profile: ChargingProfile | None = None
        self.meter_wh = 0  # the energy register, Wh; it never falls
        self.last_meter_at = 0.0
        self.next_meter_at: float | None = None
        #: 2.x: the next reading kept for the Ended event (SampledDataCtrlr.TxEndedInterval)
        self.next_ended_at: float | None = None
        #: when the charging profiles' limit on its transaction may next change by itself
        #: (None: no profile, or no such change)
        self.limit_change_at: float | None = None
        self.ends_at: float | None = None  # when the session's planned duration is over
        self.next_session_at: float | None = None  # the charging scenario's next plug-in
        self.scenario = 0  # the token of the scenario that holds the connector (0: none)

    @property
    def busy(self) -> bool:
        """A session is on: authorizing or charging."""
        return self.phase is not None

    def unplug(self) -> None:
        """Forget the session without messages (a reboot)."""
        self.plugged = False
        self.phase = None
        self.tx = None
        self.tx_profile = None
        self.next_meter_at = self.ends_at = self.next_session_at = None
        self.limit_change_at = self.next_ended_at = None
        self.status = "Available" if self.operative else "Unavailable"

    def due(self) -> float | None:
        at = None
        for candidate in (
            self.next_meter_at,
            self.next_ended_at,
            self.ends_at,
            self.next_session_at,
            self.limit_change_at,
        ):
            if candidate is not None and (at is None or candidate < at):
                at = candidate
        return at


class Sessions(StationPart):
    """Sessions on the station's connectors (a part of :class:`Station`)."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:  # more of the Station this is a part of (StationPart: the common ones)
        api: StationApi | None
        charge_point_id: str
        charging: bool
        connector_due: float | None
        meter_interval_s: float
        out: list[Action]
        phase: int
        queue: list[Outgoing]
        registration: int
        rebooting: bool
        reset_when_idle: bool
        rng: random.Random
        stopping: bool
        tx_count: int

        def _queue(self, item: Outgoing, *, front: bool = False) -> None: ...
        def _flag(self, name: str) -> bool: ...
        def _locally_authorized(self, id_tag: str) -> bool: ...
        def _int_setting(self, name: str, default: int) -> int: ...
        def read_setting(self, name: str) -> str | None: ...
        def _begin_reboot(self, now: float, reason: StopReason | None) -> None: ...
        def _extras(self) -> Extras: ...
        def _limit_w(self, connector: Connector, now: float) -> tuple[float, float | None]: ...
        def _arm_limit_change(self, connector: Connector, now: float) -> None: ...
        def _install_tx_profile(self, connector: Connector, profile: ChargingProfile) -> None: ...
        def _no_authorize_needed(self, id_tag: str) -> bool: ...
        def _claim(self, connector: Connector, id_tag: str, group: str | None = None) -> None: ...
        def _unclaim(self, connector: Connector, now: float) -> None: ...
        def _firmware_blocks(self) -> bool: ...
        def _firmware_resume(self, now: float) -> None: ...
        def _powered_up(self, now: float) -> None: ...
        def _learn(self, id_tag: str, info: IdInfo | None) -> None: ...
        def _master_pass(self, info: IdInfo, now: float, id_tag: str | None = None) -> bool: ...
        def _is_master_group(self, group: str) -> bool: ...
        def _held_for_another(
            self, connector: Connector, id_tag: str | None, group: str | None = None
        ) -> bool: ...
        def _mark_reserved(self, now: float) -> None: ...
        def _tx_profiles_ended(self, connector: Connector) -> None: ...
        def _extras_due(self, now: float) -> None: ...
        def _status_event(self, connector: Connector, now: float) -> bool: ...
        def _notice(self, event: str, connector: Connector, detail: str) -> None: ...
        def _scenario_due(
            self, connector: Connector, kind: str, id_tag: str, stay_s: float
        ) -> None: ...
        def _tx_extra(
            self, connector: Connector, payload: Payload, now: float, stage: str
        ) -> None: ...
        def _export_metered(self, connector: Connector, ev: Ev) -> None: ...

    # -- status -------------------------------------------------------------------------

    def _set_status(self, connector: Connector, status: ConnectorStatus, now: float) -> None:
        """Change a connector's status and tell the server when what it sees changes."""
        self._show_status(connector, status, now)
        ext = self.ext
        if ext is not None and ext.reservations:
            self._mark_reserved(now)  # 2.x H01.FR.20: the connectors left may be Reserved

    def _show_status(self, connector: Connector, status: ConnectorStatus, now: float) -> None:
        """:meth:`_set_status` without the reservations' marking (which uses it)."""
        connector.status = status
        api = self.api
        if api is not None and api.notify:
            self._notice("status", connector, status)
        if self.phase != ONLINE or self.registration != ACCEPTED:
            return  # sent after the reconnect or the boot
        if self._wire(status) == self._wire(connector.reported):
            return
        self._queue_status(connector, now)

    def _queue_status(self, connector: Connector, now: float, triggered: bool = False) -> None:
        """Queue the connector's status; a ``triggered`` one may go while Pending (B02.FR.02).
        2.0.1 with ``fleet.notify_event``: a NotifyEvent of its AvailabilityState (G01)."""
        status = connector.reported = connector.status
        if not triggered and self.fleet.spec.notify_event and self._status_event(connector, now):
            return
        error = "NoError"
        if status == "Faulted":
            error = self.fleet.spec.faults.error_code
        request = self.dialect.status_notification(
            connector.id, status, error, now + self.wall_offset_s
        )
        self._queue(Outgoing(*request, "status", connector, pending_ok=triggered, status=status))

    def _wire(self, status: ConnectorStatus | None) -> str | None:
        """A status as the server sees it (2.0.1 folds Preparing, Charging ... into Occupied)."""
        return None if status is None else self.dialect.wire_status(status)

    def _report_statuses(self, now: float, every: bool) -> None:
        """After a reconnect: every connector's status (after a long time offline, B04.FR.01)
        or those that changed meanwhile (B04.FR.02)."""
        for connector in self.connectors:
            if every or self._wire(connector.status) != self._wire(connector.reported):
                self._queue_status(connector, now)

    def _after_power_up(self, now: float) -> None:
        """The first Accepted boot since power-up: every status, then the sessions (1.6
        errata 3.22: a StatusNotification for connector 0 and for each connector)."""
        if self.dialect.version == "1.6":
            self._queue_station_status(now)
        for connector in self.connectors:
            self._queue_status(connector, now)
        if self.charging:
            for connector in self._session_connectors():
                self._schedule_session(connector, now)
        self._powered_up(now)
        self._update_due()

    def _station_status(self) -> ConnectorStatus:
        """The station itself: Available while some connector is operative (1.6 connector
        0, 2.0.1 ChargingStation.AvailabilityState)."""
        return "Available" if any(c.operative for c in self.connectors) else "Unavailable"

    def _queue_station_status(
        self, now: float, triggered: bool = False, error: str = "NoError"
    ) -> None:
        """1.6: the Charge Point itself as connector 0 (Available or Unavailable)."""
        request = self.dialect.status_notification(
            0, self._station_status(), error, now + self.wall_offset_s
        )
        self._queue(Outgoing(*request, "status", pending_ok=triggered))

    # -- sessions -----------------------------------------------------------------------

    def _schedule_session(self, connector: Connector, now: float) -> None:
        """The charging scenario: plug in again after a random pause (exponential or
        uniform around ``fleet.sessions.mean_pause_s``, else up to ``session.pause_s``)."""
        arrivals = self.fleet.arrivals
        if arrivals is None:
            pause = self.rng.uniform(0, self.fleet.settings.session.pause_s)
        elif arrivals.arrival == "exponential":
            pause = self.rng.expovariate(1.0 / arrivals.mean_pause_s)
        else:
            pause = self.rng.uniform(0, 2 * arrivals.mean_pause_s)
        connector.next_session_at = now + pause

    def _session_connectors(self) -> list[Connector]:
        """The connectors the charging scenario uses: each of a fleet's (``fleet.models`` or
        ``fleet.sessions``), else the first alone, as charge_points.session always did."""
        spec = self.fleet.spec
        return self.connectors if spec.models or spec.sessions else self.connectors[:1]

    def _session_tag(self) -> str:
        """The tag of the charging scenario's next session: one of the charger's own
        (the ids file's), else of the fleet's, else ``session.id_tag``."""
        ext = self.ext
        if ext is not None and ext.id_tags:
            return self.rng.choice(ext.id_tags)
        arrivals = self.fleet.arrivals
        if arrivals is not None and arrivals.id_tags:
            return self.rng.choice(arrivals.id_tags)
        return self.fleet.settings.session.id_tag

    def _session_now(self, connector: Connector) -> str | None:
        """The tag of the session due on ``connector``, None if it must wait: the station
        is Accepted, not resetting or stopping, the connector free (or reserved for the
        tag); offline only with a tag it may start with locally (LocalAuthorizeOffline,
        AllowOfflineTxForUnknownId: its transaction messages wait in the offline queue)."""
        if self.registration != ACCEPTED or self.rebooting or self.stopping:
            return None
        online = self.phase == ONLINE
        if not online and (
            self.phase == STOPPED
            or not (
                self._flag("local_authorize_offline")
                or self._flag("allow_offline_tx_for_unknown_id")
                or not self._flag("auth_enabled")
            )
        ):
            return None
        held = self._reserved_tag(connector)
        if held is None and not self._free(connector):
            return None
        tag = held if held is not None else self._session_tag()
        if not online and self._flag("auth_enabled") and not self._locally_authorized(tag):
            return None
        return tag

    def _reserved_tag(self, connector: Connector) -> str | None:
        """The tag a Reserved (and otherwise usable) connector waits for, or the last
        free one for a reservation of connector 0, else None."""
        ext = self.ext
        if ext is None or not ext.reservations or connector.busy or not connector.operative:
            return None
        held = ext.held_on(connector.id) if connector.status == "Reserved" else None
        if held is None and (
            connector.id in ext.marked
            or (self._free(connector) and self._held_for_another(connector, None))
        ):
            held = next((r for r in ext.reservations.values() if r.connector_id == 0), None)
        return None if held is None else held.id_tag

    def _free(self, connector: Connector, held_ok: bool = False) -> bool:
        """Operative, no session, not Faulted, Reserved or Unavailable, no firmware being
        installed, and (unless ``held_ok``) no scenario's driver there."""
        return (
            connector.operative
            and not connector.busy
            and connector.status not in ("Faulted", "Reserved", "Unavailable")
            and (held_ok or not connector.scenario)
            and (self.ext is None or self.ext.firmware is None or not self._firmware_blocks())
        )

    def begin_session(
        self,
        connector: Connector,
        now: float,
        id_tag: str,
        trigger: StartTrigger,
        remote_start_id: int | None,
        group: str | None = None,
    ) -> None:
        """Plug in and start a session: Authorize first unless a remote start needs none;
        ``group``: the tag's group as the server's remote start gave it."""
        connector.plugged = True
        connector.id_tag = id_tag
        connector.trigger = trigger
        connector.remote_start_id = remote_start_id
        connector.next_session_at = None
        if self.ext is not None and self.ext.reservations:
            self._claim(connector, id_tag, group)  # the reserved tag arrived (H01.FR.15)
        if connector.status != "Preparing":  # else plugged in already ("cable plugin first")
            self._set_status(connector, "Preparing", now)
        authorize = trigger == "Authorized" or self._flag("authorize_remote_start")
        if authorize and not self._no_authorize_needed(id_tag):
            connector.phase = "authorizing"
            request = self.dialect.authorize(id_tag)
            self._queue(Outgoing(*request, "authorize", connector))
        else:
            self._start_transaction(connector, now)
        self._update_due()

    def _authorize_answered(self, connector: Connector, payload: Payload, now: float) -> None:
        if connector.phase != "authorizing":
            return  # the session ended meanwhile (unlock, reset)
        info = self.dialect.authorize_info(payload)
        self._learn(connector.id_tag, info)
        accepted = info.status == "Accepted"
        if accepted and connector.trigger == "RemoteStart":
            # a Master Pass starts nothing (C16.FR.03); only one presented at the
            # station stops the others (C16.FR.02), not the server's remote start
            accepted = info.group is None or not self._is_master_group(info.group)
        elif accepted:
            accepted = not self._master_pass(info, now, connector.id_tag)
        if accepted:
            self._start_transaction(connector, now)
        else:
            self._abort_session(connector, now)

    def _abort_session(self, connector: Connector, now: float) -> None:
        """A session that never started a transaction: unplug (a reservation it had set
        aside holds again)."""
        connector.phase = None
        connector.tx_profile = None
        self._unplug(connector, now)
        self._unclaim(connector, now)

    def _start_transaction(self, connector: Connector, now: float) -> None:
        self.tx_count += 1
        local_id = f"{self.tx_count}-{self.fleet.tx_tag}-{self.charge_point_id}"[:36]
        tx = connector.tx = Transaction(
            connector.id, local_id, connector.id_tag, connector.remote_start_id
        )
        tx.started_at = tx.sampled_at = now
        connector.phase = "charging"
        counters = self.counters
        counters.sessions_started += 1
        counters.charging += 1
        arrivals = self.fleet.arrivals
        ext = self.ext
        if arrivals is not None:
            ext = self._extras()
            ext.evs[connector.id] = Ev.arriving(arrivals, self.rng, connector.meter_wh)
        held = None if ext is None else ext.claimed.pop(connector.id, None)
        reservation = None if held is None else held.reservation_id
        if held is not None:
            counters.reservations_used += 1
        connector.last_meter_at = now
        reading = self._reading(connector, now)
        state = self._state_for(connector, reading, now)  # suspended under a limit of 0
        tx.power_w = int(reading.power_w)
        counters.power_w += tx.power_w
        at = now + self.wall_offset_s
        ended = measurand_list(self.read_setting("stop_txn_sampled_data"))
        if ended:
            tx.samples = [(at, reading, "Transaction.Begin")]
        request = self.dialect.tx_start(
            tx,
            reading,
            at,
            connector.trigger,
            tx.next_seq(),
            self.phase != ONLINE,
            measurand_list(self.read_setting("tx_started_measurands")),
            reservation,
            state,
        )
        self._queue(Outgoing(*request, "start", connector, tx))
        self._notice("transaction_started", connector, tx.local_id)
        if ext is not None:  # 2.1: cost, a V2X EV's needs
            self._tx_extra(connector, request[1], now, "start")
        self._set_status(connector, state, now)
        interval = self.meter_interval_s
        connector.next_meter_at = now + interval if interval > 0 else None
        self._arm_ended_samples(connector, now)
        if self.ext is not None:
            self._arm_limit_change(connector, now)
            self._reshare()
        if arrivals is not None:
            low, high = arrivals.duration_s
            connector.ends_at = now + self.rng.uniform(low, high)
        else:
            connector.ends_at = now + self.fleet.settings.session.duration_s
        profile, connector.tx_profile = connector.tx_profile, None
        if profile is not None:  # the remote start's, kept while it Authorized
            self._install_tx_profile(connector, profile)
        self._update_due()

    def _start_answered(self, tx: Transaction, payload: Payload, now: float) -> None:
        reply = self.dialect.start_reply(payload)
        if reply.transaction_id is not None:
            tx.server_id = reply.transaction_id
        self._learn(tx.id_tag, reply.info)
        if reply.status in (None, "Accepted"):
            return
        connector = self._connector_of(tx)
        if connector is None:
            return
        stop = self._flag("stop_tx_on_invalid_id")
        if stop and self._deauthorizing_ends():
            # a scenario's EV stays plugged in (Finishing) until it unplugs
            self.end_transaction(connector, now, "DeAuthorized", not connector.scenario)
        else:  # 1.6 errata 3.17 (4.8): "only stop energy delivery to the vehicle"
            self._meter(connector, now)
            tx.deauthorized = True
            if stop:
                tx.ended_for = "DeAuthorized"
            self._recheck_charging(connector, now, deauthorized="Deauthorized" if stop else None)

    def end_authorization(self, connector: Connector, now: float, reason: StopReason) -> None:
        """The driver (``Local``) or the server (``Remote``) stops and the transaction, by
        TxStopPoint, goes on (2.x without Authorized, PowerPathClosed or EnergyTransfer
        in it, E06.FR.02/03): the energy stops, an Updated event says StopAuthorized
        (E07.FR.01) or RemoteStop (F03.FR.02), and the transaction ends when the EV
        leaves, stoppedReason ``reason``. Nothing when its authorization ended already (a
        refused tag with StopTxOnInvalidId false only stopped the energy: E05.FR.02)."""
        tx = connector.tx
        if tx is None or tx.ended_for is not None:
            return
        self._meter(connector, now)
        tx.deauthorized = True
        tx.ended_for = reason
        trigger = "RemoteStop" if reason == "Remote" else "StopAuthorized"
        self._recheck_charging(connector, now, deauthorized=trigger)

    def _deauthorizing_ends(self) -> bool:
        """Whether a transaction whose tag the server refused ends (StopTxOnInvalidId
        true): in 1.6 always; in 2.x when TxStopPoint holds Authorized, PowerPathClosed
        or EnergyTransfer (E05.FR.10, C15.FR.04), else it is only deauthorized, its
        energy stopped (E05.FR.09, C15.FR.03)."""
        if self.dialect.version == "1.6":
            return True
        points = (self.read_setting("tx_stop_point") or "").split(",")
        return any(p in points for p in ("Authorized", "PowerPathClosed", "EnergyTransfer"))

    def _connector_of(self, tx: Transaction) -> Connector | None:
        for connector in self.connectors:
            if connector.tx is tx:
                return connector
        return None

    def _meter(self, connector: Connector, now: float) -> None:
        """Advance the energy register to ``now`` (only while a transaction runs)."""
        elapsed = now - connector.last_meter_at
        if elapsed <= 0:
            return
        connector.last_meter_at = now
        tx = connector.tx
        if tx is None or tx.deauthorized:
            return  # no energy flows between sessions, nor for a refused tag
        before = connector.meter_wh
        ext = self.ext
        if ext is None or (not ext.profiles and connector.id not in ext.evs):
            power = self.fleet.settings.session.power_w
            connector.meter_wh += int(power * elapsed / 3600 + 0.5)
        else:
            self._integrate(connector, ext, now - elapsed, now)
        self.counters.energy_wh += connector.meter_wh - before

    def _integrate(self, connector: Connector, ext: Extras, start: float, end: float) -> None:
        """The energy from ``start`` to ``end``, piece by piece between the limit's changes."""
        ev = ext.evs.get(connector.id)
        at = start
        for _ in range(_MAX_PIECES):
            limit, change = self._limit_w(connector, at)
            until = end if change is None or change >= end or change <= at else change
            seconds = until - at
            if ev is not None:
                ev.advance(limit, seconds)
            else:
                power = max(min(limit, self.fleet.settings.session.power_w), 0.0)
                connector.meter_wh += int(power * seconds / 3600 + 0.5)
            at = until
            if at >= end:
                break
        if ev is not None:
            connector.meter_wh = max(connector.meter_wh, int(ev.register_wh))
            if ev.v2x:
                self._export_metered(connector, ev)

    def _reading(self, connector: Connector, now: float) -> Reading:
        """What the connector's meter shows now (advance it with :meth:`_meter` first)."""
        fleet = self.fleet
        grid = fleet.grid
        power = 0.0
        soc = None
        export = None
        tx = connector.tx
        if tx is not None:
            ext = self.ext
            ev = None if ext is None else ext.evs.get(connector.id)
            if tx.deauthorized:
                power = 0.0
            elif ext is None or (not ext.profiles and ev is None):
                power = fleet.settings.session.power_w
            else:
                limit, _ = self._limit_w(connector, now)
                power = (
                    ev.power_w(limit) if ev is not None else max(min(limit, fleet.max_power_w), 0)
                )  # only an EV discharges (2.1 V2X)
            if ev is not None and fleet.soc:
                soc = ev.soc
            if ev is not None and ev.v2x:
                export = int(ev.export_wh)
        return Reading(connector.meter_wh, power, grid.voltage_v, grid.phases, soc, export)

    def _recheck_charging(
        self,
        connector: Connector,
        now: float,
        alone: bool = True,
        deauthorized: str | None = None,
    ) -> Reading | None:
        """Meter the connector's transaction up to now and take its charging state from
        what it draws now (after a sample's interval, or at once when the limit or the
        authorization changes: 1.6 errata 3.19); its reading, or None without one.

        A change of state is told at once: 1.6 by its StatusNotification; 2.0.1, unless
        a sample that carries the state follows (not ``alone``), by a TransactionEvent
        ChargingStateChanged (E02.FR.13), or ChargingRateChanged when only the power moved,
        by more than LimitChangeSignificance percent (K11.FR.04); ``deauthorized``: the
        authorization ended and the transaction goes on, told with that triggerReason
        (Deauthorized: E05.FR.09, C15.FR.03; StopAuthorized: E07.FR.01) whether the state
        changed or not."""
        tx = connector.tx
        if tx is None:
            return None
        self._meter(connector, now)
        if self.ext is not None:  # only a station with extras holds profiles
            self._arm_limit_change(connector, now)
        reading = self._reading(connector, now)
        power = int(reading.power_w)
        before = tx.power_w
        self.counters.power_w += power - before
        tx.power_w = power
        changed = self._charging_state(connector, reading, now)
        if not alone or connector.phase != "charging":
            return reading
        rate = not changed and not deauthorized and power != before
        if rate:
            rate = abs(power - before) * 100 > abs(before) * self._significance()
        if changed or rate or deauthorized:
            request = self.dialect.tx_charging(
                tx,
                now + self.wall_offset_s,
                tx.next_seq(),
                self.phase != ONLINE,
                connector.status,
                rate_changed=rate,
                deauthorized=deauthorized,
            )
            if request is not None:  # not "meter": the offline bound keeps it longer
                self._queue(Outgoing(*request, "state", connector, tx))
                if self.ext is not None:  # 2.1: the running cost
                    self._tx_extra(connector, request[1], now, "changed")
        return reading

    def _significance(self) -> float:
        """LimitChangeSignificance, percent."""
        text = self.read_setting("limit_change_significance")
        try:
            return float(text) if text else 0.0
        except ValueError:
            return 0.0

    def _reshare(self) -> None:
        """A transaction began or ended: under a profile the running ones share the
        station's limit anew, so their power (and state) may change. Checked once the
        event is over (Station._conclude), so transactions ending together (a reset, a
        stop) are not told of each other's end."""
        ext = self.ext
        if ext is not None and ext.profiles:
            ext.reshare = True

    def _recheck_all_charging(self, now: float) -> None:
        """Every running transaction's charging state, now (the limits changed)."""
        for connector in self.connectors:
            if connector.tx is not None:
                self._recheck_charging(connector, now)

    def _meter_sample(self, connector: Connector, now: float) -> None:
        tx = connector.tx
        reading = self._recheck_charging(connector, now, alone=False)
        if tx is None or reading is None:
            return
        at = now + self.wall_offset_s
        measurands = measurand_list(self.read_setting("meter_values_sampled_data"))
        request = self.dialect.tx_meter(
            tx,
            reading,
            at,
            tx.next_seq(),
            self.phase != ONLINE,
            measurands,
            state=connector.status,
        )
        self._queue(Outgoing(*request, "meter", connector, tx))
        if self.ext is not None:
            self._tx_extra(connector, request[1], now, "meter")
        samples = tx.samples
        if self.dialect.version == "1.6" and samples and samples[0][2] == "Transaction.Begin":
            every = self.meter_interval_s  # StopTxnSampledData: at MeterValueSampleInterval
            if every > 0 and now - tx.sampled_at >= every - 1e-6:
                tx.sampled_at = now
                self._keep_sample(tx, at, reading, "Sample.Periodic")

    def _arm_ended_samples(self, connector: Connector, now: float) -> None:
        """2.x: the transaction's next reading for its Ended event, TxEndedInterval after
        the last (from its start), on its own clock, not TxUpdatedInterval's (J02)."""
        tx = connector.tx
        connector.next_ended_at = None
        if self.dialect.version == "1.6" or tx is None or not tx.samples:
            return  # no TxEndedMeasurands: nothing is kept
        every = self._int_setting("tx_ended_interval_s", 0)
        if every > 0:
            connector.next_ended_at = tx.sampled_at + every

    def _ended_sample(self, connector: Connector, now: float) -> None:
        """2.x: keep a reading for the Ended event (TxEndedInterval is due)."""
        tx = connector.tx
        if tx is not None:
            self._meter(connector, now)
            tx.sampled_at = now
            reading = self._reading(connector, now)
            self._keep_sample(tx, now + self.wall_offset_s, reading, "Sample.Periodic")
        self._arm_ended_samples(connector, now)

    def _keep_sample(self, tx: Transaction, at: float, reading: Reading, context: str) -> None:
        """Keep a reading for the transaction's end; beyond StopTransactionMaxMeterValues
        the earliest one after the Begin goes."""
        samples = tx.samples
        if samples is None:
            samples = tx.samples = []
        limit = max(2, self._int_setting("stop_transaction_max_meter_values", 20)) - 1
        if len(samples) >= limit:
            drop = 1 if samples[0][2] == "Transaction.Begin" else 0
            if drop >= len(samples):
                return  # room for the Begin and the End only
            del samples[drop]
        samples.append((at, reading, context))

    # -- clock-aligned readings ---------------------------------------------------------

    def _aligned_intervals(self) -> tuple[int, int]:
        """The clock-aligned intervals in seconds (0: off): of the readings sent as they
        are taken, ClockAlignedDataInterval (2.0.1 AlignedDataCtrlr.Interval), and of those
        kept for the transaction's end: in 1.6 the same (StopTxnAlignedData), in 2.x
        AlignedDataCtrlr.TxEndedInterval."""
        interval = self._int_setting("clock_aligned_interval_s", 0)
        if self.dialect.version == "1.6":
            return interval, interval
        return interval, self._int_setting("tx_ended_aligned_interval_s", 0)

    def _arm_aligned(self, now: float) -> None:
        """Set the next clock-aligned reading: each interval divides each day from
        midnight UTC of the wall clock (1.6 errata 3.13, section 3.14.2; the last one of a
        day may be shorter); 0 switches its readings off."""
        intervals = [i for i in self._aligned_intervals() if i > 0]
        ext = self.ext
        if not intervals and ext is None:
            return
        ext = self._extras()
        if not intervals:
            ext.aligned_at = None
        else:
            wall = now + self.wall_offset_s + 1e-3  # a reading due now is not due again
            midnight = wall - wall % _DAY_S
            after = min(midnight + (int((wall - midnight) // i) + 1) * i for i in intervals)
            ext.aligned_at = min(after, midnight + _DAY_S) - self.wall_offset_s
        ext.refresh_due()
        self._update_due()

    def _clock_aligned(self, now: float) -> None:
        """The clock-aligned readings (context Sample.Clock) of every connector due now:
        its MeterValuesAlignedData in a MeterValues (during a transaction one of the
        transaction's: 2.0.1 a TransactionEvent, MeterValueClock), and its
        StopTxnAlignedData (2.0.1 AlignedDataCtrlr.TxEndedMeasurands, at TxEndedInterval)
        kept for the end."""
        at = round(now + self.wall_offset_s, 3)  # on the interval's boundary
        interval, ended_interval = self._aligned_intervals()
        measurands: tuple[str, ...] = ()
        if _on_boundary(at, interval):
            measurands = measurand_list(self.read_setting("meter_values_aligned_data"))
        ended: tuple[str, ...] = ()
        if _on_boundary(at, ended_interval):
            ended = measurand_list(self.read_setting("stop_txn_aligned_data"))
        ready = self.phase == ONLINE and self.registration == ACCEPTED
        dialect = self.dialect
        for connector in self.connectors:
            tx = connector.tx
            reading = self._recheck_charging(connector, now, alone=not measurands)
            if reading is None:
                reading = self._reading(connector, now)
            if tx is None:
                if measurands and ready:
                    request = dialect.meter_values(
                        connector.id, reading, at, None, measurands, "Sample.Clock"
                    )
                    self._queue(Outgoing(*request, "other", connector))
                continue
            if measurands:
                offline = self.phase != ONLINE
                request = dialect.tx_meter(
                    tx,
                    reading,
                    at,
                    tx.next_seq(),
                    offline,
                    measurands,
                    "Sample.Clock",
                    state=connector.status,
                )
                self._queue(Outgoing(*request, "meter", connector, tx))
                if self.ext is not None:
                    self._tx_extra(connector, request[1], now, "meter")  # 2.1: its cost
            if ended:
                self._keep_sample(tx, at, reading, "Sample.Clock")
        self._arm_aligned(now)

    def _state_for(self, connector: Connector, reading: Reading, now: float) -> ConnectorStatus:
        """Charging (energy flowing either way: a 2.1 discharge too), or suspended: by the
        EVSE (a limit of 0, a refused tag) or by the EV (full)."""
        if reading.power_w != 0:
            return "Charging"
        tx = connector.tx
        limit, _ = self._limit_w(connector, now) if self.ext is not None else (1.0, None)
        refused = tx is not None and tx.deauthorized
        return "SuspendedEVSE" if limit <= 0 or refused else "SuspendedEV"

    def _charging_state(self, connector: Connector, reading: Reading, now: float) -> bool:
        """The charging state from the reading (:meth:`_state_for`), set while the
        session charges; whether it changed."""
        status: ConnectorStatus = "Charging"
        if connector.status in ("Charging", "SuspendedEV", "SuspendedEVSE"):
            status = self._state_for(connector, reading, now)
        if status != connector.status and connector.phase == "charging":
            self._set_status(connector, status, now)
            return True
        return False

    def end_transaction(
        self,
        connector: Connector,
        now: float,
        reason: StopReason,
        unplug: bool = True,
        stopped_by: str | None = None,
    ) -> None:
        """End the connector's transaction now with ``reason``; no meter sample follows.
        The EV is unplugged at once (``unplug``), unless the connector's scenario is to
        unplug it (its own stop, the server's, DeAuthorized): Finishing until then.
        ``stopped_by``: the tag that stopped it, when another than its own (E07.FR.02)."""
        tx = connector.tx
        if tx is None:
            return
        self._meter(connector, now)
        reading = self._reading(connector, now)
        samples = tx.samples or ()
        request = self.dialect.tx_end(
            tx,
            reading,
            now + self.wall_offset_s,
            reason,
            tx.next_seq(),
            self.phase != ONLINE,
            measurand_list(self.read_setting("stop_txn_sampled_data")),
            samples,
            measurand_list(self.read_setting("stop_txn_aligned_data")) if samples else (),
            stopped_by,
        )
        self._queue(Outgoing(*request, "end", connector, tx))
        if self.ext is not None:
            self._tx_extra(connector, request[1], now, "end")
        self._tx_gone(connector, reason)
        if self.ext is not None:
            self._reshare()
        connector.phase = None
        connector.next_meter_at = connector.ends_at = connector.next_ended_at = None
        self._set_status(connector, "Finishing", now)
        self._notice("transaction_ended", connector, reason)
        if unplug:
            self._unplug(connector, now)
        else:
            self._update_due()

    def _tx_gone(self, connector: Connector, reason: StopReason | None) -> None:
        """The connector's transaction is over (ended, or forgotten by a reboot)."""
        tx = connector.tx
        if tx is None:
            return
        connector.tx = None
        connector.limit_change_at = None
        counters = self.counters
        counters.charging -= 1
        counters.power_w -= tx.power_w
        if reason is not None:
            counters.sessions_ended += 1
            name = _ENDED.get(reason, "ended_other")
            setattr(counters, name, getattr(counters, name) + 1)
        ext = self.ext
        if ext is not None:
            ext.evs.pop(connector.id, None)
            if ext.profiles:
                self._tx_profiles_ended(connector)

    def _end_all(self, now: float, reason: StopReason) -> None:
        for connector in self.connectors:
            if connector.tx is not None:
                self.end_transaction(connector, now, reason)
            elif connector.busy:
                self._abort_session(connector, now)
            connector.next_session_at = None
        self._update_due()

    def _unplug(self, connector: Connector, now: float, faulted: bool = False) -> None:
        """The cable is out: Available, or the availability change scheduled meanwhile;
        Faulted when a fault ended the session (``faulted``: never Available between)."""
        connector.plugged = False
        scheduled = connector.scheduled_operative
        if scheduled is not None:
            station_was = any(c.operative for c in self.connectors)
            connector.operative = scheduled
            connector.scheduled_operative = None
        blocked = self.ext is not None and self.ext.firmware is not None and self._firmware_blocks()
        available = connector.operative and not blocked  # L01.FR.07: Unavailable until installed
        if faulted:
            self._set_status(connector, "Faulted", now)
        else:
            self._set_status(connector, "Available" if available else "Unavailable", now)
        if scheduled is not None and self.dialect.version == "1.6":
            if station_was != any(c.operative for c in self.connectors):
                self._queue_station_status(now)  # connector 0 follows, as when applied at once
        if self.charging and not self.stopping and not connector.scenario and not faulted:
            if connector in self._session_connectors():
                self._schedule_session(connector, now)
        if blocked and not any(c.busy for c in self.connectors):
            self._firmware_resume(now)
        self._update_due()
        if self.reset_when_idle and not any(c.busy for c in self.connectors):
            self.reset_when_idle = False
            self._begin_reboot(now, None)

    # -- timers -------------------------------------------------------------------------

    def _update_due(self) -> None:
        at = None
        for connector in self.connectors:
            due = connector.due()
            if due is not None and (at is None or due < at):
                at = due
        ext = self.ext
        if ext is not None and ext.due is not None and (at is None or ext.due < at):
            at = ext.due
        self.connector_due = at

    def _connectors_due(self, now: float) -> None:
        """Session timers that are due: meter samples, planned ends, the next plug-in, a
        change of the charging profiles' limit (a charger changes its power at the
        boundary: K01.FR.12/30/36/37). A limit's change comes after the samples of the
        same moment, so a sample that falls on it carries the new state (E02.FR.13)."""
        for connector in self.connectors:
            if connector.ends_at is not None and now >= connector.ends_at:
                connector.ends_at = None
                if connector.scenario:  # the scenario's EV wants to leave: its driver stops
                    self._notice("ev_leaving", connector, "")
                elif self._deauthorizing_ends():
                    self.end_transaction(connector, now, "Local")
                else:  # 2.x TxStopPoint keeps it open: the driver stops, then the EV leaves
                    self.end_authorization(connector, now, "Local")
                    self.end_transaction(connector, now, "EVDisconnected")
            else:
                if connector.next_ended_at is not None and now >= connector.next_ended_at:
                    self._ended_sample(connector, now)
                if connector.next_meter_at is not None and now >= connector.next_meter_at:
                    self._meter_sample(connector, now)
                    connector.next_meter_at = (
                        now + self.meter_interval_s if self.meter_interval_s > 0 else None
                    )
            if connector.next_session_at is not None and now >= connector.next_session_at:
                connector.next_session_at = None
                tag = self._session_now(connector)
                if tag is not None:
                    self._scenario_due(connector, "session", tag, 0.0)
                else:
                    self._schedule_session(connector, now)
        ext = self.ext
        if ext is not None and ext.due is not None and now >= ext.due:
            self._extras_due(now)
        for connector in self.connectors:
            change = connector.limit_change_at
            if change is not None and now >= change:
                connector.limit_change_at = None
                self._recheck_charging(connector, now)
        self._update_due()
