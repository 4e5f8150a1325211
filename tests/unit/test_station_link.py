"""The station's link by OCPP 1.6J and 2.0.1: lost connections and the offline queue,
reconnect backoff, transaction numbering, graceful stop, a hostile server. Every frame is
schema-validated by the bench."""

from __future__ import annotations

from typing import Any

import pytest

from loadgen.config import Reconnect, Scenario, Session
from loadgen.failures import Failure
from tests.unit.sim_csms import (
    WALL_OFFSET_S,
    Bench,
    booted,
    make,
    remote_start,
    remote_stop,
    set_setting,
    tx_id,
)

VERSIONS = ["1.6", "2.0.1", "2.1"]  # 2.1: 2.0.1's behaviour under 2.1's schemas
STEADY = Reconnect(initial_s=10.0, random_range_s=0.0, factor=2.0, max_s=120.0)
REFUSED = Failure("connect_refused")


def kinds(bench: Bench, since: int = 0) -> list[str]:
    """Transaction messages as short names: start, meter (any Updated event) and end."""
    out = []
    for call in bench.tx_messages(since):
        if call.action == "StartTransaction":
            out.append("start")
        elif call.action == "StopTransaction":
            out.append("end")
        elif call.action == "MeterValues":
            out.append("meter")
        else:
            event = call.payload["eventType"]
            out.append({"Started": "start", "Ended": "end"}.get(event, "meter"))
    return out


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 2) for a, b in zip(times, times[1:], strict=False)]


# -- a lost connection -----------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_offline_transaction_messages_are_delivered_in_order(version: str) -> None:
    """Transaction messages made offline are kept and delivered in order after the
    reconnect (2.0.1 with offline true, seqNo without gap); no BootNotification is sent,
    and the connector charges again afterwards."""
    session = Session(duration_s=60.0, meter_interval_s=10.0)
    bench = booted(version, session=session, reconnect=STEADY)
    remote_start(bench, 1)
    bench.run(14)  # the start and one sample delivered
    bench.drop()
    bench.refuse = [REFUSED] * 3  # back at 15 + 10 + 20 + 40 + 80 = 165
    bench.run(200)
    assert bench.connects == 2 and len(bench.named("BootNotification")) == 1
    assert kinds(bench) == ["start", "meter", "meter", "meter", "meter", "meter", "end"]
    late = [c for c in bench.tx_messages() if c.at > 100]
    assert len(late) == 5  # four samples and the end, made offline from 21 to 61
    if version == "1.6":
        assert {c.payload["transactionId"] for c in late} == {tx_id(bench)}
    else:
        payloads = [c.payload for c in bench.tx_messages()]
        assert [p["seqNo"] for p in payloads] == list(range(7))
        assert [p.get("offline", False) for p in payloads] == [False] * 2 + [True] * 5
    assert bench.station.queue == [] and bench.station.call is None
    assert remote_start(bench, 1) == "Accepted"
    bench.run(1)
    assert kinds(bench)[-1] == "start"


def test_stop_whose_start_is_answered_after_the_reconnect_16() -> None:
    """1.6: a StartTransaction unanswered when the link drops is sent again after the
    reconnect, and the StopTransaction made offline gets the id of its answer."""
    bench = booted("1.6", session=Session(duration_s=5.0), reconnect=STEADY)
    bench.silent = {"StartTransaction"}
    remote_start(bench, 1)
    bench.run(1)
    bench.drop()  # the StartTransaction is in flight
    bench.silent = set()
    bench.run(30)
    assert kinds(bench) == ["start", "start", "end"]
    stop = bench.named("StopTransaction")[0].payload
    assert stop["transactionId"] == tx_id(bench) and stop["reason"] == "Local"
    assert bench.station.queue == [] and remote_start(bench, 1) == "Accepted"


