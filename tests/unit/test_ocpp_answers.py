"""The dialects answering the server's calls, alone: which ChargePointTarget method each
action asks, the answers' schemas, and the CALLERROR codes of malformed calls."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.ocpp import Dialect
from loadgen.ocpp.framing import ERROR_CODES_16, CallError
from loadgen.ocpp.schemas import validate
from loadgen.ocpp.settings import BY_NAME, SETTINGS, Setting
from tests.unit.ocpp_target import (
    COMM,
    DIALECTS,
    HEARTBEAT,
    ID_TOKEN,
    V16_,
    V21_,
    V201_,
    Target,
    ask,
    entry,
)

# -- answering the server's calls -------------------------------------------------------------

#: (action, payload, the target call expected, the target's result, the answer expected)
CALLS_16: list[tuple[str, dict[str, Any], tuple[Any, ...] | None, Any, dict[str, Any]]] = [
    ("RemoteStartTransaction", {"idTag": "T"}, ("remote_start", None, "T", None), "Accepted",
     {"status": "Accepted"}),
    ("RemoteStartTransaction", {"idTag": "T", "connectorId": 2}, ("remote_start", 2, "T", None),
     "Rejected", {"status": "Rejected"}),
    ("RemoteStopTransaction", {"transactionId": 42}, ("remote_stop", "42"), "Accepted",
     {"status": "Accepted"}),
    ("Reset", {"type": "Hard"}, ("reset", "Hard", None), "Accepted", {"status": "Accepted"}),
    ("Reset", {"type": "Soft"}, ("reset", "Soft", None), "Scheduled", {"status": "Accepted"}),
    ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"},
     ("change_availability", 0, False), "Scheduled", {"status": "Scheduled"}),
    ("ChangeAvailability", {"connectorId": 2, "type": "Operative"},
     ("change_availability", 2, True), "Accepted", {"status": "Accepted"}),
    ("UnlockConnector", {"connectorId": 1}, ("unlock_connector", 1, True), "Unlocked",
     {"status": "Unlocked"}),
    ("UnlockConnector", {"connectorId": 9}, ("unlock_connector", 9, True), "Unknown",
     {"status": "NotSupported"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 0},
     ("trigger_message", "StatusNotification", 0), "Accepted", {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "MeterValues"},
     ("trigger_message", "MeterValues", None), "Rejected", {"status": "Rejected"}),
    ("ClearCache", {}, ("clear_cache",), "Accepted", {"status": "Accepted"}),
    ("DataTransfer", {"vendorId": "v", "messageId": "m", "data": "d"},
     ("data_transfer", "v", "m"), ("UnknownVendorId", None), {"status": "UnknownVendorId"}),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": " 300 "},
     ("write_setting", "heartbeat_interval_s", "300"), "Accepted", {"status": "Accepted"}),
    ("ChangeConfiguration", {"key": "StopTransactionOnInvalidId", "value": "FALSE"},
     ("write_setting", "stop_tx_on_invalid_id", "false"), "Accepted", {"status": "Accepted"}),
    ("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "3"}, None, None,
     {"status": "Rejected"}),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "-1"}, None, None,
     {"status": "Rejected"}),
    ("ChangeConfiguration", {"key": "NoSuchKey", "value": "1"}, None, None,
     {"status": "NotSupported"}),
]  # fmt: skip
CALLS_201: list[tuple[str, dict[str, Any], tuple[Any, ...] | None, Any, dict[str, Any]]] = [
    ("RequestStartTransaction", {"idToken": ID_TOKEN, "remoteStartId": 7},
     ("remote_start", None, "TAG1", 7), "Accepted", {"status": "Accepted"}),
    ("RequestStartTransaction", {"idToken": ID_TOKEN, "remoteStartId": 8, "evseId": 2},
     ("remote_start", 2, "TAG1", 8), "Rejected", {"status": "Rejected"}),
    ("RequestStopTransaction", {"transactionId": "tx-1"}, ("remote_stop", "tx-1"), "Accepted",
     {"status": "Accepted"}),
    ("GetTransactionStatus", {"transactionId": "tx-1"}, ("transaction_status", "tx-1"),
     (True, False), {"ongoingIndicator": True, "messagesInQueue": False}),
    ("GetTransactionStatus", {}, ("transaction_status", None), (None, True),
     {"messagesInQueue": True}),
    ("Reset", {"type": "Immediate"}, ("reset", "Immediate", None), "Accepted",
     {"status": "Accepted"}),
    ("Reset", {"type": "OnIdle", "evseId": 1}, ("reset", "OnIdle", 1), "Rejected",
     {"status": "Rejected"}),
    ("Reset", {"type": "OnIdle"}, ("reset", "OnIdle", None), "Scheduled", {"status": "Scheduled"}),
    ("ChangeAvailability", {"operationalStatus": "Inoperative"}, ("change_availability", 0, False),
     "Accepted", {"status": "Accepted"}),
    ("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 2, "connectorId": 1}},
     ("change_availability", 2, True), "Scheduled", {"status": "Scheduled"}),
    ("ChangeAvailability", {"operationalStatus": "Inoperative",
                            "evse": {"id": 1, "connectorId": 2}},
     None, None, {"status": "Rejected"}),
    ("UnlockConnector", {"evseId": 1, "connectorId": 1}, ("unlock_connector", 1, False), "Ongoing",
     {"status": "OngoingAuthorizedTransaction"}),
    ("UnlockConnector", {"evseId": 5, "connectorId": 1}, ("unlock_connector", 5, False), "Unknown",
     {"status": "UnknownConnector"}),
    ("UnlockConnector", {"evseId": 1, "connectorId": 2}, None, None,
     {"status": "UnknownConnector"}),
    ("TriggerMessage", {"requestedMessage": "TransactionEvent", "evse": {"id": 2}},
     ("trigger_message", "TransactionEvent", 2), "Accepted", {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification",
                        "evse": {"id": 1, "connectorId": 1}},
     ("trigger_message", "StatusNotification", 1), "Accepted", {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification",
                        "evse": {"id": 2, "connectorId": 3}},
     None, None, {"status": "Rejected"}),
    ("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}, None, None,
     {"status": "NotImplemented"}),
    ("ClearCache", {}, ("clear_cache",), "Rejected", {"status": "Rejected"}),
    ("GetBaseReport", {"requestId": 5, "reportBase": "FullInventory"},
     ("base_report", 5, "FullInventory"), "Accepted", {"status": "Accepted"}),
    ("DataTransfer", {"vendorId": "v"}, ("data_transfer", "v", None), ("Accepted", "x"),
     {"status": "Accepted", "data": "x"}),
]  # fmt: skip


#: A 2.1 default tariff: 0.25 per kWh with 21% VAT, a start fee, 0.05 a minute of idle time.
TARIFF = {
    "tariffId": "T-1",
    "currency": "EUR",
    "energy": {"prices": [{"priceKwh": 0.25}], "taxRates": [{"type": "VAT", "tax": 21}]},
    "fixedFee": {"prices": [{"priceFixed": 0.5}]},
    "idleTime": {"prices": [{"priceMinute": 0.05}]},
}
CALLS_21 = [
    ("SetDefaultTariff", {"evseId": 0, "tariff": TARIFF}, ("set_default_tariff", 0, "T-1"),
     "Accepted", {"status": "Accepted"}),
    ("SetDefaultTariff", {"evseId": 1, "tariff": {**TARIFF, "energy": {"prices": [
        {"priceKwh": 0.2, "conditions": {"startTimeOfDay": "08:00"}}]}}}, None, None,
     {"status": "ConditionNotSupported"}),
    ("GetTariffs", {"evseId": 0}, ("tariffs", 0), [], {"status": "NoTariff"}),
    ("ClearTariffs", {"tariffIds": ["T-1"]}, ("clear_tariffs", ["T-1"], None),
     [("T-1", "Accepted")], {"clearTariffsResult": [{"status": "Accepted", "tariffId": "T-1"}]}),
    ("ClearTariffs", {}, ("clear_tariffs", None, None), [(None, "NoTariff")],
     {"clearTariffsResult": [{"status": "NoTariff"}]}),
    ("ChangeTransactionTariff", {"transactionId": "1-x", "tariff": TARIFF},
     ("change_transaction_tariff", "1-x", "T-1"), "TxNotFound", {"status": "TxNotFound"}),
    ("NotifyAllowedEnergyTransfer", {"transactionId": "1-x", "allowedEnergyTransfer": ["DC_BPT"]},
     ("allow_energy_transfer", "1-x", ["DC_BPT"]), "Accepted", {"status": "Accepted"}),
    ("Reset", {"type": "ImmediateAndResume"}, None, None, {"status": "Rejected"}),
    ("GetLog", {"logType": "DataCollectorLog", "requestId": 3,
                "log": {"remoteLocation": "https://x.example/"}}, None, None,
     {"status": "Rejected"}),
    ("RequestStartTransaction", {"idToken": {"idToken": "V" * 200, "type": "EVCCID"},
                                 "remoteStartId": 9, "evseId": 1},
     ("remote_start", 1, "EVCCID\x1f" + "V" * 200, 9), "Accepted", {"status": "Accepted"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("dialect", "action", "payload", "expected_call", "result", "expected"),
    [(V16_, *case) for case in CALLS_16]
    + [(V201_, *case) for case in CALLS_201]
    + [(V21_, *case) for case in CALLS_201 + CALLS_21],
    ids=lambda v: v.version if isinstance(v, Dialect) else None,
)
def test_answer_asks_the_target(
    dialect: Dialect,
    action: str,
    payload: dict[str, Any],
    expected_call: tuple[Any, ...] | None,
    result: Any,
    expected: dict[str, Any],
) -> None:
    """Each server action calls the right target method with the right arguments and
    turns its neutral result into a schema-valid answer in the version's words."""
    validate(dialect.version, action, payload, response=False)
    target = Target()
    if expected_call is not None:
        target.results[expected_call[0]] = result
    assert ask(dialect, action, payload, target) == expected
    assert target.calls == ([expected_call] if expected_call else [])


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.version)
@pytest.mark.parametrize("action", ["PublishFirmware", "CostUpdated", "Nonsense", ""])
def test_unhandled_action_is_not_implemented_or_not_supported(
    dialect: Dialect, action: str
) -> None:
    """A call the dialect does not handle gets CALLERROR with its id: NotSupported when
    its version has the action (recognised, not supported), else NotImplemented (not
    known) (OCPP-J 1.6 section 4.2.3, 2.0.1 Part 4 section 4.3)."""
    target = Target()
    frame = ask(dialect, action, {}, target)
    known = action in ("PublishFirmware", "CostUpdated") and dialect.version != "1.6"
    assert isinstance(frame, CallError)
    assert frame.error_code == ("NotSupported" if known else "NotImplemented")
    assert target.calls == []


