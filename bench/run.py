"""``make bench``: CPU and memory per charge point, naive Locust script versus loadgen.

Starts one reference gateway (port 0), then runs the same fleet twice against it, each
time as a Locust master with one worker process (``--processes 1``): first
``bench/naive_locustfile.py``, then loadgen's own locustfile. For each it samples the
worker process and the gateway's counters until every charge point has connected,
booted and sent its first Heartbeat, and reports:

* CPU ms per booted charge point: worker CPU time (``/proc/<pid>/stat``) from just
  before the first connection until the last first Heartbeat, divided by the chargers;
* KB per held connection: worker RSS at that plateau minus RSS before the first
  connection, divided by the connections;
* connections per second: chargers / (last connection - first connection).

Both runs use the same count, spawn rate and heartbeat interval (longer than the ramp,
so every charger sends exactly one Heartbeat inside the window). With ``--repeat N``
(3 by default) the two variants alternate N times against the same gateway, and the
verdict uses each variant's median: one run of either varies by about 10% here.

Then it measures a worker's memory at a fast spawn (:mod:`bench.spawn_memory`: the real
``loadgen run --workers 1``, 5,000 chargers at 2,000/s against 1, peak ``VmHWM``), KB per
charger, target <= 5. Exit 1 when any target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import spawn_memory
from bench.common import ROOT, Gateway, Sample, children, machine, sample, stop
from loadgen.run.cli import free_port

POLL_S = 0.05
#: loadgen must use at most 1/CPU_RATIO of the naive script's CPU per charger
CPU_RATIO = 6


def locust_cmd(variant: str, url: str, n: int, rate: float, heartbeat_s: int, work: Path):
    """The Locust command line of one variant, and its environment additions."""
    limit_s = math.ceil(n / rate) + heartbeat_s + 120
    port = str(free_port())  # not Locust's 5557: two benches (or a run) may share the host
    common = [
        *("--headless", "--processes", "1", "--master-bind-port", port, "--master-port", port),
        *("--host", url, "--loglevel", "WARNING"),
    ]
    if variant == "naive":
        file = str(ROOT / "bench" / "naive_locustfile.py")
        return [
            *("-f", file, *common, "-u", str(n), "-r", str(rate)),
            *("-t", f"{limit_s}s", "--only-summary"),
        ], {"BENCH_HEARTBEAT_S": str(heartbeat_s)}
    config = work / "bench-loadgen.yaml"
    config.write_text(
        "target: embedded\n"
        'ocpp_version: "1.6"\n'
        "charge_points: {id_prefix: BENCH-}\n"
        f"stages: [{{users: {n}, spawn_rate: {rate}, duration: {limit_s}s}}]\n"
    )
    file = str(ROOT / "loadgen" / "run" / "locustfile.py")
    return [
        *("-f", file, *common, "--loadgen-config", str(config)),
        *("--loadgen-results", str(work / "loadgen-results"), "--only-summary"),
    ], {}


def measure(
    variant: str, gateway: Gateway, n: int, rate: float, heartbeat_s: int, work: Path
) -> dict[str, Any]:
    """Run one variant until every charger sent its first Heartbeat; its figures."""

    args, env = locust_cmd(variant, gateway.url, n, rate, heartbeat_s, work)
    before = gateway.status()
    beats0 = before["messages"].get("Heartbeat", 0)
    log = open(work / f"{variant}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, **env},
    )
    deadline = time.monotonic() + math.ceil(n / rate) + heartbeat_s + 90
    worker: int | None = None
    base: Sample | None = None
    first_connect = all_connected = all_booted = None
    end: Sample | None = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(POLL_S)
            if worker is None:
                forks = children(proc.pid)
                worker = forks[0] if forks else None
                continue
            now = sample(worker)
            status = gateway.status()
            if now is None:
                break
            connected = status["connected"]
            if first_connect is None:
                if connected == 0:
                    base = now
                    continue
                first_connect = now.at
            if all_connected is None and connected >= n:
                all_connected = time.monotonic()
            if all_booted is None and status["booted"] >= n:
                all_booted = time.monotonic()
            beats = status["messages"].get("Heartbeat", 0) - beats0
            if all_booted is not None and beats >= n:
                end = sample(worker)
                break
    finally:
        stop(proc)
        log.close()
    if base is None or end is None or first_connect is None or all_connected is None:
        status = gateway.status()
        tail = Path(log.name).read_text(errors="replace").splitlines()[-15:]
        raise SystemExit(
            f"bench: {variant} did not reach {n} heartbeats (gateway: "
            f"{status['connected']} connected, {status['booted']} booted, "
            f"{status['messages'].get('Heartbeat', 0) - beats0} heartbeats); the end of "
            "its log:\n" + "\n".join(tail)
        )
    wait_disconnected(gateway)
    return {
        "variant": variant,
        "chargers": n,
        "cpu_ms_per_charger": (end.cpu_s - base.cpu_s) * 1000 / n,
        "sys_ms_per_charger": (end.sys_s - base.sys_s) * 1000 / n,
        "kb_per_connection": (end.rss_kb - base.rss_kb) / n,
        "connections_per_s": n / max(all_connected - first_connect, 1e-3),
        "worker_rss_mb": end.rss_kb / 1024,
        "ramp_s": all_connected - first_connect,
    }


def wait_disconnected(gateway: Gateway, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while gateway.status()["connected"] and time.monotonic() < deadline:
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--chargers", type=int, default=3000)
    parser.add_argument("--spawn-rate", type=float, default=300)
    parser.add_argument(
        "--only",
        choices=("naive", "loadgen", "spawn"),
        help="run one variant, or only the worker memory at a fast spawn",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each variant, alternating (median)"
    )
    parser.add_argument(
        "--spawn-repeat", type=int, default=2, help="pairs of fast-spawn runs (median)"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.spawn_repeat < 1:
        parser.error("--repeat, --spawn-repeat: at least 1")
    n, rate = args.chargers, args.spawn_rate
    heartbeat_s = math.ceil(n / rate) + 10
    variants = [] if args.only == "spawn" else [args.only] if args.only else ["naive", "loadgen"]
    runs: list[dict[str, Any]] = []
    spawn: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="loadgen-bench-") as tmp:
        work = Path(tmp)
        if variants:
            gateway = Gateway(work / "gateway.log", "--heartbeat-interval-s", str(heartbeat_s))
            try:
                for round_ in range(args.repeat):
                    for variant in variants:
                        run = measure(variant, gateway, n, rate, heartbeat_s, work)
                        run["round"] = round_ + 1
                        runs.append(run)
                        print(one_line(run), flush=True)
            finally:
                gateway.close()
        if args.only in (None, "spawn"):
            spawn = spawn_memory.measure(work, repeat=args.spawn_repeat)
    results = [median_run([r for r in runs if r["variant"] == v]) for v in variants]
    if results:
        print(report(results, n, rate, heartbeat_s))
    if spawn is not None:
        print(spawn_memory.summary_line(spawn))
    if args.json:
        document = {"machine": machine(), "runs": runs, "medians": results, "spawn": spawn}
        Path(args.json).write_text(json.dumps(document, indent=2))
    verdicts = []
    if len(results) == 2:
        naive, ours = results
        cpu_ok = naive["cpu_ms_per_charger"] >= CPU_RATIO * ours["cpu_ms_per_charger"]
        mem_ok = naive["kb_per_connection"] >= 1.5 * ours["kb_per_connection"]
        verdicts += [(f"CPU >= {CPU_RATIO}x", cpu_ok), ("memory >= 1.5x", mem_ok)]
    if spawn is not None:
        limit = f"worker memory at a fast spawn <= {spawn_memory.TARGET_KB:g} KB"
        verdicts.append((limit, spawn_memory.target_met(spawn)))
    if not verdicts:
        return 0
    code = 0 if all(ok for _, ok in verdicts) else 1
    said = "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in verdicts)
    print(f"targets: {said} (exit {code})")
    return code


FIGURES = ("cpu_ms_per_charger", "sys_ms_per_charger", "kb_per_connection", "connections_per_s")


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One variant's runs summed up: the median of each figure."""
    middle = dict(runs[0])
    for key in (*FIGURES, "worker_rss_mb", "ramp_s"):
        middle[key] = statistics.median(r[key] for r in runs)
    middle["runs"] = len(runs)
    return middle


