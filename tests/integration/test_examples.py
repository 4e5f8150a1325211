"""The examples/ locustfiles, each run by ``loadgen run CONFIG --locustfile FILE``
against the embedded gateway (real Locust master and worker, real gateway), and what
each shows in its results; with them, a scenario that raises on one charger.

The runs go together, in one fixture (about 30 s for all on two cores), each with its
own results folder; they end by themselves when their stages do, and are ended by PID
if they do not.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import ROOT, SCALE

pytestmark = pytest.mark.integration

EXAMPLES = ROOT / "examples"
#: name -> (locustfile, config)
RUNS = {
    "vendor_handshake": (EXAMPLES / "vendor_handshake.py", EXAMPLES / "charging.yaml"),
    "reject_remote_starts": (EXAMPLES / "reject_remote_starts.py", EXAMPLES / "operator.yaml"),
    "reboot_storm": (EXAMPLES / "reboot_storm.py", EXAMPLES / "operator.yaml"),
    "log_replay": (EXAMPLES / "log_replay.py", EXAMPLES / "charging.yaml"),
    "slow_answers": (EXAMPLES / "slow_answers.py", EXAMPLES / "operator.yaml"),
    "buggy_scenario": (
        ROOT / "tests" / "integration" / "locustfiles" / "buggy_scenario.py",
        EXAMPLES / "charging.yaml",
    ),
    "app_start": (EXAMPLES / "app_start.py", EXAMPLES / "app_start.yaml"),
    "app_start_201": (EXAMPLES / "app_start.py", EXAMPLES / "app_start.yaml"),
}
#: name -> more arguments of its `loadgen run`
MORE_ARGS = {"app_start_201": ["--ocpp-version", "2.0.1"]}
RUN_TIMEOUT_S = 150


@dataclass
class Result:
    """What one run left: exit code, output, results folder."""

    name: str
    code: int | None
    output: str
    folder: Path

    def context(self) -> str:
        log = self.folder / "locust.log"
        text = log.read_text(encoding="utf-8") if log.exists() else ""
        output = self.output[-3000:]
        return f"\n--- {self.name} ---\n{output}\n--- locust.log ---\n{text[-3000:]}"

    def summary(self) -> dict[str, Any]:
        """summary.json of a run that passed; an example's has no error in user code
        (not even when the run's end stops the chargers in the middle of a scenario)."""
        assert self.code == 0, self.context()
        summary = dict(json.loads((self.folder / "summary.json").read_text(encoding="utf-8")))
        if self.name != "buggy_scenario":
            assert "user_errors" not in summary, summary["user_errors"]
        return summary

    def stats(self) -> dict[tuple[str, str], dict[str, str]]:
        """locust_stats.csv by (type, name)."""
        with (self.folder / "locust_stats.csv").open(encoding="utf-8") as handle:
            return {(r["Type"], r["Name"]): r for r in csv.DictReader(handle)}

    def gateway(self) -> dict[str, Any]:
        """The gateway's last ``final status`` line."""
        lines = [
            line
            for line in (self.folder / "gateway.log").read_text(encoding="utf-8").splitlines()
            if "final status: " in line
        ]
        assert lines, self.context()
        return dict(json.loads(lines[-1].split("final status: ", 1)[1]))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Result]]:
    """Every run of RUNS, started together and waited for (bounded)."""
    base = tmp_path_factory.mktemp("examples")
    procs: dict[str, tuple[subprocess.Popen[str], Path]] = {}
    try:
        for name, (locustfile, config) in RUNS.items():
            folder = base / name
            argv = [sys.executable, "-m", "loadgen", "run", str(config), "--workers", "1"]
            argv += ["--locustfile", str(locustfile), "--results", str(folder)]
            argv += MORE_ARGS.get(name, [])
            procs[name] = (
                subprocess.Popen(
                    argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                ),
                folder,
            )
        deadline = time.monotonic() + RUN_TIMEOUT_S * SCALE
        results = {}
        for name, (proc, folder) in procs.items():
            try:
                output, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.terminate()  # loadgen run ends its Locust and gateway with it
                output, _ = proc.communicate(timeout=30)
            results[name] = Result(name, proc.returncode, output, folder)
        yield results
    finally:
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


@pytest.mark.timeout(240)
def test_vendor_handshake_before_every_session(runs: dict[str, Result]) -> None:
    """Every session begins with the vendor's DataTransfer: as many handshakes and
    StartTransactions as sessions started (give or take the ones under way at the end),
    none refused, and every frame valid."""
    result = runs["vendor_handshake"]
    summary = result.summary()
    handshakes = summary["messages"]["DataTransfer"]
    started = summary["fleet"]["sessions"]["started"]
    assert handshakes["failed"] == 0 and started >= 5, result.context()
    assert started <= handshakes["count"] <= started + 10, (handshakes, started)
    # a session counts as started when the charger begins it; its StartTransaction is
    # counted when answered, so one per charger may still be in flight when the run ends
    users = 10
    assert started - users <= summary["messages"]["StartTransaction"]["count"] <= started
    assert result.gateway()["schema"]["errors"] == 0