@pytest.mark.parametrize(("firmware_update", "code"), [("signed", "NotSupported"),
                                                       ("both", "NotSupported"),
                                                       ("legacy", "NotImplemented")])  # fmt: skip
def test_unhandled_whitepaper_call_16_depends_on_the_whitepaper(
    firmware_update: str, code: str
) -> None:
    """1.6: a security whitepaper call without a handler (CertificateSigned) is
    NotSupported on a charger of the whitepaper and NotImplemented (unknown) on one
    without it, as its SignedUpdateFirmware is."""
    target = Target(firmware_update=firmware_update)
    frame = ask(V16_, "CertificateSigned", {}, target)
    assert isinstance(frame, CallError) and frame.error_code == code


def test_get_configuration_with_and_without_keys() -> None:
    """1.6 GetConfiguration: every known key when none is asked, the asked ones in order
    otherwise, unknown (or unset) ones under unknownKey."""
    target = Target(settings={s.name: "5" for s in SETTINGS if s.name != "local_pre_authorize"})
    reply = ask(V16_, "GetConfiguration", {}, target)
    keys = {k["key"]: k for k in reply["configurationKey"]}
    assert keys["HeartbeatInterval"] == {
        "key": "HeartbeatInterval",
        "readonly": False,
        "value": "5",
    }
    assert keys["NumberOfConnectors"]["readonly"] is True
    assert reply["unknownKey"] == ["LocalPreAuthorize"]
    assert ask(V16_, "GetConfiguration", {"key": []}, target) == reply
    asked = ask(
        V16_, "GetConfiguration", {"key": ["MeterValueSampleInterval", "Nope", "X" * 50]}, target
    )
    assert [k["key"] for k in asked["configurationKey"]] == ["MeterValueSampleInterval"]
    assert asked["unknownKey"] == ["Nope", "X" * 50]
    assert target.calls == []


