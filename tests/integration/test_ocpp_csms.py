"""The real generator (plain Locust, standalone) against a CSMS built on the ``ocpp`` package.

``csms_ocpp.py`` validates every frame the charge points send, and every answer they
give to its server calls, against the official OCPP JSON schemas (the ``ocpp``
package's own validation, not loadgen's), and writes a JSON report. These tests run
``python -m locust -f locustfile.py --headless`` as a user would and check that report
and loadgen's ``summary.json``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CSMS_SCRIPT = Path(__file__).with_name("csms_ocpp.py")
LOCUSTFILE = ROOT / "locustfile.py"
CHARGE_POINTS = 5
CONNECTORS = 2  # connector 1 runs the charging loop; the CSMS remote-starts on connector 2
RUN_S = 15
START_TIMEOUT_S = 20.0
LOCUST_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
READY_RE = re.compile(r"^listening on (\d+)$", re.MULTILINE)

#: What each server call (by the CSMS's label) must be answered with.
EXPECTED_16: dict[str, Any] = {
    "GetConfiguration": None,  # no status: checked by content below
    "ClearCache": "Accepted",
    "ChangeAvailability": "Accepted",
    "UnlockConnector": "Unlocked",
    "DataTransfer": "UnknownVendorId",  # loadgen knows no vendor extension
    "RemoteStartTransaction": "Accepted",
    "RemoteStopTransaction": "Accepted",
    "ChangeConfiguration": "Accepted",
    "GetConfiguration.after": None,
    "TriggerMessage": "Accepted",
    "ChangeConfiguration.restore": "Accepted",
    "Unknown": "CallError:NotImplemented",
    "Reset": "Accepted",
}
EXPECTED_201: dict[str, Any] = {
    "GetVariables": ["Accepted", "UnknownComponent"],
    "ClearCache": "Accepted",
    "ChangeAvailability": "Accepted",
    "UnlockConnector": "Unlocked",
    "RequestStartTransaction": "Accepted",
    "GetTransactionStatus": None,  # no status: checked by content below
    "RequestStopTransaction": "Accepted",
    "GetBaseReport": "Accepted",
    "SetVariables": ["Accepted"],
    "GetVariables.after": ["Accepted"],
    "TriggerMessage": "Accepted",
    "SetVariables.restore": ["Accepted"],
    "Unknown": "CallError:NotImplemented",
    "Reset": "Accepted",
}
#: The CSMS's constants that the assertions depend on (see csms_ocpp.py).
QUIET_INTERVAL = "60"
REMOTE_CONNECTOR = 2
REPORT_REQUEST_ID = 4343


@dataclass
class Csms:
    process: subprocess.Popen[bytes]
    port: int
    report_path: Path
    log_path: Path

    def stop(self) -> int | None:
        """SIGTERM by PID (the CSMS then writes its final report); SIGKILL if it hangs."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_S)
            return None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def report(self) -> dict[str, Any]:
        return json.loads(self.report_path.read_text(encoding="utf-8"))


@pytest.fixture
def start_csms(tmp_path: Path) -> Iterator[Any]:
    """``start_csms(version)``: a listening CSMS subprocess, ended by its PID at teardown."""
    started: list[Csms] = []

    def start(version: str) -> Csms:
        stdout_path = tmp_path / "csms.stdout"
        log_path = tmp_path / "csms.stderr"
        report_path = tmp_path / "csms-report.json"
        argv = [sys.executable, str(CSMS_SCRIPT), "--version", version, "--port", "0"]
        argv += ["--report", str(report_path)]
        with stdout_path.open("wb") as stdout, log_path.open("wb") as stderr:
            process = subprocess.Popen(
                argv, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=tmp_path
            )
        csms = Csms(process, 0, report_path, log_path)
        started.append(csms)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (match := READY_RE.search(stdout_path.read_text(encoding="utf-8"))):
            assert process.poll() is None, f"CSMS exited {process.returncode}:\n{csms.log()}"
            assert time.monotonic() < deadline, f"CSMS not listening:\n{csms.log()}"
            time.sleep(0.05)
        csms.port = int(match.group(1))
        return csms

    try:
        yield start
    finally:
        for csms in started:
            csms.stop()


