"""A scripted CSMS and a fake clock that drive a :class:`Station` with no I/O at all.

``Bench(version, settings)`` owns a station and plays both the engine (it carries out
the station's actions: connects when asked, keeps the one timer, records reports) and
the server (it answers each CALL the station sends from a table of payloads, after
``latency_s``, and validates every request against the official OCPP schemas). Time is
a number the test moves with :meth:`Bench.run`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from loadgen.config import ChargePoints
from loadgen.failures import Failure
from loadgen.ocpp.schemas import validate
from loadgen.sim.actions import (
    Action,
    Booted,
    Close,
    Connect,
    Counters,
    Report,
    Send,
    SetTimer,
    Stopped,
)
from loadgen.sim.fleet import Fleet
from loadgen.sim.station import Station

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
    }


@dataclass
class Sent:
    """A CALL the station sent, as the CSMS received it."""

    at: float
    unique_id: str
    action: str
    payload: dict[str, Any]


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

    def __post_init__(self) -> None:
        self.now = 0.0
        self.counters = Counters()
        fleet = Fleet.build(self.settings, self.version)
        self.station = Station(
            "CP-1", fleet, self.counters, rng=random.Random(self.seed), wall_offset_s=WALL_OFFSET_S
        )
        table = default_answers(self.version)
        table.update(self.answers)
        self.answers = table
        self.calls: list[Sent] = []
        self.reports: list[Report] = []
        self.answers_to_server: list[list[Any]] = []
        self.connected = False
        self.connects = 0
        self.closes: list[str] = []
        self.booted = 0
        self.stopped = False
        self.timer_at: float | None = None
        self.connect_at: float | None = None
        self.replies: list[tuple[float, str]] = []  # (due, text) to deliver to the station
        self.silent: set[str] = set()  # actions the CSMS never answers
        self.feed(self.station.start(self.now))

    # -- carrying out actions -------------------------------------------------------------

    def feed(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self._received(action.data)
            elif isinstance(action, Connect):
                assert not self.connected, "Connect while connected"
                self.connect_at = self.now + self.connect_s
            elif isinstance(action, Close):
                assert self.connected, "Close while not connected"
                self.connected = False
                self.closes.append(action.reason)
                self.replies.clear()
            elif isinstance(action, SetTimer):
                self.timer_at = action.at
            elif isinstance(action, Report):
                self.reports.append(action)
            elif isinstance(action, Booted):
                self.booted += 1
            elif isinstance(action, Stopped):
                self.stopped = True
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
        self.calls.append(Sent(self.now, unique_id, action, payload))
        if action in self.silent:
            return
        answer = self.answers.get(action)
        if callable(answer):
            answer = answer(payload)
        if answer is None:
            return
        if isinstance(answer, list):  # a whole frame, e.g. a CALLERROR
            text = orjson.dumps([answer[0], unique_id, *answer[1:]]).decode()
        else:
            if self.validate:
                validate(self.version, action, answer, response=True)
            text = orjson.dumps([3, unique_id, answer]).decode()
        self.replies.append((self.now + self.latency_s, text))

    # -- time -----------------------------------------------------------------------------

    def run(self, seconds: float) -> None:
        """Move time ``seconds`` ahead, delivering every event that falls due on the way."""
        end = self.now + seconds
        while True:
            due = [t for t in (self.timer_at, self.connect_at) if t is not None]
            due += [t for t, _ in self.replies]
            nxt = min(due, default=None)
            if nxt is None or nxt > end:
                break
            self.now = max(self.now, nxt)
            if self.replies and self.replies[0][0] <= self.now:
                _, text = self.replies.pop(0)
                self.feed(self.station.text(self.now, text))
            elif self.connect_at is not None and self.connect_at <= self.now:
                self.connect_at = None
                if self.refuse:
                    failure = self.refuse.pop(0)
                    self.feed(self.station.connect_failed(self.now, failure, 1.0))
                else:
                    self.connected = True
                    self.connects += 1
                    self.feed(self.station.connected(self.now, 1.0))
            else:
                self.timer_at = None
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

    def drop(self, failure: Failure | None = None) -> None:
        """The connection is lost (the server went away)."""
        self.connected = False
        self.replies.clear()
        self.feed(self.station.lost(self.now, failure or Failure("reset")))

    # -- reading ------------------------------------------------------------------------

    def actions(self) -> list[str]:
        return [c.action for c in self.calls]

    def named(self, action: str) -> list[Sent]:
        return [c for c in self.calls if c.action == action]

    def failures(self) -> list[Report]:
        return [r for r in self.reports if r.failure is not None]
