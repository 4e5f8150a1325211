"""OCPP 1.6J as a charge point speaks it: requests, answers read, the server's calls answered.

Strings are cut to their schema's maxLength, so every request validates. Transactions
are numbered by the server: MeterValues and StopTransaction queued before the
StartTransaction was answered get their ``transactionId`` in :meth:`V16.bind`, -1 when
the start never got an answer (errata 3.18).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from typing import ClassVar

from loadgen.ocpp import profiles
from loadgen.ocpp.dialect import (
    BootReason,
    BootReply,
    ChargePointTarget,
    ConnectorStatus,
    Dialect,
    Identity,
    IdInfo,
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
    SPELLING_16,
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
from loadgen.ocpp.settings import BY_KEY16, BY_KEY16_FOLDED

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
#: ExtendedTriggerMessage (security extension) -> what the station is asked for.
_EXTENDED_16 = {
    "BootNotification": "BootNotification",
    "Heartbeat": "Heartbeat",
    "MeterValues": "MeterValues",
    "StatusNotification": "StatusNotification",
    "LogStatusNotification": "LogStatusNotification",
    "FirmwareStatusNotification": "SignedFirmwareStatusNotification",
}
_UNLOCK_16 = {"Unlocked": "Unlocked", "UnlockFailed": "UnlockFailed"}
#: What a handler returns: the response payload.
Handler = Callable[["V16", Payload, ChargePointTarget], Payload]
_ENERGY = (ENERGY,)


class V16(Dialect):
    """OCPP 1.6J (subprotocol ``ocpp1.6``)."""

    version = "1.6"
    subprotocol = "ocpp1.6"
    transaction_actions = frozenset({"StartTransaction", "MeterValues", "StopTransaction"})
    # 5.13: a reservation of connector 0 "SHALL NOT reserve a specific connector"; a
    # Reserved status names one, so none is reported (2.0.1 H01.FR.20 differs: V201)
    marks_reserved_for_any = False
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

    def authorize_info(self, payload: Payload) -> IdInfo:
        try:
            info = read_id_info(payload, "idTagInfo", required=True)
        except FrameError as exc:
            raise _respelled(exc) from None
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
        """StartTransaction (trigger, seqNo, offline and measurands have no 1.6 field)."""
        payload: Payload = {
            "connectorId": tx.connector_id,
            "idTag": tx.id_tag[:20],
            "meterStart": reading.energy_wh,
            "timestamp": iso(at),
        }
        if reservation_id is not None:
            payload["reservationId"] = reservation_id
        return "StartTransaction", payload

    def start_reply(self, payload: Payload) -> StartReply:
        """The server's transactionId and idTagInfo status (both required in 1.6)."""
        try:
            transaction_id = get_field(payload, "transactionId", int)
            info = read_id_info(payload, "idTagInfo", required=True)
        except FrameError as exc:
            raise _respelled(exc) from None
        return StartReply(transaction_id, info)

    def end_reply(self, request: Payload, payload: Payload) -> tuple[str | None, IdInfo | None]:
        """StopTransaction's idTag and the answer's optional idTagInfo."""
        try:
            info = read_id_info(payload, "idTagInfo", required=False)
        except FrameError as exc:
            raise _respelled(exc) from None
        tag = request.get("idTag")
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
        """MeterValues of the transaction, context Sample.Periodic (or Sample.Clock); the
        charging state goes in a StatusNotification instead."""
        return "MeterValues", {
            "connectorId": tx.connector_id,
            "transactionId": tx.server_id or 0,  # set by bind() when sent, if not yet known
            "meterValue": [_sample(reading, at, context, measurands)],
        }

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
        """StopTransaction with ``reason`` (1.6 has ImmediateReset as HardReset) and, when
        StopTxnSampledData or StopTxnAlignedData name measurands, the session's samples
        as transactionData (errata 3.13, section 3.14)."""
        payload: Payload = {
            "transactionId": tx.server_id or 0,  # set by bind() when sent, if not yet known
            "idTag": (stopped_by or tx.id_tag)[:20],  # the tag that stopped it
            "meterStop": reading.energy_wh,
            "timestamp": iso(at),
            "reason": _REASONS_16.get(reason, reason),
        }
        data = []
        for when, sample, context in samples:
            wanted = aligned_measurands if context == "Sample.Clock" else measurands
            if wanted:
                data.append(_sample(sample, when, context, wanted))
        if measurands:
            data.append(_sample(reading, at, "Transaction.End", measurands))
        if data:
            payload["transactionData"] = data
        return "StopTransaction", payload

    def bind(self, action: str, payload: Payload, tx: TransactionLike | None) -> None:
        """Fill in the server's transactionId. Messages go in order, so one still without
        it comes after a StartTransaction that was never answered (given up after its
        attempts, or its answer unreadable): -1 (errata 3.18 and 3.54)."""
        if tx is None or action not in ("MeterValues", "StopTransaction"):
            return
        payload["transactionId"] = -1 if tx.server_id is None else tx.server_id

    def meter_values(
        self,
        connector_id: int,
        reading: Reading,
        at: float,
        tx: TransactionLike | None,
        measurands: tuple[str, ...] = (),
        context: str = "Trigger",
    ) -> Request:
        payload: Payload = {
            "connectorId": connector_id,
            "meterValue": [_sample(reading, at, context, measurands or _ENERGY)],
        }
        if tx is not None and tx.server_id is not None:
            payload["transactionId"] = tx.server_id
        return "MeterValues", payload

    def firmware_status(
        self, status: str, request_id: int | None = None, *, signed: bool = False
    ) -> Request:
        if signed or request_id is not None:  # an update from SignedUpdateFirmware
            payload: Payload = {"status": status}
            if request_id is not None:
                payload["requestId"] = request_id
            return "SignedFirmwareStatusNotification", payload
        return "FirmwareStatusNotification", {"status": status}

    def diagnostics_status(self, status: str) -> Request | None:
        return "DiagnosticsStatusNotification", {"status": status}

    # -- the server's calls --------------------------------------------------------------

    def answer(self, call: Call, target: ChargePointTarget) -> CallResult | CallError:
        handler = self._handlers.get(call.action)
        if handler is None:
            return self.unhandled(call, target)
        try:
            return CallResult(call.unique_id, handler(self, call.payload, target))
        except FrameError as exc:
            code = SPELLING_16.get(exc.code, exc.code)
            return CallError(call.unique_id, code, str(exc)[:200])

    def password(self, value: str) -> bytes | None:
        """AuthorizationKey (1.6 security whitepaper): the password's 16 to 20 bytes,
        written as hexadecimal (at most 40 digits)."""
        if len(value) % 2 or not 32 <= len(value) <= 40 or not _HEX.issuperset(value):
            return None
        return bytes.fromhex(value)

    def password_taken(self, payload: Payload) -> bool:
        """The ChangeConfiguration of AuthorizationKey was Accepted."""
        return payload.get("status") == "Accepted"

    def recognises(self, action: str, target: ChargePointTarget) -> bool:
        """The security whitepaper's calls only on a charger of the whitepaper (one that
        takes SignedUpdateFirmware); the rest of 1.6's always."""
        if action in _WHITEPAPER_16 and not target.takes_update(signed=True):
            return False
        return action in self.server_actions

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
            setting = BY_KEY16_FOLDED.get(key.casefold())  # CiString50: in any case
            value = target.read_setting(setting.name) if setting is not None else None
            if setting is None or value is None:
                unknown.append(key)
                continue
            spelled = setting.key16 or key  # the charge point's spelling
            if setting.writeonly:  # AuthorizationKey is never read back (whitepaper)
                known.append({"key": spelled, "readonly": False})
            else:
                entry = {"key": spelled, "readonly": setting.readonly, "value": value[:500]}
                known.append(entry)
        reply: Payload = {"configurationKey": known}
        if unknown:
            reply["unknownKey"] = unknown
        return reply

    def _change_configuration(self, p: Payload, target: ChargePointTarget) -> Payload:
        key = get_field(p, "key", str, max_len=50)
        value = get_field(p, "value", str, max_len=500)
        setting = BY_KEY16_FOLDED.get(key.casefold())  # CiString50: in any case
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
        raw = get_field(p, "chargingProfile", dict, required=False)
        profile = None
        if raw is not None and target.supports("SmartCharging"):
            profile = profiles.parse_16(connector_id or 0, raw)
            if profile.purpose != profiles.TX:  # 5.11: only a TxProfile may come with it
                return {"status": "Rejected"}
        return {"status": target.remote_start(connector_id, id_tag, None, profile)}

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

    def _extended_trigger(self, p: Payload, target: ChargePointTarget) -> Payload:
        """ExtendedTriggerMessage (security extension): the same, plus LogStatusNotification
        and SignedFirmwareStatusNotification; a certificate signing request is not made."""
        message = get_field(p, "requestedMessage", str)
        connector_id = get_field(p, "connectorId", int, required=False)
        wanted = _EXTENDED_16.get(message)
        if wanted is None:
            return {"status": "NotImplemented"}
        return {"status": target.trigger_message(wanted, connector_id)}

    def _clear_cache(self, p: Payload, target: ChargePointTarget) -> Payload:
        as_object(p)
        return {"status": target.clear_cache()}

    def _data_transfer(self, p: Payload, target: ChargePointTarget) -> Payload:
        vendor_id = get_field(p, "vendorId", str, max_len=255)
        message_id = get_field(p, "messageId", str, required=False, max_len=50)
        status, data = target.data_transfer(vendor_id, message_id, p.get("data"))
        return {"status": status} if data is None else {"status": status, "data": data}

    # -- Firmware Management ------------------------------------------------------------

    def _update_firmware(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "FirmwareManagement")
        if not target.takes_update(signed=False):  # security whitepaper, use case L01
            raise FrameError(
                "this charger updates its firmware by SignedUpdateFirmware only",
                code="NotSupported",
            )
        location = get_field(p, "location", str, max_len=512)
        retrieve_at = profiles.parse_time(get_field(p, "retrieveDate", str), "retrieveDate")
        get_field(p, "retries", int, required=False)
        get_field(p, "retryInterval", int, required=False)
        target.update_firmware(location, retrieve_at, None, signed=False)
        return {}

    def _signed_update_firmware(self, p: Payload, target: ChargePointTarget) -> Payload:
        _whitepaper(target, "SignedUpdateFirmware")
        _require(target, "FirmwareManagement")
        request_id = get_field(p, "requestId", int)
        firmware = get_field(p, "firmware", dict)
        location = get_field(firmware, "location", str, max_len=512)
        retrieve_at = profiles.parse_time(
            get_field(firmware, "retrieveDateTime", str), "retrieveDateTime"
        )
        get_field(firmware, "signingCertificate", str, max_len=5500)
        get_field(firmware, "signature", str, max_len=800)
        return {"status": target.update_firmware(location, retrieve_at, request_id, signed=True)}

    def _get_diagnostics(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "FirmwareManagement")
        location = get_field(p, "location", str, max_len=512)
        for key in ("startTime", "stopTime"):
            text = get_field(p, key, str, required=False)
            if text is not None:
                profiles.parse_time(text, key)
        status, name = target.upload_log(location, None, "Diagnostics")
        return {"fileName": name[:255]} if status == "Accepted" and name else {}

    def _get_log(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "FirmwareManagement")
        return get_log_answer(p, target)

    # -- Reservation ----------------------------------------------------------------------

    def _reserve_now(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "Reservation")
        connector_id = get_field(p, "connectorId", int)
        expiry = profiles.parse_time(get_field(p, "expiryDate", str), "expiryDate")
        id_tag = get_field(p, "idTag", str, max_len=20)
        parent = get_field(p, "parentIdTag", str, required=False, max_len=20)
        reservation_id = get_field(p, "reservationId", int)
        status = target.reserve_now(reservation_id, connector_id or None, expiry, id_tag, parent)
        return {"status": status}

    def _cancel_reservation(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "Reservation")
        return {"status": target.cancel_reservation(get_field(p, "reservationId", int))}

    # -- Local Auth List Management -------------------------------------------------------

    def _send_local_list(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "LocalAuthListManagement")
        version = get_field(p, "listVersion", int)
        kind = get_field(p, "updateType", str, choices=("Differential", "Full"))
        entries: list[tuple[str, IdInfo | None]] = []
        for item in get_field(p, "localAuthorizationList", list, required=False) or ():
            tag = get_field(item, "idTag", str, max_len=20)
            info = read_id_info(item, "idTagInfo", required=False, choices=_ID_STATUS)
            entries.append((tag, info))
        status = target.send_local_list(version, kind == "Full", entries)
        return {"status": status}

    def _get_local_list_version(self, p: Payload, target: ChargePointTarget) -> Payload:
        as_object(p)
        if not target.supports("LocalAuthListManagement"):
            return {"listVersion": -1}  # 5.10: -1 when local lists are not supported
        return {"listVersion": target.local_list_version()}

    # -- Smart Charging -------------------------------------------------------------------

    def _set_charging_profile(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "SmartCharging")
        connector_id = get_field(p, "connectorId", int)
        if not 0 <= connector_id <= target.connector_count:  # errata 3.39
            raise FrameError(f"no connector {connector_id}", code="PropertyConstraintViolation")
        profile = profiles.parse_16(connector_id, get_field(p, "csChargingProfiles", dict))
        return {"status": target.set_charging_profile(profile)}

    def _clear_charging_profile(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "SmartCharging")
        purpose = get_field(
            p, "chargingProfilePurpose", str, required=False, choices=tuple(profiles.PURPOSES_16)
        )
        status = target.clear_charging_profiles(
            get_field(p, "id", int, required=False),
            get_field(p, "connectorId", int, required=False),
            None if purpose is None else profiles.PURPOSES_16[purpose],
            get_field(p, "stackLevel", int, required=False),
        )
        return {"status": status}

    def _get_composite_schedule(self, p: Payload, target: ChargePointTarget) -> Payload:
        _require(target, "SmartCharging")
        connector_id = get_field(p, "connectorId", int)
        duration = get_field(p, "duration", int)
        unit = get_field(p, "chargingRateUnit", str, required=False, choices=("A", "W"))
        found = target.composite_schedule(connector_id, duration, unit)
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
            "connectorId": connector_id,
            "scheduleStart": iso(start),
            "chargingSchedule": {  # no startSchedule here: errata 3.57
                "duration": duration,
                "chargingRateUnit": unit_used,
                "chargingSchedulePeriod": schedule_periods,
            },
        }

    # -- certificates (security whitepaper: use cases M03, M04, M05) ----------------------

    def _install_certificate(self, p: Payload, target: ChargePointTarget) -> Payload:
        _whitepaper(target, "InstallCertificate")
        kind = get_field(p, "certificateType", str, choices=tuple(_CERTIFICATE_USES_16))
        text = get_field(p, "certificate", str, max_len=5500)
        return {"status": target.install_certificate(_CERTIFICATE_USES_16[kind], text)}

    def _get_installed_certificate_ids(self, p: Payload, target: ChargePointTarget) -> Payload:
        _whitepaper(target, "GetInstalledCertificateIds")
        kind = get_field(p, "certificateType", str, choices=tuple(_CERTIFICATE_USES_16))
        found = target.installed_certificates([_CERTIFICATE_USES_16[kind]])
        if not found:
            return {"status": "NotFound"}
        hashes = [certificate_id_payload(certificate) for _, certificate in found]
        return {"status": "Accepted", "certificateHashData": hashes}

    def _delete_certificate(self, p: Payload, target: ChargePointTarget) -> Payload:
        _whitepaper(target, "DeleteCertificate")
        certificate = read_certificate_id(p, "certificateHashData")
        return {"status": target.delete_certificate(certificate)}

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
        "ExtendedTriggerMessage": _extended_trigger,
        "UpdateFirmware": _update_firmware,
        "SignedUpdateFirmware": _signed_update_firmware,
        "GetDiagnostics": _get_diagnostics,
        "GetLog": _get_log,
        "ReserveNow": _reserve_now,
        "CancelReservation": _cancel_reservation,
        "SendLocalList": _send_local_list,
        "GetLocalListVersion": _get_local_list_version,
        "SetChargingProfile": _set_charging_profile,
        "ClearChargingProfile": _clear_charging_profile,
        "GetCompositeSchedule": _get_composite_schedule,
        "InstallCertificate": _install_certificate,
        "GetInstalledCertificateIds": _get_installed_certificate_ids,
        "DeleteCertificate": _delete_certificate,
    }


