"""Hostile or broken servers: each misbehaviour lands in its failure category, nothing leaks.

The runs of the misbehaviours go together, in one fixture, each a standalone Locust of
its own against a server of its own (mostly waiting on 1 s timeouts, so they barely
compete for the CPU); each test asserts on its own run.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import SCALE, locust_argv, poll, run_standalone

pytestmark = pytest.mark.integration

SERVER = Path(__file__).with_name("hostile_server.py")

CONFIG = """
charge_points:
  connect_timeout_s: 1
  call_timeout_s: 1
  heartbeat_interval_s: 1
  boot_retry_s: 1
  reconnect: {initial_s: 0.5, max_s: 1, factor: 2}
stages:
  - {users: 5, spawn_rate: 5, duration: 6s}
thresholds: {min_success_rate: null, min_boot_rate: null, max_connect_p95_ms: null}
"""


@contextmanager
def hostile(mode: str) -> Iterator[int]:
    """The hostile server in ``mode`` on a free loopback port; ended by its PID."""
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), mode, "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded by the test's timeout
        match = re.match(r"listening on (\d+)", line)
        assert match, line
        yield int(match.group(1))
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


CASES = [
    ("bad_json", "protocol_error"),
    ("wrong_type", "protocol_error"),
    ("unknown_id", "protocol_error"),
    ("oversized", "protocol_error"),
    ("silent", "call_timeout"),
    ("no_upgrade", "connect_timeout"),
    ("http_401", "handshake_rejected"),
    ("http_404", "handshake_rejected"),
    ("http_503", "handshake_rejected"),
]
#: Bound of one run against its server, from the server's start to Locust's exit.
RUN_LIMIT_S = 60
RUN_TIMEOUT_S = 90


@dataclass
class Run:
    """What one run of 5 charge points for 6 s against one hostile server left."""

    mode: str
    code: int | None  # None: still running at the deadline (then killed)
    stderr: str
    summary: dict[str, Any]
    took_s: float  # from the hostile server's start to Locust's exit


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Run]:
    """The runs of the selected CASES, each against its own server, started together (one
    standalone Locust of 5 charge points for 6 s each) and waited for (bounded)."""
    wanted = [
        item.callspec.params["mode"]
        for item in request.session.items
        if item.module is request.module
        and "mode" in getattr(getattr(item, "callspec", None), "params", {})
    ] or [mode for mode, _ in CASES]
    base = tmp_path_factory.mktemp("hostile")
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    procs: dict[str, subprocess.Popen[str]] = {}
    with ExitStack() as stack:
        ports = {}
        for mode in dict.fromkeys(wanted):
            started[mode] = time.monotonic()
            ports[mode] = stack.enter_context(hostile(mode))
        try:
            for mode, port in ports.items():
                folder = base / mode
                folder.mkdir()
                config = folder / "hostile.yaml"
                config.write_text(CONFIG, encoding="utf-8")
                argv = locust_argv(config, f"ws://127.0.0.1:{port}/ocpp", folder / "results")
                with (
                    (folder / "stdout.log").open("w") as out,
                    (folder / "stderr.log").open("w") as err,
                ):
                    procs[mode] = subprocess.Popen(
                        argv, cwd=folder, stdout=out, stderr=err, text=True
                    )

            def all_ended() -> bool:
                for mode, proc in procs.items():
                    if mode not in ended and proc.poll() is not None:
                        ended[mode] = time.monotonic()
                return len(ended) == len(procs)

            with suppress(AssertionError):  # a run still going at the deadline fails its test
                poll(all_ended, "every run against a hostile server to end", RUN_TIMEOUT_S)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
    results = {}
    for mode, proc in procs.items():
        folder = base / mode
        summary_path = folder / "results" / "summary.json"
        results[mode] = Run(
            mode,
            proc.returncode if mode in ended else None,
            (folder / "stderr.log").read_text(encoding="utf-8", errors="replace"),
            json.loads(summary_path.read_text()) if summary_path.exists() else {},
            ended.get(mode, time.monotonic()) - started[mode],
        )
    return results


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("mode", "category"), CASES, ids=[c[0] for c in CASES])
def test_misbehaviour_is_counted_in_its_category(
    mode: str, category: str, runs: dict[str, Run]
) -> None:
    """The generator survives the server, counts the failure in its category and leaks nothing."""
    run = runs[mode]
    assert run.code in (0, 1), run.stderr[-3000:]  # a verdict, never a crash
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    summary = run.summary
    assert summary["failures"].get(category, 0) >= 1, summary["failures"]
    assert summary["state"] == "finished"
    before, after = summary["process"]["before"], summary["process"]["after"]
    assert after["sockets"] <= before["sockets"], summary["process"]
    assert after["greenlets"] <= before["greenlets"] + 2, summary["process"]
    assert run.took_s < RUN_LIMIT_S * SCALE


NAMES_CONFIG = """
charge_points:
  heartbeat_interval_s: 0.05
  call_timeout_s: 2
stages:
  - {users: 10, spawn_rate: 10, duration: 8s}
thresholds: {min_success_rate: null, min_boot_rate: null, max_connect_p95_ms: null}
"""


@pytest.mark.timeout(120)
def test_random_action_names_and_error_codes_keep_the_stats_bounded(tmp_path: Path) -> None:
    """500 distinct unknown actions from the server and hundreds of distinct CALLERROR
    codes land in a handful of stats rows and failure kinds, not one per name."""
    config = tmp_path / "names.yaml"
    config.write_text(NAMES_CONFIG, encoding="utf-8")
    results = tmp_path / "results"
    with hostile("random_names") as port:
        csv_prefix = str(results / "locust")
        done = run_standalone(config, f"ws://127.0.0.1:{port}/ocpp", results, "--csv", csv_prefix)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    summary = json.loads((results / "summary.json").read_text())
    assert summary["server_calls"]["(unknown action)"]["count"] >= 10 * 500
    assert len(summary["server_calls"]) <= 2, summary["server_calls"].keys()
    assert summary["failures"].get("call_error", 0) >= 500, summary["failures"]
    with (results / "locust_failures.csv").open(encoding="utf-8") as handle:
        failure_rows = list(csv.DictReader(handle))
    assert len(failure_rows) <= 20, [r["Error"] for r in failure_rows]
    answered = sum(int(r["Occurrences"]) for r in failure_rows if r["Method"] == "OCPP")
    assert answered >= 500  # CALLERRORs, each with a code of its own
    assert not any("Err" in r["Error"] or "Act" in r["Name"] for r in failure_rows)
    with (results / "locust_stats.csv").open(encoding="utf-8") as handle:
        stats_rows = list(csv.DictReader(handle))
    assert len(stats_rows) <= 12, [r["Name"] for r in stats_rows]