@pytest.mark.parametrize("answer", ["call_error", "timeout", "unreadable"])
def test_messages_of_a_start_never_answered_carry_id_minus_one_16(answer: str) -> None:
    """1.6 errata 3.18 / 3.54: when StartTransaction got no usable answer after all its
    attempts (CALLERROR, no answer in time, or an answer that cannot be read), the
    transaction's MeterValues and StopTransaction still go, with transactionId -1."""
    answers: dict[str, Any] = {}
    if answer == "call_error":
        answers["StartTransaction"] = [4, "InternalError", "boom", {}]
    elif answer == "unreadable":
        answers["StartTransaction"] = [3, {"idTagInfo": {"status": "Accepted"}}]
    bench = booted(
        "1.6",
        session=Session(duration_s=60.0, meter_interval_s=10.0),
        answers=answers,
        call_timeout_s=5.0,
    )
    if answer == "timeout":
        bench.silent = {"StartTransaction"}
    remote_start(bench, 1)
    bench.run(100)
    attempts = 1 if answer == "unreadable" else 3  # TransactionMessageAttempts
    assert kinds(bench)[:attempts] == ["start"] * attempts
    assert kinds(bench)[attempts:] == ["meter"] * 5 + ["end"]
    later = bench.tx_messages()[attempts:]
    assert {c.payload["transactionId"] for c in later} == {-1}
    assert later[-1].payload["reason"] == "Local" and bench.station.queue == []


def test_started_event_in_flight_is_sent_again_201() -> None:
    """2.0.1: a TransactionEvent in flight when the link drops goes again after the
    reconnect, ahead of the events made offline, with the same seqNo."""
    bench = booted("2.0.1", session=Session(duration_s=5.0), reconnect=STEADY)
    bench.silent = {"TransactionEvent"}
    remote_start(bench, 1)
    bench.run(1)
    bench.drop()
    bench.silent = set()
    bench.run(30)
    payloads = [c.payload for c in bench.tx_messages()]
    assert [(p["eventType"], p["seqNo"]) for p in payloads] == [
        ("Started", 0),
        ("Started", 0),
        ("Ended", 1),
    ]
    assert payloads[2]["offline"] is True


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("boot_on_reconnect", [False, True])
def test_reconnect_boots_only_when_configured(version: str, boot_on_reconnect: bool) -> None:
    """A reconnect of an Accepted charger sends no BootNotification (OCPP-J 5.3), unless
    boot_on_reconnect is set; heartbeats go on either way."""
    bench = booted(version, reconnect=STEADY, boot_on_reconnect=boot_on_reconnect)
    bench.drop()
    bench.run(100)
    assert bench.connects == 2
    assert len(bench.named("BootNotification")) == (2 if boot_on_reconnect else 1)
    assert len(bench.named("Heartbeat")) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_a_boot_on_reconnect_reports_every_connector(version: str) -> None:
    """A charger that boots again on a reconnect (boot_on_reconnect) sends every
    connector's status once Accepted, as after any Accepted boot (B01.FR.05; 1.6 4.2:
    connector 0 too), not only those that changed."""
    bench = booted(version, connectors=2, reconnect=STEADY, boot_on_reconnect=True)
    before = len(bench.named("StatusNotification"))
    bench.drop()
    bench.run(30)
    assert len(bench.named("BootNotification")) == 2
    after = [c.payload for c in bench.named("StatusNotification")[before:]]
    if version == "1.6":
        assert sorted(p["connectorId"] for p in after) == [0, 1, 2]
    else:
        assert sorted(p["evseId"] for p in after) == [1, 2]


@pytest.mark.parametrize("version", VERSIONS)
def test_reconnect_reports_the_statuses_that_changed(version: str) -> None:
    """B04.FR.02: after a short time offline only connectors whose status changed are
    reported (here the one whose session ended offline)."""
    bench = booted(version, connectors=2, session=Session(duration_s=5.0), reconnect=STEADY)
    bench.run(100)
    mark = len(bench.calls)
    bench.drop()
    bench.run(20)
    assert bench.statuses(mark) == []
    remote_start(bench, 1)
    bench.run(1)
    mark = len(bench.calls)
    bench.drop()
    bench.run(20)
    assert bench.statuses(mark) == [(1, "Available")]


