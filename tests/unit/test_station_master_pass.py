"""A Master Pass (2.0.1 C16): a tag whose groupIdToken is AuthCtrlr.MasterPassGroupId stops
every ongoing transaction of a station without a UI (C16.FR.02) and starts none itself
(C16.FR.03). Every frame is schema-validated by the bench."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tests.unit.sim_csms import WALL_OFFSET_S, Bench, booted, remote_start, set_setting

VERSIONS = ["2.0.1", "2.1"]
MASTER = "MASTER-GROUP"


def _authorize(payload: dict[str, Any]) -> dict[str, Any]:
    """The CSMS: BOSS is of the master group, every other tag plainly Accepted."""
    info: dict[str, Any] = {"status": "Accepted"}
    if payload["idToken"]["idToken"] == "BOSS":
        info["groupIdToken"] = {"idToken": MASTER, "type": "Central"}
    return {"idTokenInfo": info}


def _bench(version: str) -> Bench:
    bench = booted(version, connectors=3, answers={"Authorize": _authorize})
    assert set_setting(bench, "", "AuthCtrlr.MasterPassGroupId", MASTER) == "Accepted"
    return bench


def _events(bench: Bench, event_type: str) -> list[dict[str, Any]]:
    return [
        c.payload for c in bench.named("TransactionEvent") if c.payload["eventType"] == event_type
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_master_pass_stops_every_transaction(version: str) -> None:
    """BOSS presented at a free connector: both running transactions end with
    triggerReason StopAuthorized and stoppedReason MasterPass; no transaction starts."""
    bench = _bench(version)
    assert remote_start(bench, 1, "TAG-1", 1) == "Accepted"
    assert remote_start(bench, 2, "TAG-2", 2) == "Accepted"
    bench.run(2)
    assert len(_events(bench, "Started")) == 2
    bench.driver.step(lambda st, now: st.plug_in(now, 3, "BOSS"))
    bench.driver.step(lambda st, now: st.authorize(now, "BOSS", 7, connector_id=3))
    bench.run(2)
    ended = _events(bench, "Ended")
    assert [(e["triggerReason"], e["transactionInfo"]["stoppedReason"]) for e in ended] == [
        ("StopAuthorized", "MasterPass"),
        ("StopAuthorized", "MasterPass"),
    ], ended
    assert len(_events(bench, "Started")) == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_the_ends_a_master_pass_causes_name_it(version: str) -> None:
    """The Ended events of the transactions BOSS stops carry BOSS as their idToken, the
    token used to stop the authorization (E07.FR.02); the starts keep their own."""
    bench = _bench(version)
    assert remote_start(bench, 1, "TAG-1", 1) == "Accepted"
    assert remote_start(bench, 2, "TAG-2", 2) == "Accepted"
    bench.run(2)
    bench.driver.step(lambda st, now: st.authorize(now, "BOSS", 7))
    bench.run(2)
    assert [e.get("idToken") for e in _events(bench, "Ended")] == [
        {"idToken": "BOSS", "type": "ISO14443"},
        {"idToken": "BOSS", "type": "ISO14443"},
    ]
    assert [e["idToken"]["idToken"] for e in _events(bench, "Started")] == ["TAG-1", "TAG-2"]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_master_pass_after_a_drivers_stop_names_no_second_token(version: str) -> None:
    """Under TxStopPoint EVConnected the driver's stop ended the authorization (Updated
    StopAuthorized, TAG-1); BOSS then ends the transaction (StopAuthorized, MasterPass)
    without a second idToken: it is given once, where the authorization ends (E07.FR.02)."""
    from loadgen.config import Session

    bench = booted(
        version,
        connectors=2,
        configuration=(("tx_stop_point", "EVConnected"),),
        session=Session(meter_interval_s=10.0),
        answers={"Authorize": _authorize},
    )
    assert set_setting(bench, "", "AuthCtrlr.MasterPassGroupId", MASTER) == "Accepted"
    bench.driver.step(lambda st, now: st.plug_in(now, 1, "TAG-1"))
    bench.driver.step(lambda st, now: st.start_transaction(now, 1, "TAG-1"))
    bench.run(5)
    bench.driver.step(lambda st, now: st.stop_transaction(now, 1))
    bench.run(5)
    bench.driver.step(lambda st, now: st.authorize(now, "BOSS", 7))
    bench.run(5)
    events = [c.payload for c in bench.named("TransactionEvent")]
    named = [
        (e["eventType"], e["triggerReason"], e["idToken"]["idToken"])
        for e in events
        if "idToken" in e
    ]
    assert named == [("Started", "Authorized", "TAG-1"), ("Updated", "StopAuthorized", "TAG-1")]
    (end,) = _events(bench, "Ended")
    assert (end["triggerReason"], end["transactionInfo"]["stoppedReason"]) == (
        "StopAuthorized",
        "MasterPass",
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_a_master_pass_starts_no_transaction(version: str) -> None:
    """A remote start for BOSS that Authorizes first (AuthorizeRemoteStart) starts nothing:
    the answer's group is the master one (C16.FR.03)."""
    bench = _bench(version)
    assert set_setting(bench, "", "AuthCtrlr.AuthorizeRemoteStart", "true") == "Accepted"
    assert remote_start(bench, 1, "BOSS", 9) == "Accepted"
    bench.run(3)
    assert bench.named("Authorize")
    assert not _events(bench, "Started")
    assert bench.station.connectors[0].tx is None


