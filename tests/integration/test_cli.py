"""`loadgen run` as a user runs it: embedded gateway, a Locust master, 2 worker processes."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.integration.support import ROOT, SCALE, loadgen_run_until

pytestmark = pytest.mark.integration


def loadgen(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the loadgen command in a subprocess, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "loadgen", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s * SCALE,
    )


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


SMALL = """
target: embedded
ocpp_version: "{version}"
charge_points:
  heartbeat_interval_s: 1
  scenario: {{idle: 0.5, charging: 0.5}}
  session: {{duration_s: 2, meter_interval_s: 1, pause_s: 1}}
stages:
  - {{users: 30, spawn_rate: 30, duration: 4s}}
  - {{users: 60, spawn_rate: 30, duration: 6s}}
thresholds: {{min_success_rate: 1.0, max_connect_p95_ms: {p95}}}
"""

#: every charger in a session far longer than the run: only a graceful stop ends them
SESSIONS = """
target: embedded
ocpp_version: "1.6"
charge_points:
  scenario: {idle: 0, charging: 1}
  session: {duration_s: 600, meter_interval_s: 5, pause_s: 1}
stages:
  - {users: 20, spawn_rate: 20, duration: 5s}
"""


@dataclass
class Run:
    """A ``loadgen run`` of the module fixture ``runs``, ended: its process and folder."""

    done: subprocess.CompletedProcess[str]
    results: Path


def run_name(item: pytest.Item) -> str | None:
    """The run of ``runs`` that a test of this module asserts on, if any."""
    name = getattr(item, "originalname", None)
    if name == "test_run_with_two_workers_establishes_every_connection":
        return f"workers-{item.callspec.params['version']}"  # type: ignore[attr-defined]
    if name == "test_violated_threshold_exits_1":
        return "violated"
    if name == "test_unreachable_target_is_counted_as_connect_refused":
        return "unreachable"
    if name == "test_stop_timeout_ends_the_sessions_before_the_run_ends":
        return "graceful"
    return None


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The runs to completion that the selected tests assert on, each a ``loadgen run`` of
    its own (own config, gateway, master, workers and results), started together and
    waited for (bounded); a run's test fails on a run that did not end in time."""
    wanted = [
        name
        for item in request.session.items
        if item.module is request.module and (name := run_name(item))
    ]
    base = tmp_path_factory.mktemp("cli")
    with ExitStack() as stack:
        args: dict[str, list[str]] = {}
        for name in dict.fromkeys(wanted):
            folder = base / name
            folder.mkdir()
            results = folder / "results"
            if name.startswith("workers-"):
                version = name.removeprefix("workers-")
                config = write_config(
                    folder / "small.yaml", SMALL.format(version=version, p95=5000)
                )
                args[name] = [str(config), "--workers", "2", "--results", str(results)]
            elif name == "violated":
                config = write_config(
                    folder / "strict.yaml", SMALL.format(version="1.6", p95=0.001)
                )
                args[name] = [str(config), "--workers", "1", "--results", str(results)]
                args[name] += ["--run-time", "4s"]
            elif name == "graceful":
                config = write_config(folder / "sessions.yaml", SESSIONS)
                args[name] = [str(config), "--workers", "1", "--results", str(results)]
                args[name] += ["--stop-timeout", "20s"]
            else:
                sock = stack.enter_context(socket.socket())
                sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
                port = sock.getsockname()[1]
                config = write_config(folder / "c.yaml", SMALL.format(version="1.6", p95=5000))
                args[name] = [str(config), "--workers", "1", "--results", str(results)]
                args[name] += ["--target", f"ws://127.0.0.1:{port}/ocpp", "--users", "5"]
                args[name] += ["--run-time", "3s"]
        procs: dict[str, subprocess.Popen[str]] = {}
        try:
            for name, argv in args.items():
                with (
                    (base / name / "stdout.log").open("w") as out,
                    (base / name / "stderr.log").open("w") as err,
                ):
                    procs[name] = subprocess.Popen(
                        [sys.executable, "-m", "loadgen", "run", *argv],
                        cwd=ROOT,
                        stdout=out,
                        stderr=err,
                        text=True,
                    )
            deadline = time.monotonic() + 120 * SCALE
            for proc in procs.values():
                with suppress(subprocess.TimeoutExpired):  # its test fails on returncode None
                    proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
    return {
        name: Run(
            subprocess.CompletedProcess(
                proc.args,
                proc.returncode,
                (base / name / "stdout.log").read_text(encoding="utf-8"),
                (base / name / "stderr.log").read_text(encoding="utf-8"),
            ),
            base / name / "results",
        )
        for name, proc in procs.items()
    }


