"""The public scenario API: charge point behaviour written in Python, in blocking style.

A locustfile subclasses :class:`~loadgen.locust.user.ChargePointUser` and marks methods:

- ``@scenario(weight=N)``: what a driver does when the fleet's arrivals bring one to a
  connector (``when="fault"``: when the fleet's fault plan faults one). The method gets
  a :class:`Charger` handle whose steps block until the charger has done them
  (``cp.plug_in()``, ``cp.authorize()``, ``cp.start()``, ``cp.call(...)``, ``cp.wait(30)``);
  one of a class's scenarios is picked by weight, as Locust picks tasks.
- ``@on_call("RemoteStartTransaction")``: the answer to a server call (a payload, or
  None for the charger's own answer, ``cp.default_answer()``).
- ``@on_event("transaction_ended")``: a hook on a change of state (:data:`EVENTS`).

A scenario runs in a greenlet only while it is active; the charger itself lives on the
engine's hub callbacks, so an idle charger holds no greenlet. Every step goes through
the charger's state machine (:mod:`loadgen.sim.steps`): its CALLs queue behind the one
in flight and are counted as ``OCPP <Action>`` like the built-in ones. An exception in
user code ends that scenario (the charger stays connected) and is reported once per
scenario, exception type and place: a ``loadgen`` log line and a Locust exception entry
with the charge point id and the traceback. docs/scenarios.md teaches the API.
"""

from __future__ import annotations

import logging
import os
import random
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import gevent
from gevent import GreenletExit
from gevent.event import AsyncResult

from loadgen.sim.actions import Answered, Notice, ScenarioDue, ServerCall
from loadgen.sim.steps import StationApi, StationGone, StepRefused

if TYPE_CHECKING:
    from loadgen.ocpp.dialect import ConnectorStatus, StopReason
    from loadgen.sim.actions import Action
    from loadgen.sim.engine import Engine, Link
    from loadgen.sim.station import Station

log = logging.getLogger("loadgen")

Payload = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])

#: The events ``on_event`` hooks may listen to, and what ``detail`` then holds.
EVENTS = {
    "booted": "a BootNotification was accepted (connector 0)",
    "status": "a connector's status changed (detail: the new status)",
    "transaction_started": "a transaction began (detail: the charger's transaction id)",
    "transaction_ended": "a transaction ended (detail: the stop reason)",
    "ev_leaving": "a scenario's EV has stayed its planned time",
    "rebooted": "the charger rebooted (a reset; connector 0)",
}
#: What a scenario may be due for.
WHEN = ("session", "fault")
#: How long a step's CALL may wait for its answer at most, beyond the charger's own
#: call timeout (a bound against a lost answer; the charger always answers first).
ANSWER_GRACE_S = 300.0
#: Most distinct places of user errors a process reports, and occurrences of each it
#: sends to Locust's exceptions table; the rest are counted only (new places beyond
#: the first under MORE_PLACES).
#: How often a wait for a transaction's end looks at the charger itself (a bound
#: against a notice it never got).
WATCH_CHECK_S = 60.0
MAX_REPORTED = 100
MAX_COUNTED = 1000


#: Where user errors beyond the first MAX_REPORTED places are counted.
MORE_PLACES = ("(more places)", "", "")
#: loadgen's own code: a user error's place is the innermost frame outside it.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _place(exc: BaseException) -> str:
    """Where user code raised ``exc`` (or called the loadgen step that did): the
    innermost frame outside the loadgen package, else the innermost (a built-in's)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    for frame in reversed(frames):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR):
            return f"{frame.filename}:{frame.lineno}"
    return f"{frames[-1].filename}:{frames[-1].lineno}"


def _tag(tag: str | None) -> str | None:
    """``tag`` checked: an idTag is a string (an int would be a schema error)."""
    if tag is not None and not isinstance(tag, str):
        raise TypeError(f"tag={tag!r}: an idTag is a str")
    return tag


def _text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name}={value!r}: give a str")


class ChargerGone(GreenletExit):
    """The charger stopped or rebooted: the scenario ends (not an error)."""


class CallFailed(Exception):
    """A CALL got a CALLERROR, no answer in time, or could not be sent (not connected)."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"{action}: {reason}")
        self.action = action
        #: call_timeout, ``call_error <code>``, not connected, connection lost ...
        self.reason = reason


