"""The station answering the server's commands by OCPP 1.6J and 2.0.1: reset, availability,
unlock, trigger and configuration. Every frame is schema-validated by the bench."""

from __future__ import annotations

from typing import Any

import pytest

from loadgen.config import Session
from loadgen.ocpp.dialect import iso
from tests.unit.sim_csms import (
    WALL_OFFSET_S,
    Bench,
    booted,
    get_setting,
    remote_start,
    remote_stop,
    set_setting,
    status_of,
    tx_id,
)

VERSIONS = ["1.6", "2.0.1", "2.1"]  # 2.1: 2.0.1's behaviour under 2.1's schemas
RESETS = [("1.6", "Hard"), ("1.6", "Soft"), ("2.0.1", "Immediate")]


def ends(bench: Bench) -> list[dict[str, Any]]:
    """Payloads of StopTransaction / TransactionEvent Ended."""
    if bench.version == "1.6":
        return [c.payload for c in bench.named("StopTransaction")]
    return [c.payload for c in bench.named("TransactionEvent") if c.payload["eventType"] == "Ended"]


def availability(bench: Bench, connector_id: int | None, operative: bool) -> str:
    """ChangeAvailability for one connector / EVSE, or the station (None; 1.6 connector 0)."""
    kind = "Operative" if operative else "Inoperative"
    if bench.version == "1.6":
        payload = {"connectorId": connector_id or 0, "type": kind}
    else:
        payload = {"operationalStatus": kind}
        if connector_id is not None:
            payload["evse"] = {"id": connector_id}  # type: ignore[assignment]
    return status_of(bench.server_call("ChangeAvailability", payload))


def trigger(bench: Bench, message: str, connector_id: int | None = None) -> str:
    """TriggerMessage for ``message`` (on a connector / EVSE when given)."""
    payload: dict[str, Any] = {"requestedMessage": message}
    if connector_id is not None:
        if bench.version == "1.6":
            payload["connectorId"] = connector_id
        else:
            payload["evse"] = {"id": connector_id}
    return status_of(bench.server_call("TriggerMessage", payload))


def unavailable_or_occupied(bench: Bench, status: str) -> str:
    return status if bench.version == "1.6" else {"Charging": "Occupied"}.get(status, status)


