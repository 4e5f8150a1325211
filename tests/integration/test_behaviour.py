"""What a CSMS sees loadgen's charge points do when its operator commands them.

Every test reads the record of the reference CSMS (``csms_ocpp.py``, built on the
``ocpp`` package, which validates every frame in both directions against the official
OCPP 1.6J and 2.0.1 schemas) while plain Locust runs the charge points standalone, as a
user runs it. The CSMS runs one operator scenario per charge point
(``csms_scenarios.py``; the charge point ids are the scenario names, from an ids file)
and answers Heartbeat and StatusNotification 300 ms late, so a charge point with more
to send must wait for them.

Per version there are four runs, started together and ended (SIGINT, as Ctrl-C) once
every scenario has finished: ``commands`` (an idle fleet the operator drives),
``offline`` (a charging fleet whose connection the CSMS drops and refuses for a while),
``reconnect-boots`` (``boot_on_reconnect`` and ``AuthorizeRemoteTxRequests`` set in
the config) and ``app-start`` (examples/app_start.py's drivers, who plug in and wait for
the back end's remote start). Requirement ids (E05.FR.10) are OCPP 2.0.1 Part 2's;
section numbers are OCPP 1.6 edition 2's (with the errata), or OCPP-J's where it says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.integration import csms_scenarios as sc
from tests.integration.behaviour_runs import (
    Run,
    RunResult,
    RunSpec,
    call,
    calls_from_cp,
    end_reasons,
    execute,
    first_start,
    frames,
    id_status,
    index_of,
    mark,
    sample_time,
    statuses,
    tx_end,
)
from tests.integration.support import ROOT, poll

pytestmark = pytest.mark.integration

VERSIONS = ("1.6", "2.0.1")


def _charging(version: str) -> dict[str, Any]:
    """Each charge point runs its own sessions: 6 s, a sample a second, up to 1 s apart."""
    session = {"duration_s": 6, "meter_interval_s": 1, "pause_s": 1, "id_tag": sc.TAG_SESSION}
    return {"scenario": {"idle": 0, "charging": 1}, "session": session}


def _reconnect_boots(version: str) -> dict[str, Any]:
    """Boot on every reconnect; authorize remote starts, by the version's own setting name."""
    key = "AuthorizeRemoteTxRequests" if version == "1.6" else "AuthCtrlr.AuthorizeRemoteStart"
    return {"boot_on_reconnect": True, "configuration": {key: True}}


def _app_start(version: str) -> dict[str, Any]:
    """Every charge point runs the example's scenario; its EV stays past the test."""
    return {"scenario": {"idle": 0, "charging": 1}, "session": {"duration_s": 60, "pause_s": 1}}


RUNS = (
    RunSpec(
        "commands",
        (
            "remote-start",
            "remote-stop",
            "authorization",
            "reset",
            "availability",
            "unlock",
            "trigger",
            "boot",
            "config-heartbeat",
            "config-meter",
            "credentials",
        ),
    ),
    RunSpec("offline", ("offline", "offline-brief"), connectors=1, charge_points=_charging),
    RunSpec(
        "reconnect-boots",
        ("boot-on-reconnect", "remote-start-config"),
        charge_points=_reconnect_boots,
    ),
    RunSpec(
        "app-start",
        ("app-start",),
        charge_points=_app_start,
        locustfile=ROOT / "examples" / "app_start.py",
    ),
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Any]]:
    """``runs(version)``: the results of that version's runs, run once for the module."""
    done: dict[str, dict[str, RunResult]] = {}

    def get(version: str) -> dict[str, RunResult]:
        if version not in done:
            done[version] = execute(RUNS, version, tmp_path_factory.mktemp(f"behaviour-{version}"))
        return done[version]

    yield get


# -- the behaviours -------------------------------------------------------------------

version_param = pytest.mark.parametrize("version", VERSIONS)


@pytest.mark.timeout(180)
@version_param
def test_remote_start_uses_the_servers_tag_on_the_asked_connector(runs: Any, version: str) -> None:
    """A remote start charges on the asked connector for the server's tag, without an
    Authorize while AuthorizeRemoteTxRequests / AuthorizeRemoteStart is false (1.6 5.11,
    F02.FR.10); 2.0.1's Started carries triggerReason RemoteStart and the remoteStartId
    (F02.FR.01, F01.FR.19)."""
    cp = runs(version)["commands"].charger("remote-start")
    assert call(cp, "RemoteStart")["status"] == "Accepted"
    begin, stop = mark(cp, "RemoteStart"), mark(cp, "RemoteStop")
    i = first_start(version, cp, begin)
    started = cp["messages"][i]
    evidence = frames(cp, begin, stop + 3)
    assert sc.start_connector(version, started) == sc.REMOTE_CONNECTOR, evidence
    assert sc.tag_of(version, started) == sc.TAG_REMOTE, evidence
    assert "Authorize" not in calls_from_cp(cp, begin, stop), evidence
    if version != "1.6":
        payload = started["payload"]
        assert payload["triggerReason"] == "RemoteStart", evidence
        assert payload["transactionInfo"].get("remoteStartId") == sc.REMOTE_START_ID, evidence
        assert payload["idToken"] == {"idToken": sc.TAG_REMOTE, "type": "ISO14443"}, evidence


