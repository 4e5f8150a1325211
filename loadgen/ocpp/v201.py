"""OCPP 2.0.1 as a charging station speaks it: requests, answers read, server calls answered.

Each EVSE has one connector: a transaction's ``connector_id`` is the EVSE id and the
connector id on the wire is always 1. The station numbers its transactions itself
(``local_id``) and each TransactionEvent carries the transaction's own ``seqNo``.
Device-model variables are the 2.0.1 side of :mod:`loadgen.ocpp.settings`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from loadgen.ocpp.dialect import (
    BootReason,
    BootReply,
    ChargePointTarget,
    ConnectorStatus,
    Dialect,
    Identity,
    Payload,
    Request,
    StartReply,
    StartTrigger,
    StopReason,
    TransactionLike,
    iso,
)
from loadgen.ocpp.fields import as_object, get_field, read_boot_reply, read_id_info
from loadgen.ocpp.framing import Call, CallError, CallResult, FrameError
from loadgen.ocpp.settings import BY_VARIABLE, COMPONENTS, SETTINGS, Setting

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
_DATA_TYPES = {"int": "integer", "bool": "boolean", "csv": "MemberList", "str": "string"}
_MEASURAND_UNITS = {"Energy.Active.Import.Register": "Wh", "Power.Active.Import": "W"}
#: The transaction id's schema maxLength.
MAX_TRANSACTION_ID_LEN = 36
Handler = Callable[["V201", Payload, ChargePointTarget], Payload]


class V201(Dialect):
    """OCPP 2.0.1 (subprotocol ``ocpp2.0.1``)."""

    version = "2.0.1"
    subprotocol = "ocpp2.0.1"
    transaction_actions = frozenset({"TransactionEvent"})
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
            "connectorId": 1,
        }

    def authorize(self, id_tag: str) -> Request:
        return "Authorize", {"idToken": _id_token(id_tag)}

    def authorize_status(self, payload: Payload) -> str:
        return read_id_info(payload, "idTokenInfo", required=True) or ""

    def tx_start(
        self,
        tx: TransactionLike,
        meter_wh: int,
        at: float,
        trigger: StartTrigger,
        seq_no: int,
        offline: bool,
    ) -> Request:
        """TransactionEvent Started; a remote start carries its remoteStartId."""
        event = _event("Started", trigger, seq_no, tx.local_id, at, "Charging", offline)
        if trigger == "RemoteStart" and tx.remote_start_id is not None:
            event["transactionInfo"]["remoteStartId"] = tx.remote_start_id
        event["evse"] = {"id": tx.connector_id, "connectorId": 1}
        event["idToken"] = _id_token(tx.id_tag)
        event["meterValue"] = [_sample(meter_wh, 0.0, at, "Transaction.Begin", _ENERGY)]
        return "TransactionEvent", event

    def start_reply(self, payload: Payload) -> StartReply:
        """idTokenInfo's status when the answer has one (optional in 2.0.1)."""
        return StartReply(None, read_id_info(payload, "idTokenInfo", required=False))

    def tx_meter(
        self,
        tx: TransactionLike,
        meter_wh: int,
        power_w: float,
        at: float,
        seq_no: int,
        offline: bool,
        measurands: tuple[str, ...],
    ) -> Request:
        """TransactionEvent Updated, triggerReason MeterValuePeriodic."""
        event = _event(
            "Updated", "MeterValuePeriodic", seq_no, tx.local_id, at, "Charging", offline
        )
        event["meterValue"] = [_sample(meter_wh, power_w, at, "Sample.Periodic", measurands)]
        return "TransactionEvent", event

    def tx_end(
        self,
        tx: TransactionLike,
        meter_wh: int,
        at: float,
        reason: StopReason,
        seq_no: int,
        offline: bool,
    ) -> Request:
        """TransactionEvent Ended with the trigger and stoppedReason that fit ``reason``."""
        trigger, stopped = _ENDED[reason]
        event = _event("Ended", trigger, seq_no, tx.local_id, at, "EVConnected", offline)
        event["transactionInfo"]["stoppedReason"] = stopped
        event["meterValue"] = [_sample(meter_wh, 0.0, at, "Transaction.End", _ENERGY)]
        return "TransactionEvent", event

    def tx_triggered(self, tx: TransactionLike, meter_wh: int, at: float, seq_no: int) -> Request:
        event = _event("Updated", "Trigger", seq_no, tx.local_id, at, "Charging", False)
        event["evse"] = {"id": tx.connector_id, "connectorId": 1}
        event["meterValue"] = [_sample(meter_wh, 0.0, at, "Trigger", _ENERGY)]
        return "TransactionEvent", event

    def meter_values(
        self, connector_id: int, meter_wh: int, at: float, tx: TransactionLike | None
    ) -> Request:
        return "MeterValues", {
            "evseId": connector_id,
            "meterValue": [_sample(meter_wh, 0.0, at, "Trigger", _ENERGY)],
        }

    def firmware_status(self, status: str) -> Request:
        return "FirmwareStatusNotification", {"status": status}

    def diagnostics_status(self, status: str) -> Request | None:
        return "LogStatusNotification", {"status": status}

    def notify_report(self, request_id: int, at: float, target: ChargePointTarget) -> Request:
        """One NotifyReport (``tbc`` false) with every variable the station has."""
        data = []
        for setting in SETTINGS:
            if setting.component is None or setting.variable is None:
                continue
            value = target.read_setting(setting.name)
            if value is None:
                continue
            attribute: Payload = {
                "type": "Actual",
                "value": value[:2500],
                "mutability": "ReadOnly" if setting.readonly else "ReadWrite",
            }
            characteristics: Payload = {
                "dataType": _DATA_TYPES[setting.kind],
                "supportsMonitoring": False,
            }
            if setting.unit:
                characteristics["unit"] = setting.unit
            data.append(
                {
                    "component": {"name": setting.component},
                    "variable": _variable(setting),
                    "variableAttribute": [attribute],
                    "variableCharacteristics": characteristics,
                }
            )
        return "NotifyReport", {
            "requestId": request_id,
            "generatedAt": iso(at),
            "seqNo": 0,
            "tbc": False,
            "reportData": data,
        }

    # -- the server's calls --------------------------------------------------------------

    def answer(self, call: Call, target: ChargePointTarget) -> CallResult | CallError:
        handler = self._handlers.get(call.action)
        if handler is None:
            return CallError(call.unique_id, "NotImplemented", f"{call.action[:50]} unknown")
        try:
            return CallResult(call.unique_id, handler(self, call.payload, target))
        except FrameError as exc:
            return CallError(call.unique_id, exc.code, str(exc)[:200])

    def _get_variables(self, p: Payload, target: ChargePointTarget) -> Payload:
        results = []
        for entry in _entries(p, "getVariableData"):
            result, setting, attribute_type = _lookup(entry)
            if setting is not None and result["attributeStatus"] == "Accepted":
                value = target.read_setting(setting.name)
                if value is None:
                    result["attributeStatus"] = "UnknownVariable"
                else:
                    result["attributeValue"] = value[:2500]
            if attribute_type is not None:
                result["attributeType"] = attribute_type
            results.append(result)
        return {"getVariableResult": results}

    def _set_variables(self, p: Payload, target: ChargePointTarget) -> Payload:
        results = []
        for entry in _entries(p, "setVariableData"):
            value = get_field(entry, "attributeValue", str, max_len=1000)
            result, setting, attribute_type = _lookup(entry)
            if setting is not None and result["attributeStatus"] == "Accepted":
                normalised = setting.parse(value)
                if setting.readonly or normalised is None:
                    result["attributeStatus"] = "Rejected"
                else:
                    result["attributeStatus"] = target.write_setting(setting.name, normalised)
            if attribute_type is not None:
                result["attributeType"] = attribute_type
            results.append(result)
        return {"setVariableResult": results}

    def _request_start(self, p: Payload, target: ChargePointTarget) -> Payload:
        id_tag = _read_id_token(get_field(p, "idToken", dict))
        remote_start_id = get_field(p, "remoteStartId", int)
        evse_id = get_field(p, "evseId", int, required=False)
        get_field(p, "chargingProfile", dict, required=False)
        return {"status": target.remote_start(evse_id, id_tag, remote_start_id)}

    def _request_stop(self, p: Payload, target: ChargePointTarget) -> Payload:
        transaction_id = get_field(p, "transactionId", str, max_len=MAX_TRANSACTION_ID_LEN)
        return {"status": target.remote_stop(transaction_id)}

    def _reset(self, p: Payload, target: ChargePointTarget) -> Payload:
        kind = get_field(p, "type", str, choices=("Immediate", "OnIdle"))
        evse_id = get_field(p, "evseId", int, required=False)
        return {"status": target.reset(kind, evse_id)}

    def _change_availability(self, p: Payload, target: ChargePointTarget) -> Payload:
        status = get_field(p, "operationalStatus", str, choices=("Inoperative", "Operative"))
        evse = get_field(p, "evse", dict, required=False)
        evse_id = 0 if evse is None else get_field(evse, "id", int)
        if evse is not None:
            get_field(evse, "connectorId", int, required=False)
        return {"status": target.change_availability(evse_id, status == "Operative")}

    def _unlock_connector(self, p: Payload, target: ChargePointTarget) -> Payload:
        evse_id = get_field(p, "evseId", int)
        connector_id = get_field(p, "connectorId", int)
        if connector_id != 1:
            return {"status": "UnknownConnector"}
        outcome = target.unlock_connector(evse_id, stop_transaction=False)
        return {"status": _UNLOCK_201[outcome]}

    def _trigger_message(self, p: Payload, target: ChargePointTarget) -> Payload:
        message = get_field(p, "requestedMessage", str)
        evse = get_field(p, "evse", dict, required=False)
        evse_id = None if evse is None else get_field(evse, "id", int)
        if message not in TRIGGERABLE_201:
            return {"status": "NotImplemented"}
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
        get_field(p, "vendorId", str, max_len=255)
        get_field(p, "messageId", str, required=False, max_len=50)
        return {"status": "UnknownVendorId"}

    _handlers: ClassVar[dict[str, Handler]] = {
        "GetVariables": _get_variables,
        "SetVariables": _set_variables,
        "RequestStartTransaction": _request_start,
        "RequestStopTransaction": _request_stop,
        "Reset": _reset,
        "ChangeAvailability": _change_availability,
        "UnlockConnector": _unlock_connector,
        "TriggerMessage": _trigger_message,
        "ClearCache": _clear_cache,
        "GetBaseReport": _get_base_report,
        "DataTransfer": _data_transfer,
    }


