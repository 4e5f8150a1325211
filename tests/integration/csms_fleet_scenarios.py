"""Operator scripts of a CSMS whose fleet is like a real one: smart charging, firmware,
diagnostics, reservations, local lists, security events, DataTransfer, faults and the
charger's own sessions (registered with ``csms_scenarios.SCENARIOS``; judged by
``test_fleet_behaviour.py``)."""

from __future__ import annotations

import time
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

try:  # run as a script (csms_ocpp.py): this folder is on sys.path
    import csms_scenarios as sc
except ImportError:  # imported as a module of the tests package
    from tests.integration import csms_scenarios as sc

OperatorLike = sc.OperatorLike

LIMIT_W = 7000
TX_LIMIT_A = 10
FIRMWARE_URL = "https://firmware.example/fw-2.0.bin"
SIGNED_FIRMWARE_URL = "https://firmware.example/fw-2.1.bin"
#: Nothing listens there: an upload to it fails at once (connection refused).
UNREACHABLE = "http://127.0.0.1:9/logs/"
RESERVED_TAG = "RES-TAG"
OTHER_TAG = "OTHER-TAG"
LOCAL_OK = "LOCAL-OK"
LOCAL_BLOCKED = "LOCAL-BLOCKED"
LOCAL_NEW = "LOCAL-NEW"
VENDOR = "com.acme"
START_IDS = 5100


def iso_in(seconds: float) -> str:
    """The time ``seconds`` from now, as OCPP writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))


def status(op: OperatorLike, label: str, expected: Any) -> None:
    """The call labelled ``label`` must have been answered ``expected``."""
    got = op.answered(label)
    if got != expected:
        raise sc.ScenarioFailed(f"{label} answered {got!r}, expected {expected!r}")


def notified(
    op: OperatorLike, since: int, actions: tuple[str, ...], value: str, key: str = "status"
) -> Any:
    """Index + 1 of the first of ``actions`` from ``since`` whose ``key`` is ``value``."""
    return sc.find(
        op.messages,
        lambda m: m["action"] in actions and m["payload"].get(key) == value and sc.answered(m),
        since,
    )


async def wait_notified(
    op: OperatorLike, since: int, actions: tuple[str, ...], value: str, key: str = "status"
) -> int:
    return int(
        await op.until(lambda: notified(op, since, actions, value, key), f"{actions[0]} {value}")
    )


def profile_request(
    version: str,
    connector_id: int,
    purpose: str,
    limit: float,
    profile_id: int,
    *,
    unit: str = "W",
    transaction_id: Any = None,
) -> Any:
    """SetChargingProfile for ``ocpp`` (snake_case), Relative, one period."""
    schedule = {
        "charging_rate_unit": unit,
        "charging_schedule_period": [{"start_period": 0, "limit": limit}],
    }
    body: dict[str, Any] = {
        "stack_level": 0 if purpose != "TxProfile" else 1,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Relative",
    }
    if transaction_id is not None:
        body["transaction_id"] = transaction_id
    if version == "1.6":
        body.update(charging_profile_id=profile_id, charging_schedule=schedule)
        return call16.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=body)
    body.update(id=profile_id, charging_schedule=[{"id": 1, **schedule}])
    return call201.SetChargingProfile(evse_id=connector_id, charging_profile=body)


# -- smart charging -----------------------------------------------------------------------


@sc.scenario("smart-charging")
async def _smart_charging(op: OperatorLike) -> None:
    version = op.version
    await sc.ready(op)
    tx = await sc.remote_start(op, "RemoteStart", 1, sc.TAG_SESSION, START_IDS)
    await sc.meters(op, tx, 2, 0, "before the limit")
    start = op.mark("SetChargingProfile.default")
    await op.call(
        "SetChargingProfile.default", profile_request(version, 0, "TxDefaultProfile", LIMIT_W, 1)
    )
    status(op, "SetChargingProfile.default", "Accepted")
    await sc.meters(op, tx, 3, start, "under the limit")
    if version == "1.6":
        ask: Any = call16.GetCompositeSchedule(connector_id=1, duration=600, charging_rate_unit="W")
    else:
        ask = call201.GetCompositeSchedule(duration=600, evse_id=1, charging_rate_unit="W")
    await op.call("GetCompositeSchedule", ask)
    status(op, "GetCompositeSchedule", "Accepted")
    if version != "1.6":
        start = op.mark("GetChargingProfiles")
        criteria = {"charging_profile_purpose": "TxDefaultProfile"}
        await op.call(
            "GetChargingProfiles",
            call201.GetChargingProfiles(request_id=61, charging_profile=criteria),
        )
        status(op, "GetChargingProfiles", "Accepted")
        await op.until(
            lambda: sc.find(op.messages, lambda m: m["action"] == "ReportChargingProfiles", start),
            "ReportChargingProfiles",
        )
    start = op.mark("ClearChargingProfile")
    if version == "1.6":
        clear: Any = call16.ClearChargingProfile(id=1)
    else:
        clear = call201.ClearChargingProfile(charging_profile_id=1)
    await op.call("ClearChargingProfile", clear)
    status(op, "ClearChargingProfile", "Accepted")
    await sc.meters(op, tx, 3, start, "after the clear")
    start = op.mark("SetChargingProfile.tx")
    await op.call(
        "SetChargingProfile.tx",
        profile_request(version, 1, "TxProfile", TX_LIMIT_A, 2, unit="A", transaction_id=tx),
    )
    status(op, "SetChargingProfile.tx", "Accepted")
    await sc.meters(op, tx, 3, start, "under the TxProfile")
    op.mark("RemoteStop.sent")
    await sc.remote_stop(op, "RemoteStop", tx)


@sc.scenario("external-limit")
async def _external_limit(op: OperatorLike) -> None:
    """Needs a model with external_limit_w: charge under the energy manager's limit."""
    await sc.ready(op)
    tx = await sc.remote_start(op, "RemoteStart", 1, sc.TAG_SESSION, START_IDS + 20)
    await sc.meters(op, tx, 2, 0, "under the external limit")
    await sc.remote_stop(op, "RemoteStop", tx)