@pytest.mark.timeout(180)
@version_param
def test_remote_start_authorizes_first_when_the_setting_is_on(runs: Any, version: str) -> None:
    """With AuthorizeRemoteTxRequests / AuthCtrlr.AuthorizeRemoteStart true, set by the
    CSMS or in the config, the charge point sends Authorize with the server's tag and
    starts only after it is Accepted (1.6 5.11, F02.FR.09)."""
    result = runs(version)
    commanded = result["commands"].charger("remote-start")
    configured = result["reconnect-boots"].charger("remote-start-config")
    assert call(commanded, "AuthorizeRemote.true")["status"] in ("Accepted", ["Accepted"])
    value = call(configured, "AuthorizeRemote.get")["response"]
    if version == "1.6":
        assert value["configurationKey"][0]["value"] == "true", value
    else:
        assert value["getVariableResult"][0]["attributeValue"] == "true", value
    for cp, label, tag, remote_start_id in (
        (commanded, "RemoteStart.authorize", sc.TAG_REMOTE_AUTH, sc.REMOTE_START_ID + 1),
        (configured, "RemoteStart", sc.TAG_CONFIG_AUTH, sc.REMOTE_START_ID + 80),
    ):
        begin = mark(cp, label)
        evidence = frames(cp, begin)
        auth = index_of(cp, lambda m: m["action"] == "Authorize", begin)
        assert sc.tag_of(version, cp["messages"][auth]) == tag, evidence
        assert id_status(version, cp["messages"][auth]) == "Accepted", evidence
        started = first_start(version, cp, begin)
        assert started > auth, evidence
        assert sc.tag_of(version, cp["messages"][started]) == tag, evidence
        assert sc.start_connector(version, cp["messages"][started]) == sc.REMOTE_CONNECTOR
        if version != "1.6":
            payload = cp["messages"][started]["payload"]
            assert payload["triggerReason"] == "RemoteStart", evidence
            assert payload["transactionInfo"].get("remoteStartId") == remote_start_id, evidence


@pytest.mark.timeout(180)
@version_param
def test_a_remote_start_starts_the_session_of_the_ev_waiting_plugged_in(
    runs: Any, version: str
) -> None:
    """The "cable plugin first" start (2.0.1 F02, 1.6 5.11), as examples/app_start.py runs it: the
    driver plugs in and waits; the back end's remote start, naming no connector, is
    Accepted and starts the transaction on the connector where the EV waits, with the
    server's tag, no Authorize (AuthorizeRemoteTxRequests / AuthorizeRemoteStart false)
    and no second plug-in status (2.0.1: triggerReason RemoteStart, the remoteStartId);
    the remote stop ends it with reason Remote."""
    cp = runs(version)["app-start"].charger("app-start")
    plugged_status = "Preparing" if version == "1.6" else "Occupied"
    begin, stop = mark(cp, "AppStart"), mark(cp, "AppStop")
    evidence = frames(cp, 0, None)
    assert call(cp, "AppStart")["status"] == "Accepted", evidence
    assert "connectorId" not in call(cp, "AppStart")["request"], evidence
    assert "evseId" not in call(cp, "AppStart")["request"], evidence
    plugs = [
        i
        for i, m in enumerate(cp["messages"][: mark(cp, "Plugged")])
        if sc.status_value(version, m) == plugged_status
    ]
    assert plugs, evidence
    waiting = sc.status_connector(version, cp["messages"][plugs[-1]])
    started_at = first_start(version, cp, begin)
    started = cp["messages"][started_at]
    assert sc.start_connector(version, started) == waiting, evidence
    assert sc.tag_of(version, started) == sc.TAG_APP, evidence
    assert "Authorize" not in calls_from_cp(cp, plugs[-1], started_at), evidence
    assert [
        s for s in statuses(version, cp, plugs[-1] + 1, started_at) if s[1] == plugged_status
    ] == [], evidence
    if version != "1.6":
        payload = started["payload"]
        assert payload["triggerReason"] == "RemoteStart", evidence
        assert payload["transactionInfo"].get("remoteStartId") == sc.APP_START_ID, evidence
    tx = call(cp, "AppStop")["request"]["transactionId"]
    ended = cp["messages"][tx_end(version, cp, tx, stop)]
    expected = ("Remote",) if version == "1.6" else ("RemoteStop", "Remote")
    assert end_reasons(version, ended) == expected, evidence


@pytest.mark.timeout(180)
def test_remote_start_keeps_the_id_token_type(runs: Any) -> None:
    """2.0.1: an idToken is its value and its type; a RequestStartTransaction for a
    Central token starts a transaction for that same token (F02.FR.12)."""
    version = "2.0.1"
    cp = runs(version)["commands"].charger("remote-start")
    begin = mark(cp, "RemoteStart.central")
    started = cp["messages"][first_start(version, cp, begin)]
    assert started["payload"]["idToken"] == {"idToken": sc.TAG_REMOTE_CENTRAL, "type": "Central"}, (
        frames(cp, begin)
    )