# -- reset ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "kind"), RESETS)
def test_reset_ends_sessions_closes_and_boots_again(version: str, kind: str) -> None:
    """Reset: transactions end with the reset's reason (1.6 SoftReset / HardReset; 2.0.1
    ResetCommand / ImmediateReset, B12.FR.04), the link closes once they are delivered,
    and the station reconnects after reboot_s and boots again (2.0.1 RemoteReset)."""
    bench = booted(version, connectors=2, reboot_s=5.0)
    remote_start(bench, 1)
    bench.run(1)
    assert status_of(bench.server_call("Reset", {"type": kind})) == "Accepted"
    (end,) = ends(bench)  # sent at once, before the Close
    if version == "1.6":
        assert end["reason"] == f"{kind}Reset"
    else:
        assert end["triggerReason"] == "ResetCommand"
        assert end["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    assert bench.closes == []
    bench.run(0.05)
    assert bench.closes == ["reset"] and not bench.connected
    bench.run(10)
    boots = bench.named("BootNotification")
    assert len(boots) == 2 and bench.connects == 2 and bench.counters.reboots == 1
    assert round(boots[1].at - bench.closed_at[0], 3) == 5.01  # reboot_s, then the connect
    if version != "1.6":
        assert boots[1].payload["reason"] == "RemoteReset"
    mark = bench.calls.index(boots[1]) + 1
    every = [(1, "Available"), (2, "Available")]
    assert bench.statuses(mark) == ([(0, "Available"), *every] if version == "1.6" else every)
    assert remote_start(bench, 1) == "Accepted"  # charging again after the reboot


@pytest.mark.parametrize("version", VERSIONS)
def test_reset_without_session_reboots_at_once(version: str) -> None:
    """A reset with nothing running closes in the same event as its answer (B11.FR.03)."""
    bench = booted(version)
    kind = "Soft" if version == "1.6" else "OnIdle"
    assert status_of(bench.server_call("Reset", {"type": kind})) == "Accepted"
    assert bench.closes == ["reset"]


def test_reset_on_idle_waits_for_the_session() -> None:
    """B12.FR.01/03: OnIdle with a transaction is Scheduled, free EVSEs go Unavailable,
    charging goes on, and the reboot follows the transaction's end."""
    bench = booted("2.0.1", connectors=2, session=Session(meter_interval_s=10.0))
    remote_start(bench, 1)
    bench.run(1)
    mark = len(bench.calls)
    assert status_of(bench.server_call("Reset", {"type": "OnIdle"})) == "Scheduled"
    bench.run(25)
    assert bench.statuses(mark) == [(2, "Unavailable")]
    assert bench.closes == [] and len(bench.tx_messages()) == 3  # two samples meanwhile
    assert remote_start(bench, 2) == "Rejected"
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    assert ends(bench)[0]["triggerReason"] == "RemoteStop"
    assert bench.closes == ["reset"]
    bench.run(10)
    assert bench.named("BootNotification")[-1].payload["reason"] == "RemoteReset"


def test_reset_of_one_evse_is_rejected() -> None:
    """B11.FR.09 / B12.FR.09: a station that cannot reset one EVSE answers Rejected."""
    bench = booted("2.0.1", connectors=2)
    answer = bench.server_call("Reset", {"type": "Immediate", "evseId": 1})
    assert status_of(answer) == "Rejected"
    assert bench.closes == []


def test_immediate_reset_after_a_scheduled_one_leaves_nothing_scheduled() -> None:
    """An Immediate reset over a Scheduled OnIdle one: after the reboot the station takes
    remote starts and does not reboot again when that session ends."""
    bench = booted("2.0.1", connectors=2)
    remote_start(bench, 1)
    bench.run(1)
    assert status_of(bench.server_call("Reset", {"type": "OnIdle"})) == "Scheduled"
    assert status_of(bench.server_call("Reset", {"type": "Immediate"})) == "Accepted"
    bench.run(10)
    assert bench.booted == 2
    assert remote_start(bench, 1) == "Accepted"
    bench.run(1)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(10)
    assert bench.closes == ["reset"] and bench.booted == 2


# -- availability ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_availability_of_one_connector(version: str) -> None:
    """Inoperative sends Unavailable, Operative Available (G03.FR.04; 1.6 5.2); asking for
    the state it is in is Accepted and sends nothing."""
    bench = booted(version, connectors=2)
    mark = len(bench.calls)
    assert availability(bench, 2, operative=False) == "Accepted"
    assert availability(bench, 2, operative=False) == "Accepted"
    bench.run(1)
    assert availability(bench, 2, operative=True) == "Accepted"
    bench.run(1)
    assert bench.statuses(mark) == [(2, "Unavailable"), (2, "Available")]


@pytest.mark.parametrize("version", VERSIONS)
def test_availability_of_the_whole_station(version: str) -> None:
    """1.6 connector 0 / 2.0.1 no EVSE: every connector (1.6 also connector 0) changes."""
    bench = booted(version, connectors=2)
    mark = len(bench.calls)
    assert availability(bench, None, operative=False) == "Accepted"
    bench.run(1)
    expected = [(1, "Unavailable"), (2, "Unavailable")]
    assert bench.statuses(mark) == (
        expected + [(0, "Unavailable")] if version == "1.6" else expected
    )
    assert remote_start(bench, None) == "Rejected"
    mark = len(bench.calls)
    assert availability(bench, None, operative=True) == "Accepted"
    bench.run(1)
    expected = [(1, "Available"), (2, "Available")]
    assert bench.statuses(mark) == (expected + [(0, "Available")] if version == "1.6" else expected)


@pytest.mark.parametrize("version", VERSIONS)
def test_inoperative_during_a_session_is_scheduled(version: str) -> None:
    """G03.FR.05 (1.6 5.2): Inoperative during a transaction is Scheduled and applied when
    it ends: the connector becomes Unavailable then (1.6: with it connector 0, since no
    connector is left operative)."""
    bench = booted(version)
    remote_start(bench, 1)
    bench.run(1)
    mark = len(bench.calls)
    assert availability(bench, 1, operative=False) == "Scheduled"
    bench.run(1)
    assert bench.statuses(mark) == []
    remote_stop(bench, tx_id(bench))
    bench.run(1)
    if version == "1.6":
        expected = [(1, "Finishing"), (1, "Unavailable"), (0, "Unavailable")]
    else:
        expected = [(1, "Unavailable")]
    assert bench.statuses(mark) == expected
    assert remote_start(bench, 1) == "Rejected"


def test_station_inoperative_during_a_session_reports_connector_0_when_applied() -> None:
    """1.6: connector 0 Inoperative with a session running is Scheduled; the idle connector
    goes Unavailable at once, the busy one and connector 0 when the session ends."""
    bench = booted("1.6", connectors=2)
    remote_start(bench, 1)
    bench.run(1)
    mark = len(bench.calls)
    assert availability(bench, None, operative=False) == "Scheduled"
    bench.run(1)
    assert bench.statuses(mark) == [(2, "Unavailable")]
    remote_stop(bench, tx_id(bench))
    bench.run(1)
    assert bench.statuses(mark)[1:] == [(1, "Finishing"), (1, "Unavailable"), (0, "Unavailable")]


@pytest.mark.parametrize("version", VERSIONS)
def test_availability_keeps_a_faulted_connector_faulted(version: str) -> None:
    """A Faulted connector stays Faulted through Inoperative and Operative, of its own or
    of the whole station (G03.FR.06/07, G04.FR.07/08; 1.6 4.9: Faulted goes back to the
    pre-fault state): nothing is reported for it until the fault is resolved, then the
    state the last change asked for (Unavailable)."""
    bench = booted(version, connectors=2)
    bench.driver.step(lambda st, now: st.set_status(now, 1, "Faulted"))
    bench.run(1)
    mark = len(bench.calls)
    for operative in (False, True, False):
        assert availability(bench, 1, operative) == "Accepted"
        bench.run(1)
    assert bench.statuses(mark) == []
    assert bench.station.connectors[0].status == "Faulted"
    bench.driver.step(lambda st, now: st.set_status(now, 1, "Available"))  # resolved
    bench.run(1)
    assert bench.statuses(mark) == [(1, "Unavailable")]
    assert availability(bench, 1, operative=True) == "Accepted"
    bench.driver.step(lambda st, now: st.set_status(now, 1, "Faulted"))
    bench.run(1)
    mark = len(bench.calls)
    assert availability(bench, None, operative=False) == "Accepted"
    bench.run(1)
    station = [(0, "Unavailable")] if version == "1.6" else []
    assert bench.statuses(mark) == [(2, "Unavailable"), *station]
    mark = len(bench.calls)
    assert availability(bench, None, operative=True) == "Accepted"
    bench.run(1)
    station = [(0, "Available")] if version == "1.6" else []
    assert bench.statuses(mark) == [(2, "Available"), *station]
    assert bench.station.connectors[0].status == "Faulted"


@pytest.mark.parametrize("version", VERSIONS)
def test_availability_of_an_unknown_connector_is_rejected(version: str) -> None:
    """A connector / EVSE the station lacks is Rejected and nothing changes (2.x: also a
    connector other than 1 on an EVSE that exists)."""
    bench = booted(version, connectors=2)
    mark = len(bench.calls)
    assert availability(bench, 3, operative=False) == "Rejected"
    if version != "1.6":
        evse = {"id": 1, "connectorId": 5}
        payload = {"operationalStatus": "Inoperative", "evse": evse}
        assert status_of(bench.server_call("ChangeAvailability", payload)) == "Rejected"
    bench.run(1)
    assert bench.statuses(mark) == []


# -- unlock -----------------------------------------------------------------------------------


def test_unlock_16_during_a_session_ends_it() -> None:
    """1.6 5.18: UnlockConnector ends the transaction (reason UnlockCommand), then unlocks."""
    bench = booted("1.6")
    remote_start(bench, 1)
    bench.run(1)
    answer = bench.server_call("UnlockConnector", {"connectorId": 1})
    assert status_of(answer) == "Unlocked"
    bench.run(1)
    assert ends(bench)[0]["reason"] == "UnlockCommand"
    assert bench.statuses()[-2:] == [(1, "Finishing"), (1, "Available")]


def test_unlock_201_during_a_session_keeps_charging() -> None:
    """F05.FR.02: with a transaction on the connector the answer is
    OngoingAuthorizedTransaction and charging goes on."""
    bench = booted("2.0.1", session=Session(meter_interval_s=10.0))
    remote_start(bench, 1)
    bench.run(1)
    answer = bench.server_call("UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert status_of(answer) == "OngoingAuthorizedTransaction"
    bench.run(25)
    assert ends(bench) == [] and len(bench.tx_messages()) == 3


@pytest.mark.parametrize("version", VERSIONS)
def test_unlock_idle_and_unknown_connectors(version: str) -> None:
    """An idle connector is Unlocked; an unknown one NotSupported (1.6) / UnknownConnector."""
    bench = booted(version)
    if version == "1.6":
        assert status_of(bench.server_call("UnlockConnector", {"connectorId": 1})) == "Unlocked"
        assert status_of(bench.server_call("UnlockConnector", {"connectorId": 2})) == "NotSupported"
    else:
        unlock = "UnlockConnector"
        assert status_of(bench.server_call(unlock, {"evseId": 1, "connectorId": 1})) == "Unlocked"
        answer = bench.server_call(unlock, {"evseId": 2, "connectorId": 1})
        assert status_of(answer) == "UnknownConnector"
        answer = bench.server_call(unlock, {"evseId": 1, "connectorId": 2})
        assert status_of(answer) == "UnknownConnector"


# -- trigger ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_trigger_status_of_the_asked_connector(version: str) -> None:
    """TriggerMessage StatusNotification reports only the connector asked for; with none,
    every connector (1.6: connector 0 and each; 1.6 connector 0 alone: only connector 0)."""
    bench = booted(version, connectors=3)
    mark = len(bench.calls)
    assert trigger(bench, "StatusNotification", 2) == "Accepted"
    bench.run(1)
    assert bench.statuses(mark) == [(2, "Available")]
    mark = len(bench.calls)
    assert trigger(bench, "StatusNotification") == "Accepted"
    bench.run(1)
    every = [(1, "Available"), (2, "Available"), (3, "Available")]
    assert bench.statuses(mark) == ([(0, "Available"), *every] if version == "1.6" else every)
    assert trigger(bench, "StatusNotification", 4) == "Rejected"
    if version != "1.6":  # a connector EVSE 2 does not have
        payload = {"requestedMessage": "StatusNotification", "evse": {"id": 2, "connectorId": 3}}
        assert status_of(bench.server_call("TriggerMessage", payload)) == "Rejected"
    mark = len(bench.calls)
    bench.run(1)
    assert bench.statuses(mark) == []


def test_trigger_status_16_of_connector_0_is_the_charge_point_alone() -> None:
    """1.6 5.17: StatusNotification for connectorId 0 reports the Charge Point itself only."""
    bench = booted("1.6", connectors=3)
    mark = len(bench.calls)
    assert trigger(bench, "StatusNotification", 0) == "Accepted"
    bench.run(1)
    assert bench.statuses(mark) == [(0, "Available")]


@pytest.mark.parametrize("version", VERSIONS)
def test_trigger_meter_values(version: str) -> None:
    """TriggerMessage MeterValues sends MeterValues of that connector, context Trigger."""
    bench = booted(version, connectors=2)
    remote_start(bench, 2)
    bench.run(20)
    mark = len(bench.calls)
    assert trigger(bench, "MeterValues", 2) == "Accepted"
    bench.run(1)
    (meter,) = [c.payload for c in bench.calls[mark:] if c.action == "MeterValues"]
    sample = meter["meterValue"][0]["sampledValue"][0]
    assert sample["context"] == "Trigger"
    if version == "1.6":
        assert meter["connectorId"] == 2 and meter["transactionId"] == tx_id(bench)
        assert int(sample["value"]) > 0
    else:
        assert meter["evseId"] == 2 and sample["value"] > 0


def test_trigger_transaction_event() -> None:
    """F06.FR.07: TriggerMessage TransactionEvent sends an Updated event, triggerReason
    Trigger, next seqNo; with no transaction it is Rejected."""
    bench = booted("2.0.1", connectors=2)
    assert trigger(bench, "TransactionEvent", 1) == "Rejected"
    remote_start(bench, 1)
    bench.run(1)
    assert trigger(bench, "TransactionEvent", 1) == "Accepted"
    bench.run(1)
    event = bench.tx_messages()[-1].payload
    assert (event["eventType"], event["triggerReason"], event["seqNo"]) == ("Updated", "Trigger", 1)
    assert event["transactionInfo"]["chargingState"] == "Charging"
    assert event["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_trigger_transaction_event_tells_the_charging_state_now(version: str) -> None:
    """F06.FR.07/09: a triggered TransactionEvent carries the charging state the EVSE is
    in now: SuspendedEVSE once a refused tag stopped the energy (StopTxOnInvalidId false,
    E05.FR.02), not Charging."""
    answers = {"TransactionEvent": {"idTokenInfo": {"status": "Invalid"}}}
    bench = booted(version, answers=answers)
    assert set_setting(bench, "", "TxCtrlr.StopTxOnInvalidId", "false") == "Accepted"
    remote_start(bench, 1)
    bench.run(1)
    assert trigger(bench, "TransactionEvent", 1) == "Accepted"
    bench.run(1)
    event = bench.tx_messages()[-1].payload
    assert event["triggerReason"] == "Trigger"
    assert event["transactionInfo"]["chargingState"] == "SuspendedEVSE"


@pytest.mark.parametrize("version", VERSIONS)
def test_trigger_ignores_a_connector_the_message_has_nothing_to_do_with(version: str) -> None:
    """The requested message is leading (1.6 5.17, 2.0.1 F06.FR.02): an unknown connector
    / EVSE asked for with Heartbeat or a firmware or log status is ignored and the message
    sent; with StatusNotification or MeterValues, where it matters, it is Rejected."""
    bench = booted(version, connectors=2)
    log = "DiagnosticsStatusNotification" if version == "1.6" else "LogStatusNotification"
    for message in ("Heartbeat", "FirmwareStatusNotification", log):
        mark = len(bench.calls)
        assert trigger(bench, message, 7) == "Accepted", message
        bench.run(1)
        assert bench.actions()[mark:] == [message]
    mark = len(bench.calls)
    assert trigger(bench, "StatusNotification", 7) == "Rejected"
    assert trigger(bench, "MeterValues", 7) == "Rejected"
    bench.run(1)
    assert bench.actions()[mark:] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_trigger_heartbeat(version: str) -> None:
    """TriggerMessage Heartbeat sends a Heartbeat after the answer."""
    bench = booted(version)
    assert trigger(bench, "Heartbeat") == "Accepted"
    bench.run(0.5)
    assert bench.actions()[-1] == "Heartbeat"


# -- transaction status -----------------------------------------------------------------------


def transaction_status(bench: Bench, transaction_id: str | None = None) -> dict[str, Any]:
    """GetTransactionStatus (for ``transaction_id`` when given); the answer's payload."""
    payload = {} if transaction_id is None else {"transactionId": transaction_id}
    answer = bench.server_call("GetTransactionStatus", payload)
    assert answer is not None and answer[0] == 3, answer
    return dict(answer[2])


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_transaction_status_follows_the_transaction_and_its_queue(version: str) -> None:
    """E14: ongoingIndicator says whether the transaction runs (false for one the station
    never had and once it ended), messagesInQueue whether TransactionEvents about it (with
    no id: about any) wait for delivery, the one sent and not yet answered included; with
    no id there is no ongoingIndicator."""
    bench = booted(version, connectors=2)
    idle = {"ongoingIndicator": False, "messagesInQueue": False}
    assert transaction_status(bench, "no-such-transaction") == idle
    assert transaction_status(bench) == {"messagesInQueue": False}
    remote_start(bench, 1)
    bench.run(1)
    first = tx_id(bench)
    assert transaction_status(bench, first) == {"ongoingIndicator": True, "messagesInQueue": False}
    bench.silent.add("TransactionEvent")  # the CSMS leaves them unanswered for now
    remote_start(bench, 2)
    bench.run(1)
    second = tx_id(bench)
    assert bench.in_flight == bench.tx_messages()[-1].unique_id  # its Started waits
    assert transaction_status(bench, second) == {"ongoingIndicator": True, "messagesInQueue": True}
    assert transaction_status(bench, first) == {"ongoingIndicator": True, "messagesInQueue": False}
    assert remote_stop(bench, first) == "Accepted"  # its Ended queues behind
    assert transaction_status(bench, first) == {"ongoingIndicator": False, "messagesInQueue": True}
    assert transaction_status(bench) == {"messagesInQueue": True}
    assert remote_stop(bench, second) == "Accepted"
    bench.silent.clear()
    bench.run(120)  # retried (E13) and answered now
    assert [c.delivered for c in bench.tx_messages()[-2:]] == [True, True]
    assert transaction_status(bench, first) == idle
    assert transaction_status(bench, second) == idle
    assert transaction_status(bench) == {"messagesInQueue": False}


# -- configuration ----------------------------------------------------------------------------

CORE_KEYS_16 = {
    "AuthorizeRemoteTxRequests": False,
    "ClockAlignedDataInterval": False,
    "ConnectionTimeOut": False,
    "ConnectorPhaseRotation": False,
    "GetConfigurationMaxKeys": True,
    "HeartbeatInterval": False,
    "LocalAuthorizeOffline": False,
    "LocalPreAuthorize": False,
    "MeterValuesAlignedData": False,
    "MeterValuesSampledData": False,
    "MeterValueSampleInterval": False,
    "NumberOfConnectors": True,
    "ResetRetries": False,
    "StopTransactionOnInvalidId": False,
    "StopTxnAlignedData": False,
    "StopTxnSampledData": False,
    "SupportedFeatureProfiles": True,
    "TransactionMessageAttempts": False,
    "TransactionMessageRetryInterval": False,
    "UnlockConnectorOnEVSideDisconnect": False,
}


def test_get_configuration_has_the_core_keys() -> None:
    """1.6 9.1: every required Core key is readable, with its access (readonly) flag."""
    bench = booted("1.6", connectors=2)
    answer = bench.server_call("GetConfiguration", {})
    keys = {k["key"]: k for k in answer[2]["configurationKey"]}
    for key, readonly in CORE_KEYS_16.items():
        assert keys[key]["readonly"] is readonly, key
    assert keys["NumberOfConnectors"]["value"] == "2"
    assert keys["HeartbeatInterval"]["value"] == "60"
    disconnect = keys["StopTransactionOnEVSideDisconnect"]  # optional, may be read-only (3.80)
    assert (disconnect["readonly"], disconnect["value"]) == (True, "true")


def test_configuration_keys_are_case_insensitive_16() -> None:
    """1.6 keys are CiString50: GetConfiguration and ChangeConfiguration take them in any
    case; the answer spells the key as the charge point does."""
    bench = booted("1.6")
    answer = bench.server_call("GetConfiguration", {"key": ["heartbeatINTERVAL", "NoSuchKey"]})
    assert answer is not None and answer[0] == 3, answer
    assert [(k["key"], k["value"]) for k in answer[2]["configurationKey"]] == [
        ("HeartbeatInterval", "60")
    ]
    assert answer[2]["unknownKey"] == ["NoSuchKey"]
    assert set_setting(bench, "heartbeatinterval", "", "25") == "Accepted"
    assert get_setting(bench, "HeartbeatInterval", "") == "25"
    assert set_setting(bench, "numberofconnectors", "", "3") == "Rejected"  # read-only


@pytest.mark.parametrize("version", VERSIONS)
def test_the_station_pings_at_websocket_ping_interval(version: str) -> None:
    """WebSocketPingInterval (1.6 key, 2.x OCPPCommCtrlr): 0 by default, no Ping of
    ours; set to 20 s, a Ping every 20 s while online, counted again from a reconnect;
    0 again stops them."""
    bench = booted(version)
    bench.run(60)
    assert bench.pings == []
    key, variable = "WebSocketPingInterval", "OCPPCommCtrlr.WebSocketPingInterval"
    assert set_setting(bench, key, variable, "20") == "Accepted"
    assert get_setting(bench, key, variable) == "20"
    set_at = bench.now
    bench.run(65)
    assert [round(t - set_at) for t in bench.pings] == [20, 40, 60]
    bench.drop()
    bench.run(60)  # offline, then back (the backoff): counted from the new connection
    back = bench.connect_tries[-1] + bench.connect_s
    assert all(t > back for t in bench.pings[3:]) and len(bench.pings) > 3
    assert round(bench.pings[3] - back) == 20
    assert set_setting(bench, key, variable, "0") == "Accepted"
    count = len(bench.pings)
    bench.run(60)
    assert len(bench.pings) == count
    assert set_setting(bench, key, variable, "-1") == "Rejected"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_ping_without_pong_ends_the_link_and_the_station_reconnects(version: str) -> None:
    """No Pong to our Ping by the next Ping's time: the link is dead (a half-open
    connection, a stalled server). The station closes it (1011), reports a lost connection
    under ping_timeout, reconnects after the backoff and pings again from there; with the
    Pongs back, the link stays up."""
    bench = booted(version)
    bench.pong = False  # a server (or a path to it) that no longer answers
    key, variable = "WebSocketPingInterval", "OCPPCommCtrlr.WebSocketPingInterval"
    assert set_setting(bench, key, variable, "20") == "Accepted"
    set_at = bench.now
    bench.run(30)
    assert [round(t - set_at) for t in bench.pings] == [20]
    assert bench.closes == [] and bench.failures() == []  # the first Ping: not yet overdue
    bench.run(15)  # 40 s: the second Ping's time, and still no Pong
    assert [round(t - set_at) for t in bench.pings] == [20]  # no second Ping on a dead link
    assert bench.closes == ["no pong"] and round(bench.closed_at[0] - set_at) == 40
    (lost,) = bench.failures()
    assert (lost.request_type, lost.name) == ("WS", "disconnect")
    assert lost.failure is not None and lost.failure.category == "ping_timeout"
    assert bench.counters.lost == 1
    bench.pong = True  # the server answers Pings again
    bench.run(60)
    assert bench.connects == 2 and bench.connected  # back after the backoff
    back = bench.connect_tries[-1] + bench.connect_s
    assert round(bench.pings[1] - back) == 20  # counted from the new connection
    assert len(bench.pings) >= 3 and bench.closes == ["no pong"]
    assert bench.counters.lost == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_new_heartbeat_interval_applies_from_the_next_beat(version: str) -> None:
    """HeartbeatInterval changed: the next beat already follows it (1.6 5.3 Accepted means
    effective now), and reading it back gives the new value."""
    bench = booted(version)
    bench.run(70)  # one beat at ~60
    (first,) = bench.named("Heartbeat")
    assert (
        set_setting(bench, "HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval", "20")
        == "Accepted"
    )
    assert get_setting(bench, "HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval") == "20"
    bench.run(50)
    beats = [round(c.at - first.at, 3) for c in bench.named("Heartbeat")]
    assert beats == [0, 20, 40, 60]


@pytest.mark.parametrize("version", VERSIONS)
def test_new_meter_interval_applies_at_once(version: str) -> None:
    """MeterValueSampleInterval / TxUpdatedInterval changed: the running session samples
    at the new interval from its last sample."""
    bench = booted(version, session=Session(meter_interval_s=30.0, duration_s=1000))
    remote_start(bench, 1)
    bench.run(1)
    key = ("MeterValueSampleInterval", "SampledDataCtrlr.TxUpdatedInterval")
    assert set_setting(bench, *key, "5") == "Accepted"
    bench.run(12)
    samples = [round(c.at, 2) for c in bench.tx_messages()[1:]]
    assert samples == [6.0, 11.0]


def _seconds_of_day(stamp: str) -> float:
    """The seconds since midnight UTC of an OCPP timestamp (2026-01-02T03:04:05.678Z)."""
    clock = stamp[11:-1]
    hours, minutes, seconds = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@pytest.mark.parametrize("version", VERSIONS)
def test_clock_aligned_readings(version: str) -> None:
    """ClockAlignedDataInterval / AlignedDataCtrlr.Interval > 0 (1.6 errata 3.13, 3.15):
    readings in context Sample.Clock on the interval's boundaries counted from midnight
    UTC, with the aligned measurands: MeterValues while idle, the transaction's own
    messages during it (2.0.1 triggerReason MeterValueClock), and the StopTxnAlignedData
    ones in its end; 0 switches them off."""
    bench = booted(version, session=Session(meter_interval_s=0.0, duration_s=40.0))
    energy = "Energy.Active.Import.Register"
    for key16, var201, value in [
        ("MeterValuesAlignedData", "AlignedDataCtrlr.Measurands", f"{energy},Power.Active.Import"),
        ("StopTxnAlignedData", "AlignedDataCtrlr.TxEndedMeasurands", energy),
        ("StopTxnSampledData", "SampledDataCtrlr.TxEndedMeasurands", ""),
        ("ClockAlignedDataInterval", "AlignedDataCtrlr.Interval", "15"),
    ]:
        assert set_setting(bench, key16, var201, value) == "Accepted"
    ended_every = 15  # 1.6: StopTxnAlignedData at ClockAlignedDataInterval
    if version != "1.6":  # 2.x: the Ended event's aligned readings at their own interval
        ended_every = 10
        assert set_setting(bench, "", "AlignedDataCtrlr.TxEndedInterval", "10") == "Accepted"
    mark = len(bench.calls)
    bench.run(15)  # one idle reading
    remote_start(bench, 1)
    bench.run(45)  # two or three during the transaction, which ends at 40 s
    clock = []
    for call in bench.calls[mark:]:
        if call.payload.get("eventType") == "Ended":
            continue  # its readings are checked below
        for value in call.payload.get("meterValue", ()):
            contexts = {v["context"] for v in value["sampledValue"]}
            if contexts == {"Sample.Clock"}:
                clock.append((call, value))
    during = [c for c, _ in clock if c.action != "MeterValues" or "transactionId" in c.payload]
    idle = [c for c, _ in clock if c not in during]
    assert len(idle) == 1 and idle[0].action == "MeterValues"
    assert all(_seconds_of_day(v["timestamp"]) % 15 == 0 for _, v in clock)
    assert all(
        {s["measurand"] for s in v["sampledValue"]} == {energy, "Power.Active.Import"}
        for c, v in clock
        if c.action == "MeterValues" or c.payload["eventType"] == "Updated"
    )
    (end,) = [
        c.payload
        for c in bench.tx_messages()
        if c.action == "StopTransaction" or c.payload.get("eventType") == "Ended"
    ]
    kept = end.get("transactionData") or end.get("meterValue")
    aligned = [v for v in kept if v["sampledValue"][0]["context"] == "Sample.Clock"]
    assert len(aligned) >= 2 and all(
        [s["measurand"] for s in v["sampledValue"]] == [energy] for v in aligned
    )
    assert all(_seconds_of_day(v["timestamp"]) % ended_every == 0 for v in aligned)
    if version != "1.6":  # every 10 s over the ~40 s transaction, not every 15 s
        assert len(aligned) >= 3
        assert any(_seconds_of_day(v["timestamp"]) % 15 for v in aligned)
    if version == "1.6":
        assert {c.payload["transactionId"] for c in during} == {tx_id(bench)}
    else:
        assert {c.payload["triggerReason"] for c in during} == {"MeterValueClock"}
    assert set_setting(bench, "ClockAlignedDataInterval", "AlignedDataCtrlr.Interval", "0") == (
        "Accepted"
    )
    mark = len(bench.calls)
    bench.run(60)
    assert [c.action for c in bench.calls[mark:]] == ["Heartbeat"]


@pytest.mark.parametrize("version", VERSIONS)
def test_configured_clock_aligned_interval_runs_from_power_up(version: str) -> None:
    """A clock-aligned interval from the config starts its readings at power-up; a
    charger without one keeps no timer and no extras for it."""
    configuration = (
        ("clock_aligned_interval_s", "10"),
        ("meter_values_aligned_data", "Energy.Active.Import.Register"),
    )
    bench = booted(version, configuration=configuration)
    bench.run(30)
    stamps = [c.payload["meterValue"][0]["timestamp"] for c in bench.named("MeterValues")]
    assert len(stamps) == 3 and all(_seconds_of_day(t) % 10 == 0 for t in stamps)
    assert booted(version).station.ext is None


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("key16", "var201", "value"),
    [
        ("ConnectionTimeOut", "TxCtrlr.EVConnectionTimeOut", "45"),
        ("AuthorizeRemoteTxRequests", "AuthCtrlr.AuthorizeRemoteStart", "true"),
        ("StopTransactionOnInvalidId", "TxCtrlr.StopTxOnInvalidId", "false"),
        ("TransactionMessageAttempts", "OCPPCommCtrlr.MessageAttempts:TransactionEvent", "5"),
        (
            "MeterValuesSampledData",
            "SampledDataCtrlr.TxUpdatedMeasurands",
            "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
        ),
        ("StopTxnSampledData", "SampledDataCtrlr.TxEndedMeasurands", ""),  # none: 3.14.5
    ],
)
def test_settings_read_back_what_was_written(
    version: str, key16: str, var201: str, value: str
) -> None:
    """A written setting reads back at once with the new value."""
    bench = booted(version)
    assert get_setting(bench, key16, var201) != value
    assert set_setting(bench, key16, var201, value) == "Accepted"
    assert get_setting(bench, key16, var201) == value


@pytest.mark.parametrize("version", VERSIONS)
def test_configured_settings_are_the_starting_values(version: str) -> None:
    """Settings given in the config's configuration are what the station starts with (the
    heartbeat interval until a boot answer gives one: here it gives 0)."""
    configuration = (
        ("heartbeat_interval_s", "25"),
        ("meter_interval_s", "7"),
        ("message_timeout_s", "4"),
    )
    boot = {"status": "Accepted", "currentTime": "2026-01-01T00:00:00.000Z", "interval": 0}
    bench = booted(version, configuration=configuration, answers={"BootNotification": boot})
    assert get_setting(bench, "HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval") == "25"
    key = ("MeterValueSampleInterval", "SampledDataCtrlr.TxUpdatedInterval")
    assert get_setting(bench, *key) == "7"
    bench.run(29)
    assert [round(c.at) for c in bench.named("Heartbeat")] == [25]
    remote_start(bench, 1)
    bench.run(16)
    assert [round(c.at - 30, 2) for c in bench.tx_messages()[1:]] == [7.0, 14.0]
    bench.silent = {"StatusNotification"}
    assert trigger(bench, "StatusNotification", 1) == "Accepted"
    bench.run(10)
    (timeout,) = [r for r in bench.failures() if r.name == "StatusNotification"]
    assert round(timeout.response_time_ms) == 4000


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("key16", "var201", "value", "expected"),
    [
        ("HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval", "soon", "Rejected"),
        ("HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval", "-5", "Rejected"),
        ("MeterValueSampleInterval", "SampledDataCtrlr.TxUpdatedInterval", "1.5", "Rejected"),
        ("AuthorizeRemoteTxRequests", "AuthCtrlr.AuthorizeRemoteStart", "yes", "Rejected"),
        ("NumberOfConnectors", "OCPPCommCtrlr.FileTransferProtocols", "5", "Rejected"),
        # an unplug always ends the transaction (1.6 errata 3.80: may be read-only)
        (
            "StopTransactionOnEVSideDisconnect",
            "TxCtrlr.StopTxOnEVSideDisconnect",
            "false",
            "Rejected",
        ),
        # 1.6 errata 3.13 (3.14.4): a measurand the meter does not have
        (
            "MeterValuesSampledData",
            "SampledDataCtrlr.TxUpdatedMeasurands",
            "Energy.Active.Import.Register,Temperature",
            "Rejected",
        ),
        (
            "StopTxnSampledData",
            "SampledDataCtrlr.TxEndedMeasurands",
            "Energy.Reactive.Import.Register",
            "Rejected",
        ),
        ("MeterValuesAlignedData", "AlignedDataCtrlr.Measurands", "Nonsense", "Rejected"),
        ("StopTxnAlignedData", "AlignedDataCtrlr.TxEndedMeasurands", "Foo.Bar", "Rejected"),
    ],
)
def test_bad_or_readonly_settings_are_rejected(
    version: str, key16: str, var201: str, value: str, expected: str
) -> None:
    """A value of the wrong type or range, or a read-only setting, is Rejected and the
    setting keeps its value."""
    bench = booted(version)
    before = get_setting(bench, key16, var201)
    assert set_setting(bench, key16, var201, value) == expected
    assert get_setting(bench, key16, var201) == before


@pytest.mark.parametrize("version", VERSIONS)
def test_heartbeat_interval_zero_is_rejected(version: str) -> None:
    """HeartbeatInterval 0 (2.0.1 minLimit 1) is Rejected rather than Accepted and ignored:
    an Accepted value must read back and take effect."""
    bench = booted(version)
    key = ("HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval")
    assert set_setting(bench, *key, "0") == "Rejected"
    assert get_setting(bench, *key) == "60"


def test_connector_phase_rotation_takes_its_format_only() -> None:
    """1.6 ConnectorPhaseRotation is a CSL of ``<connectorId>.<rotation>`` (9.1): a value in
    another format, or with an unknown rotation, is Rejected and the value stays (5.3)."""
    bench = booted("1.6", connectors=2)
    key = ("ConnectorPhaseRotation", "")
    assert get_setting(bench, *key) == "0.RST"
    for bad in ("garbage", "RST", "1.XYZ", "1.rst", "x.RST", "0.RST,2"):
        assert set_setting(bench, *key, bad) == "Rejected", bad
        assert get_setting(bench, *key) == "0.RST"
    assert set_setting(bench, *key, "0.RST, 1.NotApplicable,2.TSR") == "Accepted"
    assert get_setting(bench, *key) == "0.RST,1.NotApplicable,2.TSR"


def test_unknown_settings_16() -> None:
    """1.6: ChangeConfiguration of an unknown key is NotSupported; GetConfiguration lists
    it under unknownKey."""
    bench = booted("1.6")
    assert set_setting(bench, "NoSuchKey", "", "1") == "NotSupported"
    answer = bench.server_call("GetConfiguration", {"key": ["NoSuchKey", "HeartbeatInterval"]})
    assert answer[2]["unknownKey"] == ["NoSuchKey"]
    assert [k["key"] for k in answer[2]["configurationKey"]] == ["HeartbeatInterval"]


def test_unknown_and_readonly_variables_201() -> None:
    """2.0.1: an unknown component or variable (or a known one without its instance) is
    reported as UnknownComponent / UnknownVariable."""
    bench = booted("2.0.1")
    assert set_setting(bench, "", "NoSuchCtrlr.HeartbeatInterval", "1") == "UnknownComponent"
    assert set_setting(bench, "", "OCPPCommCtrlr.NoSuchVariable", "1") == "UnknownVariable"
    assert set_setting(bench, "", "OCPPCommCtrlr.MessageAttempts", "1") == "UnknownVariable"


def test_message_timeout_is_read_only_201() -> None:
    """2.0.1 device model 2.1.3: OCPPCommCtrlr.MessageTimeout (Default) is ReadOnly, so
    SetVariables is Rejected and the timeout stays."""
    bench = booted("2.0.1")
    assert set_setting(bench, "", "OCPPCommCtrlr.MessageTimeout:Default", "5") == "Rejected"
    assert get_setting(bench, "", "OCPPCommCtrlr.MessageTimeout:Default") == "30"


def _base_report(bench: Bench, request_id: int, base: str) -> list[dict[str, Any]]:
    """GetBaseReport Accepted; the reportData of the NotifyReports that follow, joined."""
    before = len(bench.named("NotifyReport"))
    answer = bench.server_call("GetBaseReport", {"requestId": request_id, "reportBase": base})
    assert status_of(answer) == "Accepted"
    bench.run(1)
    parts = [c.payload for c in bench.named("NotifyReport")][before:]
    assert parts and all(p["requestId"] == request_id for p in parts)
    assert [p["seqNo"] for p in parts] == list(range(len(parts))), parts
    return [d for p in parts for d in p["reportData"]]


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_base_reports_201(version: str) -> None:
    """GetBaseReport: FullInventory reports every variable, ConfigurationInventory only
    those the operator can set (B07.FR.07/08), SummaryInventory the AvailabilityState of
    the station, each EVSE and each connector, as they are now (B07.FR.09)."""
    bench = booted(version, connectors=2)
    assert remote_start(bench, 2) == "Accepted"
    bench.run(1)
    reports = {
        base: _base_report(bench, request_id, base)
        for request_id, base in enumerate(
            ("FullInventory", "ConfigurationInventory", "SummaryInventory"), 1
        )
    }
    mutability = {
        base: {d["variableAttribute"][0]["mutability"] for d in data}
        for base, data in reports.items()
    }
    assert mutability == {  # WriteOnly: SecurityCtrlr.BasicAuthPassword, which may be set
        "FullInventory": {"ReadOnly", "ReadWrite", "WriteOnly"},
        "ConfigurationInventory": {"ReadWrite", "WriteOnly"},
        "SummaryInventory": {"ReadOnly"},
    }
    full = [
        d for d in reports["FullInventory"] if d["variableAttribute"][0]["mutability"] != "ReadOnly"
    ]
    assert reports["ConfigurationInventory"] == full
    summary = [
        (d["component"], d["variable"], d["variableAttribute"][0]["value"])
        for d in reports["SummaryInventory"]
    ]
    state = {"name": "AvailabilityState"}
    assert summary == [
        ({"name": "ChargingStation"}, state, "Available"),
        ({"name": "EVSE", "evse": {"id": 1}}, state, "Available"),
        ({"name": "Connector", "evse": {"id": 1, "connectorId": 1}}, state, "Available"),
        ({"name": "EVSE", "evse": {"id": 2}}, state, "Occupied"),
        ({"name": "Connector", "evse": {"id": 2, "connectorId": 1}}, state, "Occupied"),
    ]
    assert [d for d in reports["FullInventory"] if d["variable"] == state] == reports[
        "SummaryInventory"
    ]


def _component_read(bench: Bench, component: dict[str, Any], variable: str) -> tuple[str, Any]:
    """GetVariables of one variable of ``component``: (attributeStatus, attributeValue)."""
    data = {"component": component, "variable": {"name": variable}}
    answer = bench.server_call("GetVariables", {"getVariableData": [data]})
    assert answer is not None and answer[0] == 3, answer
    result = answer[2]["getVariableResult"][0]
    return result["attributeStatus"], result.get("attributeValue")


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_charging_infrastructure_variables_201(version: str) -> None:
    """The ChargingStation, each EVSE and its connector are in the device model (Part 2
    2.13): AvailabilityState is the status a StatusNotification reports, read as it
    changes; the phases, plug and power are the model's; FullInventory lists them once per
    EVSE and connector, ReadOnly, with EVSE.Power's maxLimit; an EVSE the station lacks is
    UnknownComponent."""
    bench = booted(version, connectors=2, session=Session(power_w=7400.0))
    station = {"name": "ChargingStation"}
    evse = [{"name": "EVSE", "evse": {"id": n}} for n in (1, 2)]
    plug = [{"name": "Connector", "evse": {"id": n, "connectorId": 1}} for n in (1, 2)]
    states = [station, *evse, *plug]
    assert [_component_read(bench, c, "AvailabilityState") for c in states] == [
        ("Accepted", "Available")
    ] * 5
    change = {"operationalStatus": "Inoperative", "evse": {"id": 2}}
    assert status_of(bench.server_call("ChangeAvailability", change)) == "Accepted"
    assert remote_start(bench, 1) == "Accepted"
    bench.run(1)
    assert [_component_read(bench, c, "AvailabilityState")[1] for c in states] == [
        "Available",
        "Occupied",
        "Unavailable",
        "Occupied",
        "Unavailable",
    ]
    reported = [c.payload["connectorStatus"] for c in bench.named("StatusNotification")]
    assert reported[-2:] == ["Unavailable", "Occupied"]
    change = {"operationalStatus": "Inoperative", "evse": {"id": 1}}
    assert status_of(bench.server_call("ChangeAvailability", change)) == "Scheduled"
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    assert _component_read(bench, station, "AvailabilityState") == ("Accepted", "Unavailable")
    assert [_component_read(bench, c, "SupplyPhases") for c in (station, evse[0], plug[1])] == [
        ("Accepted", "3")
    ] * 3
    assert _component_read(bench, plug[0], "ConnectorType") == ("Accepted", "sType2")
    assert _component_read(bench, evse[1], "Available") == ("Accepted", "true")
    assert _component_read(bench, {"name": "EVSE", "evse": {"id": 3}}, "Available") == (
        "UnknownComponent",
        None,
    )
    full = _base_report(bench, 1, "FullInventory")
    infrastructure = [d for d in full if d["component"]["name"] in ("EVSE", "Connector")]
    assert [(d["component"], d["variable"]["name"]) for d in infrastructure] == [
        (component, name)
        for n in (0, 1)
        for component, names in (
            (evse[n], ("AvailabilityState", "Available", "SupplyPhases", "Power")),
            (plug[n], ("AvailabilityState", "Available", "SupplyPhases", "ConnectorType")),
        )
        for name in names
    ]
    assert {d["variableAttribute"][0]["mutability"] for d in infrastructure} == {"ReadOnly"}
    (power,) = [d for d in infrastructure[:4] if d["variable"]["name"] == "Power"]
    assert power["variableCharacteristics"]["maxLimit"] == 7400.0
    assert power["variableAttribute"][0]["value"] == "0"


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_transaction_start_and_stop_points_are_read_only(version: str) -> None:
    """TxCtrlr.TxStartPoint and TxStopPoint say when the station starts and ends a
    transaction (EV plugged in and authorized; either over), which it cannot change:
    SetVariables is Rejected and the values stay (B05.FR.09)."""
    bench = booted(version)
    for name, value in (
        ("TxCtrlr.TxStartPoint", "PowerPathClosed"),
        ("TxCtrlr.TxStopPoint", "EVConnected,Authorized"),
    ):
        assert set_setting(bench, "", name, "EVConnected") == "Rejected"
        assert get_setting(bench, "", name) == value


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_required_device_model_variables_201(version: str) -> None:
    """The required variables of the device model, clock and security blocks are read:
    the station's message limits, its clock now, its one time source (the only value
    TimeSource takes), no certificates; OrganizationName and TxEndedInterval are set."""
    bench = booted(version)
    for instance in ("GetReport", "GetVariables", "SetVariables"):
        assert get_setting(bench, "", f"DeviceDataCtrlr.BytesPerMessage:{instance}") == "1048576"
    assert get_setting(bench, "", "DeviceDataCtrlr.ItemsPerMessage:GetReport") == "50"
    assert get_setting(bench, "", "ClockCtrlr.DateTime") == iso(bench.now + WALL_OFFSET_S)
    bench.run(5)
    assert get_setting(bench, "", "ClockCtrlr.DateTime") == iso(bench.now + WALL_OFFSET_S)
    assert set_setting(bench, "", "ClockCtrlr.DateTime", iso(0)) == "Rejected"
    assert get_setting(bench, "", "ClockCtrlr.TimeSource") == "RealTimeClock"
    assert set_setting(bench, "", "ClockCtrlr.TimeSource", "NTP,RealTimeClock") == "Rejected"
    assert set_setting(bench, "", "ClockCtrlr.TimeSource", "RealTimeClock") == "Accepted"
    assert get_setting(bench, "", "SecurityCtrlr.CertificateEntries") == "0"
    assert set_setting(bench, "", "SecurityCtrlr.OrganizationName", "Acme CSO") == "Accepted"
    assert get_setting(bench, "", "SecurityCtrlr.OrganizationName") == "Acme CSO"
    assert set_setting(bench, "", "AlignedDataCtrlr.TxEndedInterval", "900") == "Accepted"
    assert get_setting(bench, "", "AlignedDataCtrlr.TxEndedInterval") == "900"


@pytest.mark.parametrize("limit", ["1", "2", "3"])
def test_few_stop_transaction_meter_values_keep_the_begin_and_the_end(limit: str) -> None:
    """StopTransactionMaxMeterValues below 3 leaves room for Transaction.Begin and
    Transaction.End only; 3 adds the latest periodic reading."""
    energy = "Energy.Active.Import.Register"
    bench = booted(
        "1.6",
        session=Session(meter_interval_s=10.0),
        configuration=(
            ("stop_transaction_max_meter_values", limit),
            ("stop_txn_sampled_data", energy),
        ),
    )
    assert remote_start(bench, 1) == "Accepted"
    bench.run(35)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    (end,) = ends(bench)
    contexts = [v["sampledValue"][0]["context"] for v in end["transactionData"]]
    middle = ["Sample.Periodic"] if limit == "3" else []
    assert contexts == ["Transaction.Begin", *middle, "Transaction.End"]