@pytest.mark.parametrize("version", VERSIONS)
def test_status_lost_with_the_link_is_sent_after_the_reconnect(version: str) -> None:
    """A StatusNotification still queued when the link drops is not taken as delivered:
    the reconnect reports that connector (B04.FR.02)."""
    bench = booted(version, reconnect=STEADY)
    remote_start(bench, 1)
    bench.run(1)
    bench.silent = {"StopTransaction", "TransactionEvent"}
    remote_stop(bench, tx_id(bench))  # the end waits in flight, Available behind it
    bench.run(1)
    bench.drop()
    bench.silent = set()
    mark = len(bench.calls)
    bench.run(20)
    assert kinds(bench, mark) == ["end"]
    assert bench.statuses(mark) == [(1, "Available")]


@pytest.mark.parametrize("version", VERSIONS)
def test_reconnect_after_offline_threshold_reports_every_status(version: str) -> None:
    """B04.FR.01: offline for longer than OfflineThreshold, every connector is reported."""
    bench = booted(version, connectors=2, reconnect=STEADY)
    bench.run(100)
    mark = len(bench.calls)
    bench.drop()
    bench.refuse = [REFUSED] * 3  # offline for 10 + 20 + 40 + 80 s
    bench.run(200)
    every = [(1, "Available"), (2, "Available")]
    assert bench.statuses(mark) == every


@pytest.mark.parametrize("version", VERSIONS)
def test_offline_queue_is_bounded(version: str) -> None:
    """Beyond offline_queue_max the oldest periodic samples are dropped, counted in
    counters.offline_dropped; the end of the transaction is kept."""
    session = Session(duration_s=8.0, meter_interval_s=1.0)
    bench = booted(version, session=session, reconnect=STEADY, offline_queue_max=3)
    remote_start(bench, 1)
    bench.run(1.5)
    bench.drop()  # samples at 3 to 8 and the end at 9 are made offline
    bench.run(20)
    assert bench.counters.offline_dropped == 4
    late = bench.tx_messages()[-3:]
    assert kinds(bench)[-3:] == ["meter", "meter", "end"]
    assert all(c.at > 10 for c in late)


@pytest.mark.parametrize("version", VERSIONS)
def test_heartbeat_during_a_retry_wait_does_not_spin(version: str) -> None:
    """A Heartbeat may go while an unanswered transaction message waits to be retried; if
    the retry falls due while the Heartbeat is in flight the station sleeps until the
    answer instead of waking in a loop (the bench fails on a loop)."""
    session = Session(duration_s=1000.0, meter_interval_s=7.0)
    bench = booted(version, session=session, heartbeat_interval_s=5.0, call_timeout_s=5.0)
    remote_start(bench, 1)
    bench.run(1)
    bench.silent = {"MeterValues", "TransactionEvent"}
    # the sample at 8 times out at 13 and is retried at 23, when a Heartbeat goes too
    bench.run(23)
    assert [round(c.at) for c in bench.named("Heartbeat")] == [6, 13, 18, 23]
    assert bench.wakeups < 30


# -- reconnect backoff ------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_reconnect_backoff_doubles_up_to_repeat_times_and_resets(version: str) -> None:
    """OCPP-J 5.3: waits of RetryBackOffWaitMinimum doubled after each failure, at most
    RetryBackOffRepeatTimes times, back to the minimum after a successful connect."""
    reconnect = Reconnect(
        initial_s=4.0, random_range_s=0.0, factor=2.0, max_s=100.0, repeat_times=3
    )
    bench = booted(version, reconnect=reconnect)
    start = bench.now
    bench.drop()
    bench.refuse = [REFUSED] * 6
    bench.run(200)
    tries = [start] + bench.connect_tries[1:]
    # each failure comes connect_s (0.01) after its try
    assert gaps(tries) == [4.0, 8.01, 16.01, 32.01, 32.01, 32.01, 32.01]
    bench.drop()
    before = bench.now
    bench.run(10)
    assert round(bench.connect_tries[-1] - before, 2) == 4.0


