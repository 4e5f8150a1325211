"""A reference CSMS built on the ``ocpp`` package, for loadgen's integration tests.

Run as a script::

    python tests/integration/csms_ocpp.py --version 1.6|2.0.1|2.1 --port 0 --report PATH

It serves ``ws://127.0.0.1:PORT/<anything>/<charge point id>`` with the subprotocol of
its version, prints ``listening on PORT`` once ready, and answers every charge point
with an ``ocpp`` ChargePoint, so every frame a charge point sends and every answer it
gives to a server call is validated against the official JSON schemas by the ``ocpp``
package, not by loadgen's own code.

It answers BootNotification (Accepted, interval 1), Heartbeat, StatusNotification,
Authorize, StartTransaction / TransactionEvent, MeterValues, StopTransaction (and
NotifyReport, DataTransfer). After a charge point's first boot it runs a fixed
sequence of server calls (:data:`SEQUENCES`), recording each validated answer.

``--scenario NAME`` (repeatable) replaces that sequence by operator scripts from
``csms_scenarios.py``: a charge point runs the scenario its id names (the id is the
name, or ends with ``.NAME``; with one ``--scenario`` every charge point runs it), from
its first connection, across its reconnects. A scenario may drop the WebSocket, refuse
reconnects (HTTP 503), answer boots Rejected / Pending, send raw calls. Some tags get
other answers whatever the scenario (:data:`AUTHORIZE_STATUS`, :data:`START_STATUS`).
``--delay ACTION=MS`` answers that action late, so a charge point with more to send
must wait: any CALL that arrives while an earlier CALL of the same connection is still
unanswered is recorded as a violation of OCPP's one-CALL-in-flight rule.

The JSON report (written atomically every 0.5 s and on SIGTERM/SIGINT) holds, per
charge point id: connections, subprotocols, boots, every received action in order with
its payload, arrival time (``t`` on this process's clock, ``wall`` epoch seconds),
connection number, our reply and when it went out (``t_reply``), counts per action, the
server calls with their answers and status values, the TriggerMessage probe, raw probes,
scenario marks and status, refused reconnects, one-CALL-in-flight violations, and every
error the ``ocpp`` package raised in either direction. A bad message is recorded, never
a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import itertools
import json
import logging
import os
import signal
import sys
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import CallError, CallResult, MessageType, unpack
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response

try:  # run as a script (the usual way): this folder is on sys.path
    import csms_fleet_scenarios  # noqa: F401 - registers the fleet's scenarios
    import csms_scenarios as scenarios
    import csms_v21_scenarios  # noqa: F401 - registers OCPP 2.1's scenarios
except ImportError:  # imported as a module of the tests package
    from tests.integration import (
        csms_fleet_scenarios,  # noqa: F401
        csms_v21_scenarios,  # noqa: F401
    )
    from tests.integration import csms_scenarios as scenarios

SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}
BOOT_INTERVAL_S = 1
REPORT_EVERY_S = 0.5
CALL_TIMEOUT_S = 10.0
#: How long the sequence waits for the charge point to do what a call asked.
FOLLOW_UP_S = 10.0
#: How long a sequence may go on once its connection closed (to see its last answer).
SEQUENCE_GRACE_S = 0.5
#: After HeartbeatInterval is raised to this, any Heartbeat soon after is a triggered one.
QUIET_INTERVAL = "60"
#: How long a natural heartbeat on the old (short) interval may still take to arrive.
LAST_NATURAL_HEARTBEAT_S = 2.5
REMOTE_CONNECTOR = 2
REMOTE_TAG = "REMOTE-TAG-1"
REMOTE_START_ID = 4242
REPORT_REQUEST_ID = 4343
DATA_VENDOR = "org.example.csms"
#: Authorize answers by tag (idTag / idToken); any other tag is Accepted.
AUTHORIZE_STATUS = {"BLOCKED-TAG": "Blocked", "INVALID-TAG": "Invalid"}
#: StartTransaction idTagInfo / TransactionEvent idTokenInfo by tag; others Accepted.
START_STATUS = {"DEAUTH-TAG": "Invalid"}

T0 = time.monotonic()
log = logging.getLogger("csms")


def now_s() -> float:
    """Seconds since this CSMS started (monotonic), rounded to the millisecond."""
    return round(time.monotonic() - T0, 3)


def wall_s() -> float:
    """Epoch seconds, to compare with the timestamps a charge point writes."""
    return round(time.time(), 3)


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclasses.dataclass
class LoadgenUnknownAction:
    """A call no OCPP version defines: the charge point must answer NotImplemented."""


# -- the record -----------------------------------------------------------------------


class Record:
    """Everything one charge point id did, across its connections."""

    def __init__(self, charge_point_id: str) -> None:
        self.charge_point_id = charge_point_id
        self.connections = 0
        self.subprotocols: list[str | None] = []
        self.closes: list[dict[str, Any]] = []
        self.boots = 0
        self.actions: list[str] = []
        self.counts: Counter[str] = Counter()
        self.messages: list[dict[str, Any]] = []
        self.server_calls: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.sequence = "not started"
        self.trigger: dict[str, Any] = {}
        self.sequence_started = False
        self.changes = Changes()  # wakes scenario waits on any news of this charge point
        self.current: Recording | None = None  # the open connection, if any
        self.scenario: str | None = None
        self.scenario_status = "not started"
        self.scenario_task: asyncio.Task[None] | None = None
        #: (status, interval) answers for the next BootNotifications, then Accepted
        self.boot_plan: list[tuple[str, int]] = []
        self.boot_interval = BOOT_INTERVAL_S  # interval of an Accepted boot
        self.marks: dict[str, dict[str, Any]] = {}
        self.probes: list[dict[str, Any]] = []
        self.violations: list[dict[str, Any]] = []  # CALLs sent while one was unanswered
        self.refused: list[float] = []  # times of reconnects refused with HTTP 503
        self.opened: list[dict[str, Any]] = []  # each connection's number and open time

    def received(
        self, unique_id: str, action: str, payload: Any, arrival: tuple[float, float] | None = None
    ) -> dict[str, Any]:
        t, wall = arrival or (now_s(), wall_s())
        entry = {
            "t": t,
            "wall": wall,
            "conn": self.connections,
            "id": unique_id,
            "action": action,
            "payload": payload,
        }
        self.actions.append(action)
        self.counts[action] += 1
        self.messages.append(entry)
        return entry

    def error(self, direction: str, action: str | None, exc: BaseException, **extra: Any) -> None:
        entry: dict[str, Any] = {
            "t": now_s(),
            "direction": direction,
            "action": action,
            "type": type(exc).__name__,
            "detail": describe(exc),
            **extra,
        }
        self.errors.append(entry)
        log.warning("%s: %s error on %s: %s", self.charge_point_id, direction, action, entry)

    def to_json(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "subprotocols": self.subprotocols,
            "closes": self.closes,
            "boots": self.boots,
            "actions": self.actions,
            "counts": dict(self.counts),
            "messages": self.messages,
            "server_calls": self.server_calls,
            "errors": self.errors,
            "sequence": self.sequence,
            "trigger": self.trigger,
            "scenario": self.scenario,
            "scenario_status": self.scenario_status,
            "marks": self.marks,
            "probes": self.probes,
            "violations": self.violations,
            "refused": self.refused,
            "opened": self.opened,
        }


def describe(exc: BaseException) -> str:
    if isinstance(exc, OCPPError):
        return f"{exc.code}: {exc.description} {exc.details!r}"[:2000]
    return (str(exc) or repr(exc))[:2000]


class Changes:
    """Wakes waiters whenever a charge point's record changes."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def until(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """``predicate()``'s first truthy value within ``timeout`` seconds, else None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (value := predicate()):
            left = deadline - loop.time()
            if left <= 0:
                return None
            event = self._event
            try:
                # Not wait_for: Python 3.11's loses a cancel that comes with the event.
                async with asyncio.timeout(left):
                    await event.wait()
            except TimeoutError:
                pass
        return value


