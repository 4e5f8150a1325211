"""The station by the OCPP rules of 1.6J and 2.0.1: boot, calls, remote start and stop,
authorization. Every frame is validated against the official schemas by the bench."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from loadgen.config import ChargePoints, Reconnect, Session
from loadgen.failures import Failure
from loadgen.ocpp.framing import parse
from loadgen.sim.actions import Counters, Report, Send
from loadgen.sim.fleet import Fleet
from loadgen.sim.station import Station
from tests.unit.sim_csms import (
    Bench,
    booted,
    make,
    profile_request,
    remote_start,
    remote_stop,
    set_setting,
    status_of,
    tx_id,
)

VERSIONS = ["1.6", "2.0.1", "2.1"]  # 2.1: 2.0.1's behaviour under 2.1's schemas
NOW = "2026-01-01T00:00:00.000Z"


def boots(*statuses: tuple[str, int]) -> Any:
    """A BootNotification answer that says each (status, interval) in turn, then Accepted."""
    queue: Iterator[tuple[str, int]] = iter(statuses)

    def answer(_: dict[str, Any]) -> dict[str, Any]:
        status, interval = next(queue, ("Accepted", 60))
        return {"status": status, "currentTime": NOW, "interval": interval}

    return answer


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 3) for a, b in zip(times, times[1:], strict=False)]


def started(bench: Bench) -> list[dict[str, Any]]:
    """Payloads of StartTransaction / TransactionEvent Started."""
    if bench.version == "1.6":
        return [c.payload for c in bench.named("StartTransaction")]
    return [
        c.payload for c in bench.named("TransactionEvent") if c.payload["eventType"] == "Started"
    ]


def ended(bench: Bench) -> list[dict[str, Any]]:
    """Payloads of StopTransaction / TransactionEvent Ended."""
    if bench.version == "1.6":
        return [c.payload for c in bench.named("StopTransaction")]
    return [c.payload for c in bench.named("TransactionEvent") if c.payload["eventType"] == "Ended"]


# -- boot ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_boot_first_then_every_status_then_heartbeats(version: str) -> None:
    """BootNotification goes first; Accepted brings each connector's status (1.6 also
    connector 0: errata 3.22 SHALL), 2.x then the critical security event
    StartupOfTheDevice (A04.FR.01), then a Heartbeat every boot interval of inactivity."""
    bench = make(version, connectors=2, answers={"BootNotification": boots(("Accepted", 45))})
    bench.run(200)
    first = bench.calls[0]
    assert first.action == "BootNotification"
    if version != "1.6":
        assert first.payload["reason"] == "PowerUp"
    expected = [(1, "Available"), (2, "Available")]
    if version == "1.6":
        expected.insert(0, (0, "Available"))
    assert bench.statuses() == expected
    assert bench.actions()[: len(expected) + 1] == ["BootNotification"] + [
        "StatusNotification"
    ] * len(expected)
    beats = [c.at for c in bench.named("Heartbeat")]
    assert len(beats) == 4
    last = bench.calls[len(expected)]  # the boot's last message
    if version != "1.6":
        last = bench.calls[len(expected) + 1]
        assert (last.action, last.payload["type"]) == (
            "SecurityEventNotification",
            "StartupOfTheDevice",
        )
    assert bench.calls[bench.calls.index(last) + 1].action == "Heartbeat"
    assert round(beats[0] - last.at, 3) == 45
    assert gaps(beats) == [45, 45, 45]
    assert bench.booted == 1 and bench.counters.booted == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_configured_heartbeat_interval_overrides_the_boot_interval(version: str) -> None:
    """A configured heartbeat_interval_s wins over the interval of the boot's answer."""
    bench = make(version, heartbeat_interval_s=15.0)
    bench.run(70)
    assert gaps([c.at for c in bench.named("Heartbeat")]) == [15, 15, 15]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("status", ["Pending", "Rejected"])
def test_boot_not_accepted_retries_after_the_interval_sending_nothing_else(
    version: str, status: str
) -> None:
    """Pending / Rejected: the next BootNotification comes after the answer's interval (or
    boot_retry_s when it is 0) and nothing else is sent meanwhile (B02.FR.02, B03.FR.02)."""
    bench = make(
        version, boot_retry_s=7.0, answers={"BootNotification": boots((status, 20), (status, 0))}
    )
    bench.run(60)
    boots_at = [round(c.at, 2) for c in bench.named("BootNotification")]
    assert boots_at == [0.01, 20.02, 27.03]
    assert bench.actions()[:3] == ["BootNotification"] * 3
    assert bench.actions()[3] == "StatusNotification"
    assert bench.booted == 1