# -- firmware -----------------------------------------------------------------------------

_FIRMWARE = ("FirmwareStatusNotification", "SignedFirmwareStatusNotification")


async def _update(
    op: OperatorLike, label: str, *, signed: bool, location: str, request_id: int
) -> int:
    """Send an update; wait until the new firmware says Installed (after its reboot) and,
    2.0.1, reports SecurityEvent FirmwareUpdated (L01.FR.31), which comes after it."""
    start = op.mark(label)
    connections = op.record.connections
    firmware = {"location": location, "retrieve_date_time": iso_in(0)}
    if signed:
        firmware.update(signing_certificate="-----BEGIN CERTIFICATE-----x", signature="c2lnbg==")
    if op.version == "1.6" and not signed:
        request: Any = call16.UpdateFirmware(location=location, retrieve_date=iso_in(0))
    elif op.version == "1.6":
        request = call16.SignedUpdateFirmware(request_id=request_id, firmware=firmware)
    else:
        request = call201.UpdateFirmware(request_id=request_id, firmware=firmware)
    await op.call(label, request)
    if op.version != "1.6" or signed:
        status(op, label, "Accepted")
    await op.until(lambda: op.record.connections > connections, f"a reboot after {label}")
    installed = await wait_notified(op, start, _FIRMWARE, "Installed")
    if op.version != "1.6":  # the SecurityEventNotification queued behind Installed
        await wait_notified(
            op, installed, ("SecurityEventNotification",), "FirmwareUpdated", key="type"
        )
    return installed


@sc.scenario("firmware")
async def _firmware(op: OperatorLike) -> None:
    await sc.ready(op)
    await _update(
        op, "UpdateFirmware", signed=op.version != "1.6", location=FIRMWARE_URL, request_id=71
    )
    if op.version == "1.6":  # and the security extension's signed update
        await _update(
            op, "SignedUpdateFirmware", signed=True, location=SIGNED_FIRMWARE_URL, request_id=72
        )


@sc.scenario("firmware-signed-only")
async def _firmware_signed_only(op: OperatorLike) -> None:
    """Needs a 1.6 model of the security whitepaper (``firmware_update: signed``): a legacy
    UpdateFirmware is refused and starts nothing; a SignedUpdateFirmware goes through."""
    await sc.ready(op)
    if op.version != "1.6":
        return
    op.mark("UpdateFirmware.legacy")
    request = call16.UpdateFirmware(location=FIRMWARE_URL, retrieve_date=iso_in(0))
    await op.call("UpdateFirmware.legacy", request)
    status(op, "UpdateFirmware.legacy", "CallError:NotSupported")
    await _update(
        op, "SignedUpdateFirmware", signed=True, location=SIGNED_FIRMWARE_URL, request_id=76
    )


