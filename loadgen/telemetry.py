"""Worker-side counters sent to the master, and the master's running totals per stage.

Each worker sends its charge points' counters once a second with Locust's custom
messages (``loadgen_counters``); the master sums the latest of every worker, samples the
total once a second and keeps, per stage, how many charge points were connected at most
and how long it took to reach the stage's target.
"""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from loadgen.config import Config
from loadgen.shape import position
from loadgen.users import COUNTERS

MESSAGE = "loadgen_counters"
SAMPLE_INTERVAL_S = 1.0
log = logging.getLogger(__name__)


def process_sample() -> dict[str, Any]:
    """This process's counters plus its peak memory (KiB)."""
    sample: dict[str, Any] = COUNTERS.snapshot()
    sample["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return sample


@dataclass
class StageProgress:
    users: int
    duration_s: float
    reached: int = 0  # most charge points connected at once during the stage
    reached_after_s: float | None = None  # from the stage's start to its target


@dataclass
class Monitor:
    """The master's (or a standalone run's) view of all charge points."""

    environment: Environment
    config: Config
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    stages: list[StageProgress] = field(default_factory=list)
    peak_connected: int = 0
    started: float | None = None  # perf_counter() at test start
    _loop: gevent.Greenlet | None = None
    last_line: float = 0.0
    progress_every_s: float = 5.0

    def totals(self) -> dict[str, int]:
        """Counters summed over workers (or this process when standalone)."""
        if isinstance(self.environment.runner, LocalRunner):
            return COUNTERS.snapshot()
        total: dict[str, int] = {}
        for sample in self.workers.values():
            for key, value in sample.items():
                if key != "max_rss_kb":
                    total[key] = total.get(key, 0) + value
        return total

    def on_worker_sample(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.workers[msg.node_id] = msg.data

    def start(self) -> None:
        self.started = time.perf_counter()
        self.stages = [StageProgress(s.users, s.duration_s) for s in self.config.stages]
        self.peak_connected = 0
        self._loop = gevent.spawn(self._sample_loop)

    def stop(self) -> None:
        """Take a last sample and stop sampling."""
        if self._loop is not None:
            self._loop.kill(block=False)
            self._loop = None
            self.sample()

    def run_time_s(self) -> float:
        return 0.0 if self.started is None else time.perf_counter() - self.started

    def _sample_loop(self) -> None:
        while True:
            gevent.sleep(SAMPLE_INTERVAL_S)
            self.sample()

    def sample(self) -> None:
        run_time = self.run_time_s()
        totals = self.totals()
        connected = totals.get("connected", 0)
        self.peak_connected = max(self.peak_connected, connected)
        where = position(self.config.stages, run_time)
        if where is not None:
            progress = self.stages[where.index]
            progress.reached = max(progress.reached, connected)
            if progress.reached_after_s is None and connected >= progress.users:
                progress.reached_after_s = round(run_time - where.started_s, 1)
        options = self.environment.parsed_options
        if (
            options is not None
            and options.headless
            and run_time - self.last_line >= self.progress_every_s
        ):
            self.last_line = run_time
            print(progress_line(run_time, where, totals, self.environment), flush=True)


def progress_line(
    run_time: float, where: Any, totals: dict[str, int], environment: Environment
) -> str:
    """One line of headless progress: stage, connected against target, success, failures."""
    attempted = totals.get("attempted", 0)
    established = totals.get("established", 0)
    finished = established + totals.get("failed", 0)
    rate = established / finished if finished else 1.0
    failures = environment.stats.total.num_failures
    stage = f"stage {where.index + 1}/{where.count}" if where else "stopping"
    target = where.stage.users if where else 0
    return (
        f"[{run_time:6.0f}s] {stage}  connected {totals.get('connected', 0):,}/{target:,}  "
        f"attempted {attempted:,}  success {rate:.2%}  failures {failures:,}"
    )


def install(environment: Environment, config: Config | None) -> Monitor | None:
    """Wire counters into the runner: workers send, the master (or standalone) collects."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):

        def send_loop() -> None:
            while True:
                gevent.sleep(SAMPLE_INTERVAL_S)
                try:
                    runner.send_message(MESSAGE, process_sample())
                except Exception:  # the master may be gone while we stop
                    log.debug("could not send counters to the master", exc_info=True)

        def final_report(client_id: str, data: dict[str, Any]) -> None:
            data[MESSAGE] = process_sample()

        environment.events.report_to_master.add_listener(final_report)
        gevent.spawn(send_loop)
        return None
    assert config is not None, "the master needs the config"
    monitor = Monitor(environment, config)
    if isinstance(runner, MasterRunner):
        runner.register_message(MESSAGE, monitor.on_worker_sample)

        def worker_report(client_id: str, data: dict[str, Any]) -> None:
            if MESSAGE in data:
                monitor.workers[client_id] = data[MESSAGE]

        environment.events.worker_report.add_listener(worker_report)
    environment.events.test_start.add_listener(lambda **_: monitor.start())
    environment.events.test_stop.add_listener(lambda **_: monitor.stop())
    return monitor
