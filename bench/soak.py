"""``make soak``: a gateway restart must leave no trace, in the worker's memory or the sessions.

The operator's run: 2,000 charge points, half of them charging (60 s sessions, MeterValues
every 10 s, a pause of up to 10 s between sessions, a Heartbeat every 30 s), one
``loadgen run CONFIG --workers 1 --target ws://...`` against a reference gateway that this
benchmark starts on its own (``python -m loadgen.gateway``, loopback, one process). At
each kill time the gateway is killed (SIGKILL) and started again on the same port.

Measured, on a clock that starts with the first connection:

* the worker's RSS (``/proc/<pid>/status``) at minute 2 and at the end of the stage, and
  the growth between them;
* sessions started and ended per minute, counted at the gateway: ``GET /_status`` every
  :data:`STATUS_EVERY_S` seconds gives the StartTransaction and StopTransaction CALLs it
  answered. Each gateway process counts from 0, so the counts of a killed process (read
  just before the kill) are the baseline of its successor;
* per kill, when every charge point was connected again, and from when on the sessions
  started in the next :data:`RATE_WINDOW_S` seconds were back to 90 % of the rate before;
* charge points connected at the gateway at the end, and loadgen's failures by category
  (``summary.json`` of the run).

Verdict (exit 1 when one fails): RSS growth from minute 2 to the end <= 5 %; the mean
sessions started per minute after the first kill within 10 % of the mean before it
(minutes in which the gateway was killed count on neither side); every charge point
connected at the end; after each kill, sessions back at 90 % of the rate within one
pause (``session.pause_s``) of the last charger's reconnect. ``--no-kill`` runs the same
fleet without a kill, for comparison: "before" and "after" are then split where the
first kill would have been.

The fleet ramps at 30 chargers/s, so its 2,000 spawns spread over about one session
cycle (60 s + the pause). At 50/s every first session starts within 50 s, and that
cohort drifting against the minute grid moved the per-minute counts by 7 % before the
kill (972 in minute 1, 901 in minute 3), as much as the kill could.

Everything it starts it ends by PID; every wait has a deadline. Exit 2 when the run
could not be made (a process did not start, a deadline passed).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, children, cmdline, machine, sample, stop
from loadgen.run.cli import free_port

CHARGERS = 2000
SPAWN_RATE = 30.0  # a ramp of about one session cycle (60 s + the pause): phases spread evenly
HEARTBEAT_S = 30
SESSION_S = 60
METER_S = 10
PAUSE_S = 10.0
STATUS_EVERY_S = 2.0  # gateway /_status samples
RSS_EVERY_S = 1.0  # worker RSS samples
RATE_WINDOW_S = 20.0  # the window of the recovered-rate figure
WARMUP_MIN = 2  # RSS and the sessions' "before" are read from this minute on
END_MARGIN_S = 3.0  # "the end" is this long before the stage ends, before anything stops
RSS_LIMIT = 0.05
SESSIONS_LIMIT = 0.10
GATEWAY_READY_S = 30.0
EXIT_S = 120.0  # from the stage's end until `loadgen run` has written its results and exited
#: the command that runs loadgen (a debugging session may point it at a wrapper)
LOADGEN = [sys.executable, "-m", "loadgen"]


def find_locust(run_pid: int) -> tuple[int | None, int | None]:
    """The Locust master that ``loadgen run`` started and the worker it forked, once seen."""
    for master in children(run_pid):
        if "locust" in cmdline(master):
            forks = children(master)
            return master, forks[0] if forks else None
    return None, None


def write_config(
    folder: Path, chargers: int, spawn_rate: float, pause_s: float, run_s: int
) -> Path:
    """The operator's fleet as a loadgen config (the target comes from ``--target``)."""
    config = folder / "soak.yaml"
    config.write_text(
        'ocpp_version: "1.6"\n'
        "charge_points:\n"
        "  id_prefix: SOAK-\n"
        f"  heartbeat_interval_s: {HEARTBEAT_S}\n"
        "  scenario: {idle: 1, charging: 1}\n"
        f"  session: {{duration_s: {SESSION_S}, meter_interval_s: {METER_S}, "
        f"pause_s: {pause_s:g}}}\n"
        f"stages: [{{users: {chargers}, spawn_rate: {spawn_rate:g}, duration: {run_s}s}}]\n"
        # connections lost (or refused) around a restart are the point of the run: no limits
        "thresholds: {min_success_rate: null, min_boot_rate: null, max_connect_p95_ms: null}\n"
    )
    return config