def test_get_variables() -> None:
    """2.0.1 GetVariables: each entry answered on its own, instances matter, and an
    attributeType other than Actual is NotSupportedAttributeType."""
    target = Target(
        settings={
            "heartbeat_interval_s": "45",
            "message_timeout_s": "30",
            "tx_message_attempts": "3",
        }
    )
    data = [
        entry(COMM, HEARTBEAT),
        entry(COMM, {"name": "MessageTimeout", "instance": "Default"}),
        entry(COMM, {"name": "MessageTimeout"}),
        entry(
            COMM,
            {"name": "MessageAttempts", "instance": "TransactionEvent"},
            attributeType="Actual",
        ),
        entry(COMM, HEARTBEAT, attributeType="Target"),
        entry(COMM, {"name": "NoSuchVariable"}),
        entry({"name": "NoSuchCtrlr"}, HEARTBEAT),
        entry({"name": "AuthCtrlr"}, {"name": "AuthorizeRemoteStart"}),
        entry(
            {"name": "EVSE", "evse": {"id": 1, "connectorId": 1}},
            {"name": "Power", "instance": "x"},
        ),
    ]
    results = ask(V201_, "GetVariables", {"getVariableData": data}, target)["getVariableResult"]
    assert [(r["attributeStatus"], r.get("attributeValue")) for r in results] == [
        ("Accepted", "45"),
        ("Accepted", "30"),
        ("UnknownVariable", None),
        ("Accepted", "3"),
        ("NotSupportedAttributeType", None),
        ("UnknownVariable", None),
        ("UnknownComponent", None),
        ("UnknownVariable", None),  # not set on this target
        ("UnknownComponent", None),
    ]
    assert results[1]["variable"] == {"name": "MessageTimeout", "instance": "Default"}
    assert results[3]["attributeType"] == "Actual" and results[4]["attributeType"] == "Target"
    assert results[8]["component"]["evse"] == {"id": 1, "connectorId": 1}