def test_rejected_16_answers_no_server_call() -> None:
    """1.6 section 4.2: while Rejected the charge point does not respond at all."""
    bench = make("1.6", answers={"BootNotification": boots(("Rejected", 300))})
    bench.run(1)
    assert bench.server_call("GetConfiguration", {}) is None
    assert bench.server_call("RemoteStartTransaction", {"idTag": "T"}) is None
    assert [r for r in bench.reports if r.request_type == "server"] == []


def test_rejected_201_answers_security_error() -> None:
    """B03.FR.08: while Rejected every CSMS call gets CALLERROR SecurityError."""
    bench = make("2.0.1", answers={"BootNotification": boots(("Rejected", 300))})
    bench.run(1)
    for action, payload in [
        (
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            },
        ),
        ("TriggerMessage", {"requestedMessage": "BootNotification"}),
    ]:
        answer = bench.server_call(action, payload)
        assert answer is not None and answer[:3] == [4, "s1", "SecurityError"]
    assert bench.actions() == ["BootNotification"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("status", ["Pending", "Rejected"])
def test_reconnect_keeps_the_boot_retry_interval(version: str, status: str) -> None:
    """B02.FR.04 / B03.FR.02: a reconnect while Pending / Rejected sends no BootNotification
    before the answer's interval has passed."""
    bench = make(version, answers={"BootNotification": boots((status, 100))})
    bench.run(1)
    bench.drop()
    bench.run(150)
    assert bench.connects == 2
    boots_at = [round(c.at, 2) for c in bench.named("BootNotification")]
    assert boots_at == [0.01, 100.02]


@pytest.mark.parametrize("version", VERSIONS)
def test_pending_rejects_remote_start_and_stop_and_answers_the_rest(version: str) -> None:
    """B02.FR.05 (1.6 section 4.2): while Pending, remote start / stop are answered
    Rejected; other calls (configuration, availability) are answered normally."""
    bench = make(version, answers={"BootNotification": boots(("Pending", 300))})
    bench.run(1)
    assert remote_start(bench) == "Rejected"
    assert remote_stop(bench, 1 if version == "1.6" else "1-x-CP-1") == "Rejected"
    assert (
        set_setting(bench, "MeterValueSampleInterval", "SampledDataCtrlr.TxUpdatedInterval", "20")
        == "Accepted"
    )
    if version == "1.6":
        answer = bench.server_call("ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    else:
        answer = bench.server_call("ChangeAvailability", {"operationalStatus": "Operative"})
    assert status_of(answer) == "Accepted"
    bench.run(10)
    assert bench.actions() == ["BootNotification"]


@pytest.mark.parametrize("version", VERSIONS)
def test_pending_sends_what_a_trigger_asks_for(version: str) -> None:
    """B02.FR.02 (1.6 section 4.2): while Pending, messages asked for by TriggerMessage go out."""
    bench = make(version, answers={"BootNotification": boots(("Pending", 300))})
    bench.run(1)
    for message in ("Heartbeat", "StatusNotification"):
        answer = bench.server_call("TriggerMessage", {"requestedMessage": message})
        assert status_of(answer) == "Accepted"
    bench.run(1)
    assert bench.actions()[1] == "Heartbeat"
    assert "StatusNotification" in bench.actions()[2:]


def test_triggered_boot_16_is_honoured() -> None:
    """1.6: a triggered BootNotification's answer sets the new heartbeat interval."""
    bench = booted("1.6", answers={"BootNotification": boots(("Accepted", 60), ("Accepted", 25))})
    answer = bench.server_call("TriggerMessage", {"requestedMessage": "BootNotification"})
    assert status_of(answer) == "Accepted"
    bench.run(80)
    assert len(bench.named("BootNotification")) == 2
    answered_at = bench.named("BootNotification")[1].at + bench.latency_s
    beats = [c.at for c in bench.named("Heartbeat")]
    assert round(beats[0] - answered_at, 3) == 25 and gaps(beats) == [25, 25]


def test_triggered_boot_16_answered_rejected_silences_the_station() -> None:
    """1.6 4.2 (B03.FR.02): once a triggered boot is answered Rejected nothing but the next
    BootNotification goes, not even messages triggered before the answer."""
    answers = {"BootNotification": boots(("Accepted", 60), ("Rejected", 30))}
    bench = booted("1.6", answers=answers)
    bench.latency_s = 2.0
    mark = len(bench.calls)
    for message in ("BootNotification", "Heartbeat", "StatusNotification"):
        assert status_of(bench.server_call("TriggerMessage", {"requestedMessage": message}))
    bench.run(40)
    sent = [(round(c.at - bench.calls[mark].at), c.action) for c in bench.calls[mark:]]
    assert sent[:2] == [(0, "BootNotification"), (32, "BootNotification")]


def test_triggered_boot_201_rejected_once_accepted() -> None:
    """F06.FR.17: TriggerMessage BootNotification after an Accepted boot is Rejected."""
    bench = booted("2.0.1")
    answer = bench.server_call("TriggerMessage", {"requestedMessage": "BootNotification"})
    assert status_of(answer) == "Rejected"
    bench.run(5)
    assert len(bench.named("BootNotification")) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_triggered_boot_while_pending_says_triggered(version: str) -> None:
    """A boot triggered while Pending goes at once (2.0.1 with reason Triggered) and its
    Accepted answer ends the registration wait."""
    bench = make(version, answers={"BootNotification": boots(("Pending", 300))})
    bench.run(1)
    answer = bench.server_call("TriggerMessage", {"requestedMessage": "BootNotification"})
    assert status_of(answer) == "Accepted"
    bench.run(1)
    boots_sent = bench.named("BootNotification")
    assert len(boots_sent) == 2 and bench.booted == 1
    if version != "1.6":
        assert [b.payload["reason"] for b in boots_sent] == ["PowerUp", "Triggered"]
    assert bench.actions()[2] == "StatusNotification"


def test_boot_retries_after_a_triggered_pending_boot_say_why_it_booted_201() -> None:
    """Only the triggered BootNotification says reason Triggered: when it is answered
    Pending too, the retry after the interval gives the boot's own reason again."""
    bench = make("2.0.1", answers={"BootNotification": boots(("Pending", 20), ("Pending", 20))})
    bench.run(1)
    answer = bench.server_call("TriggerMessage", {"requestedMessage": "BootNotification"})
    assert status_of(answer) == "Accepted"
    bench.run(30)
    reasons = [b.payload["reason"] for b in bench.named("BootNotification")]
    assert reasons == ["PowerUp", "Triggered", "PowerUp"] and bench.booted == 1


# -- one call at a time ---------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_one_call_in_flight_while_server_calls_are_answered(version: str) -> None:
    """Our CALLs go one at a time; the server's calls are answered while ours waits."""
    bench = make(version, connectors=3, latency_s=2.0)
    bench.run(2.5)  # the boot answered, the first StatusNotification waiting
    waiting = bench.in_flight
    assert waiting is not None
    answer = bench.server_call("ClearCache", {}, unique_id="srv-9")
    assert answer == [3, "srv-9", {"status": "Accepted"}]
    assert bench.in_flight == waiting  # nothing else was sent meanwhile
    bench.run(20)  # the bench fails at once if a CALL goes while another waits
    assert len(bench.statuses()) == (4 if version == "1.6" else 3)


@pytest.mark.parametrize("version", VERSIONS)
def test_unanswered_call_times_out_and_the_next_goes(version: str) -> None:
    """A CALL unanswered for call_timeout_s is reported call_timeout; the next CALL follows."""
    bench = make(version, connectors=2, call_timeout_s=5.0)
    bench.silent = {"StatusNotification"}
    bench.run(12)
    sent = [round(c.at, 2) for c in bench.named("StatusNotification")]
    assert sent[:2] == [0.02, 5.02]
    timeouts = [r for r in bench.failures() if str(r.failure) == "call_timeout"]
    assert [r.name for r in timeouts][:2] == ["StatusNotification"] * 2
    assert round(timeouts[0].response_time_ms) == 5000


# -- remote start ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_remote_start_uses_the_servers_tag_and_connector(version: str) -> None:
    """Remote start: the server's idTag / idToken on the asked connector / EVSE, no
    Authorize (AuthorizeRemoteTxRequests false); 2.0.1 RemoteStart with remoteStartId."""
    bench = booted(version, connectors=2)
    mark = len(bench.calls)
    assert remote_start(bench, 2, tag="SERVER-TAG", remote_start_id=42) == "Accepted"
    bench.run(1)
    assert "Authorize" not in bench.actions()
    (start,) = started(bench)
    if version == "1.6":
        assert (start["connectorId"], start["idTag"]) == (2, "SERVER-TAG")
        assert bench.statuses(mark) == [(2, "Preparing"), (2, "Charging")]
    else:
        assert start["evse"] == {"id": 2, "connectorId": 1}
        assert start["idToken"] == {"idToken": "SERVER-TAG", "type": "ISO14443"}
        assert start["triggerReason"] == "RemoteStart"
        assert start["transactionInfo"]["remoteStartId"] == 42
        assert start["seqNo"] == 0
        assert bench.statuses(mark) == [(2, "Occupied")]


def test_remote_start_201_keeps_the_id_token_type() -> None:
    """F02.FR.12: the TransactionEvent carries the IdToken of the request, its type too."""
    bench = booted("2.0.1", configuration=(("authorize_remote_start", "true"),))
    token = {"idToken": "CENTRAL-1", "type": "Central"}
    answer = bench.server_call("RequestStartTransaction", {"idToken": token, "remoteStartId": 3})
    assert status_of(answer) == "Accepted"
    bench.run(1)
    assert bench.named("Authorize")[0].payload["idToken"] == token
    assert started(bench)[0]["idToken"] == token


@pytest.mark.parametrize("version", VERSIONS)
def test_remote_start_without_connector_picks_a_free_one(version: str) -> None:
    """With no connector / EVSE given the station picks a free one (F02.FR.22; 1.6 5.11)."""
    bench = booted(version, connectors=2)
    assert remote_start(bench, 1) == "Accepted"
    assert remote_start(bench, None) == "Accepted"
    assert remote_start(bench, None) == "Rejected"  # both busy now
    bench.run(1)
    key = "connectorId" if version == "1.6" else "evse"
    ids = [s[key] if version == "1.6" else s[key]["id"] for s in started(bench)]
    assert ids == [1, 2]


@pytest.mark.parametrize("version", VERSIONS)
def test_remote_start_authorizes_first_when_configured(version: str) -> None:
    """AuthorizeRemoteTxRequests / AuthorizeRemoteStart true: Authorize, then the start;
    changing the setting at run time takes effect at once."""
    bench = booted(version, connectors=2)
    assert (
        set_setting(bench, "AuthorizeRemoteTxRequests", "AuthCtrlr.AuthorizeRemoteStart", "true")
        == "Accepted"
    )
    mark = len(bench.calls)
    assert remote_start(bench, 1, tag="T1") == "Accepted"
    bench.run(1)
    tx_actions = [a for a in bench.actions()[mark:] if a != "StatusNotification"]
    assert tx_actions == [
        "Authorize",
        "StartTransaction" if version == "1.6" else "TransactionEvent",
    ]
    assert (
        set_setting(bench, "AuthorizeRemoteTxRequests", "AuthCtrlr.AuthorizeRemoteStart", "false")
        == "Accepted"
    )
    mark = len(bench.calls)
    assert remote_start(bench, 2, tag="T2") == "Accepted"
    bench.run(1)
    assert "Authorize" not in bench.actions()[mark:]
    assert len(started(bench)) == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_remote_start_rejected_on_busy_inoperative_or_unknown_connector(version: str) -> None:
    """F02.FR.25/26 (1.6 5.11): a busy, Inoperative or unknown connector is Rejected."""
    bench = booted(version, connectors=2)
    assert remote_start(bench, 1) == "Accepted"
    assert remote_start(bench, 1) == "Rejected"
    if version == "1.6":
        bench.server_call("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
    else:
        bench.server_call(
            "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}}
        )
    assert remote_start(bench, 2) == "Rejected"
    assert remote_start(bench, 3) == "Rejected"
    assert remote_start(bench, 0) == "Rejected"
    bench.run(1)
    assert len(started(bench)) == 1


# -- remote stop ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_remote_stop_ends_the_session_at_once(version: str) -> None:
    """Remote stop ends the transaction in the same event, reason Remote (2.0.1 RemoteStop /
    Remote, F03.FR.03), and no meter sample follows the request."""
    bench = booted(version, session=Session(meter_interval_s=10.0))
    remote_start(bench, 1)
    bench.run(25)  # two periodic samples
    stop_at = bench.now
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(60)
    (end,) = ended(bench)
    if version == "1.6":
        assert end["reason"] == "Remote" and end["transactionId"] == tx_id(bench)
        meters = bench.named("MeterValues")
    else:
        assert end["triggerReason"] == "RemoteStop"
        assert end["transactionInfo"]["stoppedReason"] == "Remote"
        assert "idToken" not in end
        meters = [c for c in bench.named("TransactionEvent") if c.payload["eventType"] == "Updated"]
    assert len(meters) == 2
    stop_call = next(c for c in bench.tx_messages() if c.payload is end)
    assert stop_call.at == stop_at  # sent at once: nothing else was waiting
    assert bench.statuses()[-1] == (1, "Available")


@pytest.mark.parametrize("version", VERSIONS)
def test_remote_stop_of_an_unknown_transaction_is_rejected(version: str) -> None:
    """F03.FR.08 (1.6 5.12): a transaction id that is not running is Rejected."""
    bench = booted(version)
    remote_start(bench, 1)
    bench.run(1)
    assert remote_stop(bench, 999 if version == "1.6" else "999-x-CP-1") == "Rejected"
    bench.run(1)
    assert ended(bench) == []


def test_request_stop_names_the_stations_own_id_only() -> None:
    """2.0.1 (F03.FR.08): only the station's own transactionId stops a transaction; the
    text "None" (a 1.6 server id that does not exist in 2.0.1) is Rejected."""
    bench = booted("2.0.1")
    remote_start(bench, 1)
    bench.run(1)
    assert remote_stop(bench, "None") == "Rejected"
    bench.run(1)
    assert ended(bench) == []


# -- authorization ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_authorize_not_accepted_starts_no_transaction(version: str) -> None:
    """An Authorize answered other than Accepted ends the session before any transaction."""
    key = "idTagInfo" if version == "1.6" else "idTokenInfo"
    bench = booted(
        version,
        configuration=(("authorize_remote_start", "true"),),
        answers={"Authorize": {key: {"status": "Invalid"}}},
    )
    mark = len(bench.calls)
    assert remote_start(bench, 1) == "Accepted"
    bench.run(200)
    assert started(bench) == [] and "Authorize" in bench.actions()
    preparing = "Preparing" if version == "1.6" else "Occupied"
    assert bench.statuses(mark) == [(1, preparing), (1, "Available")]
    assert remote_start(bench, 1) == "Accepted"  # the connector is free again


@pytest.mark.parametrize("version", VERSIONS)
def test_start_not_accepted_ends_with_deauthorized(version: str) -> None:
    """Start answered not Accepted and StopTransactionOnInvalidId / StopTxOnInvalidId true:
    the transaction ends with DeAuthorized (2.0.1 Deauthorized / DeAuthorized, E05.FR.10)."""
    if version == "1.6":
        answers = {"StartTransaction": {"transactionId": 5, "idTagInfo": {"status": "Blocked"}}}
    else:
        answers = {
            "TransactionEvent": lambda p: (
                {"idTokenInfo": {"status": "Blocked"}} if p["eventType"] == "Started" else {}
            )
        }
    bench = booted(version, answers=answers)
    remote_start(bench, 1)
    bench.run(200)
    (end,) = ended(bench)
    if version == "1.6":
        assert end["reason"] == "DeAuthorized" and end["transactionId"] == 5
    else:
        assert end["triggerReason"] == "Deauthorized"
        assert end["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    assert len(bench.tx_messages()) == 2  # at once: no meter sample before the end


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_start_not_accepted_only_deauthorizes_when_tx_stop_point_says_so(version: str) -> None:
    """StopTxOnInvalidId true and a TxStopPoint without Authorized, PowerPathClosed or
    EnergyTransfer (here EVConnected alone): a refused tag ends the authorization, not
    the transaction: an Updated event Deauthorized with the energy stopped (E05.FR.09)."""
    answers = {
        "TransactionEvent": lambda p: (
            {"idTokenInfo": {"status": "Blocked"}} if p["eventType"] == "Started" else {}
        )
    }
    bench = booted(
        version,
        answers=answers,
        configuration=(("tx_stop_point", "EVConnected"),),
        session=Session(meter_interval_s=10.0),
    )
    remote_start(bench, 1)
    bench.run(0.5)
    messages = [c.payload for c in bench.tx_messages()]
    assert [(p["eventType"], p["triggerReason"]) for p in messages] == [
        ("Started", "RemoteStart"),
        ("Updated", "Deauthorized"),
    ]
    assert messages[1]["transactionInfo"]["chargingState"] in ("EVConnected", "SuspendedEVSE")
    bench.run(30)
    assert ended(bench) == []
    samples = [c.payload for c in bench.tx_messages()[2:]]
    assert samples and all(p["transactionInfo"]["chargingState"] != "Charging" for p in samples)
    register = {p["meterValue"][0]["sampledValue"][0]["value"] for p in samples}
    assert register == {0}, register  # no energy after the refusal


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
@pytest.mark.parametrize("stop_point", ["EVConnected", "EVConnected,Authorized"])
def test_a_drivers_stop_follows_tx_stop_point(version: str, stop_point: str) -> None:
    """The driver stops (a local stop). With Authorized in TxStopPoint the transaction
    ends (stoppedReason Local); with EVConnected alone only the authorization ends: an
    Updated event StopAuthorized, no energy, and the transaction ends when the EV is
    unplugged (E06.FR.02/03, E07.FR.01), still stoppedReason Local (E07.FR.05), with
    chargingState Idle: no EV any more. The event that ends the authorization names the
    driver's idToken, and only that one (E07.FR.02)."""
    bench = booted(
        version,
        configuration=(("tx_stop_point", stop_point),),
        session=Session(meter_interval_s=10.0),
    )
    bench.driver.step(lambda st, now: st.plug_in(now, 1, "TAG-1"))
    bench.driver.step(lambda st, now: st.start_transaction(now, 1, "TAG-1"))
    bench.run(15)
    bench.driver.step(lambda st, now: st.stop_transaction(now, 1))
    bench.run(30)
    last = bench.tx_messages()[-1].payload
    if stop_point != "EVConnected":
        (end,) = ended(bench)
        assert end["transactionInfo"]["stoppedReason"] == "Local"
        assert end["transactionInfo"]["chargingState"] == "EVConnected"  # still plugged in
        assert end["idToken"]["idToken"] == "TAG-1"
        return
    assert ended(bench) == []
    updates = [c.payload for c in bench.tx_messages() if c.payload["eventType"] == "Updated"]
    stopped = [p for p in updates if p["triggerReason"] == "StopAuthorized"]
    assert len(stopped) == 1, updates
    assert stopped[0]["transactionInfo"]["chargingState"] in ("EVConnected", "SuspendedEVSE")
    assert stopped[0]["idToken"]["idToken"] == "TAG-1"
    assert [p for p in updates if "idToken" in p] == stopped
    registers = {
        p["meterValue"][0]["sampledValue"][0]["value"]
        for p in updates[updates.index(stopped[0]) + 1 :]
        if p.get("meterValue")
    }
    assert len(registers) <= 1, registers  # no energy after the stop
    bench.driver.step(lambda st, now: st.unplug(now, 1))
    bench.run(1)
    (end,) = ended(bench)
    assert (end["triggerReason"], end["transactionInfo"]["stoppedReason"]) == (
        "EVCommunicationLost",
        "Local",
    ), last
    assert "idToken" not in end
    assert end["transactionInfo"]["chargingState"] == "Idle"  # the EV is gone (E06)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_stop_for_the_ev_leaving_unplugs_it(version: str) -> None:
    """A scenario's stop with reason EVDisconnected is the EV's leaving: the connector is
    Available at once, not Finishing, and 2.x's Ended says chargingState Idle."""
    bench = booted(version, session=Session(meter_interval_s=10.0))
    bench.driver.step(lambda st, now: st.plug_in(now, 1, "TAG-1"))
    bench.driver.step(lambda st, now: st.start_transaction(now, 1, "TAG-1"))
    bench.run(5)
    bench.driver.step(lambda st, now: st.stop_transaction(now, 1, "EVDisconnected"))
    bench.run(1)
    (end,) = ended(bench)
    assert bench.statuses()[-1] == (1, "Available")
    assert not bench.station.connectors[0].plugged
    if version == "1.6":
        assert end["reason"] == "EVDisconnected"
    else:
        assert end["transactionInfo"]["chargingState"] == "Idle"


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_a_full_offline_queue_drops_samples_before_state_events(version: str) -> None:
    """Offline with the queue at its bound, the periodic samples go first: the event
    that the authorization ended (StopAuthorized) reaches the CSMS after the outage."""
    bench = booted(
        version,
        configuration=(("tx_stop_point", "EVConnected"),),
        session=Session(duration_s=3600, meter_interval_s=1.0),
        offline_queue_max=5,
        reconnect=Reconnect(initial_s=10, max_s=20, factor=2, random_range_s=0),
    )
    bench.driver.step(lambda st, now: st.plug_in(now, 1, "TAG-1"))
    bench.driver.step(lambda st, now: st.start_transaction(now, 1, "TAG-1"))
    bench.run(3)
    bench.refuse = [Failure("connect_refused")] * 2
    bench.drop()
    bench.driver.step(lambda st, now: st.stop_transaction(now, 1))
    bench.run(60)  # samples every second fill the queue many times over
    assert bench.connected
    bench.run(5)
    triggers = [c.payload["triggerReason"] for c in bench.tx_messages()]
    assert "StopAuthorized" in triggers, triggers
    assert bench.counters.offline_dropped > 0


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_an_unscripted_sessions_end_follows_tx_stop_point(version: str) -> None:
    """A session with no driver's scenario reaches its planned end under TxStopPoint
    EVConnected: the driver stops (Updated StopAuthorized), then the EV leaves (Ended,
    stoppedReason Local); under the default the end is one Ended StopAuthorized."""
    bench = booted(
        version,
        configuration=(("tx_stop_point", "EVConnected"),),
        session=Session(duration_s=20.0, meter_interval_s=60.0),
    )
    assert remote_start(bench, 1) == "Accepted"
    bench.run(30)
    events = [(c.payload["eventType"], c.payload["triggerReason"]) for c in bench.tx_messages()]
    assert events[-2:] == [("Updated", "StopAuthorized"), ("Ended", "EVCommunicationLost")]
    assert ended(bench)[0]["transactionInfo"]["stoppedReason"] == "Local"


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_stops_after_an_energy_only_refusal_still_end_the_authorization(version: str) -> None:
    """StopTxOnInvalidId false and a refused tag: the energy stops but the transaction
    stays authorized (E05.FR.02). Under TxStopPoint EVConnected a remote stop then still
    ends the authorization (Updated RemoteStop, F03.FR.02) and the end says Remote."""
    answers = {
        "TransactionEvent": lambda p: (
            {"idTokenInfo": {"status": "Invalid"}} if p["eventType"] == "Started" else {}
        )
    }
    bench = booted(
        version,
        answers=answers,
        configuration=(("tx_stop_point", "EVConnected"), ("stop_tx_on_invalid_id", "false")),
    )
    assert remote_start(bench, 1) == "Accepted"
    bench.run(5)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    triggers = [c.payload["triggerReason"] for c in bench.tx_messages()]
    assert triggers[-2:] == ["RemoteStop", "EVCommunicationLost"], triggers
    assert ended(bench)[0]["transactionInfo"]["stoppedReason"] == "Remote"


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_unlock_refuses_only_an_authorized_transaction(version: str) -> None:
    """F05.FR.02: OngoingAuthorizedTransaction while the transaction is authorized; once
    the CSMS refused its tag (TxStopPoint EVConnected: only the authorization ends, the
    EV still in) the connector unlocks, and the cable out ends the transaction."""
    refuse = {"on": False}
    answers = {
        "TransactionEvent": lambda p: (
            {"idTokenInfo": {"status": "Blocked"}}
            if refuse["on"] and p["eventType"] == "Started"
            else {}
        )
    }
    bench = booted(version, answers=answers, configuration=(("tx_stop_point", "EVConnected"),))
    unlock = {"evseId": 1, "connectorId": 1}
    assert remote_start(bench, 1) == "Accepted"
    bench.run(2)
    assert status_of(bench.server_call("UnlockConnector", unlock)) == (
        "OngoingAuthorizedTransaction"
    )
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(2)
    refuse["on"] = True
    assert remote_start(bench, 1) == "Accepted"
    bench.run(2)
    assert [p["transactionInfo"]["stoppedReason"] for p in ended(bench)] == ["Remote"]
    assert status_of(bench.server_call("UnlockConnector", unlock)) == "Unlocked"
    bench.run(1)
    assert ended(bench)[-1]["transactionInfo"]["stoppedReason"] == "DeAuthorized"


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_a_full_offline_queue_keeps_the_start(version: str) -> None:
    """Offline beyond the queue's bound, a profile switching the power on and off every
    5 s fills it with state changes (no periodic samples): those go first, the
    transaction's Started event reaches the CSMS."""
    bench = booted(
        version,
        session=Session(duration_s=3600, meter_interval_s=0.0),
        offline_queue_max=5,
        reconnect=Reconnect(initial_s=10, max_s=20, factor=2, random_range_s=0),
    )
    periods = [(i * 5, 0.0 if i % 2 else 11000.0) for i in range(24)]
    request = profile_request(version, 0, "TxDefaultProfile", periods, kind="Relative")
    assert status_of(bench.server_call("SetChargingProfile", request)) == "Accepted"
    bench.run(1)
    bench.refuse = [Failure("connect_refused")] * 4
    bench.drop()
    bench.driver.step(lambda st, now: st.plug_in(now, 1, "TAG-1"))
    bench.driver.step(lambda st, now: st.start_transaction(now, 1, "TAG-1"))
    bench.run(100)
    assert bench.counters.offline_dropped > 0
    bench.run(30)
    events = [c.payload["eventType"] for c in bench.tx_messages()]
    assert events and events[0] == "Started", events


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_a_remote_stop_follows_tx_stop_point(version: str) -> None:
    """RequestStopTransaction under a TxStopPoint without Authorized: the energy stops
    and an Updated event says RemoteStop (F03.FR.02); the EV of a remote start (no driver
    to wait for) then leaves, which ends the transaction, stoppedReason Remote."""
    bench = booted(version, configuration=(("tx_stop_point", "EVConnected"),))
    assert remote_start(bench, 1) == "Accepted"
    bench.run(5)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    events = [c.payload for c in bench.tx_messages()]
    assert [(p["eventType"], p["triggerReason"]) for p in events[-2:]] == [
        ("Updated", "RemoteStop"),
        ("Ended", "EVCommunicationLost"),
    ]
    assert events[-1]["transactionInfo"]["stoppedReason"] == "Remote"


@pytest.mark.parametrize("version", VERSIONS)
def test_start_not_accepted_keeps_charging_without_stop_on_invalid_id(version: str) -> None:
    """With StopTransactionOnInvalidId / StopTxOnInvalidId false the session goes on."""
    if version == "1.6":
        answers = {"StartTransaction": {"transactionId": 5, "idTagInfo": {"status": "Invalid"}}}
    else:
        answers = {"TransactionEvent": {"idTokenInfo": {"status": "Invalid"}}}
    bench = booted(version, answers=answers)
    assert (
        set_setting(bench, "StopTransactionOnInvalidId", "TxCtrlr.StopTxOnInvalidId", "false")
        == "Accepted"
    )
    remote_start(bench, 1)
    bench.run(60)
    assert ended(bench) == []
    # the start and two samples; 2.0.1 tells the energy stopped in between (E05.FR.02)
    assert len(bench.tx_messages()) == (3 if version == "1.6" else 4)


@pytest.mark.parametrize("version", VERSIONS)
def test_start_not_accepted_without_stop_on_invalid_id_stops_the_energy(version: str) -> None:
    """With StopTransactionOnInvalidId / StopTxOnInvalidId false a refused tag only stops
    the energy (1.6 errata 3.17): at once SuspendedEVSE (errata 3.64; 2.0.1 an Updated
    event ChargingStateChanged, E05.FR.02), power 0 and an energy register that stays
    where the transaction started, while it goes on."""
    if version == "1.6":
        answers = {"StartTransaction": {"transactionId": 5, "idTagInfo": {"status": "Invalid"}}}
    else:
        answers = {"TransactionEvent": {"idTokenInfo": {"status": "Invalid"}}}
    bench = booted(version, answers=answers, session=Session(meter_interval_s=10.0))
    key = ("MeterValuesSampledData", "SampledDataCtrlr.TxUpdatedMeasurands")
    assert set_setting(bench, *key, "Energy.Active.Import.Register,Power.Active.Import") == (
        "Accepted"
    )
    assert (
        set_setting(bench, "StopTransactionOnInvalidId", "TxCtrlr.StopTxOnInvalidId", "false")
        == "Accepted"
    )
    mark = len(bench.calls)
    remote_start(bench, 1)
    bench.run(0.5)
    if version == "1.6":
        assert bench.statuses(mark) == [(1, "Preparing"), (1, "Charging"), (1, "SuspendedEVSE")]
    assert bench.station.connectors[0].status == "SuspendedEVSE"
    messages = [c.payload for c in bench.tx_messages()]
    if version != "1.6":
        assert [(p["seqNo"], p["triggerReason"]) for p in messages] == [
            (0, "RemoteStart"),
            (1, "ChargingStateChanged"),
        ]
        changed = messages[-1]
        assert changed["eventType"] == "Updated"
        assert changed["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    bench.run(30)
    assert ended(bench) == []
    samples = [c.payload for c in bench.tx_messages()[len(messages) :]]
    assert len(samples) == 3
    for payload in samples:
        sampled = {v["measurand"]: v["value"] for v in payload["meterValue"][0]["sampledValue"]}
        assert float(sampled["Energy.Active.Import.Register"]) == 0
        assert float(sampled["Power.Active.Import"]) == 0
        if version != "1.6":
            assert payload["triggerReason"] == "MeterValuePeriodic"
            assert payload["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    if version != "1.6":  # the state is told once, seqNo goes on without a gap
        assert [p["seqNo"] for p in samples] == [2, 3, 4]
    assert bench.counters.power_w == 0


ACCEPTED = '{"status":"Accepted","currentTime":"2026-01-01T00:00:00Z","interval":60}'


def _booting(fleet: Fleet, charge_point_id: str) -> tuple[Station, str]:
    """A station connected at 0.01 s, and the unique id of its BootNotification."""
    station = Station(charge_point_id, fleet, Counters())
    station.start(0.0)
    boot = [a for a in station.connected(0.01, 5.0) if isinstance(a, Send)]
    return station, parse(boot[0].data.decode()).unique_id  # type: ignore[union-attr]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_an_answer_is_timed_to_its_arrival_not_its_read(version: str) -> None:
    """A response time ends when the answer reached the host (``arrived``, the kernel's
    stamp), not when it was read: a process that batches its reads does not add the
    wait to the server's figures. Without ``arrived`` it ends at the read."""
    fleet = Fleet.build(ChargePoints(), version)
    times: list[float] = []
    for arrived in (0.25, None):
        station, boot_id = _booting(fleet, "ARR-1")
        actions = station.text(1.0, f'[3,"{boot_id}",{ACCEPTED}]', arrived)
        (report,) = [a for a in actions if isinstance(a, Report) and a.name == "BootNotification"]
        assert report.failure is None
        times.append(report.response_time_ms)
    assert times == pytest.approx([240.0, 990.0])


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_server_calls_answer_is_timed_from_its_arrival(version: str) -> None:
    """The charger answers a server call as it reads it; the answer time it reports runs
    from when the call reached the host (``arrived``), so a read held back by batching
    shows there. Without ``arrived`` the answer is timed from the read: 0 ms."""
    fleet = Fleet.build(ChargePoints(), version)
    times: list[float] = []
    for arrived in (0.996, None):
        station, boot_id = _booting(fleet, "ARR-2")
        station.text(0.5, f'[3,"{boot_id}",{ACCEPTED}]')
        call = '[2,"s-1","TriggerMessage",{"requestedMessage":"Heartbeat"}]'
        actions = station.text(1.0, call, arrived)
        sent = [parse(a.data.decode()) for a in actions if isinstance(a, Send)]
        assert sent[0].unique_id == "s-1"  # answered at once, before what it sets off
        (report,) = [a for a in actions if isinstance(a, Report) and a.request_type == "server"]
        assert (report.name, report.failure) == ("TriggerMessage", None)
        times.append(report.response_time_ms)
    assert times == pytest.approx([4.0, 0.0])
