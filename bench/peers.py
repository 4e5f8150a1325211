"""``make bench-peers``: loadgen against Tsung, the strongest non-Python WebSocket peer.

One reference gateway (pinned to core 1) serves, one after the other, the same OCPP
workload from each generator (pinned to core 0):

* ``tsung``: Tsung 1.7 (Erlang, plugin ``ts_websocket``) as Debian ships it, from an XML
  config written by :mod:`bench.tsung`; ``tsung-nospin``: the same with the Erlang
  schedulers' busy-wait off (``--generators``; measured no better, see the docs);
* ``loadgen``: loadgen's locustfile as ONE standalone Locust process (no ``--processes``);
* ``naive`` (``--naive``, for reference): ``bench/naive_locustfile.py`` standalone.

The workload: N chargers (5,000 by default) arriving at 2,000/s; each opens
``ws://127.0.0.1:PORT/ocpp/<unique id>`` with subprotocol ``ocpp1.6``, sends a
BootNotification and waits for its answer, then the two StatusNotifications a 1.6 charger
sends after an Accepted boot (connector 0, then connector 1: errata 3.22), each answered
before the next, then a Heartbeat every 30 s (answer awaited), holding the connection.

The window of one run opens with the last sample before the gateway saw the first
connection and closes when the gateway has every charger connected and booted and has
counted 2N StatusNotifications and N Heartbeats from this run: the ramp, the two start
exchanges, 30 s of holding and one Heartbeat round. Per generator:

* CPU ms per charger: utime+stime of the generator's whole process tree (``/proc``; for
  Tsung the Erlang VM ``beam.smp`` and its port programs, with reaped children's time)
  over the window, divided by N;
* KB per held connection: the tree's RSS at the end of the window minus its RSS at the
  start, divided by N;
* connections per second: N / (all connected - first connected);
* the gateway's CPU per charger in the same window (near 1 ms per ms of the window, the
  gateway was the bottleneck and set the ramp).

Runs alternate between the generators ``--repeat`` times (3 by default) and each figure
is the median: a single run moves by up to 15 % on this 2-core machine. The verdict is
loadgen's CPU per charger over Tsung's: the target is <= 0.5 (exit 1 when missed).
Tsung writes its logs to a temporary folder, and runs with its own ``epmd`` on a free
loopback port; every process started here is ended by its PID.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ROOT, TICKS_PER_S, Gateway, descendants, machine, stop
from bench.tsung import NO_SPIN, TsungRun, ensure_tsung

GENERATOR_CPUS = "0"  # taskset -c: the generator under test
GATEWAY_CPUS = "1"  # and the gateway, so the two do not fight for a core
POLL_S = 0.05
TARGET_RATIO = 0.5  # loadgen CPU per charger / Tsung's
GENERATORS = ("tsung", "loadgen", "naive", "tsung-nospin")


@dataclass(frozen=True)
class Workload:
    """What every generator does: ``chargers`` arriving at ``rate`` per second."""

    chargers: int
    rate: float
    heartbeat_s: int = 30

    @property
    def deadline_s(self) -> float:
        """How long one run may take to reach its last Heartbeat, start included."""
        return 3 * math.ceil(self.chargers / self.rate) + self.heartbeat_s + 90


@dataclass(frozen=True)
class TreeSample:
    """CPU seconds and resident memory of a process and everything below it."""

    at: float  # monotonic seconds
    cpu_s: float  # utime+stime of the live processes plus the children they reaped
    rss_kb: int
    pids: tuple[int, ...]


def tree_sample(root: int) -> TreeSample | None:
    """CPU and RSS of ``root`` and its descendants now, or None when ``root`` is gone."""
    ticks, rss_kb, seen = 0, 0, []
    for pid in [root, *descendants(root)]:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/statm", encoding="ascii") as handle:
                resident_pages = int(handle.read().split()[1])
        except (OSError, IndexError, ValueError):
            if pid == root:
                return None
            continue  # a child that ended meanwhile: its parent's cutime has it soon
        # utime, stime, cutime, cstime: fields 14-17 of proc(5), 11-14 after the ")"
        ticks += sum(int(f) for f in fields[11:15])
        rss_kb += resident_pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
        seen.append(pid)
    return TreeSample(time.monotonic(), ticks / TICKS_PER_S, rss_kb, tuple(seen))


# -- Locust (loadgen and the naive script) -------------------------------------------


class LocustRun:
    """One standalone Locust process on core 0: loadgen's locustfile or the naive one."""

    def __init__(self, name: str, gateway: Gateway, load: Workload, work: Path) -> None:
        self.name = name
        folder = work / f"{name}-{time.monotonic_ns()}"
        folder.mkdir()
        run_s = math.ceil(load.deadline_s) + 60
        common = ["--headless", "--host", gateway.url, "--loglevel", "WARNING"]
        env = dict(os.environ)
        if name == "loadgen":
            config = folder / "peers.yaml"
            config.write_text(
                "target: embedded  # overridden by --host\n"
                'ocpp_version: "1.6"\n'
                f"charge_points: {{id_prefix: PEER-, heartbeat_interval_s: {load.heartbeat_s}}}\n"
                f"stages: [{{users: {load.chargers}, spawn_rate: {load.rate:g}, "
                f"duration: {run_s}s}}]\n"
            )
            args = [
                *("-f", str(ROOT / "loadgen" / "run" / "locustfile.py"), *common),
                *("--loadgen-config", str(config), "--only-summary"),
                *("--loadgen-results", str(folder / "results")),
            ]
        else:
            env |= {"BENCH_HEARTBEAT_S": str(load.heartbeat_s)}
            args = [
                *("-f", str(ROOT / "bench" / "naive_locustfile.py"), *common),
                *("-u", str(load.chargers), "-r", f"{load.rate:g}", "-t", f"{run_s}s"),
                "--only-summary",
            ]
        self.log = folder / "locust.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["taskset", "-c", GENERATOR_CPUS, sys.executable, "-m", "locust", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=env,
            )

    def stop(self) -> None:
        stop(self.proc, timeout_s=30)