@pytest.mark.parametrize("version", VERSIONS)
def test_reconnect_backoff_adds_a_random_part(version: str) -> None:
    """Each wait gets a random part of at most RetryBackOffRandomRange seconds."""
    reconnect = Reconnect(
        initial_s=4.0, random_range_s=3.0, factor=2.0, max_s=100.0, repeat_times=2
    )
    bench = booted(version, reconnect=reconnect)
    start = bench.now
    bench.drop()
    bench.refuse = [REFUSED] * 4
    bench.run(300)
    waits = gaps([start] + [t + 0.01 for t in bench.connect_tries[1:]])
    waits[0] -= 0.01
    for wait, base in zip(waits, [4, 8, 16, 16, 16], strict=True):
        assert base <= wait <= base + 3.0
    assert len(set(waits)) > 1


def backoff_waits(bench: Bench, refusals: int, run_s: float) -> list[float]:
    """Drop the link, refuse the next ``refusals`` connects: the waits between tries."""
    start = bench.now
    bench.drop()
    bench.refuse = [REFUSED] * refusals
    bench.run(run_s)
    return gaps([start] + bench.connect_tries[1:])


@pytest.mark.parametrize(
    ("values", "run_s", "waits"),
    [
        (("3", "0", "1"), 100, [3.0, 6.01, 6.01, 6.01]),
        # above the config's reconnect.max_s (120 s): OCPP-J 5.3 as the back end set it
        (("100", "0", "2"), 1200, [100.0, 200.01, 400.01, 400.01]),
    ],
)
def test_set_variables_change_the_backoff_201(
    values: tuple[str, str, str], run_s: float, waits: list[float]
) -> None:
    """2.0.1: SetVariables of RetryBackOffWaitMinimum / RandomRange / RepeatTimes change
    the next waits, uncapped by the config once set: never under the minimum."""
    bench = booted("2.0.1", reconnect=STEADY)
    for name, value in zip(("WaitMinimum", "RandomRange", "RepeatTimes"), values, strict=True):
        assert set_setting(bench, "", f"OCPPCommCtrlr.RetryBackOff{name}", value) == "Accepted"
    assert backoff_waits(bench, 3, run_s) == waits


def test_the_configs_backoff_variables_are_the_ones_used_201() -> None:
    """RetryBackOff* in the config's ``configuration`` are the waits, not
    ``reconnect.initial_s`` (GetVariables already reported them)."""
    configuration = (("retry_backoff_wait_minimum_s", "3"), ("retry_backoff_repeat_times", "1"))
    bench = booted("2.0.1", reconnect=STEADY, configuration=configuration)
    assert backoff_waits(bench, 3, 100) == [3.0, 6.01, 6.01, 6.01]


# -- transactions -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_transactions_are_numbered_and_meters_never_fall(version: str) -> None:
    """Transaction ids are unique; 2.0.1 seqNo runs 0, 1, 2 ... per transaction; 1.6
    meterStart / meter values / meterStop never fall across transactions."""
    session = Session(duration_s=25.0, meter_interval_s=10.0)
    bench = booted(version, connectors=2, session=session)
    for _ in range(3):
        remote_start(bench, 1)
        remote_start(bench, 2)
        bench.run(30)
    assert kinds(bench).count("end") == 6
    if version == "1.6":
        starts = bench.named("StartTransaction")
        connector_of = {c.answer["transactionId"]: c.payload["connectorId"] for c in starts}
        assert len(connector_of) == 6
        readings: dict[int, list[int]] = {1: [], 2: []}
        for call in bench.tx_messages():
            p = call.payload
            if call.action == "StartTransaction":
                readings[p["connectorId"]].append(p["meterStart"])
            elif call.action == "MeterValues":
                value = int(p["meterValue"][0]["sampledValue"][0]["value"])
                readings[p["connectorId"]].append(value)
            else:
                readings[connector_of[p["transactionId"]]].append(p["meterStop"])
        for values in readings.values():
            assert len(values) == 12 and values == sorted(values) and values[-1] > 0
    else:
        by_tx: dict[str, list[int]] = {}
        for call in bench.tx_messages():
            info = call.payload["transactionInfo"]
            by_tx.setdefault(info["transactionId"], []).append(call.payload["seqNo"])
        assert len(by_tx) == 6
        assert all(seqs == list(range(len(seqs))) for seqs in by_tx.values())


