"""A scripted CSMS and a fake clock that drive a :class:`Station` with no I/O at all.

``Bench(version, settings)`` owns a station and plays both the engine (it carries out
the station's actions: connects when asked, keeps the one timer, records reports) and
the server (it answers each CALL the station sends from a table of payloads, after
``latency_s``, and validates every request against the official OCPP schemas, their
``date-time`` fields too, which the ``ocpp`` package's validators leave unchecked). Time is
a number the test moves with :meth:`Bench.run`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from jsonschema import FormatChecker
from ocpp.messages import get_validator

from loadgen.config import ChargePoints, FleetSpec, Reconnect, Scenario, Session
from loadgen.failures import Failure
from loadgen.ocpp.framing import CALL, CallError, CallResult, FrameError, parse
from loadgen.ocpp.schemas import validate
from loadgen.sim.actions import (
    NEWS,
    Action,
    Answered,
    Booted,
    Close,
    Connect,
    Counters,
    Credentials,
    Notice,
    Ping,
    Report,
    Retarget,
    ScenarioDue,
    Send,
    ServerCall,
    SetTimer,
    Stopped,
    Upload,
)
from loadgen.sim.fleet import Fleet
from loadgen.sim.station import Station, Unit
from loadgen.sim.steps import StationApi, StationGone, StepRefused

WALL_OFFSET_S = 1_790_000_000.0

Answer = dict[str, Any] | Callable[[dict[str, Any]], Any] | None


def default_answers(version: str) -> dict[str, Answer]:
    """A CSMS that accepts everything (transaction ids count up in 1.6)."""
    ids = iter(range(1, 1_000_000))
    boot = {"status": "Accepted", "currentTime": "2026-01-01T00:00:00.000Z", "interval": 60}
    if version == "1.6":
        return {
            "BootNotification": boot,
            "Heartbeat": {"currentTime": "2026-01-01T00:00:00.000Z"},
            "StatusNotification": {},
            "Authorize": {"idTagInfo": {"status": "Accepted"}},
            "StartTransaction": lambda p: {
                "transactionId": next(ids),
                "idTagInfo": {"status": "Accepted"},
            },
            "MeterValues": {},
            "StopTransaction": {},
            "FirmwareStatusNotification": {},
            "DiagnosticsStatusNotification": {},
            "SignedFirmwareStatusNotification": {},
            "LogStatusNotification": {},
            "SecurityEventNotification": {},
        }
    return {
        "BootNotification": boot,
        "Heartbeat": {"currentTime": "2026-01-01T00:00:00.000Z"},
        "StatusNotification": {},
        "Authorize": {"idTokenInfo": {"status": "Accepted"}},
        "TransactionEvent": {},
        "MeterValues": {},
        "NotifyReport": {},
        "FirmwareStatusNotification": {},
        "LogStatusNotification": {},
        "SecurityEventNotification": {},
        "ReservationStatusUpdate": {},
        "NotifyChargingLimit": {},
        "ReportChargingProfiles": {},
        "NotifyEvent": {},
        "NotifyEVChargingNeeds": {"status": "Accepted"},  # 2.1 (V2X)
    }


#: RFC 3339 date-time, what OCPP's dateTime is (e.g. 2026-09-21T14:00:00.000Z).
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")
_DATE_TIMES = FormatChecker(formats=())
_DATE_TIMES.checks("date-time")(
    lambda value: not isinstance(value, str) or bool(_DATE_TIME.match(value))
)
_date_time_validators: dict[tuple[str, str], Any] = {}


def check_date_times(version: str, action: str, payload: dict[str, Any]) -> None:
    """Assert that every ``format: date-time`` field of a request is RFC 3339."""
    key = (version, action)
    validator = _date_time_validators.get(key)
    if validator is None:
        schema = get_validator(CALL, action, version).schema
        validator = _date_time_validators[key] = type(get_validator(CALL, action, version))(
            schema, format_checker=_DATE_TIMES
        )
    errors = [e for e in validator.iter_errors(payload) if e.validator == "format"]
    assert not errors, f"{action}: {errors[0].message} at {list(errors[0].absolute_path)}"


@dataclass
class Sent:
    """A CALL the station sent, as the CSMS received it."""

    at: float
    unique_id: str
    action: str
    payload: dict[str, Any]
    answer: Any = None  # what the CSMS answered: a payload, a whole frame, or None
    delivered: bool = False  # the answer reached the station while it waited for it


@dataclass
class Bench:
    """A station, its fake engine and a scripted CSMS (see the module docstring)."""

    version: str = "1.6"
    settings: ChargePoints = field(default_factory=ChargePoints)
    seed: int = 1
    latency_s: float = 0.01
    connect_s: float = 0.01
    #: answer the next connects with these failures (then succeed)
    refuse: list[Failure] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)
    validate: bool = True
    fleet: FleetSpec = field(default_factory=FleetSpec)
    unit: Unit | None = None  # what the ids file says of the charger
    api: StationApi | None = None  # what a driver's user class overrides or listens to
    client_certificate: bool = False  # the run's TLS settings give the station one
    #: connects to these URLs (a Retarget's) fail: connect_refused
    refuse_urls: set[str | None] = field(default_factory=set)
    #: the server answers each WebSocket Ping with a Pong (as RFC 6455 says it must)
    pong: bool = True

    def __post_init__(self) -> None:
        self.now = 0.0
        self.counters = Counters()
        fleet = Fleet.build(
            self.settings, self.version, self.fleet, client_certificate=self.client_certificate
        )
        self.station = Station(
            "CP-1",
            fleet,
            self.counters,
            rng=random.Random(self.seed),
            wall_offset_s=WALL_OFFSET_S,
            unit=self.unit,
            api=self.api,
        )
        table = default_answers(self.version)
        table.update(self.answers)
        self.answers = table
        self.calls: list[Sent] = []
        self.reports: list[Report] = []
        self.answers_to_server: list[list[Any]] = []
        self.connected = False
        self.connects = 0
        self.connect_tries: list[float] = []  # when the station asked to connect
        self.url: str | None = None  # where it connects (a Retarget's; None: the run's)
        self.connect_urls: list[str | None] = []  # ... at each of its connects
        self.wakeups = 0  # timer events delivered
        self.closes: list[str] = []
        self.pings: list[float] = []  # when the station sent a WebSocket Ping
        self.pongs: list[float] = []  # when the server's Pongs to them arrive
        self.closed_at: list[float] = []  # when each Close came
        self.booted = 0
        self.stopped = False
        self.timer_at: float | None = None
        self.connect_at: float | None = None
        #: (due, text, the CALL it answers) to deliver to the station
        self.replies: list[tuple[float, str, Sent]] = []
        self.silent: set[str] = set()  # actions the CSMS never answers
        self.uploads: list[Upload] = []  # uploads the station asked for, in order
        self.passwords: list[bytes] = []  # the Basic-auth passwords the station took
        #: unique id of our CALL the CSMS has received and the station still waits for
        self.in_flight: str | None = None
        #: the built-in scenarios, step by step (the Locust face runs them in greenlets)
        self.driver = Driver(self)
        self.news: list[Action] = []  # the station's news, handled after each event
        self.heard: list[Action] = []  # every piece of news, in order
        self.feeding = False
        self.feed(self.station.start(self.now))

    # -- carrying out actions -------------------------------------------------------------

    def feed(self, actions: list[Action]) -> None:
        """Carry out the actions; the news go to the driver once the event's are done
        (its steps are new events: a stale SetTimer after them would undo theirs)."""
        self._carry_out(actions)
        if self.feeding:
            return
        self.feeding = True
        try:
            while self.news:
                self.driver.news(self.news.pop(0))
        finally:
            self.feeding = False

    def _carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, NEWS):
                self.news.append(action)
                self.heard.append(action)
            elif isinstance(action, Send):
                self._received(action.data)
            elif isinstance(action, Connect):
                assert not self.connected, "Connect while connected"
                self.connect_tries.append(self.now)
                self.connect_urls.append(self.url)
                self.connect_at = self.now + self.connect_s
            elif isinstance(action, Retarget):
                assert not self.connected and self.connect_at is None, "Retarget while linked"
                self.url = action.url
            elif isinstance(action, Close):
                # a Close while connecting aborts the opening (the engine tears it down)
                assert self.connected or self.connect_at is not None, "Close with no link"
                self.connected = False
                self.connect_at = None
                self.in_flight = None
                self.closes.append(action.reason)
                self.closed_at.append(self.now)
                self.replies.clear()
                self.pongs.clear()
            elif isinstance(action, SetTimer):
                self.timer_at = action.at
            elif isinstance(action, Report):
                self.reports.append(action)
                failure = action.failure
                if failure is not None and failure.category == "call_timeout":
                    self.in_flight = None  # the station gave up waiting
            elif isinstance(action, Booted):
                self.booted += 1
            elif isinstance(action, Stopped):
                self.stopped = True
            elif isinstance(action, Upload):
                self.uploads.append(action)
            elif isinstance(action, Credentials):
                self.passwords.append(action.password)
            elif isinstance(action, Ping):
                assert self.connected, "Ping while not connected"
                self.pings.append(self.now)
                if self.pong:
                    self.pongs.append(self.now + self.latency_s)
            else:  # pragma: no cover
                raise AssertionError(f"unknown action {action!r}")

    def _received(self, data: bytes) -> None:
        assert self.connected, f"sent while not connected: {data!r}"
        frame = orjson.loads(data)
        if frame[0] != 2:
            self.answers_to_server.append(frame)
            return
        _, unique_id, action, payload = frame
        if self.validate:
            validate(self.version, action, payload, response=False)
            check_date_times(self.version, action, payload)
        assert self.in_flight is None, f"{action} sent while CALL {self.in_flight} waits"
        self.in_flight = unique_id
        sent = Sent(self.now, unique_id, action, payload)
        self.calls.append(sent)
        if action in self.silent:
            return
        answer = self.answers.get(action)
        if callable(answer):
            answer = answer(payload)
        sent.answer = answer
        if answer is None:
            return
        if isinstance(answer, list):  # a whole frame, e.g. a CALLERROR
            text = orjson.dumps([answer[0], unique_id, *answer[1:]]).decode()
        else:
            if self.validate:
                validate(self.version, action, answer, response=True)
            text = orjson.dumps([3, unique_id, answer]).decode()
        self.replies.append((self.now + self.latency_s, text, sent))

    # -- time -----------------------------------------------------------------------------

    def run(self, seconds: float) -> None:
        """Move time ``seconds`` ahead, delivering every event that falls due on the way."""
        end = self.now + seconds
        same_time = 0  # events without the clock moving: a station that wakes in a loop
        while True:
            due = [t for t in (self.timer_at, self.connect_at) if t is not None]
            due += [t for t, _, _ in self.replies]
            due += self.pongs
            due += [t for t, _ in self.driver.timers]
            nxt = min(due, default=None)
            if nxt is None or nxt > end:
                break
            same_time = same_time + 1 if nxt <= self.now else 0
            assert same_time < 1000, f"the station wakes in a loop at {self.now}"
            self.now = max(self.now, nxt)
            if self.replies and self.replies[0][0] <= self.now:
                _, text, answered = self.replies.pop(0)
                if self.in_flight == answered.unique_id:  # else late: the station drops it
                    self.in_flight = None
                    answered.delivered = True
                self.feed(self.station.text(self.now, text))
            elif self.pongs and self.pongs[0] <= self.now:
                self.pongs.pop(0)
                self.feed(self.station.pong(self.now))
            elif self.driver.timers and min(self.driver.timers)[0] <= self.now:
                self.driver.timers.sort(key=lambda timer: timer[0])
                _, then = self.driver.timers.pop(0)
                then()
            elif self.connect_at is not None and self.connect_at <= self.now:
                self.connect_at = None
                if self.refuse or self.url in self.refuse_urls:
                    failure = self.refuse.pop(0) if self.refuse else Failure("connect_refused")
                    self.feed(self.station.connect_failed(self.now, failure, 1.0))
                else:
                    self.connected = True
                    self.connects += 1
                    self.feed(self.station.connected(self.now, 1.0))
            else:
                self.timer_at = None
                self.wakeups += 1
                self.feed(self.station.timer(self.now))
        self.now = end

    # -- the server's side --------------------------------------------------------------

    def server_call(self, action: str, payload: dict[str, Any], unique_id: str = "s1") -> Any:
        """Send a server CALL; the station's answer frame (or None: no answer)."""
        before = len(self.answers_to_server)
        text = orjson.dumps([2, unique_id, action, payload]).decode()
        self.feed(self.station.text(self.now, text))
        if len(self.answers_to_server) == before:
            return None
        answer = self.answers_to_server[-1]
        if answer[0] == 3 and self.validate:
            validate(self.version, action, answer[2], response=True)
        return answer

    def uploaded(self, ok: bool, upload: Upload | None = None) -> None:
        """The driver finished the (last) upload the station asked for."""
        done = upload or self.uploads[-1]
        self.feed(self.station.uploaded(self.now, done.token, ok))

    def stop(self, graceful: bool = False) -> None:
        """The driver stops the station (the end of a run)."""
        self.feed(self.station.stop(self.now, graceful))

    def text(self, text: str) -> None:
        """Any text from the server, as it comes (malformed frames too); a well-formed
        answer to the CALL in flight ends the wait, as the scripted answers do."""
        try:
            frame = parse(text)
        except FrameError:
            frame = None
        if isinstance(frame, CallResult | CallError) and frame.unique_id == self.in_flight:
            self.in_flight = None
        self.feed(self.station.text(self.now, text))

    def drop(self, failure: Failure | None = None) -> None:
        """The connection is lost (the server went away)."""
        assert self.connected, "drop() needs an open connection"
        self.connected = False
        self.in_flight = None
        self.replies.clear()
        self.pongs.clear()
        self.feed(self.station.lost(self.now, failure or Failure("reset")))

    # -- reading ------------------------------------------------------------------------

    def actions(self) -> list[str]:
        return [c.action for c in self.calls]

    def named(self, action: str) -> list[Sent]:
        return [c for c in self.calls if c.action == action]

    def failures(self) -> list[Report]:
        return [r for r in self.reports if r.failure is not None]

    def statuses(self, since: int = 0) -> list[tuple[int, str]]:
        """(connector or EVSE id, status as sent) of each StatusNotification from ``since``."""
        out = []
        for call in self.calls[since:]:
            if call.action == "StatusNotification":
                p = call.payload
                if self.version == "1.6":
                    out.append((p["connectorId"], p["status"]))
                else:
                    out.append((p["evseId"], p["connectorStatus"]))
        return out

    def tx_messages(self, since: int = 0) -> list[Sent]:
        """The transaction messages the CSMS received from ``since`` (in order)."""
        names = self.station.dialect.transaction_actions
        return [c for c in self.calls[since:] if c.action in names]


