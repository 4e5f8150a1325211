"""The protocol layer on its own: what V16 and V201 build and how they read the server's
answers, against the official OCPP JSON schemas (answering calls: test_ocpp_answers)."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.ocpp import VERSIONS, Dialect, dialect_for, samples
from loadgen.ocpp.dialect import (
    BootReply,
    ConnectorStatus,
    Identity,
    IdInfo,
    StartReply,
    StopReason,
    iso,
)
from loadgen.ocpp.framing import Call, FrameError
from loadgen.ocpp.samples import Reading
from loadgen.ocpp.schemas import SchemaViolation, validate
from loadgen.ocpp.settings import SETTINGS
from loadgen.ocpp.v16 import V16
from loadgen.ocpp.v21 import V21
from loadgen.ocpp.v201 import V201
from tests.unit.ocpp_target import (
    AT,
    COMM,
    DIALECTS,
    MEASURANDS,
    TIMESTAMP,
    V16_,
    V21_,
    V201_,
    Target,
    Tx,
    ask,
    entry,
    every_setting,
    report,
    report_data,
    timestamps,
    valid,
)

# -- the dialects ---------------------------------------------------------------------------


def test_dialect_for_each_version() -> None:
    """dialect_for returns the dialect whose version and subprotocol match the name."""
    assert VERSIONS == ("1.6", "2.0.1", "2.1")
    for version in VERSIONS:
        dialect = dialect_for(version)
        assert (dialect.version, dialect.subprotocol) == (version, f"ocpp{version}")
    assert isinstance(dialect_for("1.6"), V16) and isinstance(dialect_for("2.0.1"), V201)
    assert isinstance(dialect_for("2.1"), V21)


@pytest.mark.parametrize("version", ["2.0", "1.5", "", "ocpp1.6", "2.1.0", "21", "1.6 "])
def test_dialect_for_rejects_other_versions(version: str) -> None:
    """Any other version string raises ValueError."""
    with pytest.raises(ValueError):
        dialect_for(version)


def test_schema_validation_catches_bad_payloads() -> None:
    """The schema check used here really rejects a wrong payload (guards the guard)."""
    with pytest.raises(SchemaViolation):
        validate("1.6", "StatusNotification", {"connectorId": 1}, response=False)
    with pytest.raises(SchemaViolation):
        validate("2.0.1", "Authorize", {"idToken": {"idToken": "x"}}, response=False)


# -- builders -------------------------------------------------------------------------------

texts = st.text(max_size=60)
txs = st.builds(
    Tx,
    connector_id=st.integers(1, 32),
    local_id=st.text(min_size=1, max_size=60),
    server_id=st.none() | st.integers(0, 2**31 - 1),
    id_tag=st.text(max_size=60),
    remote_start_id=st.none() | st.integers(0, 2**31 - 1),
)
#: A 2.0.1 ChargingProfileType as a CSMS sends it (ReportChargingProfiles returns it).
PROFILE_201 = {
    "id": 1,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": [
        {
            "id": 1,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000}],
        }
    ],
}
meters = st.integers(0, 10**9)
readings = st.builds(
    Reading,
    meters,
    st.floats(0, 400_000),
    st.floats(1, 1000),
    st.sampled_from([0, 1, 3]),
    st.none() | st.floats(0, 100),
)
times = st.floats(0, 4_000_000_000, allow_nan=False)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.version)
@settings(max_examples=60, deadline=None)
@given(
    identity=st.builds(Identity, texts, texts, texts, texts),
    reason=st.sampled_from(["PowerUp", "RemoteReset", "Triggered", "FirmwareUpdate", "Unknown"]),
    status=st.sampled_from(get_args(ConnectorStatus)),
    tx=txs,
    meter=meters,
    at=times,
    seq_no=st.integers(0, 10**6),
    offline=st.booleans(),
    trigger=st.sampled_from(["Authorized", "RemoteStart"]),
    stop_reason=st.sampled_from(get_args(StopReason)),
    measurands=st.lists(st.sampled_from(MEASURANDS), max_size=5).map(tuple),
    reading=readings,
    request_id=st.none() | st.integers(0, 2**31 - 1),
)
def test_every_builder_is_schema_valid(
    dialect: Dialect,
    identity: Identity,
    reason: Any,
    status: Any,
    tx: Tx,
    meter: int,
    at: float,
    seq_no: int,
    offline: bool,
    trigger: Any,
    stop_reason: Any,
    measurands: tuple[str, ...],
    reading: Reading,
    request_id: int | None,
) -> None:
    """Every request a dialect builds validates against its official schema, with OCPP
    timestamps, whatever the input (strings are cut to their maxLength)."""
    built = [
        dialect.boot_notification(identity, reason),
        dialect.heartbeat(),
        dialect.status_notification(tx.connector_id, status, "NoError", at),
        dialect.authorize(tx.id_tag),
        dialect.tx_start(tx, reading, at, trigger, seq_no, offline, measurands, request_id),
        dialect.tx_meter(tx, reading, at, seq_no, offline, measurands, state=status),
        dialect.tx_end(tx, reading, at, stop_reason, seq_no, offline),
        dialect.tx_end(
            tx,
            reading,
            at,
            stop_reason,
            seq_no,
            offline,
            measurands,
            [(at, reading, "Transaction.Begin"), (at, reading, "Sample.Periodic")],
        ),
        dialect.meter_values(tx.connector_id, reading, at, tx, measurands),
        dialect.meter_values(tx.connector_id, reading, at, None),
        dialect.firmware_status("Idle"),
        dialect.firmware_status("Downloading", request_id),
        dialect.firmware_status("InvalidSignature", request_id, signed=True),
        dialect.diagnostics_status("Idle"),
        dialect.log_status("UploadFailure", request_id),
        dialect.security_event("FirmwareUpdated", at, "x" * 300),
    ]
    more = [
        dialect.tx_triggered(tx, reading, at, seq_no, measurands, state=status),
        dialect.tx_charging(tx, at, seq_no, offline, status),
        dialect.tx_charging(tx, at, seq_no, offline, status, rate_changed=True),
        dialect.reservation_status(seq_no, "Expired"),
        dialect.connector_event(tx.connector_id, status, at, seq_no),
        dialect.charging_limit(tx.connector_id, reading.power_w, at),
        dialect.charging_profiles_report(seq_no, "CSO", tx.connector_id, [PROFILE_201], False),
    ]
    assert all((r is None) == (dialect.version == "1.6") for r in more)
    built.extend(r for r in more if r is not None)
    for request in built:
        payload = valid(dialect, request)
        assert all(TIMESTAMP.match(t) for t in timestamps(payload))


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.version)
def test_notify_report_is_schema_valid(dialect: Dialect) -> None:
    """2.0.1 NotifyReport lists every variable with its value and mutability; 1.6 has none."""
    target = Target(settings=every_setting("7"))
    if dialect.version == "1.6":
        assert dialect.notify_report(3, AT, target) is None  # type: ignore[arg-type]
        return
    parts = report(dialect, target, request_id=3)
    data = [d for part in parts for d in part["reportData"]]
    found = {
        (d["component"]["name"], d["variable"]["name"], d["variable"].get("instance")): d
        for d in data
    }
    assert len(found) == sum(1 for s in SETTINGS if s.component is not None)
    timeout = found[("OCPPCommCtrlr", "MessageTimeout", "Default")]
    assert timeout["variableAttribute"][0]["value"] == "7"
    attempts = found[("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent")]
    assert attempts["variableAttribute"][0]["mutability"] == "ReadWrite"
    files = found[("OCPPCommCtrlr", "FileTransferProtocols", None)]
    assert files["variableAttribute"][0]["mutability"] == "ReadOnly"
    measurands = found[("SampledDataCtrlr", "TxUpdatedMeasurands", None)]
    assert measurands["variableCharacteristics"]["dataType"] == "MemberList"
    assert measurands["variableCharacteristics"]["valuesList"] == ",".join(samples.MEASURANDS)


@pytest.mark.parametrize("dialect", [V201_, V21_], ids=lambda d: d.version)
def test_notify_report_parts_keep_to_the_report_sizes(dialect: Dialect) -> None:
    """2.0.1 NotifyReport: a report comes in parts of at most DeviceDataCtrlr.ItemsPerMessage
    and BytesPerMessage (GetReport) entries and bytes, seqNo from 0, tbc on all but the last
    (B07.FR.03/10), and nothing is left out or repeated."""

    def target(items: int, size: int) -> Target:
        settings = every_setting("1")
        settings["items_per_message_get_report"] = str(items)
        settings["bytes_per_message_get_report"] = str(size)
        return Target(settings=settings)

    def keys(data: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
        return [
            (json.dumps(d["component"]), d["variable"]["name"], d["variable"].get("instance"))
            for d in data
        ]

    whole = report(dialect, target(100_000, 1_048_576))
    assert len(whole) == 1
    for items, size in ((7, 1_048_576), (1000, 2048), (1, 1_048_576)):
        parts = report(dialect, target(items, size))
        assert len(parts) > 1
        assert all(len(p["reportData"]) <= items for p in parts)
        frames = [Call("x" * 36, "NotifyReport", p).to_json().encode() for p in parts]
        assert all(len(frame) <= size for frame in frames)
        joined = [d for p in parts for d in p["reportData"]]
        assert keys(joined) == keys(whole[0]["reportData"])


def test_notify_report_lists_the_values_of_list_variables() -> None:
    """2.0.1 NotifyReport gives a list variable's supported values as valuesList, and
    its list dataType (VariableCharacteristicsType)."""
    data = report_data(V201_, Target())
    found = {d["variable"]["name"]: d["variableCharacteristics"] for d in data}
    assert found["FileTransferProtocols"] == {
        "dataType": "MemberList",
        "supportsMonitoring": False,
        "valuesList": "HTTP,HTTPS",
    }
    assert found["TxStartPoint"]["valuesList"] == "PowerPathClosed"
    assert found["TxStopPoint"]["valuesList"] == "EVConnected,Authorized"
    assert found["RateUnit"]["valuesList"] == "A,W"
    priority = found["NetworkConfigurationPriority"]
    assert (priority["dataType"], priority["valuesList"]) == ("SequenceList", "0,1,2")  # B09.FR.06
    assert "valuesList" not in found["HeartbeatInterval"]


def test_message_timeout_is_read_only() -> None:
    """2.0.1 device model 2.1.3: MessageTimeout (instance Default) is ReadOnly: reported so
    in NotifyReport, and SetVariables answers Rejected without writing."""
    target = Target()
    data = report_data(V201_, target)
    (timeout,) = [d for d in data if d["variable"]["name"] == "MessageTimeout"]
    assert timeout["variableAttribute"][0]["mutability"] == "ReadOnly"
    data = [entry(COMM, {"name": "MessageTimeout", "instance": "Default"}, attributeValue="5")]
    results = ask(V201_, "SetVariables", {"setVariableData": data}, target)["setVariableResult"]
    assert results[0]["attributeStatus"] == "Rejected" and target.calls == []


def test_v16_transaction_messages() -> None:
    """1.6: StartTransaction with meterStart, MeterValues and StopTransaction with the
    server's id (bind fills it in once known), ImmediateReset sent as HardReset."""
    tx = Tx(server_id=None)
    assert V16_.tx_start(tx, Reading(1000), AT, "Authorized", 0, False) == (
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG", "meterStart": 1000, "timestamp": iso(AT)},
    )
    action, meter = V16_.tx_meter(
        tx, Reading(1500, 11000.0), AT, 1, False, MEASURANDS, state="Charging"
    )
    values = meter["meterValue"][0]["sampledValue"]
    assert [(v["measurand"], v.get("phase"), v["value"]) for v in values] == [
        ("Energy.Active.Import.Register", None, "1500"),
        ("Power.Active.Import", None, "11000"),
        ("Voltage", "L1-N", "230.0"),
        ("Voltage", "L2-N", "230.0"),
        ("Voltage", "L3-N", "230.0"),
    ]
    action, stop = V16_.tx_end(tx, Reading(2000), AT, "ImmediateReset", 2, True)
    assert stop["reason"] == "HardReset" and stop["meterStop"] == 2000
    V16_.bind(action, stop, tx)  # the start never got an answer (errata 3.18)
    assert stop["transactionId"] == -1
    tx.server_id = 77
    V16_.bind(action, stop, tx)
    assert stop["transactionId"] == 77
    start: dict[str, Any] = {}
    V16_.bind("StartTransaction", start, tx)
    V16_.bind("MeterValues", meter, None)
    assert start == {} and meter["transactionId"] == 0  # neither is bound


