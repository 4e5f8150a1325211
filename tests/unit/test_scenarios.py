"""The scenario API's station side: the public steps, the news a driver hears, server
calls a driver answers, and the built-in scenarios held to public names.

The steps are fed to a real :class:`Station` on the scripted CSMS of ``sim_csms`` (no
sockets, no gevent, fake time); the greenlets that run them are the Locust face's
(``tests/integration/test_examples.py`` runs them for real).
"""

from __future__ import annotations

import ast
import random
import re
from pathlib import Path
from typing import Any

import pytest

import loadgen
from loadgen.config import Scenario, Session
from loadgen.locust.scenarios import Behaviour, Charger, on_call, on_event, scenario
from loadgen.locust.user import ChargePointUser
from loadgen.sim.actions import Answered, Notice, Report, ScenarioDue, ServerCall
from loadgen.sim.steps import StationApi, StationGone, StepRefused
from tests.unit.sim_csms import Bench, booted, make, status_of

VERSIONS = ["1.6", "2.0.1"]
BUILTIN = Path(loadgen.__file__).parent / "scenarios" / "builtin.py"


def answered(bench: Bench, token: int) -> Answered:
    """The Answered the station gave for ``token`` (fails when there is none)."""
    found = [a for a in bench.heard if isinstance(a, Answered) and a.token == token]
    assert len(found) == 1, bench.heard
    return found[0]


def ask(bench: Bench, tag: str = "TAG", connector_id: int | None = 1) -> int:
    token = bench.station.next_token()
    bench.feed(bench.station.authorize(bench.now, tag, token, connector_id))
    return token


# -- the built-in scenarios ---------------------------------------------------------------


def test_the_built_in_scenarios_use_public_names_only() -> None:
    """loadgen.scenarios.builtin imports only ``loadgen``'s exported names and touches no
    private attribute or name (no shortcut into the charger's internals)."""
    tree = ast.parse(BUILTIN.read_text(encoding="utf-8"))
    private = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_")
    ]
    private += [
        node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id[0] == "_"
    ]
    assert private == []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module not in ("__future__", "typing"):
            assert node.module == "loadgen", node.module
            assert {a.name for a in node.names} <= set(loadgen.__all__)
        assert not isinstance(node, ast.Import)


def test_the_scenario_handle_is_charger_not_a_second_charge_point() -> None:
    """The handle a scenario gets is ``loadgen.Charger``: ``ChargePoint`` names only the
    default Locust user (and the ocpp package's class), never the handle."""
    assert loadgen.Charger is Charger
    assert "ChargePoint" not in loadgen.__all__
    with pytest.raises(AttributeError):
        loadgen.ChargePoint  # noqa: B018


def test_the_default_user_runs_the_built_in_scenarios() -> None:
    """ChargePointUser's session and fault scenarios are the built-in ones, and it asks
    its stations for no news beyond them (idle chargers pay nothing)."""
    behaviour = ChargePointUser.loadgen_behaviour
    assert [fn.__name__ for fn, _ in behaviour.scenarios["session"]] == ["charging_session"]
    assert [fn.__name__ for fn, _ in behaviour.scenarios["fault"]] == ["fault"]
    assert behaviour.api is None


# -- the user class's behaviour -----------------------------------------------------------


def test_scenarios_are_picked_by_weight_and_subclasses_replace_them() -> None:
    """A class's own session scenarios replace the inherited ones (the fault one stays),
    and one is picked by weight, as Locust picks tasks."""

    class Mine(ChargePointUser):
        @scenario(weight=3)
        def often(self, cp: Charger) -> None: ...

        @scenario(weight=1)
        def rarely(self, cp: Charger) -> None: ...

    behaviour = Mine.loadgen_behaviour
    assert [fn.__name__ for fn, _ in behaviour.scenarios["fault"]] == ["fault"]
    rng = random.Random(4)
    picked = [behaviour.pick("session", rng).__name__ for _ in range(4000)]  # type: ignore[union-attr]
    assert 0.7 < picked.count("often") / len(picked) < 0.8


