"""The locustfile loadgen runs: one simulated charge point per Locust user, in stages.

Use it through ``loadgen run CONFIG`` or directly, as master, worker or standalone::

    locust -f locustfile.py --loadgen-config configs/quickstart.yaml --host ws://HOST:PORT/ocpp
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from loadgen.config import ConfigError
from loadgen.locust import compat
from loadgen.locust.process import raise_open_files_limit, tune_gc
from loadgen.locust.runtime import Runtime, runtime_for
from loadgen.locust.shape import StagesShape
from loadgen.locust.user import ChargePointUser
from loadgen.observe import htmlreport, metrics, plots, redisprobe, report, telemetry, webui
from loadgen.run import cluster, configfile, lifeline, preflight
from loadgen.run.options import config_for, config_options, load_config

__all__ = ["ChargePoint", "StagesShape"]
log = logging.getLogger("loadgen")
OCPP_VERSION_CHOICES = ("", "1.6", "2.0.1", "2.1")


class ChargePoint(ChargePointUser):
    """A simulated OCPP charge point (see loadgen.locust.user.ChargePointUser)."""


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--loadgen-config",
        env_var="LOCUST_LOADGEN_CONFIG",
        default="",
        help="loadgen YAML config (stages, charge points, thresholds); required. Workers "
        "run the master's",
        include_in_web_ui=True,
    )
    compat.offer_choices("loadgen_config", _config_choices)  # a list in the start form
    parser.add_argument(
        "--loadgen-ocpp-version",
        env_var="LOCUST_LOADGEN_OCPP_VERSION",
        default="",
        choices=list(OCPP_VERSION_CHOICES),
        help="override the config's ocpp_version",
        include_in_web_ui=True,
    )
    parser.add_argument(
        "--loadgen-users",
        env_var="LOCUST_LOADGEN_USERS",
        default="",
        help="replace the stages by one stage of this many charge points",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--loadgen-run-time",
        env_var="LOCUST_LOADGEN_RUN_TIME",
        default="",
        help="trim or stretch the stages to this run time, e.g. 90s or 5m",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--loadgen-results",
        env_var="LOCUST_LOADGEN_RESULTS",
        default="",
        help="results folder for summary.json (default results/<UTC time>-<config name>)",
        include_in_web_ui=False,
    )
    metrics.add_arguments(parser)  # --loadgen-metrics-port, --loadgen-metrics-host


_state: dict[str, Any] = {}


def _config_choices() -> list[str]:
    """Configs the web UI's start form offers: configs/*.yaml (and the one given)."""
    return sorted(str(p) for p in Path("configs").glob("*.yaml"))


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    limit = raise_open_files_limit()
    log.debug("open files limit %d", limit)
    tune_gc()
    runtime = _wire(environment)
    if isinstance(environment.runner, WorkerRunner):
        if getattr(environment.parsed_options, "processes", None):
            # Forked by a master's (or a worker host's) --processes: end with that parent.
            lifeline.die_with_parent(signal.SIGTERM)
        telemetry.install_worker(environment, runtime.engine.counters)
        cluster.install_worker(environment, runtime)
        return
    gevent.signal_handler(signal.SIGINT, _interrupt_main)
    options = environment.parsed_options
    if getattr(options, "web_login", False) and not os.environ.get(webui.PASSWORD_ENV):
        sys.stderr.write(
            f"loadgen: --web-login: set the password in the {webui.PASSWORD_ENV} environment "
            f"variable (and the user name in {webui.USER_ENV}, default admin).\n"
        )
        raise SystemExit(2)  # before any load; Locust's atexit hook ends its workers
    try:
        config = load_config(environment)
    except ConfigError as exc:
        sys.stderr.write(f"loadgen: {exc}\n")
        raise SystemExit(2) from None  # before any load; Locust's atexit hook ends its workers
    folder = getattr(options, "loadgen_results", "") if options else ""
    if not folder:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        folder = str(Path("results") / f"{stamp}-{config.name}")
    environment.events.quitting.add_listener(_on_quitting)  # before the runner's: see there
    monitor = telemetry.install_master(environment, config, Path(folder), runtime.engine.counters)
    runner = environment.runner
    failing = runtime.failing_ids  # a standalone run's own; a master's merged from workers
    if isinstance(runner, MasterRunner):  # stats only from workers the master knows
        compat.guard_worker_reports(environment, lambda client_id: client_id in runner.clients)
        failing = cluster.install_master(
            environment, lambda: load_config(environment), stop=_interrupt_main
        )
    _state["monitor"] = monitor
    _state["failing"] = failing
    ticks = {"n": 0}

    def write_running() -> None:
        ticks["n"] += 1
        if ticks["n"] % SUMMARY_EVERY_S == 0:
            _write_results(environment, monitor, state="running")

    monitor.on_sample.append(write_running)
    monitor.on_sample.append(lambda: compat.trim_per_second_counts(environment.stats))
    webui.install(environment, monitor, _swarm_form(environment))
    metrics.install(environment, monitor)  # /metrics on the web UI and --loadgen-metrics-port

    local = isinstance(environment.runner, LocalRunner)

    @environment.events.test_start.add_listener
    def _start(**_: Any) -> None:
        if local:  # a standalone run is its own worker: watch it for leaks
            _state["resources_before"] = telemetry.resource_counts()
        failing.clear()
        _state["started_at"] = time.time()
        _state.pop("ended_at", None)
        try:
            config = load_config(environment)
        except ConfigError as exc:  # a config picked in the web UI's form
            log.error("loadgen: %s", exc)
            return
        monitor.start(config)
        try:  # the config as run (overrides applied, passwords masked): loadgen report reads it
            report.write_text(monitor.results, "config.yaml", configfile.effective_yaml(config))
        except OSError as exc:
            log.warning("could not write config.yaml (%s)", exc.strerror or exc)

    @environment.events.test_stopping.add_listener
    def _stopping(**_: Any) -> None:
        monitor.stopping = True

    @environment.events.test_stop.add_listener
    def _stop(**_: Any) -> None:
        if not monitor.running:
            return
        # A master's test_stop comes after every worker stopped and sent its last stats
        # (loadgen.locust.compat.send_report_now), so these are the final numbers. The
        # final write comes whatever fails before it: a verdict lost is a run lost.
        try:
            if local:
                _state["resources_after"] = _settled_resources()
        finally:
            state = "finished" if monitor.position() is None else "interrupted"
            _state["ended_at"] = time.time()
            monitor.stop()
            _write_results(environment, monitor, state=state, final=True)


