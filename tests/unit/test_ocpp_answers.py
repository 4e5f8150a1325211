"""Tests of how each dialect answers the server's calls: schemas, state effects, errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadgen.ocpp.dialect import Answer, Dialect, StationState
from loadgen.ocpp.framing import ERROR_CODES_16, ERROR_CODES_201, Call, CallError, CallResult
from loadgen.ocpp.schemas import validate
from loadgen.ocpp.v16 import V16
from loadgen.ocpp.v201 import V201

V16_ = V16()
V201_ = V201()
COMM = {"name": "OCPPCommCtrlr"}
HEARTBEAT = {"name": "HeartbeatInterval"}
ID_TOKEN = {"idToken": "TAG1", "type": "ISO14443"}


def _state(**kwargs: Any) -> StationState:
    """A two-connector station with one 1.6-style and one 2.0.1-style configuration entry."""
    defaults: dict[str, Any] = {
        "connectors": 2,
        "configuration": {
            "MeterValueSampleInterval": "60",
            "SampledDataCtrlr.TxUpdatedInterval": "30",
        },
    }
    return StationState("cp-1", **(defaults | kwargs))


def ask(dialect: Dialect, action: str, payload: dict[str, Any], state: StationState) -> Answer:
    """Answer a schema-valid server call, checking that a CallResult is schema-valid too."""
    validate(dialect.version, action, payload, response=False)
    answer = dialect.answer(Call("srv-1", action, payload), state)
    assert answer.frame.unique_id == "srv-1"
    if isinstance(answer.frame, CallResult):
        validate(dialect.version, action, answer.frame.payload, response=True)
    return answer


def result(dialect: Dialect, action: str, payload: dict[str, Any], state: StationState) -> Any:
    """The CallResult payload of a valid server call (fails if it was a CallError)."""
    answer = ask(dialect, action, payload, state)
    assert isinstance(answer.frame, CallResult), answer.frame
    return answer.frame.payload


def status(dialect: Dialect, action: str, payload: dict[str, Any], state: StationState) -> str:
    """The ``status`` of the answer to a valid server call."""
    return result(dialect, action, payload, state)["status"]


# -- 1.6 ------------------------------------------------------------------------------


def test_v16_get_configuration_all_keys() -> None:
    """GetConfiguration without keys lists stored keys, HeartbeatInterval, NumberOfConnectors."""
    state = _state(heartbeat_interval_s=90.0)
    reply = result(V16_, "GetConfiguration", {}, state)
    keys = {entry["key"]: entry for entry in reply["configurationKey"]}
    assert keys["HeartbeatInterval"] == {
        "key": "HeartbeatInterval",
        "readonly": False,
        "value": "90",
    }
    assert keys["NumberOfConnectors"] == {
        "key": "NumberOfConnectors",
        "readonly": True,
        "value": "2",
    }
    assert keys["MeterValueSampleInterval"]["value"] == "60"
    assert "unknownKey" not in reply
    assert result(V16_, "GetConfiguration", {"key": []}, state) == reply


def test_v16_get_configuration_unknown_keys() -> None:
    """Requested keys are reported in order; keys the station lacks go to unknownKey."""
    reply = result(
        V16_, "GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey", "X" * 50]}, _state()
    )
    assert [entry["key"] for entry in reply["configurationKey"]] == ["HeartbeatInterval"]
    assert reply["unknownKey"] == ["NoSuchKey", "X" * 50]


def test_v16_change_configuration_heartbeat() -> None:
    """ChangeConfiguration HeartbeatInterval is Accepted and updates the station state."""
    state = _state()
    payload = {"key": "HeartbeatInterval", "value": "300"}
    assert status(V16_, "ChangeConfiguration", payload, state) == "Accepted"
    assert state.heartbeat_interval_s == 300.0
    reply = result(V16_, "GetConfiguration", {"key": ["HeartbeatInterval"]}, state)
    assert reply["configurationKey"][0]["value"] == "300"


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5", "", "9" * 20])
def test_v16_change_configuration_bad_heartbeat(value: str) -> None:
    """A HeartbeatInterval that is not a positive whole number is Rejected, state untouched."""
    state = _state()
    payload = {"key": "HeartbeatInterval", "value": value}
    assert status(V16_, "ChangeConfiguration", payload, state) == "Rejected"
    assert state.heartbeat_interval_s == 60.0


def test_v16_change_configuration_other_keys() -> None:
    """Known keys are Accepted and stored, read-only ones Rejected, unknown NotSupported."""
    state = _state()
    known = {"key": "MeterValueSampleInterval", "value": "15"}
    assert status(V16_, "ChangeConfiguration", known, state) == "Accepted"
    assert state.configuration["MeterValueSampleInterval"] == "15"
    read_only = {"key": "NumberOfConnectors", "value": "5"}
    assert status(V16_, "ChangeConfiguration", read_only, state) == "Rejected"
    unknown = {"key": "NoSuchKey", "value": "1"}
    assert status(V16_, "ChangeConfiguration", unknown, state) == "NotSupported"
    assert "NoSuchKey" not in state.configuration


@pytest.mark.parametrize(
    "message", ["BootNotification", "Heartbeat", "StatusNotification", "MeterValues"]
)
def test_v16_trigger_message(message: str) -> None:
    """TriggerMessage for a supported message is Accepted and asks to send it next."""
    answer = ask(V16_, "TriggerMessage", {"requestedMessage": message, "connectorId": 1}, _state())
    assert isinstance(answer.frame, CallResult)
    assert answer.frame.payload == {"status": "Accepted"}
    assert answer.then == (message,)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"requestedMessage": "DiagnosticsStatusNotification"}, "NotImplemented"),
        ({"requestedMessage": "FirmwareStatusNotification"}, "NotImplemented"),
        ({"requestedMessage": "Heartbeat", "connectorId": 3}, "Rejected"),
        ({"requestedMessage": "StatusNotification", "connectorId": 0}, "Accepted"),
    ],
)
def test_v16_trigger_message_other(payload: dict[str, Any], expected: str) -> None:
    """Unsupported messages are NotImplemented and unknown connectors Rejected."""
    answer = ask(V16_, "TriggerMessage", payload, _state())
    assert isinstance(answer.frame, CallResult)
    assert answer.frame.payload["status"] == expected
    assert bool(answer.then) == (expected == "Accepted")


@pytest.mark.parametrize("kind", ["Hard", "Soft"])
def test_v16_reset(kind: str) -> None:
    """Reset of either kind is Accepted."""
    assert status(V16_, "Reset", {"type": kind}, _state()) == "Accepted"


def test_v16_remote_start() -> None:
    """RemoteStartTransaction is Accepted and queues the connector (1 by default)."""
    state = _state()
    assert status(V16_, "RemoteStartTransaction", {"idTag": "T"}, state) == "Accepted"
    payload = {"idTag": "T", "connectorId": 2}
    assert status(V16_, "RemoteStartTransaction", payload, state) == "Accepted"
    assert state.start_requests == [1, 2]


@pytest.mark.parametrize("connector_id", [0, 3, -1])
def test_v16_remote_start_out_of_range(connector_id: int) -> None:
    """RemoteStartTransaction on a connector the station lacks is Rejected."""
    state = _state()
    payload = {"idTag": "T", "connectorId": connector_id}
    assert status(V16_, "RemoteStartTransaction", payload, state) == "Rejected"
    assert state.start_requests == []


def test_v16_remote_start_busy_connector() -> None:
    """RemoteStartTransaction on a connector with a session running is Rejected."""
    state = _state(transactions={1: "42"})
    assert status(V16_, "RemoteStartTransaction", {"idTag": "T"}, state) == "Rejected"
    assert state.start_requests == []


def test_v16_remote_stop() -> None:
    """RemoteStopTransaction of a running session is Accepted and queued, others Rejected."""
    state = _state(transactions={2: "42"})
    assert status(V16_, "RemoteStopTransaction", {"transactionId": 42}, state) == "Accepted"
    assert status(V16_, "RemoteStopTransaction", {"transactionId": 43}, state) == "Rejected"
    assert state.stop_requests == ["42"]


@pytest.mark.parametrize(
    ("connector_id", "expected"), [(0, "Accepted"), (2, "Accepted"), (3, "Rejected")]
)
def test_v16_change_availability(connector_id: int, expected: str) -> None:
    """ChangeAvailability is Accepted for the station or one of its connectors."""
    payload = {"connectorId": connector_id, "type": "Inoperative"}
    assert status(V16_, "ChangeAvailability", payload, _state()) == expected


@pytest.mark.parametrize(
    ("connector_id", "expected"), [(1, "Unlocked"), (0, "NotSupported"), (9, "NotSupported")]
)
def test_v16_unlock_connector(connector_id: int, expected: str) -> None:
    """UnlockConnector unlocks existing connectors and is NotSupported for others."""
    assert status(V16_, "UnlockConnector", {"connectorId": connector_id}, _state()) == expected


def test_v16_clear_cache_and_data_transfer() -> None:
    """ClearCache is Accepted; DataTransfer answers UnknownVendorId."""
    assert status(V16_, "ClearCache", {}, _state()) == "Accepted"
    payload = {"vendorId": "com.example", "messageId": "m", "data": "x"}
    assert status(V16_, "DataTransfer", payload, _state()) == "UnknownVendorId"


# -- 2.0.1 ----------------------------------------------------------------------------


def _get(component: dict[str, Any], variable: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"component": component, "variable": variable, **extra}


def test_v201_get_variables() -> None:
    """GetVariables answers each entry: known Accepted with value, unknown ones flagged."""
    state = _state(heartbeat_interval_s=45.0)
    data = [
        _get(COMM, HEARTBEAT),
        _get(COMM, {"name": "NoSuchVariable"}),
        _get({"name": "NoSuchCtrlr"}, HEARTBEAT),
        _get(COMM, HEARTBEAT, attributeType="Target"),
        _get({"name": "SampledDataCtrlr"}, {"name": "TxUpdatedInterval"}, attributeType="Actual"),
        _get(
            {"name": "EVSE", "evse": {"id": 1, "connectorId": 1}},
            {"name": "Power", "instance": "x"},
        ),
    ]
    results = result(V201_, "GetVariables", {"getVariableData": data}, state)["getVariableResult"]
    assert [r["attributeStatus"] for r in results] == [
        "Accepted",
        "UnknownVariable",
        "UnknownComponent",
        "NotSupportedAttributeType",
        "Accepted",
        "UnknownComponent",
    ]
    assert results[0]["attributeValue"] == "45"
    assert results[0]["component"] == COMM and results[0]["variable"] == HEARTBEAT
    assert results[3]["attributeType"] == "Target"
    assert results[4]["attributeValue"] == "30"
    assert results[5]["component"]["evse"] == {"id": 1, "connectorId": 1}
    assert results[5]["variable"] == {"name": "Power", "instance": "x"}


def test_v201_set_variables() -> None:
    """SetVariables HeartbeatInterval is Accepted and updates state; unknown ones flagged."""
    state = _state()
    data = [
        {**_get(COMM, HEARTBEAT), "attributeValue": "300"},
        {**_get(COMM, {"name": "NoSuchVariable"}), "attributeValue": "1"},
        {**_get({"name": "NoSuchCtrlr"}, HEARTBEAT), "attributeValue": "1"},
        {
            **_get({"name": "SampledDataCtrlr"}, {"name": "TxUpdatedInterval"}),
            "attributeValue": "5",
        },
    ]
    results = result(V201_, "SetVariables", {"setVariableData": data}, state)["setVariableResult"]
    assert [r["attributeStatus"] for r in results] == [
        "Accepted",
        "UnknownVariable",
        "UnknownComponent",
        "Accepted",
    ]
    assert state.heartbeat_interval_s == 300.0
    assert state.configuration["SampledDataCtrlr.TxUpdatedInterval"] == "5"


def test_v201_set_variables_bad_heartbeat() -> None:
    """A HeartbeatInterval that is not a positive whole number is Rejected, state untouched."""
    state = _state()
    data = [{**_get(COMM, HEARTBEAT), "attributeValue": "soon"}]
    results = result(V201_, "SetVariables", {"setVariableData": data}, state)["setVariableResult"]
    assert results[0]["attributeStatus"] == "Rejected"
    assert state.heartbeat_interval_s == 60.0


@pytest.mark.parametrize(
    "message", ["BootNotification", "Heartbeat", "StatusNotification", "MeterValues"]
)
def test_v201_trigger_message(message: str) -> None:
    """TriggerMessage for a supported message is Accepted and asks to send it next."""
    payload = {"requestedMessage": message, "evse": {"id": 2}}
    answer = ask(V201_, "TriggerMessage", payload, _state())
    assert isinstance(answer.frame, CallResult)
    assert answer.frame.payload == {"status": "Accepted"}
    assert answer.then == (message,)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"requestedMessage": "LogStatusNotification"}, "NotImplemented"),
        ({"requestedMessage": "TransactionEvent"}, "NotImplemented"),
        ({"requestedMessage": "SignChargingStationCertificate"}, "NotImplemented"),
        ({"requestedMessage": "Heartbeat", "evse": {"id": 7}}, "Rejected"),
    ],
)
def test_v201_trigger_message_other(payload: dict[str, Any], expected: str) -> None:
    """Unsupported messages are NotImplemented and unknown EVSEs Rejected."""
    answer = ask(V201_, "TriggerMessage", payload, _state())
    assert isinstance(answer.frame, CallResult)
    assert answer.frame.payload["status"] == expected
    assert answer.then == ()


@pytest.mark.parametrize("payload", [{"type": "Immediate"}, {"type": "OnIdle", "evseId": 1}])
def test_v201_reset(payload: dict[str, Any]) -> None:
    """Reset is Accepted."""
    assert status(V201_, "Reset", payload, _state()) == "Accepted"


def test_v201_request_start() -> None:
    """RequestStartTransaction is Accepted and queues the EVSE (1 by default)."""
    state = _state()
    payload = {"idToken": ID_TOKEN, "remoteStartId": 7}
    assert status(V201_, "RequestStartTransaction", payload, state) == "Accepted"
    payload = {"idToken": ID_TOKEN, "remoteStartId": 8, "evseId": 2}
    assert status(V201_, "RequestStartTransaction", payload, state) == "Accepted"
    assert state.start_requests == [1, 2]


@pytest.mark.parametrize(("evse_id", "transactions"), [(1, {1: "tx-1"}), (3, {}), (0, {})])
def test_v201_request_start_rejected(evse_id: int, transactions: dict[int, str]) -> None:
    """RequestStartTransaction on a busy or missing EVSE is Rejected and queues nothing."""
    state = _state(transactions=transactions)
    payload = {"idToken": ID_TOKEN, "remoteStartId": 7, "evseId": evse_id}
    assert status(V201_, "RequestStartTransaction", payload, state) == "Rejected"
    assert state.start_requests == []


def test_v201_request_stop() -> None:
    """RequestStopTransaction of a running session is Accepted and queued, others Rejected."""
    state = _state(transactions={1: "tx-1"})
    assert status(V201_, "RequestStopTransaction", {"transactionId": "tx-1"}, state) == "Accepted"
    assert status(V201_, "RequestStopTransaction", {"transactionId": "tx-2"}, state) == "Rejected"
    assert state.stop_requests == ["tx-1"]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"operationalStatus": "Inoperative"}, "Accepted"),
        ({"operationalStatus": "Operative", "evse": {"id": 2, "connectorId": 1}}, "Accepted"),
        ({"operationalStatus": "Operative", "evse": {"id": 5}}, "Rejected"),
    ],
)
def test_v201_change_availability(payload: dict[str, Any], expected: str) -> None:
    """ChangeAvailability is Accepted for the station or one of its EVSEs."""
    assert status(V201_, "ChangeAvailability", payload, _state()) == expected


@pytest.mark.parametrize(
    ("evse_id", "connector_id", "expected"),
    [
        (1, 1, "Unlocked"),
        (3, 1, "UnknownConnector"),
        (1, 2, "UnknownConnector"),
        (2, 1, "OngoingAuthorizedTransaction"),
    ],
)
def test_v201_unlock_connector(evse_id: int, connector_id: int, expected: str) -> None:
    """UnlockConnector unlocks idle connectors, flags unknown or busy ones."""
    state = _state(transactions={2: "tx-2"})
    payload = {"evseId": evse_id, "connectorId": connector_id}
    assert status(V201_, "UnlockConnector", payload, state) == expected


def test_v201_clear_cache_and_base_report() -> None:
    """ClearCache is Accepted; GetBaseReport is Accepted and asks for a NotifyReport."""
    assert status(V201_, "ClearCache", {}, _state()) == "Accepted"
    answer = ask(V201_, "GetBaseReport", {"requestId": 5, "reportBase": "FullInventory"}, _state())
    assert isinstance(answer.frame, CallResult)
    assert answer.frame.payload == {"status": "Accepted"}
    assert answer.then == ("NotifyReport",)


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [V16_, V201_], ids=lambda d: d.version)
@pytest.mark.parametrize("action", ["SetChargingProfile", "ReserveNow", "Nonsense", ""])
def test_unknown_action_not_implemented(dialect: Dialect, action: str) -> None:
    """A call the dialect does not handle gets CALLERROR NotImplemented with its id."""
    state = _state()
    answer = dialect.answer(Call("u9", action, {}), state)
    assert isinstance(answer.frame, CallError)
    assert (answer.frame.unique_id, answer.frame.error_code) == ("u9", "NotImplemented")
    assert answer.then == ()


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
    ("RemoteStartTransaction", {"connectorId": 1}, "FormationViolation"),
    ("RemoteStartTransaction", {"idTag": "T", "connectorId": True}, "TypeConstraintViolation"),
    ("RemoteStopTransaction", {"transactionId": "42"}, "TypeConstraintViolation"),
    ("ChangeAvailability", {"connectorId": 1}, "FormationViolation"),
    ("UnlockConnector", {"connectorId": 1.0}, "TypeConstraintViolation"),
    ("DataTransfer", {"data": "x"}, "FormationViolation"),
    ("ClearCache", [], "FormationViolation"),
]
MALFORMED_201 = [
    ("GetVariables", {}, "FormatViolation"),
    ("GetVariables", {"getVariableData": []}, "OccurrenceConstraintViolation"),
    ("GetVariables", {"getVariableData": [1]}, "FormatViolation"),
    ("GetVariables", {"getVariableData": [{"component": COMM}]}, "FormatViolation"),
    (
        "GetVariables",
        {"getVariableData": [{"component": "x", "variable": HEARTBEAT}]},
        "TypeConstraintViolation",
    ),
    (
        "GetVariables",
        {"getVariableData": [_get(COMM, HEARTBEAT, attributeType="Now")]},
        "PropertyConstraintViolation",
    ),
    ("SetVariables", {"setVariableData": [_get(COMM, HEARTBEAT)]}, "FormatViolation"),
    ("SetVariables", {"setVariableData": {"a": 1}}, "TypeConstraintViolation"),
    ("TriggerMessage", {"requestedMessage": "Heartbeat", "evse": {}}, "FormatViolation"),
    ("Reset", {"type": "Hard"}, "PropertyConstraintViolation"),
    ("RequestStartTransaction", {"idToken": ID_TOKEN}, "FormatViolation"),
    ("RequestStartTransaction", {"idToken": "TAG", "remoteStartId": 1}, "TypeConstraintViolation"),
    (
        "RequestStartTransaction",
        {"idToken": {"idToken": "T", "type": "RFID"}, "remoteStartId": 1},
        "PropertyConstraintViolation",
    ),
    ("RequestStopTransaction", {"transactionId": 42}, "TypeConstraintViolation"),
    ("RequestStopTransaction", {"transactionId": "x" * 37}, "PropertyConstraintViolation"),
    ("UnlockConnector", {"evseId": 1}, "FormatViolation"),
    ("GetBaseReport", {"requestId": 1}, "FormatViolation"),
    (
        "ChangeAvailability",
        {"operationalStatus": "Operative", "evse": {"id": "1"}},
        "TypeConstraintViolation",
    ),
]


@pytest.mark.parametrize(
    ("dialect", "action", "payload", "code"),
    [(V16_, *case) for case in MALFORMED_16] + [(V201_, *case) for case in MALFORMED_201],
    ids=lambda v: v.version if isinstance(v, Dialect) else None,
)
def test_malformed_calls(dialect: Dialect, action: str, payload: Any, code: str) -> None:
    """A server call the handler cannot read gets a CALLERROR with the version's code."""
    state = _state()
    answer = dialect.answer(Call("bad-1", action, payload), state)
    assert isinstance(answer.frame, CallError)
    assert (answer.frame.unique_id, answer.frame.error_code) == ("bad-1", code)
    assert code in (ERROR_CODES_16 if dialect.version == "1.6" else ERROR_CODES_201)
    assert answer.frame.error_description
    assert state == _state()