# -- building and driving a bench -------------------------------------------------------


def make(
    version: str,
    *,
    answers: dict[str, Answer] | None = None,
    session: Session | None = None,
    reconnect: Reconnect | None = None,
    scenario: Scenario | None = None,
    latency_s: float = 0.01,
    seed: int = 1,
    fleet: FleetSpec | None = None,
    unit: Unit | None = None,
    api: StationApi | None = None,
    client_certificate: bool = False,
    **fields: Any,
) -> Bench:
    """A bench whose ChargePoints are the defaults with ``fields`` (and parts) replaced."""
    settings = replace(ChargePoints(), **fields)
    if session is not None:
        settings = replace(settings, session=session)
    if reconnect is not None:
        settings = replace(settings, reconnect=reconnect)
    if scenario is not None:
        settings = replace(settings, scenario=scenario)
    return Bench(
        version,
        settings,
        seed,
        answers=dict(answers or {}),
        latency_s=latency_s,
        fleet=fleet or FleetSpec(),
        unit=unit,
        api=api,
        client_certificate=client_certificate,
    )


def booted(version: str, **kwargs: Any) -> Bench:
    """A bench one second after power-up: boot Accepted, statuses delivered."""
    bench = make(version, **kwargs)
    bench.run(1)
    assert bench.booted == 1, bench.actions()
    return bench