def test_overrides_and_hooks_tell_the_station() -> None:
    """on_call (stacked for several actions) and on_event make the class's StationApi;
    a subclass's override of a hooked method replaces it."""

    class Base(ChargePointUser):
        @on_call("GetConfiguration")
        @on_call("GetVariables")
        def slow(self, cp: Charger, payload: dict[str, Any]) -> None: ...

        @on_event("transaction_ended")
        def ended(self, cp: Charger, connector: int, detail: str) -> None: ...

    class Sub(Base):
        @on_event("status")
        def ended(self, cp: Charger, connector: int, detail: str) -> None: ...

    assert Base.loadgen_behaviour.api == StationApi(
        frozenset({"GetConfiguration", "GetVariables"}), notify=True
    )
    assert set(Sub.loadgen_behaviour.hooks) == {"status"}
    assert Sub.loadgen_behaviour.hooks["status"][0] is Sub.ended


def test_bad_marks_are_refused() -> None:
    """A weight below 1, an unknown ``when`` or event raise ValueError at import."""
    with pytest.raises(ValueError, match="weight"):
        scenario(weight=0)
    with pytest.raises(ValueError, match="when"):
        scenario(when="sometimes")
    with pytest.raises(ValueError, match="on_event"):
        on_event("charged")


def test_no_scenario_of_a_kind_is_no_scenario() -> None:
    """A kind the class has no scenario for picks nothing (the face frees the connector)."""
    behaviour = Behaviour(object)
    assert behaviour.pick("session", random.Random(1)) is None