def one_line(run: dict[str, Any]) -> str:
    return (
        f"  round {run['round']} {run['variant']:8} CPU {run['cpu_ms_per_charger']:.3f} ms "
        f"(kernel {run['sys_ms_per_charger']:.3f}), {run['kb_per_connection']:.1f} KB, "
        f"{run['connections_per_s']:.0f} conn/s"
    )


def report(results: list[dict[str, Any]], n: int, rate: float, heartbeat_s: int) -> str:
    info = machine()
    lines = [
        f"bench: {n:,} charge points at {rate:g}/s, heartbeat every {heartbeat_s}s, one "
        f"worker process, median of {results[0].get('runs', 1)} runs each; "
        f"{info['nproc']} cores, {info['memory_gib']} GiB, Linux "
        f"{info['kernel']}, Python {info['python']}",
        f"{'':10}{'CPU ms/charger':>16}{'(kernel)':>10}{'KB/connection':>16}{'conn/s':>10}"
        f"{'worker RSS MB':>15}",
    ]
    for r in results:
        lines.append(
            f"{r['variant']:10}{r['cpu_ms_per_charger']:16.3f}{r['sys_ms_per_charger']:10.3f}"
            f"{r['kb_per_connection']:16.1f}"
            f"{r['connections_per_s']:10.0f}{r['worker_rss_mb']:15.0f}"
        )
    if len(results) == 2:
        naive, ours = results
        lines.append(
            f"{'ratio':10}{naive['cpu_ms_per_charger'] / ours['cpu_ms_per_charger']:15.1f}x{'':10}"
            f"{naive['kb_per_connection'] / ours['kb_per_connection']:15.1f}x"
            f"{ours['connections_per_s'] / naive['connections_per_s']:9.1f}x"
            "   (naive / loadgen; conn/s loadgen / naive)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