def test_transaction_ids_differ_from_an_earlier_run() -> None:
    """2.0.1: a new run (a new fleet) of the same charge point does not repeat the
    transaction ids of an earlier one, which the CSMS may still hold."""
    ids = []
    for _ in range(2):
        bench = booted("2.0.1")
        remote_start(bench, 1)
        bench.run(1)
        ids.append(tx_id(bench))
    assert ids[0] != ids[1]
    assert all(len(i) <= 36 and i.startswith("1-") and i.endswith("-CP-1") for i in ids)


# -- graceful stop ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_graceful_stop_ends_sessions_then_closes(version: str) -> None:
    """stop(graceful): sessions end with reason Local (2.0.1 StopAuthorized / Local), and
    once they are delivered the station closes and stops."""
    bench = booted(version, connectors=2)
    remote_start(bench, 1)
    remote_start(bench, 2)
    bench.run(5)
    bench.stop(graceful=True)
    assert not bench.stopped
    bench.run(1)
    assert bench.stopped and bench.closes == ["stop"]
    assert kinds(bench)[-2:] == ["end", "end"]
    last = bench.tx_messages()[-1].payload
    if version == "1.6":
        assert last["reason"] == "Local"
    else:
        assert (last["triggerReason"], last["transactionInfo"]["stoppedReason"]) == (
            "StopAuthorized",
            "Local",
        )
    assert bench.timer_at is None


@pytest.mark.parametrize("version", VERSIONS)
def test_graceful_stop_is_bounded_when_the_server_is_silent(version: str) -> None:
    """stop(graceful) waits for the ends at most call_timeout_s, then closes and stops."""
    bench = booted(version, call_timeout_s=5.0)
    remote_start(bench, 1)
    bench.run(2)
    bench.silent = {"StopTransaction", "TransactionEvent"}
    stop_at = bench.now
    bench.stop(graceful=True)
    bench.run(20)
    assert bench.stopped and bench.closes == ["stop"]
    assert bench.closed_at[0] - stop_at <= 5.0


@pytest.mark.parametrize("version", VERSIONS)
def test_graceful_stop_waits_for_a_slow_server_that_answers(version: str) -> None:
    """stop(graceful) with a slow CSMS that still answers: every transaction's end is
    delivered, however many, before the station closes (the bound is on silence)."""
    bench = make(version, connectors=3, call_timeout_s=5.0, latency_s=2.0)
    bench.run(20)
    for connector in (1, 2, 3):
        remote_start(bench, connector)
    bench.run(40)
    bench.stop(graceful=True)
    bench.run(60)
    assert bench.stopped
    assert kinds(bench).count("end") == 3


@pytest.mark.parametrize("version", VERSIONS)
def test_graceful_stop_is_bounded_when_the_link_stays_down(version: str) -> None:
    """stop(graceful), then the link drops and every reconnect fails: the station still
    stops within the bound instead of retrying forever."""
    bench = booted(version, call_timeout_s=5.0, reconnect=STEADY)
    remote_start(bench, 1)
    bench.run(2)
    bench.silent = {"StopTransaction", "TransactionEvent"}
    bench.stop(graceful=True)
    bench.run(1)
    bench.drop()
    bench.refuse = [REFUSED] * 100
    bench.run(60)
    assert bench.stopped and bench.timer_at is None


@pytest.mark.parametrize("version", VERSIONS)
def test_graceful_stop_takes_no_new_session(version: str) -> None:
    """Once a graceful stop is under way a remote start is Rejected: no transaction may
    begin that the stop would not end."""
    bench = booted(version, call_timeout_s=5.0)
    remote_start(bench, 1)
    bench.run(2)
    bench.silent = {"StopTransaction", "TransactionEvent"}
    bench.stop(graceful=True)
    assert remote_start(bench, 1) == "Rejected"
    assert remote_start(bench, None) == "Rejected"
    bench.run(20)
    assert bench.stopped and kinds(bench) == ["start", "end"]


@pytest.mark.parametrize("version", VERSIONS)
def test_stop_at_once_closes_even_while_connecting(version: str) -> None:
    """stop() without grace: Close (also of a connect under way) and Stopped at once."""
    bench = booted(version, reconnect=STEADY)
    bench.drop()
    bench.run(10.005)  # the reconnect is under way
    assert bench.connect_at is not None
    bench.stop()
    assert bench.stopped and bench.closes == ["stop"]
    bench.run(100)
    assert bench.connects == 1