# -- the steps ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_session_through_the_public_steps(version: str) -> None:
    """plug_in, authorize, start, stop and unplug make the session the built-in program
    always made: Preparing, Authorize, the start, meter values, Finishing, Available."""
    bench = booted(version, session=Session(meter_interval_s=1))
    station = bench.station
    since = len(bench.calls)
    bench.feed(station.plug_in(bench.now, 1, "TAG-1"))
    token = ask(bench, "TAG-1")
    bench.run(0.5)
    assert answered(bench, token).value == "Accepted"
    bench.feed(station.start_transaction(bench.now, 1))
    bench.run(2.5)
    bench.feed(station.stop_transaction(bench.now, 1, "Local"))
    assert station.connectors[0].status == "Finishing" and station.connectors[0].plugged
    bench.feed(station.unplug(bench.now, 1))
    bench.run(1)
    actions = bench.actions()[since:]
    assert actions[:2] == ["StatusNotification", "Authorize"], actions
    names = bench.station.dialect.transaction_actions
    tx = [a for a in actions if a in names]
    assert len(tx) >= 4, actions  # start, two samples or more, end
    statuses = [s for _, s in bench.statuses(since)]
    if version == "1.6":
        assert statuses == ["Preparing", "Charging", "Finishing", "Available"], statuses
    else:
        assert statuses == ["Occupied", "Available"], statuses
    assert bench.failures() == []
    assert (bench.counters.sessions_started, bench.counters.ended_local) == (1, 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_step_call_is_answered_and_counted(version: str) -> None:
    """user_call sends any CALL after the one in flight; its payload comes back as
    Answered, and it is reported like the built-in ones (OCPP <Action>)."""
    answer = {"status": "Accepted", "data": "hello"}
    bench = booted(version, answers={"DataTransfer": answer})
    tokens = [bench.station.next_token() for _ in range(3)]
    for token in tokens:  # three at once: the bench fails on a second CALL in flight
        payload = {"vendorId": "com.example", "messageId": str(token)}
        bench.feed(bench.station.user_call(bench.now, "DataTransfer", payload, token))
    bench.run(1)
    assert [answered(bench, t).value for t in tokens] == [answer] * 3
    reports = [r for r in bench.reports if r.name == "DataTransfer"]
    assert [(r.request_type, r.failure) for r in reports] == [("OCPP", None)] * 3
    assert [c.payload["messageId"] for c in bench.named("DataTransfer")] == [str(t) for t in tokens]


def test_a_step_call_fails_with_the_reason() -> None:
    """A CALLERROR, no answer in time, no connection and a lost connection come back as
    the Answered's error; the CALLERROR is counted as call_error like any CALL's."""
    bench = booted("1.6", answers={"DataTransfer": [4, "NotImplemented", "", {}]})
    station = bench.station
    refused = station.next_token()
    bench.feed(station.user_call(bench.now, "DataTransfer", {"vendorId": "x"}, refused))
    bench.run(1)
    assert answered(bench, refused).error == "call_error NotImplemented"
    failures = [r.failure for r in bench.reports if r.name == "DataTransfer"]
    assert [(f.category, f.detail) for f in failures if f] == [("call_error", "NotImplemented")]
    bench.silent.add("Heartbeat")
    waits = station.next_token()
    bench.feed(station.user_call(bench.now, "Heartbeat", {}, waits))
    bench.run(station.call_timeout_s + 1)
    assert answered(bench, waits).error == "call_timeout"
    bench.silent.add("DataTransfer")
    lost = station.next_token()
    bench.feed(station.user_call(bench.now, "DataTransfer", {"vendorId": "x"}, lost))
    bench.drop()
    assert answered(bench, lost).error == "connection lost"
    offline = station.next_token()
    bench.feed(station.user_call(bench.now, "DataTransfer", {"vendorId": "x"}, offline))
    assert answered(bench, offline).error == "not connected"


def test_local_authorization_needs_no_call() -> None:
    """With LocalPreAuthorize and a tag the local list holds as Accepted, authorize
    answers Accepted at once, without a CALL, and counts it (C14.FR.02)."""
    bench = booted("2.0.1")
    for key, value in (("LocalPreAuthorize", "true"), ("LocalAuthListEnabled", "true")):
        bench.server_call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {
                            "name": "AuthCtrlr" if "Pre" in key else "LocalAuthListCtrlr"
                        },
                        "variable": {"name": "LocalPreAuthorize" if "Pre" in key else "Enabled"},
                        "attributeValue": value,
                    }
                ]
            },
        )
    entry = {
        "idToken": {"idToken": "LOCAL", "type": "ISO14443"},
        "idTokenInfo": {"status": "Accepted"},
    }
    answer = bench.server_call(
        "SendLocalList",
        {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [entry]},
    )
    assert status_of(answer) == "Accepted"
    bench.run(1)
    since = len(bench.calls)
    token = ask(bench, "LOCAL", None)
    assert answered(bench, token).value == "Accepted"
    assert "Authorize" not in bench.actions()[since:]
    assert bench.counters.authorized_locally == 1


def test_authorization_disabled_needs_no_call() -> None:
    """With AuthCtrlr.Enabled false the station does no authorization: a driver's
    authorize step answers Accepted at once, without a CALL."""
    bench = booted("2.0.1")
    answer = bench.server_call(
        "SetVariables",
        {
            "setVariableData": [
                {
                    "component": {"name": "AuthCtrlr"},
                    "variable": {"name": "Enabled"},
                    "attributeValue": "false",
                }
            ]
        },
    )
    assert answer[2]["setVariableResult"][0]["attributeStatus"] == "Accepted"
    since = len(bench.calls)
    token = ask(bench, "ANYONE")
    assert answered(bench, token).value == "Accepted"
    bench.run(1)
    assert "Authorize" not in bench.actions()[since:]


@pytest.mark.parametrize("version", VERSIONS)
def test_refused_steps_change_nothing(version: str) -> None:
    """A step the charger cannot take raises StepRefused and changes nothing; every
    step of a stopped charger raises StationGone."""
    bench = booted(version)
    station = bench.station
    with pytest.raises(StepRefused, match="connector 3"):
        station.plug_in(bench.now, 3)
    with pytest.raises(StepRefused, match="nothing is plugged in"):
        station.start_transaction(bench.now, 1)
    bench.feed(station.plug_in(bench.now, 1))
    with pytest.raises(StepRefused, match="plugged in already"):
        station.plug_in(bench.now, 1)
    with pytest.raises(StepRefused, match="a session is on it"):
        station.set_status(bench.now, 1, "Unavailable")
    assert station.connectors[0].status == "Preparing"
    bench.stop()
    with pytest.raises(StationGone):
        station.plug_in(bench.now, 2)
    with pytest.raises(StationGone):
        station.user_call(bench.now, "Heartbeat", {}, station.next_token())