@sc.scenario("firmware-fail")
async def _firmware_fail(op: OperatorLike) -> None:
    await sc.ready(op)
    start = op.mark("UpdateFirmware")
    if op.version == "1.6":
        request: Any = call16.UpdateFirmware(location=FIRMWARE_URL, retrieve_date=iso_in(0))
    else:
        firmware = {"location": FIRMWARE_URL, "retrieve_date_time": iso_in(0)}
        request = call201.UpdateFirmware(request_id=73, firmware=firmware)
    await op.call("UpdateFirmware", request)
    await wait_notified(op, start, _FIRMWARE, "DownloadFailed")
    await sc.heartbeats(op, start, 1, "after the failed update")


# -- diagnostics and logs -----------------------------------------------------------------

_LOGS = ("DiagnosticsStatusNotification", "LogStatusNotification")


async def _get_log(op: OperatorLike, label: str, location: str, request_id: int) -> None:
    log = {"remote_location": location}
    if op.version == "1.6":
        request: Any = call16.GetLog(log=log, log_type="DiagnosticsLog", request_id=request_id)
    else:
        request = call201.GetLog(log=log, log_type="DiagnosticsLog", request_id=request_id)
    await op.call(label, request)
    status(op, label, "Accepted")


@sc.scenario("diagnostics")
async def _diagnostics(op: OperatorLike) -> None:
    await sc.ready(op)
    if op.version == "1.6":
        start = op.mark("GetDiagnostics")
        await op.call("GetDiagnostics", call16.GetDiagnostics(location=op.upload_url))
        await wait_notified(op, start, _LOGS, "Uploaded")
        start = op.mark("GetDiagnostics.unreachable")
        await op.call("GetDiagnostics.unreachable", call16.GetDiagnostics(location=UNREACHABLE))
        await wait_notified(op, start, _LOGS, "UploadFailed")
        start = op.mark("ExtendedTriggerMessage")  # the security extension's trigger
        await op.call(
            "ExtendedTriggerMessage",
            call16.ExtendedTriggerMessage(requested_message="LogStatusNotification"),
        )
        status(op, "ExtendedTriggerMessage", "Accepted")
        await wait_notified(op, start, _LOGS, "Idle")
    start = op.mark("GetLog")
    await _get_log(op, "GetLog", op.upload_url, 81)
    await wait_notified(op, start, _LOGS, "Uploaded")
    start = op.mark("GetLog.unreachable")
    await _get_log(op, "GetLog.unreachable", UNREACHABLE, 82)
    await wait_notified(op, start, _LOGS, "UploadFailure")


# -- reservations -------------------------------------------------------------------------


async def _reserve(
    op: OperatorLike, label: str, connector: int, reservation_id: int, expiry_s: float
) -> int:
    start = op.mark(label)
    if op.version == "1.6":
        request: Any = call16.ReserveNow(
            connector_id=connector,
            expiry_date=iso_in(expiry_s),
            id_tag=RESERVED_TAG,
            reservation_id=reservation_id,
        )
    else:
        request = call201.ReserveNow(
            id=reservation_id,
            expiry_date_time=iso_in(expiry_s),
            id_token={"id_token": RESERVED_TAG, "type": "ISO14443"},
            evse_id=connector,
        )
    await op.call(label, request)
    status(op, label, "Accepted")
    return await sc.status_seen(op, start, connector, "Reserved", f"after {label}")


@sc.scenario("reservation")
async def _reservation(op: OperatorLike) -> None:
    await sc.ready(op)
    await _reserve(op, "ReserveNow", 2, 91, 120)
    await sc.remote_start(op, "RemoteStart.other", 2, OTHER_TAG, START_IDS + 1, expect="Rejected")
    tx = await sc.remote_start(op, "RemoteStart.reserved", 2, RESERVED_TAG, START_IDS + 2)
    await sc.remote_stop(op, "RemoteStop", tx)
    reserved = await _reserve(op, "ReserveNow.expiring", 1, 92, 3)
    await sc.status_seen(op, reserved, 1, "Available", "once the reservation expired")
    if op.version != "1.6":
        await wait_notified(
            op, reserved, ("ReservationStatusUpdate",), "Expired", "reservationUpdateStatus"
        )
    reserved = await _reserve(op, "ReserveNow.cancelled", 1, 93, 120)
    await op.call(
        "CancelReservation",
        (call16 if op.version == "1.6" else call201).CancelReservation(reservation_id=93),
    )
    status(op, "CancelReservation", "Accepted")
    await sc.status_seen(op, reserved, 1, "Available", "after CancelReservation")


