"""OCPP 1.6J as a charge point speaks it: request payloads and answers to server calls.

Also home of the small payload readers both dialects share (:func:`get_field`,
:func:`read_boot_reply`): they raise :class:`~loadgen.ocpp.framing.FrameError` with a
2.0.1-spelled code, and :meth:`V16.answer` respells it for 1.6 (``FormationViolation``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, ClassVar

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

#: Reported as firmwareVersion in BootNotification (both versions).
FIRMWARE_VERSION = "loadgen-0.1.0"
#: Messages a TriggerMessage may ask for (then sent next); others get NotImplemented.
TRIGGERABLE = frozenset({"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"})
BOOT_STATUSES = ("Accepted", "Pending", "Rejected")

_TYPE_NAMES = {int: "an integer", str: "a string", dict: "an object", list: "an array"}
#: 2.0.1 spellings (used by the readers) -> 1.6 spellings.
_SPELLING_16 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}
_STATUS_16: dict[str, str] = {
    "Available": "Available",
    "Charging": "Charging",
    "Unavailable": "Unavailable",
}
_READ_ONLY_KEYS = frozenset({"NumberOfConnectors"})

#: What a handler returns: the response payload and the actions to send afterwards.
Reply = tuple[Payload, tuple[str, ...]]


def get_field(
    payload: object,
    key: str,
    kind: type,
    *,
    required: bool = True,
    choices: Collection[str] | None = None,
    max_len: int | None = None,
) -> Any:
    """``payload[key]`` checked to be exactly of type ``kind`` (so ``True`` is no int).

    Returns ``None`` for an absent optional field. Raises :class:`FrameError` with code
    ``FormatViolation`` (not an object, or a required field missing),
    ``TypeConstraintViolation`` (wrong JSON type) or ``PropertyConstraintViolation``
    (not one of ``choices``, longer than ``max_len``).
    """
    payload = as_object(payload)
    if key not in payload:
        if required:
            raise FrameError(f"required field {key!r} is missing")
        return None
    value = payload[key]
    if type(value) is not kind:
        raise FrameError(
            f"{key!r} must be {_TYPE_NAMES.get(kind, kind.__name__)}",
            code="TypeConstraintViolation",
        )
    if choices is not None and value not in choices:
        raise FrameError(
            f"{key!r} is not one of {sorted(choices)}", code="PropertyConstraintViolation"
        )
    if max_len is not None and len(value) > max_len:
        raise FrameError(f"{key!r} is longer than {max_len}", code="PropertyConstraintViolation")
    return value


def as_object(payload: object) -> Payload:
    """``payload`` itself if it is a JSON object, else :class:`FrameError` FormatViolation."""
    if not isinstance(payload, dict):
        raise FrameError("payload must be a JSON object")
    return payload


def read_boot_reply(payload: Payload) -> BootReply:
    """Status and interval of a BootNotification response (same shape in 1.6 and 2.0.1).

    Raises :class:`FrameError` (2.0.1 spellings) when either is missing, of the wrong
    type, not a known status or a negative interval.
    """
    status = get_field(payload, "status", str, choices=BOOT_STATUSES)
    interval = get_field(payload, "interval", int)
    if interval < 0:
        raise FrameError("'interval' must not be negative", code="PropertyConstraintViolation")
    return BootReply(status=status, interval_s=interval)


def interval_text(seconds: float) -> str:
    """A heartbeat interval as a configuration value: whole seconds."""
    return str(int(seconds))


def parse_interval(text: str) -> int | None:
    """A positive whole number of seconds from a configuration value, else ``None``."""
    stripped = text.strip()
    if not stripped.isascii() or not stripped.isdigit() or len(stripped) > 9:
        return None
    value = int(stripped)
    return value if value > 0 else None


def in_range(connector_id: int, state: StationState, *, zero: bool = False) -> bool:
    """Whether ``connector_id`` names a connector (or, with ``zero``, the whole station)."""
    return (0 if zero else 1) <= connector_id <= state.connectors


class V16(Dialect):
    """OCPP 1.6J (subprotocol ``ocpp1.6``).

    Strings are cut to their schema's maxLength, so every request validates.
    Transaction ids are the server's integers, carried around as strings (a
    ``transaction_id`` that is not a decimal integer raises ``ValueError``).
    """

    version = "1.6"
    subprotocol = "ocpp1.6"

    # -- requests ---------------------------------------------------------------------

    def boot_notification(self, charge_point_id: str, vendor: str, model: str) -> Request:
        """BootNotification; the serial number is the charge point id cut to 25 chars."""
        return "BootNotification", {
            "chargePointVendor": vendor[:20],
            "chargePointModel": model[:20],
            "chargePointSerialNumber": charge_point_id[:25],
            "firmwareVersion": FIRMWARE_VERSION,
        }

    def parse_boot_reply(self, payload: Payload) -> BootReply:
        """Status and interval; :class:`FrameError` (1.6 spellings) when malformed."""
        try:
            return read_boot_reply(payload)
        except FrameError as exc:
            exc.code = _SPELLING_16.get(exc.code, exc.code)
            raise

    def heartbeat(self) -> Request:
        """Heartbeat (empty payload)."""
        return "Heartbeat", {}

    def status_notification(
        self, connector_id: int, status: ConnectorStatus, now: datetime
    ) -> Request:
        """StatusNotification with errorCode NoError."""
        return "StatusNotification", {
            "connectorId": connector_id,
            "errorCode": "NoError",
            "status": _STATUS_16[status],
            "timestamp": iso(now),
        }

    def authorize(self, id_tag: str) -> Request:
        """Authorize for ``id_tag`` (cut to 20 chars)."""
        return "Authorize", {"idTag": id_tag[:20]}

    def start_transaction(
        self, connector_id: int, id_tag: str, meter_wh: int, now: datetime, local_id: str
    ) -> Request:
        """StartTransaction; ``local_id`` is unused (the server assigns the id)."""
        return "StartTransaction", {
            "connectorId": connector_id,
            "idTag": id_tag[:20],
            "meterStart": meter_wh,
            "timestamp": iso(now),
        }

    def transaction_id(self, start_reply: Payload, local_id: str) -> str:
        """The server's ``transactionId`` as a string; :class:`FrameError` if absent."""
        try:
            return str(get_field(start_reply, "transactionId", int))
        except FrameError as exc:
            exc.code = _SPELLING_16.get(exc.code, exc.code)
            raise

    def meter_values(
        self, connector_id: int, transaction_id: str, meter_wh: int, now: datetime, seq_no: int
    ) -> Request:
        """MeterValues with the energy register in Wh; ``seq_no`` is unused in 1.6."""
        return "MeterValues", {
            "connectorId": connector_id,
            "transactionId": int(transaction_id),
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
        """StopTransaction with reason Local."""
        return "StopTransaction", {
            "transactionId": int(transaction_id),
            "idTag": id_tag[:20],
            "meterStop": meter_wh,
            "timestamp": iso(now),
            "reason": "Local",
        }

    def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> Request:
        """DataTransfer (an extra, not in :class:`Dialect`)."""
        payload: Payload = {"vendorId": vendor_id[:255]}
        if message_id is not None:
            payload["messageId"] = message_id[:50]
        if data is not None:
            payload["data"] = data
        return "DataTransfer", payload

    # -- answers ----------------------------------------------------------------------

    def answer(self, call: Call, state: StationState) -> Answer:
        """Answer a server call; unreadable payloads get a CALLERROR, never an exception."""
        handler = self._handlers.get(call.action)
        if handler is None:
            return Answer(CallError(call.unique_id, "NotImplemented", f"{call.action} unknown"))
        try:
            payload, then = handler(self, call.payload, state)
        except FrameError as exc:
            code = _SPELLING_16.get(exc.code, exc.code)
            return Answer(CallError(call.unique_id, code, str(exc)))
        return Answer(CallResult(call.unique_id, payload), then)

    def _get_configuration(self, p: Payload, state: StationState) -> Reply:
        wanted = get_field(p, "key", list, required=False)
        known = {
            **state.configuration,
            "HeartbeatInterval": interval_text(state.heartbeat_interval_s),
            "NumberOfConnectors": str(state.connectors),
        }
        if wanted:
            for key in wanted:
                if type(key) is not str:
                    raise FrameError("'key' must hold strings", code="TypeConstraintViolation")
                if len(key) > 50:
                    raise FrameError("a key is longer than 50", code="PropertyConstraintViolation")
        keys = [k for k in (wanted or known) if k in known and len(k) <= 50]
        reply: Payload = {
            "configurationKey": [
                {"key": k, "readonly": k in _READ_ONLY_KEYS, "value": known[k][:500]} for k in keys
            ]
        }
        unknown = [k for k in wanted or () if k not in known]
        if unknown:
            reply["unknownKey"] = unknown
        return reply, ()

    def _change_configuration(self, p: Payload, state: StationState) -> Reply:
        key = get_field(p, "key", str, max_len=50)
        value = get_field(p, "value", str, max_len=500)
        if key == "HeartbeatInterval":
            seconds = parse_interval(value)
            if seconds is None:
                return {"status": "Rejected"}, ()
            state.heartbeat_interval_s = float(seconds)
            status = "Accepted"
        elif key in _READ_ONLY_KEYS:
            status = "Rejected"
        elif key in state.configuration:
            state.configuration[key] = value
            status = "Accepted"
        else:
            status = "NotSupported"
        return {"status": status}, ()

    def _trigger_message(self, p: Payload, state: StationState) -> Reply:
        message = get_field(p, "requestedMessage", str)
        connector_id = get_field(p, "connectorId", int, required=False)
        if message not in TRIGGERABLE:
            return {"status": "NotImplemented"}, ()
        if connector_id is not None and not in_range(connector_id, state, zero=True):
            return {"status": "Rejected"}, ()
        return {"status": "Accepted"}, (message,)

    def _reset(self, p: Payload, state: StationState) -> Reply:
        get_field(p, "type", str, choices=("Hard", "Soft"))
        return {"status": "Accepted"}, ()

    def _remote_start(self, p: Payload, state: StationState) -> Reply:
        get_field(p, "idTag", str, max_len=20)
        connector_id = get_field(p, "connectorId", int, required=False)
        connector_id = 1 if connector_id is None else connector_id
        if not in_range(connector_id, state) or connector_id in state.transactions:
            return {"status": "Rejected"}, ()
        state.start_requests.append(connector_id)
        return {"status": "Accepted"}, ()

    def _remote_stop(self, p: Payload, state: StationState) -> Reply:
        transaction_id = str(get_field(p, "transactionId", int))
        if transaction_id not in state.transactions.values():
            return {"status": "Rejected"}, ()
        state.stop_requests.append(transaction_id)
        return {"status": "Accepted"}, ()

    def _change_availability(self, p: Payload, state: StationState) -> Reply:
        connector_id = get_field(p, "connectorId", int)
        get_field(p, "type", str, choices=("Inoperative", "Operative"))
        ok = in_range(connector_id, state, zero=True)
        return {"status": "Accepted" if ok else "Rejected"}, ()

    def _unlock_connector(self, p: Payload, state: StationState) -> Reply:
        connector_id = get_field(p, "connectorId", int)
        return {"status": "Unlocked" if in_range(connector_id, state) else "NotSupported"}, ()

    def _clear_cache(self, p: Payload, state: StationState) -> Reply:
        as_object(p)
        return {"status": "Accepted"}, ()

    def _data_transfer(self, p: Payload, state: StationState) -> Reply:
        get_field(p, "vendorId", str, max_len=255)
        return {"status": "UnknownVendorId"}, ()

    _handlers: ClassVar[dict[str, Callable[[V16, Payload, StationState], Reply]]] = {
        "GetConfiguration": _get_configuration,
        "ChangeConfiguration": _change_configuration,
        "TriggerMessage": _trigger_message,
        "Reset": _reset,
        "RemoteStartTransaction": _remote_start,
        "RemoteStopTransaction": _remote_stop,
        "ChangeAvailability": _change_availability,
        "UnlockConnector": _unlock_connector,
        "ClearCache": _clear_cache,
        "DataTransfer": _data_transfer,
    }


def _meter_value(meter_wh: int, now: datetime, context: str) -> Payload:
    """One 1.6 meterValue entry: the active import energy register in Wh."""
    return {
        "timestamp": iso(now),
        "sampledValue": [
            {
                "value": str(meter_wh),
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            }
        ],
    }
