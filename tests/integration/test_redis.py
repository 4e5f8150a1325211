"""The gateway's Redis registry and the generator's mapping probe, with a real redis-server.

Everything runs as real processes on loopback: redis-server (tests/integration/
redis_server.py), the reference gateway, and the load generator as Locust or
``loadgen run``. The seeds' failure (``redis: connection pool timeout`` at 13k chargers,
invisible to their test) is reproduced with a pool of 2 and seen as ``mapping_missing``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from tests.integration.conftest import GatewayProcess
from tests.integration.redis_server import SCALE, RedisServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GatewayFactory = Callable[..., GatewayProcess]


def wait_until(check: Callable[[], Any], *, timeout_s: float = 10.0, what: str) -> Any:
    """Poll ``check`` until it returns something truthy (returned); fail at the deadline."""
    deadline = time.monotonic() + timeout_s * SCALE
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s * SCALE:.0f} s waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def chargers(gateway: GatewayProcess, ids: list[str]) -> Iterator[dict[str, ClientConnection]]:
    """Open one OCPP 1.6 WebSocket per id; close what is still open on exit."""
    with contextlib.ExitStack() as stack:
        yield {
            cp: stack.enter_context(
                ws_connect(f"{gateway.url}/ocpp/{cp}", subprotocols=["ocpp1.6"], open_timeout=10)
            )
            for cp in ids
        }


def heartbeat(ws: ClientConnection) -> None:
    ws.send(json.dumps([2, "hb-1", "Heartbeat", {}]))
    assert json.loads(ws.recv(timeout=10))[0] == 3


def redis_status(gateway: GatewayProcess) -> dict[str, Any]:
    return gateway.status()["redis"]


def keys(server: RedisServer, pattern: str) -> dict[str, str]:
    with contextlib.closing(server.client()) as client:
        return {k: client.get(k) for k in client.scan_iter(pattern)}


def keys_if(server: RedisServer, pattern: str, count: int) -> dict[str, str] | None:
    """The keys matching ``pattern`` (with values) when there are ``count`` of them."""
    found = keys(server, pattern)
    return found if len(found) == count else None


# -- the gateway writes and removes mappings ------------------------------------------------


@pytest.mark.timeout(60)
def test_mappings_follow_chargers_as_they_come_and_go(
    gateway_factory: GatewayFactory, redis_server: RedisServer
) -> None:
    """Each connected charger maps to the gateway in Redis with a TTL a Heartbeat refreshes;
    a disconnect deletes it."""
    gateway = gateway_factory(redis_url=redis_server.url, redis_ttl_s=30)
    instance = f"{socket.gethostname()}:{gateway.pid}"
    ids = [f"RT-{n:03d}" for n in range(20)]
    with chargers(gateway, ids) as open_ws:
        mapped = wait_until(
            lambda: keys_if(redis_server, "ocpp:cp:RT-*", 20),
            what="20 mappings",
        )
        assert set(mapped.values()) == {instance}
        with contextlib.closing(redis_server.client()) as client:
            assert 0 < client.ttl("ocpp:cp:RT-000") <= 30
            client.expire("ocpp:cp:RT-000", 3)
            heartbeat(open_ws["RT-000"])
            wait_until(lambda: client.ttl("ocpp:cp:RT-000") > 3, what="the TTL refreshed")
        for cp in ids[:10]:
            open_ws[cp].close()
        left = wait_until(
            lambda: keys_if(redis_server, "ocpp:cp:RT-*", 10),
            what="10 mappings deleted",
        )
        assert sorted(left) == [f"ocpp:cp:{cp}" for cp in ids[10:]]
        counts = redis_status(gateway)
    assert counts["set"] == 20 and counts["refreshed"] == 1
    assert counts["pool_timeouts"] == counts["errors"] == 0
    assert counts["url"] == f"redis://:***@127.0.0.1:{redis_server.port}/0"
    gateway.stop()
    assert keys(redis_server, "ocpp:cp:RT-*") == {}
    log = gateway.stderr()
    assert "Redis registry at redis://:***@" in log and redis_server.password not in log


@pytest.mark.timeout(60)
def test_disconnect_leaves_a_mapping_that_names_another_instance(
    gateway_factory: GatewayFactory, redis_server: RedisServer
) -> None:
    """A charger that reconnected elsewhere keeps its new mapping when the old one goes."""
    gateway = gateway_factory(redis_url=redis_server.url)
    with chargers(gateway, ["MOVED-1"]) as open_ws:
        wait_until(lambda: keys(redis_server, "ocpp:cp:MOVED-1"), what="the mapping")
        with contextlib.closing(redis_server.client()) as client:
            client.set("ocpp:cp:MOVED-1", "other-gateway:1")
        open_ws["MOVED-1"].close()
        wait_until(lambda: redis_status(gateway)["not_owned"] == 1, what="the delete")
    assert keys(redis_server, "ocpp:cp:MOVED-1") == {"ocpp:cp:MOVED-1": "other-gateway:1"}


@pytest.mark.timeout(60)
def test_a_replaced_connection_keeps_the_mapping(
    gateway_factory: GatewayFactory, redis_server: RedisServer
) -> None:
    """When a charger reconnects to the same gateway, closing the old connection deletes
    nothing."""
    gateway = gateway_factory(redis_url=redis_server.url)
    with chargers(gateway, ["TWICE-1"]) as first:
        wait_until(lambda: redis_status(gateway)["set"] == 1, what="the first mapping")
        with chargers(gateway, ["TWICE-1"]):
            with pytest.raises(ConnectionClosed):
                first["TWICE-1"].recv(timeout=10)  # replaced: the gateway closes it
            wait_until(
                lambda: (s := redis_status(gateway))["set"] == 2 and s["inflight"] == 0,
                what="the second mapping",
            )
            assert gateway.status()["connected"] == 1
            assert redis_status(gateway)["deleted"] == 0
            assert keys(redis_server, "ocpp:cp:TWICE-1")


@pytest.mark.timeout(60)
def test_worker_processes_map_to_themselves_and_keep_the_password_out_of_argv(
    gateway_factory: GatewayFactory, redis_server: RedisServer
) -> None:
    """With --processes 2 each worker maps its chargers to itself; the URL reaches it by
    environment, not in its command line."""
    gateway = gateway_factory(redis_url=redis_server.url, processes=2)
    ids = [f"MP-{n:02d}" for n in range(16)]
    with chargers(gateway, ids):
        mapped = wait_until(
            lambda: keys_if(redis_server, "ocpp:cp:MP-*", 16),
            what="16 mappings",
        )
    owners = {value.rpartition(":")[2] for value in mapped.values()}
    assert str(gateway.pid) not in owners
    for pid in owners:
        with contextlib.suppress(FileNotFoundError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert b"--worker" in cmdline and redis_server.password.encode() not in cmdline


@pytest.mark.timeout(60)
def test_refuse_closes_the_websocket_with_the_reason(gateway_factory: GatewayFactory) -> None:
    """With --on-redis-error refuse, a charger whose mapping cannot be stored is closed
    with code 1013 and a reason naming Redis."""
    with socket.socket() as sock:  # a port where nothing listens: Redis is down
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    gateway = gateway_factory(
        redis_url=f"redis://127.0.0.1:{dead}/0",
        redis_max_retries=0,
        on_redis_error="refuse",
    )
    with chargers(gateway, ["REFUSED-1"]) as open_ws:
        with pytest.raises(ConnectionClosed) as closed:
            open_ws["REFUSED-1"].recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    assert "mapping not stored in Redis" in closed.value.rcvd.reason
    counts = redis_status(gateway)
    assert counts["refused"] == 1 and counts["errors"] >= 1 and counts["set"] == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--redis-url", "http://:s3cret@127.0.0.1:6379"], "--redis-url"),
        (
            ["--redis-url", "redis://127.0.0.1:6379/0", "--redis-pool-size", "0"],
            "--redis-pool-size",
        ),
        (["--redis-url", "redis://h:6379/0", "--redis-config", "BAD"], "pool_size"),
    ],
)
def test_bad_redis_input_exits_2_naming_the_flag(
    tmp_path: Path, argv: list[str], flag: str
) -> None:
    """Bad Redis flags or file: one paragraph naming the flag or field, exit 2, no traceback."""
    bad = tmp_path / "pool.yaml"
    bad.write_text("pool_size: lots\n", encoding="utf-8")
    argv = [str(bad) if a == "BAD" else a for a in argv]
    for processes in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-m", "loadgen", "gateway", "--port", "0", "--processes", processes]
            + argv,
            capture_output=True,
            text=True,
            timeout=30 * SCALE,
        )
        assert done.returncode == 2, done.stderr
        assert flag in done.stderr and "Traceback" not in done.stderr
        assert "s3cret" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


# -- the generator's probe --------------------------------------------------------------------


def write_config(path: Path, redis_url: str, stages: str, within_s: float = 2.0) -> Path:
    path.write_text(
        "target: embedded\n"
        "charge_points: {id_prefix: PR-, heartbeat_interval_s: 30}\n"
        f"stages:\n{stages}"
        f'redis: {{url: "{redis_url}", sample: 1.0, within_s: {within_s}}}\n'
        "thresholds: {max_failures: {mapping_missing: 0}}\n",
        encoding="utf-8",
    )
    return path


def locust(config: Path, target: str, results: Path) -> subprocess.Popen[str]:
    """The generator as Locust (standalone, headless) against ``target``."""
    results.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless"]
    argv += ["--host", target, "--loadgen-config", str(config)]
    argv += ["--loadgen-results", str(results), "--csv", str(results / "locust")]
    argv += ["--only-summary", "--loglevel", "INFO"]
    with open(results / "locust.stderr", "w") as stderr:
        return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr, text=True)


def finish(process: subprocess.Popen[str], timeout_s: float = 90) -> int:
    try:
        return process.wait(timeout=timeout_s * SCALE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def stats_rows(results: Path) -> dict[tuple[str, str], dict[str, str]]:
    """Locust's stats CSV by (type, name)."""
    return {(r["Type"], r["Name"]): r for r in csv_rows(results / "locust_stats.csv")}