def write_config(path: Path, version: str) -> Path:
    config = {
        "target": "embedded",  # replaced by --host
        "ocpp_version": version,
        "charge_points": {
            "id_prefix": "OCPP-",
            "connectors": CONNECTORS,
            "heartbeat_interval_s": 1,
            "call_timeout_s": 10,
            # The sequence ends with a Reset: each charge point reboots and connects again.
            "reboot_s": 1,
            # Every charge point charges on connector 1, so each completes a session.
            "scenario": {"idle": 0, "charging": 1},
            "session": {"duration_s": 3, "meter_interval_s": 1, "pause_s": 1},
        },
        "stages": [{"users": CHARGE_POINTS, "spawn_rate": CHARGE_POINTS, "duration": f"{RUN_S}s"}],
        "thresholds": {"min_success_rate": 1.0, "max_connect_p95_ms": None},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_locust(tmp_path: Path, port: int, config: Path, results: Path) -> tuple[int, str]:
    """Run the generator as a user does; returns (exit code, its output)."""
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    argv += ["--host", f"ws://127.0.0.1:{port}/ocpp", "--loadgen-config", str(config)]
    argv += ["--loadgen-results", str(results), "--only-summary"]
    out_path = tmp_path / "locust.out"
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    with out_path.open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=tmp_path,
            env=env,
        )
        try:
            code = process.wait(timeout=LOCUST_TIMEOUT_S)
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT_S)
    return code, out_path.read_text(encoding="utf-8", errors="replace")