class UserCodeError(Exception):
    """What Locust's exceptions table shows of an exception in user code."""


def scenario(weight: int = 1, *, when: str = "session") -> Callable[[F], F]:
    """Mark a method ``(self, cp: Charger) -> None`` of a ChargePointUser as a
    scenario, picked by ``weight`` among the class's scenarios of the same ``when``:
    "session" (a driver arrives, by the fleet's arrivals) or "fault" (the fleet's fault
    plan). A class that defines scenarios of a kind replaces those it inherits.

    Raises ValueError for a weight below 1 or an unknown ``when``."""
    if weight < 1:
        raise ValueError(f"scenario weight {weight}: give 1 or more")
    if when not in WHEN:
        raise ValueError(f"scenario when={when!r}: one of {', '.join(WHEN)}")

    def mark(fn: F) -> F:
        fn.loadgen_scenario = (when, weight)  # type: ignore[attr-defined]
        return fn

    return mark


def on_call(action: str) -> Callable[[F], F]:
    """Mark a method ``(self, cp, payload: dict) -> dict | None`` as the answer to the
    server's calls of ``action`` (an OCPP action name; stack it for several). It runs
    in a greenlet of its own and may block; the answer goes out when it returns: its
    payload, or the charger's own answer for None (``cp.default_answer()`` gives that
    payload to change it). An exception answers with a CALLERROR InternalError."""

    def mark(fn: F) -> F:
        actions = (*getattr(fn, "loadgen_on_call", ()), action)  # stacked: several actions
        fn.loadgen_on_call = actions  # type: ignore[attr-defined]
        return fn

    return mark


def on_event(event: str) -> Callable[[F], F]:
    """Mark a method ``(self, cp, connector: int, detail: str) -> None`` as a hook on
    ``event`` (one of :data:`EVENTS`). It runs in a greenlet of its own and may block.

    Raises ValueError for an unknown event."""
    if event not in EVENTS:
        raise ValueError(f"on_event({event!r}): one of {', '.join(EVENTS)}")

    def mark(fn: F) -> F:
        events = (*getattr(fn, "loadgen_on_event", ()), event)  # stacked: several events
        fn.loadgen_on_event = events  # type: ignore[attr-defined]
        return fn

    return mark


class Behaviour:
    """What a user class defines: its scenarios, call answers and hooks (per class)."""

    def __init__(self, cls: type) -> None:
        self.scenarios: dict[str, list[tuple[Callable[..., Any], int]]] = {}
        self.calls: dict[str, Callable[..., Any]] = {}
        self.hooks: dict[str, list[Callable[..., Any]]] = {}
        for klass in reversed(cls.__mro__):  # the nearest class with scenarios of a kind
            own: dict[str, list[tuple[Callable[..., Any], int]]] = {}
            for value in vars(klass).values():
                mark = getattr(value, "loadgen_scenario", None)
                if mark is not None:
                    own.setdefault(mark[0], []).append((value, mark[1]))
            self.scenarios.update(own)
        for name in dir(cls):  # methods as the class resolves them (overrides win)
            if name.startswith("__"):
                continue
            value = getattr(cls, name, None)
            if not callable(value):
                continue
            for action in getattr(value, "loadgen_on_call", ()):
                self.calls[action] = value
            for event in getattr(value, "loadgen_on_event", ()):
                self.hooks.setdefault(event, []).append(value)
        #: what the stations of this class are told (None: nothing changes for them)
        self.api: StationApi | None = None
        if self.calls or self.hooks:
            self.api = StationApi(frozenset(self.calls), notify=bool(self.hooks))

    def pick(self, when: str, rng: random.Random) -> Callable[..., Any] | None:
        """One scenario of ``when``, by weight (None: the class has none)."""
        choices = self.scenarios.get(when)
        if not choices:
            return None
        if len(choices) == 1:
            return choices[0][0]
        total = sum(weight for _, weight in choices)
        point = rng.uniform(0, total)
        for fn, weight in choices:
            point -= weight
            if point <= 0:
                return fn
        return choices[-1][0]