@pytest.mark.timeout(240)
def test_a_share_of_remote_starts_is_rejected(runs: dict[str, Result]) -> None:
    """Every tenth remote start is rejected by the example's answer, the rest accepted
    as the charger would (and their sessions run); each is counted as a server call."""
    result = runs["reject_remote_starts"]
    result.summary()
    operator = result.gateway()["operator"]
    sent = operator["sent"]["RemoteStartTransaction"]
    answered = operator["answered"]["RemoteStartTransaction"]
    assert sent == 20 and answered.get("Rejected") == sent // 10, operator
    assert answered.get("Accepted") == sent - sent // 10, operator
    stats = result.stats()
    assert int(stats[("server", "RemoteStartTransaction")]["Request Count"]) == sent
    assert int(stats[("OCPP", "StartTransaction")]["Request Count"]) == answered["Accepted"]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", ["app_start", "app_start_201"])
def test_an_app_start_authorizes_the_evs_waiting_plugged_in(
    runs: dict[str, Result], name: str
) -> None:
    """Every charger's EV waits plugged in until the operator's remote start (1.6
    RemoteStartTransaction, 2.0.1 RequestStartTransaction): each is Accepted and starts
    the transaction there, timed from plug-in to start, and every frame is valid."""
    result = runs[name]
    summary = result.summary()
    action = "RemoteStartTransaction" if name == "app_start" else "RequestStartTransaction"
    operator = result.gateway()["operator"]
    assert operator["sent"] == {action: 10}, operator
    assert operator["answered"] == {action: {"Accepted": 10}}, operator
    app = result.stats()[("app", "plug-in to start")]
    assert int(app["Request Count"]) == 10 and int(app["Failure Count"]) == 0
    assert float(app["Min Response Time"]) > 0
    if name == "app_start":
        assert summary["messages"]["StartTransaction"]["count"] == 10, summary["messages"]
    assert summary["fleet"]["sessions"]["started"] >= 10, summary["fleet"]
    assert result.gateway()["schema"]["errors"] == 0


@pytest.mark.timeout(240)
def test_a_reboot_storm_measures_the_boots(runs: dict[str, Result]) -> None:
    """The operator resets all 20 chargers; each boots again and reports how long from
    its Reset to the accepted boot (at least the config's reboot_s of 1 s)."""
    result = runs["reboot_storm"]
    summary = result.summary()
    assert summary["messages"]["BootNotification"]["count"] == 40, summary["messages"]
    assert summary["connections"]["reconnects"] == 20
    storm = result.stats()[("storm", "reset to boot")]
    assert int(storm["Request Count"]) == 20 and int(storm["Failure Count"]) == 0
    assert 1000 <= float(storm["Min Response Time"]) <= float(storm["Max Response Time"]) < 10_000


@pytest.mark.timeout(240)
def test_a_log_replay_keeps_the_logs_pace(runs: dict[str, Result]) -> None:
    """The sample log's CALLs go out at its pace (a replay lasts the log's 4.6 s), each
    counted as its action, all valid against the schemas, none refused."""
    result = runs["log_replay"]
    summary = result.summary()
    replay = result.stats()[("replay", "sample-charger.log")]
    replays = int(replay["Request Count"])
    assert replays >= 3, result.context()
    assert 4550 <= float(replay["Min Response Time"]) and float(replay["Max Response Time"]) < 6000
    messages = summary["messages"]
    for action, per_log in (("MeterValues", 2), ("DataTransfer", 1), ("StopTransaction", 1)):
        assert messages[action]["count"] >= per_log * replays, (action, messages[action])
        assert messages[action]["failed"] == 0
    assert result.gateway()["schema"]["errors"] == 0


@pytest.mark.timeout(240)
def test_a_slow_charger_answers_late(runs: dict[str, Result]) -> None:
    """Every GetConfiguration of the operator is answered, each after the example's 2 s
    (the server call's response time), while the charger goes on meanwhile."""
    result = runs["slow_answers"]
    result.summary()
    operator = result.gateway()["operator"]
    assert operator["sent"]["GetConfiguration"] == 20 and operator["timeouts"] == {}, operator
    assert sum(operator["answered"]["GetConfiguration"].values()) == 20, operator
    slow = result.stats()[("server", "GetConfiguration")]
    assert int(slow["Request Count"]) == 20 and int(slow["Failure Count"]) == 0
    assert 2000 <= float(slow["Min Response Time"]) < 3000, slow
    assert result.gateway()["schema"]["errors"] == 0


@pytest.mark.timeout(240)
def test_an_error_in_a_scenario_is_reported_once_and_the_chargers_go_on(
    runs: dict[str, Result],
) -> None:
    """The scenario that raises on one charger shows up once in summary.json (with the
    charge point id and the traceback), once in the log and in Locust's exceptions
    table; no charger disconnects and the others run their sessions."""
    result = runs["buggy_scenario"]
    summary = result.summary()
    errors = summary["user_errors"]
    assert len(errors) == 1, errors
    error = errors[0]
    assert error["count"] >= 2, error  # the charger's every session raised, all counted
    assert "scenario session raised RuntimeError" in error["message"]
    assert "charge point EX-" in error["message"]
    assert (
        "buggy_scenario.py" in error["traceback"] and "a bug in the scenario" in error["traceback"]
    )
    log = (result.folder / "locust.log").read_text(encoding="utf-8")
    assert log.count("raised RuntimeError") == 1, log[-3000:]
    with (result.folder / "locust_exceptions.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and "RuntimeError" in rows[0]["Traceback"], rows
    connections = summary["connections"]
    assert connections["established"] == 10 and connections["reconnects"] == 0, connections
    assert summary["failures"] == {}, summary["failures"]
    assert summary["fleet"]["sessions"]["started"] >= 5, summary["fleet"]
