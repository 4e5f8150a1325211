"""A station's public inputs besides its events: the steps a scenario takes.

The part of :class:`~loadgen.sim.station.Station` a scenario driver (the Locust face's
:class:`~loadgen.locust.scenarios.Charger`) feeds: plug in, authorize, start, stop,
unplug, a connector's status, any CALL, and the answer to a server call the driver
answers itself. Each step takes ``now`` and returns actions, as the events do, and
applies the machine's own rules (one CALL in flight, the offline queue, local
authorization, reservations, the fleet's counters): a scenario decides *what* the
driver does, never *how* a charger does it. A step that cannot be taken raises
:class:`StepRefused` before it changes anything (:class:`StationGone` when the charger
is stopping, stopped or rebooting).

The station tells the driver what it waits for with the actions of
:data:`loadgen.sim.actions.NEWS`: :class:`~loadgen.sim.actions.ScenarioDue` (a driver
arrives, a fault is due), :class:`~loadgen.sim.actions.Answered` (a step's CALL came
back), :class:`~loadgen.sim.actions.Notice` (a status, a transaction's start or end, the
EV's time to leave, a reboot) and :class:`~loadgen.sim.actions.ServerCall` (a server
call to answer). Stations of a driver with no overrides and no hooks (``api`` None) emit
only the first two, and only when a scenario asked: an idle charger pays nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from loadgen.failures import Failure
from loadgen.ocpp.framing import Call, CallError, CallResult
from loadgen.sim.actions import Answered, Notice, Report, ScenarioDue, Send, ServerCall
from loadgen.sim.connectors import Connector, Outgoing
from loadgen.sim.part import StationPart
from loadgen.sim.states import ACCEPTED, ONLINE, REJECTED
from loadgen.sim.states import STOPPED as STOPPED_PHASE

if TYPE_CHECKING:
    from loadgen.ocpp.dialect import ConnectorStatus, IdInfo, Payload, StopReason
    from loadgen.sim.actions import Action
    from loadgen.sim.extras import Extras

#: Purposes of the CALLs steps make: answered with an Answered action.
USER = "user"
USER_AUTHORIZE = "user-authorize"
#: Statuses a step may set on a connector that runs no session.
SETTABLE = frozenset({"Available", "Unavailable", "Faulted", "Reserved"})


class StepRefused(Exception):
    """A step that cannot be taken now (no such connector, nothing plugged in ...)."""


class StationGone(StepRefused):
    """The charger is stopping, stopped or rebooting: no step can be taken."""


@dataclass(frozen=True, slots=True)
class StationApi:
    """What a driver's user class changes in its stations (shared by all of them)."""

    #: server calls (OCPP action names) the driver answers itself
    overrides: frozenset[str] = frozenset()
    #: emit Notice actions for every status and transaction change (hooks want them)
    notify: bool = False


class UserCall(Outgoing):
    """A CALL a step queued; its answer goes back as ``Answered(token, ...)``."""

    __slots__ = ("token",)

    def __init__(
        self,
        action: str,
        payload: Payload,
        purpose: str,
        token: int,
        connector: Connector | None = None,
    ) -> None:
        super().__init__(action, payload, purpose, connector)
        self.token = token


class PendingAnswer:
    """A server call the driver answers itself, until it does."""

    __slots__ = ("action", "call", "held", "length", "password", "received_at", "reply")

    def __init__(self, call: Call, length: int, received_at: float) -> None:
        self.call = call
        self.action = call.action
        self.length = length
        self.received_at = received_at
        #: the machine's answer once the driver asked for it (our CALLs wait until sent)
        self.reply: CallResult | CallError | None = None
        #: the CALLs (their transactions, their statuses' connectors) that answer set off:
        #: they wait until it is sent
        self.held: list[object] = []
        #: the new Basic-auth password that answer took: used only if the answer the
        #: driver sends takes it too (A01.FR.04)
        self.password: bytes | None = None