@pytest.mark.timeout(180)
@version_param
def test_remote_stop_ends_at_once_and_stops_metering(runs: Any, version: str) -> None:
    """A remote stop ends the transaction within a second with reason Remote (1.6 5.12;
    F03.FR.03: RemoteStop / Remote) and no meter value is taken after the request."""
    cp = runs(version)["commands"].charger("remote-stop")
    request = call(cp, "RemoteStop")
    assert request["status"] == "Accepted"
    tx = request["request"]["transactionId"]
    end = tx_end(version, cp, tx)
    ended = cp["messages"][end]
    evidence = frames(cp, mark(cp, "RemoteStart"))
    assert ended["t"] - request["t_sent"] < 1.0, evidence
    expected = ("Remote",) if version == "1.6" else ("RemoteStop", "Remote")
    assert end_reasons(version, ended) == expected, evidence
    samples = [m for m in cp["messages"] if sc.is_meter(version, m, tx)]
    assert len([m for m in samples if m["t"] <= request["t_sent"]]) >= 2, evidence
    assert all(m["t"] < ended["t"] for m in samples), evidence
    # Generated before the charge point answered the stop: a sample taken after the
    # request would carry a later time (its own clock and ours are the host's).
    assert all(sample_time(version, m) <= request["wall_answered"] for m in samples), evidence
    later = [m for m in cp["messages"][end + 1 :] if sc.is_tx_message(version, m, tx)]
    assert later == [], evidence


@pytest.mark.timeout(180)
@version_param
def test_refused_authorization_stops_the_session(runs: Any, version: str) -> None:
    """Authorize answered Blocked or Invalid: no transaction starts (1.6 4.1, C01); a
    start answered Invalid ends the transaction DeAuthorized (1.6 StopTransactionOnInvalidId;
    E05.FR.10: Deauthorized / DeAuthorized)."""
    cp = runs(version)["commands"].charger("authorization")
    for label, tag, answer in (
        ("RemoteStart.blocked", sc.BLOCKED_TAG, "Blocked"),
        ("RemoteStart.invalid", sc.INVALID_TAG, "Invalid"),
    ):
        begin = mark(cp, label)
        evidence = frames(cp, begin)
        auth = index_of(
            cp,
            lambda m, tag=tag: m["action"] == "Authorize" and (sc.tag_of(version, m) == tag),
            begin,
        )
        assert id_status(version, cp["messages"][auth]) == answer, evidence
        starts = [m for m in cp["messages"] if sc.is_start(version, m)]
        assert [m for m in starts if sc.tag_of(version, m) == tag] == [], evidence
        assert (1, "Available") in statuses(version, cp, auth, None), evidence
    begin = mark(cp, "RemoteStart.deauth")
    evidence = frames(cp, begin)
    started = first_start(version, cp, begin, sc.DEAUTH_TAG)
    assert id_status(version, cp["messages"][started]) == "Invalid", evidence
    tx = sc.tx_of(version, cp["messages"][started])
    ended = cp["messages"][tx_end(version, cp, tx, started)]
    expected = ("DeAuthorized",) if version == "1.6" else ("Deauthorized", "DeAuthorized")
    assert end_reasons(version, ended) == expected, evidence


def _boot_after(cp: dict[str, Any], connection: int) -> dict[str, Any]:
    """The first message on connection ``connection``, which must exist."""
    on_it = [m for m in cp["messages"] if m["conn"] == connection]
    assert on_it, f"no messages on connection {connection}" + frames(cp)
    return on_it[0]


@pytest.mark.timeout(180)
@version_param
def test_reset_during_a_session_stops_then_reboots(runs: Any, version: str) -> None:
    """A reset during a session ends the transaction (1.6 5.14: SoftReset / HardReset;
    B12.FR.04: ResetCommand / ImmediateReset), then the charge point closes the WebSocket,
    connects again and boots (2.0.1 reason RemoteReset)."""
    cp = runs(version)["commands"].charger("reset")
    kinds = ("Soft", "Hard") if version == "1.6" else ("Immediate",)
    for connection, kind in enumerate(kinds, 1):
        request = call(cp, f"Reset.{kind}")
        assert request["status"] == "Accepted", frames(cp)
        assert request["conn"] == connection
        begin = mark(cp, f"Reset.{kind}")
        evidence = frames(cp, mark(cp, f"RemoteStart.{kind}"))
        tx = sc.tx_of(
            version, cp["messages"][first_start(version, cp, mark(cp, f"RemoteStart.{kind}"))]
        )
        end = tx_end(version, cp, tx, begin)
        ended = cp["messages"][end]
        expected = (f"{kind}Reset",) if version == "1.6" else ("ResetCommand", "ImmediateReset")
        assert end_reasons(version, ended) == expected, evidence
        assert ended["conn"] == connection, evidence
        closes = [c for c in cp["closes"] if c["conn"] == connection]
        assert closes and closes[0]["t"] >= ended["t"], evidence
        boot = _boot_after(cp, connection + 1)
        assert boot["action"] == "BootNotification", evidence
        assert boot["reply"]["status"] == "Accepted", evidence
        if version != "1.6":
            assert boot["payload"]["reason"] == "RemoteReset", evidence


