"""The reference gateway as an operator: scripted calls to the chargers, and what came back.

A script is a list of steps ("at 60 s, UpdateFirmware to 10% of the fleet")::

    - {at: 20s, call: SetChargingProfile, share: 0.5, params: {limit_w: 7000}}
    - {at: 60s, call: UpdateFirmware, share: 0.1}
    - {at: 90s, call: SetChargingProfile, share: 0.2, pick: capped}
    - {at: 300s, call: ClearChargingProfile, share: 0.2, pick: capped}

At each step's time (seconds after the first charger booted in this process: the load's
start, however long the generator took to start) the :class:`Operator` sends the
call to the given share of the chargers booted in this process, picked by a hash of
their id (the same chargers every run, spread evenly over the gateway's processes; steps
with the same ``pick`` name reach the same chargers, a smaller share a subset), with
a payload built for each charger's OCPP version from the step's ``params``
(docs/fleets.md lists them; ``payload`` gives a raw JSON payload instead). Answers are
counted by action and status, CALLERRORs by code, calls left unanswered for
:data:`ANSWER_TIMEOUT_S` as timeouts. The gateway also serves HTTP PUT uploads on a
loopback port of its own (:class:`UploadServer`), the default location of the scripted
GetDiagnostics / GetLog, so the chargers' uploads have somewhere to go.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadgen.ocpp.actions import ALL_ACTIONS
from loadgen.ocpp.framing import CallError, CallResult, encode_call

if TYPE_CHECKING:
    from loadgen.gateway.server import Gateway, _Charger

log = logging.getLogger("loadgen.gateway")

Payload = dict[str, Any]
#: A call not answered this long is counted as a timeout.
ANSWER_TIMEOUT_S = 60.0
#: Most steps and parameters a script may have.
MAX_STEPS = 1000
MAX_PARAMS = 32


class ScriptError(ValueError):
    """A script that cannot be run; the message names the step and the fix."""


#: How often the script looks for the first booted charger before its clock starts.
FIRST_BOOT_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Step:
    at_s: float
    call: str
    share: float
    params: dict[str, Any]
    pick: str | None = None  # steps with the same pick name reach the same chargers


def read_script(path: str) -> tuple[Step, ...]:
    """Read a script file (YAML or JSON: a list of steps, or ``{script: [...]}``)."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"--script: cannot read {path} ({exc.strerror}).") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ScriptError(f"--script: {path} is not YAML or JSON.") from None
    if isinstance(raw, dict) and "script" in raw:
        raw = raw["script"]
    return parse_script(raw)


def parse_script(raw: object) -> tuple[Step, ...]:
    """Check a script's steps (as the config's ``gateway.script`` writes them)."""
    if not isinstance(raw, list) or len(raw) > MAX_STEPS:
        raise ScriptError(f"script: expected a list of at most {MAX_STEPS} steps.")
    steps = []
    for i, item in enumerate(raw):
        where = f"script[{i}]"
        if not isinstance(item, dict):
            raise ScriptError(f"{where}: expected a mapping like {{at: 60, call: Reset}}.")
        at = item.get("at_s", item.get("at"))
        at_s = _seconds(at, f"{where}.at")
        call = item.get("call")
        if not isinstance(call, str) or call not in ALL_ACTIONS:
            raise ScriptError(f"{where}.call: {call!r:.60} is not an OCPP action.")
        share = item.get("share", 1.0)
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ScriptError(f"{where}.share: a number from 0 to 1.")
        params = item.get("params") or {}
        if isinstance(params, list):  # [[key, value], ...] as the effective config has it
            params = {p[0]: p[1] for p in params if isinstance(p, list) and len(p) == 2}
        if not isinstance(params, dict) or len(params) > MAX_PARAMS:
            raise ScriptError(f"{where}.params: a mapping of at most {MAX_PARAMS} parameters.")
        pick = item.get("pick")
        if pick is not None and (not isinstance(pick, str) or not 1 <= len(pick) <= 64):
            raise ScriptError(f"{where}.pick: a name of 1-64 characters.")
        steps.append(Step(at_s, call, float(share), dict(params), pick))
    return tuple(sorted(steps, key=lambda step: step.at_s))