_HEX = frozenset(string.hexdigits)
#: stop reasons 1.6 spells otherwise (its Reason has no ImmediateReset, no MasterPass)
_REASONS_16: dict[str, str] = {"ImmediateReset": "HardReset", "MasterPass": "Other"}
_ID_STATUS = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")
#: The server calls the security whitepaper adds to 1.6 (its certificate management,
#: security log and signed firmware update).
_WHITEPAPER_16 = frozenset(
    "CertificateSigned DeleteCertificate ExtendedTriggerMessage GetInstalledCertificateIds "
    "GetLog InstallCertificate SignedUpdateFirmware".split()
)


#: The whitepaper's certificate types -> the store's names (2.0.1's).
_CERTIFICATE_USES_16 = {
    "CentralSystemRootCertificate": "CSMSRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}


def _whitepaper(target: ChargePointTarget, action: str) -> None:
    """A call of the security whitepaper on a charger without it (one that takes no
    SignedUpdateFirmware): CALLERROR NotImplemented, the action is unknown there."""
    if not target.takes_update(signed=True):
        raise FrameError(f"{action} unknown", code="NotImplemented")


def _require(target: ChargePointTarget, feature: str) -> None:
    """A call of a feature profile the charger lacks: CALLERROR NotSupported."""
    if not target.supports(feature):
        raise FrameError(f"the {feature} profile is not supported", code="NotSupported")


def _respelled(exc: FrameError) -> FrameError:
    exc.code = SPELLING_16.get(exc.code, exc.code)
    return exc


def _sample(reading: Reading, at: float, context: str, measurands: tuple[str, ...]) -> Payload:
    """One 1.6 meterValue entry with the chosen measurands (values are strings in 1.6)."""
    sampled = []
    for measurand, phase, location, unit, value in values(reading, measurands):
        entry: Payload = {
            "value": str(value),
            "context": context,
            "measurand": measurand,
            "unit": unit,
        }
        if phase is not None:
            entry["phase"] = phase
        if location is not None:
            entry["location"] = location
        sampled.append(entry)
    return {"timestamp": iso(at), "sampledValue": sampled}