@pytest.mark.parametrize("version", VERSIONS)
def test_a_fault_step_ends_the_session_and_recovers(version: str) -> None:
    """Faulted ends a running transaction (reason Other) and counts a fault, and the
    connector goes from the session to Faulted, never Available between (1.6 4.9: a
    new user could take it); Available after it counts a recovery."""
    bench = booted(version)
    station = bench.station
    bench.feed(station.plug_in(bench.now, 1))
    bench.feed(station.start_transaction(bench.now, 1, "TAG"))
    bench.run(1)
    before = len(bench.statuses())
    bench.feed(station.set_status(bench.now, 1, "Faulted"))
    bench.run(1)
    assert station.connectors[0].status == "Faulted" and station.connectors[0].tx is None
    after = [s for c, s in bench.statuses()[before:] if c == 1]
    assert after == (["Finishing", "Faulted"] if version == "1.6" else ["Faulted"]), after
    bench.feed(station.set_status(bench.now, 1, "Available"))
    bench.run(1)
    counters = bench.counters
    assert (counters.faults, counters.faults_recovered, counters.ended_other) == (1, 1, 1)
    assert [s for c, s in bench.statuses() if c == 1][-2:] == ["Faulted", "Available"]


def test_recovering_an_inoperative_connector_leaves_it_unavailable() -> None:
    """A connector made Inoperative while Faulted is Unavailable, not Available, when
    the fault scenario recovers it (as the fault plan always did)."""
    bench = booted("1.6")
    station = bench.station
    bench.feed(station.set_status(bench.now, 1, "Faulted"))
    answer = bench.server_call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert status_of(answer) == "Accepted"
    bench.feed(station.set_status(bench.now, 1, "Available"))
    assert station.connectors[0].status == "Unavailable"


# -- news ---------------------------------------------------------------------------------


def test_an_idle_charger_hears_of_no_scenario() -> None:
    """An idle charger's station never says a scenario is due; a charging one does, for
    a session on its connector, with the fleet's tag."""
    idle = booted("1.6")
    idle.run(600)
    assert idle.heard == []
    charging = booted(
        "1.6",
        scenario=Scenario(idle=0, charging=1),
        session=Session(pause_s=1, duration_s=2, id_tag="FLEET-TAG"),
    )
    charging.run(5)
    due = [a for a in charging.heard if isinstance(a, ScenarioDue)]
    assert due and {(d.kind, d.connector_id, d.id_tag) for d in due} == {
        ("session", 1, "FLEET-TAG")
    }
    ends = [a for a in charging.heard if isinstance(a, Notice) and a.connector_id == 1]
    assert {n.event for n in ends} == {"transaction_started", "ev_leaving", "transaction_ended"}


def test_a_remote_stop_tells_the_waiting_scenario() -> None:
    """A transaction the server stops while a scenario holds the connector ends with a
    Notice carrying the reason, and the connector is free for the next arrival only once
    the scenario ended."""
    bench = booted("1.6", scenario=Scenario(idle=0, charging=1), session=Session(pause_s=1))
    bench.run(3)
    assert bench.driver.charging, bench.heard
    started = [c for c in bench.named("StartTransaction") if c.answer is not None]
    transaction_id = started[-1].answer["transactionId"]
    answer = bench.server_call("RemoteStopTransaction", {"transactionId": transaction_id})
    assert status_of(answer) == "Accepted"
    ended = [a for a in bench.heard if isinstance(a, Notice) and a.event == "transaction_ended"]
    assert ended[-1].detail == "Remote"
    assert bench.counters.ended_remote == 1 and not bench.driver.charging


