"""Connectors, transactions and meters of a station: sessions from plug-in to unplug.

:class:`Sessions` is the part of :class:`~loadgen.sim.station.Station` that runs
charging sessions, whoever starts them: the fleet's own charging scenario (plug in after
a pause, Authorize, start, meter every interval, stop after the session's duration), the
server (RemoteStart / RequestStartTransaction), or a user's scenario. A session::

    plug in (Preparing) -> [Authorize] -> start (Charging, metering) -> end (Finishing)
    -> unplug (Available, or Unavailable when an availability change was scheduled)

An answer other than Accepted to Authorize ends it before any transaction; one to the
start ends the transaction with DeAuthorized (StopTransactionOnInvalidId).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from loadgen.ocpp.dialect import ConnectorStatus, Payload, StartTrigger, StopReason
from loadgen.sim.states import ACCEPTED, ONLINE

if TYPE_CHECKING:
    from loadgen.ocpp.dialect import Dialect
    from loadgen.sim.actions import Action, Counters
    from loadgen.sim.fleet import Fleet


class Transaction:
    """One transaction on one connector (what a dialect reads is ``TransactionLike``)."""

    __slots__ = (
        "connector_id",
        "failed",
        "id_tag",
        "local_id",
        "remote_start_id",
        "seq_no",
        "server_id",
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
        self.failed = False  # its start was never delivered: later messages are dropped

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
        "meter_wh",
        "next_meter_at",
        "next_session_at",
        "operative",
        "phase",
        "plugged",
        "remote_start_id",
        "reported",
        "scheduled_operative",
        "status",
        "trigger",
        "tx",
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
        self.meter_wh = 0  # the energy register, Wh; it never falls
        self.last_meter_at = 0.0
        self.next_meter_at: float | None = None
        self.ends_at: float | None = None  # when the session's planned duration is over
        self.next_session_at: float | None = None  # the charging scenario's next plug-in

    @property
    def busy(self) -> bool:
        """A session is on: authorizing or charging."""
        return self.phase is not None

    def unplug(self) -> None:
        """Forget the session without messages (a reboot)."""
        self.plugged = False
        self.phase = None
        self.tx = None
        self.next_meter_at = self.ends_at = self.next_session_at = None
        self.status = "Available" if self.operative else "Unavailable"

    def due(self) -> float | None:
        at = None
        for candidate in (self.next_meter_at, self.ends_at, self.next_session_at):
            if candidate is not None and (at is None or candidate < at):
                at = candidate
        return at


class Sessions:
    """Sessions on the station's connectors (a part of :class:`Station`)."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:  # attributes and methods of the Station this is a part of
        charge_point_id: str
        charging: bool
        connectors: list[Connector]
        connector_due: float | None
        counters: Counters
        dialect: Dialect
        fleet: Fleet
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
        wall_offset_s: float

        def _queue(self, item: Outgoing, *, front: bool = False) -> None: ...
        def _flag(self, name: str) -> bool: ...
        def read_setting(self, name: str) -> str | None: ...
        def _begin_reboot(self, now: float, reason: StopReason | None) -> None: ...

    # -- status -------------------------------------------------------------------------

    def _set_status(self, connector: Connector, status: ConnectorStatus, now: float) -> None:
        """Change a connector's status and tell the server when what it sees changes."""
        connector.status = status
        if self.phase != ONLINE or self.registration != ACCEPTED:
            return  # sent after the reconnect or the boot
        if self._wire(status) == self._wire(connector.reported):
            return
        self._queue_status(connector, now)

    def _queue_status(self, connector: Connector, now: float, triggered: bool = False) -> None:
        """Queue the connector's status; a ``triggered`` one may go while Pending (B02.FR.02)."""
        status = connector.reported = connector.status
        request = self.dialect.status_notification(
            connector.id, status, "NoError", now + self.wall_offset_s
        )
        self._queue(Outgoing(*request, "status", connector, pending_ok=triggered, status=status))

    def _wire(self, status: ConnectorStatus | None) -> object:
        """A status as the server sees it (2.0.1 folds Preparing, Charging ... into Occupied)."""
        if status is None or self.dialect.version == "1.6":
            return status
        return "Occupied" if status in ("Preparing", "Charging", "Finishing") else status

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
        if self.charging and self.connectors:
            self._schedule_session(self.connectors[0], now)
        self._update_due()

    def _queue_station_status(self, now: float, triggered: bool = False) -> None:
        """1.6: the Charge Point itself as connector 0 (Available or Unavailable)."""
        operative = any(c.operative for c in self.connectors)
        request = self.dialect.status_notification(
            0, "Available" if operative else "Unavailable", "NoError", now + self.wall_offset_s
        )
        self._queue(Outgoing(*request, "status", pending_ok=triggered))

    # -- sessions -----------------------------------------------------------------------

    def _schedule_session(self, connector: Connector, now: float) -> None:
        """The charging scenario: plug in again after a random pause."""
        connector.next_session_at = now + self.rng.uniform(0, self.fleet.settings.session.pause_s)

    def _free(self, connector: Connector) -> bool:
        return (
            connector.operative
            and not connector.busy
            and connector.status not in ("Faulted", "Reserved", "Unavailable")
        )

    def begin_session(
        self,
        connector: Connector,
        now: float,
        id_tag: str,
        trigger: StartTrigger,
        remote_start_id: int | None,
    ) -> None:
        """Plug in and start a session: Authorize first unless a remote start needs none."""
        connector.plugged = True
        connector.id_tag = id_tag
        connector.trigger = trigger
        connector.remote_start_id = remote_start_id
        connector.next_session_at = None
        self._set_status(connector, "Preparing", now)
        if trigger == "Authorized" or self._flag("authorize_remote_start"):
            connector.phase = "authorizing"
            request = self.dialect.authorize(id_tag)
            self._queue(Outgoing(*request, "authorize", connector))
        else:
            self._start_transaction(connector, now)
        self._update_due()

    def _authorize_answered(self, connector: Connector, payload: Payload, now: float) -> None:
        if connector.phase != "authorizing":
            return  # the session ended meanwhile (unlock, reset)
        if self.dialect.authorize_status(payload) == "Accepted":
            self._start_transaction(connector, now)
        else:
            self._abort_session(connector, now)

    def _abort_session(self, connector: Connector, now: float) -> None:
        """A session that never started a transaction: unplug."""
        connector.phase = None
        self._unplug(connector, now)

    def _start_transaction(self, connector: Connector, now: float) -> None:
        self.tx_count += 1
        local_id = f"{self.tx_count}-{self.fleet.tx_tag}-{self.charge_point_id}"[:36]
        tx = connector.tx = Transaction(
            connector.id, local_id, connector.id_tag, connector.remote_start_id
        )
        connector.phase = "charging"
        request = self.dialect.tx_start(
            tx,
            connector.meter_wh,
            now + self.wall_offset_s,
            connector.trigger,
            tx.next_seq(),
            self.phase != ONLINE,
        )
        self._queue(Outgoing(*request, "start", connector, tx))
        self._set_status(connector, "Charging", now)
        connector.last_meter_at = now
        interval = self.meter_interval_s
        connector.next_meter_at = now + interval if interval > 0 else None
        connector.ends_at = now + self.fleet.settings.session.duration_s
        self._update_due()

    def _start_answered(self, tx: Transaction, payload: Payload, now: float) -> None:
        reply = self.dialect.start_reply(payload)
        if reply.transaction_id is not None:
            tx.server_id = reply.transaction_id
        if reply.status in (None, "Accepted") or not self._flag("stop_tx_on_invalid_id"):
            return
        connector = self._connector_of(tx)
        if connector is not None:
            self.end_transaction(connector, now, "DeAuthorized")

    def _connector_of(self, tx: Transaction) -> Connector | None:
        for connector in self.connectors:
            if connector.tx is tx:
                return connector
        return None

    def _meter(self, connector: Connector, now: float) -> None:
        """Advance the energy register to ``now`` at the session's power."""
        elapsed = now - connector.last_meter_at
        if elapsed > 0:
            power = self.fleet.settings.session.power_w
            connector.meter_wh += int(power * elapsed / 3600 + 0.5)
            connector.last_meter_at = now

    def _meter_sample(self, connector: Connector, now: float) -> None:
        tx = connector.tx
        if tx is None:
            return
        self._meter(connector, now)
        measurands = tuple((self.read_setting("meter_values_sampled_data") or "").split(","))
        request = self.dialect.tx_meter(
            tx,
            connector.meter_wh,
            self.fleet.settings.session.power_w,
            now + self.wall_offset_s,
            tx.next_seq(),
            self.phase != ONLINE,
            measurands,
        )
        self._queue(Outgoing(*request, "meter", connector, tx))

    def end_transaction(self, connector: Connector, now: float, reason: StopReason) -> None:
        """End the connector's transaction now with ``reason``; no meter sample follows."""
        tx = connector.tx
        if tx is None:
            return
        self._meter(connector, now)
        request = self.dialect.tx_end(
            tx,
            connector.meter_wh,
            now + self.wall_offset_s,
            reason,
            tx.next_seq(),
            self.phase != ONLINE,
        )
        self._queue(Outgoing(*request, "end", connector, tx))
        connector.tx = None
        connector.phase = None
        connector.next_meter_at = connector.ends_at = None
        self._set_status(connector, "Finishing", now)
        self._unplug(connector, now)

    def _end_all(self, now: float, reason: StopReason) -> None:
        for connector in self.connectors:
            if connector.tx is not None:
                self.end_transaction(connector, now, reason)
            elif connector.busy:
                self._abort_session(connector, now)
            connector.next_session_at = None
        self._update_due()

    def _unplug(self, connector: Connector, now: float) -> None:
        """The cable is out: Available, or the availability change scheduled meanwhile."""
        connector.plugged = False
        scheduled = connector.scheduled_operative
        if scheduled is not None:
            station_was = any(c.operative for c in self.connectors)
            connector.operative = scheduled
            connector.scheduled_operative = None
        self._set_status(connector, "Available" if connector.operative else "Unavailable", now)
        if scheduled is not None and self.dialect.version == "1.6":
            if station_was != any(c.operative for c in self.connectors):
                self._queue_station_status(now)  # connector 0 follows, as when applied at once
        if self.charging and connector is self.connectors[0] and not self.stopping:
            self._schedule_session(connector, now)
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
        self.connector_due = at

    def _connectors_due(self, now: float) -> None:
        """Session timers that are due: meter samples, planned ends, the next plug-in."""
        for connector in self.connectors:
            if connector.ends_at is not None and now >= connector.ends_at:
                connector.ends_at = None
                self.end_transaction(connector, now, "Local")
            elif connector.next_meter_at is not None and now >= connector.next_meter_at:
                self._meter_sample(connector, now)
                connector.next_meter_at = (
                    now + self.meter_interval_s if self.meter_interval_s > 0 else None
                )
            if connector.next_session_at is not None and now >= connector.next_session_at:
                connector.next_session_at = None
                ready = self.phase == ONLINE and self.registration == ACCEPTED
                if ready and self._free(connector) and not self.rebooting and not self.stopping:
                    session = self.fleet.settings.session
                    self.begin_session(connector, now, session.id_tag, "Authorized", None)
                else:
                    self._schedule_session(connector, now)
        self._update_due()