def test_v201_transaction_events() -> None:
    """2.0.1: Started (evse, idToken, remoteStartId, Transaction.Begin), Updated
    (MeterValuePeriodic) and Ended (stoppedReason) carry the station's own id and seqNo."""
    tx = Tx(connector_id=3, local_id="x" * 50, remote_start_id=9)
    _, started = V201_.tx_start(tx, Reading(10), AT, "RemoteStart", 0, False)
    assert (started["eventType"], started["triggerReason"], started["seqNo"]) == (
        "Started",
        "RemoteStart",
        0,
    )
    assert started["transactionInfo"] == {
        "transactionId": "x" * 36,
        "chargingState": "Charging",
        "remoteStartId": 9,
    }
    assert started["evse"] == {"id": 3, "connectorId": 1} and "offline" not in started
    assert started["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.Begin"
    _, updated = V201_.tx_meter(tx, Reading(20), AT, 1, True, (), state="Charging")
    assert (updated["triggerReason"], updated["seqNo"], updated["offline"]) == (
        "MeterValuePeriodic",
        1,
        True,
    )
    assert updated["meterValue"][0]["sampledValue"][0]["value"] == 20
    for reason, trigger, stopped in [
        ("Remote", "RemoteStop", "Remote"),
        ("Local", "StopAuthorized", "Local"),
        ("DeAuthorized", "Deauthorized", "DeAuthorized"),
        ("ImmediateReset", "ResetCommand", "ImmediateReset"),
        ("EVDisconnected", "EVCommunicationLost", "EVDisconnected"),
    ]:
        _, ended = V201_.tx_end(tx, Reading(30), AT, reason, 2, False)  # type: ignore[arg-type]
        assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == (
            trigger,
            stopped,
        )
    before = dict(ended)
    V201_.bind("TransactionEvent", ended, tx)
    assert ended == before  # 2.0.1 numbers its own transactions


@pytest.mark.parametrize(
    ("status", "v16", "v201"),
    [("Available", "Available", "Available"), ("Preparing", "Preparing", "Occupied"),
     ("Charging", "Charging", "Occupied"), ("Finishing", "Finishing", "Occupied"),
     ("Unavailable", "Unavailable", "Unavailable"), ("Faulted", "Faulted", "Faulted")],
)  # fmt: skip
def test_status_names(status: Any, v16: str, v201: str) -> None:
    """Connector statuses map to each version's enum (2.0.1 folds sessions into Occupied)."""
    assert V16_.status_notification(2, status, "NoError", AT)[1] == {
        "connectorId": 2,
        "errorCode": "NoError",
        "status": v16,
        "timestamp": iso(AT),
    }
    assert V201_.status_notification(2, status, "NoError", AT)[1] == {
        "timestamp": iso(AT),
        "connectorStatus": v201,
        "evseId": 2,
        "connectorId": 1,
    }


# -- reading the server's answers -------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.version)
@pytest.mark.parametrize("status", ["Accepted", "Pending", "Rejected"])
def test_parse_boot_reply(dialect: Dialect, status: str) -> None:
    """A schema-valid BootNotification answer gives its status and interval."""
    payload = {"status": status, "currentTime": iso(AT), "interval": 300}
    validate(dialect.version, "BootNotification", payload, response=True)
    assert dialect.parse_boot_reply(payload) == BootReply(status, 300)  # type: ignore[arg-type]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.version)
@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"interval": 300}, "FormatViolation"),
        ({"status": "Accepted"}, "FormatViolation"),
        ({"status": "Accepted", "interval": "300"}, "TypeConstraintViolation"),
        ({"status": "Accepted", "interval": 300.5}, "TypeConstraintViolation"),
        ({"status": "Accepted", "interval": True}, "TypeConstraintViolation"),
        ({"status": 1, "interval": 300}, "TypeConstraintViolation"),
        ({"status": "accepted", "interval": 300}, "PropertyConstraintViolation"),
        ({"status": "Accepted", "interval": -1}, "PropertyConstraintViolation"),
        ([], "FormatViolation"),
    ],
)
def test_parse_boot_reply_malformed(dialect: Dialect, payload: Any, code: str) -> None:
    """A malformed boot answer raises FrameError with the version's spelling of the code."""
    with pytest.raises(FrameError) as info:
        dialect.parse_boot_reply(payload)
    if dialect.version == "1.6":
        code = {"FormatViolation": "FormationViolation"}.get(code, code)
    assert info.value.code == code