def test_get_variables_of_the_charging_infrastructure() -> None:
    """2.0.1 GetVariables: ChargingStation is on no EVSE, EVSE on its EVSE's tier and
    Connector on connector 1 of one (Part 2 2.13.1); an AvailabilityState is the status as a
    StatusNotification names it; another tier, an EVSE the station lacks or another
    connector is UnknownComponent, and so is a controller named with an EVSE."""
    target = Target(
        evse_settings={
            (2, "evse_availability_state"): "SuspendedEV",
            (2, "connector_availability_state"): "SuspendedEV",
            (2, "evse_power_w"): "7400",
        }
    )
    station, power = {"name": "ChargingStation"}, {"name": "Power"}
    data = [
        entry(station, {"name": "AvailabilityState"}),
        entry({"name": "EVSE", "evse": {"id": 2}}, {"name": "AvailabilityState"}),
        entry({"name": "Connector", "evse": {"id": 2, "connectorId": 1}}, {"name": "Available"}),
        entry(
            {"name": "Connector", "evse": {"id": 2, "connectorId": 1}},
            {"name": "AvailabilityState"},
        ),
        entry({"name": "EVSE", "evse": {"id": 2}}, power),
        entry({"name": "EVSE", "evse": {"id": 1}}, {"name": "ConnectorType"}),
        entry({"name": "EVSE", "evse": {"id": 3}}, power),
        entry({"name": "EVSE", "evse": {"id": 0}}, power),
        entry({"name": "EVSE"}, power),
        entry({"name": "EVSE", "evse": {"id": 1, "connectorId": 1}}, power),
        entry({"name": "Connector", "evse": {"id": 1}}, {"name": "ConnectorType"}),
        entry({"name": "Connector", "evse": {"id": 1, "connectorId": 2}}, {"name": "Available"}),
        entry({"name": "ChargingStation", "evse": {"id": 1}}, {"name": "Available"}),
        entry({"name": "OCPPCommCtrlr", "evse": {"id": 1}}, HEARTBEAT),
    ]
    results = ask(V201_, "GetVariables", {"getVariableData": data}, target)["getVariableResult"]
    assert [(r["attributeStatus"], r.get("attributeValue")) for r in results] == [
        ("Accepted", "Available"),
        ("Accepted", "Occupied"),
        ("Accepted", "1"),
        ("Accepted", "Occupied"),
        ("Accepted", "7400"),
        ("UnknownVariable", None),
        *[("UnknownComponent", None)] * 8,
    ]
    assert results[3]["component"] == {"name": "Connector", "evse": {"id": 2, "connectorId": 1}}
    written = [
        entry({"name": "EVSE", "evse": {"id": 1}}, power, attributeValue="1"),
        entry({"name": "EVSE", "evse": {"id": 5}}, power, attributeValue="1"),
    ]
    results = ask(V201_, "SetVariables", {"setVariableData": written}, target)["setVariableResult"]
    assert [r["attributeStatus"] for r in results] == ["Rejected", "UnknownComponent"]
    assert target.calls == []


