"""Integration tests of the reference gateway: a real subprocess on 127.0.0.1, real sockets."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect

from loadgen.gateway.answers import AnswerConfig, Answers
from loadgen.ocpp.schemas import validate
from tests.integration.conftest import GatewayProcess, gateway_argv

pytestmark = pytest.mark.integration

GatewayFactory = Callable[..., GatewayProcess]
SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}
TIMEOUT_S = 10.0
TS = "2026-01-02T03:04:05.678Z"
TOKEN_201 = {"idToken": "TAG-1", "type": "ISO14443"}
PERIODS = [{"startPeriod": 0, "limit": 11000.0}]
_ids = itertools.count(1)

#: A valid request for every action a 1.6 charge point initiates (several for some).
REQUESTS_16: dict[str, list[dict[str, Any]]] = {
    "BootNotification": [{"chargePointVendor": "loadgen", "chargePointModel": "test"}],
    "Heartbeat": [{}],
    "StatusNotification": [{"connectorId": 1, "errorCode": "NoError", "status": "Available"}],
    "Authorize": [{"idTag": "TAG-1"}],
    "StartTransaction": [{"connectorId": 1, "idTag": "TAG-1", "meterStart": 0, "timestamp": TS}],
    "MeterValues": [
        {
            "connectorId": 1,
            "transactionId": 1,
            "meterValue": [{"timestamp": TS, "sampledValue": [{"value": "10"}]}],
        }
    ],
    "StopTransaction": [
        {"meterStop": 10, "timestamp": TS, "transactionId": 1, "idTag": "TAG-1"},
        {"meterStop": 10, "timestamp": TS, "transactionId": 1},
    ],
    "DataTransfer": [{"vendorId": "loadgen", "data": "x"}],
    "DiagnosticsStatusNotification": [{"status": "Idle"}],
    "FirmwareStatusNotification": [{"status": "Idle"}],
    "SecurityEventNotification": [{"type": "StartupOfTheDevice", "timestamp": TS}],
    "SignCertificate": [{"csr": "-----BEGIN CERTIFICATE REQUEST-----"}],
    "LogStatusNotification": [{"status": "Idle"}],
    "SignedFirmwareStatusNotification": [{"status": "Idle"}],
}

#: A valid request for every action a 2.0.1 charging station initiates.
REQUESTS_201: dict[str, list[dict[str, Any]]] = {
    "BootNotification": [
        {"chargingStation": {"model": "test", "vendorName": "loadgen"}, "reason": "PowerUp"}
    ],
    "Heartbeat": [{}],
    "StatusNotification": [
        {"timestamp": TS, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    ],
    "Authorize": [{"idToken": TOKEN_201}],
    "TransactionEvent": [
        {
            "eventType": "Started",
            "timestamp": TS,
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "tx-1"},
            "idToken": TOKEN_201,
        },
        {
            "eventType": "Updated",
            "timestamp": TS,
            "triggerReason": "MeterValuePeriodic",
            "seqNo": 1,
            "transactionInfo": {"transactionId": "tx-1"},
        },
    ],
    "MeterValues": [
        {"evseId": 1, "meterValue": [{"timestamp": TS, "sampledValue": [{"value": 10.5}]}]}
    ],
    "NotifyReport": [{"requestId": 1, "generatedAt": TS, "seqNo": 0}],
    "NotifyEvent": [
        {
            "generatedAt": TS,
            "seqNo": 0,
            "eventData": [
                {
                    "eventId": 1,
                    "timestamp": TS,
                    "trigger": "Alerting",
                    "actualValue": "1",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "EVSE"},
                    "variable": {"name": "Available"},
                }
            ],
        }
    ],
    "NotifyMonitoringReport": [{"requestId": 1, "seqNo": 0, "generatedAt": TS}],
    "NotifyChargingLimit": [{"chargingLimit": {"chargingLimitSource": "EMS"}}],
    "ClearedChargingLimit": [{"chargingLimitSource": "EMS"}],
    "NotifyCustomerInformation": [{"data": "x", "seqNo": 0, "generatedAt": TS, "requestId": 1}],
    "NotifyDisplayMessages": [{"requestId": 1}],
    "NotifyEVChargingNeeds": [{"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC"}}],
    "NotifyEVChargingSchedule": [
        {
            "timeBase": TS,
            "evseId": 1,
            "chargingSchedule": {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": PERIODS,
            },
        }
    ],
    "ReportChargingProfiles": [
        {
            "requestId": 1,
            "chargingLimitSource": "CSO",
            "evseId": 1,
            "chargingProfile": [
                {
                    "id": 1,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Absolute",
                    "chargingSchedule": [
                        {"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": PERIODS}
                    ],
                }
            ],
        }
    ],
    "ReservationStatusUpdate": [{"reservationId": 1, "reservationUpdateStatus": "Expired"}],
    "SecurityEventNotification": [{"type": "StartupOfTheDevice", "timestamp": TS}],
    "SignCertificate": [{"csr": "-----BEGIN CERTIFICATE REQUEST-----"}],
    "LogStatusNotification": [{"status": "Idle"}],
    "FirmwareStatusNotification": [{"status": "Idle"}],
    "PublishFirmwareStatusNotification": [{"status": "Idle"}],
    "DataTransfer": [{"vendorId": "loadgen"}],
    "GetCertificateStatus": [
        {
            "ocspRequestData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a",
                "issuerKeyHash": "b",
                "serialNumber": "1",
                "responderURL": "http://127.0.0.1/ocsp",
            }
        }
    ],
    "Get15118EVCertificate": [
        {
            "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
            "action": "Install",
            "exiRequest": "AA",
        }
    ],
}

#: 2.1: every 2.0.1 request (valid under 2.1's schemas too) and 2.1's new station calls.
REQUESTS_21: dict[str, list[dict[str, Any]]] = {
    **REQUESTS_201,
    "NotifyDERAlarm": [{"controlType": "FreqDroop", "timestamp": TS}],
    "NotifyDERStartStop": [{"controlId": "der-1", "started": True, "timestamp": TS}],
    "NotifyPriorityCharging": [{"transactionId": "tx-1", "activated": True}],
    "NotifySettlement": [
        {"pspRef": "psp-1", "status": "Settled", "settlementAmount": 12.5, "settlementTime": TS}
    ],
    "ReportDERControl": [{"requestId": 1}],
    "BatterySwap": [
        {
            "eventType": "BatteryIn",
            "requestId": 1,
            "idToken": TOKEN_201,
            "batteryData": [{"evseId": 1, "serialNumber": "B-1", "soC": 80, "soH": 95}],
        }
    ],
    "OpenPeriodicEventStream": [
        {"constantStreamData": {"id": 1, "variableMonitoringId": 2, "params": {}}}
    ],
    "PullDynamicScheduleUpdate": [{"chargingProfileId": 1}],
    "VatNumberValidation": [{"vatNumber": "NL123456789B01"}],
}

REQUESTS = {"1.6": REQUESTS_16, "2.0.1": REQUESTS_201, "2.1": REQUESTS_21}


# -- helpers -----------------------------------------------------------------------------


def connect(gateway: GatewayProcess, charger_id: str, version: str = "1.6") -> ClientConnection:
    """A WebSocket to the gateway as charge point ``charger_id`` speaking ``version``."""
    return sync_connect(
        f"{gateway.url}/ocpp/{charger_id}",
        subprotocols=[SUBPROTOCOL[version]],  # type: ignore[list-item]
        compression=None,
        proxy=None,
        open_timeout=TIMEOUT_S,
        close_timeout=TIMEOUT_S,
    )


def call(ws: ClientConnection, action: str, payload: dict[str, Any]) -> list[Any]:
    """Send a CALL and return the frame answering it (bounded wait)."""
    unique_id = f"t{next(_ids)}"
    ws.send(json.dumps([2, unique_id, action, payload]))
    return answer(ws, unique_id)


def answer(ws: ClientConnection, unique_id: str) -> list[Any]:
    frame = json.loads(ws.recv(timeout=TIMEOUT_S))
    assert frame[1] == unique_id, frame
    return frame


def rejection(gateway: GatewayProcess, path: str, subprotocols: list[str]) -> InvalidStatus:
    """The HTTP rejection of a handshake to ``path`` offering ``subprotocols``."""
    with pytest.raises(InvalidStatus) as caught:
        sync_connect(
            f"{gateway.url}{path}",
            subprotocols=subprotocols or None,  # type: ignore[arg-type]
            proxy=None,
            open_timeout=TIMEOUT_S,
        )
    return caught.value


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll ``predicate`` until it returns a truthy value, failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.02)  # poll interval, not synchronisation


def status_where(gateway: GatewayProcess, check: Callable[[dict[str, Any]], bool]) -> dict:
    """Poll /_status until ``check`` accepts it; return that status."""
    last: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        nonlocal last
        last = gateway.status()
        return last if check(last) else None

    try:
        return wait_for(probe, what="/_status")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last status: {last}") from None


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# -- handshake ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
def test_subprotocol_is_accepted_and_echoed(gateway: GatewayProcess, version: str) -> None:
    """Each OCPP subprotocol is accepted and echoed back in the handshake."""
    with connect(gateway, f"CP-echo-{version}", version) as ws:
        assert ws.subprotocol == SUBPROTOCOL[version]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("offered", [[], ["ocpp1.5"], ["chat", "ocpp2.2"]])
def test_missing_or_unknown_subprotocol_is_rejected(
    gateway: GatewayProcess, offered: list[str]
) -> None:
    """A handshake without a supported subprotocol gets HTTP 400 naming the supported ones."""
    exc = rejection(gateway, "/ocpp/CP-1", offered)
    assert exc.response.status_code == 400
    body = exc.response.body.decode()
    assert "ocpp1.6" in body and "ocpp2.0.1" in body and "ocpp2.1" in body, body


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", ["/", "//", "/?x=1"])
def test_url_without_charge_point_id_is_404(gateway: GatewayProcess, path: str) -> None:
    """A URL whose path has no non-empty segment is refused with HTTP 404 and a clear body."""
    exc = rejection(gateway, path, ["ocpp1.6"])
    assert exc.response.status_code == 404
    assert b"charge point id" in exc.response.body


# -- answers -----------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
def test_every_charger_initiated_action_gets_a_schema_valid_answer(
    gateway: GatewayProcess, version: str
) -> None:
    """Every charger-initiated action of the version is answered with a valid CALLRESULT."""
    requests = REQUESTS[version]
    assert set(requests) == set(Answers(AnswerConfig()).tables[version])
    with connect(gateway, f"CP-all-{version}", version) as ws:
        for action, payloads in requests.items():
            for payload in payloads:
                validate(version, action, payload, response=False)
                frame = call(ws, action, payload)
                assert frame[0] == 3, frame
                validate(version, action, frame[2], response=True)
    status = gateway.status()
    assert status["messages"]["BootNotification"] == 1
    assert status["messages"]["Heartbeat"] == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_answer_contents(gateway: GatewayProcess, version: str) -> None:
    """Boot, heartbeat and transaction answers carry the expected values."""
    with connect(gateway, f"CP-values-{version}", version) as ws:
        boot = call(ws, "BootNotification", REQUESTS[version]["BootNotification"][0])[2]
        assert boot["status"] == "Accepted" and boot["interval"] == 60
        now = datetime.now(UTC)
        current = datetime.strptime(boot["currentTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
        assert abs((current.replace(tzinfo=UTC) - now).total_seconds()) < 60
        assert len(boot["currentTime"]) == len(TS)
        if version == "1.6":
            start = REQUESTS_16["StartTransaction"][0]
            ids = {call(ws, "StartTransaction", start)[2]["transactionId"] for _ in range(3)}
            assert len(ids) == 3 and all(isinstance(i, int) for i in ids)
            stop = REQUESTS_16["StopTransaction"]
            assert call(ws, "StopTransaction", stop[0])[2] == {"idTagInfo": {"status": "Accepted"}}
            assert call(ws, "StopTransaction", stop[1])[2] == {}
        else:
            events = REQUESTS_201["TransactionEvent"]
            accepted = {"idTokenInfo": {"status": "Accepted"}}
            assert call(ws, "TransactionEvent", events[0])[2] == accepted
            assert call(ws, "TransactionEvent", events[1])[2] == {}
    assert status_where(gateway, lambda s: s["connected"] == 0)["booted"] == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_unknown_action_is_not_implemented(gateway: GatewayProcess, version: str) -> None:
    """A CALL of an action the gateway does not know gets CALLERROR NotImplemented."""
    with connect(gateway, f"CP-unknown-{version}", version) as ws:
        frame = call(ws, "NoSuchAction", {})
        assert frame[0] == 4 and frame[2] == "NotImplemented", frame
        assert isinstance(frame[3], str) and frame[4] == {}
    assert gateway.status()["messages"]["unknown"] == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("version", "code"), [("1.6", "FormationViolation"), ("2.0.1", "FormatViolation")]
)
def test_garbage_frames(gateway: GatewayProcess, version: str, code: str) -> None:
    """A malformed frame with a readable id gets the version's format error; others are ignored."""
    with connect(gateway, f"CP-garbage-{version}", version) as ws:
        ws.send('[2, "g1", "Heartbeat"]')  # a CALL without payload
        frame = answer(ws, "g1")
        assert frame[0] == 4 and frame[2] == code, frame
        ws.send("this is not json")  # no id to answer: ignored and counted
        ws.send("[3, 4, 5]")
        ws.send('[3, "r1", {}]')  # a CALLRESULT nobody asked for: counted and ignored
        ws.send('[4, "e1", "GenericError", "", {}]')
        frame = call(ws, "Heartbeat", {})  # the very next frame is the heartbeat's answer
        assert frame[0] == 3
    messages = gateway.status()["messages"]
    assert messages["invalid"] == 3
    assert messages["CALLRESULT"] == 1 and messages["CALLERROR"] == 1


