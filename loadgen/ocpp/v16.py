"""OCPP 1.6J as a charge point speaks it: requests, answers read, the server's calls answered.

Strings are cut to their schema's maxLength, so every request validates. Transactions
are numbered by the server: MeterValues and StopTransaction queued before the
StartTransaction was answered get their ``transactionId`` in :meth:`V16.bind`.
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
from loadgen.ocpp.fields import SPELLING_16, as_object, get_field, read_boot_reply, read_id_info
from loadgen.ocpp.framing import Call, CallError, CallResult, FrameError
from loadgen.ocpp.settings import BY_KEY16

#: Messages a TriggerMessage may ask for in 1.6.
TRIGGERABLE_16 = frozenset(
    {
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    }
)
_UNLOCK_16 = {"Unlocked": "Unlocked", "UnlockFailed": "UnlockFailed"}
#: What a handler returns: the response payload.
Handler = Callable[["V16", Payload, ChargePointTarget], Payload]
_MEASURAND_UNITS = {"Energy.Active.Import.Register": "Wh", "Power.Active.Import": "W"}


class V16(Dialect):
    """OCPP 1.6J (subprotocol ``ocpp1.6``)."""

    version = "1.6"
    subprotocol = "ocpp1.6"
    transaction_actions = frozenset({"StartTransaction", "MeterValues", "StopTransaction"})
    server_actions = frozenset(
        "CancelReservation ChangeAvailability ChangeConfiguration ClearCache "
        "ClearChargingProfile DataTransfer GetCompositeSchedule GetConfiguration "
        "GetDiagnostics GetLocalListVersion RemoteStartTransaction RemoteStopTransaction "
        "ReserveNow Reset SendLocalList SetChargingProfile TriggerMessage UnlockConnector "
        "UpdateFirmware CertificateSigned DeleteCertificate ExtendedTriggerMessage "
        "GetInstalledCertificateIds GetLog InstallCertificate SignedUpdateFirmware".split()
    )

    # -- requests -----------------------------------------------------------------------

    def boot_notification(self, identity: Identity, reason: BootReason) -> Request:
        """BootNotification (1.6 carries no reason)."""
        return "BootNotification", {
            "chargePointVendor": identity.vendor[:20],
            "chargePointModel": identity.model[:20],
            "chargePointSerialNumber": identity.serial_number[:25],
            "firmwareVersion": identity.firmware_version[:50],
        }

    def parse_boot_reply(self, payload: Payload) -> BootReply:
        try:
            return read_boot_reply(payload)
        except FrameError as exc:
            raise _respelled(exc) from None

    def status_notification(
        self, connector_id: int, status: ConnectorStatus, error_code: str, at: float
    ) -> Request:
        return "StatusNotification", {
            "connectorId": connector_id,
            "errorCode": error_code,
            "status": status,
            "timestamp": iso(at),
        }

    def authorize(self, id_tag: str) -> Request:
        return "Authorize", {"idTag": id_tag[:20]}

    def authorize_status(self, payload: Payload) -> str:
        try:
            return read_id_info(payload, "idTagInfo", required=True) or ""
        except FrameError as exc:
            raise _respelled(exc) from None

    def tx_start(
        self,
        tx: TransactionLike,
        meter_wh: int,
        at: float,
        trigger: StartTrigger,
        seq_no: int,
        offline: bool,
    ) -> Request:
        """StartTransaction (trigger, seqNo and offline have no 1.6 field)."""
        return "StartTransaction", {
            "connectorId": tx.connector_id,
            "idTag": tx.id_tag[:20],
            "meterStart": meter_wh,
            "timestamp": iso(at),
        }

    def start_reply(self, payload: Payload) -> StartReply:
        """The server's transactionId and idTagInfo status (both required in 1.6)."""
        try:
            transaction_id = get_field(payload, "transactionId", int)
            status = read_id_info(payload, "idTagInfo", required=True)
        except FrameError as exc:
            raise _respelled(exc) from None
        return StartReply(transaction_id, status)

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
        """MeterValues of the transaction, context Sample.Periodic."""
        return "MeterValues", {
            "connectorId": tx.connector_id,
            "transactionId": tx.server_id or 0,  # set by bind() when sent, if not yet known
            "meterValue": [_sample(meter_wh, power_w, at, "Sample.Periodic", measurands)],
        }

    def tx_end(
        self,
        tx: TransactionLike,
        meter_wh: int,
        at: float,
        reason: StopReason,
        seq_no: int,
        offline: bool,
    ) -> Request:
        """StopTransaction with ``reason`` (1.6 has ImmediateReset as HardReset)."""
        return (
            "StopTransaction",
            {
                "transactionId": tx.server_id or 0,  # set by bind() when sent, if not yet known
                "idTag": tx.id_tag[:20],
                "meterStop": meter_wh,
                "timestamp": iso(at),
                "reason": "HardReset" if reason == "ImmediateReset" else reason,
            },
        )

    def bind(self, action: str, payload: Payload, tx: TransactionLike | None) -> bool:
        """Fill in the server's transactionId; False while the start is unanswered."""
        if tx is None or action not in ("MeterValues", "StopTransaction"):
            return True
        if tx.server_id is None:
            return False
        payload["transactionId"] = tx.server_id
        return True

    def meter_values(
        self, connector_id: int, meter_wh: int, at: float, tx: TransactionLike | None
    ) -> Request:
        payload: Payload = {
            "connectorId": connector_id,
            "meterValue": [
                _sample(meter_wh, 0.0, at, "Trigger", ("Energy.Active.Import.Register",))
            ],
        }
        if tx is not None and tx.server_id is not None:
            payload["transactionId"] = tx.server_id
        return "MeterValues", payload

    def firmware_status(self, status: str) -> Request:
        return "FirmwareStatusNotification", {"status": status}

    def diagnostics_status(self, status: str) -> Request | None:
        return "DiagnosticsStatusNotification", {"status": status}

    # -- the server's calls --------------------------------------------------------------

    def answer(self, call: Call, target: ChargePointTarget) -> CallResult | CallError:
        handler = self._handlers.get(call.action)
        if handler is None:
            return CallError(call.unique_id, "NotImplemented", f"{call.action[:50]} unknown")
        try:
            return CallResult(call.unique_id, handler(self, call.payload, target))
        except FrameError as exc:
            code = SPELLING_16.get(exc.code, exc.code)
            return CallError(call.unique_id, code, str(exc)[:200])

    def _get_configuration(self, p: Payload, target: ChargePointTarget) -> Payload:
        wanted = get_field(p, "key", list, required=False)
        for key in wanted or ():
            if type(key) is not str:
                raise FrameError("'key' must hold strings", code="TypeConstraintViolation")
            if len(key) > 50:
                raise FrameError("a key is longer than 50", code="PropertyConstraintViolation")
        known: list[Payload] = []
        unknown: list[str] = []
        for key in wanted or BY_KEY16:
            setting = BY_KEY16.get(key)
            value = target.read_setting(setting.name) if setting is not None else None
            if setting is None or value is None:
                unknown.append(key)
            else:
                known.append({"key": key, "readonly": setting.readonly, "value": value[:500]})
        reply: Payload = {"configurationKey": known}
        if unknown:
            reply["unknownKey"] = unknown
        return reply

    def _change_configuration(self, p: Payload, target: ChargePointTarget) -> Payload:
        key = get_field(p, "key", str, max_len=50)
        value = get_field(p, "value", str, max_len=500)
        setting = BY_KEY16.get(key)
        if setting is None or target.read_setting(setting.name) is None:
            return {"status": "NotSupported"}
        if setting.readonly:
            return {"status": "Rejected"}
        normalised = setting.parse(value)
        if normalised is None:
            return {"status": "Rejected"}
        return {"status": target.write_setting(setting.name, normalised)}

    def _remote_start(self, p: Payload, target: ChargePointTarget) -> Payload:
        id_tag = get_field(p, "idTag", str, max_len=20)
        connector_id = get_field(p, "connectorId", int, required=False)
        get_field(p, "chargingProfile", dict, required=False)
        return {"status": target.remote_start(connector_id, id_tag, None)}

    def _remote_stop(self, p: Payload, target: ChargePointTarget) -> Payload:
        transaction_id = get_field(p, "transactionId", int)
        return {"status": target.remote_stop(str(transaction_id))}

    def _reset(self, p: Payload, target: ChargePointTarget) -> Payload:
        kind = get_field(p, "type", str, choices=("Hard", "Soft"))
        status = target.reset(kind, None)
        return {"status": "Accepted" if status == "Scheduled" else status}

    def _change_availability(self, p: Payload, target: ChargePointTarget) -> Payload:
        connector_id = get_field(p, "connectorId", int)
        kind = get_field(p, "type", str, choices=("Inoperative", "Operative"))
        return {"status": target.change_availability(connector_id, kind == "Operative")}

    def _unlock_connector(self, p: Payload, target: ChargePointTarget) -> Payload:
        connector_id = get_field(p, "connectorId", int)
        outcome = target.unlock_connector(connector_id, stop_transaction=True)
        return {"status": _UNLOCK_16.get(outcome, "NotSupported")}

    def _trigger_message(self, p: Payload, target: ChargePointTarget) -> Payload:
        message = get_field(p, "requestedMessage", str)
        connector_id = get_field(p, "connectorId", int, required=False)
        if message not in TRIGGERABLE_16:
            return {"status": "NotImplemented"}
        return {"status": target.trigger_message(message, connector_id)}

    def _clear_cache(self, p: Payload, target: ChargePointTarget) -> Payload:
        as_object(p)
        return {"status": target.clear_cache()}

    def _data_transfer(self, p: Payload, target: ChargePointTarget) -> Payload:
        get_field(p, "vendorId", str, max_len=255)
        get_field(p, "messageId", str, required=False, max_len=50)
        return {"status": "UnknownVendorId"}

    _handlers: ClassVar[dict[str, Handler]] = {
        "GetConfiguration": _get_configuration,
        "ChangeConfiguration": _change_configuration,
        "RemoteStartTransaction": _remote_start,
        "RemoteStopTransaction": _remote_stop,
        "Reset": _reset,
        "ChangeAvailability": _change_availability,
        "UnlockConnector": _unlock_connector,
        "TriggerMessage": _trigger_message,
        "ClearCache": _clear_cache,
        "DataTransfer": _data_transfer,
    }


def _respelled(exc: FrameError) -> FrameError:
    exc.code = SPELLING_16.get(exc.code, exc.code)
    return exc


def _sample(
    meter_wh: int, power_w: float, at: float, context: str, measurands: tuple[str, ...]
) -> Payload:
    """One 1.6 meterValue entry with the chosen measurands (values are strings in 1.6)."""
    values = []
    for measurand in measurands:
        unit = _MEASURAND_UNITS.get(measurand)
        if unit is None:
            continue
        value = meter_wh if unit == "Wh" else round(power_w)
        values.append(
            {"value": str(value), "context": context, "measurand": measurand, "unit": unit}
        )
    if not values:
        values.append(
            {
                "value": str(meter_wh),
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            }
        )
    return {"timestamp": iso(at), "sampledValue": values}