def test_set_variables() -> None:
    """2.0.1 SetVariables: known writable variables go to the target normalised; read-only,
    badly typed, unknown and non-Actual ones are answered without writing."""
    target = Target()
    data = [
        entry(COMM, HEARTBEAT, attributeValue="300"),
        entry(
            COMM, {"name": "MessageAttempts", "instance": "TransactionEvent"}, attributeValue="4"
        ),
        entry({"name": "AuthCtrlr"}, {"name": "AuthorizeRemoteStart"}, attributeValue="True"),
        entry(COMM, {"name": "FileTransferProtocols"}, attributeValue="FTP"),
        entry(COMM, HEARTBEAT, attributeValue="soon"),
        entry(COMM, HEARTBEAT, attributeValue="5", attributeType="MaxSet"),
        entry(COMM, {"name": "NoSuchVariable"}, attributeValue="1"),
        entry({"name": "NoSuchCtrlr"}, HEARTBEAT, attributeValue="1"),
    ]
    results = ask(V201_, "SetVariables", {"setVariableData": data}, target)["setVariableResult"]
    assert [r["attributeStatus"] for r in results] == [
        "Accepted",
        "Accepted",
        "Accepted",
        "Rejected",
        "Rejected",
        "NotSupportedAttributeType",
        "UnknownVariable",
        "UnknownComponent",
    ]
    assert target.calls == [
        ("write_setting", "heartbeat_interval_s", "300"),
        ("write_setting", "tx_message_attempts", "4"),
        ("write_setting", "authorize_remote_start", "true"),
    ]