@pytest.mark.timeout(180)
def test_reset_on_idle_waits_for_the_session(runs: Any) -> None:
    """2.0.1 Reset OnIdle during a session: Scheduled, the free EVSE goes Unavailable,
    charging goes on, and the reboot (close, connect, boot RemoteReset) comes only after
    the session ended (B12.FR.01, B12.FR.03)."""
    version = "2.0.1"
    cp = runs(version)["commands"].charger("reset")
    request = call(cp, "Reset.OnIdle")
    begin = mark(cp, "Reset.OnIdle")
    evidence = frames(cp, mark(cp, "RemoteStart.OnIdle"))
    assert request["status"] == "Scheduled", evidence
    connection = request["conn"]
    tx = sc.tx_of(version, cp["messages"][first_start(version, cp, mark(cp, "RemoteStart.OnIdle"))])
    end = tx_end(version, cp, tx, begin)
    ended = cp["messages"][end]
    assert end_reasons(version, ended) == ("RemoteStop", "Remote"), evidence
    assert (2, "Unavailable") in statuses(version, cp, begin, end), evidence
    samples = [m for m in cp["messages"][begin:end] if sc.is_meter(version, m, tx)]
    assert len(samples) >= 2, evidence
    assert all(m["conn"] == connection for m in cp["messages"][begin : end + 1]), evidence
    closes = [c for c in cp["closes"] if c["conn"] == connection]
    assert closes and closes[0]["t"] >= ended["t"], evidence
    boot = _boot_after(cp, connection + 1)
    assert (boot["action"], boot["payload"].get("reason")) == ("BootNotification", "RemoteReset")


@pytest.mark.timeout(180)
@version_param
def test_change_availability(runs: Any, version: str) -> None:
    """ChangeAvailability: Inoperative reports Unavailable and refuses remote starts there,
    Operative reports Available; during a session it is Scheduled and applies once the
    session ends; connector 0 / no EVSE changes every connector, 1.6 also connector 0
    (1.6 5.2, G03, G04)."""
    cp = runs(version)["commands"].charger("availability")
    every = sc.every_connector(version, 2)
    evidence = frames(cp)
    assert call(cp, "Inoperative.2")["status"] == "Accepted", evidence
    assert statuses(
        version, cp, mark(cp, "Inoperative.2"), mark(cp, "RemoteStart.inoperative")
    ) == [(2, "Unavailable")], evidence
    assert call(cp, "RemoteStart.inoperative")["status"] == "Rejected", evidence
    assert call(cp, "Operative.2")["status"] == "Accepted", evidence
    assert statuses(version, cp, mark(cp, "Operative.2"), mark(cp, "RemoteStart")) == [
        (2, "Available")
    ], evidence
    assert call(cp, "Inoperative.busy")["status"] == "Scheduled", evidence
    scheduled = mark(cp, "Inoperative.busy")
    tx = sc.tx_of(version, cp["messages"][first_start(version, cp, mark(cp, "RemoteStart"))])
    end = tx_end(version, cp, tx, scheduled)
    assert (1, "Unavailable") not in statuses(version, cp, scheduled, end), evidence
    assert any(sc.is_meter(version, m, tx) for m in cp["messages"][scheduled:end]), evidence
    assert (1, "Unavailable") in statuses(version, cp, end, mark(cp, "Operative.1")), evidence
    assert call(cp, "Operative.1")["status"] == "Accepted", evidence
    assert statuses(version, cp, mark(cp, "Operative.1"), mark(cp, "Inoperative.all")) == [
        (1, "Available")
    ], evidence
    for label, status, until in (
        ("Inoperative.all", "Unavailable", mark(cp, "Operative.all")),
        ("Operative.all", "Available", None),
    ):
        assert call(cp, label)["status"] == "Accepted", evidence
        seen = statuses(version, cp, mark(cp, label), until)
        assert sorted(seen) == [(c, status) for c in every], evidence


