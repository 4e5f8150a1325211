"""A stranger on the master's port: its samples and stats never reach the verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.support import ROOT, SCALE, free_port

pytestmark = pytest.mark.integration

#: A process that speaks Locust's worker protocol without ever saying it is ready: it
#: sends loadgen's samples with a billion connections and Locust stats of a fake action.
FAKE = """
import sys, time
from locust.rpc import Message, zmqrpc
from locust.stats import RequestStats

port, node = int(sys.argv[1]), "fake-worker-1"
stats = RequestStats()
for _ in range(1000):
    stats.log_request("OCPP", "FakeAction", 5, 0)
client = zmqrpc.Client("127.0.0.1", port, node)
counters = {"attempted": 10**9, "established": 10**9, "connected": 10**9, "failed": 0}
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    client.send(Message("loadgen_counters", counters, node))
    report = {"stats": stats.serialize_stats(), "stats_total": stats.total.get_stripped_report(),
              "errors": {}, "user_classes_count": {}, "user_count": 0}
    client.send(Message("stats", report, node))
    client.send(Message("stats", {"stats": "not a list"}, "fake-worker-2"))
    time.sleep(0.2)
client.close()
"""

CONFIG = """
charge_points: {heartbeat_interval_s: 1}
stages: [{users: 3, spawn_rate: 3, duration: 8s}]
thresholds: {max_failures: {"*": 0}}
"""


@pytest.mark.timeout(120)
def test_a_fake_worker_cannot_change_the_verdict(tmp_path: Path, gateway) -> None:
    """Samples and stats from a node that never joined are ignored: the summary counts the
    real charge points only, and the run passes with exit 0."""
    config = tmp_path / "fake.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    results, port = tmp_path / "results", free_port()
    common = ["-f", str(ROOT / "locustfile.py"), "--loadgen-config", str(config)]
    master = subprocess.Popen(
        [sys.executable, "-m", "locust", *common, "--master", "--headless", "--only-summary"]
        + ["--expect-workers", "1", "--master-bind-host", "127.0.0.1"]
        + ["--master-bind-port", str(port), "--host", gateway.url + "/ocpp"]
        + ["--loadgen-results", str(results)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "locust", *common, "--worker", "--master-port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    fake = subprocess.Popen([sys.executable, "-c", FAKE, str(port), "10"], cwd=ROOT)
    try:
        _, err = master.communicate(timeout=90 * SCALE)
        fake.wait(timeout=30 * SCALE)
        worker.wait(timeout=30 * SCALE)
    finally:
        for proc in (fake, worker, master):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    summary = json.loads((results / "summary.json").read_text())
    assert summary["connections"]["established"] == 3, summary["connections"]
    assert "FakeAction" not in summary["messages"]
    assert master.returncode == 0, err[-3000:]
    assert "fake-worker-1" in err  # said once that its samples were ignored
