"""OCPP 2.0.1 as a charging station speaks it: requests, answers read, server calls answered.

Each EVSE has one connector: a transaction's ``connector_id`` is the EVSE id and the
connector id on the wire is always 1. The station numbers its transactions itself
(``local_id``) and each TransactionEvent carries the transaction's own ``seqNo``.
Device-model variables are the 2.0.1 side of :mod:`loadgen.ocpp.settings`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar
from urllib.parse import urlsplit

from loadgen.ocpp import profiles
from loadgen.ocpp.dialect import (
    BootReason,
    BootReply,
    ChargePointTarget,
    ConnectorStatus,
    Dialect,
    Identity,
    IdInfo,
    NetworkProfile,
    Payload,
    Request,
    Sample,
    StartReply,
    StartTrigger,
    StopReason,
    TransactionLike,
    iso,
)
from loadgen.ocpp.fields import (
    as_object,
    certificate_id_payload,
    get_field,
    get_log_answer,
    read_boot_reply,
    read_certificate_id,
    read_id_info,
)
from loadgen.ocpp.framing import Call, CallError, CallResult, FrameError
from loadgen.ocpp.samples import ENERGY, Reading, values
from loadgen.ocpp.settings import BY_NAME, BY_VARIABLE, COMPONENTS, SETTINGS, TIERS, Setting

#: Messages a TriggerMessage may ask for and the station sends.
TRIGGERABLE_201 = frozenset(
    {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "TransactionEvent",
        "FirmwareStatusNotification",
        "LogStatusNotification",
    }
)
#: The one connector of each EVSE: a station's EVSE n is its connector n of 1.6.
_CONNECTOR_ID = 1
_STATUS_201: dict[str, str] = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}
#: Connector statuses that are a ChargingStateEnumType value as they are.
_CHARGING_STATES = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE"})
#: Why a transaction ends -> (triggerReason, stoppedReason)
_ENDED: dict[str, tuple[str, str]] = {
    "Local": ("StopAuthorized", "Local"),
    "Remote": ("RemoteStop", "Remote"),
    "HardReset": ("ResetCommand", "ImmediateReset"),
    "SoftReset": ("ResetCommand", "ImmediateReset"),
    "ImmediateReset": ("ResetCommand", "ImmediateReset"),
    "Reboot": ("ResetCommand", "Reboot"),
    "DeAuthorized": ("Deauthorized", "DeAuthorized"),
    "UnlockCommand": ("UnlockCommand", "Other"),
    "EVDisconnected": ("EVCommunicationLost", "EVDisconnected"),
    "PowerLoss": ("AbnormalCondition", "PowerLoss"),
    "EmergencyStop": ("AbnormalCondition", "EmergencyStop"),
    "MasterPass": ("StopAuthorized", "MasterPass"),  # C16.FR.02
    "Other": ("AbnormalCondition", "Other"),
}
_UNLOCK_201 = {
    "Unlocked": "Unlocked",
    "UnlockFailed": "UnlockFailed",
    "Ongoing": "OngoingAuthorizedTransaction",
    "Unknown": "UnknownConnector",
}
_ID_TOKEN_TYPES = frozenset(
    "Central eMAID ISO14443 ISO15693 KeyCode Local MacAddress NoAuthorization".split()
)
_ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")
_DATA_TYPES = {
    "int": "integer",
    "bool": "boolean",
    "csv": "MemberList",
    "str": "string",
    "decimal": "decimal",
    "password": "string",
}
_ID_STATUS = (
    "Accepted Blocked ConcurrentTx Expired Invalid NoCredit NotAllowedTypeEVSE "
    "NotAtThisLocation NotAtThisTime Unknown"
).split()
#: The URL scheme of each security profile (Part 2 A00: 0 and 1 plain, 2 and 3 over TLS).
_SCHEMES = {0: "ws", 1: "ws", 2: "wss", 3: "wss"}
#: The configuration slots a network profile may go to (NetworkConfigurationPriority's
#: valuesList, B09.FR.05).
_SLOTS = BY_NAME["network_configuration_priority"].values
#: The transaction id's schema maxLength.
MAX_TRANSACTION_ID_LEN = 36
Handler = Callable[["V201", Payload, ChargePointTarget], Payload]


class V201(Dialect):
    """OCPP 2.0.1 (subprotocol ``ocpp2.0.1``)."""

    version = "2.0.1"
    subprotocol = "ocpp2.0.1"
    transaction_actions = frozenset({"TransactionEvent"})
    # H01.FR.20: once the Available EVSEs are as many as the reservations without evseId,
    # each of them is reported Reserved (1.6 5.13 reserves no specific connector: V16)
    marks_reserved_for_any = True
    server_actions = frozenset(
        "CancelReservation CertificateSigned ChangeAvailability ClearCache "
        "ClearChargingProfile ClearDisplayMessage ClearVariableMonitoring CostUpdated "
        "CustomerInformation DataTransfer DeleteCertificate GetBaseReport "
        "GetChargingProfiles GetCompositeSchedule GetDisplayMessages "
        "GetInstalledCertificateIds GetLocalListVersion GetLog GetMonitoringReport GetReport "
        "GetTransactionStatus GetVariables InstallCertificate PublishFirmware "
        "RequestStartTransaction RequestStopTransaction ReserveNow Reset SendLocalList "
        "SetChargingProfile SetDisplayMessage SetMonitoringBase SetMonitoringLevel "
        "SetNetworkProfile SetVariableMonitoring SetVariables TriggerMessage UnlockConnector "
        "UnpublishFirmware UpdateFirmware".split()
    )

    #: purposes a profile criterion may name (2.1 adds its own)
    purposes: tuple[str, ...] = profiles.PURPOSES_201
    #: InstallCertificateUseEnumType (2.1 adds its own) and the PEM's maxLength
    certificate_uses: tuple[str, ...] = (
        "V2GRootCertificate",
        "MORootCertificate",
        "CSMSRootCertificate",
        "ManufacturerRootCertificate",
    )
    certificate_max_len = 5500
    #: NetworkConnectionProfileType in this version: ocppVersion's values (required in
    #: 2.0.1), ocppInterface's and ocppCsmsUrl's maxLength
    ocpp_versions: tuple[str, ...] = ("OCPP12", "OCPP15", "OCPP16", "OCPP20")
    ocpp_version_required = True
    ocpp_interfaces: tuple[str, ...] = tuple(
        f"{kind}{n}" for kind in ("Wired", "Wireless") for n in range(4)
    )
    csms_url_max_len = 512

    def _profile(self, evse_id: int, raw: Payload) -> profiles.ChargingProfile:
        """A chargingProfile as this version writes it."""
        return profiles.parse_201(evse_id, raw)

    def _token(self, token: Payload) -> str:
        """The tag of an IdTokenType from the CSMS (see :func:`_read_id_token`)."""
        return _read_id_token(token)

    def _wire_token(self, id_tag: str) -> Payload:
        """The IdTokenType this version sends for a tag (see :func:`_id_token`)."""
        return _id_token(id_tag)

    def token_value(self, id_tag: str) -> str:
        return str(self._wire_token(id_tag)["idToken"])

    # -- requests -----------------------------------------------------------------------

    def boot_notification(self, identity: Identity, reason: BootReason) -> Request:
        return "BootNotification", {
            "chargingStation": {
                "model": identity.model[:20],
                "vendorName": identity.vendor[:50],
                "serialNumber": identity.serial_number[:25],
                "firmwareVersion": identity.firmware_version[:50],
            },
            "reason": reason,
        }

    def parse_boot_reply(self, payload: Payload) -> BootReply:
        return read_boot_reply(payload)

    def status_notification(
        self, connector_id: int, status: ConnectorStatus, error_code: str, at: float
    ) -> Request:
        """StatusNotification for EVSE ``connector_id``, connector 1."""
        return "StatusNotification", {
            "timestamp": iso(at),
            "connectorStatus": _STATUS_201[status],
            "evseId": connector_id,
            "connectorId": _CONNECTOR_ID,
        }

    def wire_status(self, status: ConnectorStatus) -> str:
        return _STATUS_201[status]  # Preparing, Charging ... are Occupied

    def authorize(self, id_tag: str) -> Request:
        return "Authorize", {"idToken": self._wire_token(id_tag)}

    def authorize_info(self, payload: Payload) -> IdInfo:
        info = read_id_info(payload, "idTokenInfo", required=True, group_token=self._token)
        assert info is not None  # required
        return info

    def tx_start(
        self,
        tx: TransactionLike,
        reading: Reading,
        at: float,
        trigger: StartTrigger,
        seq_no: int,
        offline: bool,
        measurands: tuple[str, ...] = (),
        reservation_id: int | None = None,
        state: ConnectorStatus = "Charging",
    ) -> Request:
        """TransactionEvent Started; a remote start carries its remoteStartId, the end of a
        reservation its reservationId (H01.FR.15), the meter its TxStartedMeasurands, the
        charging state the one it starts in (SuspendedEVSE under a limit of 0)."""
        event = _event("Started", trigger, seq_no, tx.local_id, at, state, offline)
        if trigger == "RemoteStart" and tx.remote_start_id is not None:
            event["transactionInfo"]["remoteStartId"] = tx.remote_start_id
        event["evse"] = {"id": tx.connector_id, "connectorId": _CONNECTOR_ID}
        event["idToken"] = self._wire_token(tx.id_tag)
        if reservation_id is not None:
            event["reservationId"] = reservation_id
        event["meterValue"] = [_sample(reading, at, "Transaction.Begin", measurands or _ENERGY)]
        return "TransactionEvent", event

    def start_reply(self, payload: Payload) -> StartReply:
        """idTokenInfo's status when the answer has one (optional in 2.0.1)."""
        return StartReply(
            None, read_id_info(payload, "idTokenInfo", required=False, group_token=self._token)
        )

    def end_reply(self, request: Payload, payload: Payload) -> tuple[str | None, IdInfo | None]:
        """The Ended event's idToken (a stop's authorization) and the answer's optional
        idTokenInfo."""
        info = read_id_info(payload, "idTokenInfo", required=False, group_token=self._token)
        token = request.get("idToken")
        tag = token.get("idToken") if isinstance(token, dict) else None
        return (tag if isinstance(tag, str) else None), info

    def tx_meter(
        self,
        tx: TransactionLike,
        reading: Reading,
        at: float,
        seq_no: int,
        offline: bool,
        measurands: tuple[str, ...],
        context: str = "Sample.Periodic",
        *,
        state: ConnectorStatus,
    ) -> Request:
        """TransactionEvent Updated, triggerReason MeterValuePeriodic (MeterValueClock for
        a clock-aligned sample); a charging state that changed with the sample goes in it
        (E02.FR.13: ChargingStateChanged only when the change is the only event)."""
        trigger = "MeterValueClock" if context == "Sample.Clock" else "MeterValuePeriodic"
        charging = _charging_state(state)
        event = _event("Updated", trigger, seq_no, tx.local_id, at, charging, offline)
        event["meterValue"] = [_sample(reading, at, context, measurands)]
        return "TransactionEvent", event

    def tx_end(
        self,
        tx: TransactionLike,
        reading: Reading,
        at: float,
        reason: StopReason,
        seq_no: int,
        offline: bool,
        measurands: tuple[str, ...] = (),
        samples: Sequence[Sample] = (),
        aligned_measurands: tuple[str, ...] = (),
        stopped_by: str | None = None,
    ) -> Request:
        """TransactionEvent Ended with the trigger and stoppedReason that fit ``reason``,
        and the TxEndedMeasurands sampled during the session and at its end (clock-aligned
        ones with AlignedDataCtrlr.TxEndedMeasurands). An end that is the end of its
        authorization (StopAuthorized) names the idToken that stopped it, ``stopped_by``
        or its own, unless an earlier event of it ended the authorization (E07.FR.02:
        once)."""
        trigger, stopped = _ENDED[reason]
        if reason == "EVDisconnected" and tx.ended_for is not None:
            stopped = _ENDED[tx.ended_for][1]  # what ended it: the driver (E07.FR.05), ...
        # the EV unplugged: no connection to it any more (E06's Ended: chargingState Idle)
        charging = "Idle" if reason == "EVDisconnected" else "EVConnected"
        event = _event("Ended", trigger, seq_no, tx.local_id, at, charging, offline)
        event["transactionInfo"]["stoppedReason"] = stopped
        token = stopped_by
        if token is None and trigger == "StopAuthorized" and tx.id_tag:
            token = tx.id_tag
        if token is not None and tx.ended_for is None:
            event["idToken"] = self._wire_token(token)
        wanted = measurands or _ENERGY
        kept = []
        for when, sample, context in samples:
            chosen = aligned_measurands if context == "Sample.Clock" else wanted
            if chosen:
                kept.append(_sample(sample, when, context, chosen))
        event["meterValue"] = [*kept, _sample(reading, at, "Transaction.End", wanted)]
        return "TransactionEvent", event

    def tx_triggered(
        self,
        tx: TransactionLike,
        reading: Reading,
        at: float,
        seq_no: int,
        measurands: tuple[str, ...] = (),
        *,
        state: ConnectorStatus,
    ) -> Request:
        """TransactionEvent Updated, triggerReason Trigger: the charging state and the
        TxUpdatedMeasurands now (F06.FR.07, F06.FR.09)."""
        charging = _charging_state(state)
        event = _event("Updated", "Trigger", seq_no, tx.local_id, at, charging, False)
        event["evse"] = {"id": tx.connector_id, "connectorId": _CONNECTOR_ID}
        event["meterValue"] = [_sample(reading, at, "Trigger", measurands or _ENERGY)]
        return "TransactionEvent", event

    def tx_charging(
        self,
        tx: TransactionLike,
        at: float,
        seq_no: int,
        offline: bool,
        state: ConnectorStatus,
        *,
        rate_changed: bool = False,
        deauthorized: str | None = None,
    ) -> Request:
        """TransactionEvent Updated, triggerReason ChargingStateChanged (E02.FR.13,
        E05.FR.02), ChargingRateChanged (K11.FR.04, K13.FR.03), or the end of the
        authorization (``deauthorized``: Deauthorized, E05.FR.09, C15.FR.03; StopAuthorized,
        E07.FR.01, with the idToken whose authorization ended: E07.FR.02), with the
        chargingState."""
        trigger = "ChargingRateChanged" if rate_changed else "ChargingStateChanged"
        if deauthorized:
            trigger = deauthorized
        charging = _charging_state(state)
        event = _event("Updated", trigger, seq_no, tx.local_id, at, charging, offline)
        if trigger == "StopAuthorized" and tx.id_tag:
            event["idToken"] = self._wire_token(tx.id_tag)
        return "TransactionEvent", event

    def meter_values(
        self,
        connector_id: int,
        reading: Reading,
        at: float,
        tx: TransactionLike | None,
        measurands: tuple[str, ...] = (),
        context: str = "Trigger",
    ) -> Request:
        return "MeterValues", {
            "evseId": connector_id,
            "meterValue": [_sample(reading, at, context, measurands or _ENERGY)],
        }

    def firmware_status(
        self, status: str, request_id: int | None = None, *, signed: bool = False
    ) -> Request:
        payload: Payload = {"status": status}
        if request_id is not None:  # L01.FR.10 / L01.FR.20
            payload["requestId"] = request_id
        return "FirmwareStatusNotification", payload

    def diagnostics_status(self, status: str) -> Request | None:
        return "LogStatusNotification", {"status": status}

    def reservation_status(self, reservation_id: int, status: str) -> Request:
        return "ReservationStatusUpdate", {
            "reservationId": reservation_id,
            "reservationUpdateStatus": status,
        }

    def connector_event(
        self, connector_id: int, status: ConnectorStatus, at: float, event_id: int
    ) -> Request:
        """NotifyEvent: the connector's AvailabilityState changed (trigger Delta, G01)."""
        return "NotifyEvent", {
            "generatedAt": iso(at),
            "seqNo": 0,
            "tbc": False,
            "eventData": [
                {
                    "eventId": event_id,
                    "timestamp": iso(at),
                    "trigger": "Delta",
                    "actualValue": _STATUS_201[status],
                    "eventNotificationType": "HardWiredNotification",
                    "component": {
                        "name": "Connector",
                        "evse": {"id": connector_id, "connectorId": _CONNECTOR_ID},
                    },
                    "variable": {"name": "AvailabilityState"},
                }
            ],
        }

    def charging_limit(self, connector_id: int, limit_w: float, at: float) -> Request:
        """NotifyChargingLimit from an energy manager (K12.FR.02, source EMS)."""
        payload: Payload = {
            "chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": False}
        }
        if connector_id:
            payload["evseId"] = connector_id
        return "NotifyChargingLimit", payload

    def charging_profiles_report(
        self, request_id: int, source: str, connector_id: int, profiles: list[Payload], tbc: bool
    ) -> Request:
        return "ReportChargingProfiles", {
            "requestId": request_id,
            "chargingLimitSource": source,
            "evseId": connector_id,
            "chargingProfile": profiles,
            "tbc": tbc,
        }

    def customer_report(self, request_id: int, at: float, data: str) -> Request:
        return "NotifyCustomerInformation", {
            "data": data[:512],
            "tbc": False,
            "seqNo": 0,
            "generatedAt": iso(at),
            "requestId": request_id,
        }

    def notify_report(
        self,
        request_id: int,
        at: float,
        target: ChargePointTarget,
        report_base: str = "FullInventory",
    ) -> list[Request] | None:
        """The NotifyReports of a base report: FullInventory every variable the station
        has (B07.FR.08), ConfigurationInventory those the operator can set (B07.FR.07),
        SummaryInventory the AvailabilityState of the station, each EVSE and each
        connector (B07.FR.09); None for another reportBase. In parts
        of at most DeviceDataCtrlr.ItemsPerMessage / BytesPerMessage (GetReport) entries
        / bytes, the report sizes the station declares, from seqNo 0 (B07.FR.03/10)."""
        chosen = _REPORTS.get(report_base)
        if chosen is None:
            return None
        data = []
        for setting, component, evse_id in _components(target):
            if not chosen(setting):
                continue
            value = _read(setting, target, evse_id)
            if value is None:
                continue
            attribute: Payload = {"type": "Actual"}
            if setting.writeonly:  # its value is omitted (VariableAttributeType.value)
                attribute["mutability"] = "WriteOnly"
            else:
                attribute["value"] = value[:2500]
                attribute["mutability"] = "ReadOnly" if setting.readonly else "ReadWrite"
            characteristics: Payload = {
                "dataType": setting.data_type or _DATA_TYPES[setting.kind],
                "supportsMonitoring": False,
            }
            if setting.unit:
                characteristics["unit"] = setting.unit
            limit = target.max_limit(setting.name, evse_id)
            if limit:  # EVSE.Power's is required (Part 2 2.13.7)
                characteristics["maxLimit"] = float(limit)
            if setting.values and characteristics["dataType"] != "boolean":
                # mandatory for the list data types; a boolean's two values go without
                characteristics["valuesList"] = ",".join(setting.values)
            data.append(
                {
                    "component": component,
                    "variable": _variable(setting),
                    "variableAttribute": [attribute],
                    "variableCharacteristics": characteristics,
                }
            )
        return _report_parts(request_id, iso(at), data, target)

    # -- the server's calls --------------------------------------------------------------

    def answer(self, call: Call, target: ChargePointTarget) -> CallResult | CallError:
        handler = self._handlers.get(call.action)
        if handler is None:
            return self.unhandled(call, target)
        try:
            return CallResult(call.unique_id, handler(self, call.payload, target))
        except FrameError as exc:
            return CallError(call.unique_id, exc.code, str(exc)[:200])

    def _get_variables(self, p: Payload, target: ChargePointTarget) -> Payload:
        results = []
        for entry in _entries(p, "getVariableData"):
            result, setting = _lookup(entry, target)
            if setting is None or result["attributeStatus"] != "Accepted":
                pass  # unknown, or an attribute type it lacks (B06.FR.08)
            elif setting.writeonly:
                result["attributeStatus"] = "Rejected"  # B06.FR.09
            else:
                evse = result["component"].get("evse")
                value = _read(setting, target, None if evse is None else evse["id"])
                if value is None:
                    result["attributeStatus"] = "UnknownVariable"
                else:
                    result["attributeValue"] = value[:2500]
            results.append(result)
        return {"getVariableResult": results}

    def _set_variables(self, p: Payload, target: ChargePointTarget) -> Payload:
        results = []
        for entry in _entries(p, "setVariableData"):
            value = get_field(entry, "attributeValue", str, max_len=1000)
            result, setting = _lookup(entry, target)
            if setting is not None and result["attributeStatus"] == "Accepted":
                normalised = setting.parse(value)
                if setting.readonly or normalised is None:
                    result["attributeStatus"] = "Rejected"
                else:
                    result["attributeStatus"] = target.write_setting(setting.name, normalised)
            results.append(result)
        return {"setVariableResult": results}

    def _request_start(self, p: Payload, target: ChargePointTarget) -> Payload:
        id_tag = self._token(get_field(p, "idToken", dict))
        remote_start_id = get_field(p, "remoteStartId", int)
        evse_id = get_field(p, "evseId", int, required=False)
        group_token = get_field(p, "groupIdToken", dict, required=False)
        group = None if group_token is None else self._token(group_token)
        raw = get_field(p, "chargingProfile", dict, required=False)
        profile = None
        if raw is not None and target.supports("SmartCharging"):
            profile = self._profile(evse_id or 0, raw)
            if profile.purpose != profiles.TX:  # F01.FR.08: a TxProfile only
                return {"status": "Rejected"}
        return {"status": target.remote_start(evse_id, id_tag, remote_start_id, profile, group)}

    def _request_stop(self, p: Payload, target: ChargePointTarget) -> Payload:
        transaction_id = get_field(p, "transactionId", str, max_len=MAX_TRANSACTION_ID_LEN)
        return {"status": target.remote_stop(transaction_id)}

    def _get_transaction_status(self, p: Payload, target: ChargePointTarget) -> Payload:
        transaction_id = get_field(
            p, "transactionId", str, required=False, max_len=MAX_TRANSACTION_ID_LEN
        )
        ongoing, queued = target.transaction_status(transaction_id)
        answer: Payload = {"messagesInQueue": queued}
        if ongoing is not None:  # E14.FR.06: not without a transactionId
            answer["ongoingIndicator"] = ongoing
        return answer

    def _reset(self, p: Payload, target: ChargePointTarget) -> Payload:
        kind = get_field(p, "type", str, choices=("Immediate", "OnIdle"))
        evse_id = get_field(p, "evseId", int, required=False)
        return {"status": target.reset(kind, evse_id)}

    def _change_availability(self, p: Payload, target: ChargePointTarget) -> Payload:
        status = get_field(p, "operationalStatus", str, choices=("Inoperative", "Operative"))
        evse = get_field(p, "evse", dict, required=False)
        evse_id = 0 if evse is None else get_field(evse, "id", int)
        connector_id = None if evse is None else get_field(evse, "connectorId", int, required=False)
        if connector_id not in (None, _CONNECTOR_ID):
            return {"status": "Rejected"}  # no such connector
        return {"status": target.change_availability(evse_id, status == "Operative")}

    def _unlock_connector(self, p: Payload, target: ChargePointTarget) -> Payload:
        evse_id = get_field(p, "evseId", int)
        connector_id = get_field(p, "connectorId", int)
        if connector_id != _CONNECTOR_ID:
            return {"status": "UnknownConnector"}
        outcome = target.unlock_connector(evse_id, stop_transaction=False)
        return {"status": _UNLOCK_201[outcome]}

    def _trigger_message(self, p: Payload, target: ChargePointTarget) -> Payload:
        message = get_field(p, "requestedMessage", str)
        evse = get_field(p, "evse", dict, required=False)
        evse_id = None if evse is None else get_field(evse, "id", int)
        connector_id = None if evse is None else get_field(evse, "connectorId", int, required=False)
        if message not in TRIGGERABLE_201:
            return {"status": "NotImplemented"}
        if message == "StatusNotification" and connector_id not in (None, _CONNECTOR_ID):
            return {"status": "Rejected"}  # the status of a connector no EVSE here has (F06.FR.05)
        return {"status": target.trigger_message(message, evse_id)}

    def _clear_cache(self, p: Payload, target: ChargePointTarget) -> Payload:
        as_object(p)
        return {"status": target.clear_cache()}

    def _get_base_report(self, p: Payload, target: ChargePointTarget) -> Payload:
        request_id = get_field(p, "requestId", int)
        choices = ("ConfigurationInventory", "FullInventory", "SummaryInventory")
        report_base = get_field(p, "reportBase", str, choices=choices)
        return {"status": target.base_report(request_id, report_base)}

    def _data_transfer(self, p: Payload, target: ChargePointTarget) -> Payload:
        vendor_id = get_field(p, "vendorId", str, max_len=255)
        message_id = get_field(p, "messageId", str, required=False, max_len=50)
        status, data = target.data_transfer(vendor_id, message_id, p.get("data"))
        return {"status": status} if data is None else {"status": status, "data": data}

    # -- firmware and logs (L01, N01) -----------------------------------------------------

    def _update_firmware(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "FirmwareManagement")
        request_id = get_field(p, "requestId", int)
        get_field(p, "retries", int, required=False)
        get_field(p, "retryInterval", int, required=False)
        firmware = get_field(p, "firmware", dict)
        location = get_field(firmware, "location", str, max_len=512)
        retrieve_at = profiles.parse_time(
            get_field(firmware, "retrieveDateTime", str), "retrieveDateTime"
        )
        install = get_field(firmware, "installDateTime", str, required=False)
        install_at = None if install is None else profiles.parse_time(install, "installDateTime")
        signed = get_field(firmware, "signature", str, required=False, max_len=800) is not None
        get_field(firmware, "signingCertificate", str, required=False, max_len=5500)
        status = target.update_firmware(location, retrieve_at, request_id, signed, install_at)
        return {"status": status}

    def _get_log(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "FirmwareManagement")
        return get_log_answer(p, target)

    # -- reservations (H01, H02) ----------------------------------------------------------

    def _reserve_now(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "Reservation")
        reservation_id = get_field(p, "id", int)
        expiry = profiles.parse_time(get_field(p, "expiryDateTime", str), "expiryDateTime")
        id_tag = self._token(get_field(p, "idToken", dict))
        evse_id = get_field(p, "evseId", int, required=False)
        group = get_field(p, "groupIdToken", dict, required=False)
        group_tag = None if group is None else self._token(group)
        get_field(p, "connectorType", str, required=False)
        return {"status": target.reserve_now(reservation_id, evse_id, expiry, id_tag, group_tag)}

    def _cancel_reservation(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "Reservation")
        return {"status": target.cancel_reservation(get_field(p, "reservationId", int))}

    # -- local authorization list (D01, D02) ----------------------------------------------

    def _send_local_list(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "LocalAuthListManagement")
        version = get_field(p, "versionNumber", int)
        kind = get_field(p, "updateType", str, choices=("Differential", "Full"))
        entries: list[tuple[str, IdInfo | None]] = []
        for item in get_field(p, "localAuthorizationList", list, required=False) or ():
            tag = self._token(get_field(item, "idToken", dict))
            info = read_id_info(
                item, "idTokenInfo", required=False, choices=_ID_STATUS, group_token=self._token
            )
            entries.append((tag, info))
        return {"status": target.send_local_list(version, kind == "Full", entries)}

    def _get_local_list_version(self, p: Payload, target: ChargePointTarget) -> Payload:
        as_object(p)
        _require(target, "LocalAuthListManagement")
        return {"versionNumber": target.local_list_version()}

    # -- smart charging (K01, K08, K09, K10) ----------------------------------------------

    def _set_charging_profile(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "SmartCharging")
        evse_id = get_field(p, "evseId", int)
        profile = self._profile(evse_id, get_field(p, "chargingProfile", dict))
        return {"status": target.set_charging_profile(profile)}

    def _clear_charging_profile(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "SmartCharging")
        profile_id = get_field(p, "chargingProfileId", int, required=False)
        criteria = get_field(p, "chargingProfileCriteria", dict, required=False) or {}
        status = target.clear_charging_profiles(
            profile_id,
            get_field(criteria, "evseId", int, required=False),
            get_field(
                criteria,
                "chargingProfilePurpose",
                str,
                required=False,
                choices=self.purposes,
            ),
            get_field(criteria, "stackLevel", int, required=False),
        )
        return {"status": status}

    def _get_charging_profiles(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "SmartCharging")
        request_id = get_field(p, "requestId", int)
        evse_id = get_field(p, "evseId", int, required=False)
        criteria = get_field(p, "chargingProfile", dict)
        ids = get_field(criteria, "chargingProfileId", list, required=False) or []
        sources = get_field(criteria, "chargingLimitSource", list, required=False) or []
        if not all(type(i) is int for i in ids) or not all(type(x) is str for x in sources):
            raise FrameError(
                "chargingProfile criteria of the wrong type", code="TypeConstraintViolation"
            )
        status = target.report_charging_profiles(
            request_id,
            evse_id,
            get_field(
                criteria,
                "chargingProfilePurpose",
                str,
                required=False,
                choices=self.purposes,
            ),
            get_field(criteria, "stackLevel", int, required=False),
            ids,
            sources,
        )
        return {"status": status}

    def _get_composite_schedule(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "SmartCharging")
        duration = get_field(p, "duration", int)
        unit = get_field(p, "chargingRateUnit", str, required=False, choices=("A", "W"))
        evse_id = get_field(p, "evseId", int)
        found = target.composite_schedule(evse_id, duration, unit)
        if found is None:
            return {"status": "Rejected"}
        start, unit_used, periods = found
        schedule_periods = []
        for offset, limit, phases in periods:
            period: Payload = {"startPeriod": offset, "limit": profiles.rounded(limit)}
            if phases is not None:
                period["numberPhases"] = phases
            schedule_periods.append(period)
        return {
            "status": "Accepted",
            "schedule": {
                "evseId": evse_id,
                "duration": duration,
                "scheduleStart": iso(start),
                "chargingRateUnit": unit_used,
                "chargingSchedulePeriod": schedule_periods,
            },
        }

    # -- certificates (M03, M04, M05) ----------------------------------------------------

    def _install_certificate(self, p: Payload, target: ChargePointTarget) -> Payload:
        use = get_field(p, "certificateType", str, choices=self.certificate_uses)
        text = get_field(p, "certificate", str, max_len=self.certificate_max_len)
        return {"status": target.install_certificate(use, text)}

    def _get_installed_certificate_ids(self, p: Payload, target: ChargePointTarget) -> Payload:
        """The hash data of the installed certificates of the asked types, all when none
        is asked; NotFound with no chain when none matches (M03.FR.02-04)."""
        uses = get_field(p, "certificateType", list, required=False)
        known = (*self.certificate_uses, "V2GCertificateChain")
        if uses is not None and (not uses or not all(use in known for use in uses)):
            raise FrameError(
                "'certificateType' must list certificate types", code="PropertyConstraintViolation"
            )
        found = target.installed_certificates(uses)
        if not found:
            return {"status": "NotFound"}
        chain = [
            {"certificateType": use, "certificateHashData": certificate_id_payload(certificate)}
            for use, certificate in found
        ]
        return {"status": "Accepted", "certificateHashDataChain": chain}

    def _delete_certificate(self, p: Payload, target: ChargePointTarget) -> Payload:
        certificate = read_certificate_id(p, "certificateHashData")
        return {"status": target.delete_certificate(certificate)}

    # -- network connection profiles (B09) -----------------------------------------------

    def _set_network_profile(self, p: Payload, target: ChargePointTarget) -> Payload:
        """Rejected for a slot NetworkConfigurationPriority does not list (B09.FR.05) or a
        profile the station cannot use (B09.FR.02); else the station's answer (B09.FR.01)."""
        slot = get_field(p, "configurationSlot", int)
        profile, reason = self._network_profile(get_field(p, "connectionData", dict), target)
        if str(slot) not in _SLOTS:
            return _network_answer("Rejected", "InvalidConfSlot")
        if profile is None:
            return _network_answer("Rejected", reason)
        return _network_answer(*target.set_network_profile(slot, profile))

    def _network_profile(
        self, data: Payload, target: ChargePointTarget
    ) -> tuple[NetworkProfile | None, str | None]:
        """The profile ``data`` (NetworkConnectionProfileType) gives, or None and the
        reasonCode of why the station cannot use it: a transport other than JSON, a URL
        that is not ws:// (security profile 0, 1) or wss:// (2, 3) to a host, a security
        profile the station does not know, a messageTimeout under 1 s, a VPN (the station
        connects through the host's network). ocppVersion is ignored (Part 2 2.35: the
        handshake decides it), and so is apn (the interface is the host's)."""
        get_field(
            data,
            "ocppVersion",
            str,
            required=self.ocpp_version_required,
            choices=self.ocpp_versions,
        )
        transport = get_field(data, "ocppTransport", str, choices=("JSON", "SOAP"))
        url = get_field(data, "ocppCsmsUrl", str, max_len=self.csms_url_max_len)
        timeout_s = get_field(data, "messageTimeout", int)
        security_profile = get_field(data, "securityProfile", int)
        get_field(data, "ocppInterface", str, choices=self.ocpp_interfaces)
        get_field(data, "apn", dict, required=False)
        vpn = get_field(data, "vpn", dict, required=False)
        if vpn is not None:
            return None, "UnsupportedParam"
        if transport != "JSON" or timeout_s < 1:
            return None, "InvalidNetworkConf"
        scheme = _SCHEMES.get(security_profile)
        if scheme is None or _scheme(url) != scheme:
            return None, "InvalidNetworkConf"
        return NetworkProfile(url, security_profile, timeout_s), None

    # -- customer information (N09, N10) -------------------------------------------------

    def _customer_information(self, p: Payload, target: ChargePointTarget) -> Payload:
        """Invalid unless exactly one of idToken, customerCertificate and
        customerIdentifier names the customer (N09.FR.09); else the station's answer."""
        request_id = get_field(p, "requestId", int)
        report = get_field(p, "report", bool)
        clear = get_field(p, "clear", bool)
        token = get_field(p, "idToken", dict, required=False)
        certificate = None
        if "customerCertificate" in p:
            certificate = read_certificate_id(p, "customerCertificate")
        identifier = get_field(p, "customerIdentifier", str, required=False, max_len=64)
        if [token, certificate, identifier].count(None) != 2:
            return {"status": "Invalid"}
        id_tag = None if token is None else self._token(token)
        return {"status": target.customer_information(request_id, report, clear, id_tag)}

    _handlers: ClassVar[dict[str, Handler]] = {
        "GetVariables": _get_variables,
        "SetVariables": _set_variables,
        "RequestStartTransaction": _request_start,
        "RequestStopTransaction": _request_stop,
        "GetTransactionStatus": _get_transaction_status,
        "Reset": _reset,
        "ChangeAvailability": _change_availability,
        "UnlockConnector": _unlock_connector,
        "TriggerMessage": _trigger_message,
        "ClearCache": _clear_cache,
        "GetBaseReport": _get_base_report,
        "DataTransfer": _data_transfer,
        "UpdateFirmware": _update_firmware,
        "GetLog": _get_log,
        "ReserveNow": _reserve_now,
        "CancelReservation": _cancel_reservation,
        "SendLocalList": _send_local_list,
        "GetLocalListVersion": _get_local_list_version,
        "SetChargingProfile": _set_charging_profile,
        "ClearChargingProfile": _clear_charging_profile,
        "GetChargingProfiles": _get_charging_profiles,
        "GetCompositeSchedule": _get_composite_schedule,
        "InstallCertificate": _install_certificate,
        "GetInstalledCertificateIds": _get_installed_certificate_ids,
        "DeleteCertificate": _delete_certificate,
        "CustomerInformation": _customer_information,
        "SetNetworkProfile": _set_network_profile,
    }