class Driver:
    """One charger's scenarios, answers and hooks under way (made on first need)."""

    def __init__(
        self,
        user: Any,
        engine: Engine,
        link: Link,
        behaviour: Behaviour,
        user_errors: dict[tuple[str, str, str], int],
    ) -> None:
        self.user = user
        self.engine = engine
        self.link = link
        self.behaviour = behaviour
        self.greenlets: set[gevent.Greenlet] = set()  # scenarios, answers and hooks running
        self.answers: dict[int, AsyncResult] = {}  # step CALL token -> its answer
        self.stops: dict[int, list[AsyncResult]] = {}  # connector -> wait_for_stop's waiters
        self.ended: dict[int, str] = {}  # connector -> the reason its last transaction ended
        self.leaving: set[int] = set()  # connectors whose EV has stayed its time
        #: (where, exception type, place) -> occurrences, shared by the process's users
        self.user_errors = user_errors

    @property
    def station(self) -> Station:
        return self.link.station

    # -- the station's news (hub callbacks: nothing here may wait) ----------------------

    def news(self, action: Action) -> None:
        kind = action.__class__
        if kind is Answered:
            waiter = self.answers.pop(action.token, None)  # type: ignore[union-attr]
            if waiter is not None:
                waiter.set(action)
        elif kind is ScenarioDue:
            self._due(action)  # type: ignore[arg-type]
        elif kind is Notice:
            self._notice(action)  # type: ignore[arg-type]
        elif kind is ServerCall:
            self._server_call(action)  # type: ignore[arg-type]

    def _due(self, due: ScenarioDue) -> None:
        fn = self.behaviour.pick(due.kind, self.station.rng)
        if fn is None:  # nothing to run: free the connector (after this event: no step
            self._spawn(self._ended, due)  # may run inside the engine's carrying out)
            return
        cp = Charger(self, due.connector_id, due.id_tag, due.stay_s)
        self._spawn(self._run_scenario, fn, cp, due)

    def _notice(self, notice: Notice) -> None:
        event, connector = notice.event, notice.connector_id
        if event == "transaction_ended":
            self.ended[connector] = notice.detail
            self.leaving.discard(connector)
            for waiter in self.stops.pop(connector, ()):
                waiter.set(notice.detail)
        elif event == "ev_leaving":
            waiters = self.stops.pop(connector, None)
            if waiters:
                for waiter in waiters:
                    waiter.set(None)
            else:
                self.leaving.add(connector)  # for the next wait_for_stop
        elif event == "rebooted":
            self.leaving.clear()
            self.end_all()
        self.hook(event, connector, notice.detail)

    def hook(self, event: str, connector: int, detail: str) -> None:
        """Run the class's hooks on ``event``, each in a greenlet of its own."""
        for fn in self.behaviour.hooks.get(event, ()):
            cp = Charger(self, connector, "", 0.0)
            self._spawn(self._run_hook, fn, cp, connector, detail)

    def _server_call(self, call: ServerCall) -> None:
        fn = self.behaviour.calls.get(call.action)
        cp = Charger(self, 0, "", 0.0, answering=call.unique_id)
        self._spawn(self._run_answer, fn, cp, call)

    def end_all(self) -> None:
        """The charger stopped or rebooted: end every scenario and hook under way."""
        current = gevent.getcurrent()
        for greenlet in list(self.greenlets):
            if greenlet is not current:
                greenlet.kill(ChargerGone, block=False)
        # waiters in greenlets of the user's own (gevent.spawn) end too, not only ours
        answers, self.answers = self.answers, {}
        stops, self.stops = self.stops, {}
        for waiter in answers.values():
            waiter.set_exception(ChargerGone())
        for waiters in stops.values():
            for waiter in waiters:
                waiter.set_exception(ChargerGone())

    # -- greenlets ------------------------------------------------------------------------

    def _spawn(self, body: Callable[..., None], *args: Any) -> None:
        greenlet = gevent.Greenlet(body, *args)
        self.greenlets.add(greenlet)
        greenlet.rawlink(self.greenlets.discard)
        greenlet.start()

    def _run_scenario(self, fn: Callable[..., Any], cp: Charger, due: ScenarioDue) -> None:
        try:
            fn(self.user, cp)
        except (ChargerGone, StationGone):
            pass
        except Exception as exc:
            self.user_error(f"scenario {fn.__name__}", exc)
        finally:
            self._ended(due)

    def _ended(self, due: ScenarioDue) -> None:
        try:
            self.engine.step(
                self.link,
                lambda st, now: st.scenario_ended(now, due.kind, due.connector_id, due.token),
            )
        except Exception as exc:  # the charger must go on whatever happened
            self.user_error("scenario end", exc)

    def _run_hook(self, fn: Callable[..., Any], cp: Charger, connector: int, detail: str) -> None:
        try:
            fn(self.user, cp, connector, detail)
        except (ChargerGone, StationGone):
            pass
        except Exception as exc:
            self.user_error(f"hook {fn.__name__}", exc)

    def _run_answer(self, fn: Callable[..., Any] | None, cp: Charger, call: ServerCall) -> None:
        payload: Payload | None = None
        error: str | None = None
        try:
            if fn is not None:
                payload = fn(self.user, cp, call.payload)
                if payload is not None and not isinstance(payload, dict):
                    raise TypeError(
                        f"on_call({call.action!r}) returned {type(payload).__name__}: "
                        "return the answer's payload (a dict) or None"
                    )
        except (ChargerGone, StationGone):
            return
        except Exception as exc:
            self.user_error(f"on_call {call.action}", exc)
            error, payload = "InternalError", None
        self.engine.step(
            self.link,
            lambda st, now: st.answer_server_call(now, call.unique_id, payload, error),
        )

    def user_error(self, where: str, exc: BaseException) -> None:
        """Report an exception in user code: a log line with the traceback once per
        place, and a Locust exception entry (one per place, counting occurrences)."""
        key = (where, type(exc).__name__, _place(exc))
        seen = self.user_errors
        count = seen.get(key, 0) + 1
        if count == 1 and len(seen) >= MAX_REPORTED:  # the places reported so far go on
            seen[MORE_PLACES] = seen.get(MORE_PLACES, 0) + 1
            return
        seen[key] = count
        if count > MAX_COUNTED:
            return  # counted here only: a storm of errors must not flood the master
        charge_point_id = self.station.charge_point_id
        message = f"charge point {charge_point_id}: {where} raised {type(exc).__name__}: {exc}"
        if count == 1:
            formatted = "".join(traceback.format_exception(exc))
            log.error("%s (logged once per place; the charger goes on)\n%s", message, formatted)
        # Locust's own channel for errors in user code: its exceptions table, from every
        # worker to the master, one row per traceback (the first message, the count)
        self.user.environment.events.user_error.fire(
            user_instance=self.user, exception=UserCodeError(message), tb=exc.__traceback__
        )

    # -- steps (called from the scenario's greenlet) -------------------------------------

    def step(self, fn: Callable[[Station, float], list[Action]]) -> None:
        try:
            self.engine.step(self.link, fn)
        except StationGone:
            raise ChargerGone() from None

    def call(self, action: str, token: int, send: Callable[[Station, float], list[Action]]) -> Any:
        waiter = self.answers[token] = AsyncResult()
        try:
            self.step(send)
        except BaseException:
            self.answers.pop(token, None)
            raise
        if waiter.ready():  # failed at once (offline): a retry loop must not hold the hub
            gevent.sleep(0)
        bound = self.station.call_timeout_s + ANSWER_GRACE_S
        try:
            answered: Answered = waiter.get(timeout=bound)
        except gevent.Timeout:
            self.answers.pop(token, None)
            raise CallFailed(action, "no answer") from None
        if answered.error == "stopped":
            raise ChargerGone()
        if answered.error is not None:
            raise CallFailed(action, answered.error)
        return answered.value