@pytest.mark.timeout(180)
@version_param
def test_unlock_connector_during_a_session(runs: Any, version: str) -> None:
    """UnlockConnector during a session: 1.6 ends it with reason UnlockCommand and answers
    Unlocked (5.18); 2.0.1 answers OngoingAuthorizedTransaction and keeps charging
    (F05.FR.02)."""
    cp = runs(version)["commands"].charger("unlock")
    request = call(cp, "UnlockConnector")
    begin = mark(cp, "UnlockConnector")
    evidence = frames(cp, mark(cp, "RemoteStart"))
    tx = sc.tx_of(version, cp["messages"][first_start(version, cp, mark(cp, "RemoteStart"))])
    end = tx_end(version, cp, tx, begin)
    if version == "1.6":
        assert request["status"] == "Unlocked", evidence
        assert end_reasons(version, cp["messages"][end]) == ("UnlockCommand",), evidence
        return
    assert request["status"] == "OngoingAuthorizedTransaction", evidence
    assert end >= mark(cp, "RequestStop.sent"), evidence
    samples = [m for m in cp["messages"][begin:end] if sc.is_meter(version, m, tx)]
    assert len(samples) >= 2, evidence
    assert end_reasons(version, cp["messages"][end]) == ("RemoteStop", "Remote"), evidence


@pytest.mark.timeout(180)
@version_param
def test_trigger_message_for_one_connector(runs: Any, version: str) -> None:
    """TriggerMessage StatusNotification / MeterValues for connector (EVSE) 2 brings
    exactly that connector's message, MeterValues with context Trigger (1.6 5.17;
    F06.FR.06, F06.FR.12)."""
    cp = runs(version)["commands"].charger("trigger")
    evidence = frames(cp)
    assert call(cp, "TriggerMessage.status")["status"] == "Accepted", evidence
    assert call(cp, "TriggerMessage.meter")["status"] == "Accepted", evidence
    status_window = (mark(cp, "TriggerMessage.status"), mark(cp, "TriggerMessage.meter"))
    meter_window = (mark(cp, "TriggerMessage.meter"), len(cp["messages"]))
    assert statuses(version, cp, *status_window) == [(2, "Available")], evidence
    meters = [m for m in cp["messages"][slice(*meter_window)] if m["action"] == "MeterValues"]
    assert len(meters) == 1, evidence
    payload = meters[0]["payload"]
    assert payload["connectorId" if version == "1.6" else "evseId"] == 2, evidence
    contexts = {v.get("context") for mv in payload["meterValue"] for v in mv["sampledValue"]}
    assert contexts == {"Trigger"}, evidence
    assert statuses(version, cp, *meter_window) == [], evidence


@dataclass
class Outage:
    """A charge point's first transaction across the connection the CSMS dropped."""

    tx: Any
    ordered: list[dict[str, Any]]  # its messages as received
    during: list[dict[str, Any]]  # those the charge point made while offline
    evidence: str


def outage(version: str, cp: dict[str, Any]) -> Outage:
    """Check what every outage must show: two connections, some refused in between, no
    BootNotification on the second (Part 4 5.3), the transaction's messages once each and
    in the order they were made (1.6 3.7), those made offline delivered after the
    reconnect; 2.0.1: offline true on exactly those (E04.FR.01), seqNo without gaps."""
    messages = cp["messages"]
    evidence = frames(cp)
    assert cp["connections"] == 2, evidence
    assert cp["refused"], "no reconnect was refused" + evidence
    dropped, reopened = cp["marks"]["drop"]["wall"], cp["opened"][1]["wall"]
    assert "BootNotification" not in [m["action"] for m in messages if m["conn"] == 2], evidence
    tx = sc.tx_of(version, messages[first_start(version, cp, 0)])
    ordered = [m for m in messages if sc.is_tx_message(version, m, tx)]
    times = [sample_time(version, m) for m in ordered]
    assert times == sorted(times), evidence
    assert len({json.dumps(m["payload"], sort_keys=True) for m in ordered}) == len(ordered)
    during = [m for m in ordered if dropped < sample_time(version, m) < reopened]
    assert [m["conn"] for m in during] == [2] * len(during), evidence
    assert any(sc.is_meter(version, m, tx) for m in during), evidence
    if version != "1.6":
        assert [m["payload"]["seqNo"] for m in ordered] == list(range(len(ordered))), evidence
        flags = [m["payload"].get("offline", False) for m in ordered]
        assert flags == [m in during for m in ordered], evidence
    return Outage(tx, ordered, during, evidence)


@pytest.mark.timeout(180)
@version_param
def test_lost_connection_mid_session(runs: Any, version: str) -> None:
    """The CSMS drops the connection mid-session and refuses reconnects until after the
    session's end: its meter values and its end, made offline, arrive after the reconnect
    in order (1.6 MeterValues / StopTransaction; 2.0.1 TransactionEvents with offline
    true and no gap in seqNo), with no BootNotification; the connector's status is
    reported and it charges again later."""
    result = runs(version)["offline"]
    cp = result.charger("offline")
    seen = outage(version, cp)
    messages, tx, evidence = cp["messages"], seen.tx, seen.evidence
    assert sc.is_end(version, seen.during[-1], tx), evidence
    assert seen.ordered[-1] is seen.during[-1], evidence
    # After the reconnect: the connector's new status (it changed offline: B04.FR.02),
    # and a new session once the old one is delivered (1.6: Authorize first).
    first_on_2 = next(i for i, m in enumerate(messages) if m["conn"] == 2)
    end = tx_end(version, cp, tx)
    assert (1, "Available") in statuses(version, cp, first_on_2, None), evidence
    again = first_start(version, cp, end)
    assert sc.tx_of(version, messages[again]) != tx, evidence
    assert messages[again]["conn"] == 2, evidence
    if version == "1.6":
        assert "Authorize" in calls_from_cp(cp, end, again), evidence
    summary = result.summary
    assert summary is not None, result.locust_output[-3000:]
    connections = summary["connections"]
    assert connections["lost"] == connections["reconnects"] == len(RUNS[1].scenarios), connections
    refused = sum(len(c["refused"]) for c in result.report["chargers"].values())
    assert summary["failures"].get("handshake_rejected") == refused, summary["failures"]


