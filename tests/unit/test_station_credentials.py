"""The server sets the charge point's HTTP Basic password: 2.0.1 SecurityCtrlr.
BasicAuthPassword (A01), 1.6 AuthorizationKey (security whitepaper, hex). The station
takes a valid one, reconnects with it without rebooting, and never reads it back."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from loadgen.config import ConfigError, Session
from loadgen.run import configfile
from loadgen.sim.actions import Credentials
from loadgen.sim.fleet import security_profile
from loadgen.sim.steps import StationApi
from loadgen.sim.transport import basic_auth
from tests.unit.sim_csms import (
    Bench,
    booted,
    get_setting,
    make,
    remote_start,
    set_setting,
    status_of,
)

VERSIONS = ["1.6", "2.0.1", "2.1"]
KEY16, VAR201 = "AuthorizationKey", "SecurityCtrlr.BasicAuthPassword"
PASSWORD = "Fresh-Password_2026:ok"  # a passwordString of 22 characters
SECRET_BYTES = bytes(range(0x80, 0x94))  # 20 bytes, none of them UTF-8 text


def written(version: str, password: bytes) -> str:
    """The value the server writes for ``password``: hex in 1.6, the text in 2.x."""
    return password.hex().upper() if version == "1.6" else password.decode()


def wire_password(version: str) -> bytes:
    return SECRET_BYTES if version == "1.6" else PASSWORD.encode()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_new_password_reconnects_with_it_without_a_reboot(version: str) -> None:
    """Accepted; the answer goes out, then the station closes, reconnects with the new
    password at once and does not boot again (A01 steps 2-4; TC_A_09_CS)."""
    bench = booted(version)
    password = wire_password(version)
    connects = bench.connects
    assert set_setting(bench, KEY16, VAR201, written(version, password)) == "Accepted"
    assert bench.passwords == [password]
    assert bench.closes == ["new credentials"]
    bench.run(1)
    assert bench.connects == connects + 1
    assert bench.booted == 1
    assert not bench.named("BootNotification")[1:], "a new password is not a reboot"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_session_goes_on_across_the_new_credentials(version: str) -> None:
    """The transaction outlives the reconnect, and its messages keep coming."""
    session = Session(duration_s=600, meter_interval_s=5)
    bench = booted(version, session=session)
    assert remote_start(bench, 1) == "Accepted"
    bench.run(2)
    before = len(bench.tx_messages())
    assert set_setting(bench, KEY16, VAR201, written(version, wire_password(version))) == (
        "Accepted"
    )
    bench.run(12)
    after = bench.tx_messages(before)
    assert after, "no transaction message after the reconnect"
    ends = [
        c
        for c in after
        if c.action == "StopTransaction"
        or (c.action == "TransactionEvent" and c.payload["eventType"] == "Ended")
    ]
    assert not ends, [c.payload for c in ends]


INVALID = {
    "1.6": [
        "00" * 15,  # 15 bytes: fewer than 16
        "00" * 21,  # 21 bytes: more than 20
        "0G" * 16,  # not hexadecimal
        "ABC" * 11,  # an odd number of digits
        "00 " * 16,  # spaces between the bytes
    ],
    "2.0.1": [
        "a" * 15,  # fewer than 16 characters
        "a" * 41,  # more than 40
        "a" * 15 + "#",  # '#' is not a passwordString character
        "pässwordpässword",  # nor is a non-ASCII letter
    ],
}


@pytest.mark.parametrize(
    ("version", "value"),
    [(v, value) for v, values in INVALID.items() for value in values],
)
def test_an_invalid_password_is_rejected_and_the_old_one_stays(version: str, value: str) -> None:
    """Rejected (A01.FR.04, TC_A_10_CS); no new credentials, no reconnect."""
    bench = booted(version)
    connects = bench.connects
    assert set_setting(bench, KEY16, VAR201, value) == "Rejected"
    bench.run(2)
    assert bench.passwords == []
    assert bench.closes == []
    assert bench.connects == connects


def _everything_sent(bench: Bench) -> bytes:
    """Every frame the station sent: its calls and its answers to the server."""
    frames = [c.payload for c in bench.calls] + bench.answers_to_server
    return orjson.dumps(frames)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_password_is_never_read_back(version: str) -> None:
    """Write-only: 1.6 GetConfiguration lists AuthorizationKey without a value; 2.0.1
    GetVariables is Rejected (B06.FR.09) and reports carry no value (WriteOnly)."""
    bench = booted(version)
    password = wire_password(version)
    value = written(version, password)
    assert set_setting(bench, KEY16, VAR201, value) == "Accepted"
    bench.run(1)
    if version == "1.6":
        for keys in ([KEY16], []):
            answer = bench.server_call("GetConfiguration", {"key": keys} if keys else {})
            entries = [e for e in answer[2]["configurationKey"] if e["key"] == KEY16]
            assert entries == [{"key": KEY16, "readonly": False}], entries
    else:
        data = {
            "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"},
        }
        answer = bench.server_call("GetVariables", {"getVariableData": [data]})
        result = answer[2]["getVariableResult"][0]
        assert result["attributeStatus"] == "Rejected"
        assert "attributeValue" not in result
        for kind in ("Target", "MaxSet"):  # attributes it lacks: B06.FR.08, not B06.FR.09
            answer = bench.server_call(
                "GetVariables", {"getVariableData": [{**data, "attributeType": kind}]}
            )
            result = answer[2]["getVariableResult"][0]
            assert result["attributeStatus"] == "NotSupportedAttributeType", result
        for request_id, base in enumerate(("FullInventory", "ConfigurationInventory"), 1):
            reply = bench.server_call(
                "GetBaseReport", {"requestId": request_id, "reportBase": base}
            )
            assert status_of(reply) == "Accepted"
            bench.run(1)
        entries = [
            d
            for c in bench.named("NotifyReport")
            for d in c.payload["reportData"]
            if d["variable"]["name"] == "BasicAuthPassword"
        ]
        assert len(entries) == 2, entries
        for entry in entries:
            assert entry["variableAttribute"] == [{"type": "Actual", "mutability": "WriteOnly"}]
            assert entry["variableCharacteristics"]["maxLimit"] == 40  # its longest
    sent = _everything_sent(bench)
    assert value.encode() not in sent and value.lower().encode() not in sent
    assert password not in sent


def test_the_credentials_action_hides_the_password() -> None:
    """Its repr (what a log or a failing assertion prints) carries no password."""
    assert "Fresh" not in repr(Credentials(PASSWORD.encode()))


def test_basic_auth_sends_a_binary_password_as_it_is() -> None:
    """A 1.6 AuthorizationKey is any 16 to 20 bytes: they go in the header unchanged."""
    import base64

    header = basic_auth("CP-1", SECRET_BYTES)
    assert base64.b64decode(header.removeprefix("Basic ")) == b"CP-1:" + SECRET_BYTES
    assert basic_auth("CP-1", "pw") == "Basic " + base64.b64encode(b"CP-1:pw").decode()


@pytest.mark.parametrize("key", [KEY16, VAR201, "basic_auth_password"])
def test_a_config_cannot_set_the_password(key: str) -> None:
    """The config's configuration map refuses it, naming where a password goes, and
    without echoing the value."""
    raw: dict[str, Any] = {
        "stages": [{"users": 1, "spawn_rate": 1, "duration": "1s"}],
        "charge_points": {"configuration": {key: "Secret-Value-123456"}},
    }
    with pytest.raises(ConfigError, match="ids file's password column") as caught:
        configfile.from_dict(raw)
    assert "Secret-Value" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "certificate", "passwords", "expected"),
    [
        ("ws://127.0.0.1:9000/ocpp", False, False, 0),
        ("ws://127.0.0.1:9000/ocpp", False, True, 1),
        ("WSS://csms.example/ocpp", False, True, 2),
        ("wss://csms.example/ocpp", False, False, 2),
        ("wss://csms.example/ocpp", True, False, 3),
    ],
)
def test_the_security_profile_follows_the_target(
    url: str, certificate: bool, passwords: bool, expected: int
) -> None:
    """0 neither TLS nor Basic auth, 1 Basic auth, 2 TLS, 3 TLS with a client certificate."""
    assert security_profile(url, certificate, passwords) == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_the_security_profile_is_reported_and_read_only(version: str) -> None:
    """SecurityCtrlr.SecurityProfile (2.0.1 Required) / the 1.6 whitepaper's SecurityProfile
    says the fleet's profile, cannot be set, and becomes 1 once the server gives an
    unsecured charger a Basic-auth password."""
    key, variable = "SecurityProfile", "SecurityCtrlr.SecurityProfile"
    secured = make(version, configuration=(("security_profile", "2"),))
    secured.run(1)
    assert get_setting(secured, key, variable) == "2"
    bench = booted(version)
    assert get_setting(bench, key, variable) == "0"
    assert set_setting(bench, key, variable, "1") == "Rejected"
    assert set_setting(bench, KEY16, VAR201, written(version, wire_password(version))) == (
        "Accepted"
    )
    bench.run(1)
    assert get_setting(bench, key, variable) == "1"


def test_a_driver_that_answers_set_variables_itself_is_heard_first() -> None:
    """A user class overriding SetVariables answers it; the station reconnects with the
    new password only after that answer went out (else the CSMS, never told Accepted,
    would keep the old password: A01.FR.04)."""
    from loadgen.sim.steps import StationApi

    bench = booted("2.0.1", api=StationApi(frozenset({"SetVariables"})))
    data = {
        "setVariableData": [
            {
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
                "attributeValue": PASSWORD,
            }
        ]
    }
    assert bench.server_call("SetVariables", data, unique_id="sv1") is None
    payload, actions = bench.station.default_answer(bench.now, "sv1")
    bench.feed(actions)
    assert bench.closes == [] and bench.passwords == []
    bench.feed(bench.station.answer_server_call(bench.now, "sv1", payload))
    assert [a[1] for a in bench.answers_to_server] == ["sv1"]
    assert bench.closes == ["new credentials"]
    assert bench.passwords == [PASSWORD.encode()]


def _driver_sets_password(version: str) -> Bench:
    """A station whose driver answers SetVariables / ChangeConfiguration itself, with
    the call for a new password received and the machine's answer asked for."""
    action = "ChangeConfiguration" if version == "1.6" else "SetVariables"
    bench = booted(version, api=StationApi(frozenset({action})))
    value = written(version, wire_password(version))
    if version == "1.6":
        data: dict[str, Any] = {"key": KEY16, "value": value}
    else:
        variable = {"name": "BasicAuthPassword"}
        data = {
            "setVariableData": [
                {
                    "component": {"name": "SecurityCtrlr"},
                    "variable": variable,
                    "attributeValue": value,
                }
            ]
        }
    assert bench.server_call(action, data, unique_id="pw") is None
    payload, actions = bench.station.default_answer(bench.now, "pw")
    bench.feed(actions)
    assert payload is not None and bench.passwords == []
    return bench


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("answer", ["callerror", "rejected"])
def test_a_driver_answer_that_refuses_keeps_the_old_password(version: str, answer: str) -> None:
    """The machine took the password, but the driver's answer, the one the CSMS gets,
    is a CALLERROR or Rejected: the old credentials stay in use, no reconnect
    (A01.FR.04)."""
    bench = _driver_sets_password(version)
    if answer == "callerror":
        out = bench.station.answer_server_call(bench.now, "pw", None, error="InternalError")
    else:
        refused: dict[str, Any] = {"status": "Rejected"}
        if version != "1.6":
            refused = bench.station.default_answer(bench.now, "pw")[0] or {}
            refused["setVariableResult"][0]["attributeStatus"] = "Rejected"
        out = bench.station.answer_server_call(bench.now, "pw", refused)
    bench.feed(out)
    bench.run(5)
    assert [a[1] for a in bench.answers_to_server] == ["pw"]
    assert bench.passwords == [] and bench.closes == []