FIELDS = [
    "key", "value", "requestedMessage", "connectorId", "type", "idTag", "transactionId",
    "vendorId", "getVariableData", "setVariableData", "component", "variable", "evse",
    "evseId", "idToken", "remoteStartId", "operationalStatus", "requestId", "reportBase",
    "attributeValue", "attributeType", "name", "id",
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
ACTIONS = sorted(set(V16._handlers) | set(V201._handlers) | {"Unknown"})


VALID_CALLS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "1.6": [
        ("GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]}),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "30"}),
        ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "30"}),
        ("TriggerMessage", {"requestedMessage": "Heartbeat", "connectorId": 1}),
        ("Reset", {"type": "Soft"}),
        ("RemoteStartTransaction", {"idTag": "T", "connectorId": 2}),
        ("RemoteStopTransaction", {"transactionId": 1}),
        ("ChangeAvailability", {"connectorId": 1, "type": "Operative"}),
        ("UnlockConnector", {"connectorId": 1}),
        ("ClearCache", {}),
        ("DataTransfer", {"vendorId": "v", "messageId": "m", "data": "d"}),
    ],
    "2.0.1": [
        (
            "GetVariables",
            {
                "getVariableData": [
                    _get({**COMM, "evse": {"id": 1, "connectorId": 1}}, HEARTBEAT),
                    _get(
                        {"name": "SampledDataCtrlr", "instance": "i"}, {"name": "TxUpdatedInterval"}
                    ),
                ]
            },
        ),
        ("SetVariables", {"setVariableData": [{**_get(COMM, HEARTBEAT), "attributeValue": "9"}]}),
        ("TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 1}}),
        ("Reset", {"type": "OnIdle", "evseId": 1}),
        ("RequestStartTransaction", {"idToken": ID_TOKEN, "remoteStartId": 1, "evseId": 2}),
        ("RequestStopTransaction", {"transactionId": "1"}),
        ("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 1}}),
        ("UnlockConnector", {"evseId": 1, "connectorId": 1}),
        ("ClearCache", {}),
        ("GetBaseReport", {"requestId": 1, "reportBase": "SummaryInventory"}),
    ],
}


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) inside a payload, the payload's own keys included."""
    pairs: list[tuple[Any, Any]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in list(items):
        pairs.append((value, key))
        if isinstance(child, dict | list):
            pairs.extend(_slots(child))
    return pairs


def _check_answer(dialect: Dialect, action: str, payload: Any) -> Answer:
    """Answer a call and check the frame: a known error code, or a schema-valid result."""
    answer = dialect.answer(Call("p-1", action, payload), _state(transactions={1: "1"}))
    codes = ERROR_CODES_16 if dialect.version == "1.6" else ERROR_CODES_201
    if isinstance(answer.frame, CallError):
        assert answer.frame.error_code in codes
    else:
        validate(dialect.version, action, answer.frame.payload, response=True)
    return answer


@pytest.mark.parametrize("dialect", [V16_, V201_], ids=lambda d: d.version)
def test_valid_calls_answered(dialect: Dialect) -> None:
    """Each sample call is schema-valid and gets a schema-valid CALLRESULT."""
    for action, payload in VALID_CALLS[dialect.version]:
        validate(dialect.version, action, payload, response=False)
        assert isinstance(_check_answer(dialect, action, payload).frame, CallResult)


@pytest.mark.parametrize("dialect", [V16_, V201_], ids=lambda d: d.version)
@given(data=st.data())
def test_mutated_calls_never_raise(dialect: Dialect, data: st.DataObject) -> None:
    """Valid calls with fields replaced, deleted or added get a valid result or a CALLERROR."""
    action, payload = data.draw(st.sampled_from(VALID_CALLS[dialect.version]))
    payload = copy.deepcopy(payload)
    for _ in range(data.draw(st.integers(1, 3))):
        slots = _slots(payload)
        op = data.draw(st.sampled_from(["replace", "delete", "add"] if slots else ["add"]))
        if op == "add":
            dicts = [payload, *(c[k] for c, k in slots if isinstance(c[k], dict))]
            target = data.draw(st.sampled_from(dicts))
            target[data.draw(st.sampled_from(FIELDS))] = data.draw(json_values)
        else:
            container, key = data.draw(st.sampled_from(slots))
            if op == "delete":
                del container[key]
            else:
                container[key] = data.draw(json_values)
    _check_answer(dialect, action, payload)


@pytest.mark.parametrize("dialect", [V16_, V201_], ids=lambda d: d.version)
@given(action=st.sampled_from(ACTIONS), payload=json_values)
def test_arbitrary_calls_never_raise(dialect: Dialect, action: str, payload: Any) -> None:
    """Any JSON value as the payload of any action gets a valid result or a CALLERROR."""
    _check_answer(dialect, action, payload)
