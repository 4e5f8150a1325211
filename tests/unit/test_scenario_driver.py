"""The Locust face's scenario driver: its real greenlets on the scripted CSMS.

:class:`~loadgen.locust.scenarios.Driver` runs the user class's scenarios, answers and
hooks in greenlets; here its steps go to a real :class:`Station` on ``sim_csms``'s
bench (fake station time, no sockets). Between two slices of station time the
greenlets run until they block again (``gevent.sleep(0)``, never a timed sleep).
"""

from __future__ import annotations

from typing import Any

import gevent
import gevent.event
import pytest
from locust.event import Events

from loadgen import CallFailed, ChargePointUser, StepRefused, on_call, on_event, scenario
from loadgen.config import Scenario, Session
from loadgen.locust.scenarios import MAX_REPORTED, MORE_PLACES, Driver
from tests.unit.sim_csms import Bench, make, remote_start, remote_stop, tx_id

pytestmark = pytest.mark.timeout(60)


class _Environment:
    """What the driver needs of Locust's environment: its events (user_error)."""

    def __init__(self) -> None:
        self.events = Events()
        self.errors: list[str] = []
        self.events.user_error.add_listener(
            lambda user_instance, exception, tb: self.errors.append(str(exception))
        )


class _Link:
    def __init__(self, station: Any) -> None:
        self.station = station


class _Engine:
    """The engine's ``step``: the station's step at the bench's time, carried out."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench

    def step(self, link: Any, fn: Any) -> None:
        self.bench.feed(fn(link.station, self.bench.now))


class _Forward:
    """In the bench's driver's place: the news go to the real Driver (no timers)."""

    def __init__(self, driver: Driver) -> None:
        self.timers: list[Any] = []
        self.news = driver.news


def setup(user_cls: type, version: str = "1.6", **kwargs: Any) -> tuple[Bench, Driver, Any]:
    """A booted bench whose news go to a real Driver of ``user_cls``."""
    bench = make(version, api=user_cls.loadgen_behaviour.api, **kwargs)
    user = user_cls.__new__(user_cls)
    user.environment = _Environment()
    driver = Driver(user, _Engine(bench), _Link(bench.station), user_cls.loadgen_behaviour, {})
    bench.driver = _Forward(driver)  # type: ignore[assignment]
    advance(bench, 1, step=0.1)
    assert bench.booted == 1
    return bench, driver, user


def settle() -> None:
    """Let every greenlet run until it blocks."""
    for _ in range(20):
        gevent.sleep(0)


def advance(bench: Bench, seconds: float, step: float = 1.0) -> None:
    """Station time goes on by ``seconds``, the greenlets running between slices."""
    elapsed = 0.0
    while elapsed < seconds:
        settle()
        bench.run(step)
        elapsed += step
    settle()


def end(driver: Driver) -> None:
    """The charger goes: its greenlets end."""
    driver.end_all()
    settle()


# -- wait_for_stop ------------------------------------------------------------------------


class TimedSessions(ChargePointUser):
    """The built-in sessions, and a hook that waits for each session's end too."""

    ended: list[str | None] = []

    @on_event("transaction_started")
    def started(self, cp: Any, connector: int, detail: str) -> None:
        self.ended.append(cp.wait_for_stop(connector=connector))


def test_every_waiter_on_a_connector_is_told() -> None:
    """Two greenlets waiting for one connector's end (the built-in session and a hook)
    are both told; the session stops its transaction and the connector is free."""
    TimedSessions.ended = []
    bench, driver, user = setup(
        TimedSessions,
        scenario=Scenario(idle=0, charging=1),
        session=Session(pause_s=1, duration_s=20),
    )
    advance(bench, 10)
    assert bench.station.connectors[0].tx is not None
    advance(bench, 30)
    assert len(bench.named("StopTransaction")) >= 1
    assert TimedSessions.ended[:1] == [None]  # the EV stayed its time
    assert user.environment.errors == []
    end(driver)


