"""OCPP 2.0.1 as a charging station speaks it: request payloads and answers to server calls.

Each EVSE has one connector: the dialect's ``connector_id`` is the EVSE id, and the
connector id on the wire is always 1. The station assigns transaction ids itself, so
``local_id`` is the transaction id. Device-model variables: ``OCPPCommCtrlr`` /
``HeartbeatInterval`` (backed by ``StationState.heartbeat_interval_s``) and every
``"Component.Variable"`` key of ``StationState.configuration``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from loadgen.ocpp.dialect import (
    Answer,
    BootReply,
    ConnectorStatus,
    Dialect,
    Payload,
    Request,
    StationState,
    iso,
)
from loadgen.ocpp.framing import Call, CallError, CallResult, FrameError
from loadgen.ocpp.v16 import (
    FIRMWARE_VERSION,
    TRIGGERABLE,
    Reply,
    as_object,
    get_field,
    in_range,
    interval_text,
    parse_interval,
    read_boot_reply,
)

_STATUS_201: dict[str, str] = {
    "Available": "Available",
    "Charging": "Occupied",
    "Unavailable": "Unavailable",
}
_ID_TOKEN_TYPES = frozenset(
    "Central eMAID ISO14443 ISO15693 KeyCode Local MacAddress NoAuthorization".split()
)
_ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")
_COMM = ("OCPPCommCtrlr", "HeartbeatInterval")
#: The transaction id's schema maxLength.
MAX_TRANSACTION_ID_LEN = 36


class V201(Dialect):
    """OCPP 2.0.1 (subprotocol ``ocpp2.0.1``).

    Strings are cut to their schema's maxLength, so every request validates. A session's
    TransactionEvent Started carries seqNo 0; later events use the ``seq_no`` passed in.
    """

    version = "2.0.1"
    subprotocol = "ocpp2.0.1"

    # -- requests ---------------------------------------------------------------------

    def boot_notification(self, charge_point_id: str, vendor: str, model: str) -> Request:
        """BootNotification, reason PowerUp; the serial number is the id cut to 25 chars."""
        return "BootNotification", {
            "chargingStation": {
                "model": model[:20],
                "vendorName": vendor[:50],
                "serialNumber": charge_point_id[:25],
                "firmwareVersion": FIRMWARE_VERSION,
            },
            "reason": "PowerUp",
        }

    def parse_boot_reply(self, payload: Payload) -> BootReply:
        """Status and interval; :class:`FrameError` when malformed."""
        return read_boot_reply(payload)

    def heartbeat(self) -> Request:
        """Heartbeat (empty payload)."""
        return "Heartbeat", {}

    def status_notification(
        self, connector_id: int, status: ConnectorStatus, now: datetime
    ) -> Request:
        """StatusNotification for EVSE ``connector_id``, connector 1 (Charging -> Occupied)."""
        return "StatusNotification", {
            "timestamp": iso(now),
            "connectorStatus": _STATUS_201[status],
            "evseId": connector_id,
            "connectorId": 1,
        }

    def authorize(self, id_tag: str) -> Request:
        """Authorize for an ISO14443 (RFID) token."""
        return "Authorize", {"idToken": _id_token(id_tag)}

    def start_transaction(
        self, connector_id: int, id_tag: str, meter_wh: int, now: datetime, local_id: str
    ) -> Request:
        """TransactionEvent Started (seqNo 0, triggerReason Authorized)."""
        return "TransactionEvent", {
            **_event("Started", "Authorized", 0, local_id, now),
            "evse": {"id": connector_id, "connectorId": 1},
            "idToken": _id_token(id_tag),
            "meterValue": [_meter_value(meter_wh, now, "Transaction.Begin")],
        }

    def transaction_id(self, start_reply: Payload, local_id: str) -> str:
        """``local_id`` (cut to 36 chars, as sent): the station assigns the id."""
        return local_id[:MAX_TRANSACTION_ID_LEN]

    def meter_values(
        self, connector_id: int, transaction_id: str, meter_wh: int, now: datetime, seq_no: int
    ) -> Request:
        """TransactionEvent Updated (triggerReason MeterValuePeriodic)."""
        return "TransactionEvent", {
            **_event("Updated", "MeterValuePeriodic", seq_no, transaction_id, now),
            "evse": {"id": connector_id, "connectorId": 1},
            "meterValue": [_meter_value(meter_wh, now, "Sample.Periodic")],
        }

    def stop_transaction(
        self,
        connector_id: int,
        transaction_id: str,
        id_tag: str,
        meter_wh: int,
        now: datetime,
        seq_no: int,
    ) -> Request:
        """TransactionEvent Ended (triggerReason StopAuthorized, stoppedReason Local)."""
        event = _event("Ended", "StopAuthorized", seq_no, transaction_id, now)
        event["transactionInfo"]["stoppedReason"] = "Local"
        return "TransactionEvent", {
            **event,
            "evse": {"id": connector_id, "connectorId": 1},
            "idToken": _id_token(id_tag),
            "meterValue": [_meter_value(meter_wh, now, "Transaction.End")],
        }

    def meter_values_standalone(self, evse_id: int, meter_wh: int, now: datetime) -> Request:
        """MeterValues outside a transaction, e.g. after TriggerMessage (an extra)."""
        return "MeterValues", {
            "evseId": evse_id,
            "meterValue": [_meter_value(meter_wh, now, "Trigger")],
        }

    def notify_report(
        self, request_id: int, seq_no: int, now: datetime, state: StationState | None = None
    ) -> Request:
        """NotifyReport answering GetBaseReport ``request_id`` (an extra).

        One report (``tbc`` false) listing HeartbeatInterval, with its value when
        ``state`` is given.
        """
        attribute: Payload = {"type": "Actual", "mutability": "ReadWrite"}
        if state is not None:
            attribute["value"] = interval_text(state.heartbeat_interval_s)
        return "NotifyReport", {
            "requestId": request_id,
            "generatedAt": iso(now),
            "seqNo": seq_no,
            "tbc": False,
            "reportData": [
                {
                    "component": {"name": _COMM[0]},
                    "variable": {"name": _COMM[1]},
                    "variableAttribute": [attribute],
                    "variableCharacteristics": {
                        "unit": "s",
                        "dataType": "integer",
                        "supportsMonitoring": False,
                    },
                }
            ],
        }

    # -- answers ----------------------------------------------------------------------

    def answer(self, call: Call, state: StationState) -> Answer:
        """Answer a server call; unreadable payloads get a CALLERROR, never an exception."""
        handler = self._handlers.get(call.action)
        if handler is None:
            return Answer(CallError(call.unique_id, "NotImplemented", f"{call.action} unknown"))
        try:
            payload, then = handler(self, call.payload, state)
        except FrameError as exc:
            return Answer(CallError(call.unique_id, exc.code, str(exc)))
        return Answer(CallResult(call.unique_id, payload), then)

    def _get_variables(self, p: Payload, state: StationState) -> Reply:
        results = []
        for entry in _entries(p, "getVariableData"):
            result, key, attribute_type = _lookup(entry, state)
            if result["attributeStatus"] == "Accepted":
                result["attributeValue"] = _read(key, state)[:2500]
            if attribute_type is not None:
                result["attributeType"] = attribute_type
            results.append(result)
        return {"getVariableResult": results}, ()

    def _set_variables(self, p: Payload, state: StationState) -> Reply:
        results = []
        for entry in _entries(p, "setVariableData"):
            value = get_field(entry, "attributeValue", str, max_len=1000)
            result, key, attribute_type = _lookup(entry, state)
            if result["attributeStatus"] == "Accepted" and not _write(key, value, state):
                result["attributeStatus"] = "Rejected"
            if attribute_type is not None:
                result["attributeType"] = attribute_type
            results.append(result)
        return {"setVariableResult": results}, ()

    def _trigger_message(self, p: Payload, state: StationState) -> Reply:
        message = get_field(p, "requestedMessage", str)
        evse = get_field(p, "evse", dict, required=False)
        evse_id = None if evse is None else get_field(evse, "id", int)
        if message not in TRIGGERABLE:
            return {"status": "NotImplemented"}, ()
        if evse_id is not None and not in_range(evse_id, state):
            return {"status": "Rejected"}, ()
        return {"status": "Accepted"}, (message,)

    def _reset(self, p: Payload, state: StationState) -> Reply:
        get_field(p, "type", str, choices=("Immediate", "OnIdle"))
        get_field(p, "evseId", int, required=False)
        return {"status": "Accepted"}, ()

    def _request_start(self, p: Payload, state: StationState) -> Reply:
        _read_id_token(get_field(p, "idToken", dict))
        get_field(p, "remoteStartId", int)
        evse_id = get_field(p, "evseId", int, required=False)
        evse_id = 1 if evse_id is None else evse_id
        if not in_range(evse_id, state) or evse_id in state.transactions:
            return {"status": "Rejected"}, ()
        state.start_requests.append(evse_id)
        return {"status": "Accepted"}, ()

    def _request_stop(self, p: Payload, state: StationState) -> Reply:
        transaction_id = get_field(p, "transactionId", str, max_len=MAX_TRANSACTION_ID_LEN)
        if transaction_id not in state.transactions.values():
            return {"status": "Rejected"}, ()
        state.stop_requests.append(transaction_id)
        return {"status": "Accepted"}, ()

    def _change_availability(self, p: Payload, state: StationState) -> Reply:
        get_field(p, "operationalStatus", str, choices=("Inoperative", "Operative"))
        evse = get_field(p, "evse", dict, required=False)
        ok = evse is None or in_range(get_field(evse, "id", int), state)
        return {"status": "Accepted" if ok else "Rejected"}, ()

    def _unlock_connector(self, p: Payload, state: StationState) -> Reply:
        evse_id = get_field(p, "evseId", int)
        connector_id = get_field(p, "connectorId", int)
        if not in_range(evse_id, state) or connector_id != 1:
            status = "UnknownConnector"
        elif evse_id in state.transactions:
            status = "OngoingAuthorizedTransaction"
        else:
            status = "Unlocked"
        return {"status": status}, ()

    def _clear_cache(self, p: Payload, state: StationState) -> Reply:
        as_object(p)
        return {"status": "Accepted"}, ()

    def _get_base_report(self, p: Payload, state: StationState) -> Reply:
        request_id = get_field(p, "requestId", int)
        choices = ("ConfigurationInventory", "FullInventory", "SummaryInventory")
        get_field(p, "reportBase", str, choices=choices)
        state.report_requests.append(request_id)
        return {"status": "Accepted"}, ("NotifyReport",)

    _handlers: ClassVar[dict[str, Callable[[V201, Payload, StationState], Reply]]] = {
        "GetVariables": _get_variables,
        "SetVariables": _set_variables,
        "TriggerMessage": _trigger_message,
        "Reset": _reset,
        "RequestStartTransaction": _request_start,
        "RequestStopTransaction": _request_stop,
        "ChangeAvailability": _change_availability,
        "UnlockConnector": _unlock_connector,
        "ClearCache": _clear_cache,
        "GetBaseReport": _get_base_report,
    }


def _id_token(id_tag: str) -> Payload:
    return {"idToken": id_tag[:36], "type": "ISO14443"}


def _event(
    event_type: str, trigger: str, seq_no: int, transaction_id: str, now: datetime
) -> Payload:
    """The fields every TransactionEvent carries."""
    return {
        "eventType": event_type,
        "timestamp": iso(now),
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": {
            "transactionId": transaction_id[:MAX_TRANSACTION_ID_LEN],
            "chargingState": "Charging" if event_type != "Ended" else "EVConnected",
        },
    }


def _meter_value(meter_wh: int, now: datetime, context: str) -> Payload:
    """One 2.0.1 meterValue entry: the active import energy register in Wh."""
    return {
        "timestamp": iso(now),
        "sampledValue": [
            {
                "value": meter_wh,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh"},
            }
        ],
    }


def _read_id_token(token: Payload) -> str:
    get_field(token, "type", str, choices=_ID_TOKEN_TYPES)
    return get_field(token, "idToken", str, max_len=36)


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


def _lookup(entry: Payload, state: StationState) -> tuple[Payload, tuple[str, str], str | None]:
    """A result skeleton (status, component, variable), the variable's key, attributeType."""
    component = _named(get_field(entry, "component", dict), with_evse=True)
    variable = _named(get_field(entry, "variable", dict), with_evse=False)
    attribute_type = get_field(
        entry, "attributeType", str, required=False, choices=_ATTRIBUTE_TYPES
    )
    key = (component["name"], variable["name"])
    known = {_COMM, *(tuple(k.split(".", 1)) for k in state.configuration if "." in k)}
    if key in known:
        status = "Accepted" if attribute_type in (None, "Actual") else "NotSupportedAttributeType"
    elif key[0] in {name for name, _ in known}:
        status = "UnknownVariable"
    else:
        status = "UnknownComponent"
    result = {"attributeStatus": status, "component": component, "variable": variable}
    return result, key, attribute_type


def _read(key: tuple[str, str], state: StationState) -> str:
    if key == _COMM:
        return interval_text(state.heartbeat_interval_s)
    return state.configuration[".".join(key)]


def _write(key: tuple[str, str], value: str, state: StationState) -> bool:
    """Store ``value``; False when it is not acceptable (a bad heartbeat interval)."""
    if key == _COMM:
        seconds = parse_interval(value)
        if seconds is None:
            return False
        state.heartbeat_interval_s = float(seconds)
    else:
        state.configuration[".".join(key)] = value
    return True
