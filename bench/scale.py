"""``make bench-scale``: 100,000 charge points on this host, generator and gateway together.

Runs ``loadgen run bench/scale-100k.yaml`` (bounded by the config's stage: it stops by
itself), samples the memory of every process it started twice a second, and prints the
time to full ramp, the peak memory of the workers and of the gateway processes, the
heartbeat p99 and the failures, from the run's ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, cmdline, descendants, machine, parent_of, sample, stop

CONFIG = ROOT / "bench" / "scale-100k.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--users", type=int, help="override the charge points (smaller runs)")
    parser.add_argument("--results", help="results folder (default: a temporary one)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    results = Path(args.results or tempfile.mkdtemp(prefix="loadgen-scale-"))
    cmd = [sys.executable, "-m", "loadgen", "run", args.config, "--results", str(results)]
    if args.users:
        cmd += ["--users", str(args.users)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    peaks: dict[int, tuple[str, int]] = {}  # pid -> (role, peak RSS KiB)
    try:
        while proc.poll() is None and time.monotonic() - started < 1800:
            for pid in descendants(proc.pid):
                now = sample(pid)
                if now is None:
                    continue
                role, peak = peaks.get(pid, ("other", 0))
                if role == "other":  # judged once: an exiting process has no command line
                    role = _role(cmdline(pid), parent_of(pid) == proc.pid)
                peaks[pid] = (role, max(now.hwm_kb, peak))
            time.sleep(0.5)
    finally:
        stop(proc, timeout_s=60)
    summary = json.loads((results / "summary.json").read_text())
    figures = _figures(summary, peaks, time.monotonic() - started)
    print(_report(figures))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), **figures}, indent=2))
    return 0 if figures["failures"] == 0 and figures["booted_all"] else 1


def _role(command: str, started_by_run: bool) -> str:
    """What a process under ``loadgen run`` is, by its command line and its parent."""
    words = command.split()
    if "loadgen.gateway" in words:
        if "--worker" in words:
            return "gateway"
        # One gateway process serves itself; with --processes N > 1 it starts N workers.
        at = words.index("--processes") + 1 if "--processes" in words else len(words)
        return "gateway" if words[at : at + 1] in ([], ["1"]) else "gateway-parent"
    if "locust" in command:
        # The master is started by `loadgen run`; Locust forks the workers from it.
        return "master" if started_by_run else "worker"
    return "other"


def _figures(summary: dict, peaks: dict[int, tuple[str, int]], wall_s: float) -> dict:
    conn = summary["connections"]
    stage = summary["stages"][0]
    beats = summary["messages"].get("Heartbeat", {})
    boots = summary["messages"].get("BootNotification", {})
    by_role: dict[str, list[int]] = {}
    for role, kb in peaks.values():
        by_role.setdefault(role, []).append(kb)
    masters = by_role.get("master", [])
    return {
        "users": stage["users"],
        "established": conn["established"],
        "failed": conn["failed"],
        "failures": sum(summary.get("failures", {}).values()),
        "booted_all": boots.get("count", 0) >= stage["users"] and not boots.get("failed"),
        "time_to_full_ramp_s": stage.get("reached_after_s"),
        "heartbeats": beats.get("count", 0),
        "heartbeat_p50_ms": beats.get("p50_ms"),
        "heartbeat_p99_ms": beats.get("p99_ms"),
        "connect_p99_ms": summary.get("connect_ms", {}).get("p99"),
        "worker_peak_rss_mb": [round(kb / 1024) for kb in by_role.get("worker", [])],
        "master_peak_rss_mb": round(masters[0] / 1024) if masters else None,
        "gateway_peak_rss_mb": [round(kb / 1024) for kb in by_role.get("gateway", [])],
        "wall_s": round(wall_s),
    }


def _report(f: dict) -> str:
    workers, gateways = f["worker_peak_rss_mb"], f["gateway_peak_rss_mb"]
    return "\n".join(
        [
            f"bench-scale: {f['users']:,} charge points, {f['established']:,} connected, "
            f"{f['failed']:,} connect failures, {f['failures']:,} failures in all",
            f"time to full ramp: {f['time_to_full_ramp_s']} s; heartbeats {f['heartbeats']:,}, "
            f"p50 {f['heartbeat_p50_ms']} ms, p99 {f['heartbeat_p99_ms']} ms; connect p99 "
            f"{f['connect_p99_ms']} ms",
            f"peak RSS: workers {workers} MB (sum {sum(workers)} MB), gateway processes "
            f"{gateways} MB (sum {sum(gateways)} MB), master {f['master_peak_rss_mb']} MB; "
            f"wall {f['wall_s']} s",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