class RemoteWatcher(ChargePointUser):
    """An answer (no hooks, no scenario on the connector) that watches its session."""

    ended: list[str | None] = []

    @on_call("RemoteStartTransaction")
    def remote_start(self, cp: Any, payload: dict[str, Any]) -> dict[str, Any] | None:
        answer = cp.default_answer()
        gevent.spawn(self._watch, cp)
        return answer

    def _watch(self, cp: Any) -> None:
        self.ended.append(cp.wait_for_stop(connector=1))


def test_a_wait_for_stop_outside_a_scenario_is_told() -> None:
    """A greenlet waiting for the end of a transaction no scenario holds (a remote
    start's) hears of it when the server stops it."""
    RemoteWatcher.ended = []
    bench, driver, _ = setup(RemoteWatcher, session=Session(duration_s=20))
    bench.server_call("RemoteStartTransaction", {"idTag": "R", "connectorId": 1})
    advance(bench, 5)
    connector = bench.station.connectors[0]
    assert connector.tx is not None
    transaction_id = bench.named("StartTransaction")[-1].answer["transactionId"]
    bench.server_call("RemoteStopTransaction", {"transactionId": transaction_id}, "s2")
    advance(bench, 2)
    assert RemoteWatcher.ended == ["Remote"]
    assert bench.station.watched is None
    end(driver)


class Waiter(ChargePointUser):
    """A hook that waits on the connector, to be ended by the charger's going."""

    results: list[Any] = []

    @on_event("transaction_started")
    def started(self, cp: Any, connector: int, detail: str) -> None:
        gevent.spawn(self._wait, cp, connector)

    def _wait(self, cp: Any, connector: int) -> None:
        try:
            self.results.append(cp.wait_for_stop(connector=connector))
        except BaseException as exc:
            self.results.append(type(exc).__name__)
            raise


def test_a_charger_going_ends_waits_in_the_users_own_greenlets() -> None:
    """A wait_for_stop in a greenlet the user spawned ends (ChargerGone) when the
    charger stops, instead of blocking for good."""
    Waiter.results = []
    bench, driver, _ = setup(Waiter)
    bench.feed(bench.station.plug_in(bench.now, 1))
    bench.feed(bench.station.start_transaction(bench.now, 1, "T"))
    advance(bench, 1)
    assert Waiter.results == []
    end(driver)
    assert Waiter.results == ["ChargerGone"]


class Timed(ChargePointUser):
    """A hook that polls the session's end with a timeout."""

    results: list[Any] = []

    @on_event("transaction_started")
    def started(self, cp: Any, connector: int, detail: str) -> None:
        self.results.append(cp.wait_for_stop(connector=connector, timeout_s=0))
        self.results.append(cp.connector_status(connector))


def test_a_wait_for_stop_timeout_changes_nothing() -> None:
    """``timeout_s`` returns None when it passes and leaves the EV's stay as it was."""
    Timed.results = []
    bench, driver, _ = setup(Timed)
    bench.feed(bench.station.plug_in(bench.now, 1))
    ends_at = None
    bench.feed(bench.station.start_transaction(bench.now, 1, "T"))
    ends_at = bench.station.connectors[0].ends_at
    advance(bench, 1)
    assert Timed.results == [None, "Charging"]
    assert bench.station.connectors[0].ends_at == ends_at
    assert bench.station.watched is None
    end(driver)


# -- failures -------------------------------------------------------------------------------


class Retrier(ChargePointUser):
    """A hook that retries a CALL while the charger is offline (100 times)."""

    ticks = 0  # how often another greenlet ran
    seen: list[int] = []  # the ticks each failure saw

    @on_event("status")
    def retry(self, cp: Any, connector: int, detail: str) -> None:
        if detail != "Unavailable":
            return
        for _ in range(100):
            try:
                cp.call("DataTransfer", {"vendorId": "X"})
                return
            except CallFailed:
                Retrier.seen.append(Retrier.ticks)