@pytest.mark.parametrize("version", VERSIONS)
def test_a_driver_answer_that_accepts_takes_the_password(version: str) -> None:
    """The driver's own payload that accepts the password (1.6 status, 2.x the
    BasicAuthPassword result) is followed by the reconnect with it."""
    bench = _driver_sets_password(version)
    accepted: dict[str, Any] = {"status": "Accepted"}
    if version != "1.6":
        accepted = {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "BasicAuthPassword"},
                }
            ]
        }
    bench.feed(bench.station.answer_server_call(bench.now, "pw", accepted))
    assert bench.passwords == [wire_password(version)]
    assert bench.closes == ["new credentials"]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_reconnect_waits_for_every_call_the_driver_answers(version: str) -> None:
    """A server call the driver is still answering when the password changes gets its
    answer on this connection; the station closes after it (OCPP-J: every CALL is
    answered)."""
    start = "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"
    bench = booted(version, api=StationApi(frozenset({start})))
    payload: dict[str, Any] = {"idTag": "TAG-1", "connectorId": 1}
    if version != "1.6":
        payload = {"idToken": {"idToken": "TAG-1", "type": "ISO14443"}, "remoteStartId": 1}
    assert bench.server_call(start, payload, unique_id="rs") is None
    password = wire_password(version)
    assert set_setting(bench, KEY16, VAR201, written(version, password)) == "Accepted"
    bench.run(5)
    assert bench.closes == [] and bench.passwords == []
    bench.feed(bench.station.answer_server_call(bench.now, "rs", None))
    assert "rs" in [a[1] for a in bench.answers_to_server]
    assert bench.closes == ["new credentials"]
    assert bench.passwords == [password]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_reconnect_waits_for_the_call_in_flight_and_keeps_the_queue(version: str) -> None:
    """A transaction message in flight when the password changes is answered first, then
    the station closes: nothing is sent twice (1.6 one StartTransaction; 2.x seqNos
    without repeat), and every queued message goes after the reconnect."""
    bench = booted(version, session=Session(duration_s=600, meter_interval_s=5))
    bench.latency_s = 0.5  # the CSMS answers slowly: the start is in flight for a while
    assert remote_start(bench, 1) == "Accepted"
    for _ in range(1000):
        bench.run(0.01)
        call = bench.station.call
        if call is not None and call.action in bench.station.dialect.transaction_actions:
            break
    else:
        raise AssertionError("no transaction message in flight")
    password = wire_password(version)
    assert set_setting(bench, KEY16, VAR201, written(version, password)) == "Accepted"
    assert bench.closes == []  # the start still waits for its answer
    bench.run(20)
    assert bench.closes == ["new credentials"]
    messages = bench.tx_messages()
    if version == "1.6":
        assert len(bench.named("StartTransaction")) == 1
    else:
        seqs = [m.payload["seqNo"] for m in messages]
        assert seqs == list(range(len(seqs))), seqs
    assert len(messages) >= 4  # the start and samples every 5 s, across the reconnect


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_a_report_under_way_is_finished_after_the_reconnect(version: str) -> None:
    """NotifyReport parts queued when the password changes are kept ("storing any queued
    messages") and sent after the reconnect: the report ends with tbc false."""
    bench = booted(version, configuration=(("items_per_message_get_report", "10"),))
    data = [
        {
            "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"},
            "attributeValue": PASSWORD,
        }
    ]
    answer = bench.server_call("GetBaseReport", {"requestId": 3, "reportBase": "FullInventory"})
    assert status_of(answer) == "Accepted"
    bench.run(0.015)  # the first part is out, the others wait
    answer = bench.server_call("SetVariables", {"setVariableData": data})
    assert answer[2]["setVariableResult"][0]["attributeStatus"] == "Accepted"
    bench.run(5)
    assert bench.closes == ["new credentials"]
    parts = [c.payload for c in bench.named("NotifyReport")]
    assert [p["seqNo"] for p in parts] == list(range(len(parts)))
    assert len(parts) > 3 and parts[-1].get("tbc", False) is False