# -- a hostile server -------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_callerror_with_an_unknown_code_is_other(version: str) -> None:
    """A CALLERROR with a code outside OCPP's is reported call_error: other (the detail
    stays bounded), and the next CALL still goes."""
    bench = booted(version, answers={"Heartbeat": [4, "Weird" * 20, "boom", {}]})
    bench.run(130)
    beats = [r for r in bench.reports if r.name == "Heartbeat"]
    assert len(beats) == 2
    assert all(r.failure is not None and str(r.failure) == "call_error: other" for r in beats)


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_server_action_is_not_implemented(version: str) -> None:
    """A server CALL with an action OCPP does not have gets CALLERROR NotImplemented and
    is reported under the name "(unknown action)"."""
    bench = booted(version)
    answer = bench.server_call("MakeCoffee", {"sugar": 2}, unique_id="c1")
    assert answer[:3] == [4, "c1", "NotImplemented"]
    report = bench.reports[-1]
    assert (report.request_type, report.name) == ("server", "(unknown action)")
    assert str(report.failure) == "call_error: NotImplemented"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "{}",
        "[2]",
        "[3]",
        '[2, "", "Reset", {}]',
        "[9, 1]",
        "\u0000",
    ],
)
def test_malformed_frames_are_counted(version: str, text: str) -> None:
    """A frame that is not OCPP-J is reported protocol_error and answered with nothing
    when its id cannot be read; the station carries on."""
    bench = booted(version)
    bench.text(text)
    report = bench.reports[-1]
    assert (report.name, report.failure.category if report.failure else None) == (
        "(server frame)",
        "protocol_error",
    )
    assert bench.answers_to_server == []
    bench.run(70)
    assert len(bench.named("Heartbeat")) == 1


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "text", ['[2, "m1", "Reset"]', '[2, "m1", 5, {}]', '[2, "m1", "Reset", []]']
)
def test_call_of_bad_shape_gets_format_violation(version: str, text: str) -> None:
    """A CALL with a readable id but a bad shape gets CALLERROR FormatViolation (1.6's
    spelling FormationViolation)."""
    bench = booted(version)
    bench.text(text)
    code = "FormationViolation" if version == "1.6" else "FormatViolation"
    assert bench.answers_to_server[-1][:3] == [4, "m1", code]


