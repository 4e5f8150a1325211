"""Worker-side samples sent to the master, and the master's view of the whole fleet.

Each worker sends its charge points' counters, its open files and the host's TCP socket
states once a second with Locust's custom messages (``loadgen_counters``). The master
(or a standalone run) sums the latest sample of every worker, appends a row to
``timeline.csv`` every second, keeps per stage the most charge points connected and how
long the stage took to reach its target, and hands snapshots to the web UI and report.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import gevent
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from loadgen.config import Config, StagePosition, position
from loadgen.failures import CATEGORIES, category_of
from loadgen.observe import redisprobe
from loadgen.sim.actions import Counters

MESSAGE = "loadgen_counters"
#: master -> workers, in the options of every spawn message: how many share the ids file
ID_SLOTS = "loadgen_id_slots"
SAMPLE_INTERVAL_S = 1.0
TIMELINE_FIELDS = (
    "time_s",
    "stage",
    "target_users",
    "users",
    "connected",
    "attempted",
    "established",
    "failed",
    *(f"failures_{c}" for c in CATEGORIES),
    "connect_p95_ms",
    "heartbeat_p95_ms",
    "redis_connected_clients",
    "redis_blocked_clients",
    "redis_ops_per_sec",
    "probe_missing",
    "probe_unchecked",
    "booted",
    "reconnects",
    "messages",  # OCPP calls sent and server calls answered so far (Locust's stats)
    "energy_wh",  # energy delivered so far, over the fleet (docs/fleets.md)
    "power_w",  # the power of the connectors charging, at their last samples
    "charging",  # connectors with a transaction
)
log = logging.getLogger(__name__)


def sockstat(path: str = "/proc/net/sockstat") -> dict[str, int]:
    """The host's TCP socket counts (inuse, orphan, tw, alloc) from ``/proc/net/sockstat``."""
    try:
        with open(path, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("TCP:"):
                    parts = line.split()[1:]
                    return {parts[i]: int(parts[i + 1]) for i in range(0, len(parts) - 1, 2)}
    except OSError:
        pass
    return {}


#: A worker's sample: at most this many counters, each a whole number in [-1, MAX].
MAX_SAMPLE_KEYS = 64
MAX_SAMPLE_VALUE = 10**12
_SAMPLE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def sample_problem(sample: object) -> str | None:
    """Why ``sample`` is not a worker's sample (:func:`process_sample`'s shape), or None.

    The master sums what workers send: a sample of another shape (or absurd counts) is
    dropped rather than summed into the verdict.
    """
    if not isinstance(sample, dict) or len(sample) > MAX_SAMPLE_KEYS:
        return f"not a mapping of at most {MAX_SAMPLE_KEYS} counters"
    for key, value in sample.items():
        if not isinstance(key, str) or not _SAMPLE_KEY.match(key):
            return f"a counter named {key!r:.60}"
        if key == "tcp":
            if not isinstance(value, dict) or len(value) > 16:
                return "tcp: not a mapping of socket counts"
            if not all(isinstance(k, str) and _count(v) for k, v in value.items()):
                return "tcp: not a mapping of socket counts"
        elif not _count(value):
            return f"{key}: not a count from -1 to {MAX_SAMPLE_VALUE:,}"
    return None


def _count(value: object) -> bool:
    return type(value) is int and -1 <= value <= MAX_SAMPLE_VALUE


def counts(counters: Counters) -> dict[str, int]:
    """This process's charge point counters and the Redis mapping probe's (``probe_*``)."""
    sample = counters.snapshot()
    for key, value in redisprobe.snapshot().items():
        sample[f"probe_{key}"] = value
    return sample


_open_files_cache = {"at": -1e9, "count": -1}


def _open_files(every_s: float = 5.0) -> int:
    """Open files of this process.

    Linux 6.2 and later give the count as the size of ``/proc/self/fd``: one ``stat``.
    Older kernels report 0 there; the directory is then listed, past 2,000 files at most
    every ``every_s`` (a listing of thousands of sockets costs milliseconds).
    """
    try:
        size = os.stat("/proc/self/fd").st_size
    except OSError:
        return -1
    if size > 0:
        return size
    now = time.monotonic()
    if _open_files_cache["count"] < 2000 or now - _open_files_cache["at"] >= every_s:
        try:
            _open_files_cache["count"] = len(os.listdir("/proc/self/fd"))
        except OSError:
            _open_files_cache["count"] = -1
        _open_files_cache["at"] = now
    return int(_open_files_cache["count"])


def process_sample(counters: Counters) -> dict[str, Any]:
    """This process's counters, peak memory (KiB), open files and the host's TCP states."""
    sample: dict[str, Any] = counts(counters)
    sample["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sample["open_files"] = _open_files()
    sample["tcp"] = sockstat()
    return sample


def resource_counts() -> dict[str, int]:
    """Live greenlets and open sockets of this process (for leak checks; not cheap)."""
    import gc

    from greenlet import greenlet

    greenlets = sum(1 for o in gc.get_objects() if isinstance(o, greenlet) and not o.dead)
    sockets = 0
    try:
        for fd in os.listdir("/proc/self/fd"):
            try:
                sockets += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
            except OSError:
                continue
    except OSError:
        sockets = -1
    return {"greenlets": greenlets, "sockets": sockets}


def _current_p95(stats: Any, name: str, method: str) -> float | str:
    """The recent p95 of an entry; empty (no data, not 0) before its first timed sample."""
    entry = stats.entries.get((name, method))
    if entry is None or entry.num_requests <= entry.num_none_requests:
        return ""
    try:
        value = entry.get_current_response_time_percentile(0.95)
    except ValueError:  # no response-times cache: fall back to the whole run
        value = entry.get_response_time_percentile(0.95)
    return "" if value is None else float(value)  # None: the window has no samples yet


@dataclass
class StageProgress:
    users: int
    duration_s: float
    reached: int = 0  # most charge points connected at once during the stage
    reached_after_s: float | None = None  # from the stage's start to its target

    def as_dict(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "duration_s": self.duration_s,
            "reached": self.reached,
            "reached_after_s": self.reached_after_s,
        }


@dataclass
class Monitor:
    """The master's (or a standalone run's) view of all charge points."""

    environment: Environment
    config: Config
    results: Path
    counters: Counters = field(default_factory=Counters)  # this process's (standalone runs)
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    stages: list[StageProgress] = field(default_factory=list)
    history: list[tuple[float, int, int]] = field(default_factory=list)  # (t, target, connected)
    peak_connected: int = 0
    #: workers that went missing mid-run -> charge points they held when last heard of
    lost_workers: dict[str, int] = field(default_factory=dict)
    heard: dict[str, float] = field(default_factory=dict)  # worker -> monotonic() of last sample
    started: float | None = None  # perf_counter() at test start
    on_sample: list[Any] = field(default_factory=list)  # callables run after each sample
    redis_info: Any = None  # RedisInfoSampler of the gateway's Redis (config redis:), or None
    refused: set[str] = field(default_factory=set)  # nodes whose samples were dropped
    progress_every_s: float = 5.0
    stopping: bool = False  # the master is stopping the test (its workers leave its list)
    _last_line: float = -1e9
    _loop: gevent.Greenlet | None = None
    _timeline: TextIO | None = None
    _writer: Any = None

    def totals(self) -> dict[str, int]:
        """Counters summed over workers (or this process when standalone)."""
        if isinstance(self.environment.runner, LocalRunner):
            return counts(self.counters)
        total: dict[str, int] = {"lost_with_workers": sum(self.lost_workers.values())}
        for node, sample in self.workers.items():
            for key, value in sample.items():
                if isinstance(value, int) and key not in ("max_rss_kb", "open_files"):
                    if key == "connected" and node in self.lost_workers:
                        continue  # a dead worker holds nothing any more
                    total[key] = total.get(key, 0) + value
        return total

    def _check_workers(self) -> None:
        """Note workers the master lost (missing or removed): their connections are lost.

        Not once the test stops: a worker that stopped leaves the master's list too."""
        runner = self.environment.runner
        if not isinstance(runner, MasterRunner) or self.stopping:
            return
        for node, sample in self.workers.items():
            client = runner.clients.get(node)
            gone = client is None or client.state == "missing"
            if gone and node not in self.lost_workers:
                self.lost_workers[node] = int(sample.get("connected", 0))
                log.warning(
                    "worker %s went missing holding %d charge points; counted as lost",
                    node,
                    self.lost_workers[node],
                )

    def on_worker_sample(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.take_sample(msg.node_id, msg.data)

    def take_sample(self, node: str, sample: object) -> bool:
        """Keep ``sample`` as ``node``'s latest when the master knows the worker and the
        sample has a worker sample's shape; else drop it (logged once per worker)."""
        runner = self.environment.runner
        problem = sample_problem(sample)
        if isinstance(runner, MasterRunner) and node not in runner.clients:
            problem = "not a worker the master knows"
        if problem is not None:
            if node not in self.refused:
                self.refused.add(node)
                log.warning("ignoring samples from %.60r: %s", node, problem)
            return False
        assert isinstance(sample, dict)
        self.workers[node] = sample
        self.heard[node] = time.monotonic()
        return True

    def await_fresh_samples(self, timeout_s: float = 3.0) -> None:
        """Wait (bounded) until every live worker has sent a sample from after this call."""
        if not isinstance(self.environment.runner, MasterRunner):
            return
        asked = time.monotonic()
        deadline = asked + timeout_s
        while time.monotonic() < deadline and any(
            self.heard.get(node, 0) < asked
            for node in self.workers
            if node not in self.lost_workers
        ):
            gevent.sleep(0.05)

    @property
    def running(self) -> bool:
        return self._loop is not None

    def start(self, config: Config) -> None:
        """Begin a test: fresh stages, history and timeline; sample every second."""
        self.stop()
        self.config = config
        self.started = time.perf_counter()
        self.stages = [StageProgress(s.users, s.duration_s) for s in config.stages]
        self.history = []
        self.peak_connected = 0
        self.lost_workers = {}
        self.stopping = False
        if self.redis_info is not None:
            self.redis_info.stop()
            self.redis_info = None
        if config.redis is not None:  # sampled on the master only, every few seconds
            self.redis_info = redisprobe.RedisInfoSampler(config.redis.url)
            self.redis_info.start()
        self.results.mkdir(parents=True, exist_ok=True)
        self._timeline = open(self.results / "timeline.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._timeline)
        self._writer.writerow(TIMELINE_FIELDS)
        self._loop = gevent.spawn(self._sample_loop)

    def stop(self) -> None:
        """Take a last sample, stop sampling and close the timeline. Never raises for a
        sample: the final results are written after this, and must not be lost to it."""
        if self._loop is not None:
            self._loop.kill(block=False)
            self._loop = None
            try:
                self.sample()
            except Exception:
                log.exception("the last sample failed; the results use the one before")
        if self.redis_info is not None:
            self.redis_info.stop()
        if self._timeline is not None:
            self._timeline.close()
            self._timeline = None

    def run_time_s(self) -> float:
        return 0.0 if self.started is None else time.perf_counter() - self.started

    def position(self) -> StagePosition | None:
        return position(self.config.stages, self.run_time_s()) if self.started else None

    def _sample_loop(self) -> None:
        while True:
            gevent.sleep(SAMPLE_INTERVAL_S)
            try:
                self.sample()
            except Exception:  # one bad sample must not end sampling
                log.exception("sampling failed")

    def sample(self) -> None:
        """One sample: totals, stage progress, a timeline row, a progress line."""
        run_time = self.run_time_s()
        self._check_workers()
        totals = self.totals()
        connected = totals.get("connected", 0)
        self.peak_connected = max(self.peak_connected, connected)
        where = position(self.config.stages, run_time)
        target = where.stage.users if where else 0
        if where is not None:
            progress = self.stages[where.index]
            progress.reached = max(progress.reached, connected)
            if progress.reached_after_s is None and connected >= progress.users:
                progress.reached_after_s = round(run_time - where.started_s, 1)
        self.history.append((round(run_time, 1), target, connected))
        stats = self.environment.stats
        if self._writer is not None and self._timeline is not None:
            by_category = dict.fromkeys(CATEGORIES, 0)
            for error in stats.errors.values():
                category = category_of(str(error.error))
                if category in by_category:
                    by_category[category] += error.occurrences
            runner = self.environment.runner
            self._writer.writerow(
                [
                    round(run_time, 1),
                    where.index + 1 if where else "",
                    target,
                    runner.user_count if runner else 0,
                    connected,
                    totals.get("attempted", 0),
                    totals.get("established", 0),
                    totals.get("failed", 0),
                    *by_category.values(),
                    _current_p95(stats, "connect", "WS"),
                    _current_p95(stats, "Heartbeat", "OCPP"),
                    *self._redis_columns(totals),
                    totals.get("booted", 0),
                    totals.get("reconnects", 0),
                    sum(
                        e.num_requests
                        for (_, method), e in stats.entries.items()
                        if method in ("OCPP", "server")
                    ),
                    totals.get("energy_wh", 0),
                    totals.get("power_w", 0),
                    totals.get("charging", 0),
                ]
            )
            self._timeline.flush()
        options = self.environment.parsed_options
        headless = bool(options is not None and getattr(options, "headless", False))
        if headless and run_time - self._last_line >= self.progress_every_s:
            self._last_line = run_time
            print(progress_line(run_time, where, totals, stats.total.num_failures), flush=True)
        for callback in self.on_sample:
            callback()

    def _redis_columns(self, totals: dict[str, int]) -> list[Any]:
        if self.redis_info is None:
            return ["", "", "", "", ""]
        info = self.redis_info.latest()
        return [
            info.get("connected_clients", ""),
            info.get("blocked_clients", ""),
            info.get("instantaneous_ops_per_sec", ""),
            totals.get("probe_missing", 0),
            totals.get("probe_unchecked", 0),
        ]

    def redis_summary(self) -> dict[str, Any] | None:
        """summary.json's ``redis``: the probe's counts and the server's INFO samples."""
        if self.config.redis is None:
            return None
        totals = self.totals()
        return {
            "probe": {
                **{
                    k: totals.get(f"probe_{k}", 0)
                    for k in ("checked", "found", "missing", "unchecked")
                },
                "sample": self.config.redis.sample,
                "within_s": self.config.redis.within_s,
            },
            "server": self.redis_info.summary() if self.redis_info is not None else {},
        }

    def worker_rows(self) -> list[dict[str, Any]]:
        """Per worker: connected, open files, peak memory and the host's TCP states."""
        rows = []
        runner = self.environment.runner
        clients = getattr(runner, "clients", {}) if isinstance(runner, MasterRunner) else {}
        samples = self.workers or ({"local": self._local_sample()} if not clients else {})
        for node, sample in sorted(samples.items()):
            client = clients.get(node) if clients else None
            tcp = sample.get("tcp", {})
            state = getattr(client, "state", "running") if client else "local"
            if node in self.lost_workers:
                state = "lost"
            rows.append(
                {
                    "name": node,
                    "state": state,
                    "connected": sample.get("connected", 0),
                    "open_files": sample.get("open_files", 0),
                    "max_rss_mb": round(sample.get("max_rss_kb", 0) / 1024, 1),
                    "tcp_inuse": tcp.get("inuse", 0),
                    "tcp_tw": tcp.get("tw", 0),
                    "tcp_orphan": tcp.get("orphan", 0),
                }
            )
        return rows

    def _local_sample(self) -> dict[str, Any]:
        return process_sample(self.counters)


def progress_line(
    run_time: float, where: StagePosition | None, totals: dict[str, int], failures: int
) -> str:
    """One line of headless progress: stage, connected against target, success, failures."""
    established = totals.get("established", 0)
    finished = established + totals.get("failed", 0)
    rate = f"{established / finished:.2%}" if finished else "-"  # nothing finished: no rate
    stage = f"stage {where.index + 1}/{where.count}" if where else "stopping"
    target = f"/{where.stage.users:,}" if where else ""
    return (
        f"[{run_time:6.0f}s] {stage}  connected {totals.get('connected', 0):,}{target}  "
        f"attempted {totals.get('attempted', 0):,}  success {rate}  failures {failures:,}"
    )


def install_worker(environment: Environment, counters: Counters) -> None:
    """On a worker: send a sample to the master every second and with each stats report."""
    runner = environment.runner
    assert isinstance(runner, WorkerRunner)

    def send_loop() -> None:
        while True:
            gevent.sleep(SAMPLE_INTERVAL_S)
            try:
                runner.send_message(MESSAGE, process_sample(counters))
            except Exception:  # the master may be gone while we stop
                log.debug("could not send counters to the master", exc_info=True)

    def final_report(client_id: str, data: dict[str, Any]) -> None:
        data[MESSAGE] = process_sample(counters)

    environment.events.report_to_master.add_listener(final_report)
    gevent.spawn(send_loop)


def install_master(
    environment: Environment, config: Config, results: Path, counters: Counters
) -> Monitor:
    """On the master (or standalone): collect worker samples into a :class:`Monitor`.

    ``counters``: this process's own (a standalone run is its own worker).
    """
    monitor = Monitor(environment, config, results, counters)
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(MESSAGE, monitor.on_worker_sample)

        def worker_report(client_id: str, data: dict[str, Any]) -> None:
            if isinstance(data, dict) and MESSAGE in data:
                monitor.take_sample(client_id, data[MESSAGE])

        environment.events.worker_report.add_listener(worker_report)

        def share_ids(client_id: str, **_: Any) -> None:  # read by loadgen.locust.runtime
            """Each worker takes every n-th row of an ids file from its index: n is the
            highest worker index + 1 (indexes are never reused, so rows of a worker that
            left stay unused rather than shared). The option rides on every spawn message,
            so a worker has it before it spawns users, a late one too."""
            runner, options = environment.runner, environment.parsed_options
            if isinstance(runner, MasterRunner) and options is not None:
                slots = max(int(getattr(options, ID_SLOTS, 1) or 1), 1)
                setattr(options, ID_SLOTS, max(slots, runner.get_worker_index(client_id) + 1))

        environment.events.worker_connect.add_listener(share_ids)
    return monitor