@pytest.mark.timeout(180)
@version_param
def test_brief_outage_mid_session(runs: Any, version: str) -> None:
    """The CSMS drops the connection mid-session and accepts the reconnect soon after:
    the samples made during the outage arrive after the reconnect (2.0.1 offline true),
    those made after it are sent as they are made (not offline), in one sequence, with
    no BootNotification, and the transaction ends online as planned."""
    cp = runs(version)["offline"].charger("offline-brief")
    seen = outage(version, cp)
    tx, evidence = seen.tx, seen.evidence
    online = seen.ordered[seen.ordered.index(seen.during[-1]) + 1 :]
    assert any(sc.is_meter(version, m, tx) for m in online), evidence
    ended = seen.ordered[-1]
    assert sc.is_end(version, ended, tx) and ended not in seen.during, evidence
    expected = ("Local",) if version == "1.6" else ("StopAuthorized", "Local")
    assert end_reasons(version, ended) == expected, evidence


@pytest.mark.timeout(180)
@version_param
def test_boot_on_reconnect_when_configured(runs: Any, version: str) -> None:
    """With boot_on_reconnect: true, a charge point whose connection was lost boots again
    on the new connection before anything else."""
    cp = runs(version)["reconnect-boots"].charger("boot-on-reconnect")
    evidence = frames(cp)
    assert cp["connections"] == 2, evidence
    boot = _boot_after(cp, 2)
    assert boot["action"] == "BootNotification", evidence
    assert boot["reply"]["status"] == "Accepted", evidence


@pytest.mark.timeout(180)
@version_param
def test_boot_rejected_then_pending_then_accepted(runs: Any, version: str) -> None:
    """Boot answered Rejected: the charge point sends nothing else, waits the interval
    and leaves server calls unanswered (1.6 4.2) or answers CALLERROR SecurityError
    (B03.FR.02, B03.FR.08); Pending: it answers GetConfiguration / GetVariables and
    refuses a remote start (B02.FR.01, B02.FR.05); Accepted: its statuses follow. 1.6:
    a triggered boot's interval becomes the heartbeat interval (4.2); 2.0.1: a trigger
    of BootNotification once Accepted is Rejected (F06.FR.17)."""
    cp = runs(version)["commands"].charger("boot")
    messages = cp["messages"]
    evidence = frames(cp)
    boots = [m for m in messages if m["action"] == "BootNotification"]
    answers = [m["reply"]["status"] for m in boots]
    expected = ["Rejected", "Pending", "Accepted"] + (["Accepted"] if version == "1.6" else [])
    assert answers == expected, evidence
    accepted = messages.index(boots[2])
    assert calls_from_cp(cp, 0, accepted) == ["BootNotification"] * 2, evidence
    for earlier, later in zip(boots[:2], boots[1:3], strict=True):
        assert later["t"] - earlier["t_reply"] >= sc.BOOT_RETRY_S - 0.05, evidence
    (probe,) = cp["probes"]
    assert probe["t_sent"] < boots[1]["t"], evidence
    if version == "1.6":
        assert probe["answer"] is None, probe
    else:
        assert probe["answer"] is not None and probe["answer"][0] == 4, probe
        assert probe["answer"][2] == "SecurityError", probe
    pending = call(cp, "GetConfiguration.pending")
    # sent once the Pending answer went out (times are rounded to the millisecond)
    assert boots[1]["t_reply"] <= pending["t_sent"] < boots[2]["t"], evidence
    response = pending["response"] or {}
    if version == "1.6":
        assert response["configurationKey"][0]["key"] == "HeartbeatInterval", pending
    else:
        assert response["getVariableResult"][0]["attributeStatus"] == "Accepted", pending
    assert call(cp, "RemoteStart.pending")["status"] == "Rejected", evidence
    reported = statuses(version, cp, accepted, None)
    assert {c for c, _ in reported} >= set(sc.every_connector(version, 2)), evidence
    trigger = call(cp, "TriggerMessage.boot")
    if version != "1.6":
        assert trigger["status"] == "Rejected", evidence
        return
    assert trigger["status"] == "Accepted", evidence
    triggered = boots[3]
    assert triggered["reply"]["interval"] == sc.TRIGGERED_BOOT_INTERVAL_S
    beats = [m["t"] for m in messages[messages.index(triggered) :] if m["action"] == "Heartbeat"]
    gaps = [b - a for a, b in pairwise([triggered["t_reply"], *beats])][:2]
    assert len(gaps) == 2, evidence
    interval = sc.TRIGGERED_BOOT_INTERVAL_S
    assert all(interval - 0.15 <= gap <= interval + 0.5 for gap in gaps), (gaps, evidence)
    after = call(cp, "GetConfiguration.after")["response"]["configurationKey"]
    assert after[0]["value"] == str(interval), after