def status_of(answer: Any) -> str:
    """The ``status`` of a CALLRESULT frame (fails on anything else)."""
    assert answer is not None and answer[0] == 3, answer
    return str(answer[2]["status"])


def remote_start(
    bench: Bench, connector_id: int | None = 1, tag: str = "TAG", remote_start_id: int = 7
) -> str:
    """RemoteStartTransaction / RequestStartTransaction; the answer's status."""
    if bench.version == "1.6":
        payload: dict[str, Any] = {"idTag": tag}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        return status_of(bench.server_call("RemoteStartTransaction", payload))
    payload = {"idToken": {"idToken": tag, "type": "ISO14443"}, "remoteStartId": remote_start_id}
    if connector_id is not None:
        payload["evseId"] = connector_id
    return status_of(bench.server_call("RequestStartTransaction", payload))


def tx_id(bench: Bench, index: int = -1) -> Any:
    """The server-side id of a transaction the CSMS saw start (1.6 int, 2.0.1 string)."""
    if bench.version == "1.6":
        started = [c for c in bench.named("StartTransaction") if c.answer is not None]
        return started[index].answer["transactionId"]
    started = [c for c in bench.named("TransactionEvent") if c.payload["eventType"] == "Started"]
    return started[index].payload["transactionInfo"]["transactionId"]