# -- one measurement -------------------------------------------------------------------


def measure(name: str, gateway: Gateway, load: Workload, work: Path) -> dict[str, Any]:
    """Run one generator through the window; its figures. Raises SystemExit on a miss."""
    wait_idle(gateway)
    before = gateway.status()["messages"]

    def counted(status: dict[str, Any], action: str) -> int:
        """Messages of ``action`` the gateway has counted since this run started."""
        return int(status["messages"].get(action, 0) - before.get(action, 0))

    n = load.chargers
    run: TsungRun | LocustRun
    if name.startswith("tsung"):
        run = TsungRun(
            *(gateway.port, n, load.rate, load.heartbeat_s, load.deadline_s),
            *(work, GENERATOR_CPUS, NO_SPIN if name == "tsung-nospin" else ""),
        )
    else:
        run = LocustRun(name, gateway, load, work)
    deadline = time.monotonic() + load.deadline_s
    base = started = end = gateway_base = gateway_end = None
    first_connect = all_connected = None
    status: dict[str, Any] = {}
    try:
        while time.monotonic() < deadline and run.proc.poll() is None:
            time.sleep(POLL_S)
            now = tree_sample(run.proc.pid)  # before the status: 0 connected *then*
            status = gateway.status()
            if now is None:
                break
            if first_connect is None:
                if status["connected"] == 0:
                    base, gateway_base = now, tree_sample(gateway.proc.pid)
                    continue
                first_connect = now.at
            if all_connected is None and status["connected"] >= n:
                all_connected = time.monotonic()
            if started is None and status["booted"] >= n:
                if counted(status, "StatusNotification") >= 2 * n:
                    started = now
            if started is not None and counted(status, "Heartbeat") >= n:
                end, gateway_end = tree_sample(run.proc.pid), tree_sample(gateway.proc.pid)
                break
    finally:
        run.stop()
    if None in (base, started, end, first_connect, all_connected, gateway_base, gateway_end):
        tail = run.log.read_text(errors="replace").splitlines()[-15:]
        raise SystemExit(
            f"bench-peers: {name} did not reach {n} Heartbeats in {load.deadline_s:.0f} s "
            f"(gateway: {status.get('connected')} connected, {status.get('booted')} booted, "
            f"{counted(status, 'Heartbeat') if status else 0} Heartbeats); the end of its "
            "log:\n" + "\n".join(tail)
        )
    assert base and started and end and first_connect and all_connected  # for mypy
    assert gateway_base and gateway_end
    return {
        "generator": name,
        "chargers": n,
        "cpu_ms_per_charger": (end.cpu_s - base.cpu_s) * 1000 / n,
        # the share of it up to every charger's StatusNotification, and the rest
        "start_ms_per_charger": (started.cpu_s - base.cpu_s) * 1000 / n,
        "hold_ms_per_charger": (end.cpu_s - started.cpu_s) * 1000 / n,
        "kb_per_connection": (end.rss_kb - base.rss_kb) / n,
        # the gateway's CPU in the same window: near 1 ms per ms of the window, it was the
        # bottleneck (then the ramp is the gateway's, not the generator's)
        "gateway_cpu_ms_per_charger": (gateway_end.cpu_s - gateway_base.cpu_s) * 1000 / n,
        "connections_per_s": n / max(all_connected - first_connect, 1e-3),
        "rss_mb": end.rss_kb / 1024,
        "window_s": end.at - base.at,
        "processes": len(end.pids),
    }