def _network_answer(status: str, reason: str | None) -> Payload:
    """A SetNetworkProfileResponse; a rejection's reasonCode in statusInfo (2.0.1 errata
    2025-09 to B09.FR.02/04/05)."""
    if reason is None:
        return {"status": status}
    return {"status": status, "statusInfo": {"reasonCode": reason}}


def _scheme(url: str) -> str | None:
    """The scheme of a WebSocket URL a station can connect to (ws or wss, a host, a valid
    port, no user, query or fragment), None for any other."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when out of range or not a number
    except ValueError:
        return None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return None
    if parts.username is not None or parts.query or parts.fragment:
        return None
    return parts.scheme


def _require(target: ChargePointTarget, feature: str) -> None:
    """A call of a functional block the station lacks: CALLERROR NotSupported (K01.FR.29)."""
    if not target.supports(feature):
        raise FrameError(f"{feature} is not supported", code="NotSupported")


_ENERGY = (ENERGY,)


#: Separates an idToken's type from its value in the tag the station keeps (see _id_token).
_TYPE_MARK = "\x1f"


def _id_token(id_tag: str) -> Payload:
    """The IdTokenType of a tag: ISO14443, unless the tag came from the CSMS with another
    type, kept as ``type + _TYPE_MARK + value`` (F01.FR.04 / F02.FR.12: use its IdToken)."""
    kind, mark, value = id_tag.partition(_TYPE_MARK)
    if not mark or kind not in _ID_TOKEN_TYPES:  # a plain tag (from the config, say)
        return {"idToken": id_tag[:36], "type": "ISO14443"}
    return {"idToken": value[:36], "type": kind}


def _event(
    event_type: str,
    trigger: str,
    seq_no: int,
    transaction_id: str,
    at: float,
    charging_state: str,
    offline: bool,
) -> Payload:
    """The fields every TransactionEvent carries."""
    event: Payload = {
        "eventType": event_type,
        "timestamp": iso(at),
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": {
            "transactionId": transaction_id[:MAX_TRANSACTION_ID_LEN],
            "chargingState": charging_state,
        },
    }
    if offline:
        event["offline"] = True
    return event


def _charging_state(status: ConnectorStatus) -> str:
    """The ChargingStateEnumType of a running transaction's connector: Charging,
    SuspendedEV or SuspendedEVSE as the station decided it, else EVConnected (no energy
    offered: before the start, or a connector that went out of service)."""
    return status if status in _CHARGING_STATES else "EVConnected"


def _sample(reading: Reading, at: float, context: str, measurands: tuple[str, ...]) -> Payload:
    """One 2.0.1 meterValue entry with the chosen measurands (values are numbers)."""
    sampled = []
    for measurand, phase, location, unit, value in values(reading, measurands):
        entry: Payload = {
            "value": value,
            "context": context,
            "measurand": measurand,
            "unitOfMeasure": {"unit": unit},
        }
        if phase is not None:
            entry["phase"] = phase
        if location is not None:
            entry["location"] = location
        sampled.append(entry)
    return {"timestamp": iso(at), "sampledValue": sampled}


def _read_id_token(token: Payload) -> str:
    """The tag for an IdTokenType from the CSMS; a type other than ISO14443 travels with it."""
    kind = get_field(token, "type", str, choices=_ID_TOKEN_TYPES)
    value = str(get_field(token, "idToken", str, max_len=36))
    return value if kind == "ISO14443" else f"{kind}{_TYPE_MARK}{value}"


#: Which variables each base report has (B07.FR.07-09).
_REPORTS: dict[str, Callable[[Setting], bool]] = {
    "FullInventory": lambda setting: True,
    "ConfigurationInventory": lambda setting: not setting.readonly,
    # the availability of the station, each EVSE and each connector; no component here
    # has a Problem, Tripped, Overload or Fallback condition to add
    "SummaryInventory": lambda setting: setting.variable == "AvailabilityState",
}
#: The 2.0.1 variables on each tier, in the table's order.
_TIERED = {
    tier: tuple(
        s for s in SETTINGS if s.component is not None and s.variable is not None and s.tier == tier
    )
    for tier in ("station", "evse", "connector")
}
#: What a report's envelope and the CALL frame around it add to its entries, at most.
_REPORT_FRAME_BYTES = 256


def _components(target: ChargePointTarget) -> Iterator[tuple[Setting, Payload, int | None]]:
    """Every variable the station has, with its component and its EVSE: the station's
    own, then each EVSE's followed by its connector's (Part 2 2.13.8)."""
    for setting in _TIERED["station"]:
        yield setting, {"name": setting.component}, None
    for evse_id in range(1, target.connector_count + 1):
        for setting in _TIERED["evse"]:
            yield setting, {"name": setting.component, "evse": {"id": evse_id}}, evse_id
        for setting in _TIERED["connector"]:
            on = {"id": evse_id, "connectorId": _CONNECTOR_ID}
            yield setting, {"name": setting.component, "evse": on}, evse_id


def _on_its_tier(component: Payload, target: ChargePointTarget) -> bool:
    """Whether ``component`` names a tier its kind has: the station's own on no EVSE, an
    EVSE on the tier of one the station has, a connector on its EVSE's connector 1."""
    tier = TIERS.get(component["name"])
    evse = component.get("evse")
    if tier is None or evse is None:
        return tier is None and evse is None
    if not 1 <= evse["id"] <= target.connector_count:
        return False
    connector_id: int | None = evse.get("connectorId")
    return connector_id == (_CONNECTOR_ID if tier == "connector" else None)