def _swarm_form(environment: Environment) -> webui.SwarmForm:
    """loadgen's fields of the web UI's start form: the offered configs and versions, and
    a check that the config they make (with the form's host) loads."""
    path, _version, users, run_time = config_options(environment)
    configs = [path, *(c for c in _config_choices() if c != path)]

    def check(values: Any) -> str | None:
        try:
            config_for(
                values.get("loadgen_config", path),
                values.get("loadgen_ocpp_version", _version),
                users,
                run_time,
                values.get("host", environment.host or ""),
            )
        except ConfigError as exc:
            return str(exc)
        return None

    return webui.SwarmForm(
        {"loadgen_config": configs, "loadgen_ocpp_version": OCPP_VERSION_CHOICES}, check
    )


def _wire(environment: Environment) -> Runtime:
    """Give the process's runtime its config loader, ids reader and observers."""
    runtime = runtime_for(environment)
    runtime.load_config = load_config
    runtime.read_ids = preflight.identities  # read once per file, shared with the checks

    def probe_booted(charge_point_id: str) -> None:
        config = runtime.last_config
        if config is not None and config.redis is not None:
            probe = redisprobe.for_environment(environment, config.redis)
            if probe is not None:
                probe.on_booted(charge_point_id)

    runtime.on_booted.append(probe_booted)
    return runtime


def _interrupt_main() -> None:
    """SIGINT on the master (or a standalone run): Locust's own stop, made reliable.

    Locust stops when a KeyboardInterrupt reaches its main greenlet. Python raises it in
    whatever code runs when the signal is seen, and there it can be lost (inside a
    finalizer, say): the run then went on to the end of its stages. The event loop's
    signal watcher calls this in a greenlet of its own, which throws it into the main one.
    """
    gevent.get_hub().parent.throw(KeyboardInterrupt)


def _settled_resources(timeout_s: float = 3.0) -> dict[str, int]:
    """Greenlets and sockets once the stopped charge points have wound down (bounded)."""
    before = _state.get("resources_before", {})
    deadline = time.monotonic() + timeout_s
    counts = telemetry.resource_counts()
    while time.monotonic() < deadline and any(counts[k] > before.get(k, 0) for k in counts):
        gevent.sleep(0.1)
        counts = telemetry.resource_counts()
    return counts