def test_a_reset_tells_the_driver_and_frees_the_connectors() -> None:
    """A reset's reboot is a Notice ("rebooted"); the scenarios' connectors are free."""
    bench = booted("1.6", scenario=Scenario(idle=0, charging=1), session=Session(pause_s=1))
    bench.run(3)
    assert bench.station.connectors[0].scenario
    assert status_of(bench.server_call("Reset", {"type": "Hard"})) == "Accepted"
    bench.run(1)
    assert any(isinstance(a, Notice) and a.event == "rebooted" for a in bench.heard)
    assert bench.station.connectors[0].scenario == 0


# -- server calls the driver answers --------------------------------------------------------


def test_an_overridden_calls_time_runs_from_its_arrival() -> None:
    """A call read 0.25 s after it reached the host (a batched read) and answered by
    the driver 2 s after the read: ``server <Action>`` reports the 2.25 s the server
    waited."""
    bench = booted("1.6", api=StationApi(frozenset({"GetConfiguration"})))
    call = '[2,"g2","GetConfiguration",{}]'
    bench.feed(bench.station.text(bench.now, call, bench.now - 0.25))
    bench.run(2)
    bench.feed(bench.station.answer_server_call(bench.now, "g2", {"configurationKey": []}))
    report = [r for r in bench.reports if r.request_type == "server"][-1]
    assert isinstance(report, Report) and report.name == "GetConfiguration"
    assert report.response_time_ms == pytest.approx(2250, abs=1)


def test_an_overridden_call_is_answered_by_the_driver() -> None:
    """A call the user class overrides waits for the driver's answer, which goes out
    with its payload and is reported as ``server <Action>`` with the time it took."""
    bench = booted("1.6", api=StationApi(frozenset({"GetConfiguration"})))
    assert bench.server_call("GetConfiguration", {}, unique_id="g1") is None
    calls = [a for a in bench.heard if isinstance(a, ServerCall)]
    assert [(c.unique_id, c.action) for c in calls] == [("g1", "GetConfiguration")]
    bench.run(2)  # the charger goes on meanwhile (a heartbeat may go)
    payload = {"configurationKey": [], "unknownKey": ["Slow"]}
    bench.feed(bench.station.answer_server_call(bench.now, "g1", payload))
    assert bench.answers_to_server[-1] == [3, "g1", payload]
    report = [r for r in bench.reports if r.request_type == "server"][-1]
    assert isinstance(report, Report) and report.name == "GetConfiguration"
    assert report.response_time_ms == pytest.approx(2000, abs=1)
    bench.feed(bench.station.answer_server_call(bench.now, "g1", payload))  # gone: nothing
    assert len([a for a in bench.answers_to_server if a[1] == "g1"]) == 1


def test_the_default_answer_goes_before_what_it_sets_off() -> None:
    """default_answer runs the charger's own answer (a remote start begins its session)
    but the session's CALLs wait until the driver's answer is sent."""
    bench = booted("1.6", api=StationApi(frozenset({"RemoteStartTransaction"})))
    since = len(bench.calls)
    assert bench.server_call("RemoteStartTransaction", {"idTag": "R", "connectorId": 1}) is None
    payload, actions = bench.station.default_answer(bench.now, "s1")
    bench.feed(actions)
    assert payload == {"status": "Accepted"}
    bench.run(1)
    assert bench.actions()[since:] == [], "a CALL went before the answer"
    bench.feed(bench.station.answer_server_call(bench.now, "s1", payload))
    bench.run(1)
    assert bench.answers_to_server[-1] == [3, "s1", {"status": "Accepted"}]
    assert bench.actions()[since:][:2] == ["StatusNotification", "StartTransaction"]