@pytest.mark.timeout(180)
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_run_with_two_workers_establishes_every_connection(
    runs: dict[str, Run], version: str
) -> None:
    """A two-stage run with 2 workers connects all 60 charge points, boots and heartbeats them."""
    run = runs[f"workers-{version}"]
    done, results = run.done, run.results
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((results / "summary.json").read_text())
    conn = summary["connections"]
    assert conn["attempted"] == conn["established"] == 60
    assert conn["peak_concurrent"] == 60
    assert summary["failures"] == {}
    assert summary["workers"] == 2
    assert summary["ocpp_version"] == version
    assert summary["messages"]["BootNotification"]["count"] >= 60
    assert summary["messages"]["Heartbeat"]["count"] >= 60
    assert [s["reached"] for s in summary["stages"]] == [30, 60]
    assert summary["thresholds"]["passed"] is True
    for name in ("report.html", "locust_stats.csv", "gateway.log", "config.yaml"):
        assert (results / name).exists(), name
    assert "PASSED" in done.stdout and str(results) in done.stdout
    # The verdict is built from the final numbers: every worker's last stats are in it,
    # so it agrees with Locust's own CSV, row by row.
    with (results / "locust_stats.csv").open(newline="") as handle:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(handle)}
    for name, message in summary["messages"].items():
        row = rows[("OCPP", name)]
        assert (message["count"], message["failed"]) == (
            int(row["Request Count"]),
            int(row["Failure Count"]),
        ), name
        assert message["p95_ms"] == float(row["95%"]), name
    connect = rows[("WS", "connect")]
    assert int(connect["Request Count"]) == conn["established"] + conn["failed"]
    assert summary["connect_ms"]["p95"] == float(connect["95%"])
    assert summary["started_at"] and summary["ended_at"] and summary["versions"]["locust"]
    assert "loadgen-verdict" in (results / "report.html").read_text()


@pytest.mark.timeout(120)
def test_violated_threshold_exits_1(runs: dict[str, Run]) -> None:
    """A connect p95 limit no connection can meet makes the run exit 1 and say which."""
    done, results = runs["violated"].done, runs["violated"].results
    assert done.returncode == 1, done.stdout + done.stderr
    summary = json.loads((results / "summary.json").read_text())
    failed = [c["name"] for c in summary["thresholds"]["checks"] if not c["passed"]]
    assert failed == ["max_connect_p95_ms"]
    assert "FAIL" in done.stdout
    junit = ElementTree.parse(results / "junit.xml").getroot()
    assert junit.get("failures") == "1"
    failing = [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None]
    assert failing == ["max_connect_p95_ms"]
    # `loadgen report` rebuilds the same verdict from the folder alone: config.yaml is the
    # config as run (--run-time applied), not the file.
    (results / "summary.json").unlink()
    (results / "timeline.png").unlink()
    rebuilt = loadgen("report", str(results))
    assert rebuilt.returncode == 1, rebuilt.stdout + rebuilt.stderr
    again = json.loads((results / "summary.json").read_text())
    assert again["connections"]["attempted"] == summary["connections"]["attempted"]
    assert again["thresholds"] == summary["thresholds"]
    assert [s["users"] for s in again["stages"]] == [s["users"] for s in summary["stages"]]
    assert [s["duration_s"] for s in again["stages"]] == [4.0]
    assert (results / "timeline.png").exists()


@pytest.mark.timeout(120)
def test_sigint_mid_stage_leaves_a_valid_summary(tmp_path: Path) -> None:
    """SIGINT during a stage ends the run with a complete summary marked interrupted, exit 1."""
    config = write_config(tmp_path / "long.yaml", SMALL.format(version="1.6", p95=5000))
    results = tmp_path / "results"
    args = (str(config), "--workers", "2", "--results", str(results), "--run-time", "60s")
    with loadgen_run_until("connected 60/60", *args) as proc:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60 * SCALE)
    assert proc.returncode == 1, out + err
    summary = json.loads((results / "summary.json").read_text())
    assert summary["state"] == "interrupted"
    assert summary["connections"]["established"] == 60
    assert summary["failures"] == {}  # the gateway outlived the charge points
    assert [c["name"] for c in summary["thresholds"]["checks"] if not c["passed"]] == [
        "run_completed"
    ]
    rows = (results / "timeline.csv").read_text().splitlines()
    assert len(rows) > 3 and rows[0].startswith("time_s,stage,target_users")