class Steps(StationPart):
    """The public steps of a station (a part of :class:`Station`)."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:  # more of the Station this is a part of (StationPart: the common ones)
        api: StationApi | None
        answering: dict[str, PendingAnswer] | None
        watched: dict[int, int] | None
        charging: bool
        out: list[Action]
        phase: int
        queue: list[Outgoing]
        rebooting: bool
        registration: int
        stopping: bool
        tokens: int

        def _queue(self, item: Outgoing, *, front: bool = False) -> None: ...
        def _finish(self, now: float) -> None: ...
        def _set_status(
            self, connector: Connector, status: ConnectorStatus, now: float
        ) -> None: ...
        def _update_due(self) -> None: ...
        def _unplug(self, connector: Connector, now: float, faulted: bool = False) -> None: ...
        def _start_transaction(self, connector: Connector, now: float) -> None: ...
        def end_transaction(
            self, connector: Connector, now: float, reason: StopReason, unplug: bool = True
        ) -> None: ...
        def end_authorization(
            self, connector: Connector, now: float, reason: StopReason
        ) -> None: ...
        def _deauthorizing_ends(self) -> bool: ...
        def _no_authorize_needed(self, id_tag: str) -> bool: ...
        def _reserved_for(
            self, connector: Connector, id_tag: str, group: str | None = None
        ) -> bool: ...
        def _claim(self, connector: Connector, id_tag: str, group: str | None = None) -> None: ...
        def _unclaim(self, connector: Connector, now: float) -> None: ...
        def _abort_session(self, connector: Connector, now: float) -> None: ...
        def _learn(self, id_tag: str, info: IdInfo | None) -> None: ...
        def _master_pass(self, info: IdInfo, now: float, id_tag: str | None = None) -> bool: ...
        def _held_for_another(
            self, connector: Connector, id_tag: str | None, group: str | None = None
        ) -> bool: ...
        def _drop_reservation(self, connector: Connector, now: float) -> None: ...
        def _firmware_blocks(self) -> bool: ...
        def _session_tag(self) -> str: ...
        def _schedule_session(self, connector: Connector, now: float) -> None: ...
        def _session_connectors(self) -> list[Connector]: ...
        def _next_fault(self, now: float) -> None: ...
        def _extras(self) -> Extras: ...

    # -- sessions -----------------------------------------------------------------------

    def plug_in(self, now: float, connector_id: int, id_tag: str | None = None) -> list[Action]:
        """An EV is plugged in (Preparing). ``id_tag``: its driver's, which may claim
        the connector's reservation. Refused on a busy, faulted, unavailable connector,
        or a Reserved one the tag may not use."""
        connector = self._step_connector(connector_id)
        if connector.plugged or connector.busy:
            raise StepRefused(f"connector {connector_id}: something is plugged in already")
        if not connector.operative or connector.status in ("Faulted", "Unavailable"):
            raise StepRefused(f"connector {connector_id} is {connector.status}")
        ext = self.ext
        if ext is not None and ext.firmware is not None and self._firmware_blocks():
            raise StepRefused(f"connector {connector_id}: a firmware update is installing")
        if connector.status == "Reserved":
            if id_tag is None or not self._reserved_for(connector, id_tag):
                raise StepRefused(f"connector {connector_id} is reserved for another tag")
        elif ext is not None and ext.reservations and self._held_for_another(connector, id_tag):
            raise StepRefused(f"connector {connector_id} is the last one free for a reservation")
        out = self.out = []
        self.now_s = now
        connector.plugged = True
        connector.id_tag = id_tag or ""
        connector.trigger = "Authorized"
        connector.remote_start_id = None
        connector.next_session_at = None
        if ext is not None and ext.reservations and id_tag is not None:
            self._claim(connector, id_tag)  # the reserved tag arrived (H01.FR.15)
        self._set_status(connector, "Preparing", now)
        self._update_due()
        self._finish(now)
        return out

    def authorize(
        self, now: float, id_tag: str, token: int, connector_id: int | None = None
    ) -> list[Action]:
        """Authorize ``id_tag``; the status comes back as ``Answered(token, status)``.

        With LocalPreAuthorize and a tag the local list or cache holds as Accepted, no
        CALL: Accepted at once (C14.FR.02, 1.6 3.5); with AuthCtrlr.Enabled false, none
        either (no authorization is done). With a plugged-in ``connector_id`` it is that
        session's authorization (a lost connection meanwhile ends it)."""
        self._step_check()
        connector = None if connector_id is None else self._step_connector(connector_id)
        out = self.out = []
        self.now_s = now
        if connector is not None and connector.plugged and connector.tx is None:
            connector.id_tag = id_tag
            connector.phase = "authorizing"
        else:
            connector = None
        if self._no_authorize_needed(id_tag):
            out.append(Answered(token, "Accepted", None))
        elif self.phase != ONLINE or self.registration != ACCEPTED:
            out.append(Answered(token, None, "not connected"))
        else:
            action, payload = self.dialect.authorize(id_tag)
            self._queue(UserCall(action, payload, USER_AUTHORIZE, token, connector))
        self._finish(now)
        return out

    def start_transaction(
        self, now: float, connector_id: int, id_tag: str | None = None
    ) -> list[Action]:
        """Start a transaction on a plugged-in connector (Charging, metering). Its EV
        leaves after the fleet's session duration: a ``Notice("ev_leaving")`` then, for
        the scenario to stop it (it never stops by itself)."""
        connector = self._step_connector(connector_id)
        if not connector.plugged:
            raise StepRefused(f"connector {connector_id}: nothing is plugged in")
        if connector.tx is not None:
            raise StepRefused(f"connector {connector_id}: a transaction runs already")
        out = self.out = []
        self.now_s = now
        connector.id_tag = id_tag or connector.id_tag or self._session_tag()
        self._start_transaction(connector, now)
        self._finish(now)
        return out

    def stop_transaction(
        self, now: float, connector_id: int, reason: StopReason = "Local"
    ) -> list[Action]:
        """End the connector's transaction with ``reason`` (Finishing; the EV stays
        plugged in until :meth:`unplug`, but for ``EVDisconnected``: the EV has gone).
        Nothing happens when none runs. A driver's own stop (``Local``) under a 2.x
        TxStopPoint without Authorized ends only the authorization: the transaction ends
        when the EV is unplugged (E06, E07)."""
        connector = self._step_connector(connector_id)
        out = self.out = []
        self.now_s = now
        if connector.tx is not None:
            if reason == "Local" and not self._deauthorizing_ends():
                self.end_authorization(connector, now, "Local")
            else:
                gone = reason == "EVDisconnected"  # its Ended says so (2.x: Idle)
                self.end_transaction(connector, now, reason, unplug=gone)
        self._finish(now)
        return out

    def unplug(self, now: float, connector_id: int) -> list[Action]:
        """The EV is unplugged: a transaction still running ends first (reason
        EVDisconnected); then Available (or what was scheduled). Nothing when nothing is
        plugged in."""
        connector = self._step_connector(connector_id, gone_ok=True)
        out = self.out = []
        self.now_s = now
        if self.phase != STOPPED_PHASE:
            self._unplug_step(connector, now)
            self._finish(now)
        return out

    def _unplug_step(self, connector: Connector, now: float) -> None:
        if connector.tx is not None:
            self.end_transaction(connector, now, "EVDisconnected")  # unplugs too
        elif connector.plugged or connector.busy:
            self._abort_session(connector, now)

    def set_status(self, now: float, connector_id: int, status: ConnectorStatus) -> list[Action]:
        """Set a connector's status (Available, Unavailable, Faulted, Reserved); the
        server hears of it when what it sees changes (Available is Unavailable on an
        inoperative connector). Faulted ends a session on it
        (reason Other) and removes its reservation (H01.FR.16); leaving Faulted counts
        as a recovery."""
        connector = self._step_connector(connector_id)
        if status not in SETTABLE:
            raise StepRefused(f"status {status!r}: a step sets only {sorted(SETTABLE)}")
        out = self.out = []
        self.now_s = now
        was = connector.status
        if status == "Faulted":
            if was != "Faulted":
                self._fault_connector(connector, now)
        else:
            if connector.busy or connector.plugged:
                raise StepRefused(f"connector {connector_id}: a session is on it")
            if status == "Available" and not connector.operative:
                status = "Unavailable"  # made inoperative meanwhile (ChangeAvailability)
            self._set_status(connector, status, now)
            if was == "Faulted":
                self.counters.faults_recovered += 1
                if self.charging and connector.next_session_at is None:
                    if connector in self._session_connectors() and not connector.scenario:
                        self._schedule_session(connector, now)
        self._update_due()
        self._finish(now)
        return out

    def _fault_connector(self, connector: Connector, now: float) -> None:
        """A fault ends the session there: Charging, Finishing, Faulted; never Available
        in between (1.6 4.9, a connector no new user may take)."""
        if connector.tx is not None:
            self.end_transaction(connector, now, "Other", unplug=False)
            self._unplug(connector, now, faulted=True)
        elif connector.busy or connector.plugged:
            connector.phase = None
            connector.plugged = False
            connector.tx_profile = None  # a remote start's, waiting for its Authorize
            self._unclaim(connector, now)  # back with the others: the fault removes it
        self._drop_reservation(connector, now)
        connector.next_session_at = None
        self.counters.faults += 1
        self._set_status(connector, "Faulted", now)

    def leave_at(self, now: float, connector_id: int, at: float | None) -> list[Action]:
        """When the connector's EV wants to leave (a ``Notice("ev_leaving")`` then);
        None: never."""
        connector = self._step_connector(connector_id)
        out = self.out = []
        self.now_s = now
        connector.ends_at = at if connector.tx is not None else None
        self._update_due()
        self._finish(now)
        return out

    def watch(self, now: float, connector_id: int, on: bool) -> list[Action]:
        """A driver waits for the end of the connector's transaction (``on``) or no
        longer: while one waits, its changes are Notices even with no scenario there."""
        out = self.out = []
        self.now_s = now
        if not 1 <= connector_id <= len(self.connectors):
            return out
        watched = self.watched
        if on:
            if watched is None:
                watched = self.watched = {}
            watched[connector_id] = watched.get(connector_id, 0) + 1
        elif watched is not None and connector_id in watched:
            watched[connector_id] -= 1
            if watched[connector_id] <= 0:
                del watched[connector_id]
            if not watched:
                self.watched = None
        return out

    # -- any CALL -----------------------------------------------------------------------

    def user_call(self, now: float, action: str, payload: Payload, token: int) -> list[Action]:
        """Send a CALL of ``action`` (after the one in flight, in the queue's order);
        the answer's payload comes back as ``Answered(token, payload)``, a CALLERROR or
        no answer in time as its ``error``. Counted like every CALL (``OCPP <action>``)."""
        self._step_check()
        out = self.out = []
        self.now_s = now
        if self.phase != ONLINE or self.registration != ACCEPTED:
            out.append(Answered(token, None, "not connected"))
        else:
            self._queue(UserCall(action, payload, USER, token))
        self._finish(now)
        return out

    def next_token(self) -> int:
        """A new token for a step's CALL or a scenario (unique in this station)."""
        self.tokens += 1
        return self.tokens

    def _user_answered(self, call: Outgoing, payload: Payload | None, error: str | None) -> None:
        """The answer (or failure) of a step's CALL."""
        token = call.token if isinstance(call, UserCall) else 0
        value: object = payload
        connector = call.connector
        if call.purpose == USER_AUTHORIZE and payload is not None:
            info = self.dialect.authorize_info(payload)
            self._learn(_tag_of(call), info)
            value = info.status
            if value == "Accepted" and self._master_pass(info, self.now_s, _tag_of(call)):
                value = "MasterPass"  # it stopped them all, and starts none (C16.FR.03)
        if connector is not None and connector.phase == "authorizing" and value != "Accepted":
            connector.phase = None  # refused: the scenario unplugs
        self.out.append(Answered(token, value, error))

    def _drop_user_calls(self, items: list[Outgoing], error: str) -> None:
        """Steps' CALLs that will never be sent or answered (the link went down)."""
        for item in items:
            if item.purpose == USER or item.purpose == USER_AUTHORIZE:
                self._user_answered(item, None, error)

    # -- scenarios ----------------------------------------------------------------------

    def _scenario_due(self, connector: Connector, kind: str, id_tag: str, stay_s: float) -> None:
        token = self.next_token()
        if kind == "session":
            connector.scenario = token  # the connector is the scenario's until it ends
        self.out.append(ScenarioDue(kind, connector.id, id_tag, stay_s, token))

    def scenario_ended(self, now: float, kind: str, connector_id: int, token: int) -> list[Action]:
        """The scenario of ``token`` is over: what it left plugged in is unplugged (a
        running transaction ends, reason EVDisconnected) and the connector's next
        arrival is drawn; after a fault, the fault plan's next fault."""
        out = self.out = []
        self.now_s = now
        if self.phase == STOPPED_PHASE or not 1 <= connector_id <= len(self.connectors):
            return out
        connector = self.connectors[connector_id - 1]
        if kind == "fault":
            ext = self.ext
            if ext is not None and ext.faulted == connector_id:
                self._next_fault(now)
                ext.refresh_due()
        elif connector.scenario == token:
            connector.scenario = 0
            if not self.rebooting:
                self._unplug_step(connector, now)
            if self.charging and not self.rebooting and not self.stopping:
                if connector.next_session_at is None and connector in self._session_connectors():
                    self._schedule_session(connector, now)
            self._update_due()
        self._finish(now)
        return out

    def _notice(self, event: str, connector: Connector, detail: str) -> None:
        """Tell the driver, when it listens: hooks on, a scenario runs there, or one
        waits for its transaction's end."""
        api = self.api
        watched = self.watched
        if (
            connector.scenario
            or (api is not None and api.notify)
            or (watched is not None and connector.id in watched)
        ):
            self.out.append(Notice(event, connector.id, detail))

    # -- server calls the driver answers ------------------------------------------------

    def _defer_answer(self, call: Call, length: int, arrived: float) -> bool:
        """A server call the driver overrides: leave it to the driver (True)."""
        api = self.api
        if api is None or call.action not in api.overrides or self.registration == REJECTED:
            return False
        answering = self.answering
        if answering is None:
            answering = self.answering = {}
        answering[call.unique_id] = PendingAnswer(call, length, arrived)
        self.out.append(ServerCall(call.unique_id, call.action, dict(call.payload)))
        return True

    def default_answer(self, now: float, unique_id: str) -> tuple[Payload | None, list[Action]]:
        """The machine's answer to a server call the driver overrides (what it sets off
        happens now, its CALLs wait until the answer is sent); None when the call is gone
        (the connection was lost) or the machine answers it with a CALLERROR."""
        pending = None if self.answering is None else self.answering.get(unique_id)
        out = self.out = []
        self.now_s = now
        if pending is None:
            return None, out
        if pending.reply is None:
            before = set(map(id, self.queue))
            ext = self.ext
            password = None if ext is None else ext.new_password
            pending.reply = self.dialect.answer(pending.call, self)  # type: ignore[arg-type]
            ext = self.ext
            if ext is not None and ext.new_password is not password:
                pending.password, ext.new_password = ext.new_password, password
            for item in self.queue:
                if id(item) not in before:
                    pending.held.append(item)
                    if item.tx is not None:
                        pending.held.append(item.tx)
                    if item.purpose == "status" and item.connector is not None:
                        pending.held.append(item.connector)  # statuses keep their order
        self._finish(now)
        reply = pending.reply
        return (dict(reply.payload) if isinstance(reply, CallResult) else None), out

    def answer_server_call(
        self, now: float, unique_id: str, payload: Payload | None, error: str | None = None
    ) -> list[Action]:
        """Send the driver's answer: ``payload``, or the machine's own when None, or a
        CALLERROR with code ``error`` (e.g. InternalError). Nothing when the call is gone."""
        answering = self.answering
        pending = None if answering is None else answering.pop(unique_id, None)
        out = self.out = []
        self.now_s = now
        if pending is None or answering is None:
            return out
        if not answering:
            self.answering = None
        if error is not None:
            reply: CallResult | CallError = CallError(unique_id, error, "")
        elif payload is not None:
            reply = CallResult(unique_id, payload)
        else:
            if pending.reply is None:
                pending.reply = self.dialect.answer(pending.call, self)  # type: ignore[arg-type]
            reply = pending.reply
        if pending.password is not None and (
            payload is None
            and error is None
            or payload is not None
            and self.dialect.password_taken(payload)
        ):
            self._extras().new_password = pending.password  # the reconnect follows
        failure = None
        if isinstance(reply, CallError):
            failure = Failure("call_error", reply.error_code)
        elapsed_ms = (now - pending.received_at) * 1000
        out.append(Send(reply.to_bytes()))
        out.append(Report("server", pending.action, elapsed_ms, pending.length, failure))
        self._finish(now)
        return out

    def _holding(self) -> bool:
        """The machine answered an overridden call (a Reset ...), not yet sent."""
        answering = self.answering
        return answering is not None and any(p.reply is not None for p in answering.values())

    def _held(self) -> list[object]:
        """What waits for the driver's answers: the CALLs the machine's answers queued,
        their transactions and connectors (a later CALL of the same transaction, or a
        later status of the same connector, waits too)."""
        answering = self.answering
        if answering is None:
            return []
        return [thing for pending in answering.values() for thing in pending.held]

    def _forget_server_calls(self) -> None:
        """The connection is gone: so are the server's calls awaiting the driver."""
        self.answering = None

    # -- checks -------------------------------------------------------------------------

    def _step_check(self) -> None:
        if self.phase == STOPPED_PHASE or self.stopping or self.rebooting:
            raise StationGone("the charger is stopping, stopped or rebooting")

    def _step_connector(self, connector_id: int, gone_ok: bool = False) -> Connector:
        if not gone_ok:
            self._step_check()
        if not 1 <= connector_id <= len(self.connectors):
            raise StepRefused(f"connector {connector_id}: the charger has {len(self.connectors)}")
        return self.connectors[connector_id - 1]


def _tag_of(call: Outgoing) -> str:
    """The idTag of an Authorize CALL (1.6 idTag, 2.0.1 idToken.idToken)."""
    payload = call.payload
    tag = payload.get("idTag")
    if tag is None:
        token = payload.get("idToken")
        tag = token.get("idToken") if isinstance(token, dict) else None
    return str(tag or "")
