"""A reference CSMS built on the ``ocpp`` package, for loadgen's integration tests.

Run as a script::

    python tests/integration/csms_ocpp.py --version 1.6|2.0.1 --port 0 --report PATH

It serves ``ws://127.0.0.1:PORT/<anything>/<charge point id>`` with the subprotocol of
its version, prints ``listening on PORT`` once ready, and answers every charge point
with an ``ocpp`` ChargePoint, so every frame a charge point sends and every answer it
gives to a server call is validated against the official JSON schemas by the ``ocpp``
package, not by loadgen's own code.

It answers BootNotification (Accepted, interval 1), Heartbeat, StatusNotification,
Authorize, StartTransaction / TransactionEvent, MeterValues, StopTransaction (and
NotifyReport, DataTransfer). After a charge point's first boot it runs a fixed
sequence of server calls (:data:`SEQUENCES`), recording each validated answer.

The JSON report (written atomically every 0.5 s and on SIGTERM/SIGINT) holds, per
charge point id: connections, subprotocols, boots, every received action in order
with its payload and our reply, counts per action, the server calls with their answers
and status values, the TriggerMessage probe, and every error the ``ocpp`` package
raised in either direction. A bad message is recorded, never a crash.
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
from pathlib import Path
from typing import Any

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import CallError, CallResult, MessageType, unpack
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError

SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
BOOT_INTERVAL_S = 1
REPORT_EVERY_S = 0.5
CALL_TIMEOUT_S = 10.0
#: How long the sequence waits for the charge point to do what a call asked.
FOLLOW_UP_S = 10.0
#: After HeartbeatInterval is raised to this, any Heartbeat soon after is a triggered one.
QUIET_INTERVAL = "60"
#: How long a natural heartbeat on the old (short) interval may still take to arrive.
LAST_NATURAL_HEARTBEAT_S = 2.5
REMOTE_CONNECTOR = 2
REMOTE_TAG = "REMOTE-TAG-1"
REMOTE_START_ID = 4242
REPORT_REQUEST_ID = 4343
DATA_VENDOR = "org.example.csms"

T0 = time.monotonic()
log = logging.getLogger("csms")


def now_s() -> float:
    """Seconds since this CSMS started (monotonic), rounded to the millisecond."""
    return round(time.monotonic() - T0, 3)


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

    def received(self, unique_id: str, action: str, payload: Any) -> dict[str, Any]:
        entry = {"t": now_s(), "id": unique_id, "action": action, "payload": payload}
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
                await asyncio.wait_for(event.wait(), left)
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
        self.changes = Changes()
        self._replies: dict[str, dict[str, Any]] = {}  # unique id -> received entry
        self._answers: dict[str, Any] = {}  # unique id of our call -> raw answer frame
        self._outstanding: set[str] = set()  # unique ids of our calls awaiting an answer
        self.sequence_task: asyncio.Task[None] | None = None

    # ocpp.ChargePoint hooks ----------------------------------------------------------

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
        entry = self.record.received(msg.unique_id, msg.action, msg.payload)
        self._replies[msg.unique_id] = entry
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
        try:
            frame = json.loads(message)
            entry = self._replies.get(frame[1])
            if entry is not None and frame[0] == MessageType.CallResult:
                entry["reply"] = frame[2]
            elif entry is not None and frame[0] == MessageType.CallError:
                entry["reply"] = {"callError": frame[2], "description": frame[3]}
        except (ValueError, IndexError, TypeError):
            pass
        await super()._send(message)  # type: ignore[misc]

    # helpers for handlers --------------------------------------------------------------

    def booted(self) -> None:
        self.record.boots += 1
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
        self, label: str, payload: Any, *, skip_validation: bool = False
    ) -> dict[str, Any] | None:
        """Send one server call; record (and return) the charge point's answer payload."""
        action = type(payload).__name__
        unique_id = str(uuid.uuid4())
        entry: dict[str, Any] = {
            "label": label,
            "action": action,
            "request": snake_to_camel_case(remove_nones(serialize_as_dict(payload))),
            "t_sent": now_s(),
            "status": None,
        }
        self.record.server_calls.append(entry)
        self._outstanding.add(unique_id)
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
        self.booted()
        return result16.BootNotification(
            current_time=iso_now(), interval=BOOT_INTERVAL_S, status="Accepted"
        )

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
    async def on_authorize(self, **_: Any) -> Any:
        return result16.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    @guarded
    async def on_start_transaction(self, **_: Any) -> Any:
        return result16.StartTransaction(
            transaction_id=next(self.csms.transaction_ids), id_tag_info={"status": "Accepted"}
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


class CentralSystem201(Recording, ChargePoint201):
    version = "2.0.1"

    @on("BootNotification")
    @guarded
    async def on_boot_notification(self, **_: Any) -> Any:
        self.booted()
        return result201.BootNotification(
            current_time=iso_now(), interval=BOOT_INTERVAL_S, status="Accepted"
        )

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
    async def on_authorize(self, **_: Any) -> Any:
        return result201.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    @guarded
    async def on_transaction_event(self, id_token: Any = None, **_: Any) -> Any:
        if id_token is None:
            return result201.TransactionEvent()
        return result201.TransactionEvent(id_token_info={"status": "Accepted"})

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


# -- the server calls after boot ------------------------------------------------------


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
    await cp.server_call("Reset", call16.Reset(type="Soft"))
    await cp.server_call("Unknown", LoadgenUnknownAction(), skip_validation=True)


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
    await cp.changes.until(
        lambda: cp.find(
            lambda m: (
                m["action"] == "StatusNotification"
                and m["payload"].get("evseId") == REMOTE_CONNECTOR
                and m["payload"].get("connectorStatus") == "Occupied"
            ),
            started,
        ),
        FOLLOW_UP_S,
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
    await cp.server_call("Reset", call201.Reset(type="Immediate"))
    await cp.server_call("Unknown", LoadgenUnknownAction(), skip_validation=True)


SEQUENCES: dict[str, Callable[[Recording], Awaitable[None]]] = {
    "1.6": sequence_16,
    "2.0.1": sequence_201,
}


# -- the server -----------------------------------------------------------------------


class Csms:
    def __init__(self, version: str, report_path: Path) -> None:
        self.version = version
        self.subprotocol = SUBPROTOCOLS[version]
        self.report_path = report_path
        self.records: dict[str, Record] = {}
        self.errors: list[dict[str, Any]] = []
        self.transaction_ids = itertools.count(1001)
        self.port = 0

    def record_for(self, charge_point_id: str) -> Record:
        record = self.records.get(charge_point_id)
        if record is None:
            record = self.records[charge_point_id] = Record(charge_point_id)
        return record

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
        cls = CentralSystem16 if self.version == "1.6" else CentralSystem201
        charge_point = cls(charge_point_id, connection, self)
        try:
            await charge_point.start()
        except ConnectionClosed as exc:
            received = exc.rcvd
            record.closes.append(
                {
                    "t": now_s(),
                    "code": received.code if received else None,
                    "reason": received.reason if received else None,
                }
            )
        except Exception as exc:
            record.error("connection", None, exc, trace=traceback.format_exc())
        finally:
            task = charge_point.sequence_task
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
    csms = Csms(args.version, Path(args.report))
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
        ping_interval=None,
    ) as server:
        csms.port = next(iter(server.sockets)).getsockname()[1]
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
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