def test_variable_results_without_attribute_type_say_actual() -> None:
    """2.0.1 Get/SetVariables: the result of an entry without attributeType carries
    attributeType Actual, whatever its status (B06.FR.11, B05.FR.12); one with an
    attributeType carries that one (B06.FR.03, B05.FR.03)."""
    target = Target()
    for action, key, value in (
        ("GetVariables", "getVariableData", {}),
        ("SetVariables", "setVariableData", {"attributeValue": "30"}),
    ):
        data = [
            entry(COMM, HEARTBEAT, **value),
            entry(COMM, {"name": "NoSuchVariable"}, **value),
            entry({"name": "NoSuchCtrlr"}, HEARTBEAT, **value),
            entry(COMM, HEARTBEAT, attributeType="MinSet", **value),
        ]
        answer = ask(V201_, action, {key: data}, target)
        results = answer["getVariableResult" if action == "GetVariables" else "setVariableResult"]
        assert [r["attributeStatus"] for r in results] == [
            "Accepted",
            "UnknownVariable",
            "UnknownComponent",
            "NotSupportedAttributeType",
        ]
        assert [r["attributeType"] for r in results] == ["Actual"] * 3 + ["MinSet"]


def test_variables_of_an_unknown_component_instance() -> None:
    """2.0.1 Get/SetVariables: a controller named with an instance or an EVSE it does not
    have is UnknownComponent, read and written nowhere (B06.FR.06/14/15, B05.FR.04); an
    empty instance is no instance (B06.FR.15)."""
    target = Target(settings={"heartbeat_interval_s": "60"})
    components = [{**COMM, "instance": "bogus"}, {**COMM, "evse": {"id": 7}}]
    components.append({**COMM, "evse": {"id": 1, "connectorId": 1}})
    data = [entry(component, HEARTBEAT) for component in components]
    data.append(entry(COMM, {**HEARTBEAT, "instance": ""}))
    results = ask(V201_, "GetVariables", {"getVariableData": data}, target)["getVariableResult"]
    assert [(r["attributeStatus"], r.get("attributeValue")) for r in results] == [
        ("UnknownComponent", None),
        ("UnknownComponent", None),
        ("UnknownComponent", None),
        ("Accepted", "60"),
    ]
    assert [r["component"] for r in results[:3]] == components
    data = [entry(component, HEARTBEAT, attributeValue="5") for component in components]
    results = ask(V201_, "SetVariables", {"setVariableData": data}, target)["setVariableResult"]
    assert [r["attributeStatus"] for r in results] == ["UnknownComponent"] * 3
    assert target.calls == []


def test_a_settings_values_bound_what_it_takes() -> None:
    """A setting with the values the station supports takes a list of them (one of them,
    for a setting that is not a list) and nothing else (B05.FR.07)."""
    members = Setting("m", "csv", values=("A", "B"))
    assert members.parse(" B , A ") == "B,A" and members.parse("") == ""
    assert members.parse("A,C") is None
    option = Setting("o", "str", values=("Once",))
    assert option.parse("Once") == "Once"
    assert option.parse("Once,Once") is None and option.parse("") is None


def test_set_variables_of_a_list_takes_only_supported_members() -> None:
    """2.0.1 SetVariables of a list variable with a member the station does not support
    is Rejected, unwritten (B05.FR.07); its supported members are Accepted."""
    target = Target()
    priority = {"name": "NetworkConfigurationPriority"}
    data = [
        entry(COMM, priority, attributeValue="7,8"),
        entry(COMM, priority, attributeValue="0"),
    ]
    results = ask(V201_, "SetVariables", {"setVariableData": data}, target)["setVariableResult"]
    assert [r["attributeStatus"] for r in results] == ["Rejected", "Accepted"]
    assert target.calls == [("write_setting", "network_configuration_priority", "0")]


def test_every_setting_has_a_name_in_a_version() -> None:
    """Each setting is reachable as a 1.6 key or a 2.0.1 variable, and names are unique."""
    assert len(BY_NAME) == len(SETTINGS)
    for setting in SETTINGS:
        assert setting.key16 or (setting.component and setting.variable), setting.name