def test_an_error_answer_is_a_call_error() -> None:
    """The driver's error (its handler raised) goes out as a CALLERROR, counted as one."""
    bench = booted("2.0.1", api=StationApi(frozenset({"GetVariables"})))
    bench.server_call("GetVariables", {"getVariableData": []}, unique_id="v1")
    bench.feed(bench.station.answer_server_call(bench.now, "v1", None, "InternalError"))
    assert bench.answers_to_server[-1][:3] == [4, "v1", "InternalError"]
    failure = [r for r in bench.reports if r.request_type == "server"][-1].failure
    assert failure is not None and failure.detail == "InternalError"


def test_a_lost_connection_forgets_the_calls_awaiting_the_driver() -> None:
    """The server's calls go with their connection: a late answer sends nothing."""
    bench = booted("1.6", api=StationApi(frozenset({"GetConfiguration"})))
    bench.server_call("GetConfiguration", {}, unique_id="g2")
    bench.drop()
    bench.run(bench.station.fleet.settings.reconnect.max_s + 30)
    before = len(bench.answers_to_server)
    bench.feed(bench.station.answer_server_call(bench.now, "g2", {"configurationKey": []}))
    assert len(bench.answers_to_server) == before


def test_hooks_hear_every_change_when_asked() -> None:
    """With hooks (notify), every status and transaction change is a Notice."""
    bench = booted("1.6", api=StationApi(notify=True))
    bench.feed(bench.station.plug_in(bench.now, 1))
    bench.feed(bench.station.start_transaction(bench.now, 1, "T"))
    events = [(a.event, a.detail) for a in bench.heard if isinstance(a, Notice)]
    assert ("status", "Preparing") in events and ("status", "Charging") in events
    assert any(e == "transaction_started" for e, _ in events)


def test_make_builds_a_bench_with_an_api() -> None:
    """The bench passes its api to the station."""
    api = StationApi(notify=True)
    assert make("1.6", api=api).station.api is api


def test_the_full_custom_charger_of_the_docs_loads() -> None:
    """docs/scenarios.md's full custom charger is valid code on the public API: two
    session scenarios by weight, a hook, two answers."""
    text = (Path(loadgen.__file__).parents[1] / "docs" / "scenarios.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    (code,) = [b for b in blocks if "class VendorX" in b]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/scenarios.md", "exec"), namespace)  # noqa: S102
    behaviour = namespace["VendorX"].loadgen_behaviour
    assert [(fn.__name__, w) for fn, w in behaviour.scenarios["session"]] == [
        ("session", 4),
        ("overheats", 1),
    ]
    assert set(behaviour.calls) == {"GetConfiguration", "RemoteStartTransaction"}
    assert set(behaviour.hooks) == {"booted"}


def test_a_reset_answered_by_the_driver_is_sent_before_the_reboot() -> None:
    """A Reset the driver answers with the charger's own answer (``default_answer``)
    goes out and is reported before the charger closes for the reboot."""
    bench = booted("1.6", api=StationApi(frozenset({"Reset"})))
    assert bench.server_call("Reset", {"type": "Soft"}, unique_id="r1") is None
    payload, actions = bench.station.default_answer(bench.now, "r1")
    bench.feed(actions)
    assert payload == {"status": "Accepted"}
    assert bench.closes == [], "closed for the reboot with the answer still held"
    bench.run(1)  # the handler takes a while (less than the reboot's deadline)
    assert bench.closes == []
    bench.feed(bench.station.answer_server_call(bench.now, "r1", payload))
    assert bench.answers_to_server[-1] == [3, "r1", {"status": "Accepted"}]
    assert [r.name for r in bench.reports if r.request_type == "server"] == ["Reset"]
    assert bench.closes == ["reset"]


def test_a_held_reset_reboots_by_its_deadline() -> None:
    """A driver that never sends its Reset answer delays the reboot by the reboot's
    deadline (the call timeout) at most."""
    bench = booted("1.6", api=StationApi(frozenset({"Reset"})))
    bench.server_call("Reset", {"type": "Soft"}, unique_id="r2")
    bench.feed(bench.station.default_answer(bench.now, "r2")[1])
    bench.run(bench.station.call_timeout_s + 1)
    assert bench.closes == ["reset"]