# -- local authorization list -------------------------------------------------------------


def _local_list(version: str, number: int, update: str, entries: list[tuple[str, str]]) -> Any:
    if version == "1.6":
        items = [{"id_tag": t, "id_tag_info": {"status": s}} for t, s in entries]
        return call16.SendLocalList(
            list_version=number, update_type=update, local_authorization_list=items
        )
    items = [
        {"id_token": {"id_token": t, "type": "ISO14443"}, "id_token_info": {"status": s}}
        for t, s in entries
    ]
    return call201.SendLocalList(
        version_number=number, update_type=update, local_authorization_list=items
    )


async def _list_version(op: OperatorLike, label: str) -> None:
    request = (call16 if op.version == "1.6" else call201).GetLocalListVersion()
    await op.call(label, request)


@sc.scenario("local-list")
async def _local_list_scenario(op: OperatorLike) -> None:
    version = op.version
    await sc.ready(op)
    await _list_version(op, "GetLocalListVersion.empty")
    full = [(LOCAL_OK, "Accepted"), (LOCAL_BLOCKED, "Blocked")]
    await op.call("SendLocalList.full", _local_list(version, 1, "Full", full))
    status(op, "SendLocalList.full", "Accepted")
    await _list_version(op, "GetLocalListVersion.full")
    await op.call(
        "SendLocalList.stale", _local_list(version, 1, "Differential", [(LOCAL_NEW, "Accepted")])
    )
    status(op, "SendLocalList.stale", "VersionMismatch")
    await op.call(
        "SendLocalList.diff", _local_list(version, 2, "Differential", [(LOCAL_NEW, "Accepted")])
    )
    status(op, "SendLocalList.diff", "Accepted")
    await sc.set_setting(op, "LocalPreAuthorize.true", "local_pre_authorize", "true")
    await sc.set_setting(op, "AuthorizeRemote.true", "authorize_remote", "true")
    tx = await sc.remote_start(op, "RemoteStart.listed", 1, LOCAL_NEW, START_IDS + 10)
    await sc.remote_stop(op, "RemoteStop.listed", tx)
    tx = await sc.remote_start(op, "RemoteStart.blocked", 1, LOCAL_BLOCKED, START_IDS + 11)
    await sc.remote_stop(op, "RemoteStop.blocked", tx)
    await op.call("ClearCache", (call16 if version == "1.6" else call201).ClearCache())
    status(op, "ClearCache", "Accepted")


# -- security events and DataTransfer -----------------------------------------------------


@sc.scenario("security-events")
async def _security_events(op: OperatorLike) -> None:
    await sc.ready(op)
    start = op.mark("Reset")
    connections = op.record.connections
    kind = "Soft" if op.version == "1.6" else "Immediate"
    await op.call(
        "Reset", call16.Reset(type=kind) if op.version == "1.6" else call201.Reset(type=kind)
    )
    await op.until(lambda: op.record.connections > connections, "a reconnect after the reset")
    await wait_notified(op, start, ("SecurityEventNotification",), "ResetOrReboot", "type")
    start = op.mark("refused")
    connections = op.record.connections
    op.refuse(1.5, 401)
    op.drop()
    await op.until(lambda: op.record.connections > connections, "a reconnect after the 401s")
    refused = (
        "FailedToAuthenticateAtCentralSystem"
        if op.version == "1.6"
        else "FailedToAuthenticateAtCsms"
    )
    await wait_notified(op, start, ("SecurityEventNotification",), refused, "type")


@sc.scenario("data-transfer")
async def _data_transfer(op: OperatorLike) -> None:
    await sc.ready(op)
    calls = call16 if op.version == "1.6" else call201
    await op.call(
        "DataTransfer.known", calls.DataTransfer(vendor_id=VENDOR, message_id="Ping", data="hi")
    )
    status(op, "DataTransfer.known", "Accepted")
    await op.call("DataTransfer.unknown", calls.DataTransfer(vendor_id="org.nobody"))
    status(op, "DataTransfer.unknown", "UnknownVendorId")