# -- malformed calls ----------------------------------------------------------------------------

MALFORMED_16 = [
    ("ChangeConfiguration", {}, "FormationViolation"),
    ("ChangeConfiguration", {"key": "HeartbeatInterval"}, "FormationViolation"),
    ("ChangeConfiguration", {"key": 1, "value": "1"}, "TypeConstraintViolation"),
    ("ChangeConfiguration", {"key": "K" * 51, "value": "1"}, "PropertyConstraintViolation"),
    ("GetConfiguration", {"key": "HeartbeatInterval"}, "TypeConstraintViolation"),
    ("GetConfiguration", {"key": [1]}, "TypeConstraintViolation"),
    ("TriggerMessage", {}, "FormationViolation"),
    (
        "TriggerMessage",
        {"requestedMessage": "Heartbeat", "connectorId": "1"},
        "TypeConstraintViolation",
    ),
    ("Reset", {"type": "Medium"}, "PropertyConstraintViolation"),
    ("Reset", {"type": "Immediate"}, "PropertyConstraintViolation"),
    ("RemoteStartTransaction", {"connectorId": 1}, "FormationViolation"),
    ("RemoteStartTransaction", {"idTag": "T", "connectorId": True}, "TypeConstraintViolation"),
    ("RemoteStartTransaction", {"idTag": "T" * 21}, "PropertyConstraintViolation"),
    ("RemoteStopTransaction", {"transactionId": "42"}, "TypeConstraintViolation"),
    ("ChangeAvailability", {"connectorId": 1}, "FormationViolation"),
    ("ChangeAvailability", {"connectorId": 1, "type": "Off"}, "PropertyConstraintViolation"),
    ("UnlockConnector", {"connectorId": 1.0}, "TypeConstraintViolation"),
    ("DataTransfer", {"data": "x"}, "FormationViolation"),
]
MALFORMED_201 = [
    ("GetVariables", {}, "FormatViolation"),
    ("GetVariables", {"getVariableData": []}, "OccurrenceConstraintViolation"),
    ("GetVariables", {"getVariableData": [1]}, "FormatViolation"),
    ("GetVariables", {"getVariableData": [{"component": COMM}]}, "FormatViolation"),
    ("GetVariables", {"getVariableData": [{"component": "x", "variable": HEARTBEAT}]},
     "TypeConstraintViolation"),
    ("GetVariables", {"getVariableData": [entry(COMM, HEARTBEAT, attributeType="Now")]},
     "PropertyConstraintViolation"),
    ("SetVariables", {"setVariableData": [entry(COMM, HEARTBEAT)]}, "FormatViolation"),
    ("SetVariables", {"setVariableData": {"a": 1}}, "TypeConstraintViolation"),
    ("TriggerMessage", {"requestedMessage": "Heartbeat", "evse": {}}, "FormatViolation"),
    ("Reset", {"type": "Hard"}, "PropertyConstraintViolation"),
    ("RequestStartTransaction", {"idToken": ID_TOKEN}, "FormatViolation"),
    ("RequestStartTransaction", {"idToken": "TAG", "remoteStartId": 1}, "TypeConstraintViolation"),
    ("RequestStartTransaction", {"idToken": {"idToken": "T", "type": "RFID"}, "remoteStartId": 1},
     "PropertyConstraintViolation"),
    ("RequestStopTransaction", {"transactionId": 42}, "TypeConstraintViolation"),
    ("RequestStopTransaction", {"transactionId": "x" * 37}, "PropertyConstraintViolation"),
    ("UnlockConnector", {"evseId": 1}, "FormatViolation"),
    ("GetBaseReport", {"requestId": 1}, "FormatViolation"),
    ("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": "1"}},
     "TypeConstraintViolation"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("dialect", "action", "payload", "code"),
    [(V16_, *case) for case in MALFORMED_16] + [(V201_, *case) for case in MALFORMED_201],
    ids=lambda v: v.version if isinstance(v, Dialect) else None,
)
def test_malformed_calls_get_the_versions_code(
    dialect: Dialect, action: str, payload: Any, code: str
) -> None:
    """A call missing a field, with a wrong type or an unknown enum value gets CALLERROR
    with the version's code (1.6 FormationViolation), and the target is not asked."""
    target = Target()
    frame = ask(dialect, action, payload, target)
    assert isinstance(frame, CallError)
    assert (frame.unique_id, frame.error_code) == ("srv-1", code) and frame.error_description
    assert [c for c in target.calls if c[0] != "write_setting"] == []