def test_only_what_the_default_answer_queued_waits_for_it() -> None:
    """After ``default_answer``, the CALLs it set off wait for the answer to be sent,
    but a CALL a step makes meanwhile (the handler's own) goes at once."""
    bench = booted("1.6", api=StationApi(frozenset({"RemoteStartTransaction"})))
    bench.answers["DataTransfer"] = {"status": "Accepted"}
    since = len(bench.calls)
    bench.server_call("RemoteStartTransaction", {"idTag": "R", "connectorId": 1})
    bench.feed(bench.station.default_answer(bench.now, "s1")[1])
    token = bench.station.next_token()
    bench.feed(bench.station.user_call(bench.now, "DataTransfer", {"vendorId": "X"}, token))
    bench.run(1)
    assert bench.actions()[since:] == ["DataTransfer"]
    assert answered(bench, token).error is None
    bench.feed(bench.station.answer_server_call(bench.now, "s1", {"status": "Accepted"}))
    bench.run(1)
    assert bench.actions()[since:][:3] == ["DataTransfer", "StatusNotification", "StartTransaction"]


def test_the_docs_use_the_handle_as_it_is() -> None:
    """Every ``cp.<step>(...)`` docs/scenarios.md shows is a method of Charger, and every
    snippet that uses ``random`` imports it."""
    text = (Path(loadgen.__file__).parents[1] / "docs" / "scenarios.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    used = {name for block in blocks for name in re.findall(r"\bcp\.(\w+)\(", block)}
    assert used and not [name for name in used if not hasattr(Charger, name)]
    for block in blocks:
        if "random." in block:
            assert "import random" in block, block
    table = {name for name in re.findall(r"`cp\.(\w+)\(", text)}
    assert not [name for name in table if not hasattr(Charger, name)]


# -- locustfiles --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "worker"])
def test_a_locustfile_without_loadgens_import_is_refused_with_the_line_to_add(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``loadgen run|worker --locustfile FILE`` exits 2 at once when FILE lacks the
    import of loadgen's locustfile, saying the exact line to add; with it, FILE is
    taken."""
    from loadgen.run import cli

    bare = tmp_path / "mine.py"
    bare.write_text(
        "from loadgen import ChargePointUser\n\n\nclass Mine(ChargePointUser):\n    pass\n"
    )
    head = ["run", "configs/quickstart.yaml"] if command == "run" else ["worker", "--master", "h"]
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args([*head, "--locustfile", str(bare)])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert cli.LOCUSTFILE_IMPORT in error and "mine.py" in error
    good = tmp_path / "good.py"
    good.write_text(f"{cli.LOCUSTFILE_IMPORT}\n{bare.read_text()}")
    args = cli.build_parser().parse_args([*head, "--locustfile", str(good)])
    assert args.locustfile == str(good.resolve())
    for example in (Path(loadgen.__file__).parents[1] / "examples").glob("*.py"):
        cli.build_parser().parse_args([*head, "--locustfile", str(example)])


def test_what_waits_for_the_default_answer_keeps_its_order() -> None:
    """A status of a connector whose status the default answer queued waits behind it:
    the server hears a remote start's session in order even when it ends before the
    answer is sent."""
    bench = booted("1.6", api=StationApi(frozenset({"RemoteStartTransaction"})))
    since = len(bench.calls)
    bench.server_call("RemoteStartTransaction", {"idTag": "R", "connectorId": 1})
    bench.feed(bench.station.default_answer(bench.now, "s1")[1])
    bench.feed(bench.station.stop_transaction(bench.now, 1, "Local"))
    bench.feed(bench.station.unplug(bench.now, 1))
    bench.run(1)
    assert bench.actions()[since:] == []
    bench.feed(bench.station.answer_server_call(bench.now, "s1", {"status": "Accepted"}))
    bench.run(2)
    statuses = [status for _, status in bench.statuses(since)]
    assert statuses[0] == "Preparing" and statuses[-1] == "Available", statuses