def guarded(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Record an exception a handler raises (ocpp then answers InternalError)."""

    @functools.wraps(handler)
    async def inner(self: Recording, **kwargs: Any) -> Any:
        try:
            return await handler(self, **kwargs)
        except Exception as exc:
            self.record.error("handler", handler.__name__, exc, trace=traceback.format_exc())
            raise

    return inner


# -- the charge point as the CSMS sees it ---------------------------------------------


class Recording:
    """Mixed into ocpp's ChargePoint: records every frame and error, never crashes."""

    version: str
    _call_result: Any

    def __init__(self, charge_point_id: str, connection: ServerConnection, csms: Csms) -> None:
        super().__init__(charge_point_id, connection, response_timeout=CALL_TIMEOUT_S)  # type: ignore[call-arg]
        self.csms = csms
        self.record = csms.record_for(charge_point_id)
        self.changes = self.record.changes
        self._replies: dict[str, dict[str, Any]] = {}  # unique id -> received entry
        self._answers: dict[str, Any] = {}  # unique id of our call -> raw answer frame
        self._outstanding: set[str] = set()  # unique ids of our calls awaiting an answer
        self.sequence_task: asyncio.Task[None] | None = None
        #: the charge point's CALLs on this connection not answered yet: id -> action
        self._unanswered: dict[str, str] = {}
        self._arrivals: dict[str, tuple[float, float]] = {}  # unique id -> (t, wall)
        self._probes: dict[str, dict[str, Any]] = {}  # raw calls of a scenario, by id
        self._calls: asyncio.Queue[str] = asyncio.Queue()  # CALLs, handled in order

    # ocpp.ChargePoint hooks ----------------------------------------------------------

    async def start(self) -> None:
        """Read frames as they arrive (stamped, checked) and handle CALLs in order.

        ocpp's own loop handles a CALL before it reads the next frame, so a late answer
        would hide a CALL sent too early; here the reader never waits for a handler.
        """
        worker = asyncio.create_task(self._handle_calls())
        try:
            while True:
                raw = await self._connection.recv()  # type: ignore[attr-defined]
                if self._arrived(raw):
                    self._calls.put_nowait(raw)
                else:
                    await self.route_message(raw)
        finally:
            worker.cancel()
            try:
                await worker
            except BaseException:
                pass

    def _arrived(self, raw: Any) -> bool:
        """Stamp a frame; True for a CALL (then also check one-CALL-in-flight)."""
        arrival = (now_s(), wall_s())
        try:
            frame = json.loads(raw)
            kind, unique_id = frame[0], frame[1]
        except (ValueError, IndexError, TypeError, KeyError):
            return False
        if kind == MessageType.Call and isinstance(unique_id, str):
            if self._unanswered:
                self.record.violations.append(
                    {
                        "t": arrival[0],
                        "conn": self.record.connections,
                        "id": unique_id,
                        "action": frame[2] if len(frame) > 2 else None,
                        "unanswered": dict(self._unanswered),
                    }
                )
            self._unanswered[unique_id] = str(frame[2]) if len(frame) > 2 else "?"
            self._arrivals[unique_id] = arrival
            return True
        probe = self._probes.pop(unique_id, None) if isinstance(unique_id, str) else None
        if probe is not None:
            probe["answer"] = frame
            probe["t_answered"] = arrival[0]
            self.changes.notify()
        return False

    async def _handle_calls(self) -> None:
        while True:
            raw = await self._calls.get()
            try:
                await self.route_message(raw)
            except ConnectionClosed:
                return

    async def route_message(self, raw_msg: str) -> None:
        try:
            msg = unpack(raw_msg)
        except OCPPError as exc:
            self.record.error("from_cp", None, exc, raw=raw_msg[:2000])
            return
        except Exception as exc:  # not even JSON of the right shape
            self.record.error("from_cp", None, exc, raw=raw_msg[:2000])
            return
        if msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
            if any(p["id"] == msg.unique_id for p in self.record.probes):
                return  # a probe's answer, recorded on arrival
            if msg.unique_id not in self._outstanding:
                # ocpp would drop it silently (or hand it to the next call): record it.
                self.record.error(
                    "from_cp",
                    None,
                    LookupError("answer to no outstanding call"),
                    raw=raw_msg[:2000],
                )
                return
            self._answers[msg.unique_id] = msg
        try:
            await super().route_message(raw_msg)  # type: ignore[misc]
        except ConnectionClosed:
            raise
        except Exception as exc:
            self.record.error("from_cp", getattr(msg, "action", None), exc, raw=raw_msg[:2000])

    async def _handle_call(self, msg: Any) -> Any:
        arrival = self._arrivals.pop(msg.unique_id, None)
        entry = self.record.received(msg.unique_id, msg.action, msg.payload, arrival)
        self._replies[msg.unique_id] = entry
        self.changes.notify()
        delay_s = self.csms.delays.get(msg.action)
        if delay_s:
            entry["delayed_s"] = delay_s
            await asyncio.sleep(delay_s)
        try:
            return await super()._handle_call(msg)  # type: ignore[misc]
        except OCPPError as exc:
            # A request that failed schema validation (or our answer did): ocpp answers
            # the CallError once we re-raise.
            self.record.error("from_cp", msg.action, exc, payload=msg.payload)
            raise
        finally:
            self._replies.pop(msg.unique_id, None)
            self.changes.notify()

    async def _send(self, message: str) -> None:
        entry = None
        try:
            frame = json.loads(message)
            entry = self._replies.get(frame[1])
            if entry is not None and frame[0] == MessageType.CallResult:
                entry["reply"] = frame[2]
            elif entry is not None and frame[0] == MessageType.CallError:
                entry["reply"] = {"callError": frame[2], "description": frame[3]}
            if frame[0] in (MessageType.CallResult, MessageType.CallError):
                self._unanswered.pop(frame[1], None)
        except (ValueError, IndexError, TypeError):
            pass
        await super()._send(message)  # type: ignore[misc]
        if entry is not None:
            entry["t_reply"] = now_s()
            self.changes.notify()

    # helpers for handlers --------------------------------------------------------------

    def boot_answer(self) -> tuple[str, int]:
        """The status and interval of this BootNotification's answer (scenario's plan)."""
        record = self.record
        record.boots += 1
        if record.boot_plan:
            return record.boot_plan.pop(0)
        if record.scenario is None:
            self.booted()
        return "Accepted", record.boot_interval

    def booted(self) -> None:
        if self.csms.scenarios:
            return  # scenarios replace the fixed sequence
        if not self.record.sequence_started:
            self.record.sequence_started = True
            self.sequence_task = asyncio.create_task(self._run_sequence())

    async def _run_sequence(self) -> None:
        record = self.record
        record.sequence = "waiting for StatusNotification"
        seen = record.counts["StatusNotification"]
        # The charge point reports its connectors only after reading our boot answer.
        if not await self.changes.until(
            lambda: record.counts["StatusNotification"] > seen, FOLLOW_UP_S
        ):
            record.sequence = "failed: no StatusNotification after boot"
            return
        record.sequence = "running"
        try:
            await SEQUENCES[self.version](self)
        except asyncio.CancelledError:
            record.sequence = "interrupted"
            raise
        except ConnectionClosed:
            record.sequence = "interrupted: connection closed"
        except Exception as exc:
            record.sequence = f"failed: {type(exc).__name__}"
            record.error("sequence", None, exc, trace=traceback.format_exc())
        else:
            record.sequence = "done"
        finally:
            self.changes.notify()

    async def server_call(
        self,
        label: str,
        payload: Any,
        *,
        skip_validation: bool = False,
        timeout_s: float = CALL_TIMEOUT_S,
    ) -> dict[str, Any] | None:
        """Send one server call; record (and return) the charge point's answer payload."""
        action = type(payload).__name__
        unique_id = str(uuid.uuid4())
        entry: dict[str, Any] = {
            "label": label,
            "action": action,
            "request": snake_to_camel_case(remove_nones(serialize_as_dict(payload))),
            "conn": self.record.connections,
            "t_sent": now_s(),
            "wall_sent": wall_s(),
            "status": None,
        }
        self.record.server_calls.append(entry)
        self._outstanding.add(unique_id)
        self._response_timeout = timeout_s
        try:
            await self.call(  # type: ignore[attr-defined]
                payload,
                suppress=False,
                unique_id=unique_id,
                skip_schema_validation=skip_validation,
            )
        except ConnectionClosed:
            entry["status"] = "connection closed"
            raise
        except asyncio.CancelledError:
            entry["status"] = "cancelled"
            raise
        except TimeoutError as exc:
            entry["status"] = "timeout"
            self.record.error("to_cp", action, exc, label=label)
        except OCPPError as exc:
            answer = self._answers.get(unique_id)
            if isinstance(answer, CallError):
                entry["status"] = f"CallError:{answer.error_code}"
                entry["response"] = {
                    "errorCode": answer.error_code,
                    "errorDescription": answer.error_description,
                }
            else:  # the answer failed schema validation
                entry["status"] = "invalid"
                self.record.error("to_cp", action, exc, label=label)
        except Exception as exc:
            answer = self._answers.get(unique_id)
            if action == LoadgenUnknownAction.__name__ and isinstance(answer, CallResult):
                entry["status"] = "CallResult"  # answered an unknown action as if known
            else:
                entry["status"] = "exception"
                self.record.error("to_cp", action, exc, label=label)
        finally:
            self._outstanding.discard(unique_id)
        answer = self._answers.pop(unique_id, None)
        entry["t_answered"] = now_s()
        entry["wall_answered"] = wall_s()
        self.changes.notify()
        if isinstance(answer, CallResult):
            entry["response"] = answer.payload
            if entry["status"] is None:
                entry["status"] = status_of(answer.payload)
            return answer.payload
        return None

    def count(self, action: str) -> int:
        return self.record.counts[action]

    def find(self, predicate: Callable[[dict[str, Any]], bool], start: int = 0) -> Any:
        """Index + 1 of the first received message from ``start`` matching, else 0."""
        for i in range(start, len(self.record.messages)):
            if predicate(self.record.messages[i]):
                return i + 1
        return 0

    async def trigger_probe(self, quiet: Callable[[], Awaitable[Any]], trigger: Any) -> None:
        """Quiet the heartbeat, then TriggerMessage Heartbeat must bring one at once."""
        # A charge point busy with sessions may skip Heartbeats (1.6 4.6): see one first.
        await self.changes.until(lambda: self.count("Heartbeat") > 0, FOLLOW_UP_S)
        await quiet()
        seen = self.count("Heartbeat")
        # A heartbeat already scheduled on the short interval may still come: let it.
        await self.changes.until(lambda: self.count("Heartbeat") > seen, LAST_NATURAL_HEARTBEAT_S)
        before = self.count("Heartbeat")
        probe = self.record.trigger
        probe["heartbeats_before"] = before
        answer = await self.server_call("TriggerMessage", trigger)
        probe["answered_at"] = now_s()
        probe["status"] = status_of(answer) if answer else None
        if await self.changes.until(lambda: self.count("Heartbeat") > before, FOLLOW_UP_S):
            probe["heartbeat_after_s"] = round(now_s() - probe["answered_at"], 3)
        else:
            probe["heartbeat_after_s"] = None


def status_of(payload: dict[str, Any]) -> Any:
    """The status value(s) of an answer: ``status``, or the per-variable statuses."""
    if "status" in payload:
        return payload["status"]
    for key in ("getVariableResult", "setVariableResult"):
        if key in payload:
            return [item.get("attributeStatus") for item in payload[key]]
    return None


class CentralSystem16(Recording, ChargePoint16):
    version = "1.6"

    @on("BootNotification")
    @guarded
    async def on_boot_notification(self, **_: Any) -> Any:
        status, interval = self.boot_answer()
        return result16.BootNotification(current_time=iso_now(), interval=interval, status=status)

    @on("Heartbeat")
    @guarded
    async def on_heartbeat(self, **_: Any) -> Any:
        return result16.Heartbeat(current_time=iso_now())

    @on("StatusNotification")
    @guarded
    async def on_status_notification(self, **_: Any) -> Any:
        return result16.StatusNotification()

    @on("Authorize")
    @guarded
    async def on_authorize(self, id_tag: str, **_: Any) -> Any:
        return result16.Authorize(id_tag_info={"status": AUTHORIZE_STATUS.get(id_tag, "Accepted")})

    @on("StartTransaction")
    @guarded
    async def on_start_transaction(self, id_tag: str, **_: Any) -> Any:
        return result16.StartTransaction(
            transaction_id=next(self.csms.transaction_ids),
            id_tag_info={"status": START_STATUS.get(id_tag, "Accepted")},
        )

    @on("MeterValues")
    @guarded
    async def on_meter_values(self, **_: Any) -> Any:
        return result16.MeterValues()

    @on("StopTransaction")
    @guarded
    async def on_stop_transaction(self, **_: Any) -> Any:
        return result16.StopTransaction(id_tag_info={"status": "Accepted"})

    @on("DataTransfer")
    @guarded
    async def on_data_transfer(self, **_: Any) -> Any:
        return result16.DataTransfer(status="UnknownVendorId")

    @on("FirmwareStatusNotification")
    @guarded
    async def on_firmware_status_notification(self, **_: Any) -> Any:
        return result16.FirmwareStatusNotification()

    # Firmware Management and the security extension (a fleet's chargers send these)

    @on("DiagnosticsStatusNotification")
    @guarded
    async def on_diagnostics_status_notification(self, **_: Any) -> Any:
        return result16.DiagnosticsStatusNotification()

    @on("SignedFirmwareStatusNotification")
    @guarded
    async def on_signed_firmware_status_notification(self, **_: Any) -> Any:
        return result16.SignedFirmwareStatusNotification()

    @on("LogStatusNotification")
    @guarded
    async def on_log_status_notification(self, **_: Any) -> Any:
        return result16.LogStatusNotification()

    @on("SecurityEventNotification")
    @guarded
    async def on_security_event_notification(self, **_: Any) -> Any:
        return result16.SecurityEventNotification()


class CentralSystem201(Recording, ChargePoint201):
    version = "2.0.1"

    @on("BootNotification")
    @guarded
    async def on_boot_notification(self, **_: Any) -> Any:
        status, interval = self.boot_answer()
        return result201.BootNotification(current_time=iso_now(), interval=interval, status=status)

    @on("Heartbeat")
    @guarded
    async def on_heartbeat(self, **_: Any) -> Any:
        return result201.Heartbeat(current_time=iso_now())

    @on("StatusNotification")
    @guarded
    async def on_status_notification(self, **_: Any) -> Any:
        return result201.StatusNotification()

    @on("Authorize")
    @guarded
    async def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        status = AUTHORIZE_STATUS.get(id_token.get("id_token", ""), "Accepted")
        return result201.Authorize(id_token_info={"status": status})

    @on("TransactionEvent")
    @guarded
    async def on_transaction_event(self, id_token: Any = None, **_: Any) -> Any:
        if id_token is None:
            return result201.TransactionEvent()
        status = START_STATUS.get(id_token.get("id_token", ""), "Accepted")
        return result201.TransactionEvent(id_token_info={"status": status})

    @on("MeterValues")
    @guarded
    async def on_meter_values(self, **_: Any) -> Any:
        return result201.MeterValues()

    @on("NotifyReport")
    @guarded
    async def on_notify_report(self, **_: Any) -> Any:
        return result201.NotifyReport()

    @on("DataTransfer")
    @guarded
    async def on_data_transfer(self, **_: Any) -> Any:
        return result201.DataTransfer(status="UnknownVendorId")

    @on("FirmwareStatusNotification")
    @guarded
    async def on_firmware_status_notification(self, **_: Any) -> Any:
        return result201.FirmwareStatusNotification()

    # what a fleet's stations send besides (firmware, logs, reservations, limits, events)

    @on("LogStatusNotification")
    @guarded
    async def on_log_status_notification(self, **_: Any) -> Any:
        return result201.LogStatusNotification()

    @on("SecurityEventNotification")
    @guarded
    async def on_security_event_notification(self, **_: Any) -> Any:
        return result201.SecurityEventNotification()

    @on("ReservationStatusUpdate")
    @guarded
    async def on_reservation_status_update(self, **_: Any) -> Any:
        return result201.ReservationStatusUpdate()

    @on("NotifyChargingLimit")
    @guarded
    async def on_notify_charging_limit(self, **_: Any) -> Any:
        return result201.NotifyChargingLimit()

    @on("ReportChargingProfiles")
    @guarded
    async def on_report_charging_profiles(self, **_: Any) -> Any:
        return result201.ReportChargingProfiles()

    @on("NotifyEvent")
    @guarded
    async def on_notify_event(self, **_: Any) -> Any:
        return result201.NotifyEvent()


# -- the server calls after boot ------------------------------------------------------


class CentralSystem21(CentralSystem201):
    """2.0.1's answers (valid under 2.1's schemas too) on the ``ocpp`` package's v21
    ChargePoint, so every frame is validated against the 2.1 schemas; and 2.1's own."""

    version = "2.1"
    _call = ChargePoint21._call
    _call_result = ChargePoint21._call_result
    _ocpp_version = ChargePoint21._ocpp_version

    @on("NotifyEVChargingNeeds")
    @guarded
    async def on_notify_ev_charging_needs(self, **_: Any) -> Any:
        return result21.NotifyEVChargingNeeds(status="Accepted")


async def sequence_16(cp: Recording) -> None:
    await cp.server_call(
        "GetConfiguration",
        call16.GetConfiguration(key=["HeartbeatInterval", "LoadgenNoSuchKey"]),
    )
    await cp.server_call("ClearCache", call16.ClearCache())
    await cp.server_call(
        "ChangeAvailability", call16.ChangeAvailability(connector_id=0, type="Operative")
    )
    await cp.server_call("UnlockConnector", call16.UnlockConnector(connector_id=REMOTE_CONNECTOR))
    await cp.server_call(
        "DataTransfer",
        call16.DataTransfer(vendor_id=DATA_VENDOR, message_id="Ping", data="hello"),
    )
    mark = len(cp.record.messages)
    await cp.server_call(
        "RemoteStartTransaction",
        call16.RemoteStartTransaction(id_tag=REMOTE_TAG, connector_id=REMOTE_CONNECTOR),
    )
    started = await cp.changes.until(
        lambda: cp.find(
            lambda m: (
                m["action"] == "StartTransaction"
                and m["payload"].get("connectorId") == REMOTE_CONNECTOR
                and "reply" in m
            ),
            mark,
        ),
        FOLLOW_UP_S,
    )
    if not started:
        raise RuntimeError("no StartTransaction after RemoteStartTransaction")
    transaction_id = cp.record.messages[started - 1]["reply"].get("transactionId")
    # The charge point records the transaction before it reports the connector Charging.
    await cp.changes.until(
        lambda: cp.find(
            lambda m: (
                m["action"] == "StatusNotification"
                and m["payload"].get("connectorId") == REMOTE_CONNECTOR
                and m["payload"].get("status") == "Charging"
            ),
            started,
        ),
        FOLLOW_UP_S,
    )
    await cp.server_call(
        "RemoteStopTransaction", call16.RemoteStopTransaction(transaction_id=transaction_id)
    )
    await cp.changes.until(
        lambda: cp.find(
            lambda m: (
                m["action"] == "StopTransaction"
                and m["payload"].get("transactionId") == transaction_id
            ),
            started,
        ),
        FOLLOW_UP_S,
    )

    async def quiet() -> None:
        await cp.server_call(
            "ChangeConfiguration",
            call16.ChangeConfiguration(key="HeartbeatInterval", value=QUIET_INTERVAL),
        )
        await cp.server_call(
            "GetConfiguration.after", call16.GetConfiguration(key=["HeartbeatInterval"])
        )

    await cp.trigger_probe(quiet, call16.TriggerMessage(requested_message="Heartbeat"))
    await cp.server_call(
        "ChangeConfiguration.restore",
        call16.ChangeConfiguration(key="HeartbeatInterval", value=str(BOOT_INTERVAL_S)),
    )
    await cp.server_call("Unknown", LoadgenUnknownAction(), skip_validation=True)
    await cp.server_call("Reset", call16.Reset(type="Soft"))  # last: the charge point reboots


def _variable(component: str, variable: str, **extra: Any) -> dict[str, Any]:
    return {"component": {"name": component}, "variable": {"name": variable}, **extra}


async def sequence_201(cp: Recording) -> None:
    await cp.server_call(
        "GetVariables",
        call201.GetVariables(
            get_variable_data=[
                _variable("OCPPCommCtrlr", "HeartbeatInterval"),
                _variable("LoadgenNoSuchCtrlr", "Nothing"),
            ]
        ),
    )
    await cp.server_call("ClearCache", call201.ClearCache())
    await cp.server_call(
        "ChangeAvailability", call201.ChangeAvailability(operational_status="Operative")
    )
    await cp.server_call(
        "UnlockConnector", call201.UnlockConnector(evse_id=REMOTE_CONNECTOR, connector_id=1)
    )
    mark = len(cp.record.messages)
    await cp.server_call(
        "RequestStartTransaction",
        call201.RequestStartTransaction(
            id_token={"id_token": REMOTE_TAG, "type": "ISO14443"},
            remote_start_id=REMOTE_START_ID,
            evse_id=REMOTE_CONNECTOR,
        ),
    )

    def is_started(m: dict[str, Any]) -> bool:
        p = m["payload"]
        return (
            m["action"] == "TransactionEvent"
            and p.get("eventType") == "Started"
            and (p.get("evse") or {}).get("id") == REMOTE_CONNECTOR
        )

    started = await cp.changes.until(lambda: cp.find(is_started, mark), FOLLOW_UP_S)
    if not started:
        raise RuntimeError("no TransactionEvent Started after RequestStartTransaction")
    transaction_id = cp.record.messages[started - 1]["payload"]["transactionInfo"]["transactionId"]
    # Occupied may come before or after Started (no order is required): look from the request.
    await cp.changes.until(
        lambda: cp.find(
            lambda m: (
                m["action"] == "StatusNotification"
                and m["payload"].get("evseId") == REMOTE_CONNECTOR
                and m["payload"].get("connectorStatus") == "Occupied"
            ),
            mark,
        ),
        FOLLOW_UP_S,
    )
    await cp.server_call(
        "GetTransactionStatus", call201.GetTransactionStatus(transaction_id=transaction_id)
    )
    await cp.server_call(
        "RequestStopTransaction", call201.RequestStopTransaction(transaction_id=transaction_id)
    )
    await cp.changes.until(
        lambda: cp.find(
            lambda m: (
                m["action"] == "TransactionEvent"
                and m["payload"].get("eventType") == "Ended"
                and m["payload"]["transactionInfo"].get("transactionId") == transaction_id
            ),
            started,
        ),
        FOLLOW_UP_S,
    )
    reports = cp.count("NotifyReport")
    await cp.server_call(
        "GetBaseReport",
        call201.GetBaseReport(request_id=REPORT_REQUEST_ID, report_base="ConfigurationInventory"),
    )
    await cp.changes.until(lambda: cp.count("NotifyReport") > reports, FOLLOW_UP_S)

    async def quiet() -> None:
        await cp.server_call(
            "SetVariables",
            call201.SetVariables(
                set_variable_data=[
                    _variable("OCPPCommCtrlr", "HeartbeatInterval", attribute_value=QUIET_INTERVAL)
                ]
            ),
        )
        await cp.server_call(
            "GetVariables.after",
            call201.GetVariables(
                get_variable_data=[_variable("OCPPCommCtrlr", "HeartbeatInterval")]
            ),
        )

    await cp.trigger_probe(quiet, call201.TriggerMessage(requested_message="Heartbeat"))
    await cp.server_call(
        "SetVariables.restore",
        call201.SetVariables(
            set_variable_data=[
                _variable(
                    "OCPPCommCtrlr", "HeartbeatInterval", attribute_value=str(BOOT_INTERVAL_S)
                )
            ]
        ),
    )
    await cp.server_call("Unknown", LoadgenUnknownAction(), skip_validation=True)
    await cp.server_call("Reset", call201.Reset(type="Immediate"))  # last: it reboots


SEQUENCES: dict[str, Callable[[Recording], Awaitable[None]]] = {
    "1.6": sequence_16,
    "2.0.1": sequence_201,
    "2.1": sequence_201,  # 2.0.1's calls, validated against 2.1's schemas
}


# -- scenarios: an operator's commands against one charge point ----------------------


class Operator:
    """What a scenario (csms_scenarios.py) may do with one charge point, on whichever
    connection it has now; every wait is bounded and fails the scenario by name."""

    def __init__(self, csms: Csms, record: Record) -> None:
        self.csms = csms
        self.record = record
        self.version = csms.version
        self.connectors = csms.connectors

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.record.messages

    async def until(
        self, predicate: Callable[[], Any], what: str, timeout_s: float = FOLLOW_UP_S
    ) -> Any:
        """``predicate()``'s first truthy value; :class:`ScenarioFailed` after ``timeout_s``."""
        value = await self.record.changes.until(predicate, timeout_s)
        if not value:
            raise scenarios.ScenarioFailed(f"no {what} within {timeout_s:g} s")
        return value

    def _connection(self) -> Recording:
        current = self.record.current
        if current is None:
            raise scenarios.ScenarioFailed("not connected")
        return current

    async def call(
        self, label: str, payload: Any, *, timeout_s: float = CALL_TIMEOUT_S
    ) -> dict[str, Any] | None:
        """A server call validated by ``ocpp``; the answer payload (None: none or CALLERROR)."""
        return await self._connection().server_call(label, payload, timeout_s=timeout_s)

    def answered(self, label: str) -> Any:
        """The status of the last server call labelled ``label``."""
        for call in reversed(self.record.server_calls):
            if call["label"] == label:
                return call["status"]
        return None

    async def probe(self, label: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a raw CALL (no ``ocpp`` call lock or validation); its answer is recorded
        in the returned entry whenever, if ever, it comes."""
        connection = self._connection()
        unique_id = str(uuid.uuid4())
        entry: dict[str, Any] = {
            "label": label,
            "id": unique_id,
            "action": action,
            "request": payload,
            "conn": self.record.connections,
            "t_sent": now_s(),
            "answer": None,
            "t_answered": None,
        }
        self.record.probes.append(entry)
        connection._probes[unique_id] = entry
        await connection._send(json.dumps([MessageType.Call, unique_id, action, payload]))
        return entry

    def mark(self, name: str) -> int:
        """Note the time and the number of messages so far under ``name``; return that number."""
        index = len(self.record.messages)
        self.record.marks[name] = {
            "t": now_s(),
            "wall": wall_s(),
            "index": index,
            "conn": self.record.connections,
        }
        return index

    def drop(self) -> None:
        """Lose the connection the hard way: abort the TCP transport, no close frame."""
        self._connection()._connection.transport.abort()  # type: ignore[attr-defined]

    def refuse(self, seconds: float, status: int = 503) -> None:
        """Answer this charge point's upgrade requests with HTTP ``status`` (503, or 401:
        bad credentials) for ``seconds``."""
        charge_point_id = self.record.charge_point_id
        self.csms.refuse_until[charge_point_id] = time.monotonic() + seconds
        self.csms.refuse_status[charge_point_id] = status

    @property
    def upload_url(self) -> str:
        """Where this CSMS takes uploads (GetDiagnostics / GetLog locations)."""
        return self.csms.uploads.url

    def uploads(self) -> list[dict[str, Any]]:
        """The uploads this charge point made (HTTP PUT / POST to the upload URL)."""
        name = self.record.charge_point_id
        return [u for u in self.csms.uploads.received if name in u["path"]]


async def run_scenario(operator: Operator, scenario: scenarios.Scenario) -> None:
    record = operator.record
    record.scenario_status = "running"
    try:
        await scenario.run(operator)
    except asyncio.CancelledError:
        record.scenario_status = "interrupted"
        raise
    except scenarios.ScenarioFailed as exc:
        record.scenario_status = f"failed: {exc}"
    except ConnectionClosed as exc:
        record.scenario_status = f"failed: connection closed ({exc})"
    except Exception as exc:
        record.scenario_status = f"failed: {type(exc).__name__}: {exc}"
        record.error("scenario", None, exc, trace=traceback.format_exc())
    else:
        record.scenario_status = "done"
    finally:
        record.changes.notify()


# -- the server -----------------------------------------------------------------------


class Uploads:
    """An HTTP server on loopback that takes the charge points' log uploads (PUT / POST)
    and records each one: path, method, size, time. Anything else gets 405."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/logs/"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, path, _ = (head[0].split(" ") + ["", ""])[:3]
                length = 0
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if method in ("PUT", "POST"):
                    body = await reader.readexactly(length)
                    self.received.append(
                        {"t": now_s(), "method": method, "path": path, "bytes": len(body)}
                    )
                    writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                else:
                    writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


class Csms:
    def __init__(
        self,
        version: str,
        report_path: Path,
        *,
        scenario_names: tuple[str, ...] = (),
        delays_ms: dict[str, float] | None = None,
        connectors: int = 2,
    ) -> None:
        self.version = version
        self.subprotocol = SUBPROTOCOLS[version]
        self.report_path = report_path
        self.records: dict[str, Record] = {}
        self.errors: list[dict[str, Any]] = []
        self.transaction_ids = itertools.count(1001)
        self.port = 0
        self.scenarios = {name: scenarios.SCENARIOS[name] for name in scenario_names}
        self.delays = {action: ms / 1000 for action, ms in (delays_ms or {}).items()}
        self.connectors = connectors  # every charge point's, for the scenarios
        self.refuse_until: dict[str, float] = {}  # charge point id -> monotonic deadline
        self.refuse_status: dict[str, int] = {}  # charge point id -> HTTP status refused with
        self.uploads = Uploads()

    def record_for(self, charge_point_id: str) -> Record:
        record = self.records.get(charge_point_id)
        if record is None:
            record = self.records[charge_point_id] = Record(charge_point_id)
            name = self.scenario_for(charge_point_id)
            if name is not None:
                record.scenario = name
                record.boot_plan = list(self.scenarios[name].boot_plan)
        return record

    def scenario_for(self, charge_point_id: str) -> str | None:
        """The scenario a charge point runs: the one its id names, or the only one."""
        for name in self.scenarios:
            if charge_point_id == name or charge_point_id.endswith("." + name):
                return name
        return next(iter(self.scenarios)) if len(self.scenarios) == 1 else None

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """HTTP 503 for a charge point whose scenario refuses its reconnects now."""
        charge_point_id = request.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        until = self.refuse_until.get(charge_point_id)
        if until is None or time.monotonic() >= until:
            return None
        record = self.record_for(charge_point_id)
        record.refused.append(now_s())
        record.changes.notify()
        status = HTTPStatus(self.refuse_status.get(charge_point_id, 503))
        return connection.respond(status, "refused by the scenario\n")

    def select_subprotocol(self, connection: ServerConnection, offered: Any) -> Any:
        """Our version's subprotocol; anything else is recorded, then refused (HTTP 400)."""
        if self.subprotocol in offered:
            return self.subprotocol
        path = connection.request.path if connection.request else ""
        self.errors.append(
            {"t": now_s(), "error": f"{path}: subprotocols {list(offered)} offered, none accepted"}
        )
        raise NegotiationError(f"expected subprotocol {self.subprotocol}")

    async def handle(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else ""
        charge_point_id = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if not charge_point_id:
            self.errors.append({"t": now_s(), "error": f"no charge point id in {path!r}"})
            await connection.close(1008, "no charge point id")
            return
        record = self.record_for(charge_point_id)
        record.connections += 1
        # the upgrade's Basic credentials, as the charge point sent them (None: none)
        auth = connection.request.headers.get("Authorization") if connection.request else None
        record.opened.append(
            {"conn": record.connections, "t": now_s(), "wall": wall_s(), "auth": auth}
        )
        record.subprotocols.append(connection.subprotocol)
        if connection.subprotocol != self.subprotocol:
            record.errors.append(
                {
                    "t": now_s(),
                    "direction": "from_cp",
                    "action": None,
                    "type": "Subprotocol",
                    "detail": f"negotiated {connection.subprotocol!r}",
                }
            )
            await connection.close(1002, "wrong subprotocol")
            return
        cls = {"1.6": CentralSystem16, "2.0.1": CentralSystem201, "2.1": CentralSystem21}[
            self.version
        ]
        charge_point = cls(charge_point_id, connection, self)
        record.current = charge_point
        if self.scenarios and record.scenario is None:
            record.error("scenario", None, LookupError("no scenario names this charge point"))
        elif record.scenario is not None and record.scenario_task is None:
            operator = Operator(self, record)
            scenario = self.scenarios[record.scenario]
            record.scenario_task = asyncio.create_task(run_scenario(operator, scenario))
        record.changes.notify()
        try:
            await charge_point.start()
        except ConnectionClosed as exc:
            received = exc.rcvd
            record.closes.append(
                {
                    "t": now_s(),
                    "conn": record.connections,
                    "code": received.code if received else None,
                    "reason": received.reason if received else None,
                }
            )
        except Exception as exc:
            record.error("connection", None, exc, trace=traceback.format_exc())
        finally:
            if record.current is charge_point:
                record.current = None
            record.changes.notify()
            task = charge_point.sequence_task
            if task is not None and not task.done():
                # A Reset's answer and the close it causes come together: let a sequence
                # that has its last answer finish before it is cut off.
                await asyncio.wait({task}, timeout=SEQUENCE_GRACE_S)
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except BaseException:
                    pass

    def report(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "subprotocol": self.subprotocol,
            "port": self.port,
            "written_at": now_s(),
            "errors": self.errors,
            "uploads": self.uploads.received,
            "chargers": {cid: rec.to_json() for cid, rec in sorted(self.records.items())},
        }

    def write_report(self) -> None:
        path = self.report_path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.report(), indent=1, default=str), encoding="utf-8")
            os.replace(tmp, path)
        except Exception:
            log.exception("cannot write the report to %s", path)

    async def write_regularly(self) -> None:
        while True:
            self.write_report()
            await asyncio.sleep(REPORT_EVERY_S)


