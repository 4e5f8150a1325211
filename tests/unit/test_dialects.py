"""Tests of the requests each dialect builds, and of how it reads BootNotification replies."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadgen.ocpp import VERSIONS, Dialect, dialect_for
from loadgen.ocpp.dialect import BootReply, StationState, iso
from loadgen.ocpp.framing import ERROR_CODES_16, ERROR_CODES_201, FrameError
from loadgen.ocpp.schemas import SchemaViolation, validate
from loadgen.ocpp.v16 import V16
from loadgen.ocpp.v201 import V201

NOW = datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

DIALECTS = [V16(), V201()]
ids = st.text(min_size=1, max_size=60)
connector_ids = st.integers(min_value=1, max_value=32)
meters = st.integers(min_value=0, max_value=10**12)
seq_nos = st.integers(min_value=0, max_value=10**6)
tx_ids_16 = st.integers(min_value=0, max_value=2**31 - 1).map(str)
nows = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5, minutes=-30))]),
)
statuses = st.sampled_from(["Available", "Charging", "Unavailable"])


def _valid(dialect: Dialect, request: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """Validate a built request against its official schema and return its payload."""
    action, payload = request
    validate(dialect.version, action, payload, response=False)
    return payload


def _timestamps(value: object) -> list[str]:
    """Every timestamp-like field value found anywhere in a payload."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in ("timestamp", "generatedAt")]
        return found + [t for v in value.values() for t in _timestamps(v)]
    if isinstance(value, list):
        return [t for v in value for t in _timestamps(v)]
    return []


def test_dialect_for_each_version() -> None:
    """dialect_for returns the dialect whose version and subprotocol match the name."""
    assert VERSIONS == ("1.6", "2.0.1")
    for version in VERSIONS:
        dialect = dialect_for(version)
        assert dialect.version == version
        assert dialect.subprotocol == f"ocpp{version}"
    assert isinstance(dialect_for("1.6"), V16)
    assert isinstance(dialect_for("2.0.1"), V201)


@pytest.mark.parametrize("version", ["2.0", "1.5", "", "ocpp1.6", "2.1", "1.6 "])
def test_dialect_for_rejects_other_versions(version: str) -> None:
    """Any other version string raises ValueError."""
    with pytest.raises(ValueError):
        dialect_for(version)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.version)
@given(
    cp_id=ids,
    vendor=st.text(max_size=60),
    model=st.text(max_size=60),
    id_tag=ids,
    connector_id=connector_ids,
    meter=meters,
    seq_no=seq_nos,
    now=nows,
    status=statuses,
    tx=tx_ids_16,
)
def test_every_request_validates(
    dialect: Dialect,
    cp_id: str,
    vendor: str,
    model: str,
    id_tag: str,
    connector_id: int,
    meter: int,
    seq_no: int,
    now: datetime,
    status: str,
    tx: str,
) -> None:
    """Every request of the Dialect interface validates against its official schema."""
    _valid(dialect, dialect.boot_notification(cp_id, vendor, model))
    _valid(dialect, dialect.heartbeat())
    _valid(dialect, dialect.status_notification(connector_id, status, now))  # type: ignore[arg-type]
    _valid(dialect, dialect.authorize(id_tag))
    start = _valid(dialect, dialect.start_transaction(connector_id, id_tag, meter, now, tx))
    reply = {"transactionId": int(tx), "idTagInfo": {"status": "Accepted"}}
    transaction_id = dialect.transaction_id(reply if dialect.version == "1.6" else {}, tx)
    meter_values = dialect.meter_values(connector_id, transaction_id, meter, now, seq_no + 1)
    _valid(dialect, meter_values)
    stop = dialect.stop_transaction(connector_id, transaction_id, id_tag, meter, now, seq_no + 2)
    _valid(dialect, stop)
    for stamp in _timestamps(start) + _timestamps(meter_values[1]) + _timestamps(stop[1]):
        assert TIMESTAMP.match(stamp), stamp


@given(cp_id=ids, vendor=st.text(max_size=60), msg=st.none() | st.text(max_size=80))
def test_v16_data_transfer_validates(cp_id: str, vendor: str, msg: str | None) -> None:
    """1.6 DataTransfer validates with and without messageId and data."""
    _valid(V16(), V16().data_transfer(vendor, msg, cp_id))
    _valid(V16(), V16().data_transfer(vendor))