def test_occurrence_spelling_16() -> None:
    """1.6 spells OccurenceConstraintViolation with one r (OCPP-J 1.6 errata 5.1)."""
    from loadgen.ocpp.fields import SPELLING_16

    assert SPELLING_16["OccurrenceConstraintViolation"] == "OccurenceConstraintViolation"
    assert "OccurenceConstraintViolation" in ERROR_CODES_16


FIELDS = [
    "key", "value", "requestedMessage", "connectorId", "type", "idTag", "transactionId",
    "vendorId", "getVariableData", "setVariableData", "component", "variable", "evse",
    "evseId", "idToken", "remoteStartId", "operationalStatus", "requestId", "reportBase",
    "attributeValue", "attributeType", "name", "id", "instance",
]  # fmt: skip
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.sampled_from(
        ["", "Accepted", "Hard", "Immediate", "HeartbeatInterval", "OCPPCommCtrlr", "x" * 60]
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS), children, max_size=4)
    ),
    max_leaves=12,
)
VALID = {
    "1.6": [(a, p) for a, p, *_ in CALLS_16]
    + [("GetConfiguration", {"key": ["HeartbeatInterval"]})],
    "2.0.1": [(a, p) for a, p, *_ in CALLS_201]
    + [
        ("GetVariables", {"getVariableData": [entry({**COMM, "evse": {"id": 1}}, HEARTBEAT)]}),
        ("SetVariables", {"setVariableData": [entry(COMM, HEARTBEAT, attributeValue="9")]}),
    ],
}
VALID["2.1"] = VALID["2.0.1"] + [(a, p) for a, p, *_ in CALLS_21]


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) inside a payload."""
    pairs: list[tuple[Any, Any]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in list(items):
        pairs.append((value, key))
        if isinstance(child, dict | list):
            pairs.extend(_slots(child))
    return pairs


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.version)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_mutated_calls_never_raise(dialect: Dialect, data: st.DataObject) -> None:
    """Valid calls with fields replaced, deleted or added get a schema-valid result or a
    CALLERROR with one of the version's codes, never an exception."""
    action, payload = data.draw(st.sampled_from(VALID[dialect.version]))
    payload = copy.deepcopy(payload)
    for _ in range(data.draw(st.integers(1, 3))):
        slots = _slots(payload)
        op = data.draw(st.sampled_from(["replace", "delete", "add"] if slots else ["add"]))
        if op == "add":
            dicts = [payload, *(c[k] for c, k in slots if isinstance(c[k], dict))]
            data.draw(st.sampled_from(dicts))[data.draw(st.sampled_from(FIELDS))] = data.draw(
                json_values
            )
        else:
            container, key = data.draw(st.sampled_from(slots))
            if op == "delete":
                del container[key]
            else:
                container[key] = data.draw(json_values)
    ask(dialect, action, payload)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.version)
@settings(max_examples=150, deadline=None)
@given(
    action=st.sampled_from(sorted({a for v in VALID.values() for a, _ in v} | {"Unknown"})),
    payload=json_values,
)
def test_arbitrary_calls_never_raise(dialect: Dialect, action: str, payload: Any) -> None:
    """Any JSON value as the payload of any action gets a valid result or a CALLERROR."""
    ask(dialect, action, payload)