def test_start_and_authorize_replies() -> None:
    """1.6 needs transactionId and idTagInfo; 2.0.1's idTokenInfo is optional."""
    reply = {"transactionId": 5, "idTagInfo": {"status": "Blocked"}}
    assert V16_.start_reply(reply) == StartReply(5, IdInfo("Blocked"))
    assert V16_.start_reply(reply).status == "Blocked"
    for bad, code in [
        ({"idTagInfo": {"status": "Accepted"}}, "FormationViolation"),
        ({"transactionId": "5", "idTagInfo": {"status": "Accepted"}}, "TypeConstraintViolation"),
        ({"transactionId": 5}, "FormationViolation"),
    ]:
        with pytest.raises(FrameError) as info:
            V16_.start_reply(bad)
        assert info.value.code == code
    assert V201_.start_reply({}) == StartReply(None, None)
    assert V201_.start_reply({"idTokenInfo": {"status": "Invalid"}}) == StartReply(
        None, IdInfo("Invalid")
    )
    assert V16_.authorize_info({"idTagInfo": {"status": "Expired"}}) == IdInfo("Expired")
    assert V201_.authorize_info({"idTokenInfo": {"status": "Accepted"}}) == IdInfo("Accepted")
    with pytest.raises(FrameError) as info:
        V16_.authorize_info({})
    assert info.value.code == "FormationViolation"


