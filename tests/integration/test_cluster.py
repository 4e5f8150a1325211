"""Many hosts through loadgen itself: `loadgen run --master` and `loadgen worker`.

The master and two workers live in network namespaces made by the test (see
test_netns.py), the workers without any config file: they run the master's. The results
folder and verdict must be those of a one-host run of the same config, and `loadgen
report` must rebuild them. A worker that cannot run the config (a file missing on its
host: a mount namespace hides it) stops the run with its reason on the master's
terminal. Needs root; skipped only where the kernel refuses namespaces.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.support import ROOT, SCALE, free_port
from tests.integration.test_netns import MASTER_ADDRESS, Hosts, hosts  # noqa: F401 - fixture

pytestmark = pytest.mark.integration
USERS = 40
CONFIG = f"""
target: embedded
charge_points: {{id_prefix: MH-, heartbeat_interval_s: 2}}
stages:
  - {{users: 20, spawn_rate: 20, duration: 3s}}
  - {{users: {USERS}, spawn_rate: 20, duration: 5s}}
thresholds:
  min_success_rate: 1.0
  max_connect_p95_ms: 5000
  max_call_p95_ms: {{BootNotification: 5000, Heartbeat: 5000}}
  max_failures: {{"*": 0}}
"""


def loadgen(*args: str, timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadgen", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s * SCALE,
    )


def essentials(summary: dict) -> dict:
    """What two runs of one config must share, whatever their timing."""
    conn = summary["connections"]
    return {
        "verdict": summary["thresholds"]["passed"],
        "checks": [(c["name"], c["passed"]) for c in summary["thresholds"]["checks"]],
        "workers": summary["workers"],
        "connections": (conn["attempted"], conn["established"], conn["failed"], conn["booted"]),
        "stages": [(s["users"], s["reached"]) for s in summary["stages"]],
        "failures": summary["failures"],
        "messages": sorted(summary["messages"]),
        "state": summary["state"],
    }


@pytest.mark.timeout(240)
def test_master_and_workers_on_other_hosts_give_a_one_host_runs_results(
    hosts: Hosts,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """A master with two remote workers ends with the results folder and verdict of a
    one-host run, and `loadgen report` rebuilds them from the folder."""
    config = tmp_path / "many.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    one = tmp_path / "one"
    # The one-host run goes alongside the many-host one (its own gateway, master port and
    # workers on this host's loopback; the others live in the namespaces).
    with open(tmp_path / "local.out", "wb") as log:
        local = subprocess.Popen(
            [sys.executable, "-m", "loadgen", "run", str(config), "--workers", "2"]
            + ["--results", str(one)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        many_hosts_run(hosts, tmp_path, config)
        local_code = local.wait(timeout=90 * SCALE)
    finally:
        if local.poll() is None:
            local.kill()
            local.wait(timeout=30)
    local_out = (tmp_path / "local.out").read_text(errors="replace")
    assert local_code == 0, local_out[-3000:]

    many = tmp_path / "many"
    out = (tmp_path / "master.out").read_text(errors="replace")
    assert "PASSED" in out and "2 remote workers" in out

    expected = {p.name for p in one.iterdir()}
    assert {p.name for p in many.iterdir()} == expected
    summary = json.loads((many / "summary.json").read_text())
    assert essentials(summary) == essentials(json.loads((one / "summary.json").read_text()))
    assert summary["connections"]["established"] == USERS and summary["workers"] == 2
    assert summary["versions"]["loadgen"] and summary["host"]["name"]

    rebuilt = loadgen("report", str(many))
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    again = json.loads((many / "summary.json").read_text())
    assert essentials(again) == essentials(summary)
    assert again["messages"] == summary["messages"]
    assert again["thresholds"] == summary["thresholds"]


def many_hosts_run(hosts: Hosts, tmp_path: Path, config: Path) -> None:  # noqa: F811
    """`loadgen run --master` in the master's namespace and `loadgen worker` in each
    worker's, to the run's end: exit 0 (else the master's output fails the test)."""
    many = tmp_path / "many"
    master_log = hosts.log(tmp_path / "master.out")
    master = hosts.spawn(
        hosts.master,
        *(sys.executable, "-m", "loadgen", "run", str(config), "--master"),
        *("--expect-workers", "2", "--bind", MASTER_ADDRESS, "--master-port", "5557"),
        *("--results", str(many), "--wait-workers", "60s"),
        stdout=master_log,
        stderr=subprocess.STDOUT,
    )
    for i, ns in enumerate(hosts.workers):
        hosts.spawn(  # no config on the worker's command line: it runs the master's
            ns,
            *(sys.executable, "-m", "loadgen", "worker", "--master", MASTER_ADDRESS),
            *("--master-port", "5557", "--processes", "1"),
            stdout=hosts.log(tmp_path / f"worker{i}.out"),
            stderr=subprocess.STDOUT,
        )
    code = master.wait(timeout=120 * SCALE)
    out = (tmp_path / "master.out").read_text(errors="replace")
    assert code == 0, out[-3000:]


@pytest.mark.timeout(120)
def test_a_worker_that_cannot_run_the_config_stops_the_run_with_its_reason(
    tmp_path: Path,
) -> None:
    """The ids file missing on a worker's host: the master says so, names the worker, exit 2."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a mount namespace needs root and unshare (CI runs as root)")
    files = tmp_path / "files"
    files.mkdir()
    (files / "ids.csv").write_text("HID-1\nHID-2\nHID-3\n")
    config = files / "run.yaml"
    config.write_text(
        "target: embedded\ncharge_points: {ids_file: ids.csv}\n"
        "stages: [{users: 3, spawn_rate: 3, duration: 10s}]\n"
    )
    port = free_port()
    with open(tmp_path / "master.out", "wb") as log:
        master = subprocess.Popen(
            [sys.executable, "-m", "loadgen", "run", str(config), "--master"]
            + ["--expect-workers", "1", "--master-port", str(port), "--results"]
            + [str(tmp_path / "results"), "--wait-workers", "60s"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    # The worker's host has no such file: an empty tmpfs hides the folder.
    hide = f'mount -t tmpfs tmpfs {files} && exec "$@"'
    worker = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "sh"]
        + [sys.executable, "-m", "loadgen", "worker", "--master", "127.0.0.1"]
        + ["--master-port", str(port), "--processes", "1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        code = master.wait(timeout=60 * SCALE)
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
    out = (tmp_path / "master.out").read_text(errors="replace")
    assert code == 2, out[-3000:]
    assert "loadgen: worker 0 (" in out and "charge_points.ids_file: no file at" in out
    assert "Traceback" not in out