# -- the charger's own sessions and faults ------------------------------------------------


@sc.scenario("fleet-sessions")
async def _fleet_sessions(op: OperatorLike) -> None:
    """Needs a charging fleet: each connector runs sessions of its own, two of them ended
    (the tests follow each connector's register from one session to the next)."""
    version = op.version
    await sc.ready(op)

    def ended_on(connector: int) -> int:
        starts = {
            sc.tx_of(version, m)
            for m in op.messages
            if sc.is_start(version, m)
            and sc.start_connector(version, m) == connector
            and sc.answered(m)
        }
        return sum(any(sc.is_end(version, m, tx) for m in op.messages) for tx in starts)

    await op.until(
        lambda: ended_on(1) >= 2 and ended_on(2) >= 2,
        "two sessions of its own on each connector",
        40,
    )


@sc.scenario("faults")
async def _faults(op: OperatorLike) -> None:
    """Needs a faulty fleet: a connector goes Faulted and recovers."""
    version = op.version
    await sc.ready(op)
    faulted = await op.until(
        lambda: sc.find(op.messages, lambda m: sc.status_value(version, m) == "Faulted"),
        "a Faulted connector",
        20,
    )
    connector = sc.status_connector(version, op.messages[faulted - 1])
    assert connector is not None
    await sc.status_seen(op, faulted, connector, "Available", "after the fault")


# -- settings: a model's defaults, and changes at run time --------------------------------

#: The measurands and sample interval the ``tuned`` model's configuration gives, and what
#: the operator changes them to while a session runs.
MODEL_MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import"
MODEL_INTERVAL_S = 2
MODEL_CONNECTION_TIMEOUT_S = 45
NEW_MEASURANDS = "Current.Import,Voltage"
NEW_INTERVAL_S = 1
#: (1.6 configuration key, 2.0.1 Component.Variable) of the settings the scenarios use
MEASURANDS = ("MeterValuesSampledData", "SampledDataCtrlr.TxUpdatedMeasurands")
INTERVAL = ("MeterValueSampleInterval", "SampledDataCtrlr.TxUpdatedInterval")
CONNECTION_TIMEOUT = ("ConnectionTimeOut", "TxCtrlr.EVConnectionTimeOut")
CACHE_ENABLED = ("AuthorizationCacheEnabled", "AuthCacheCtrlr.Enabled")
PRE_AUTHORIZE = ("LocalPreAuthorize", "AuthCtrlr.LocalPreAuthorize")
AUTHORIZE_REMOTE = ("AuthorizeRemoteTxRequests", "AuthCtrlr.AuthorizeRemoteStart")


async def configure(op: OperatorLike, label: str, setting: tuple[str, str], value: str) -> None:
    """ChangeConfiguration (1.6) / SetVariables (2.0.1) of one setting; must be Accepted."""
    key16, spec = setting
    if op.version == "1.6":
        await op.call(label, call16.ChangeConfiguration(key=key16, value=value))
    else:
        data = {**sc.variable_data(spec), "attribute_value": value}
        await op.call(label, call201.SetVariables(set_variable_data=[data]))
    if op.answered(label) not in ("Accepted", ["Accepted"]):
        raise sc.ScenarioFailed(f"{label} answered {op.answered(label)!r}")


async def read_settings(
    op: OperatorLike, label: str, settings: tuple[tuple[str, str], ...]
) -> None:
    """GetConfiguration (1.6) / GetVariables (2.0.1) of the settings; the answer is recorded."""
    if op.version == "1.6":
        await op.call(label, call16.GetConfiguration(key=[key16 for key16, _ in settings]))
    else:
        data = [sc.variable_data(spec) for _, spec in settings]
        await op.call(label, call201.GetVariables(get_variable_data=data))