@pytest.mark.timeout(60)
def test_pending_boot_returns_retry_interval(gateway_factory: GatewayFactory) -> None:
    """With --boot-status Pending the boot answer is Pending with the retry interval."""
    gateway = gateway_factory(boot_status="Pending", boot_retry_interval_s=3)
    for version in ("1.6", "2.0.1"):
        with connect(gateway, f"CP-pending-{version}", version) as ws:
            boot = call(ws, "BootNotification", REQUESTS[version]["BootNotification"][0])[2]
            validate(version, "BootNotification", boot, response=True)
            assert boot["status"] == "Pending" and boot["interval"] == 3
            assert gateway.status()["booted"] == 0


# -- registry and status -----------------------------------------------------------------


@pytest.mark.timeout(60)
def test_status_counts_connections_and_drops_them(gateway: GatewayProcess) -> None:
    """/_status counts connected and booted chargers per version and drops closed ones."""
    with connect(gateway, "CP-s1", "1.6") as first, connect(gateway, "CP-s2", "2.0.1"):
        assert call(first, "BootNotification", REQUESTS_16["BootNotification"][0])[0] == 3
        status = status_where(gateway, lambda s: s["connected"] == 2)
        assert status["pid"] == gateway.pid
        assert status["by_version"] == {"1.6": 1, "2.0.1": 1, "2.1": 0}
        assert status["booted"] == 1
        assert status["messages"] == {"BootNotification": 1}
        first.close()
        status = status_where(gateway, lambda s: s["connected"] == 1)
        assert status["by_version"] == {"1.6": 0, "2.0.1": 1, "2.1": 0} and status["booted"] == 0
    status_where(gateway, lambda s: s["connected"] == 0)