def test_a_call_failing_at_once_yields_to_the_other_greenlets() -> None:
    """A CALL that fails at once (offline) lets the other greenlets run before it
    raises: a retry loop does not freeze the process."""
    Retrier.ticks, Retrier.seen = 0, []
    bench, driver, _ = setup(Retrier)
    bench.drop()

    def tick() -> None:
        while True:
            Retrier.ticks += 1
            gevent.sleep(0)

    ticker = gevent.spawn(tick)
    bench.feed(bench.station.set_status(bench.now, 1, "Unavailable"))
    settle()
    gevent.joinall(list(driver.greenlets), timeout=10)
    ticker.kill()
    assert len(Retrier.seen) == 100
    assert Retrier.seen[-1] > Retrier.seen[0], "no other greenlet ran between the tries"
    end(driver)


# -- the built-in session ------------------------------------------------------------------


class Slow(ChargePointUser):
    """The built-in sessions; the first plug-in's connector is made Inoperative first."""


@pytest.mark.parametrize("blocker", ["ChangeAvailability", "Faulted"])
def test_the_built_in_session_leaves_quietly_when_its_connector_is_taken(blocker: str) -> None:
    """A driver whose connector became unavailable or faulted between its arrival and
    its plug-in leaves without an error in user code."""
    bench, driver, user = setup(
        Slow, scenario=Scenario(idle=0, charging=1), session=Session(pause_s=5, duration_s=20)
    )
    real_due = driver._due

    def late(due: Any) -> None:  # the server's call comes before the driver plugs in
        if blocker == "ChangeAvailability":
            bench.server_call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
        else:
            bench.feed(bench.station.set_status(bench.now, 1, "Faulted"))  # the fault plan's
        real_due(due)

    driver._due = late  # type: ignore[method-assign]
    advance(bench, 10, step=0.1)
    assert not bench.named("StartTransaction")
    assert user.environment.errors == [] and driver.user_errors == {}
    end(driver)


def test_a_user_error_is_placed_in_user_code() -> None:
    """A step's StepRefused is reported at the user's line, not loadgen's."""

    class Bad(ChargePointUser):
        @on_event("booted")
        def booted(self, cp: Any, connector: int, detail: str) -> None:
            cp.plug_in(connector=99)

    bench, driver, user = setup(Bad)
    driver.hook("booted", 0, "")
    settle()
    places = [place for (_, kind, place) in driver.user_errors if kind == "StepRefused"]
    assert len(places) == 1 and places[0].startswith(__file__), places
    assert StepRefused.__name__ in user.environment.errors[0]
    end(driver)


def test_places_beyond_the_cap_leave_the_first_ones_reported() -> None:
    """Past MAX_REPORTED distinct places, new places are only counted; the places
    reported so far are still reported."""
    bench, driver, user = setup(ChargePointUser)
    try:
        raise ValueError("x")
    except ValueError as exc:
        error = exc
    for index in range(MAX_REPORTED + 5):
        driver.user_error(f"hook h{index}", error)
    assert len(user.environment.errors) == MAX_REPORTED
    driver.user_error("hook h0", error)
    assert len(user.environment.errors) == MAX_REPORTED + 1
    assert driver.user_errors[MORE_PLACES] == 5
    assert len(driver.user_errors) == MAX_REPORTED + 1


# -- a transaction the charger ends -----------------------------------------------------------


class Holder(ChargePointUser):
    """A session that stays plugged in after its transaction ends, until released."""

    seen: list[Any] = []
    release = gevent.event.Event()

    @scenario()
    def session(self, cp: Any) -> None:
        cp.plug_in()
        cp.start()
        reason = cp.wait_for_stop()
        self.seen.append((reason, cp.connector_status()))
        self.release.wait()
        cp.unplug()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_remote_stop_leaves_the_scenarios_ev_plugged_in(version: str) -> None:
    """A transaction the server stops while a scenario holds the connector leaves the
    EV plugged in (Finishing, 1.6; Occupied, 2.0.1) until the scenario unplugs it."""
    Holder.seen, Holder.release = [], gevent.event.Event()
    bench, driver, _ = setup(
        Holder, version, scenario=Scenario(idle=0, charging=1), session=Session(pause_s=1)
    )
    advance(bench, 5)
    assert bench.station.connectors[0].tx is not None
    since = len(bench.calls)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    advance(bench, 2)
    assert Holder.seen == [("Remote", "Finishing")]
    assert "Available" not in [status for _, status in bench.statuses(since)]
    Holder.release.set()
    advance(bench, 2)
    statuses = [status for _, status in bench.statuses(since)]
    assert statuses[statuses.index("Available") - 1] in ("Finishing", "Occupied")
    end(driver)