#: while a run goes, summary.json is rewritten this often (seconds), so it survives a crash
SUMMARY_EVERY_S = 5


def _write_results(
    environment: Environment, monitor: telemetry.Monitor, *, state: str, final: bool = False
) -> dict[str, Any]:
    """Write summary.json (and, when final, junit.xml and timeline.png) for the run."""
    config = monitor.config
    folder = monitor.results
    summary = report.build_summary(
        run_id=folder.name,
        config=config,
        target=environment.host or config.target,
        entries=report.entries_from_stats(environment.stats),
        failures=report.failures_from_stats(environment.stats),
        totals=monitor.totals(),
        workers=monitor.workers,
        stages=[s.as_dict() for s in monitor.stages],
        peak_connected=monitor.peak_connected,
        state=state,
        extra={
            **report.run_facts(
                _state.get("started_at"), _state.get("ended_at"), config.ocpp_version
            ),
            "failing_ids": _state["failing"].snapshot() if "failing" in _state else {},
            "workers_lost": dict(monitor.lost_workers),
            **(
                {"user_errors": errors}
                if (errors := report.user_errors(environment.runner))
                else {}
            ),
            **({"redis": redis} if (redis := monitor.redis_summary()) else {}),
            **(
                {
                    "process": {
                        "before": _state["resources_before"],
                        "after": _state["resources_after"],
                    }
                }
                if final and "resources_after" in _state
                else {}
            ),
        },
    )
    try:
        if final:  # Locust's tables of the same final numbers, before the verdict
            report.write_locust_csv(folder, environment)
        report.write_json(folder, report.SUMMARY, summary)
        if final:
            report.write_junit(folder, summary)
    except OSError as exc:
        # A verdict nobody can read is no verdict: a failed final write ends the run with
        # exit 2, never with the exit code of an earlier summary.
        reason = exc.strerror or str(exc)
        if not final:
            log.warning("could not write %s (%s); trying again later", report.SUMMARY, reason)
            return summary
        _state["write_failed"] = (
            f"loadgen: could not write the final results to {folder} ({reason}); the run's "
            "verdict is unknown (exit 2). Free space or fix the folder's permissions, and "
            f"rebuild the summary with `loadgen report {folder}`."
        )
        sys.stderr.write(_state["write_failed"] + "\n")
        return summary
    if final:
        try:
            plots.draw_in_child(folder / report.TIMELINE, folder / "timeline.png", config.name)
        except Exception:  # a plot must never cost the results
            log.exception("could not draw timeline.png")
        try:
            htmlreport.write(folder, summary, htmlreport.locust_html(environment))
        except Exception:  # nor the HTML report
            log.exception("could not write report.html")
        log.info("results written to %s", folder)
        _state["final_written"] = True
    _state["summary"] = summary
    return summary


def _on_quitting(environment: Environment, **_: Any) -> None:
    """Locust quits (the stages ended, Ctrl-C, SIGTERM): stop the charge points and write
    the results, before the runner's own listener quits its workers.

    Added in ``init``, after the runner's listener: Locust fires ``quitting`` in reverse
    order, so this one runs first and the workers still send their last stats.
    """
    monitor = _state.get("monitor")
    if monitor is None or isinstance(environment.runner, WorkerRunner):
        return
    if monitor.running and environment.runner is not None:
        # Stopped before the stages ended (Ctrl-C, SIGTERM): stop the charge points first,
        # so the workers' final stats arrive; test_stop then writes the results.
        environment.runner.stop()
    if monitor.running:  # the runner could not stop cleanly: write what we have
        monitor.stop()
        _write_results(environment, monitor, state="interrupted", final=True)
    summary = _state.get("summary")
    if "write_failed" in _state or cluster.failed(environment):
        environment.process_exit_code = 2
    elif summary is not None and _state.get("final_written"):
        environment.process_exit_code = 0 if summary["thresholds"]["passed"] else 1
        # The verdict on the terminal of a plain Locust master too (`loadgen run` shows
        # its own copy, read back from summary.json).
        sys.stdout.write(report.human_summary(summary) + f"\nResults: {monitor.results}\n")
        sys.stdout.flush()