@pytest.mark.timeout(60)
def test_duplicate_id_replaces_older_connection(gateway: GatewayProcess) -> None:
    """A second connection with the same id closes the first with 1000 and stays registered."""
    with connect(gateway, "CP-dup") as old:
        call(old, "BootNotification", REQUESTS_16["BootNotification"][0])
        with connect(gateway, "CP-dup", "2.0.1") as new:
            with pytest.raises(ConnectionClosedOK) as closed:
                old.recv(timeout=TIMEOUT_S)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1000
            assert closed.value.rcvd.reason == "replaced by a new connection"
            assert call(new, "Heartbeat", {})[0] == 3
            status = status_where(gateway, lambda s: s["connected"] == 1)
            assert status["by_version"] == {"1.6": 0, "2.0.1": 1, "2.1": 0}
            assert status["booted"] == 0  # the new connection has not booted
    status_where(gateway, lambda s: s["connected"] == 0)


# -- processes, signals, errors ----------------------------------------------------------


@pytest.mark.timeout(120)
def test_two_processes_share_one_port(gateway_factory: GatewayFactory) -> None:
    """With --processes 2 both workers serve the port and SIGTERM ends parent and workers."""
    gateway = gateway_factory(processes=2)
    assert "(processes=2, pid=" in gateway.ready_line
    pids: set[int] = set()

    def both_seen() -> bool:
        pids.add(gateway.status()["pid"])
        return len(pids) == 2

    wait_for(both_seen, timeout=30, what="both workers in /_status")
    for pid in pids:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            assert int(stat.read().rsplit(")", 1)[1].split()[1]) == gateway.pid
    for n in range(20):
        with connect(gateway, f"CP-multi-{n}") as ws:
            assert call(ws, "BootNotification", REQUESTS_16["BootNotification"][0])[0] == 3
    assert gateway.stop() == 0
    wait_for(lambda: all(process_gone(pid) for pid in pids), what="workers to exit")