_ENERGY = ("Energy.Active.Import.Register",)


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


def _sample(
    meter_wh: int, power_w: float, at: float, context: str, measurands: tuple[str, ...]
) -> Payload:
    """One 2.0.1 meterValue entry with the chosen measurands (values are numbers)."""
    values = []
    for measurand in measurands:
        unit = _MEASURAND_UNITS.get(measurand)
        if unit is None:
            continue
        value: float = meter_wh if unit == "Wh" else round(power_w)
        values.append(
            {
                "value": value,
                "context": context,
                "measurand": measurand,
                "unitOfMeasure": {"unit": unit},
            }
        )
    if not values:
        values.append(
            {
                "value": meter_wh,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh"},
            }
        )
    return {"timestamp": iso(at), "sampledValue": values}


def _read_id_token(token: Payload) -> str:
    """The tag for an IdTokenType from the CSMS; a type other than ISO14443 travels with it."""
    kind = get_field(token, "type", str, choices=_ID_TOKEN_TYPES)
    value = str(get_field(token, "idToken", str, max_len=36))
    return value if kind == "ISO14443" else f"{kind}{_TYPE_MARK}{value}"


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


def _lookup(entry: Payload) -> tuple[Payload, Setting | None, str | None]:
    """A result skeleton (status, component, variable), the setting, the attributeType."""
    component = _named(get_field(entry, "component", dict), with_evse=True)
    variable = _named(get_field(entry, "variable", dict), with_evse=False)
    attribute_type = get_field(
        entry, "attributeType", str, required=False, choices=_ATTRIBUTE_TYPES
    )
    setting = BY_VARIABLE.get((component["name"], variable["name"], variable.get("instance")))
    if setting is not None:
        status = "Accepted" if attribute_type in (None, "Actual") else "NotSupportedAttributeType"
    elif component["name"] in COMPONENTS:
        status = "UnknownVariable"
    else:
        status = "UnknownComponent"
    result = {"attributeStatus": status, "component": component, "variable": variable}
    return result, setting, attribute_type