async def main_async(args: argparse.Namespace) -> int:
    delays: dict[str, float] = {}
    for item in args.delay:
        action, _, ms = item.partition("=")
        delays[action] = float(ms)
    csms = Csms(
        args.version,
        Path(args.report),
        scenario_names=tuple(args.scenario),
        delays_ms=delays,
        connectors=args.connectors,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        csms.handle,
        "127.0.0.1",
        args.port,
        subprotocols=[csms.subprotocol],  # type: ignore[list-item]
        select_subprotocol=csms.select_subprotocol,
        process_request=csms.process_request,
        ping_interval=None,
    ) as server:
        csms.port = next(iter(server.sockets)).getsockname()[1]
        await csms.uploads.start()
        writer = asyncio.create_task(csms.write_regularly())
        print(f"listening on {csms.port}", flush=True)
        await stop.wait()
        writer.cancel()
        server.close()
    csms.write_report()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--version", required=True, choices=sorted(SUBPROTOCOLS))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--report", required=True, help="where to write the JSON report")
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=sorted(scenarios.SCENARIOS),
        help="run this operator script (repeatable; see csms_scenarios.py)",
    )
    parser.add_argument(
        "--delay",
        action="append",
        default=[],
        metavar="ACTION=MS",
        help="answer this charge point action MS milliseconds late (repeatable)",
    )
    parser.add_argument(
        "--connectors", type=int, default=2, help="connectors (EVSEs) per charge point"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
