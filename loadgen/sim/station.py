"""The charge point as a sans-I/O state machine: events in, actions out.

A :class:`Station` holds everything one simulated charger is: its link and boot state,
its connectors, transactions and meters (:mod:`loadgen.sim.connectors`), its settings,
and the queue of its own calls, of which one at a time is in flight while answers to
the server's calls (:mod:`loadgen.sim.commands`) still go out. It never blocks, sleeps,
reads a clock or touches a socket: each event method takes ``now`` (seconds on the
driver's monotonic clock) and returns the actions (:mod:`loadgen.sim.actions`) for the
driver to carry out. docs/design.md draws the states; in short::

    link:          OFFLINE --Connect--> CONNECTING --connected--> ONLINE --lost--> OFFLINE
                   (reconnect after the RetryBackOff* wait)           (STOPPED at the end)
    registration:  NONE --boot--> PENDING / REJECTED --retry--> ACCEPTED
                   (kept across reconnects; a reset's reboot goes back to NONE)
    calls:         queue --one in flight--> answered | CALLERROR | timed out
                   (transaction messages are kept while offline and retried in order)
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Protocol

from loadgen.failures import Failure
from loadgen.ocpp.dialect import BootReason, Identity, Payload
from loadgen.ocpp.framing import (
    ERROR_CODES_16,
    ERROR_CODES_201,
    Call,
    CallError,
    FrameError,
    encode_call,
    parse,
)
from loadgen.sim.actions import (
    BOOTED,
    CONNECT,
    PING,
    STOPPED,
    Action,
    Close,
    Counters,
    Credentials,
    Notice,
    Report,
    Send,
    SetTimer,
)
from loadgen.sim.authorization import Authorization
from loadgen.sim.certificates import Certificates
from loadgen.sim.commands import Commands
from loadgen.sim.connectors import Connector, Outgoing, Sessions, Transaction
from loadgen.sim.extras import Extras
from loadgen.sim.fleet import Fleet
from loadgen.sim.network import NetworkProfiles
from loadgen.sim.services import Services
from loadgen.sim.smart import SmartCharging
from loadgen.sim.states import (
    ACCEPTED,
    CONNECTING,
    NONE,
    OFFLINE,
    ONLINE,
    PENDING,
    REJECTED,
)
from loadgen.sim.states import STOPPED as STOPPED_PHASE
from loadgen.sim.steps import USER, USER_AUTHORIZE, StationApi, Steps
from loadgen.sim.tariffs import Tariffs
from loadgen.sim.v2x import Bidirectional

#: Heartbeat interval used when the server answers Accepted with interval 0.
DEFAULT_HEARTBEAT_S = 60.0
_CALL_ERROR_CODES = ERROR_CODES_16 | ERROR_CODES_201
_HEARTBEAT_CALL = Outgoing("Heartbeat", {}, "heartbeat")
#: A frame that says it is a CALL (message type 2), however broken the rest.
_CALL_START = re.compile(r"\s*\[\s*2\s*,")
#: Shared by stations given no ``rng`` (a ``Random`` holds ~2.5 KB of state).
_RNG = random.Random()
#: The handshake refusal that means bad credentials (a security event, when on).
_UNAUTHORIZED = "401"


class Unit(Protocol):
    """What an ids file row may say of one charger beyond its id (loadgen.ids.Identity)."""

    @property
    def serial_number(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def id_tags(self) -> tuple[str, ...]: ...


def _drop_rank(item: Outgoing) -> int:
    """The order in which a full offline queue lets messages go, lowest first."""
    if item.purpose == "meter":
        return 0
    if item.purpose == "state":
        return 1
    return 3 if item.action == "SecurityEventNotification" else 2


class Station(
    Sessions,
    Commands,
    Services,
    Authorization,
    Certificates,
    NetworkProfiles,
    SmartCharging,
    Tariffs,
    Bidirectional,
    Steps,
):
    """One simulated charge point (see the module docstring)."""

    __slots__ = (
        "answering",
        "watched",
        "api",
        "attempt",
        "boot_reason",
        "boot_retry_at",
        "boot_triggered",
        "call",
        "call_deadline",
        "call_id",
        "call_sent_at",
        "call_timeout_s",
        "charge_point_id",
        "charging",
        "connector_due",
        "connectors",
        "counters",
        "dialect",
        "ever_connected",
        "ext",
        "fleet",
        "hb_due",
        "hb_interval_s",
        "last_call_at",
        "meter_interval_s",
        "next_id",
        "now_s",
        "offline_since",
        "out",
        "overrides",
        "phase",
        "ping_due",
        "pong_awaited",
        "powered_up",
        "queue",
        "reboot_deadline",
        "rebooting",
        "reconnect_at",
        "registration",
        "reset_when_idle",
        "retry_at",
        "rng",
        "stopping",
        "timer_at",
        "tokens",
        "tx_count",
        "wall_offset_s",
    )

    def __init__(
        self,
        charge_point_id: str,
        fleet: Fleet,
        counters: Counters,
        *,
        rng: random.Random | None = None,
        wall_offset_s: float = 0.0,
        identity: Callable[[str], Identity] | None = None,
        unit: Unit | None = None,
        api: StationApi | None = None,
    ) -> None:
        self.rng = rng or _RNG
        #: what the driver's user class overrides or listens to (None: nothing)
        self.api = api
        self.answering = None  # server calls the driver answers, until it does
        self.watched: dict[int, int] | None = None  # connector -> drivers awaiting its end
        self.tokens = 0  # numbers the steps' CALLs and the scenarios
        #: what only some stations need (None for an idle charger: see loadgen.sim.extras)
        self.ext: Extras | None = None
        if fleet.models:  # a mixed fleet: this charger's model, for life
            fleet = fleet.pick(self.rng, unit.model if unit is not None else None)
        settings = fleet.settings
        self.charge_point_id = charge_point_id
        self.fleet = fleet
        self.dialect = fleet.dialect
        self.counters = counters
        self.wall_offset_s = wall_offset_s  # epoch seconds minus the events' clock
        if identity is not None:  # else the fleet's vendor and model, the id as serial
            self._extras().identity = identity
        if unit is not None and (unit.serial_number or unit.id_tags):
            ext = self._extras()
            ext.serial_number = unit.serial_number
            ext.id_tags = unit.id_tags
        if fleet.defaults.get("clock_aligned_interval_s", "0") not in ("", "0"):
            self._extras()  # its readings are armed at power-up (idle chargers pay nothing)
        faults = fleet.spec.faults
        if faults.share > 0 and self.rng.random() < faults.share:
            self._extras().faulted = -1  # a faulty charger: its first fault after power-up
        self.phase = OFFLINE
        self.registration = NONE
        self.powered_up = False  # accepted once since power-up (statuses and sessions begun)
        self.boot_reason: BootReason = "PowerUp"
        #: the boot queued or in flight is one the server triggered (its reason Triggered)
        self.boot_triggered = False
        #: the next WebSocket Ping of ours (WebSocketPingInterval > 0), while online
        self.ping_due: float | None = None
        #: our last Ping has had no Pong yet: none by the next Ping's time ends the link
        self.pong_awaited = False
        self.ever_connected = False
        self.attempt = 0  # failed connects since the last success (the backoff's n)
        self.reconnect_at: float | None = None
        self.offline_since = 0.0  # when the link last went down
        self.boot_retry_at: float | None = None
        self.retry_at: float | None = None  # a queued transaction message's retry time
        self.queue: list[Outgoing] = []
        self.call: Outgoing | None = None  # the CALL in flight
        self.call_id = ""
        self.call_sent_at = 0.0
        self.call_deadline = 0.0
        self.next_id = 0
        self.last_call_at = 0.0
        self.overrides: dict[str, str] | None = None  # settings the server changed
        # the config's ``configuration`` gives starting values of the settings kept here
        configured = dict(settings.configuration) if settings.configuration else {}
        hb = settings.heartbeat_interval_s or float(configured.get("heartbeat_interval_s", 0))
        self.hb_interval_s = float(hb) if hb else DEFAULT_HEARTBEAT_S
        self.hb_due: float | None = None
        meter_s = configured.get("meter_interval_s", settings.session.meter_interval_s)
        self.meter_interval_s = float(meter_s)
        self.call_timeout_s = float(configured.get("message_timeout_s", settings.call_timeout_s))
        self.connectors = [Connector(i) for i in range(1, settings.connectors + 1)]
        self.connector_due: float | None = None
        self.tx_count = 0
        share = fleet.charging_share
        self.charging = share > 0 and self.rng.random() < share
        self.rebooting = False
        self.reboot_deadline = 0.0  # a reset / graceful stop closes by then; answers renew it
        self.reset_when_idle = False
        self.stopping = False
        self.timer_at: float | None = None
        self.now_s = 0.0  # the current event's time (each event sets it), for what has none
        self.out: list[Action] = []

    # -- events -------------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """Power on: connect now."""
        out = self.out = []
        self.now_s = now
        if self.phase == OFFLINE:
            self.phase = CONNECTING
            self.reconnect_at = None
            out.append(CONNECT)
        self._finish(now)
        return out

    def connected(self, now: float, connect_ms: float) -> list[Action]:
        """The WebSocket is open (after ``connect_ms`` of TCP, TLS and upgrade)."""
        out = self.out = []
        self.now_s = now
        if self.phase != CONNECTING:
            return out
        out.append(Report("WS", "connect", connect_ms, 0, None))
        self.phase = ONLINE
        if self.ever_connected:
            self.counters.reconnects += 1
        self.ever_connected = True
        self.attempt = 0
        self.pong_awaited = False
        self._arm_ping(now)
        ext = self.ext
        moved = ext is not None and ext.network is not None and self._network_connected(ext.network)
        if self.stopping:
            self._finish(now)
            return out
        if self.registration != ACCEPTED or self.fleet.settings.boot_on_reconnect or moved:
            self.registration = NONE if self.registration == ACCEPTED else self.registration
            if self.boot_retry_at is None or now >= self.boot_retry_at:
                self._queue_boot(now)  # else at boot_retry_at: B02.FR.04, B03.FR.02
        else:
            self.hb_due = now + self.hb_interval_s
            threshold = self._int_setting("offline_threshold_s", 60)
            self._report_statuses(now, every=now - self.offline_since > threshold)
            if self.ext is not None:
                self._flush_events(now)
        self._finish(now)
        return out

    def connect_failed(self, now: float, failure: Failure, connect_ms: float) -> list[Action]:
        """The connection could not be opened; try again after the backoff."""
        out = self.out = []
        self.now_s = now
        if self.phase != CONNECTING:
            return out
        out.append(Report("WS", "connect", connect_ms, 0, failure))
        if failure.category == "handshake_rejected" and _UNAUTHORIZED in failure.detail:
            self._credentials_refused(now)
        ext = self.ext
        if ext is not None and ext.network is not None and ext.network.entry >= 0:
            self._network_failed(ext.network)  # B10.FR.03, B10.FR.07
        self._go_offline(now, self._backoff_s())
        self._finish(now)
        return out

    def text(self, now: float, text: str, arrived: float | None = None) -> list[Action]:
        """A text message from the server, read at ``now``; ``arrived`` (default
        ``now``) is when it reached the host: an answer's response time ends there, and
        the time the charger takes to answer a server call begins there."""
        out = self.out = []
        self.now_s = now
        if self.phase != ONLINE:
            return out
        try:
            frame = parse(text)
        except FrameError as exc:
            self._bad_frame(exc, text)
        else:
            if arrived is None:
                arrived = now
            if frame.__class__ is Call:
                self._server_call(now, frame, len(text), arrived)
            else:
                self._reply(now, frame, len(text), arrived)
        self._finish(now)
        return out

    def timer(self, now: float) -> list[Action]:
        """The timer set by the last :class:`SetTimer` fired (or any time: early is harmless)."""
        out = self.out = []
        self.now_s = now
        self.timer_at = None
        phase = self.phase
        ping_due = self.ping_due
        if phase == ONLINE and self.pong_awaited and ping_due is not None and now >= ping_due:
            # a whole WebSocketPingInterval without the Pong of our last Ping: the link is
            # dead (a half-open TCP connection, a stalled server); end it and reconnect
            out.append(Close("no pong", code=1011))  # RFC 6455 7.4.1: unexpected condition
            self._lose(now, Failure("ping_timeout"))
        elif phase == ONLINE:
            if self.call is not None and now >= self.call_deadline:
                self._timed_out(now)
            if self.registration == ACCEPTED:
                hb_due = self.hb_due
                if hb_due is not None and now >= hb_due and self.call is None:
                    self._send_call(_HEARTBEAT_CALL, now)
            elif self.boot_retry_at is not None and now >= self.boot_retry_at:
                self.boot_retry_at = None
                self._queue_boot(now)
            if ping_due is not None and now >= ping_due:
                out.append(PING)
                self.pong_awaited = True
                self._arm_ping(now)
        elif phase == OFFLINE and self.reconnect_at is not None and now >= self.reconnect_at:
            self.phase = CONNECTING
            self.reconnect_at = None
            out.append(CONNECT)
        if self.connector_due is not None and now >= self.connector_due:
            self._connectors_due(now)
        self._finish(now)
        return out

    def pong(self, now: float) -> list[Action]:
        """A Pong from the server: the link is alive (our Ping needs no more)."""
        out = self.out = []
        self.now_s = now
        self.pong_awaited = False
        return out

    def lost(self, now: float, failure: Failure) -> list[Action]:
        """The connection was lost (not closed by us): count it and reconnect later."""
        out = self.out = []
        self.now_s = now
        if self.phase not in (ONLINE, CONNECTING):
            return out
        self._lose(now, failure)
        self._finish(now)
        return out

    def _lose(self, now: float, failure: Failure) -> None:
        """The link is gone (lost, or found dead): count it, then reboot or reconnect later."""
        if self.phase == ONLINE:
            self.counters.lost += 1
            self.out.append(Report("WS", "disconnect", 0, 0, failure))
        if self.rebooting:
            self._reboot(now)
        else:
            was_online = self.phase == ONLINE
            self._go_offline(now, self._backoff_s())
            ext = self.ext
            if was_online and ext is not None and ext.network is not None:
                self._network_walk(ext.network)  # B10.FR.03 (errata): the list again

    def stop(self, now: float, graceful: bool = False) -> list[Action]:
        """End the station's life: at once, or (``graceful``) after ending its transactions."""
        out = self.out = []
        self.now_s = now
        if self.phase == STOPPED_PHASE:
            return out
        if graceful and self.phase == ONLINE and self.registration == ACCEPTED:
            self.stopping = True
            self.reboot_deadline = now + self.call_timeout_s
            self._end_all(now, "Local")
            self._finish(now)
            return out
        self._halt("stop")
        return out

    # -- the call queue -----------------------------------------------------------------

    def _queue(self, item: Outgoing, *, front: bool = False) -> None:
        """Queue one of our CALLs; while offline only transaction messages are kept."""
        if item.tx is not None and item.action in self.dialect.transaction_actions:
            if self.phase != ONLINE or self.queue:
                self._bound_offline_queue()
        elif self.phase != ONLINE:
            return
        if front:
            self.queue.insert(0, item)
        else:
            self.queue.append(item)

    def _bound_offline_queue(self) -> None:
        """Drop the oldest periodic meter value, else the oldest state-change event, else
        the oldest message, beyond the cap (a transaction's start and end go last, a
        security event, whose delivery is guaranteed, after them: A04.FR.02)."""
        queue = self.queue
        if len(queue) < self.fleet.settings.offline_queue_max:
            return
        victim = min(range(len(queue)), key=lambda i: (_drop_rank(queue[i]), i))
        del queue[victim]
        self.counters.offline_dropped += 1

    def _pump(self, now: float) -> None:
        """Send the next queued CALL if none is in flight."""
        if self.call is not None or self.phase != ONLINE:
            return
        held = self._held() if self.answering is not None else None
        queue = self.queue
        self.retry_at = None
        registration = self.registration
        index = 0
        while index < len(queue):
            item = queue[index]
            if held and any(
                thing is item
                or thing is item.tx
                or (thing is item.connector and item.purpose == "status")
                for thing in held
            ):
                index += 1  # set off by an answer the driver has not sent yet: after it
                continue
            if registration != ACCEPTED and (
                not item.pending_ok or (registration == REJECTED and item.purpose != "boot")
            ):
                index += 1  # not before Accepted; while Rejected only the boot (B03.FR.02)
                continue
            if item.not_before > now:
                self.retry_at = item.not_before
                return
            del queue[index]
            if item.tx is not None:
                self.dialect.bind(item.action, item.payload, item.tx)
            self._send_call(item, now)
            return

    def _send_call(self, item: Outgoing, now: float) -> None:
        self.next_id += 1
        call_id = self.call_id = str(self.next_id)
        self.call = item
        self.call_sent_at = self.last_call_at = now
        self.call_deadline = now + self.call_timeout_s
        self.hb_due = now + self.hb_interval_s  # the heartbeat marks inactivity
        self.out.append(Send(encode_call(call_id, item.action, item.payload)))

    def _reply(self, now: float, frame: object, length: int, arrived: float) -> None:
        """An answer to our CALL in flight (CALLRESULT or CALLERROR)."""
        call = self.call
        unique_id = frame.unique_id  # type: ignore[attr-defined]
        if call is None or unique_id != self.call_id:
            failure = Failure("protocol_error", "unknown unique id")
            self.out.append(Report("OCPP", "(server frame)", 0, length, failure))
            return
        self.call = None
        if self.stopping or self.rebooting:  # the server answers: wait on for the rest
            self.reboot_deadline = now + self.call_timeout_s
        elapsed_ms = max(arrived - self.call_sent_at, 0.0) * 1000
        if frame.__class__ is CallError:
            code = frame.error_code
            detail = code if code in _CALL_ERROR_CODES else "other"
            failure = Failure("call_error", detail)
            self.out.append(Report("OCPP", call.action, elapsed_ms, length, failure))
            self._call_failed(call, now, f"call_error {code}")
            return
        self.out.append(Report("OCPP", call.action, elapsed_ms, length, None))
        purpose = call.purpose
        if purpose == "heartbeat" or purpose == "status":
            return
        self._answered(call, frame.payload, now)  # type: ignore[attr-defined]

    def _timed_out(self, now: float) -> None:
        call = self.call
        assert call is not None
        self.call = None
        elapsed_ms = (now - self.call_sent_at) * 1000
        self.out.append(Report("OCPP", call.action, elapsed_ms, 0, Failure("call_timeout")))
        self._call_failed(call, now, "call_timeout")

    def _call_failed(self, call: Outgoing, now: float, error: str) -> None:
        """A CALLERROR or no answer in time: retry a transaction message, else give up."""
        if call.tx is not None and call.action in self.dialect.transaction_actions:
            call.attempts += 1
            if call.attempts < self._int_setting("tx_message_attempts", 3):
                interval = self._int_setting("tx_message_retry_interval_s", 10)
                call.not_before = now + interval * call.attempts
                self.queue.insert(0, call)
                return
        if call.purpose == "boot":
            self.boot_retry_at = now + self.fleet.settings.boot_retry_s
        elif call.purpose == "authorize" and call.connector is not None:
            self._abort_session(call.connector, now)
        elif call.purpose == USER or call.purpose == USER_AUTHORIZE:
            self._user_answered(call, None, error)

    def _answered(self, call: Outgoing, payload: Payload, now: float) -> None:
        purpose = call.purpose
        try:
            if purpose == "boot":
                self._boot_answered(payload, now)
            elif purpose == "authorize" and call.connector is not None:
                self._authorize_answered(call.connector, payload, now)
            elif purpose == "start" and call.tx is not None:
                self._start_answered(call.tx, payload, now)
            elif purpose == "end" and call.tx is not None:  # 1.6 4.10; 2.x C10
                tag, info = self.dialect.end_reply(call.payload, payload)
                self._learn(tag or call.tx.id_tag, info)
            elif purpose == USER or purpose == USER_AUTHORIZE:
                self._user_answered(call, payload, None)
            elif purpose == "needs" and call.connector is not None:
                self._needs_answered(call.connector, payload)  # 2.1 V2X
        except FrameError as exc:
            failure = Failure("protocol_error", exc.code)
            self.out.append(Report("OCPP", f"{call.action} reply", 0, 0, failure))
            if purpose == "boot":
                self.boot_retry_at = now + self.fleet.settings.boot_retry_s
            elif purpose == "authorize" and call.connector is not None:
                self._abort_session(call.connector, now)
            elif purpose == USER or purpose == USER_AUTHORIZE:
                self._user_answered(call, None, f"protocol_error {exc.code}")

    def _bad_frame(self, exc: FrameError, text: str) -> None:
        """A malformed frame: answer a CALL we can identify with CALLERROR, count it.

        A broken CALLRESULT or CALLERROR gets no answer: a CALLERROR answers a CALL only,
        and its id (ours) may name one of the server's own calls. An unknown message type
        gets CALLERROR MessageTypeNotSupported in 2.x; OCPP-J 1.6 (4.1.3) says to ignore it.
        """
        self.out.append(
            Report("OCPP", "(server frame)", 0, len(text), Failure("protocol_error", exc.code))
        )
        if exc.unique_id is None:
            return
        v16 = self.dialect.version == "1.6"
        if (exc.code == "MessageTypeNotSupported" and not v16) or (
            exc.code == "FormatViolation" and _CALL_START.match(text) is not None
        ):
            code = "FormationViolation" if v16 else exc.code
            self.out.append(Send(CallError(exc.unique_id, code, str(exc)[:200]).to_bytes()))

    # -- boot and registration ----------------------------------------------------------

    def _queue_boot(self, now: float, triggered: bool = False) -> None:
        """Queue a BootNotification (none if one is queued or in flight); ``triggered``:
        the server asked for it, so this message alone says reason Triggered and the
        retries after a Pending or Rejected answer say why the station booted."""
        if any(item.purpose == "boot" for item in self.queue) or (
            self.call is not None and self.call.purpose == "boot"
        ):
            return
        self.boot_triggered = triggered
        reason = "Triggered" if triggered else self.boot_reason
        request = self.dialect.boot_notification(self._identity(), reason)
        self._queue(Outgoing(*request, "boot", pending_ok=True), front=True)

    def _identity(self) -> Identity:
        settings = self.fleet.settings
        ext = self.ext
        if ext is None:
            return Identity(
                settings.vendor, settings.model, self.charge_point_id, settings.firmware_version
            )
        if ext.identity is not None:
            return ext.identity(self.charge_point_id)
        return Identity(
            settings.vendor,
            settings.model,
            ext.serial_number or self.charge_point_id,
            ext.firmware_version or settings.firmware_version,
        )

    def _boot_answered(self, payload: Payload, now: float) -> None:
        triggered, self.boot_triggered = self.boot_triggered, False
        reply = self.dialect.parse_boot_reply(payload)
        settings = self.fleet.settings
        if reply.status != "Accepted":
            self.registration = PENDING if reply.status == "Pending" else REJECTED
            self.boot_retry_at = now + (reply.interval_s or settings.boot_retry_s)
            return
        self.registration = ACCEPTED
        self.boot_retry_at = None
        override = settings.heartbeat_interval_s
        # interval 0 keeps the interval the station has (B01.FR.04 adjusts it only if > 0)
        self.hb_interval_s = float(override or reply.interval_s or self.hb_interval_s)
        self.hb_due = now + self.hb_interval_s
        self.counters.booted += 1
        self.out.append(BOOTED)
        if not self.powered_up:
            self.powered_up = True
            self._after_power_up(now)  # reads why it booted (a reset, a firmware update)
        elif triggered:  # 1.6: the server asked for the message only
            self._report_statuses(now, every=False)
        else:  # booted again (boot_on_reconnect, a move): every status (B01.FR.05; 1.6 4.2)
            if self.dialect.version == "1.6":
                self._queue_station_status(now)
            self._report_statuses(now, every=True)
            if self.ext is not None:
                self._flush_events(now)
        self.boot_reason = "PowerUp"

    # -- link and life ------------------------------------------------------------------

    def _backoff_s(self) -> float:
        """OCPP 2.0.1's reconnect wait for the current attempt (OCPP-J 5.3):
        RetryBackOffWaitMinimum, doubled after each failed attempt at most
        RetryBackOffRepeatTimes times, plus up to RetryBackOffRandomRange at random.

        The config's ``reconnect`` block gives the defaults, and its ``max_s`` caps the
        wait only while none of the three was set (by the server, or in the config's
        ``configuration``): a back end's RetryBackOff* values are followed as they are.
        """
        reconnect = self.fleet.settings.reconnect
        wait_min = self._float_setting("retry_backoff_wait_minimum_s", reconnect.initial_s)
        random_range = self._float_setting(
            "retry_backoff_random_range_s",
            reconnect.initial_s if reconnect.random_range_s is None else reconnect.random_range_s,
        )
        repeats = self._int_setting("retry_backoff_repeat_times", 0)
        wait = wait_min * reconnect.factor ** min(self.attempt, repeats)
        if not any(self._set_setting(name) for name in _BACKOFF_SETTINGS):
            wait = min(reconnect.max_s, wait)
        self.attempt += 1
        return wait + self.rng.uniform(0, random_range)

    def _go_offline(self, now: float, after_s: float, chosen: bool = False) -> None:
        """The link is down: keep transaction messages and security events, reconnect after
        ``after_s``; ``chosen``: the station closed it with nothing in flight (new
        credentials), and keeps every queued message."""
        if self.phase == ONLINE:
            self.offline_since = now  # the offline period (OfflineThreshold) counts from here
        self.phase = OFFLINE
        call, self.call = self.call, None
        if call is not None:
            self.queue.insert(0, call)
        self.answering = None  # the server's calls went with the connection
        self.hb_due = self.ping_due = None
        self.reconnect_at = now + after_s
        if chosen:
            return
        tx_actions = self.dialect.transaction_actions
        kept = []
        dropped = []
        for item in self.queue:
            if item.tx is not None and item.action in tx_actions:
                kept.append(item)
            elif item.action == "SecurityEventNotification":
                kept.append(item)  # A04.FR.02: guaranteed delivery, with its own time
            elif item.purpose == "status" and item.connector is not None:
                item.connector.reported = None  # never delivered: report it after the reconnect
            else:
                dropped.append(item)
        self.queue = kept
        self._drop_user_calls(dropped, "connection lost")
        for connector in self.connectors:
            if connector.phase == "authorizing":
                self._abort_session(connector, now)

    def _reboot(self, now: float) -> None:
        """A reset's reboot: close, forget the registration, connect and boot again."""
        self.rebooting = False
        self.counters.reboots += 1
        self.registration = NONE
        self.powered_up = False
        ext = self.ext
        job = None if ext is None else ext.firmware
        self.boot_reason = "FirmwareUpdate" if job is not None else "RemoteReset"
        if ext is not None:
            ext.log = None  # an upload under way is lost with the power
            ext.claimed.clear()
        for connector in self.connectors:
            self._tx_gone(connector, None)
            connector.unplug()
            connector.scenario = 0  # the scenario there is over (told by the Notice below)
            if ext is not None and ext.reservations and ext.held_on(connector.id) is not None:
                connector.status = "Reserved"  # a reservation outlives the reboot
        self.out.append(Notice("rebooted", 0, ""))
        self._go_offline(now, self.fleet.settings.reboot_s)
        if ext is not None and ext.network is not None:
            self._network_walk(ext.network)  # B10.FR.04, B10.FR.06: after the Close
        if ext is not None and ext.reservations:
            self._mark_reserved(now)  # and so do those of no connector
        self.attempt = 0

    def _drained(self) -> bool:
        """No transaction message (nor firmware status) waits to be sent or answered."""
        tx_actions = self.dialect.transaction_actions
        call = self.call
        if call is not None and (call.action in tx_actions or call.purpose == "firmware"):
            return False
        return not any(
            item.action in tx_actions or item.purpose == "firmware" for item in self.queue
        )

    def _halt(self, reason: str) -> None:
        if self.phase in (ONLINE, CONNECTING):
            self.out.append(Close(reason))
        self.phase = STOPPED_PHASE
        call, self.call = self.call, None
        self._drop_user_calls([*([call] if call is not None else []), *self.queue], "stopped")
        self.queue = []
        self.answering = None
        for connector in self.connectors:
            self._tx_gone(connector, None)  # the fleet's gauges count it no longer
        if self.timer_at is not None:
            self.timer_at = None
            self.out.append(SetTimer(None))
        self.out.append(STOPPED)

    def _finish(self, now: float) -> None:
        """After each event: close for a reset or stop once drained, pump, set the timer.

        The event's actions then belong to the caller alone: a station keeps no frame
        between events (an orjson output holds a buffer of ~1 KB or more whatever its
        length: kept by 100,000 idle stations that is 100 MB).
        """
        self._conclude(now)
        self.out = []

    def _conclude(self, now: float) -> None:
        if self.rebooting or self.stopping:
            if self.answering is not None and self._holding() and now < self.reboot_deadline:
                pass  # the driver's answer (a Reset's) goes first; the deadline bounds it
            elif self.phase == ONLINE and (self._drained() or now >= self.reboot_deadline):
                if self.stopping:
                    self._halt("stop")
                    return
                self.out.append(Close("reset"))
                self._reboot(now)
            elif self.stopping and now >= self.reboot_deadline:
                self._halt("stop")  # the link stayed down: the wait is bounded all the same
                return
        if self.phase == STOPPED_PHASE:
            return
        ext = self.ext
        if ext is not None:
            if ext.reshare:  # a transaction began or ended under a station-wide limit
                ext.reshare = False
                self._recheck_all_charging(now)
            if ext.new_password is not None:
                self._relogin(now, ext)
        self._pump(now)
        at = self._wakeup()
        if at != self.timer_at:
            self.timer_at = at
            self.out.append(SetTimer(at))

    def _relogin(self, now: float, ext: Extras) -> None:
        """A new Basic-auth password was accepted: reconnect with it (2.0.1 A01 steps
        3-4; 1.6 whitepaper), once its answer is out and no CALL of ours waits for an
        answer, keeping every queued message ("storing any queued messages"). Not while
        the driver still answers a server call: the reconnect would lose that call. Not
        a reboot: a station once Accepted does not boot again."""
        if self.phase == ONLINE and (self.call is not None or self.answering is not None):
            return  # after the answer (or the call's timeout), and the driver's answers
        password, ext.new_password = ext.new_password, None
        assert password is not None
        self.out.append(Credentials(password))
        if self.read_setting("security_profile") == "0":  # Basic auth from now on
            if self.overrides is None:
                self.overrides = {}
            self.overrides["security_profile"] = "1"
            self._network_secured(1)  # and so does the profile in use (A05)
        self._security_event("ReconfigurationOfSecurityParameters", now)  # A01.FR.11
        if self.phase == ONLINE:
            self.out.append(Close("new credentials"))
            self._go_offline(now, 0.0, chosen=True)
            if ext.network is not None:
                self._network_from_here(ext.network)

    def _wakeup(self) -> float | None:
        """The earliest time something is due."""
        at: float | None = None
        phase = self.phase
        if phase == ONLINE:
            if self.call is not None:
                at = self.call_deadline
            elif self.registration == ACCEPTED:
                at = self.hb_due
            elif self.boot_retry_at is not None:
                at = self.boot_retry_at
            retry_at = self.retry_at  # a queued retry can only go once no CALL is in flight
            if self.call is None and retry_at is not None and (at is None or retry_at < at):
                at = retry_at
            if self.rebooting and (at is None or self.reboot_deadline < at):
                at = self.reboot_deadline
            ping_due = self.ping_due
            if ping_due is not None and (at is None or ping_due < at):
                at = ping_due
        elif phase == OFFLINE:
            at = self.reconnect_at
        if self.stopping and (at is None or self.reboot_deadline < at):
            at = self.reboot_deadline
        due = self.connector_due
        if due is not None and (at is None or due < at):
            at = due
        return at

    def _arm_ping(self, now: float) -> None:
        """The next Ping of ours, WebSocketPingInterval from now (1.6 and 2.x; 0: none,
        the server pings if anyone does)."""
        every = self._int_setting("websocket_ping_interval_s", 0)
        self.ping_due = now + every if every > 0 and self.phase == ONLINE else None

    # -- settings -----------------------------------------------------------------------

    def _int_setting(self, name: str, default: int) -> int:
        text = self.read_setting(name)
        try:
            return int(text) if text else default
        except ValueError:
            return default

    def _float_setting(self, name: str, default: float) -> float:
        """A setting in seconds: the server's value if it set one, else the config's
        ``configuration`` entry, else ``default`` (the config's own figure, unrounded)."""
        if not self._set_setting(name):
            return default
        try:
            return float(self.read_setting(name) or "")
        except ValueError:
            return default

    def _set_setting(self, name: str) -> bool:
        """Whether the server or the config's ``configuration`` set this setting."""
        overrides = self.overrides
        return (overrides is not None and name in overrides) or name in self.fleet.configured

    def _flag(self, name: str) -> bool:
        return self.read_setting(name) == "true"


#: OCPP 2.0.1's reconnect backoff variables (OCPPCommCtrlr.RetryBackOff*)
_BACKOFF_SETTINGS = (
    "retry_backoff_wait_minimum_s",
    "retry_backoff_random_range_s",
    "retry_backoff_repeat_times",
)

__all__ = ["Connector", "Station", "Transaction"]