@sc.scenario("model-settings")
async def _model_settings(op: OperatorLike) -> None:
    """Needs the ``tuned`` model: read its defaults back, then change the measurands and
    the sample interval while a session runs."""
    await sc.ready(op)
    await read_settings(op, "Settings.model", (MEASURANDS, INTERVAL, CONNECTION_TIMEOUT))
    tx = await sc.remote_start(op, "RemoteStart", 1, sc.TAG_SESSION, START_IDS + 30)
    await sc.meters(op, tx, 2, 0, "on the model's settings")
    start = op.mark("Measurands.set")
    await configure(op, "Measurands.set", MEASURANDS, NEW_MEASURANDS)
    await sc.meters(op, tx, 2, start, "with the new measurands")
    start = op.mark("Interval.set")
    await configure(op, "Interval.set", INTERVAL, str(NEW_INTERVAL_S))
    await sc.meters(op, tx, 3, start, "on the new interval")
    await read_settings(op, "Settings.changed", (MEASURANDS, INTERVAL))
    await sc.remote_stop(op, "RemoteStop", tx)


# -- the station's maximum, stack levels and schedule periods -----------------------------

#: Station limits (W) of the ChargePointMaxProfile / ChargingStationMaxProfile steps: stack
#: level 0, then a higher stack level with a higher limit, then stack level 2 with two
#: periods (the second starting PERIOD_S after its startSchedule).
STATION_LOW_W = 8000
STATION_HIGH_W = 16000
STATION_FIRST_W = 30000
STATION_SECOND_W = 12000
PERIOD_S = 3


def iso_ms(epoch_s: float) -> str:
    """An epoch time as OCPP writes it, to the millisecond."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s))
    return f"{whole}.{int(epoch_s * 1000) % 1000:03d}Z"


def station_max_request(
    version: str, profile_id: int, stack_level: int, start_at: float, periods: list[tuple[int, int]]
) -> Any:
    """SetChargingProfile of the station's maximum (connector / EVSE 0), Absolute, in W."""
    schedule = {
        "charging_rate_unit": "W",
        "start_schedule": iso_ms(start_at),
        "charging_schedule_period": [{"start_period": s, "limit": w} for s, w in periods],
    }
    body: dict[str, Any] = {"stack_level": stack_level, "charging_profile_kind": "Absolute"}
    if version == "1.6":
        body.update(
            charging_profile_id=profile_id,
            charging_profile_purpose="ChargePointMaxProfile",
            charging_schedule=schedule,
        )
        return call16.SetChargingProfile(connector_id=0, cs_charging_profiles=body)
    body.update(
        id=profile_id,
        charging_profile_purpose="ChargingStationMaxProfile",
        charging_schedule=[{"id": 1, **schedule}],
    )
    return call201.SetChargingProfile(evse_id=0, charging_profile=body)


@sc.scenario("station-max")
async def _station_max(op: OperatorLike) -> None:
    """Both connectors charge under the station's maximum: stack level 0, a higher stack
    level, then a schedule of two periods."""
    version = op.version
    await sc.ready(op)
    tx1 = await sc.remote_start(op, "RemoteStart.1", 1, sc.TAG_SESSION, START_IDS + 40)
    tx2 = await sc.remote_start(op, "RemoteStart.2", 2, sc.TAG_SESSION, START_IDS + 41)
    steps = (
        ("MaxProfile.low", 11, 0, [(0, STATION_LOW_W)], 2),
        ("MaxProfile.high", 12, 1, [(0, STATION_HIGH_W)], 2),
        ("MaxProfile.periods", 13, 2, [(0, STATION_FIRST_W), (PERIOD_S, STATION_SECOND_W)], 5),
    )
    for label, profile_id, stack_level, periods, samples in steps:
        start = op.mark(label)
        request = station_max_request(version, profile_id, stack_level, time.time(), periods)
        await op.call(label, request)
        status(op, label, "Accepted")
        for tx in (tx1, tx2):
            await sc.meters(op, tx, samples, start, f"after {label}")
    for n, tx in enumerate((tx1, tx2), 1):
        await sc.remote_stop(op, f"RemoteStop.{n}", tx)


# -- the authorization cache --------------------------------------------------------------

CACHED_TAG = "CACHED-TAG"