def stats_row(results: Path, kind: str, name: str) -> dict[str, str]:
    return stats_rows(results)[(kind, name)]


def exists_calls(server: RedisServer) -> int:
    """EXISTS commands the server has run (the probe's checks; pipelined ones count each)."""
    with contextlib.closing(server.client()) as client:
        return int(client.info("commandstats").get("cmdstat_exists", {}).get("calls", 0))


def assert_no_secret(folder: Path, secret: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.timeout(120)
def test_pool_timeouts_show_as_mapping_missing(
    gateway_factory: GatewayFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    """The seeds' failure: a pool of 2 under a burst of chargers times out storing their
    mappings, and the generator reports each one it probes as mapping_missing."""
    gateway = gateway_factory(
        redis_url=redis_server.url, redis_pool_size=2, redis_pool_timeout="20ms"
    )
    config = write_config(
        tmp_path / "burst.yaml",
        redis_server.url,
        "  - {users: 300, spawn_rate: 300, duration: 5s}\n",
    )
    results = tmp_path / "results"
    code = finish(locust(config, f"{gateway.url}/ocpp", results))
    timeouts = redis_status(gateway)["pool_timeouts"]
    assert timeouts > 0
    missing = [
        r for r in csv_rows(results / "locust_failures.csv") if r["Error"] == "mapping_missing"
    ]
    assert [(r["Method"], r["Name"]) for r in missing] == [("redis", "mapping")]
    occurrences = int(missing[0]["Occurrences"])
    assert 0 < occurrences <= timeouts + redis_status(gateway)["errors"]
    log = (results / "locust.stderr").read_text()
    line = next(x for x in log.splitlines() if "redis probe: checked" in x)
    checked = int(line.split("checked ")[1].split()[0])
    unchecked = int(line.split("unchecked ")[1].split()[0])
    assert checked + unchecked == 300 and f"missing {occurrences})" in line, line
    assert int(stats_row(results, "redis", "mapping")["Request Count"]) == checked
    assert code == 1  # max_failures.mapping_missing: 0 is violated: the run fails
    summary = json.loads((results / "summary.json").read_text())
    assert summary["failures"]["mapping_missing"] == occurrences
    assert "connection pool timeout" in gateway.stderr()
    assert_no_secret(results, redis_server.password)


@pytest.mark.timeout(120)
def test_redis_killed_mid_run_leaves_the_load_going(
    gateway_factory: GatewayFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Redis killed mid-run: chargers stay connected, the run ends normally, and the probe
    counts what it could not check as unchecked, never as mapping_missing."""
    gateway = gateway_factory(redis_url=redis_server.url, redis_dial_timeout="200ms")
    stages = (
        "  - {users: 40, spawn_rate: 40, duration: 6s}\n"
        "  - {users: 80, spawn_rate: 40, duration: 8s}\n"
    )
    config = write_config(tmp_path / "kill.yaml", redis_server.url, stages, within_s=1.0)
    results = tmp_path / "results"
    run = locust(config, f"{gateway.url}/ocpp", results)
    try:
        wait_until(lambda: redis_status(gateway)["set"] >= 40, timeout_s=20, what="40 mappings")
        wait_until(lambda: exists_calls(redis_server) >= 40, timeout_s=20, what="40 probe checks")
        redis_server.kill()
        wait_until(lambda: gateway.status()["connected"] == 80, timeout_s=30, what="80 chargers")
        wait_until(lambda: redis_status(gateway)["errors"] > 0, what="failed Redis writes")
    finally:
        code = finish(run)
    assert code == 0, (results / "locust.stderr").read_text()[-3000:]
    connect = stats_row(results, "WS", "connect")
    assert (connect["Request Count"], connect["Failure Count"]) == ("80", "0")
    probe = stats_rows(results).get(("redis", "mapping"), {"Request Count": "0"})
    assert probe.get("Failure Count", "0") == "0"  # no mapping_missing for what was unchecked
    log = (results / "locust.stderr").read_text()
    line = next(x for x in log.splitlines() if "redis probe: checked" in x)
    unchecked = int(line.split("unchecked ")[1].split()[0])
    assert unchecked > 0 and int(probe["Request Count"]) + unchecked == 80, line
    summary = json.loads((results / "summary.json").read_text())
    said = summary["redis"]["probe"]
    assert (said["unchecked"], said["missing"]) == (unchecked, 0)  # the summary says it too
    assert summary["redis"]["server"]["failed_samples"] > 0  # INFO failed after the kill
    assert "cannot reach Redis at redis://:***@" in log
    assert_no_secret(results, redis_server.password)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_five_thousand_chargers_with_a_sane_pool_have_no_missing_mapping(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """loadgen run with the embedded gateway on Redis (go-redis' default pool of 10):
    5,000 chargers at 250/s, every mapping found within the default 5 s."""
    # the ramp takes 20 s; the rest leaves the last chargers time to be checked (a check
    # still waiting at the stop is unchecked, not counted)
    stages = "  - {users: 5000, spawn_rate: 250, duration: 30s}\n"
    config = write_config(tmp_path / "five-k.yaml", redis_server.url, stages, within_s=5)
    results = tmp_path / "results"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "loadgen", "run", str(config), "--workers", "2"]
        + ["--results", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=200 * SCALE,
    )
    took_s = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    probe = stats_row(results, "redis", "mapping")
    assert (probe["Request Count"], probe["Failure Count"]) == ("5000", "0")
    summary = json.loads((results / "summary.json").read_text())
    assert summary["connections"]["established"] == 5000
    assert "mapping_missing" not in summary["failures"]
    gateway_log = (results / "gateway.log").read_text()
    assert "Redis registry at redis://:***@" in gateway_log
    for name in ("gateway.log", "locust.log", "summary.json"):
        assert redis_server.password not in (results / name).read_text(), name
    print(f"5,000 chargers with the Redis probe: {took_s:.0f} s wall clock", file=sys.stderr)
