"""The locustfile loadgen runs: one simulated charge point per Locust user, in stages.

Use it through ``loadgen run CONFIG`` or directly, as master, worker or standalone::

    locust -f locustfile.py --loadgen-config configs/quickstart.yaml --host ws://HOST:PORT/ocpp
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from loadgen import report, telemetry
from loadgen.config import ConfigError
from loadgen.shape import StagesShape
from loadgen.users import ChargePointUser, load_config, raise_open_files_limit

__all__ = ["ChargePoint", "StagesShape"]
log = logging.getLogger("loadgen")


class ChargePoint(ChargePointUser):
    """A simulated OCPP charge point (see loadgen.users.ChargePointUser)."""


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--loadgen-config",
        default="configs/quickstart.yaml",
        help="loadgen YAML config (stages, charge points, thresholds)",
        include_in_web_ui=True,
    )
    parser.add_argument(
        "--loadgen-ocpp-version",
        default="",
        choices=["", "1.6", "2.0.1"],
        help="override the config's ocpp_version",
        include_in_web_ui=True,
    )
    parser.add_argument(
        "--loadgen-users",
        default="",
        help="replace the stages by one stage of this many charge points",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--loadgen-run-time",
        default="",
        help="trim or stretch the stages to this run time, e.g. 90s or 5m",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--loadgen-results",
        default="",
        help="results folder for summary.json (default results/<UTC time>-<config name>)",
        include_in_web_ui=False,
    )


_state: dict[str, Any] = {}


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    limit = raise_open_files_limit()
    log.debug("open files limit %d", limit)
    if isinstance(environment.runner, WorkerRunner):
        telemetry.install(environment, config=None)
        return
    try:
        config = load_config(environment)
    except ConfigError as exc:
        sys.stderr.write(f"loadgen: {exc}\n")
        environment.process_exit_code = 2
        if environment.runner is not None:
            environment.runner.quit()
        return
    _state["config"] = config
    _state["monitor"] = telemetry.install(environment, config)
    options = environment.parsed_options
    folder = getattr(options, "loadgen_results", "") if options else ""
    if not folder:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        folder = str(Path("results") / f"{stamp}-{config.name}")
    _state["results"] = folder


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    monitor = _state.get("monitor")
    if monitor is None or isinstance(environment.runner, WorkerRunner):
        return
    config = _state["config"]
    folder = Path(_state["results"])
    summary = report.build_summary(
        run_id=folder.name,
        config=config,
        target=environment.host or config.target,
        stats=environment.stats,
        totals=monitor.totals(),
        workers=monitor.workers,
        stages=monitor.stages,
        peak_connected=monitor.peak_connected,
    )
    path = report.write_json(folder, report.SUMMARY, summary)
    log.info("summary written to %s", path)
    environment.process_exit_code = 0 if summary["thresholds"]["passed"] else 1
