"""What a station does when the server asks: remote start and stop, reset, availability,
unlock, trigger, settings. The part of :class:`~loadgen.sim.station.Station` that
implements :class:`~loadgen.ocpp.dialect.ChargePointTarget`.

The dialect reads the call and asks one of these methods; each decides by the OCPP
rules of both versions (requirement ids in the docstrings are 2.0.1's, sections 1.6's),
changes state, and queues what follows. The answer goes out first: nothing queued here
is sent before it: the station sends its queue only after the event.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from loadgen.failures import Failure
from loadgen.ocpp.dialect import StopReason, UnlockOutcome, iso
from loadgen.ocpp.framing import Call, CallError, CallResult
from loadgen.ocpp.samples import measurand_list
from loadgen.sim.actions import Report, Send
from loadgen.sim.connectors import Connector, Outgoing
from loadgen.sim.fleet import seconds_text
from loadgen.sim.part import StationPart
from loadgen.sim.states import ACCEPTED, PENDING, REJECTED

if TYPE_CHECKING:
    from collections.abc import Sequence

    from loadgen.ocpp.dialect import (
        BootReason,
        CertificateId,
        Composite,
        ConnectorStatus,
        IdInfo,
        NetworkProfile,
        StartTrigger,
    )
    from loadgen.ocpp.profiles import ChargingProfile
    from loadgen.ocpp.samples import Reading
    from loadgen.ocpp.tariffs import Tariff
    from loadgen.sim.actions import Action
    from loadgen.sim.connectors import Transaction
    from loadgen.sim.extras import Extras
    from loadgen.sim.steps import StationApi


def _ev_waiting(connector: Connector) -> bool:
    """An EV is plugged in and waits for its session to be authorized (Preparing)."""
    return connector.plugged and connector.status == "Preparing" and not connector.busy


_RESET_REASONS: dict[str, StopReason] = {
    "Hard": "HardReset",
    "Soft": "SoftReset",
    "Immediate": "ImmediateReset",
}
#: Server calls a Pending station answers Rejected (1.6 section 4.2, 2.0.1 B02.FR.05).
_NOT_WHILE_PENDING = frozenset(
    {
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "RequestStartTransaction",
        "RequestStopTransaction",
    }
)
#: Settings of the charging infrastructure read from the station's fleet (2.0.1 Part 2 2.13)
_FLEET_READ = frozenset(
    {
        "station_supply_phases",
        "evse_supply_phases",
        "connector_supply_phases",
        "connector_type",
    }
)
#: Triggered messages a connector / EVSE is relevant to; for any other the one asked for
#: is ignored and the message sent (1.6 section 5.17, 2.0.1 F06.FR.02).
_PER_CONNECTOR = frozenset({"StatusNotification", "MeterValues", "TransactionEvent"})


class Commands(StationPart):
    """The server's calls, answered (a part of :class:`Station`)."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:  # more of the Station this is a part of (StationPart: the common ones)
        api: StationApi | None
        boot_reason: BootReason
        charge_point_id: str
        call: Outgoing | None
        call_timeout_s: float
        hb_due: float | None
        hb_interval_s: float
        last_call_at: float
        meter_interval_s: float
        out: list[Action]
        overrides: dict[str, str] | None
        phase: int
        queue: list[Outgoing]
        rebooting: bool
        reboot_deadline: float
        registration: int
        reset_when_idle: bool
        rng: random.Random
        stopping: bool

        def _queue(self, item: Outgoing, *, front: bool = False) -> None: ...
        def _extras(self) -> Extras: ...
        def _write_priority(self, value: str) -> str: ...
        def _is_master_group(self, group: str) -> bool: ...
        def _defer_answer(self, call: Call, length: int, arrived: float) -> bool: ...
        def _queue_boot(self, now: float, triggered: bool = False) -> None: ...
        def _queue_status(
            self, connector: Connector, now: float, triggered: bool = False
        ) -> None: ...
        def _queue_station_status(self, now: float, triggered: bool = False) -> None: ...
        def _station_status(self) -> ConnectorStatus: ...
        def _set_status(
            self, connector: Connector, status: ConnectorStatus, now: float
        ) -> None: ...
        def _free(self, connector: Connector, held_ok: bool = False) -> bool: ...
        def _meter(self, connector: Connector, now: float) -> None: ...
        def _end_all(self, now: float, reason: StopReason) -> None: ...
        def _update_due(self) -> None: ...
        def _arm_ended_samples(self, connector: Connector, now: float) -> None: ...
        def _arm_ping(self, now: float) -> None: ...
        def _unplug(self, connector: Connector, now: float, faulted: bool = False) -> None: ...
        def _deauthorizing_ends(self) -> bool: ...
        def end_authorization(
            self, connector: Connector, now: float, reason: StopReason
        ) -> None: ...
        def begin_session(
            self,
            connector: Connector,
            now: float,
            id_tag: str,
            trigger: StartTrigger,
            remote_start_id: int | None,
            group: str | None = None,
        ) -> None: ...
        def end_transaction(
            self, connector: Connector, now: float, reason: StopReason, unplug: bool = True
        ) -> None: ...
        def _reading(self, connector: Connector, now: float) -> Reading: ...
        def _reserved_for(
            self, connector: Connector, id_tag: str, group: str | None = None
        ) -> bool: ...
        def _held_for_another(
            self, connector: Connector, id_tag: str | None, group: str | None = None
        ) -> bool: ...
        def _drop_reservation(self, connector: Connector, now: float) -> None: ...
        def _install_tx_profile(self, connector: Connector, profile: ChargingProfile) -> None: ...
        def _arm_aligned(self, now: float) -> None: ...
        def _triggered_firmware_status(self, signed: bool) -> None: ...
        def _triggered_log_status(self, diagnostics: bool) -> None: ...

        # the rest of ChargePointTarget, from the Station's other parts
        def clear_cache(self) -> str: ...
        def update_firmware(
            self,
            location: str,
            retrieve_at: float,
            request_id: int | None,
            signed: bool,
            install_at: float | None = None,
        ) -> str: ...
        def upload_log(
            self, location: str, request_id: int | None, kind: str
        ) -> tuple[str, str | None]: ...
        def reserve_now(
            self,
            reservation_id: int,
            connector_id: int | None,
            expiry_at: float,
            id_tag: str,
            group_tag: str | None,
        ) -> str: ...
        def cancel_reservation(self, reservation_id: int) -> str: ...
        def send_local_list(
            self, version: int, full: bool, entries: list[tuple[str, IdInfo | None]]
        ) -> str: ...
        def local_list_version(self) -> int: ...
        def set_charging_profile(self, profile: ChargingProfile) -> str: ...
        def clear_charging_profiles(
            self,
            profile_id: int | None,
            connector_id: int | None,
            purpose: str | None,
            stack_level: int | None,
        ) -> str: ...
        def composite_schedule(
            self, connector_id: int, duration_s: int, unit: str | None
        ) -> Composite | None: ...
        def report_charging_profiles(
            self,
            request_id: int,
            connector_id: int | None,
            purpose: str | None,
            stack_level: int | None,
            profile_ids: Sequence[int],
            sources: Sequence[str],
        ) -> str: ...
        def data_transfer(
            self, vendor_id: str, message_id: str | None, data: object
        ) -> tuple[str, str | None]: ...
        def set_default_tariff(self, evse_id: int, tariff: Tariff) -> str: ...
        def tariffs(self, evse_id: int) -> list[tuple[Tariff, list[int]]]: ...
        def clear_tariffs(
            self, tariff_ids: Sequence[str] | None, evse_id: int | None
        ) -> list[tuple[str | None, str]]: ...
        def change_transaction_tariff(self, transaction_id: str, tariff: Tariff) -> str: ...
        def allow_energy_transfer(self, transaction_id: str, modes: Sequence[str]) -> str: ...
        def install_certificate(self, use: str, pem: str) -> str: ...
        def installed_certificates(
            self, uses: Sequence[str] | None
        ) -> list[tuple[str, CertificateId]]: ...
        def delete_certificate(self, certificate: CertificateId) -> str: ...
        def certificate_count(self) -> int: ...
        def customer_information(
            self, request_id: int, report: bool, clear: bool, id_tag: str | None
        ) -> str: ...
        def set_network_profile(
            self, slot: int, profile: NetworkProfile
        ) -> tuple[str, str | None]: ...

    # -- the call -----------------------------------------------------------------------

    def _server_call(self, now: float, call: Call, length: int, arrived: float) -> None:
        """Answer one server call; what it sets off is queued behind the answer. Its
        answer time runs from ``arrived`` (when the call reached the host): a process
        that batches its reads shows the wait there."""
        dialect = self.dialect
        name = call.action if call.action in dialect.server_actions else "(unknown action)"
        if self.registration == REJECTED:
            if dialect.version == "1.6":
                return  # 1.6 section 4.2: no answer at all while Rejected
            reply: object = CallError(call.unique_id, "SecurityError", "boot not accepted")
        elif self.registration == PENDING and call.action in _NOT_WHILE_PENDING:
            reply = CallResult(call.unique_id, {"status": "Rejected"})  # B02.FR.05; 1.6 4.2
        elif self.api is not None and self._defer_answer(call, length, arrived):
            return  # the driver answers it (an on_call override)
        else:
            reply = dialect.answer(call, self)  # what it sets off is queued: the answer first
        failure = None
        if isinstance(reply, CallError):
            failure = Failure("call_error", reply.error_code)
        self.out.append(Send(reply.to_bytes()))  # type: ignore[attr-defined]
        self.out.append(Report("server", name, max(now - arrived, 0.0) * 1000, length, failure))

    # -- ChargePointTarget --------------------------------------------------------------

    @property
    def connector_count(self) -> int:
        return len(self.connectors)

    def read_setting(self, name: str) -> str | None:
        """A setting's value: the server's, else the station's own, else the fleet's."""
        if name == "heartbeat_interval_s":
            return seconds_text(self.hb_interval_s)
        if name == "meter_interval_s":
            return seconds_text(self.meter_interval_s)
        if name == "message_timeout_s":
            return seconds_text(self.call_timeout_s)
        if name == "local_auth_list_entries":
            local = None if self.ext is None else self.ext.local_list
            return str(len(local or ()))
        if name == "certificate_entries":
            return str(self.certificate_count())
        if name == "charging_profile_entries":
            return str(0 if self.ext is None else len(self.ext.profiles))
        if name == "clock_date_time":
            return iso(self.now_s + self.wall_offset_s)
        if name == "station_availability_state":
            return self._station_status()
        if name in _FLEET_READ:
            return self._fleet_read(name)
        overrides = self.overrides
        if overrides is not None and name in overrides:
            return overrides[name]
        return self.fleet.defaults.get(name)

    def _fleet_read(self, name: str) -> str:
        """What the station's model is: its phases (0: DC), power and plug."""
        fleet = self.fleet
        if name == "connector_type":  # a Type 2 socket, a CCS2 plug on a cable for DC
            return "cCCS2" if fleet.grid.phases == 0 else "sType2"
        return str(fleet.grid.phases)

    def read_evse_setting(self, name: str, evse_id: int) -> str | None:
        """A setting of EVSE ``evse_id`` (or of its connector), None if there is no such
        EVSE: its status now, the power it gave at its last sample, else the station's."""
        connector = self._connector(evse_id)
        if connector is None:
            return None
        if name in ("evse_availability_state", "connector_availability_state"):
            return connector.status
        if name == "evse_power_w":
            tx = connector.tx
            return str(0 if tx is None else tx.power_w)
        return self.read_setting(name)

    def max_limit(self, name: str, evse_id: int | None) -> str | None:
        """The most a setting can be (2.0.1 maxLimit): an EVSE's power, the fleet's; the
        certificates installed, the store's size."""
        if name == "evse_power_w" and evse_id is not None:
            return f"{self.fleet.max_power_w:g}"
        if name == "certificate_entries":  # M05.FR.06
            return self.read_setting("certificate_store_max_length")
        if name == "basic_auth_password":  # a passwordString: 16 to 40 characters (A00.FR.205)
            return "40"
        return None

    def write_setting(self, name: str, value: str) -> str:
        """Store a setting (already checked by its type) and apply it at once."""
        if name == "basic_auth_password":  # kept apart, and never read back (write-only)
            password = self.dialect.password(value)
            if password is None:
                return "Rejected"  # A01.FR.04: the old credentials stay in use
            self._extras().new_password = password
            return "Accepted"
        if name == "network_configuration_priority":
            return self._write_priority(value)  # loadgen.sim.network
        if self.overrides is None:
            self.overrides = {}
        self.overrides[name] = value
        if name == "heartbeat_interval_s":
            self.hb_interval_s = float(value)  # at least 1 (the setting's minimum)
            if self.hb_due is not None:  # the next beat already follows the new interval
                self.hb_due = self.last_call_at + self.hb_interval_s
        elif name == "meter_interval_s":
            self.meter_interval_s = float(value)
            for connector in self.connectors:
                if connector.tx is not None:
                    interval = self.meter_interval_s
                    connector.next_meter_at = (
                        connector.last_meter_at + interval if interval > 0 else None
                    )
            self._update_due()
        elif name == "message_timeout_s":
            self.call_timeout_s = float(value)
        elif name in ("clock_aligned_interval_s", "tx_ended_aligned_interval_s"):
            self._arm_aligned(self.now_s)
        elif name == "websocket_ping_interval_s":
            self._arm_ping(self.now_s)
        elif name == "tx_ended_interval_s":
            for connector in self.connectors:
                self._arm_ended_samples(connector, self.now_s)
            self._update_due()
        return "Accepted"

    def _connector(self, connector_id: int) -> Connector | None:
        if 1 <= connector_id <= len(self.connectors):
            return self.connectors[connector_id - 1]
        return None

    def remote_start(
        self,
        connector_id: int | None,
        id_tag: str,
        remote_start_id: int | None,
        profile: ChargingProfile | None = None,
        group: str | None = None,
    ) -> str:
        """Start a session for the server's tag; Authorize first if the setting says so.
        A Reserved connector takes only its reserved tag, or one of its group: ``group``,
        the request's groupIdToken (F02.FR.23/24; 1.6 5.13)."""
        if self.rebooting or self.reset_when_idle or self.stopping:
            return "Rejected"  # a reset or the end of the run would cut it short
        if group is not None and self._is_master_group(group):
            return "Rejected"  # C16.FR.03: a Master Pass starts no transaction
        if connector_id is None:  # the station picks (1.6 5.11, F02.FR.15): an EV's first
            waiting = sorted(self.connectors, key=lambda c: not _ev_waiting(c))
            connector = next((c for c in waiting if self._startable(c, id_tag, group)), None)
        else:
            connector = self._connector(connector_id)
        if connector is None or not self._startable(connector, id_tag, group):
            return "Rejected"  # F02.FR.23-26: unavailable, faulted, occupied, reserved
        self.begin_session(
            connector, self.now_s, id_tag, "RemoteStart", remote_start_id, group=group
        )
        if profile is not None:
            self._install_tx_profile(connector, profile)
        return "Accepted"

    def _startable(self, connector: Connector, id_tag: str, group: str | None) -> bool:
        if connector.status == "Reserved" and not connector.busy and connector.operative:
            return self._reserved_for(connector, id_tag, group)
        if _ev_waiting(connector):
            # "cable plugin first" (F02; 1.6 5.11): the EV, plugged in already (the
            # reservations were checked then) waits for its authorization, even where a
            # scenario holds the connector; it uses no further connector
            return self._free(connector, held_ok=True)
        if not self._free(connector):
            return False
        ext = self.ext  # a reservation of connector 0 keeps the last free connector
        if ext is None or not ext.reservations:
            return True
        return not self._held_for_another(connector, id_tag, group)

    def supports(self, feature: str) -> bool:
        """Whether the charger's model has this feature profile (1.6 names)."""
        return feature in self.fleet.features

    def takes_update(self, signed: bool) -> bool:
        """1.6: whether the model takes a signed or a legacy firmware update."""
        accepts = self.fleet.firmware_update
        return accepts == "both" or accepts == ("signed" if signed else "legacy")

    def remote_stop(self, transaction_id: str) -> str:
        """End the matching transaction now, reason Remote (F03.FR.03; 1.6 5.12)."""
        by_server = self.dialect.version == "1.6"  # 1.6: the server's id; 2.0.1: our own
        for connector in self.connectors:
            tx = connector.tx
            if tx is None:
                continue
            if by_server:
                match = tx.server_id is not None and transaction_id == str(tx.server_id)
            else:
                match = transaction_id == tx.local_id
            if match:
                # a scenario's EV stays plugged in (Finishing) until it unplugs
                unplug = not connector.scenario
                if self._deauthorizing_ends():
                    self.end_transaction(connector, self.now_s, "Remote", unplug)
                else:  # 2.x TxStopPoint keeps it open: Updated RemoteStop (F03.FR.02)
                    self.end_authorization(connector, self.now_s, "Remote")
                    if unplug:  # no driver here: the EV leaves, and that ends it
                        self.end_transaction(connector, self.now_s, "EVDisconnected")
                return "Accepted"
        return "Rejected"

    def reset(self, kind: str, evse_id: int | None) -> str:
        """Reboot: now (ending transactions), or when idle (B11, B12; 1.6 5.14)."""
        if evse_id is not None:
            return "Rejected"  # B11.FR.09 / B12.FR.09: no reset of a single EVSE here
        if self.rebooting:
            return "Accepted"
        if kind == "OnIdle" and any(c.busy for c in self.connectors):
            self.reset_when_idle = True  # B12.FR.01/03: Scheduled, free EVSEs Unavailable
            for connector in self.connectors:
                if not connector.busy:
                    self._set_status(connector, "Unavailable", self.now_s)
            return "Scheduled"
        self._begin_reboot(self.now_s, _RESET_REASONS.get(kind))
        return "Accepted"

    def _begin_reboot(self, now: float, reason: StopReason | None) -> None:
        """End every transaction (with ``reason``), then close once they are delivered."""
        if reason is not None:
            self._end_all(now, reason)
        for connector in self.connectors:
            connector.next_session_at = None
        self._update_due()
        self.rebooting = True
        self.reboot_deadline = now + self.call_timeout_s

    def change_availability(self, connector_id: int, operative: bool) -> str:
        """Operative / Inoperative now, or Scheduled after the session (G03, G04; 1.6 5.2).
        A Faulted connector stays Faulted and keeps the change for when the fault is
        resolved (G03.FR.06/07, G04.FR.07/08; 1.6 4.9: Faulted returns to its pre-fault
        state)."""
        if connector_id == 0:
            targets = self.connectors
        else:
            connector = self._connector(connector_id)
            if connector is None:
                return "Rejected"
            targets = [connector]
        scheduled = False
        station_was = any(c.operative for c in self.connectors)
        for connector in targets:
            if connector.operative == operative:
                connector.scheduled_operative = None
                continue
            if connector.busy and not operative:
                connector.scheduled_operative = operative
                scheduled = True
                continue
            connector.operative = operative
            if not connector.busy and connector.status != "Faulted":
                if not operative:
                    self._drop_reservation(connector, self.now_s)  # H01.FR.17
                status: ConnectorStatus = "Available" if operative else "Unavailable"
                self._set_status(connector, status, self.now_s)
        station_is = any(c.operative for c in self.connectors)
        if self.dialect.version == "1.6" and station_was != station_is:
            self._queue_station_status(self.now_s)  # connector 0: some connector operative
        return "Scheduled" if scheduled else "Accepted"

    def unlock_connector(self, connector_id: int, stop_transaction: bool) -> UnlockOutcome:
        """Unlock; a transaction there ends first (1.6 5.18) or refuses (F05.FR.02)."""
        connector = self._connector(connector_id)
        if connector is None:
            return "Unknown"
        tx = connector.tx
        if tx is not None:
            if tx.ended_for is not None:  # its authorization ended (2.x TxStopPoint)
                self.end_transaction(connector, self.now_s, "EVDisconnected")  # cable out
            elif not stop_transaction:
                return "Ongoing"  # an authorized transaction (F05.FR.02)
            else:
                self.end_transaction(connector, self.now_s, "UnlockCommand")
        elif connector.busy:
            connector.phase = None
            self._unplug(connector, self.now_s)
        return "Unlocked"

    def trigger_message(self, message: str, connector_id: int | None) -> str:
        """Send the asked message for the asked connector (F06; 1.6 5.17)."""
        now = self.now_s
        if connector_id and message in _PER_CONNECTOR and self._connector(connector_id) is None:
            return "Rejected"
        dialect = self.dialect
        at = now + self.wall_offset_s
        if message == "BootNotification":
            if self.registration == ACCEPTED and dialect.version != "1.6":
                return "Rejected"  # F06.FR.17
            self._queue_boot(now, triggered=True)
            return "Accepted"
        if message == "Heartbeat":
            self._queue(Outgoing(*dialect.heartbeat(), "heartbeat", pending_ok=True))
        elif message == "StatusNotification":
            if dialect.version == "1.6" and not connector_id:
                self._queue_station_status(now, triggered=True)
                if connector_id == 0:
                    return "Accepted"  # 1.6 5.17: connector 0 is the Charge Point alone
            for connector in self._targets(connector_id):
                self._queue_status(connector, now, triggered=True)
        elif message == "MeterValues":
            # 1.6 errata 3.46: MeterValuesSampledData; F06.FR.06: the aligned measurands
            name = "meter_values_sampled_data" if dialect.version == "1.6" else None
            measurands = measurand_list(self.read_setting(name or "meter_values_aligned_data"))
            for connector in self._targets(connector_id):
                self._meter(connector, now)
                request = dialect.meter_values(
                    connector.id, self._reading(connector, now), at, connector.tx, measurands
                )
                self._queue(Outgoing(*request, "other", connector, pending_ok=True))
        elif message == "TransactionEvent":
            running = [c for c in self._targets(connector_id) if c.tx is not None]
            if not running:
                return "Rejected"
            measurands = measurand_list(self.read_setting("meter_values_sampled_data"))
            for connector in running:
                tx: Transaction = connector.tx  # type: ignore[assignment]
                self._meter(connector, now)
                reading = self._reading(connector, now)
                event = dialect.tx_triggered(
                    tx, reading, at, tx.next_seq(), measurands, state=connector.status
                )
                if event is not None:
                    self._queue(Outgoing(*event, "meter", connector, tx))
        elif message in ("FirmwareStatusNotification", "SignedFirmwareStatusNotification"):
            self._triggered_firmware_status(signed=message.startswith("Signed"))
        elif message in ("DiagnosticsStatusNotification", "LogStatusNotification"):
            self._triggered_log_status(diagnostics=message.startswith("Diagnostics"))
        else:
            return "NotImplemented"
        return "Accepted"

    def transaction_status(self, transaction_id: str | None) -> tuple[bool | None, bool]:
        """Whether the transaction runs, and whether transaction messages (about it) are
        still to be delivered: queued, or sent and not yet answered (E14.FR.01-08). A
        transaction the station never had is neither (E14.FR.01); ended, it is not
        ongoing (E14.FR.03); with no id the answer has no ongoingIndicator (E14.FR.06)."""
        tx_actions = self.dialect.transaction_actions
        waiting = self.queue if self.call is None else [self.call, *self.queue]
        queued = any(
            item.action in tx_actions
            and (
                transaction_id is None
                or (item.tx is not None and item.tx.local_id == transaction_id)
            )
            for item in waiting
        )
        if transaction_id is None:
            return None, queued
        ongoing = any(c.tx is not None and c.tx.local_id == transaction_id for c in self.connectors)
        return ongoing, queued

    def _targets(self, connector_id: int | None) -> list[Connector]:
        if not connector_id:
            return list(self.connectors)
        connector = self._connector(connector_id)
        return [connector] if connector is not None else []

    def base_report(self, request_id: int, report_base: str) -> str:
        """Accepted, then the NotifyReports of the asked variables (B07.FR.01/03), or
        NotSupported for a reportBase the dialect has no report for (B07.FR.02)."""
        at = self.now_s + self.wall_offset_s
        requests = self.dialect.notify_report(request_id, at, self, report_base)
        if requests is None:
            return "NotSupported"
        for request in requests:
            self._queue(Outgoing(*request, "other", pending_ok=True))
        return "Accepted"