@pytest.mark.parametrize("version", VERSIONS)
def test_an_unknown_message_type_is_ignored_in_16_and_answered_in_2x(version: str) -> None:
    """OCPP-J 1.6 4.1.3: a message type number not in the list is ignored; 2.x answers
    CALLERROR MessageTypeNotSupported with the message's id. Counted either way."""
    bench = booted(version)
    bench.text('[5, "m7", "Reset", {}]')
    assert str(bench.reports[-1].failure) == "protocol_error: MessageTypeNotSupported"
    if version == "1.6":
        assert bench.answers_to_server == []
    else:
        assert bench.answers_to_server[-1][:3] == [4, "m7", "MessageTypeNotSupported"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("text", ['[3, "1"]', '[3, "1", []]', '[4, "1", "GenericError"]'])
def test_broken_answers_are_not_answered(version: str, text: str) -> None:
    """A CALLRESULT / CALLERROR of bad shape is counted, never answered: CALLERROR only
    answers a CALL."""
    bench = booted(version)
    bench.text(text)
    assert bench.reports[-1].failure is not None
    assert bench.answers_to_server == []


@pytest.mark.parametrize("version", VERSIONS)
def test_answer_with_an_unknown_id_is_counted(version: str) -> None:
    """A CALLRESULT whose id matches no CALL in flight is reported protocol_error."""
    bench = booted(version)
    bench.text('[3, "nope", {}]')
    assert str(bench.reports[-1].failure) == "protocol_error: unknown unique id"


@pytest.mark.parametrize("version", VERSIONS)
def test_malformed_payload_gets_the_versions_code(version: str) -> None:
    """A known server CALL with a field of the wrong type gets TypeConstraintViolation,
    reported under its action."""
    bench = booted(version)
    if version == "1.6":
        answer = bench.server_call("RemoteStopTransaction", {"transactionId": "7"})
    else:
        answer = bench.server_call("RequestStopTransaction", {"transactionId": 7})
    assert answer[2] == "TypeConstraintViolation"
    assert bench.reports[-1].name.startswith("Re")
    assert str(bench.reports[-1].failure) == "call_error: TypeConstraintViolation"


@pytest.mark.parametrize("version", VERSIONS)
def test_remote_stop_before_the_start_is_answered(version: str) -> None:
    """1.6: a RemoteStop cannot name a transaction whose StartTransaction is unanswered
    (Rejected); 2.0.1 knows its own id at once (Accepted)."""
    bench = make(version, latency_s=1.0)
    bench.run(10)
    remote_start(bench, 1)
    bench.run(0.5)
    tx = bench.station.connectors[0].tx
    assert tx is not None
    name: Any = 1 if version == "1.6" else tx.local_id
    assert remote_stop(bench, name) == ("Rejected" if version == "1.6" else "Accepted")


# -- sessions that begin offline -------------------------------------------------------


def _outage_fleet(version: str, answers: dict[str, Any] | None = None, **settings: str) -> Bench:
    """A charging charger (20 s sessions, a sample every 10 s, 5 s pauses; the CSMS's
    ``answers`` beside the defaults) whose link drops at 30 s and stays down until
    15 + 10 + 20 + 40 = 115 s (about)."""
    session = Session(duration_s=20.0, meter_interval_s=10.0, pause_s=5.0)
    bench = booted(
        version,
        session=session,
        reconnect=STEADY,
        scenario=Scenario(idle=0, charging=1),
        answers=answers,
        configuration=tuple(settings.items()),
    )
    bench.run(29)
    bench.drop()
    bench.refuse = [REFUSED] * 2
    return bench


def _starts(bench: Bench) -> list[tuple[float, bool]]:
    """(when each transaction began on the station's clock, whether it was told offline)."""
    out = []
    for call in bench.tx_messages():
        payload = call.payload
        if call.action == "StartTransaction":
            out.append((wall_s(payload["timestamp"]), call.at > wall_s(payload["timestamp"]) + 1))
        elif call.action == "TransactionEvent" and payload["eventType"] == "Started":
            out.append((wall_s(payload["timestamp"]), bool(payload.get("offline"))))
    return out


def wall_s(text: str) -> float:
    """An OCPP time as the bench's clock (seconds since the bench began)."""
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() - WALL_OFFSET_S


@pytest.mark.parametrize("version", VERSIONS)
def test_sessions_wait_for_the_link_by_default(version: str) -> None:
    """Neither LocalAuthorizeOffline nor AllowOfflineTxForUnknownId: no session begins
    while the link is down; the next begins after the reconnect."""
    bench = _outage_fleet(version)
    bench.run(150)
    reconnected = bench.connect_tries[-1]
    assert all(not (30 < at < reconnected) for at, _ in _starts(bench)), _starts(bench)
    assert any(at > reconnected for at, _ in _starts(bench)), _starts(bench)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_cached_tag_starts_sessions_offline(version: str) -> None:
    """LocalAuthorizeOffline with the tag Accepted in the cache (learnt online): sessions
    go on while the link is down, without Authorize, and the CSMS gets them after the
    reconnect, in order (2.0.1 offline true)."""
    bench = _outage_fleet(version, local_authorize_offline="true")
    assert bench.named("Authorize")  # online: the cache learns the tag
    bench.run(150)
    reconnected = bench.connect_tries[-1]
    offline = [(at, told) for at, told in _starts(bench) if 30 < at < reconnected]
    assert len(offline) >= 2, _starts(bench)
    assert all(told for _, told in offline)
    assert bench.counters.authorized_locally >= len(offline)  # no Authorize for them
    if version != "1.6":
        payloads = [c.payload for c in bench.tx_messages()]
        by_tx: dict[str, list[int]] = {}
        for p in payloads:
            by_tx.setdefault(p["transactionInfo"]["transactionId"], []).append(p["seqNo"])
        assert all(seqs == list(range(len(seqs))) for seqs in by_tx.values()), by_tx


@pytest.mark.parametrize("version", VERSIONS)
def test_an_unknown_tag_starts_offline_when_allowed(version: str) -> None:
    """AllowOfflineTxForUnknownId / OfflineTxForUnknownIdEnabled: a tag neither the local
    list nor the cache knows (the cache is off here) starts while offline (1.6 3.5.4,
    C15.FR.08)."""
    bench = _outage_fleet(
        version, allow_offline_tx_for_unknown_id="true", auth_cache_enabled="false"
    )
    bench.run(150)
    reconnected = bench.connect_tries[-1]
    assert any(30 < at < reconnected for at, _ in _starts(bench)), _starts(bench)


@pytest.mark.parametrize("authorize_offline", ["true", "false"])
@pytest.mark.parametrize("version", VERSIONS)
def test_a_tag_the_cache_refuses_does_not_start_offline(
    version: str, authorize_offline: str
) -> None:
    """A tag the cache holds as Blocked is known: unknown-tag allowance does not apply,
    with LocalAuthorizeOffline or without it (the cache learns the answer for the
    allowance's sake then: C13.FR.04, 1.6 3.5.4)."""
    answers = {
        "Authorize": (
            {"idTagInfo": {"status": "Blocked"}}
            if version == "1.6"
            else {"idTokenInfo": {"status": "Blocked"}}
        )
    }
    bench = _outage_fleet(
        version,
        answers,
        allow_offline_tx_for_unknown_id="true",
        local_authorize_offline=authorize_offline,
    )
    assert bench.named("Authorize")  # answered Blocked before the drop: cached
    bench.run(150)
    assert _starts(bench) == []


@pytest.mark.parametrize(
    ("stop_point", "told"),
    [
        ("EVConnected,Authorized", ("Ended", "Deauthorized")),
        ("EVConnected", ("Updated", "Deauthorized")),
    ],
)
@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_an_offline_start_the_csms_refuses_follows_tx_stop_point(
    version: str, stop_point: str, told: tuple[str, str]
) -> None:
    """A transaction an unknown tag started offline, answered Invalid after the
    reconnect with StopTxOnInvalidId true: it ends when TxStopPoint holds Authorized
    (C15.FR.04); with EVConnected alone it is only deauthorized and goes on (C15.FR.03)."""
    session = Session(duration_s=300.0, meter_interval_s=0, pause_s=5.0)
    settings = {
        "allow_offline_tx_for_unknown_id": "true",
        "auth_cache_enabled": "false",
        "tx_stop_point": stop_point,
    }
    bench = booted(
        version,
        session=session,
        reconnect=STEADY,
        scenario=Scenario(idle=0, charging=1),
        configuration=tuple(settings.items()),
    )
    bench.run(1)
    bench.drop()
    bench.refuse = [REFUSED] * 2
    bench.driver.step(lambda st, now: st.stop_transaction(now, 1, "Local"))  # the online one
    bench.run(10)
    offline_tx = bench.station.connectors[0].tx
    assert offline_tx is not None  # the next session began offline
    bench.answers["TransactionEvent"] = lambda p: (
        {"idTokenInfo": {"status": "Invalid"}} if p["eventType"] == "Started" else {}
    )
    bench.run(100)
    events = [
        c.payload
        for c in bench.tx_messages()
        if c.payload["transactionInfo"]["transactionId"] == offline_tx.local_id
    ]
    assert events[0]["eventType"] == "Started" and events[0].get("offline") is True
    assert [(p["eventType"], p["triggerReason"]) for p in events[1:]] == [told], events
    if told[0] == "Ended":
        assert events[1]["transactionInfo"]["stoppedReason"] == "DeAuthorized"
        assert bench.station.connectors[0].tx is not offline_tx
    else:
        assert events[1]["transactionInfo"]["chargingState"] in ("EVConnected", "SuspendedEVSE")
        assert bench.station.connectors[0].tx is offline_tx  # still going on