class AppStart(ChargePointUser):
    """A driver who plugs in, then starts the session from an app (the server's remote
    start): the EV waits, Preparing, until the transaction runs."""

    seen: list[Any] = []
    started = gevent.event.Event()

    @scenario()
    def session(self, cp: Any) -> None:
        cp.plug_in()
        self.seen.append(cp.connector_status())
        self.started.wait()
        self.started.clear()
        self.seen.append(cp.charging())
        self.seen.append(cp.wait_for_stop())
        cp.unplug()

    @on_event("transaction_started")
    def on_start(self, cp: Any, connector: int, detail: str) -> None:
        self.started.set()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_remote_start_authorizes_the_ev_a_scenario_plugged_in(version: str) -> None:
    """ "Cable plugin first" (F02; 1.6 5.11): while a scenario's EV waits plugged in, the
    server's remote start is Accepted and starts its transaction there with the server's
    tag (2.0.1: triggerReason RemoteStart and the remoteStartId); no second Preparing is
    reported, and the server's stop ends it."""
    AppStart.seen, AppStart.started = [], gevent.event.Event()
    bench, driver, _ = setup(
        AppStart, version, scenario=Scenario(idle=0, charging=1), session=Session(pause_s=1)
    )
    advance(bench, 3)
    connector = bench.station.connectors[0]
    assert AppStart.seen == ["Preparing"] and connector.tx is None and connector.scenario
    since = len(bench.calls)
    assert remote_start(bench, 1, tag="APP-TAG", remote_start_id=42) == "Accepted"
    advance(bench, 2)
    assert connector.tx is not None and AppStart.seen == ["Preparing", True]
    if version == "1.6":
        (start,) = bench.named("StartTransaction")
        assert (start.payload["idTag"], start.payload["connectorId"]) == ("APP-TAG", 1)
    else:
        (started,) = started_events(bench)
        assert started.payload["triggerReason"] == "RemoteStart"
        assert started.payload["transactionInfo"]["remoteStartId"] == 42
        assert started.payload["idToken"]["idToken"] == "APP-TAG"
    assert "Preparing" not in [status for _, status in bench.statuses(since)]
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    advance(bench, 3)
    # the stop ended it; the scenario unplugged, and its next EV waits again
    assert AppStart.seen == ["Preparing", True, "Remote", "Preparing"]
    starts = bench.named("StartTransaction") if version == "1.6" else started_events(bench)
    assert connector.tx is None and len(starts) == 1  # nothing starts it but the server
    end(driver)


def started_events(bench: Bench) -> list[Any]:
    """2.x: the TransactionEvent Started requests the CSMS received."""
    return [c for c in bench.named("TransactionEvent") if c.payload["eventType"] == "Started"]


class Careless(ChargePointUser):
    """A session that makes the mistakes the signatures catch, then faults its
    connector with the scenario's default connector."""

    errors: list[str] = []

    @scenario()
    def session(self, cp: Any) -> None:
        for step in (
            lambda: cp.authorize(1),
            lambda: cp.plug_in(connector="1"),
            lambda: cp.status(1),
        ):
            try:
                step()
            except TypeError as exc:
                self.errors.append(str(exc))
        cp.status("Faulted")


def test_steps_take_the_connector_by_keyword_and_refuse_wrong_types() -> None:
    """Every step's connector is a keyword defaulting to the scenario's; a tag, a
    connector or a status of the wrong type is a TypeError before anything is sent."""
    Careless.errors = []
    bench, driver, user = setup(
        Careless, scenario=Scenario(idle=0, charging=1), session=Session(pause_s=1)
    )
    advance(bench, 3)
    assert len(Careless.errors) == 3, Careless.errors
    assert not bench.named("Authorize")
    assert (1, "Faulted") in bench.statuses()
    assert user.environment.errors == []
    end(driver)