@pytest.mark.timeout(180)
def test_stop_timeout_ends_the_sessions_before_the_run_ends(runs: dict[str, Run]) -> None:
    """``--stop-timeout``: at the end every charger ends its running session before it
    closes (StopTransaction, reason Local, each answered by the CSMS), and summary.json
    counts them ended; without it they are cut (test_locust_face)."""
    done, results = runs["graceful"].done, runs["graceful"].results
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((results / "summary.json").read_text())
    assert summary["state"] == "finished"
    sessions = summary["fleet"]["sessions"]
    assert sessions["started"] == 20, sessions
    assert sessions["ended"]["total"] == sessions["ended"]["Local"] == 20, sessions
    stops = summary["messages"]["StopTransaction"]
    assert (stops["count"], stops["failed"]) == (20, 0), summary["messages"]


@pytest.mark.timeout(120)
def test_unreachable_target_is_counted_as_connect_refused(runs: dict[str, Run]) -> None:
    """A target where nothing listens gives connect_refused failures and exit 1."""
    done, results = runs["unreachable"].done, runs["unreachable"].results
    assert done.returncode == 1, done.stdout + done.stderr
    summary = json.loads((results / "summary.json").read_text())
    assert summary["connections"]["established"] == 0
    assert summary["failures"]["connect_refused"] >= 5
    # Refused connects are failures, not latencies: connect p95 has no data and fails.
    assert summary["connect_ms"]["p95"] is None and summary["connect_ms"]["samples"] == 0
    checks = {c["name"]: c for c in summary["thresholds"]["checks"]}
    assert checks["max_connect_p95_ms"]["passed"] is False
    assert checks["max_connect_p95_ms"]["no_data"] is True
    assert "success 100.00%" not in done.stdout
    assert "CP-0-000001" in summary["failing_ids"]["connect_refused"]


BAD_CONFIGS = [
    ("wrong type", "charge_points: {connectors: two}\n", "charge_points.connectors"),
    ("unknown key", "charge_point: {connectors: 1}\n", "config.charge_point"),
    ("negative users", "stages: [{users: -10, spawn_rate: 1, duration: 5s}]\n", "stages[0].users"),
    ("bad URL", "target: http://127.0.0.1:9000/ocpp\n", "target"),
    ("bad YAML", "stages: [\n", "not valid YAML"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("case", "text", "field"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_malformed_config_exits_2_naming_the_field(
    tmp_path: Path, case: str, text: str, field: str
) -> None:
    """A malformed config exits 2 with one message naming the field, and no traceback."""
    config = write_config(tmp_path / "bad.yaml", text)
    done = loadgen("run", str(config), "--results", str(tmp_path / "r"))
    assert done.returncode == 2
    assert field in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "r").exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--workers", "0"], "--workers"),
        (["--target", "tcp://x"], "--target"),
        (["--run-time", "soon"], "--run-time"),
        (["--users", "-3"], "--users"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(args: list[str], flag: str) -> None:
    """A bad command-line flag exits 2 with a message naming the flag, no traceback."""
    done = loadgen("run", "configs/quickstart.yaml", *args)
    assert done.returncode == 2
    assert flag in done.stderr
    assert "Traceback" not in done.stderr


def children(pid: int) -> list[int]:
    """Direct child PIDs of ``pid`` (Linux /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.timeout(150)
def test_worker_killed_mid_run_is_reported_and_the_run_completes(tmp_path: Path) -> None:
    """A worker killed mid-run is reported as lost with its charge points; the run still ends."""
    config = write_config(tmp_path / "w.yaml", SMALL.format(version="1.6", p95=5000))
    results = tmp_path / "results"
    args = (str(config), "--workers", "2", "--results", str(results), "--run-time", "25s")
    with loadgen_run_until("connected 60/60", *args) as proc:
        locust = [
            p for p in children(proc.pid) if "locust" in Path(f"/proc/{p}/cmdline").read_text()
        ]
        workers = children(locust[0])
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)  # a worker this test's run started
        out, err = proc.communicate(timeout=90 * SCALE)
    summary = json.loads((results / "summary.json").read_text())
    assert summary["state"] == "finished", out + err
    lost = summary["workers_lost"]
    assert len(lost) == 1 and 0 < next(iter(lost.values())) <= 60
    assert summary["connections"]["lost_with_workers"] == next(iter(lost.values()))