def wait_idle(gateway: Gateway, timeout_s: float = 60.0) -> None:
    """Wait until the gateway holds no connection (the previous run's are closed)."""
    deadline = time.monotonic() + timeout_s
    while gateway.status()["connected"] and time.monotonic() < deadline:
        time.sleep(0.2)
    if gateway.status()["connected"]:
        raise SystemExit("bench-peers: the previous run's connections are still open")


# -- report ----------------------------------------------------------------------------


FIGURES = (
    "cpu_ms_per_charger",
    "start_ms_per_charger",
    "hold_ms_per_charger",
    "kb_per_connection",
    "gateway_cpu_ms_per_charger",
    "connections_per_s",
    "rss_mb",
    "window_s",
)


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One generator's runs summed up: the median of each figure."""
    middle = dict(runs[0])
    for key in FIGURES:
        middle[key] = statistics.median(r[key] for r in runs)
    middle["runs"] = len(runs)
    return middle


def one_line(run: dict[str, Any]) -> str:
    return (
        f"  round {run['round']} {run['generator']:12} CPU {run['cpu_ms_per_charger']:.3f} ms "
        f"(start {run['start_ms_per_charger']:.3f} + hold {run['hold_ms_per_charger']:.3f}), "
        f"{run['kb_per_connection']:.1f} KB, {run['connections_per_s']:.0f} conn/s, gateway "
        f"CPU {run['gateway_cpu_ms_per_charger']:.3f} ms "
        f"(window {run['window_s']:.1f} s, {run['processes']} processes)"
    )