def _read(setting: Setting, target: ChargePointTarget, evse_id: int | None) -> str | None:
    """A variable's value: the station's own, or EVSE ``evse_id``'s; an AvailabilityState
    the status a StatusNotification reports (Part 2 2.13.2: it replicates ConnectorStatus)."""
    if evse_id is None:
        value = target.read_setting(setting.name)
    else:
        value = target.read_evse_setting(setting.name, evse_id)
    if value is not None and setting.kind == "status":
        return _STATUS_201[value]
    return value


def _report_parts(
    request_id: int, generated_at: str, data: list[Payload], target: ChargePointTarget
) -> list[Request]:
    """``data`` as NotifyReports of at most ItemsPerMessage / BytesPerMessage (GetReport)
    entries / bytes each (an entry larger than that alone), ``tbc`` on all but the last."""
    items = max(int(target.read_setting("items_per_message_get_report") or 0), 1)
    room = int(target.read_setting("bytes_per_message_get_report") or 0) - _REPORT_FRAME_BYTES
    parts: list[list[Payload]] = [[]]
    used = 0
    for item in data:
        size = len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()) + 1
        if parts[-1] and (len(parts[-1]) >= items or used + size > room):
            parts.append([])
            used = 0
        parts[-1].append(item)
        used += size
    requests: list[Request] = []
    for seq_no, part in enumerate(parts):
        payload: Payload = {
            "requestId": request_id,
            "generatedAt": generated_at,
            "seqNo": seq_no,
            "tbc": seq_no < len(parts) - 1,
        }
        if part:  # none (nothing to report): no reportData, which takes at least one
            payload["reportData"] = part
        requests.append(("NotifyReport", payload))
    return requests