@pytest.mark.timeout(180)
@version_param
def test_configuration_reports_the_required_settings(runs: Any, version: str) -> None:
    """GetConfiguration without keys returns the 1.6 Core profile's required keys (9.1);
    GetVariables reads every required 2.0.1 variable of the blocks loadgen implements."""
    cp = runs(version)["commands"].charger("config-heartbeat")
    if version == "1.6":
        response = call(cp, "GetConfiguration.all")["response"]
        keys = {k["key"]: k for k in response["configurationKey"]}
        missing = [key for key in sc.REQUIRED_KEYS_16 if key not in keys]
        assert missing == [], (missing, sorted(keys))
        assert keys["NumberOfConnectors"]["value"] == "2", keys["NumberOfConnectors"]
        assert keys["HeartbeatInterval"]["value"] == "1", keys["HeartbeatInterval"]
        assert keys["MeterValueSampleInterval"]["value"] == "1"
        assert keys["AuthorizeRemoteTxRequests"]["value"] == "false"
        assert "Core" in keys["SupportedFeatureProfiles"]["value"].split(",")
        readonly = {key for key, k in keys.items() if k["readonly"]}
        assert {"NumberOfConnectors", "GetConfigurationMaxKeys"} <= readonly, readonly
        assert "HeartbeatInterval" not in readonly
        return
    results = call(cp, "GetVariables.required")["response"]["getVariableResult"]
    refused = [r for r in results if r["attributeStatus"] != "Accepted"]
    assert refused == [], refused
    values = {r["variable"]["name"]: r.get("attributeValue") for r in results}
    assert values["HeartbeatInterval"] == "1" and values["TxUpdatedInterval"] == "1", values


@pytest.mark.timeout(180)
@version_param
def test_certificates_are_installed_listed_and_deleted(runs: Any, version: str) -> None:
    """InstallCertificate of a CSMS root is Accepted, GetInstalledCertificateIds lists
    its hash data, DeleteCertificate with that hash data is Accepted and nothing is left
    (2.0.1 M05, M03, M04; the 1.6 security whitepaper), in frames the ``ocpp`` package
    validates."""
    cp = runs(version)["commands"].charger("config-heartbeat")
    evidence = frames(cp)
    assert call(cp, "InstallCertificate")["status"] == "Accepted", evidence
    assert call(cp, "GetInstalledCertificateIds")["status"] == "Accepted", evidence
    assert call(cp, "DeleteCertificate")["status"] == "Accepted", evidence
    assert call(cp, "GetInstalledCertificateIds.after")["status"] == "NotFound", evidence


@pytest.mark.timeout(180)
@version_param
def test_heartbeat_interval_change_applies_from_the_next_beat(runs: Any, version: str) -> None:
    """ChangeConfiguration HeartbeatInterval / SetVariables OCPPCommCtrlr.HeartbeatInterval
    is Accepted and the very next Heartbeat keeps the new spacing (1.6 5.3: Accepted is
    effective at once); reading it back gives the new value."""
    cp = runs(version)["commands"].charger("config-heartbeat")
    change = call(cp, "HeartbeatInterval.set")
    begin = mark(cp, "HeartbeatInterval.set")
    beats = [m["t"] for m in cp["messages"] if m["action"] == "Heartbeat"]
    before = [t for t in beats if t <= change["t_sent"]]
    after = [t for t in beats if t > change["t_answered"]]
    evidence = frames(cp, begin - 4)
    assert before and len(after) >= 2, evidence
    gaps = [after[0] - before[-1], after[1] - after[0]]
    interval = sc.NEW_INTERVAL_S
    assert all(interval - 0.15 <= gap <= interval + 0.5 for gap in gaps), (gaps, evidence)
    read = call(cp, "HeartbeatInterval.get")["response"]
    value = (
        read["configurationKey"][0]["value"]
        if version == "1.6"
        else read["getVariableResult"][0]["attributeValue"]
    )
    assert value == str(interval), read