def sessions(messages: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """Every transaction the charge point started, with what followed it."""
    found: dict[Any, dict[str, Any]] = {}
    authorized = 0
    for message in messages:
        action, payload = message["action"], message["payload"]
        if action == "Authorize":
            authorized += 1
        if version == "1.6":
            if action == "StartTransaction":
                tx = (message.get("reply") or {}).get("transactionId")
                found[tx] = {
                    "connector": payload["connectorId"],
                    "authorized_before": authorized > 0,
                    "meter_values": 0,
                    "stopped": False,
                }
            elif action == "MeterValues" and payload.get("transactionId") in found:
                found[payload["transactionId"]]["meter_values"] += 1
            elif action == "StopTransaction" and payload.get("transactionId") in found:
                found[payload["transactionId"]]["stopped"] = True
        elif action == "TransactionEvent":
            tx = payload["transactionInfo"]["transactionId"]
            event = payload["eventType"]
            if event == "Started":
                found[tx] = {
                    "connector": payload["evse"]["id"],
                    "authorized_before": authorized > 0,
                    "meter_values": 0,
                    "stopped": False,
                }
            elif tx in found and event == "Updated":
                found[tx]["meter_values"] += 1
            elif tx in found and event == "Ended":
                found[tx]["stopped"] = True
    return list(found.values())


def check_report(report: dict[str, Any], version: str) -> None:
    """Every assertion on the CSMS's view of the run."""
    assert report["errors"] == []
    chargers = report["chargers"]
    assert len(chargers) == CHARGE_POINTS, sorted(chargers)
    expected = EXPECTED_16 if version == "1.6" else EXPECTED_201
    for cid, cp in chargers.items():
        where = f"{cid}: "
        # Validation errors in either direction, handler exceptions, wrong subprotocol.
        assert cp["errors"] == [], where + json.dumps(cp["errors"], indent=1)
        replied_errors = [m for m in cp["messages"] if "callError" in (m.get("reply") or {})]
        assert replied_errors == [], where + json.dumps(replied_errors, indent=1)
        # One connection until the sequence's final Reset, then the reboot's.
        assert cp["connections"] == 2, where + str(cp["closes"])
        assert cp["subprotocols"] == [report["subprotocol"]] * 2
        assert cp["boots"] >= 2
        assert cp["actions"][0] == "BootNotification", where + str(cp["actions"][:5])
        rebooted = [m["action"] for m in cp["messages"] if m["conn"] == 2]
        assert rebooted[:1] == ["BootNotification"], where + str(rebooted[:5])
        counts = cp["counts"]
        assert counts.get("StatusNotification", 0) >= CONNECTORS, where + str(counts)
        assert counts.get("Heartbeat", 0) >= 2, where + str(counts)
        assert cp["sequence"] == "done", where + cp["sequence"]

        calls = {call["label"]: call for call in cp["server_calls"]}
        assert list(calls) == list(expected), where + str(list(calls))
        statuses = {label: call["status"] for label, call in calls.items()}
        assert statuses == expected, where + json.dumps(cp["server_calls"], indent=1)

        if version == "1.6":
            keys = {k["key"]: k for k in calls["GetConfiguration"]["response"]["configurationKey"]}
            assert keys["HeartbeatInterval"]["value"] == "1", where + str(keys)
            assert calls["GetConfiguration"]["response"].get("unknownKey") == ["LoadgenNoSuchKey"]
            after = calls["GetConfiguration.after"]["response"]["configurationKey"]
            assert [k["value"] for k in after] == [QUIET_INTERVAL], where + str(after)
        else:
            result = calls["GetVariables"]["response"]["getVariableResult"]
            assert result[0]["attributeValue"] == "1", where + str(result)
            after = calls["GetVariables.after"]["response"]["getVariableResult"]
            assert after[0]["attributeValue"] == QUIET_INTERVAL, where + str(after)
            # The remote transaction runs until the RequestStop that follows (E14.FR.02).
            status = calls["GetTransactionStatus"]["response"]
            assert status["ongoingIndicator"] is True, where + str(status)
            # The report answering GetBaseReport must carry the request's id (B07.FR.05).
            reports = [m["payload"] for m in cp["messages"] if m["action"] == "NotifyReport"]
            assert [r["requestId"] for r in reports] == [REPORT_REQUEST_ID], where + str(reports)

        # TriggerMessage Heartbeat: with the interval raised to 60 s, a Heartbeat at once.
        trigger = cp["trigger"]
        assert trigger["heartbeats_before"] >= 1, where + str(trigger)
        assert trigger["heartbeat_after_s"] is not None, where + str(trigger)
        assert trigger["heartbeat_after_s"] < 2.0, where + str(trigger)

        done = [s for s in sessions(cp["messages"], version) if s["stopped"]]
        assert any(s["connector"] == 1 for s in done), where + str(done)
        assert any(s["connector"] == REMOTE_CONNECTOR for s in done), where + str(done)
        full = [s for s in done if s["authorized_before"] and s["meter_values"] >= 1]
        assert full, where + str(done)


def check_summary(summary: dict[str, Any]) -> None:
    """Every assertion on loadgen's summary.json."""
    connections = summary["connections"]
    assert connections["attempted"] == 2 * CHARGE_POINTS, connections
    assert connections["established"] == 2 * CHARGE_POINTS, connections
    assert connections["booted"] == 2 * CHARGE_POINTS, connections
    # The Reset's reboot reconnects each charge point once; closing for it is no loss.
    assert connections["reconnects"] == CHARGE_POINTS, connections
    assert connections["lost"] == 0, connections
    # The only failures: the CALLERROR each charge point answered the unknown action with.
    assert summary["failures"] == {"call_error": CHARGE_POINTS}, summary["failures"]
    failed = {name: m["failed"] for name, m in summary["messages"].items() if m["failed"]}
    assert failed == {}, summary["messages"]
    failed = {name: m["failed"] for name, m in summary["server_calls"].items() if m["failed"]}
    # An action OCPP does not define is counted under one name (Locust's stats stay bounded).
    assert failed == {"(unknown action)": CHARGE_POINTS}, summary["server_calls"]
    assert summary["thresholds"]["passed"], summary["thresholds"]


@pytest.mark.timeout(150)
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_generator_against_ocpp_package_csms(tmp_path: Path, start_csms: Any, version: str) -> None:
    """Five charge points run by plain Locust speak schema-valid OCPP to an ocpp-package CSMS."""
    csms = start_csms(version)
    config = write_config(tmp_path / "ocpp-csms.yaml", version)
    results = tmp_path / "results"
    code, output = run_locust(tmp_path, csms.port, config, results)
    csms.stop()
    report = csms.report()
    context = f"\n--- locust ---\n{output[-4000:]}\n--- csms ---\n{csms.log()[-4000:]}"
    assert code == 0, context
    assert report["version"] == version
    check_report(report, version)
    check_summary(json.loads((results / "summary.json").read_text(encoding="utf-8")))