def _seconds(value: object, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 86400 * 30:
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        for suffix, scale in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
            if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
                return float(text[: -len(suffix)]) * scale
        if text.replace(".", "", 1).isdigit():
            return float(text)
    raise ScriptError(f"{where}: a time like 60, '90s' or '5m', got {value!r:.40}.")


def salt_of(step: Step, number: int) -> str:
    """What picks a step's chargers: its pick name, else its place in the script."""
    return f"pick:{step.pick}" if step.pick else str(number)


def picked(charger_id: str, share: float, salt: int | str = 0) -> bool:
    """Whether a step with ``share`` goes to this charger (the same every run). ``salt``
    (the step's place in the script, or its pick name) makes each step pick its own
    chargers: without it the 2% of one step would all be among the 10% of another."""
    return zlib.crc32(f"{salt}:{charger_id}".encode()) % 10_000 < share * 10_000


# -- payloads --------------------------------------------------------------------------


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


class Payloads:
    """Builds each step's payload for a charger's version (see docs/fleets.md)."""

    def __init__(self, upload_url: str | None) -> None:
        self.upload_url = upload_url or "http://127.0.0.1:9/unreachable/"
        self._ids = itertools.count(1)

    def build(self, step: Step, version: str) -> tuple[str, Payload] | None:
        """(action, payload) of ``step`` for ``version``; None when the version lacks it."""
        p = step.params
        if "payload" in p:
            raw = p["payload"]
            payload = json.loads(raw) if isinstance(raw, str) else raw
            return step.call, payload
        builder: Callable[[Payload, str], tuple[str, Payload] | None] | None = getattr(
            self, f"_{step.call}", None
        )
        if builder is None:
            return step.call, {}
        return builder(p, version)

    def _UpdateFirmware(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        location = str(p.get("location", "https://firmware.example/loadgen-2.0.bin"))
        retrieve = _iso(time.time() + float(p.get("retrieve_in_s", 0)))
        signed = bool(p.get("signed", False))
        if version == "1.6" and not signed:
            return "UpdateFirmware", {"location": location, "retrieveDate": retrieve}
        firmware: Payload = {"location": location, "retrieveDateTime": retrieve}
        if signed or version == "1.6":
            firmware["signingCertificate"] = "-----BEGIN CERTIFICATE-----loadgen"
            firmware["signature"] = "bG9hZGdlbg=="
        action = "SignedUpdateFirmware" if version == "1.6" else "UpdateFirmware"
        return action, {"requestId": next(self._ids), "firmware": firmware}

    def _SignedUpdateFirmware(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        return self._UpdateFirmware({**p, "signed": True}, version)

    def _GetDiagnostics(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        location = str(p.get("location", self.upload_url))
        if version == "1.6" and p.get("log") is None:
            return "GetDiagnostics", {"location": location}
        return "GetLog", {
            "logType": str(p.get("log", "DiagnosticsLog")),
            "requestId": next(self._ids),
            "log": {"remoteLocation": location},
        }

    def _GetLog(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        return self._GetDiagnostics({"log": "DiagnosticsLog", **p}, version)

    def _SetChargingProfile(self, p: Payload, version: str) -> tuple[str, Payload] | None:  # noqa: N802
        unit = "A" if "limit_a" in p else "W"
        limit = float(p["limit_a"] if "limit_a" in p else p.get("limit_w", 7000))
        purpose = str(p.get("purpose", "TxDefaultProfile"))
        period: Payload = {"startPeriod": 0, "limit": round(limit, 1)}
        if "setpoint_w" in p:  # 2.1: a setpoint to follow, negative to discharge (V2X)
            if version != "2.1":
                return None
            unit = "W"
            period = {
                "startPeriod": 0,
                "operationMode": str(p.get("operation_mode", "CentralSetpoint")),
                "setpoint": round(float(p["setpoint_w"]), 1),
            }
            if "discharge_limit_w" in p:
                period["dischargeLimit"] = -abs(round(float(p["discharge_limit_w"]), 1))
        schedule: Payload = {"chargingRateUnit": unit, "chargingSchedulePeriod": [period]}
        if "duration_s" in p:
            schedule["duration"] = int(p["duration_s"])
        station = purpose in ("ChargePointMaxProfile", "ChargingStationMaxProfile")
        kind = "Absolute" if station else "Relative"
        if station:
            schedule["startSchedule"] = _iso(time.time() - 1)
        body: Payload = {"stackLevel": int(p.get("stack_level", 0)), "chargingProfileKind": kind}
        connector = int(p.get("connector", 0))
        if version == "1.6":
            names = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}
            body.update(
                chargingProfileId=int(p.get("profile_id", 1)),
                chargingProfilePurpose=names.get(purpose, purpose),
                chargingSchedule=schedule,
            )
            return "SetChargingProfile", {"connectorId": connector, "csChargingProfiles": body}
        names = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}
        body.update(
            id=int(p.get("profile_id", 1)),
            chargingProfilePurpose=names.get(purpose, purpose),
            chargingSchedule=[{"id": 1, **schedule}],
        )
        return "SetChargingProfile", {"evseId": connector, "chargingProfile": body}

    def _SetDefaultTariff(self, p: Payload, version: str) -> tuple[str, Payload] | None:  # noqa: N802
        """2.1: a default tariff of ``price_kwh`` (and ``price_minute`` of charging time,
        ``fixed_fee``), ``tax_percent`` on each, in ``currency``, for EVSE ``evse`` (0)."""
        if version != "2.1":
            return None
        taxes = [{"type": "VAT", "tax": float(p["tax_percent"])}] if "tax_percent" in p else []
        tariff: Payload = {
            "tariffId": str(p.get("tariff_id", "LOADGEN-DEFAULT"))[:60],
            "currency": str(p.get("currency", "EUR"))[:3],
        }
        for key, element, price in (
            ("price_kwh", "energy", "priceKwh"),
            ("price_minute", "chargingTime", "priceMinute"),
            ("fixed_fee", "fixedFee", "priceFixed"),
        ):
            value = p.get(key, 0.3 if key == "price_kwh" else None)
            if value is not None:
                tariff[element] = {"prices": [{price: float(value)}]}
                if taxes:
                    tariff[element]["taxRates"] = taxes
        return "SetDefaultTariff", {"evseId": int(p.get("evse", 0)), "tariff": tariff}

    def _GetTariffs(self, p: Payload, version: str) -> tuple[str, Payload] | None:  # noqa: N802
        return None if version != "2.1" else ("GetTariffs", {"evseId": int(p.get("evse", 0))})

    def _ClearTariffs(self, p: Payload, version: str) -> tuple[str, Payload] | None:  # noqa: N802
        if version != "2.1":
            return None
        ids = [t for t in str(p.get("tariff_ids", "")).split(",") if t]
        return "ClearTariffs", {"tariffIds": ids} if ids else {}

    def _ClearChargingProfile(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        if "profile_id" not in p:
            return "ClearChargingProfile", {}
        key = "id" if version == "1.6" else "chargingProfileId"
        return "ClearChargingProfile", {key: int(p["profile_id"])}

    def _GetCompositeSchedule(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        payload: Payload = {"duration": int(p.get("duration_s", 3600))}
        payload["connectorId" if version == "1.6" else "evseId"] = int(p.get("connector", 1))
        if "unit" in p:
            payload["chargingRateUnit"] = str(p["unit"])
        return "GetCompositeSchedule", payload

    def _GetChargingProfiles(self, p: Payload, version: str) -> tuple[str, Payload] | None:  # noqa: N802
        if version == "1.6":
            return None
        return "GetChargingProfiles", {
            "requestId": next(self._ids),
            "chargingProfile": {
                "chargingProfilePurpose": str(p.get("purpose", "TxDefaultProfile"))
            },
        }

    def _ReserveNow(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        expiry = _iso(time.time() + float(p.get("expiry_s", 300)))
        tag = str(p.get("tag", "RESERVED-TAG"))
        reservation_id = int(p.get("reservation_id", next(self._ids)))
        connector = int(p.get("connector", 1))
        if version == "1.6":
            return "ReserveNow", {
                "connectorId": connector,
                "expiryDate": expiry,
                "idTag": tag,
                "reservationId": reservation_id,
            }
        payload: Payload = {
            "id": reservation_id,
            "expiryDateTime": expiry,
            "idToken": {"idToken": tag, "type": "ISO14443"},
        }
        if connector:
            payload["evseId"] = connector
        return "ReserveNow", payload

    def _CancelReservation(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        return "CancelReservation", {"reservationId": int(p.get("reservation_id", 1))}

    def _SendLocalList(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        tags = [t for t in str(p.get("tags", "")).split(",") if t]
        number = int(p.get("version", 1))
        update = str(p.get("update", "Full"))
        status = str(p.get("status", "Accepted"))
        if version == "1.6":
            items = [{"idTag": t, "idTagInfo": {"status": status}} for t in tags]
            payload: Payload = {"listVersion": number, "updateType": update}
        else:
            items = [
                {"idToken": {"idToken": t, "type": "ISO14443"}, "idTokenInfo": {"status": status}}
                for t in tags
            ]
            payload = {"versionNumber": number, "updateType": update}
        if items:
            payload["localAuthorizationList"] = items
        return "SendLocalList", payload

    def _TriggerMessage(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        return "TriggerMessage", {"requestedMessage": str(p.get("message", "Heartbeat"))}

    def _Reset(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        default = "Soft" if version == "1.6" else "Immediate"
        return "Reset", {"type": str(p.get("type", default))}

    def _ChangeAvailability(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        kind = "Operative" if p.get("operative", True) else "Inoperative"
        connector = int(p.get("connector", 0))
        if version == "1.6":
            return "ChangeAvailability", {"connectorId": connector, "type": kind}
        payload: Payload = {"operationalStatus": kind}
        if connector:
            payload["evse"] = {"id": connector}
        return "ChangeAvailability", payload

    def _DataTransfer(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        payload: Payload = {"vendorId": str(p.get("vendor_id", "org.loadgen"))}
        if "message_id" in p:
            payload["messageId"] = str(p["message_id"])
        if "data" in p:
            payload["data"] = str(p["data"])
        return "DataTransfer", payload

    def _RemoteStartTransaction(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        tag = str(p.get("tag", "OPERATOR-TAG"))
        connector = int(p.get("connector", 1))
        if version == "1.6":
            return "RemoteStartTransaction", {"idTag": tag, "connectorId": connector}
        return "RequestStartTransaction", {
            "idToken": {"idToken": tag, "type": "ISO14443"},
            "remoteStartId": next(self._ids),
            "evseId": connector,
        }

    _RequestStartTransaction = _RemoteStartTransaction

    def _ChangeConfiguration(self, p: Payload, version: str) -> tuple[str, Payload]:  # noqa: N802
        if version == "1.6":
            return "ChangeConfiguration", {"key": str(p["key"]), "value": str(p["value"])}
        component, _, variable = str(p["key"]).partition(".")
        return "SetVariables", {
            "setVariableData": [
                {
                    "component": {"name": component},
                    "variable": {"name": variable},
                    "attributeValue": str(p["value"]),
                }
            ]
        }


# -- the operator ----------------------------------------------------------------------


class Operator:
    """Runs the script against this process's chargers and counts what comes back."""

    def __init__(self, steps: tuple[Step, ...], payloads: Payloads) -> None:
        self.steps = steps
        self.payloads = payloads
        #: unique id -> (action, sent at) of our calls not answered yet
        self.pending: dict[str, tuple[str, float]] = {}
        self.sent: dict[str, int] = {}
        self.answered: dict[str, dict[str, int]] = {}  # action -> status -> count
        self.errors: dict[str, dict[str, int]] = {}  # action -> CALLERROR code -> count
        self.timeouts: dict[str, int] = {}
        self.steps_done = 0

    async def run(self, gateway: Gateway) -> None:
        """Send each step at its time; sweep unanswered calls meanwhile.

        The clock starts with the first charger booted here, not with the gateway: a
        generator that is slow to start (a busy host, many workers) would otherwise find
        the first steps already past, sent to nobody.
        """
        loop = asyncio.get_running_loop()
        while not any(c.booted for c in list(gateway.registry.values())):
            await asyncio.sleep(FIRST_BOOT_POLL_S)
        started = loop.time()
        for number, step in enumerate(self.steps):
            while loop.time() < started + step.at_s:
                await asyncio.sleep(min(1.0, started + step.at_s - loop.time()))
                self._sweep(loop.time())
            await self._send_step(gateway, step, loop, number)
            self.steps_done += 1
        while True:
            await asyncio.sleep(1.0)
            self._sweep(loop.time())

    async def _send_step(
        self, gateway: Gateway, step: Step, loop: asyncio.AbstractEventLoop, number: int
    ) -> None:
        chargers = [
            c
            for c in list(gateway.registry.values())
            if c.booted and picked(c.id, step.share, salt_of(step, number))
        ]
        log.info("operator: %s to %d chargers", step.call, len(chargers))
        for n, charger in enumerate(chargers):
            built = self.payloads.build(step, charger.version)
            if built is None:
                continue
            action, payload = built
            unique_id = uuid.uuid4().hex[:16]
            self.pending[unique_id] = (action, loop.time())
            self.sent[action] = self.sent.get(action, 0) + 1
            with contextlib.suppress(Exception):  # a connection that just closed
                await charger.connection.send(encode_call(unique_id, action, payload).decode())
            if n % 500 == 499:
                await asyncio.sleep(0)  # let the answers in

    def answer(self, charger: _Charger, frame: CallResult | CallError) -> str | None:
        """Count an answer to one of our calls; its action, or None if it is not ours."""
        entry = self.pending.pop(frame.unique_id, None)
        if entry is None:
            return None
        action = entry[0]
        if isinstance(frame, CallError):
            codes = self.errors.setdefault(action, {})
            codes[frame.error_code] = codes.get(frame.error_code, 0) + 1
        else:
            status = _status(frame.payload)
            statuses = self.answered.setdefault(action, {})
            statuses[status] = statuses.get(status, 0) + 1
        return action

    def _sweep(self, now: float) -> None:
        late = [k for k, (_, at) in self.pending.items() if now - at > ANSWER_TIMEOUT_S]
        for key in late:
            action, _ = self.pending.pop(key)
            self.timeouts[action] = self.timeouts.get(action, 0) + 1

    def status(self) -> dict[str, Any]:
        return {
            "steps": len(self.steps),
            "steps_done": self.steps_done,
            "sent": dict(self.sent),
            "answered": {k: dict(v) for k, v in self.answered.items()},
            "errors": {k: dict(v) for k, v in self.errors.items()},
            "timeouts": dict(self.timeouts),
            "waiting": len(self.pending),
        }


def _status(payload: Payload) -> str:
    """The status an answer gives (a DataTransfer's, a Set/GetVariables' first ...)."""
    status = payload.get("status")
    if isinstance(status, str):
        return status
    for key in ("setVariableResult", "getVariableResult"):
        results = payload.get(key)
        if isinstance(results, list) and results and isinstance(results[0], dict):
            return str(results[0].get("attributeStatus", "?"))
    results = payload.get("clearTariffsResult")  # 2.1 ClearTariffs
    if isinstance(results, list) and results and isinstance(results[0], dict):
        return str(results[0].get("status", "?"))
    if "listVersion" in payload or "versionNumber" in payload:
        return "version"
    if "fileName" in payload or payload == {}:
        return "answered"
    return "?"


# -- somewhere to upload ---------------------------------------------------------------


class UploadServer:
    """A loopback HTTP server that takes PUT / POST uploads and counts them (no storage)."""

    MAX_BODY = 16 * 1024 * 1024

    def __init__(self) -> None:
        self.received = 0
        self.bytes = 0
        self.server: asyncio.Server | None = None
        self.url: str | None = None

    async def start(self, host: str = "127.0.0.1") -> str:
        self.server = await asyncio.start_server(self._serve, host, 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://{host}:{port}/upload/"
        return self.url

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(30):
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ", 1)[0]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip() or 0)
                if method not in ("PUT", "POST") or not 0 <= length <= self.MAX_BODY:
                    writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                else:
                    await reader.readexactly(length)
                    self.received += 1
                    self.bytes += length
                    writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (
            TimeoutError,
            OSError,
            ValueError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass
        finally:
            writer.close()

    def status(self) -> dict[str, Any]:
        return {"url": self.url, "received": self.received, "bytes": self.bytes}