class RestartableGateway:
    """The reference gateway as one process on a fixed loopback port, killed and restarted."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        #: CALLs answered by the processes killed so far: the current one's baseline
        self.carried: dict[str, int] = {}

    def start(self) -> None:
        """Start a gateway process; SystemExit when none listens within the deadline."""
        self.starts += 1
        log_path = self.folder / f"gateway-{self.starts}.log"
        deadline = time.monotonic() + GATEWAY_READY_S
        while time.monotonic() < deadline:
            with open(log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    [
                        *(sys.executable, "-m", "loadgen.gateway", "--host", "127.0.0.1"),
                        *("--port", str(self.port), "--log-level", "WARNING"),
                        *("--heartbeat-interval-s", str(HEARTBEAT_S)),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                )
            while time.monotonic() < deadline and self.proc.poll() is None:
                if b"listening on" in log_path.read_bytes():
                    return
                time.sleep(0.05)
            if self.proc.poll() is None:
                break  # alive but not listening at the deadline
            time.sleep(0.5)  # it exited (the port not free yet?): again, until the deadline
        if self.proc is not None:
            stop(self.proc, timeout_s=5)
        raise SystemExit(f"soak: no gateway listening on port {self.port}; see {log_path}")

    def status(self) -> dict[str, Any] | None:
        """``GET /_status`` of the current process, or None while it does not answer."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/_status")
            return dict(json.loads(conn.getresponse().read()))
        except (OSError, ValueError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def counts(self, status: dict[str, Any], action: str) -> int:
        """CALLs of ``action`` answered by every gateway process so far."""
        return int(self.carried.get(action, 0) + status.get("messages", {}).get(action, 0))

    def kill(self) -> None:
        """SIGKILL the current process; its last counts become the next one's baseline."""
        assert self.proc is not None
        last = self.status()  # read just before the kill: at most a few ms are not counted
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        if last is not None:
            for action, count in last.get("messages", {}).items():
                self.carried[action] = self.carried.get(action, 0) + count

    def close(self) -> None:
        if self.proc is not None:
            stop(self.proc, timeout_s=10)


@dataclass
class Samples:
    """What one run saw, in seconds from its first connection."""

    rss: list[tuple[float, int]] = field(default_factory=list)  # (t, worker RSS KiB)
    #: (t, StartTransaction so far, StopTransaction so far, connected)
    gateway: list[tuple[float, int, int, int]] = field(default_factory=list)
    kills: list[float] = field(default_factory=list)  # t of each SIGKILL
    restarted: list[float] = field(default_factory=list)  # t when its successor listened
    worker: int | None = None
    master: int | None = None  # the Locust master: sampled for the record, not judged
    master_rss: list[tuple[float, int]] = field(default_factory=list)


def kill_times(minutes: int, kill_at: list[float] | None, kill_every: int | None) -> list[float]:
    """Seconds from the first connection of the kills (or, with --no-kill, of the split)."""
    if kill_every:
        at = [float(m) for m in range(kill_every, minutes, kill_every)]
    else:
        at = sorted(kill_at or [4.0])
    return [m * 60.0 for m in at if 0 < m < minutes]


def run_soak(args: argparse.Namespace, work: Path, kills: list[float]) -> tuple[Samples, Any, int]:
    """One run against a gateway killed at ``kills``: samples, summary.json, exit code.

    Raises SystemExit when a process does not start or a deadline passes.
    """
    run_s = args.minutes * 60
    port = free_port()
    config = write_config(work, args.chargers, args.spawn_rate, args.pause_s, run_s)
    results = work / "results"
    gateway = RestartableGateway(work, port)
    samples = Samples()
    gateway.start()
    proc: subprocess.Popen[bytes] | None = None
    log = open(work / "run.log", "wb")  # noqa: SIM115 - closed below
    try:
        proc = subprocess.Popen(
            [
                *(*LOADGEN, "run", str(config), "--workers", "1"),
                *("--target", f"ws://127.0.0.1:{port}/ocpp", "--results", str(results)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        follow(proc, gateway, samples, kills, run_s)
        try:
            proc.wait(EXIT_S)
        except subprocess.TimeoutExpired:
            raise SystemExit(
                f"soak: `loadgen run` still running {EXIT_S:g} s after the stage"
            ) from None
        code = proc.returncode
    finally:
        if proc is not None:
            stop(proc)
        log.close()
        gateway.close()
    try:
        summary = json.loads((results / "summary.json").read_text())
    except (OSError, ValueError):
        tail = (work / "run.log").read_text(errors="replace").splitlines()[-15:]
        raise SystemExit(
            "soak: the run wrote no summary.json; its log ends:\n" + "\n".join(tail)
        ) from None
    return samples, summary, code


def follow(
    proc: subprocess.Popen[bytes],
    gateway: RestartableGateway,
    samples: Samples,
    kills: list[float],
    run_s: int,
) -> None:
    """Sample the worker and the gateway, and kill the gateway on time, until the stage ends."""
    launched = time.monotonic()
    deadline = launched + 120 + run_s  # start-up, the stage; the exit is waited for apart
    started: float | None = None  # monotonic() of the first connection
    pending = list(kills)
    next_rss = next_status = 0.0
    while True:
        now = time.monotonic()
        if proc.poll() is not None:
            raise SystemExit(f"soak: `loadgen run` exited early ({proc.returncode})")
        if now > deadline:
            raise SystemExit("soak: the run overran its deadline")
        if samples.worker is None:
            samples.master, samples.worker = find_locust(proc.pid)
        if started is None:
            status = gateway.status()
            if status is not None and status["connected"] > 0:
                started = now
            else:
                time.sleep(0.1)
                continue
        t = now - started
        if t >= run_s:
            return
        if pending and t >= pending[0]:
            pending.pop(0)
            gateway.kill()
            samples.kills.append(time.monotonic() - started)
            gateway.start()
            samples.restarted.append(time.monotonic() - started)
            print(
                f"  [{t:6.0f}s] gateway killed and restarted "
                f"({samples.restarted[-1] - samples.kills[-1]:.1f} s down)",
                flush=True,
            )
            next_status = 0.0
            continue
        if now >= next_rss and samples.worker is not None:
            next_rss = now + RSS_EVERY_S
            seen = sample(samples.worker)
            if seen is not None:
                samples.rss.append((t, seen.rss_kb))
            seen = sample(samples.master) if samples.master is not None else None
            if seen is not None:
                samples.master_rss.append((t, seen.rss_kb))
        if now >= next_status:
            next_status = now + STATUS_EVERY_S
            status = gateway.status()
            if status is not None:
                starts = gateway.counts(status, "StartTransaction")
                stops = gateway.counts(status, "StopTransaction")
                samples.gateway.append(
                    (time.monotonic() - started, starts, stops, status["connected"])
                )
                if len(samples.gateway) % 30 == 0:
                    rss = samples.rss[-1][1] / 1024 if samples.rss else 0.0
                    print(
                        f"  [{t:6.0f}s] connected {status['connected']:,}  sessions started "
                        f"{starts:,}  ended {stops:,}  worker RSS {rss:.1f} MB",
                        flush=True,
                    )
        time.sleep(0.1)


# -- figures ----------------------------------------------------------------------------


def at(series: list[tuple[float, int]], t: float) -> float:
    """The cumulative count at ``t``, linear between samples."""
    if not series or t <= series[0][0]:
        return float(series[0][1]) if series else 0.0
    for (t0, v0), (t1, v1) in zip(series, series[1:], strict=False):
        if t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else float(v1)
    return float(series[-1][1])


def per_minute(series: list[tuple[float, int]], end_s: float) -> list[float]:
    """Events per minute in each minute up to ``end_s`` (the last one scaled if cut short)."""
    rates = []
    for minute in range(math.ceil(end_s / 60)):
        begin, end = minute * 60.0, min((minute + 1) * 60.0, end_s)
        if end - begin >= 10:
            rates.append((at(series, end) - at(series, begin)) * 60 / (end - begin))
    return rates


def rss_at(samples: Samples, t: float, series: list[tuple[float, int]] | None = None) -> int | None:
    """The worker's RSS (KiB), or that of ``series``, at the sample closest to ``t``."""
    series = samples.rss if series is None else series
    if not series:
        return None
    return min(series, key=lambda s: abs(s[0] - t))[1]


def figures(
    samples: Samples, summary: Any, args: argparse.Namespace, split: list[float]
) -> dict[str, Any]:
    """Every figure of one run, and the verdict's inputs."""
    run_s = args.minutes * 60
    end_s = run_s - END_MARGIN_S
    starts = [(t, s) for t, s, _, _ in samples.gateway]
    stops = [(t, e) for t, _, e, _ in samples.gateway]
    started_pm = per_minute(starts, end_s)
    ended_pm = per_minute(stops, end_s)
    first = int(split[0] // 60) if split else len(started_pm)
    upset = {int(k // 60) for k in samples.kills}
    before = started_pm[WARMUP_MIN:first]
    after = [r for m, r in enumerate(started_pm) if m > first and m not in upset]
    before_rate = sum(before) / len(before) if before else 0.0
    after_rate = sum(after) / len(after) if after else 0.0
    rss2, rss_end = rss_at(samples, WARMUP_MIN * 60.0), rss_at(samples, end_s)
    last = [g for g in samples.gateway if g[0] <= end_s]
    recoveries = [recovery(samples, k, before_rate, args.chargers) for k in samples.kills]
    return {
        "chargers": args.chargers,
        "minutes": args.minutes,
        "pause_s": args.pause_s,
        "kills_s": [round(k, 1) for k in samples.kills],
        "down_s": [round(r - k, 1) for k, r in zip(samples.kills, samples.restarted, strict=True)],
        "rss_minute2_mb": rss2 / 1024 if rss2 else None,
        "rss_end_mb": rss_end / 1024 if rss_end else None,
        "rss_growth": (rss_end - rss2) / rss2 if rss2 and rss_end else None,
        "rss_peak_mb": max(r for _, r in samples.rss) / 1024 if samples.rss else None,
        "master_rss_mb": [
            (v or 0) / 1024
            for v in (
                rss_at(samples, WARMUP_MIN * 60.0, samples.master_rss),
                rss_at(samples, end_s, samples.master_rss),
            )
        ],
        "started_per_minute": [round(r) for r in started_pm],
        "ended_per_minute": [round(r) for r in ended_pm],
        "started_total": round(at(starts, end_s)),
        "ended_total": round(at(stops, end_s)),
        "before_per_minute": before_rate,
        "after_per_minute": after_rate,
        "sessions_change": (after_rate - before_rate) / before_rate if before_rate else None,
        "recoveries": recoveries,
        "connected_end": last[-1][3] if last else 0,
        "failures": summary.get("failures", {}),
        "connections": summary.get("connections", {}),
        "messages": {k: v.get("count") for k, v in summary.get("messages", {}).items()},
        "rss_mb_every_10s": [round(r / 1024, 2) for t, r in samples.rss if t % 10 < RSS_EVERY_S],
    }


def recovery(samples: Samples, kill: float, rate: float, chargers: int) -> dict[str, Any]:
    """After one kill: when all were connected again; from when sessions went on at 90 %."""
    reconnected = next((t for t, _, _, c in samples.gateway if t > kill and c >= chargers), None)
    starts = [(t, s) for t, s, _, _ in samples.gateway]
    resumed = None
    for t, _ in starts:
        if t < kill or t + RATE_WINDOW_S > starts[-1][0]:
            continue
        window = (at(starts, t + RATE_WINDOW_S) - at(starts, t)) * 60 / RATE_WINDOW_S
        if window >= 0.9 * rate:
            resumed = t
            break
    before = rss_at(samples, kill - 1.0)
    settled = rss_at(samples, kill + 60.0)
    return {
        "kill_s": round(kill, 1),
        "rss_before_mb": before / 1024 if before else None,
        "rss_minute_after_mb": settled / 1024 if settled else None,
        "all_connected_after_s": round(reconnected - kill, 1) if reconnected else None,
        "sessions_resumed_after_s": round(resumed - kill, 1) if resumed else None,
    }


def verdicts(result: dict[str, Any]) -> list[tuple[str, bool]]:
    growth = result["rss_growth"]
    change = result["sessions_change"]
    return [
        (
            f"worker RSS growth from minute 2 <= {RSS_LIMIT:.0%}",
            growth is not None and growth <= RSS_LIMIT,
        ),
        (
            f"sessions/min after within {SESSIONS_LIMIT:.0%} of before",
            change is not None and abs(change) <= SESSIONS_LIMIT,
        ),
        ("every charger connected at the end", result["connected_end"] >= result["chargers"]),
        *(
            (
                f"kill at {rec['kill_s']:.0f}s: sessions back at the rate within one pause "
                f"({result['pause_s']:g} s) of the last reconnect",
                rec["sessions_resumed_after_s"] is not None
                and rec["all_connected_after_s"] is not None
                and rec["sessions_resumed_after_s"]
                <= rec["all_connected_after_s"] + result["pause_s"],
            )
            for rec in result["recoveries"]
        ),
    ]


def report(result: dict[str, Any], kills: bool) -> str:
    r = result
    info = machine()
    mb = lambda v: f"{v:.1f} MB" if v is not None else "n/a"  # noqa: E731
    lines = [
        f"soak: {r['chargers']:,} chargers (half charging), {r['minutes']} min, one worker, "
        + (
            f"gateway SIGKILLed at {', '.join(f'{k:.0f}s' for k in r['kills_s'])}"
            if kills
            else "no kill"
        )
        + f"; {info['nproc']} cores, Linux {info['kernel']}, Python {info['python']}",
        f"worker RSS: minute 2 {mb(r['rss_minute2_mb'])}, end {mb(r['rss_end_mb'])}, "
        f"growth {r['rss_growth']:+.1%}, peak {mb(r['rss_peak_mb'])}; Locust master "
        f"{mb(r['master_rss_mb'][0])} -> {mb(r['master_rss_mb'][1])} (not judged)"
        if r["rss_growth"] is not None
        else "worker RSS: not measured",
        "sessions started per minute: " + " ".join(str(v) for v in r["started_per_minute"]),
        "sessions ended per minute:   " + " ".join(str(v) for v in r["ended_per_minute"]),
        f"sessions started {r['started_total']:,}, ended {r['ended_total']:,}; per minute "
        f"before {r['before_per_minute']:.0f}, after {r['after_per_minute']:.0f} "
        + (f"({r['sessions_change']:+.1%})" if r["sessions_change"] is not None else ""),
    ]
    for rec in r["recoveries"]:
        lines.append(
            f"  kill at {rec['kill_s']:.0f}s: all connected again after "
            f"{rec['all_connected_after_s']} s, sessions at >= 90% of the rate from "
            f"{rec['sessions_resumed_after_s']} s; worker RSS {mb(rec['rss_before_mb'])} "
            f"before, {mb(rec['rss_minute_after_mb'])} a minute after"
        )
    conn = r["connections"]
    failures = ", ".join(f"{k} {v:,}" for k, v in r["failures"].items()) or "none"
    lines.append(
        f"connected at the end {r['connected_end']:,} of {r['chargers']:,}; connections "
        f"established {conn.get('established', 0):,}, lost {conn.get('lost', 0):,}, "
        f"reconnects {conn.get('reconnects', 0):,}; failures: {failures}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=int, default=10, help="length of the run")
    parser.add_argument(
        "--kill-at", type=float, action="append", help="minute of a kill (repeatable; default 4)"
    )
    parser.add_argument("--kill-every", type=int, help="a kill every N minutes instead")
    parser.add_argument("--no-kill", action="store_true", help="the same run without a kill")
    parser.add_argument("--chargers", type=int, default=CHARGERS)
    parser.add_argument("--spawn-rate", type=float, default=SPAWN_RATE)
    parser.add_argument("--pause-s", type=float, default=PAUSE_S, help="session.pause_s")
    parser.add_argument("--keep", help="keep the logs and results in this folder")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.minutes <= WARMUP_MIN + 1:
        parser.error(f"--minutes: more than {WARMUP_MIN + 1}")
    split = kill_times(args.minutes, args.kill_at, args.kill_every)
    if not split or split[0] < (WARMUP_MIN + 1) * 60:
        parser.error(f"the first kill: after minute {WARMUP_MIN + 1} and before the end")
    kills = [] if args.no_kill else split
    with tempfile.TemporaryDirectory(prefix="loadgen-soak-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            samples, summary, code = run_soak(args, work, kills)
        except SystemExit as exc:
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
                return 2
            raise
        result = figures(samples, summary, args, split)
        result["loadgen_exit"] = code
        print(report(result, bool(kills)))
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": machine(), **result}, indent=2))
    checks = verdicts(result)
    status = 0 if all(ok for _, ok in checks) else 1
    said = "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks)
    print(f"targets: {said} (exit {status})")
    return status


if __name__ == "__main__":
    sys.exit(main())