@pytest.mark.timeout(120)
def test_worker_death_stops_the_gateway(gateway_factory: GatewayFactory) -> None:
    """When a worker dies the parent stops the other workers and exits with status 1."""
    gateway = gateway_factory(processes=2)
    pids: set[int] = set()

    def both_seen() -> bool:
        pids.add(gateway.status()["pid"])
        return len(pids) == 2

    wait_for(both_seen, timeout=30, what="both workers in /_status")
    victim, survivor = sorted(pids)
    os.kill(victim, signal.SIGKILL)  # a worker of the gateway this test started
    assert gateway.process.wait(timeout=60) == 1
    wait_for(lambda: process_gone(survivor), what="the other worker to exit")
    assert "exited with status" in gateway.stderr()


@pytest.mark.timeout(60)
def test_open_files_limit_is_raised_to_the_hard_limit(gateway_factory: GatewayFactory) -> None:
    """At start the gateway raises its RLIMIT_NOFILE soft limit to the hard limit."""
    low = (
        "import resource, sys\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))\n"
        "from loadgen.gateway import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    gateway = gateway_factory(
        argv=[sys.executable, "-c", low, "--host", "127.0.0.1", "--port", "0"]
    )
    with open(f"/proc/{gateway.pid}/limits", encoding="ascii") as limits:
        line = next(x for x in limits if x.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    assert soft == hard, line
    assert "open files limit (RLIMIT_NOFILE)" in gateway.stderr()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_connections_and_exits_0(gateway: GatewayProcess, sig: int) -> None:
    """SIGTERM or SIGINT closes open connections and the gateway exits with status 0."""
    with connect(gateway, "CP-signal") as ws:
        call(ws, "Heartbeat", {})
        assert gateway.stop(sig) == 0
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=TIMEOUT_S)
    assert "Traceback" not in gateway.stderr()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("processes", [1, 2])