class Charger:
    """A scenario's handle on its charger: blocking steps and what the charger is now.

    A step raises :class:`~loadgen.sim.steps.StepRefused` when the charger cannot take
    it now (nothing plugged in, a faulted connector ...) and :class:`ChargerGone` when the
    charger stops or reboots. ``connector`` arguments default to the scenario's own.
    """

    def __init__(
        self,
        driver: Driver,
        connector: int,
        id_tag: str,
        stay_s: float,
        answering: str | None = None,
    ) -> None:
        self._driver = driver
        #: the connector the scenario is for (0 for a hook on the whole charger)
        self.connector = connector
        #: the driver's tag: the reservation's, the ids file's, the fleet's
        self.id_tag = id_tag or driver.station.fleet.settings.session.id_tag
        #: a fault's time to recover (seconds); 0 for a session
        self.stay_s = stay_s
        self._answering = answering  # the server call an on_call handler answers

    # -- what the charger is --------------------------------------------------------------

    @property
    def charge_point_id(self) -> str:
        """The charger's id (the last part of its WebSocket URL)."""
        return self._driver.station.charge_point_id

    @property
    def ocpp_version(self) -> str:
        """The OCPP version it speaks: 1.6 or 2.0.1."""
        return self._driver.station.dialect.version

    @property
    def connectors(self) -> int:
        """How many connectors (1.6) or EVSEs (2.0.1) the charger has."""
        return len(self._driver.station.connectors)

    @property
    def user(self) -> Any:
        """The Locust user of this charger (its environment, its own attributes)."""
        return self._driver.user

    def connector_status(self, connector: int | None = None) -> str:
        """The connector's status now (Available, Preparing, Charging, Faulted ...)."""
        return self._connector(connector).status

    def charging(self, connector: int | None = None) -> bool:
        """Whether a transaction runs on the connector."""
        return self._connector(connector).tx is not None

    # -- steps ----------------------------------------------------------------------------

    def plug_in(self, tag: str | None = None, *, connector: int | None = None) -> None:
        """Plug an EV in (Preparing). ``tag``: its driver's (default :attr:`id_tag`),
        which may claim a reservation of the connector."""
        number = self._number(connector)
        id_tag = _tag(tag) or self.id_tag
        self._driver.step(lambda st, now: st.plug_in(now, number, id_tag))

    def authorize(self, tag: str | None = None, *, connector: int | None = None) -> str:
        """Authorize ``tag`` (default :attr:`id_tag`) and return its status (Accepted,
        Blocked, Invalid ...); with the local list or cache and LocalPreAuthorize, maybe
        without a CALL. ``MasterPass`` (2.x) for a tag of AuthCtrlr.MasterPassGroupId:
        the station stopped every transaction, and no transaction may start with it
        (C16). Raises :class:`CallFailed`."""
        id_tag = _tag(tag) or self.id_tag
        number = self._number(connector) if (connector or self.connector) else None
        driver = self._driver
        token = driver.station.next_token()
        status = driver.call(
            "Authorize", token, lambda st, now: st.authorize(now, id_tag, token, number)
        )
        return str(status)

    def start(self, tag: str | None = None, *, connector: int | None = None) -> None:
        """Start a transaction on a plugged-in connector (Charging, meter values at the
        fleet's interval). Its EV stays the fleet's session duration (see
        :meth:`wait_for_stop`, :meth:`leave_after`); the transaction never ends by
        itself."""
        number = self._number(connector)
        id_tag = _tag(tag)
        self._driver.step(lambda st, now: st.start_transaction(now, number, id_tag))

    def stop(self, reason: StopReason = "Local", *, connector: int | None = None) -> None:
        """End the connector's transaction (Finishing); nothing if none runs."""
        number = self._number(connector)
        _text("reason", reason)
        self._driver.step(lambda st, now: st.stop_transaction(now, number, reason))

    def unplug(self, *, connector: int | None = None) -> None:
        """Unplug the EV (Available); a transaction still running ends first."""
        number = self._number(connector)
        self._driver.step(lambda st, now: st.unplug(now, number))

    def status(self, status: ConnectorStatus, *, connector: int | None = None) -> None:
        """Set a free connector's status: Available, Unavailable, Faulted (a session on
        it ends, reason Other) or Reserved. The server hears of changes it can see."""
        number = self._number(connector)
        _text("status", status)
        self._driver.step(lambda st, now: st.set_status(now, number, status))

    def call(self, action: str, payload: Payload) -> Payload:
        """Send any CALL (after the one in flight) and return the answer's payload.
        Counted like the built-in ones (``OCPP <action>``). Raises :class:`CallFailed`
        on a CALLERROR, no answer in time, or no connection."""
        driver = self._driver
        token = driver.station.next_token()
        body = dict(payload)
        answer = driver.call(action, token, lambda st, now: st.user_call(now, action, body, token))
        return dict(answer) if isinstance(answer, dict) else {}

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``; raises :class:`ChargerGone` if the charger stops or reboots."""
        gevent.sleep(max(0.0, seconds))

    def wait_for_stop(
        self, *, connector: int | None = None, timeout_s: float | None = None
    ) -> str | None:
        """Wait until the connector's transaction ends by itself (the server stopped it,
        a reset, a fault, DeAuthorized: returns the reason) or its EV has stayed its time
        (the fleet's session duration, or :meth:`leave_after`'s: returns None). With
        ``timeout_s``, return None after that long at most (the EV's stay is unchanged).
        Several greenlets may wait on one connector; all are told."""
        number = self._number(connector)
        driver = self._driver
        if self._connector(number).tx is None:
            return driver.ended.get(number)
        if number in driver.leaving:
            driver.leaving.discard(number)
            return None
        waiter = AsyncResult()
        driver.stops.setdefault(number, []).append(waiter)
        driver.step(lambda st, now: st.watch(now, number, True))  # told even with no scenario
        deadline = None if timeout_s is None else time.monotonic() + max(0.0, timeout_s)
        try:
            while True:
                left = WATCH_CHECK_S if deadline is None else deadline - time.monotonic()
                try:
                    if left <= 0:
                        return waiter.get(block=False)
                    return waiter.get(timeout=min(left, WATCH_CHECK_S))
                except gevent.Timeout:
                    pass
                if self._connector(number).tx is None:  # a bound against a lost notice
                    return driver.ended.get(number)
                if deadline is not None and time.monotonic() >= deadline:
                    return None
        finally:
            waiters = driver.stops.get(number)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del driver.stops[number]
            driver.engine.step(driver.link, lambda st, now: st.watch(now, number, False))

    def leave_after(self, seconds: float, *, connector: int | None = None) -> None:
        """The connector's EV leaves ``seconds`` from now instead of after the fleet's
        session duration (:meth:`wait_for_stop` returns None then). Nothing when no
        transaction runs."""
        number = self._number(connector)
        at_s = max(0.0, seconds)
        self._driver.step(lambda st, now: st.leave_at(now, number, now + at_s))

    def default_answer(self) -> Payload | None:
        """In an ``on_call`` handler: the charger's own answer to the call (what it sets
        off, e.g. a remote start's session, happens now). None when the connection that
        brought the call is gone, or the charger would answer with a CALLERROR."""
        unique_id = self._answering
        if unique_id is None:
            raise StepRefused("default_answer() is for on_call handlers")
        result: list[Payload | None] = []

        def answer(station: Station, now: float) -> list[Action]:
            payload, actions = station.default_answer(now, unique_id)
            result.append(payload)
            return actions

        self._driver.step(answer)
        return result[0]

    # -- helpers ----------------------------------------------------------------------------

    def _number(self, connector: int | None) -> int:
        if connector is not None and (type(connector) is not int):
            raise TypeError(f"connector={connector!r}: give the connector's number (an int)")
        number = connector if connector is not None else self.connector
        if not number:
            raise StepRefused("which connector? give connector=N (this handle has none)")
        return number

    def _connector(self, connector: int | None) -> Any:
        number = self._number(connector)
        connectors = self._driver.station.connectors
        if not 1 <= number <= len(connectors):
            raise StepRefused(f"connector {number}: the charger has {len(connectors)}")
        return connectors[number - 1]
