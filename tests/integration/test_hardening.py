"""Hardening, as a user meets it: hostile files, secrets in results, a failed final write,
interrupted start-ups and a killed `loadgen run`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.support import ROOT, SCALE, free_port, poll

pytestmark = pytest.mark.integration


def loadgen(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """``loadgen ARGS`` in a subprocess, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "loadgen", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s * SCALE,
    )


def alias_bomb() -> str:
    """A few hundred bytes of nested YAML aliases that expand to half a million strings."""
    anchors = ["&a0 [l, l, l, l, l, l, l, l, l]"]
    for n in range(1, 6):
        anchors.append(f"&a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
    return f"stages:\n  - {{users: [{', '.join(anchors)}], spawn_rate: 1, duration: 1}}\n"


HOSTILE_CONFIGS = {
    "alias_bomb": alias_bomb(),
    "huge_users": "stages: [{users: " + "9" * 400 + ", spawn_rate: 1, duration: 1}]\n",
    "too_many_users": "stages: [{users: 1000000000000000, spawn_rate: 1, duration: 1}]\n",
    "binary": "stages: \udcff\n",
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(HOSTILE_CONFIGS))
def test_hostile_configs_exit_2_with_a_short_message(tmp_path: Path, name: str) -> None:
    """`loadgen run` on a hostile config exits 2 with one short line and no traceback."""
    config = tmp_path / f"{name}.yaml"
    config.write_bytes(HOSTILE_CONFIGS[name].encode("utf-8", "surrogateescape"))
    done = loadgen("run", str(config), "--results", str(tmp_path / "results"))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert len(done.stderr) < 600, done.stderr[:2000]
    assert done.stderr.startswith("loadgen: ")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "content", [b"CP-1," + b"p" * 200_000 + b"\n", b"CP-1,pw\nCP-\xff\xfe\n"], ids=["long", "bytes"]
)
def test_hostile_ids_files_exit_2_with_a_short_message(tmp_path: Path, content: bytes) -> None:
    """`loadgen run` with a hostile ids file exits 2 naming the ids file, no traceback."""
    ids = tmp_path / "ids.csv"
    ids.write_bytes(content)
    config = tmp_path / "ids.yaml"
    config.write_text(
        f"charge_points: {{ids_file: {str(ids)!r}}}\n"
        "stages: [{users: 1, spawn_rate: 1, duration: 1}]\n",
        encoding="utf-8",
    )
    done = loadgen("run", str(config), "--results", str(tmp_path / "results"))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "charge_points.ids_file: line" in done.stderr
    assert len(done.stderr) < 600, done.stderr[:2000]


@pytest.mark.timeout(120)
def test_an_escaped_redis_password_is_masked_in_the_results(tmp_path: Path) -> None:
    """A Redis password written with YAML escapes never reaches config.yaml or any result."""
    secret = "s3cret-pw-9c1e"
    escaped = "s3cr\\x65t-pw-9c1e"  # YAML's double-quoted escape of the same password
    config = tmp_path / "masked.yaml"
    config.write_text(
        f"target: ws://127.0.0.1:{free_port()}/ocpp\n"
        f'redis: {{url: "redis://:{escaped}@127.0.0.1:{free_port()}/0", sample: 1}}\n'
        "charge_points: {connect_timeout_s: 1}\n"
        "stages: [{users: 1, spawn_rate: 1, duration: 2s}]\n",
        encoding="utf-8",
    )
    results = tmp_path / "results"
    done = loadgen("run", str(config), "--workers", "1", "--results", str(results))
    assert done.returncode in (0, 1), done.stderr[-3000:]
    copied = (results / "config.yaml").read_text(encoding="utf-8")
    assert "redis://:***@127.0.0.1" in copied
    for path in results.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert secret not in text and escaped not in text, path
    assert secret not in done.stdout + done.stderr


PASSING = """
target: embedded
charge_points: {heartbeat_interval_s: 1}
stages: [{users: 5, spawn_rate: 5, duration: 8s}]
thresholds: {max_failures: {"*": 0}}
"""


@pytest.mark.timeout(120)
def test_a_failed_final_write_exits_2_and_says_why(tmp_path: Path) -> None:
    """When the final summary cannot be written, the run exits 2 naming the folder, never
    with the verdict of the summary written while it ran."""
    config = tmp_path / "passing.yaml"
    config.write_text(PASSING, encoding="utf-8")
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadgen", "run", str(config), "--workers", "1"]
        + ["--results", str(results)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        summary = results / "summary.json"
        poll(lambda: summary.exists(), "the summary written while the run goes", 30)
        assert json.loads(summary.read_text())["state"] == "running"
        # From now on every write of summary.json fails (EISDIR), as on a full disk.
        (results / "summary.json.tmp").mkdir()
        out, err = proc.communicate(timeout=90 * SCALE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, out + err
    assert "could not write the final results" in err
    assert "Traceback" not in err
    assert "PASSED" not in out


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def end_all(pids: list[int]) -> None:
    """SIGKILL whatever of ``pids`` a failed test left running (descendants of the test)."""
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


EMBEDDED = """
target: embedded
stages: [{users: 5, spawn_rate: 5, duration: 120s}]
"""


@pytest.mark.timeout(90)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_the_gateway_starts_leaves_no_gateway(tmp_path: Path, sig: int) -> None:
    """SIGTERM or SIGINT to `loadgen run` while its gateway starts ends the gateway too."""
    config = tmp_path / "embedded.yaml"
    config.write_text(EMBEDDED, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadgen", "run", str(config), "--workers", "1"]
        + ["--results", str(tmp_path / "results")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started: list[int] = []
    try:
        # The first child is the gateway; signal as soon as it exists, mid start-up.
        started = poll(lambda: children(proc.pid), "the embedded gateway's process", 30)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30 * SCALE)
        assert "Traceback" not in err
        poll(lambda: not any(alive(pid) for pid in started), "the gateway to end", 20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        end_all(started)


@pytest.mark.timeout(120)
def test_a_killed_loadgen_run_takes_its_children_with_it(tmp_path: Path) -> None:
    """SIGKILL to `loadgen run` ends its gateway, its Locust master and the workers."""
    config = tmp_path / "embedded.yaml"
    config.write_text(EMBEDDED, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadgen", "run", str(config), "--workers", "2"]
        + ["--results", str(tmp_path / "results")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    family: list[int] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded by the test's timeout
            if line.startswith("["):  # a progress line: the run is under way
                break
        family = children(proc.pid)
        family += [pid for child in family for pid in children(child)]
        assert len(family) >= 4, family  # gateway, master, two workers
        proc.kill()
        proc.wait(timeout=10)
        poll(lambda: not any(alive(pid) for pid in family), "every child to end", 45)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        end_all(family)