def remote_stop(bench: Bench, transaction_id: Any) -> str:
    """RemoteStopTransaction / RequestStopTransaction; the answer's status."""
    action = "RemoteStopTransaction" if bench.version == "1.6" else "RequestStopTransaction"
    return status_of(bench.server_call(action, {"transactionId": transaction_id}))


def set_setting(bench: Bench, key16: str, var201: str, value: str) -> str:
    """ChangeConfiguration ``key16`` / SetVariables ``Component.Variable[:Instance]``."""
    if bench.version == "1.6":
        return status_of(bench.server_call("ChangeConfiguration", {"key": key16, "value": value}))
    component, _, rest = var201.partition(".")
    name, _, instance = rest.partition(":")
    variable: dict[str, Any] = {"name": name}
    if instance:
        variable["instance"] = instance
    data = {"component": {"name": component}, "variable": variable, "attributeValue": value}
    answer = bench.server_call("SetVariables", {"setVariableData": [data]})
    assert answer is not None and answer[0] == 3, answer
    return str(answer[2]["setVariableResult"][0]["attributeStatus"])


def get_setting(bench: Bench, key16: str, var201: str) -> str | None:
    """GetConfiguration ``key16`` / GetVariables ``Component.Variable[:Instance]`` value."""
    if bench.version == "1.6":
        answer = bench.server_call("GetConfiguration", {"key": [key16]})
        assert answer is not None and answer[0] == 3, answer
        keys = answer[2]["configurationKey"]
        return str(keys[0]["value"]) if keys else None
    component, _, rest = var201.partition(".")
    name, _, instance = rest.partition(":")
    variable: dict[str, Any] = {"name": name}
    if instance:
        variable["instance"] = instance
    data = {"component": {"name": component}, "variable": variable}
    answer = bench.server_call("GetVariables", {"getVariableData": [data]})
    assert answer is not None and answer[0] == 3, answer
    result = answer[2]["getVariableResult"][0]
    return result.get("attributeValue") if result["attributeStatus"] == "Accepted" else None