@pytest.mark.timeout(180)
@version_param
def test_meter_interval_change_applies_to_the_running_session(runs: Any, version: str) -> None:
    """ChangeConfiguration MeterValueSampleInterval / SetVariables SampledDataCtrlr.
    TxUpdatedInterval changes the spacing of a running session's samples from the next
    one (by the charge point's own timestamps); reading it back gives the new value."""
    cp = runs(version)["commands"].charger("config-meter")
    change = call(cp, "MeterInterval.set")
    tx = sc.tx_of(version, cp["messages"][first_start(version, cp, 0)])
    samples = [m for m in cp["messages"] if sc.is_meter(version, m, tx)]
    at = [(m["t"], sample_time(version, m)) for m in samples]
    # The CSMS sends the change once it has seen two samples: a sample it read in the
    # same millisecond as it sent the change came before it.
    before = [s for t, s in at if t <= change["t_sent"]]
    after = [s for t, s in at if t > change["t_answered"]]
    evidence = frames(cp)
    assert len(before) >= 2 and len(after) >= 2, evidence
    old_gaps = [b - a for a, b in pairwise(before)]
    assert all(0.9 <= gap <= 1.45 for gap in old_gaps), (old_gaps, evidence)
    new_gaps = [after[0] - before[-1], after[1] - after[0]]
    interval = sc.NEW_INTERVAL_S
    assert all(interval - 0.1 <= gap <= interval + 0.45 for gap in new_gaps), (new_gaps, evidence)
    read = call(cp, "MeterInterval.get")["response"]
    value = (
        read["configurationKey"][0]["value"]
        if version == "1.6"
        else read["getVariableResult"][0]["attributeValue"]
    )
    assert value == str(interval), read


@pytest.mark.timeout(180)
@version_param
def test_one_call_in_flight(runs: Any, version: str) -> None:
    """In every scenario, no charge point sends a CALL while one of its CALLs is still
    unanswered, though the CSMS answers Heartbeat and StatusNotification 300 ms late
    while they have more to send (OCPP-J 1.6 4.1.1; 2.0.1 Part 4 4.1.1)."""
    waited = 0
    for result in runs(version).values():
        for name in result.spec.scenarios:
            cp = result.report["chargers"].get(name)
            assert cp is not None, name
            assert cp["violations"] == [], (name, cp["violations"][:5])
            # Evidence the rule was tested: CALLs that came right after a late answer.
            for prev, nxt in pairwise(cp["messages"]):
                if prev.get("delayed_s") and prev["conn"] == nxt["conn"] and "t_reply" in prev:
                    waited += 0 <= nxt["t"] - prev["t_reply"] < 0.05
    assert waited >= 10, waited


@pytest.mark.timeout(60)
def test_the_csms_sees_a_call_sent_before_the_last_was_answered(tmp_path: Path) -> None:
    """Self-check of the one-CALL-in-flight record: a client that sends a second
    Heartbeat while the first is still unanswered is recorded as a violation."""
    from websockets.sync.client import connect

    run = Run(RunSpec("self-check", ()), "1.6", tmp_path / "self-check")
    try:
        run.start_csms()
        port = poll(run.port, "CSMS listening", 20)
        url = f"ws://127.0.0.1:{port}/ocpp/self-check"
        boot = {"chargePointVendor": "test", "chargePointModel": "raw"}
        with connect(url, subprotocols=["ocpp1.6"], open_timeout=10) as ws:  # type: ignore[list-item]
            ws.send(json.dumps([2, "b", "BootNotification", boot]))
            assert json.loads(ws.recv(timeout=10))[1] == "b"
            ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
            ws.send(json.dumps([2, "h2", "Heartbeat", {}]))  # h1 is answered 300 ms late
            answers = {json.loads(ws.recv(timeout=10))[1] for _ in range(2)}
            assert answers == {"h1", "h2"}
    finally:
        run.stop()
    cp = json.loads(run.report_path.read_text(encoding="utf-8"))["chargers"]["self-check"]
    assert [(v["id"], v["unanswered"]) for v in cp["violations"]] == [("h2", {"h1": "Heartbeat"})]


@pytest.mark.timeout(180)
@version_param
def test_a_new_basic_auth_password_is_used_at_once(runs: Any, version: str) -> None:
    """ChangeConfiguration AuthorizationKey (hex, 1.6 security whitepaper) / SetVariables
    SecurityCtrlr.BasicAuthPassword (A01) is Accepted; the charge point then closes and
    reconnects with the new password in its upgrade's Basic credentials, and does not boot
    again (TC_073_CS, TC_A_09_CS)."""
    import base64

    cp = runs(version)["commands"].charger("credentials")
    change = call(cp, "Password.set")
    expected = sc.NEW_PASSWORD if version == "1.6" else sc.NEW_PASSWORD + "_201"
    opened = cp["opened"]
    assert opened[0]["auth"] is None, opened  # the ids file gives it no password
    assert change["status"] in ("Accepted", ["Accepted"]), change  # 2.x: one per variable
    # after the call went out (the CSMS may take the new connection before it resumes the
    # coroutine that waited for the answer, so its t_answered can come later)
    later = [o for o in opened if o["t"] > change["t_sent"]]
    assert later, (opened, change)
    header = later[0]["auth"]
    assert header is not None and header.startswith("Basic "), later
    assert base64.b64decode(header[6:]).decode() == f"credentials:{expected}"
    boots = [m for m in cp["messages"] if m["action"] == "BootNotification"]
    assert len(boots) == 1, "a new password is not a reboot"