@pytest.mark.parametrize("version", VERSIONS)
def test_a_remote_start_for_a_master_pass_ends_nothing(version: str) -> None:
    """A remote start for BOSS (AuthorizeRemoteStart) while TAG-1 charges: the answer's
    master group refuses that start (C16.FR.03), but no card was presented at the
    station (C16.FR.02), so TAG-1's transaction goes on."""
    bench = _bench(version)
    assert set_setting(bench, "", "AuthCtrlr.AuthorizeRemoteStart", "true") == "Accepted"
    assert remote_start(bench, 1, "TAG-1", 1) == "Accepted"
    bench.run(2)
    assert remote_start(bench, 2, "BOSS", 9) == "Accepted"
    bench.run(3)
    assert [c.payload["idToken"]["idToken"] for c in bench.named("Authorize")][-1] == "BOSS"
    assert [e["idToken"]["idToken"] for e in _events(bench, "Started")] == ["TAG-1"]
    assert not _events(bench, "Ended")
    assert [c.tx is not None for c in bench.station.connectors] == [True, False, False]


@pytest.mark.parametrize("version", VERSIONS)
def test_without_a_master_group_the_group_is_just_a_group(version: str) -> None:
    """MasterPassGroupId unset (the default): BOSS starts like any tag, nothing ends."""
    bench = booted(version, connectors=2, answers={"Authorize": _authorize})
    assert set_setting(bench, "", "AuthCtrlr.AuthorizeRemoteStart", "true") == "Accepted"
    assert remote_start(bench, 1, "TAG-1", 1) == "Accepted"
    assert remote_start(bench, 2, "BOSS", 2) == "Accepted"
    bench.run(3)
    assert len(_events(bench, "Started")) == 2
    assert not _events(bench, "Ended")


@pytest.mark.parametrize("version", VERSIONS)
def test_the_charging_scenario_never_charges_with_a_master_pass(version: str) -> None:
    """The built-in charging scenario's driver presents BOSS: its authorize step answers
    MasterPass, not Accepted, so the scenario unplugs and no transaction starts with it
    (C16.FR.03), while the running one on connector 1 is stopped (C16.FR.02)."""
    from loadgen.config import Scenario, Session

    bench = booted(
        version,
        connectors=2,
        answers={"Authorize": _authorize},
        scenario=Scenario(idle=0, charging=1),
        session=Session(duration_s=600, meter_interval_s=0, pause_s=5, id_tag="BOSS"),
    )
    assert set_setting(bench, "", "AuthCtrlr.MasterPassGroupId", MASTER) == "Accepted"
    bench.run(60)
    started = [e["idToken"]["idToken"] for e in _events(bench, "Started")]
    assert "BOSS" not in started, started
    assert bench.named("Authorize"), "the scenario presented its tag"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_cached_master_tag_is_still_a_master_pass(version: str) -> None:
    """With LocalPreAuthorize and BOSS cached as Accepted of the master group, the station
    does not authorize it locally: it asks, and the answer stops the transactions."""
    bench = booted(
        version,
        connectors=2,
        answers={"Authorize": _authorize},
        configuration=(("local_pre_authorize", "true"),),
    )
    assert set_setting(bench, "", "AuthCtrlr.MasterPassGroupId", MASTER) == "Accepted"
    bench.driver.step(lambda st, now: st.authorize(now, "BOSS", 5))  # learnt, with its group
    bench.run(1)
    assert remote_start(bench, 1, "TAG-1", 1) == "Accepted"
    bench.run(2)
    asked = len(bench.named("Authorize"))
    bench.driver.step(lambda st, now: st.plug_in(now, 2, "BOSS"))
    bench.driver.step(lambda st, now: st.authorize(now, "BOSS", 6, connector_id=2))
    bench.run(2)
    assert len(bench.named("Authorize")) == asked + 1
    assert [e["transactionInfo"]["stoppedReason"] for e in _events(bench, "Ended")] == [
        "MasterPass"
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_remote_start_for_the_master_group_is_rejected(version: str) -> None:
    """RequestStartTransaction whose groupIdToken is the master group: Rejected."""
    bench = _bench(version)
    payload = {
        "idToken": {"idToken": "BOSS", "type": "Central"},
        "remoteStartId": 3,
        "evseId": 1,
        "groupIdToken": {"idToken": MASTER, "type": "Central"},
    }
    answer = bench.server_call("RequestStartTransaction", payload)
    assert answer[2]["status"] == "Rejected"
    bench.run(2)
    assert not _events(bench, "Started")


@pytest.mark.parametrize("version", VERSIONS)
def test_the_ends_a_master_pass_causes_carry_their_own_time(version: str) -> None:
    """The transactions a Master Pass stops end when its Authorize answer comes, long
    after the CSMS's last call: the Ended events' timestamps are that moment's."""
    bench = _bench(version)
    assert remote_start(bench, 1, "TAG-1", 1) == "Accepted"
    bench.run(90)  # the CSMS sends nothing more (the session lasts 120 s)
    asked_at = bench.now
    bench.driver.step(lambda st, now: st.authorize(now, "BOSS", 7))
    bench.run(2)
    (ended,) = _events(bench, "Ended")
    at = datetime.datetime.fromisoformat(ended["timestamp"]).timestamp() - WALL_OFFSET_S
    assert asked_at <= at <= bench.now, (asked_at, at, bench.now)
