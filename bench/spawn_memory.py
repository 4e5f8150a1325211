"""Worker memory at a fast spawn: KB per charger of one ``loadgen run`` worker's peak.

Runs the real CLI, ``python -m loadgen run CONFIG --workers 1``, with a config of
``target: embedded``, one stage of 5,000 chargers at 2,000/s and a Heartbeat every 10 s,
for the ramp plus 20 s; then the same run with 1 charger. The worker (the Locust process
that the master forked) is sampled until it exits and its peak RSS (``VmHWM`` in
``/proc/<pid>/status``) kept. The figure is (peak with 5,000 - peak with 1) / 5,000.
The pairs alternate ``repeat`` times and the medians are compared. ``make bench``
calls it; ``python -m bench.spawn_memory`` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, children, cmdline, sample, stop

CHARGERS = 5000
SPAWN_RATE = 2000.0
HEARTBEAT_S = 10
AFTER_RAMP_S = 20
TARGET_KB = 5.0  # KB per charger at most
POLL_S = 0.1


def write_config(folder: Path, users: int, rate: float, run_s: int) -> Path:
    """The config of one run: ``users`` chargers at ``rate``/s for ``run_s`` seconds."""
    config = folder / f"spawn-{users}.yaml"
    config.write_text(
        "target: embedded\n"
        'ocpp_version: "1.6"\n'
        f"charge_points: {{id_prefix: SPAWN-, heartbeat_interval_s: {HEARTBEAT_S}}}\n"
        f"stages: [{{users: {users}, spawn_rate: {rate:g}, duration: {run_s}s}}]\n"
    )
    return config


def worker_peak(users: int, rate: float, run_s: int, work: Path) -> dict[str, Any]:
    """Run ``loadgen run`` with one worker to its end; the worker's peak RSS and counts.

    Raises SystemExit when the worker is never found or the run overruns its deadline.
    """
    folder = work / f"spawn-{users}-{time.monotonic_ns()}"
    folder.mkdir()
    config = write_config(folder, users, rate, run_s)
    cmd = [sys.executable, "-m", "loadgen", "run", str(config), "--workers", "1"]
    log = open(folder / "run.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*cmd, "--results", str(folder / "results")],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    deadline = time.monotonic() + run_s + 120
    worker: int | None = None
    peak_kb = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(POLL_S)
            if worker is None:
                worker = _find_worker(proc.pid)
                continue
            now = sample(worker)
            if now is None:  # the worker has exited: its last sample was its peak
                break
            peak_kb = max(peak_kb, now.hwm_kb)
        proc.wait(max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        pass
    finally:
        stop(proc)
        log.close()
    if worker is None or peak_kb == 0:
        tail = (folder / "run.log").read_text(errors="replace").splitlines()[-15:]
        raise SystemExit(
            f"bench: no worker found under `loadgen run` ({users} chargers); the end of its "
            "output:\n" + "\n".join(tail)
        )
    established = _established(folder / "results" / "summary.json")
    return {"users": users, "worker_peak_kb": peak_kb, "established": established}


def _find_worker(run_pid: int) -> int | None:
    """The worker: the Locust process forked by the master that ``loadgen run`` started."""
    for master in children(run_pid):
        if "locust" in cmdline(master):
            forks = children(master)
            return forks[0] if forks else None
    return None


def _established(summary: Path) -> int | None:
    """Connections the run established, from its summary.json (None if it has none)."""
    try:
        return int(json.loads(summary.read_text())["connections"]["established"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def measure(
    work: Path, chargers: int = CHARGERS, rate: float = SPAWN_RATE, repeat: int = 2
) -> dict[str, Any]:
    """Alternate the 1-charger and the full run ``repeat`` times; KB per charger.

    Raises SystemExit when a full run did not connect every charger (the figure would
    then divide a smaller fleet's memory by the full count).
    """
    run_s = math.ceil(chargers / rate) + AFTER_RAMP_S
    baseline: list[dict[str, Any]] = []
    full: list[dict[str, Any]] = []
    for round_ in range(repeat):
        for users, runs in ((1, baseline), (chargers, full)):
            run = worker_peak(users, rate, run_s, work)
            runs.append(run)
            print(
                f"  round {round_ + 1} spawn    {users:>5} chargers: worker peak "
                f"{run['worker_peak_kb'] / 1024:.1f} MB, {run['established']} connected",
                flush=True,
            )
            if users == chargers and (run["established"] or 0) < chargers:
                raise SystemExit(
                    f"bench: the fast-spawn run connected {run['established']} of {chargers}"
                )
    base_kb = statistics.median(r["worker_peak_kb"] for r in baseline)
    full_kb = statistics.median(r["worker_peak_kb"] for r in full)
    return {
        "chargers": chargers,
        "spawn_rate": rate,
        "run_s": run_s,
        "baseline_peak_mb": base_kb / 1024,
        "full_peak_mb": full_kb / 1024,
        "kb_per_charger": (full_kb - base_kb) / chargers,
        "runs": baseline + full,
    }


def summary_line(result: dict[str, Any]) -> str:
    return (
        f"worker memory at a fast spawn ({result['chargers']:,} at {result['spawn_rate']:g}/s, "
        f"`loadgen run --workers 1`, peak VmHWM, median of {len(result['runs']) // 2}): "
        f"{result['full_peak_mb']:.1f} MB - {result['baseline_peak_mb']:.1f} MB with 1 charger "
        f"= {result['kb_per_charger']:.1f} KB per charger (target <= {TARGET_KB:g})"
    )


def target_met(result: dict[str, Any]) -> bool:
    return bool(result["kb_per_charger"] <= TARGET_KB)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spawn_memory", description=__doc__)
    parser.add_argument("--chargers", type=int, default=CHARGERS)
    parser.add_argument("--spawn-rate", type=float, default=SPAWN_RATE)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="loadgen-spawn-") as tmp:
        result = measure(Path(tmp), args.chargers, args.spawn_rate, args.repeat)
    print(summary_line(result))
    met = target_met(result)
    print(f"target: <= {TARGET_KB:g} KB per charger: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