@given(evse_id=connector_ids, meter=meters, now=nows, request_id=seq_nos, seq_no=seq_nos)
def test_v201_extras_validate(
    evse_id: int, meter: int, now: datetime, request_id: int, seq_no: int
) -> None:
    """2.0.1 MeterValues and NotifyReport (with and without state) validate."""
    dialect = V201()
    _valid(dialect, dialect.meter_values_standalone(evse_id, meter, now))
    _valid(dialect, dialect.notify_report(request_id, seq_no, now))
    state = StationState("cp", heartbeat_interval_s=123.0)
    report = _valid(dialect, dialect.notify_report(request_id, seq_no, now, state))
    assert report["reportData"][0]["variableAttribute"][0]["value"] == "123"


def test_v16_boot_notification_fields() -> None:
    """1.6 BootNotification carries vendor, model, firmware and the id cut to 25 chars."""
    action, payload = V16().boot_notification("CP-" + "9" * 40, "Vendor", "Model")
    assert action == "BootNotification"
    assert payload["chargePointVendor"] == "Vendor"
    assert payload["chargePointModel"] == "Model"
    assert payload["chargePointSerialNumber"] == ("CP-" + "9" * 40)[:25]
    assert payload["firmwareVersion"]


def test_v201_boot_notification_fields() -> None:
    """2.0.1 BootNotification has chargingStation model/vendorName/serialNumber, PowerUp."""
    action, payload = V201().boot_notification("cp-1", "Vendor", "Model")
    assert action == "BootNotification"
    assert payload["reason"] == "PowerUp"
    station = payload["chargingStation"]
    assert (station["model"], station["vendorName"], station["serialNumber"]) == (
        "Model",
        "Vendor",
        "cp-1",
    )


@pytest.mark.parametrize(
    ("status", "v16", "v201"),
    [
        ("Available", "Available", "Available"),
        ("Charging", "Charging", "Occupied"),
        ("Unavailable", "Unavailable", "Unavailable"),
    ],
)
def test_status_mapping(status: str, v16: str, v201: str) -> None:
    """Connector statuses map to each version's enum (Charging is Occupied in 2.0.1)."""
    p16 = V16().status_notification(2, status, NOW)[1]  # type: ignore[arg-type]
    assert p16 == {
        "connectorId": 2,
        "errorCode": "NoError",
        "status": v16,
        "timestamp": "2026-01-02T03:04:05.678Z",
    }
    p201 = V201().status_notification(2, status, NOW)[1]  # type: ignore[arg-type]
    assert p201 == {
        "timestamp": "2026-01-02T03:04:05.678Z",
        "connectorStatus": v201,
        "evseId": 2,
        "connectorId": 1,
    }


def test_v16_transaction_requests() -> None:
    """1.6 sessions: StartTransaction, MeterValues and StopTransaction with int ids, Wh."""
    dialect = V16()
    action, start = dialect.start_transaction(1, "TAG", 1000, NOW, "local-1")
    assert action == "StartTransaction"
    assert start == {
        "connectorId": 1,
        "idTag": "TAG",
        "meterStart": 1000,
        "timestamp": iso(NOW),
    }
    tx = dialect.transaction_id({"transactionId": 77, "idTagInfo": {"status": "Accepted"}}, "l")
    assert tx == "77"
    action, meter = dialect.meter_values(1, tx, 1500, NOW, 3)
    assert action == "MeterValues"
    assert meter["transactionId"] == 77
    sample = meter["meterValue"][0]["sampledValue"][0]
    assert sample["value"] == "1500"
    assert (sample["measurand"], sample["unit"]) == ("Energy.Active.Import.Register", "Wh")
    action, stop = dialect.stop_transaction(1, tx, "TAG", 2000, NOW, 4)
    assert action == "StopTransaction"
    assert stop == {
        "transactionId": 77,
        "idTag": "TAG",
        "meterStop": 2000,
        "timestamp": iso(NOW),
        "reason": "Local",
    }


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ({}, "FormationViolation"),
        ({"transactionId": "77"}, "TypeConstraintViolation"),
        ({"transactionId": True}, "TypeConstraintViolation"),
    ],
)
def test_v16_transaction_id_malformed(reply: dict[str, Any], code: str) -> None:
    """A StartTransaction reply without an integer transactionId is a FrameError."""
    with pytest.raises(FrameError) as info:
        V16().transaction_id(reply, "local")
    assert info.value.code == code