@sc.scenario("auth-cache")
async def _auth_cache(op: OperatorLike) -> None:
    """A tag the CSMS accepted starts from the cache the next time; after ClearCache it
    needs Authorize again."""
    await sc.ready(op)
    await configure(op, "AuthCache.true", CACHE_ENABLED, "true")
    await configure(op, "LocalPreAuthorize.true", PRE_AUTHORIZE, "true")
    await configure(op, "AuthorizeRemote.true", AUTHORIZE_REMOTE, "true")
    for n, label in enumerate(("first", "cached", "cleared")):
        if label == "cleared":
            calls = call16 if op.version == "1.6" else call201
            await op.call("ClearCache", calls.ClearCache())
            status(op, "ClearCache", "Accepted")
        tx = await sc.remote_start(op, f"RemoteStart.{label}", 1, CACHED_TAG, START_IDS + 50 + n)
        await sc.remote_stop(op, f"RemoteStop.{label}", tx)


# -- a model without some feature profiles ------------------------------------------------


@sc.scenario("no-features")
async def _no_features(op: OperatorLike) -> None:
    """Needs a model without SmartCharging, Reservation and LocalAuthListManagement: their
    calls are not supported."""
    version = op.version
    await sc.ready(op)
    if version == "1.6":
        await op.call(
            "Settings.features", call16.GetConfiguration(key=["SupportedFeatureProfiles"])
        )
    else:
        available = ("SmartChargingCtrlr", "ReservationCtrlr", "LocalAuthListCtrlr")
        data = [sc.variable_data(f"{c}.Available") for c in available]
        await op.call("Settings.features", call201.GetVariables(get_variable_data=data))
    calls = call16 if version == "1.6" else call201
    await op.call(
        "SetChargingProfile", profile_request(version, 0, "TxDefaultProfile", LIMIT_W, 21)
    )
    if version == "1.6":
        composite: Any = call16.GetCompositeSchedule(connector_id=1, duration=60)
        reserve: Any = call16.ReserveNow(
            connector_id=1, expiry_date=iso_in(60), id_tag=RESERVED_TAG, reservation_id=94
        )
    else:
        composite = call201.GetCompositeSchedule(duration=60, evse_id=1)
        reserve = call201.ReserveNow(
            id=94,
            expiry_date_time=iso_in(60),
            id_token={"id_token": RESERVED_TAG, "type": "ISO14443"},
            evse_id=1,
        )
    await op.call("GetCompositeSchedule", composite)
    await op.call("ReserveNow", reserve)
    await op.call("CancelReservation", calls.CancelReservation(reservation_id=94))
    await op.call("SendLocalList", _local_list(version, 1, "Full", [(LOCAL_OK, "Accepted")]))
    await _list_version(op, "GetLocalListVersion")
    for label in (
        "SetChargingProfile",
        "GetCompositeSchedule",
        "ReserveNow",
        "CancelReservation",
        "SendLocalList",
    ):
        status(op, label, "CallError:NotSupported")


# -- firmware that fails to install or has a bad signature --------------------------------


@sc.scenario("firmware-broken")
async def _firmware_broken(op: OperatorLike) -> None:
    """Needs a fleet whose updates fail at the signature (an unsigned one then fails to
    install): an update of each kind, neither reboots."""
    version = op.version
    await sc.ready(op)
    start = op.mark("UpdateFirmware")
    if version == "1.6":
        request: Any = call16.UpdateFirmware(location=FIRMWARE_URL, retrieve_date=iso_in(0))
    else:
        firmware = {"location": FIRMWARE_URL, "retrieve_date_time": iso_in(0)}
        request = call201.UpdateFirmware(request_id=74, firmware=firmware)
    await op.call("UpdateFirmware", request)
    await wait_notified(op, start, _FIRMWARE, "InstallationFailed")
    start = op.mark("UpdateFirmware.signed")
    firmware = {
        "location": SIGNED_FIRMWARE_URL,
        "retrieve_date_time": iso_in(0),
        "signing_certificate": "-----BEGIN CERTIFICATE-----x",
        "signature": "YmFk",
    }
    if version == "1.6":
        request = call16.SignedUpdateFirmware(request_id=75, firmware=firmware)
    else:
        request = call201.UpdateFirmware(request_id=75, firmware=firmware)
    await op.call("UpdateFirmware.signed", request)
    status(op, "UpdateFirmware.signed", "Accepted")
    await wait_notified(op, start, _FIRMWARE, "InvalidSignature")
    await wait_notified(
        op, start, ("SecurityEventNotification",), "InvalidFirmwareSignature", "type"
    )
    await sc.heartbeats(op, start, 1, "after the refused firmware")