def test_id_info_keeps_expiry_and_parent() -> None:
    """idTagInfo's expiryDate and parentIdTag (1.6), idTokenInfo's cacheExpiryDateTime
    and groupIdToken (2.0.1) are read with the status; a malformed date is refused."""
    at = "2026-09-21T14:13:20.000Z"
    info = {"status": "Accepted", "expiryDate": at, "parentIdTag": "GROUP"}
    assert V16_.authorize_info({"idTagInfo": info}) == IdInfo("Accepted", 1_790_000_000.0, "GROUP")
    group = {"idToken": "GROUP", "type": "Central"}
    info201 = {"status": "Accepted", "cacheExpiryDateTime": at, "groupIdToken": group}
    assert V201_.start_reply({"idTokenInfo": info201}).info == IdInfo(
        "Accepted", 1_790_000_000.0, V201_._token(group)
    )
    with pytest.raises(FrameError) as error:
        V16_.authorize_info({"idTagInfo": {"status": "Accepted", "expiryDate": "soon"}})
    assert error.value.code == "PropertyConstraintViolation"


def test_iso_timestamps() -> None:
    """iso writes UTC with milliseconds and Z."""
    assert iso(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso(1_790_000_000.5) == "2026-09-21T14:13:20.500Z"
    assert iso(1_790_000_000.0005) == "2026-09-21T14:13:20.000Z"


def test_v201_id_token_type_travels_with_the_tag() -> None:
    """F02.FR.12: the IdToken of a RequestStartTransaction (its type too) is what the
    station's Authorize and TransactionEvent carry; ISO14443 tags stay plain."""
    target = Target()
    token = {"idToken": "EMAID-1", "type": "eMAID"}
    ask(V201_, "RequestStartTransaction", {"idToken": token, "remoteStartId": 1}, target)
    tag = target.calls[0][2]
    assert valid(V201_, V201_.authorize(tag))["idToken"] == token
    started = valid(V201_, V201_.tx_start(Tx(id_tag=tag), Reading(0), AT, "RemoteStart", 0, False))
    assert started["idToken"] == token
    plain = {"idToken": "TAG1", "type": "ISO14443"}
    ask(V201_, "RequestStartTransaction", {"idToken": plain, "remoteStartId": 2}, target)
    assert target.calls[1][2] == "TAG1"