def test_v201_transaction_events() -> None:
    """2.0.1 sessions: TransactionEvent Started (seqNo 0), Updated, Ended with the local id."""
    dialect = V201()
    assert dialect.transaction_id({}, "tx-1") == "tx-1"
    action, started = dialect.start_transaction(3, "TAG", 10, NOW, "tx-1")
    assert action == "TransactionEvent"
    assert started["eventType"] == "Started"
    assert started["seqNo"] == 0
    assert started["transactionInfo"]["transactionId"] == "tx-1"
    assert started["evse"] == {"id": 3, "connectorId": 1}
    assert started["idToken"] == {"idToken": "TAG", "type": "ISO14443"}
    sample = started["meterValue"][0]["sampledValue"][0]
    assert sample["value"] == 10
    assert sample["measurand"] == "Energy.Active.Import.Register"
    action, updated = dialect.meter_values(3, "tx-1", 20, NOW, 1)
    assert (action, updated["eventType"], updated["seqNo"]) == ("TransactionEvent", "Updated", 1)
    assert updated["transactionInfo"]["transactionId"] == "tx-1"
    action, ended = dialect.stop_transaction(3, "tx-1", "TAG", 30, NOW, 2)
    assert (action, ended["eventType"], ended["seqNo"]) == ("TransactionEvent", "Ended", 2)
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["meterValue"][0]["sampledValue"][0]["value"] == 30


def test_v201_long_local_id_is_cut_consistently() -> None:
    """A local id longer than 36 chars is cut the same way in payloads and transaction_id."""
    dialect = V201()
    local = "x" * 50
    tx = dialect.transaction_id({}, local)
    started = _valid(dialect, dialect.start_transaction(1, "T", 0, NOW, local))
    assert started["transactionInfo"]["transactionId"] == tx == "x" * 36


def test_v201_authorize() -> None:
    """2.0.1 Authorize sends an ISO14443 idToken."""
    assert V201().authorize("ABC") == (
        "Authorize",
        {"idToken": {"idToken": "ABC", "type": "ISO14443"}},
    )


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.version)
@pytest.mark.parametrize("status", ["Accepted", "Pending", "Rejected"])
def test_parse_boot_reply(dialect: Dialect, status: str) -> None:
    """A schema-valid BootNotification reply gives its status and interval."""
    payload = {"status": status, "currentTime": iso(NOW), "interval": 300}
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
        ({"status": "Accepted", "interval": None}, "TypeConstraintViolation"),
        ({"status": 1, "interval": 300}, "TypeConstraintViolation"),
        ({"status": "accepted", "interval": 300}, "PropertyConstraintViolation"),
        ({"status": "Accepted", "interval": -1}, "PropertyConstraintViolation"),
        ([], "FormatViolation"),
        (None, "FormatViolation"),
    ],
)
def test_parse_boot_reply_malformed(dialect: Dialect, payload: Any, code: str) -> None:
    """A malformed reply raises FrameError with the version's spelling of the code."""
    with pytest.raises(FrameError) as info:
        dialect.parse_boot_reply(payload)
    expected = (
        "FormationViolation" if code == "FormatViolation" and dialect.version == "1.6" else code
    )
    assert info.value.code == expected


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.version)
@given(
    payload=st.dictionaries(
        st.sampled_from(["status", "interval", "currentTime", "other"]),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    )
)
def test_parse_boot_reply_never_leaks(dialect: Dialect, payload: dict[str, Any]) -> None:
    """parse_boot_reply returns a BootReply or raises FrameError with a valid code only."""
    codes = ERROR_CODES_16 if dialect.version == "1.6" else ERROR_CODES_201
    try:
        reply = dialect.parse_boot_reply(payload)
    except FrameError as exc:
        assert exc.code in codes
    else:
        assert reply.status in ("Accepted", "Pending", "Rejected")
        assert type(reply.interval_s) is int


def test_schema_validation_catches_bad_payloads() -> None:
    """The schema check used above really rejects a wrong payload (guards the guard)."""
    with pytest.raises(SchemaViolation):
        validate("1.6", "StatusNotification", {"connectorId": 1}, response=False)
    with pytest.raises(SchemaViolation):
        validate("2.0.1", "Authorize", {"idToken": {"idToken": "x"}}, response=False)


def test_iso_timestamps() -> None:
    """iso writes UTC with milliseconds and Z, converting aware times and padding years."""
    assert iso(datetime(2026, 1, 2, 3, 4, 5, 678_901)) == "2026-01-02T03:04:05.678Z"
    plus_two = timezone(timedelta(hours=2))
    assert iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=plus_two)) == "2026-01-02T01:04:05.000Z"
    assert iso(datetime(999, 12, 31, 23, 59, 59, 999_999)) == "0999-12-31T23:59:59.999Z"