class Driver:
    """The built-in scenarios (loadgen.scenarios.builtin) as the unit tests run them: the
    same steps through the station's public surface, each when its answer or notice
    comes, in the bench's fake time (the Locust face runs them in greenlets)."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.authorizing: dict[int, ScenarioDue] = {}  # Authorize token -> its session
        self.charging: dict[int, ScenarioDue] = {}  # connector -> its session, once started
        self.sessions: list[ScenarioDue] = []  # every session scenario that was due
        self.faults: list[ScenarioDue] = []

    def step(self, fn: Callable[[Station, float], list[Action]]) -> None:
        self.bench.feed(fn(self.bench.station, self.bench.now))

    def news(self, action: Action) -> None:
        if isinstance(action, ScenarioDue):
            if action.kind == "fault":
                self.fault(action)
            else:
                self.session(action)
        elif isinstance(action, Answered):
            due = self.authorizing.pop(action.token, None)
            if due is not None:
                self.authorized(due, action)
        elif isinstance(action, ServerCall):
            pass  # the test answers it
        elif isinstance(action, Notice):
            if action.event == "rebooted":
                for due in list(self.charging.values()) + list(self.authorizing.values()):
                    self.ended(due)
                self.charging.clear()
                self.authorizing.clear()
                return
            due = self.charging.get(action.connector_id)
            if due is None:
                return
            if action.event == "ev_leaving":
                del self.charging[action.connector_id]
                self.step(lambda st, now: st.stop_transaction(now, due.connector_id, "Local"))
                self.unplug_and_end(due)
            elif action.event == "transaction_ended":
                del self.charging[action.connector_id]
                self.unplug_and_end(due)
        else:  # pragma: no cover
            raise AssertionError(f"no driver for {action!r}")

    def session(self, due: ScenarioDue) -> None:
        """charging_session: plug in and authorize (the rest when the answer comes)."""
        self.sessions.append(due)
        try:
            self.step(lambda st, now: st.plug_in(now, due.connector_id, due.id_tag))
            token = self.bench.station.next_token()
            self.authorizing[token] = due
            self.step(lambda st, now: st.authorize(now, due.id_tag, token, due.connector_id))
        except StationGone:
            self.authorizing = {t: d for t, d in self.authorizing.items() if d is not due}
            self.ended(due)

    def authorized(self, due: ScenarioDue, answer: Answered) -> None:
        if answer.value != "Accepted" or answer.error is not None:
            self.unplug_and_end(due)
            return
        try:
            self.step(lambda st, now: st.start_transaction(now, due.connector_id))
        except StepRefused:
            self.unplug_and_end(due)
            return
        self.charging[due.connector_id] = due

    def unplug_and_end(self, due: ScenarioDue) -> None:
        self.step(lambda st, now: st.unplug(now, due.connector_id))
        self.ended(due)

    def ended(self, due: ScenarioDue) -> None:
        self.step(lambda st, now: st.scenario_ended(now, due.kind, due.connector_id, due.token))

    def fault(self, due: ScenarioDue) -> None:
        """fault: Faulted now, Available after its time to recover."""
        self.faults.append(due)
        self.step(lambda st, now: st.set_status(now, due.connector_id, "Faulted"))

        def recover() -> None:
            if self.bench.station.connectors[due.connector_id - 1].status == "Faulted":
                self.step(lambda st, now: st.set_status(now, due.connector_id, "Available"))
            self.ended(due)

        self.timers.append((self.bench.now + due.stay_s, recover))


def profile_request(
    version: str,
    connector_id: int,
    purpose: str,
    periods: Sequence[tuple[int, float] | dict[str, Any]],
    *,
    profile_id: int = 1,
    stack_level: int = 0,
    unit: str = "W",
    kind: str = "Relative",
    start: str | None = None,
    duration_s: int | None = None,
    valid: tuple[str | None, str | None] = (None, None),
    recurrency: str | None = None,
    transaction_id: Any = None,
) -> dict[str, Any]:
    """A SetChargingProfile request in either version's words (1.6 spells the station's
    purpose ChargePointMaxProfile); ``periods``: (startPeriod, limit) pairs, or whole
    chargingSchedulePeriod entries."""
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            p if isinstance(p, dict) else {"startPeriod": p[0], "limit": p[1]} for p in periods
        ],
    }
    if start is not None:
        schedule["startSchedule"] = start
    if duration_s is not None:
        schedule["duration"] = duration_s
    body: dict[str, Any] = {"stackLevel": stack_level, "chargingProfileKind": kind}
    for key, value in (
        ("validFrom", valid[0]),
        ("validTo", valid[1]),
        ("recurrencyKind", recurrency),
        ("transactionId", transaction_id),
    ):
        if value is not None:
            body[key] = value
    if version == "1.6":
        names = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}
        body.update(
            chargingProfileId=profile_id,
            chargingProfilePurpose=names.get(purpose, purpose),
            chargingSchedule=schedule,
        )
        return {"connectorId": connector_id, "csChargingProfiles": body}
    body.update(
        id=profile_id, chargingProfilePurpose=purpose, chargingSchedule=[{"id": 1, **schedule}]
    )
    return {"evseId": connector_id, "chargingProfile": body}