def test_port_in_use_exits_2_with_a_message(gateway: GatewayProcess, processes: int) -> None:
    """Starting on a port in use exits 2 with a message naming --port and no traceback."""
    argv = gateway_argv(port=gateway.port, processes=processes)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert "--port" in result.stderr and str(gateway.port) in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert gateway.status()["pid"] == gateway.pid  # the first gateway is unharmed


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "flags", [["--port", "-1"], ["--boot-status", "Maybe"], ["--processes", "0"], ["--bogus"]]
)
def test_bad_flags_exit_2(flags: list[str]) -> None:
    """Bad flags are an argparse error with exit status 2."""
    argv = [sys.executable, "-m", "loadgen.gateway", *flags]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.timeout(60)
def test_gateway_imports_no_load_generator_libraries() -> None:
    """The gateway modules import neither locust, gevent nor websocket-client."""
    code = (
        "import sys, loadgen.gateway.cli, loadgen.gateway.server, loadgen.gateway.supervisor\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('locust', 'gevent', 'websocket', 'geventhttpclient'))\n"
        "print(bad)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


# -- concurrency -------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_two_thousand_concurrent_chargers_boot(gateway: GatewayProcess) -> None:
    """2,000 concurrent connections all boot and show in /_status, then all drop."""
    count = 2000

    async def charger(n: int, opened: list[Any]) -> str:
        version = "1.6" if n % 2 else "2.0.1"
        ws = await async_connect(
            f"{gateway.url}/load/CP-{n:05d}",
            subprotocols=[SUBPROTOCOL[version]],  # type: ignore[list-item]
            compression=None,
            proxy=None,
            open_timeout=30,
            close_timeout=TIMEOUT_S,
        )
        opened.append(ws)
        payload = REQUESTS[version]["BootNotification"][0]
        await ws.send(json.dumps([2, f"b{n}", "BootNotification", payload]))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        return str(frame[2]["status"])

    async def scenario() -> None:
        opened: list[Any] = []
        try:
            async with asyncio.timeout(60):
                statuses = await asyncio.gather(*(charger(n, opened) for n in range(count)))
            assert statuses == ["Accepted"] * count
            status = await asyncio.to_thread(status_where, gateway, lambda s: s["booted"] == count)
            assert status["connected"] == count
            assert status["by_version"] == {"1.6": count // 2, "2.0.1": count // 2, "2.1": 0}
        finally:
            async with asyncio.timeout(60):
                await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)

    asyncio.run(scenario())
    status_where(gateway, lambda s: s["connected"] == 0)