def report(results: list[dict[str, Any]], load: Workload, load_before: float) -> str:
    """The table of medians, with the machine and how busy it was."""
    info = machine()
    lines = [
        f"bench-peers: {load.chargers:,} chargers at {load.rate:g}/s, Boot + Status, then a "
        f"Heartbeat every {load.heartbeat_s} s; generator on core {GENERATOR_CPUS}, gateway "
        f"on core {GATEWAY_CPUS}; median of {results[0]['runs']} runs each; "
        f"{info['nproc']} cores, Linux {info['kernel']}, Python {info['python']}; load "
        f"average {load_before:.1f} before the first run (above ~0.5, other work shares "
        "the cores: expect noise)",
        f"{'':13}{'CPU ms/charger':>16}{'(start':>8}{'+ hold)':>9}{'KB/connection':>16}"
        f"{'conn/s':>10}{'RSS MB':>9}{'gateway CPU ms':>16}",
    ]
    for r in results:
        lines.append(
            f"{r['generator']:13}{r['cpu_ms_per_charger']:16.3f}{r['start_ms_per_charger']:8.3f}"
            f"{r['hold_ms_per_charger']:9.3f}{r['kb_per_connection']:16.1f}"
            f"{r['connections_per_s']:10.0f}{r['rss_mb']:9.0f}"
            f"{r['gateway_cpu_ms_per_charger']:16.3f}"
        )
    return "\n".join(lines)


def verdict(results: list[dict[str, Any]]) -> tuple[str, int]:
    """The ratio line and the exit code: 0 when loadgen's CPU is <= 0.5x Tsung's."""
    by_name = {r["generator"]: r for r in results}
    if "tsung" not in by_name or "loadgen" not in by_name:
        return "", 0
    tsung, ours = by_name["tsung"], by_name["loadgen"]
    cpu = ours["cpu_ms_per_charger"] / tsung["cpu_ms_per_charger"]
    memory = ours["kb_per_connection"] / tsung["kb_per_connection"]
    met = cpu <= TARGET_RATIO
    return (
        f"loadgen CPU per charger / Tsung's = {cpu:.2f}; target <= {TARGET_RATIO}: "
        f"{'met' if met else 'NOT met'} (memory per connection: {memory:.2f}x Tsung's; "
        f"exit {0 if met else 1})",
        0 if met else 1,
    )


def _generators(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(GENERATORS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(GENERATORS)}, not {unknown}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    parser.add_argument("--chargers", type=int, default=5000, help="e.g. 10000")
    parser.add_argument("--spawn-rate", type=float, default=2000)
    parser.add_argument("--heartbeat-s", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs (median)")
    parser.add_argument(
        "--generators",
        type=_generators,
        default=["tsung", "loadgen"],
        help=f"comma-separated, in the order of each round, from {', '.join(GENERATORS)} "
        "(default tsung,loadgen)",
    )
    parser.add_argument("--naive", action="store_true", help="also run the naive script")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", help="keep the logs (Tsung's, Locust's) in this folder")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.chargers < 1:
        parser.error("--repeat and --chargers: at least 1")
    if (os.cpu_count() or 1) < 2:
        parser.error("needs 2 cores: the generator on core 0, the gateway on core 1")
    load = Workload(args.chargers, args.spawn_rate, args.heartbeat_s)
    names = [*args.generators, *(["naive"] * (args.naive and "naive" not in args.generators))]
    if any(name.startswith("tsung") for name in names):
        ensure_tsung()
    runs: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as cleanup:
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix="peers-", dir=args.keep))
        else:
            work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="loadgen-peers-")))
        gateway = Gateway(
            work / "gateway.log",
            *("--heartbeat-interval-s", str(load.heartbeat_s)),
            cpus=GATEWAY_CPUS,
        )
        try:
            for round_ in range(args.repeat):
                for name in names:
                    run = measure(name, gateway, load, work)
                    run["round"] = round_ + 1
                    runs.append(run)
                    print(one_line(run), flush=True)
        finally:
            gateway.close()
    results = [median_run([r for r in runs if r["generator"] == n]) for n in names]
    print(report(results, load, load_before))
    line, code = verdict(results)
    if line:
        print(line)
    if args.json:
        document = {"machine": machine(), "runs": runs, "medians": results}
        Path(args.json).write_text(json.dumps(document, indent=2))
    return code


if __name__ == "__main__":
    sys.exit(main())