def _variable(setting: Setting) -> Payload:
    variable: Payload = {"name": setting.variable}
    if setting.instance is not None:
        variable["instance"] = setting.instance
    return variable


def _entries(p: Payload, key: str) -> list[Payload]:
    """The non-empty array ``p[key]`` of objects (Get/SetVariables data)."""
    entries = get_field(p, key, list)
    if not entries:
        raise FrameError(f"{key!r} must not be empty", code="OccurrenceConstraintViolation")
    return [as_object(entry) for entry in entries]


def _named(obj: Payload, *, with_evse: bool) -> Payload:
    """A component or variable rebuilt from its readable fields (name, instance, evse)."""
    out: Payload = {"name": get_field(obj, "name", str, max_len=50)}
    instance = get_field(obj, "instance", str, required=False, max_len=50)
    if instance is not None:
        out["instance"] = instance
    evse = get_field(obj, "evse", dict, required=False) if with_evse else None
    if evse is not None:
        out["evse"] = {"id": get_field(evse, "id", int)}
        connector_id = get_field(evse, "connectorId", int, required=False)
        if connector_id is not None:
            out["evse"]["connectorId"] = connector_id
    return out


def _lookup(entry: Payload, target: ChargePointTarget) -> tuple[Payload, Setting | None]:
    """A result skeleton (status, component, variable, attributeType) and the setting."""
    component = _named(get_field(entry, "component", dict), with_evse=True)
    variable = _named(get_field(entry, "variable", dict), with_evse=False)
    attribute_type = get_field(
        entry, "attributeType", str, required=False, choices=_ATTRIBUTE_TYPES
    )
    instance = variable.get("instance") or None  # B06.FR.15: "" is no instance
    setting = BY_VARIABLE.get((component["name"], variable["name"], instance))
    if component.get("instance") or not _on_its_tier(component, target):
        # B06.FR.14/15, B05.FR.04: the components here have no instance, and are each
        # on its own tier: any other component by that name is unknown
        status = "UnknownComponent"
    elif setting is not None:
        status = "Accepted" if attribute_type in (None, "Actual") else "NotSupportedAttributeType"
    elif component["name"] in COMPONENTS:
        status = "UnknownVariable"
    else:
        status = "UnknownComponent"
    result = {
        "attributeStatus": status,
        "attributeType": attribute_type or "Actual",  # B06.FR.11, B05.FR.12: none is Actual
        "component": component,
        "variable": variable,
    }
    return result, setting
