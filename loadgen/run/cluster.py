"""Master and workers of one run: the master's config goes to every worker.

A worker needs no config file of its own (``loadgen worker --master HOST``, or plain
``locust --worker``): when it connects, when it asks (once its handler is in place), and
again when a test starts (the web UI may have switched configs), the master sends it the
effective config (overrides applied,
file paths absolute) and its loadgen version. The worker checks both before any charge
point starts: the same loadgen version, and the files the config names on this host
(:mod:`loadgen.run.preflight`). A problem goes back to the master, which prints it with
the worker's name and ends the run with exit status 2.

The config holds the Redis password when the config has one: the master's port must be
reachable by the workers only (docs/scale.md, "Who may talk to the master").
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

import loadgen
from loadgen.config import Config, ConfigError
from loadgen.failures import FirstIds
from loadgen.locust.runtime import Runtime
from loadgen.run import configfile, preflight

log = logging.getLogger("loadgen")
#: master -> worker: {"version", "name", "text"}
CONFIG = "loadgen_config"
#: worker -> master: {"message"}: the worker cannot run the config
WORKER_ERROR = "loadgen_worker_error"
#: worker -> master: send me the config (its handler is registered only now: a config
#: sent when the worker connected may have come before it and been dropped)
CONFIG_REQUEST = "loadgen_config_request"
#: in every worker's stats report: the first failing charge point ids per category
FAILING_IDS = "loadgen_failing_ids"
MAX_MESSAGE_CHARS = 2000
_errors: dict[int, str] = {}  # id(environment) -> the first worker error


def failed(environment: Environment) -> bool:
    """Whether a worker refused the master's config (the run then exits 2)."""
    return id(environment) in _errors


def install_master(
    environment: Environment, current: Callable[[], Config], stop: Callable[[], None]
) -> FirstIds:
    """Send ``current()`` to each worker that connects and at each test start; take the
    workers' failing ids and errors. ``stop`` ends the run as a Ctrl-C does (whether it
    waits for workers or runs). Returns the merged failing ids."""
    runner = environment.runner
    assert isinstance(runner, MasterRunner)
    failing = FirstIds()

    def send_config(client_id: str | None = None) -> None:
        try:
            config = current()
        except ConfigError as exc:  # reported where the config is used
            log.debug("no config to send: %s", exc)
            return
        data = {
            "version": loadgen.__version__,
            "name": config.name,
            "text": configfile.effective_yaml(config, masked=False),
        }
        for client in [client_id] if client_id else list(runner.clients.keys()):
            runner.send_message(CONFIG, data, client_id=client)

    def on_connect(client_id: str, **_: Any) -> None:
        send_config(client_id)

    def on_error(environment: Environment, msg: Any, **_: Any) -> None:
        if msg.node_id not in runner.clients:
            return
        data = msg.data if isinstance(msg.data, dict) else {}
        message = str(data.get("message", "no reason given"))[:MAX_MESSAGE_CHARS]
        index = runner.get_worker_index(msg.node_id)
        sys.stderr.write(f"loadgen: worker {index} ({msg.node_id[:60]}): {message}\n")
        sys.stderr.flush()
        first = id(environment) not in _errors
        _errors.setdefault(id(environment), message)
        environment.process_exit_code = 2
        if first:  # from a greenlet of its own: this one is the master's message loop
            gevent.spawn(stop)

    def on_report(client_id: str, data: Any) -> None:
        if client_id in runner.clients and isinstance(data, dict) and FAILING_IDS in data:
            failing.merge(data[FAILING_IDS])

    def on_request(environment: Environment, msg: Any, **_: Any) -> None:
        if msg.node_id in runner.clients:
            send_config(msg.node_id)

    environment.events.worker_connect.add_listener(on_connect)
    runner.register_message(CONFIG_REQUEST, on_request)
    environment.events.test_start.add_listener(lambda **_: send_config())
    environment.events.worker_report.add_listener(on_report)
    runner.register_message(WORKER_ERROR, on_error)
    return failing


def install_worker(environment: Environment, runtime: Runtime) -> None:
    """Run the master's config (checked here first); send the final stats at a stop and
    the failing ids with every stats report."""
    runner = environment.runner
    assert isinstance(runner, WorkerRunner)
    state: dict[str, Any] = {}

    def on_config(environment: Environment, msg: Any, **_: Any) -> None:
        try:
            state["config"] = worker_config(msg.data)
            state.pop("error", None)
        except ConfigError as exc:
            state["error"] = str(exc)
            log.error("loadgen: %s", exc)
            runner.send_message(WORKER_ERROR, {"message": str(exc)[:MAX_MESSAGE_CHARS]})
            environment.process_exit_code = 2
            gevent.spawn(runner.quit)  # no charge point may start; the master ends the run

    def load(_environment: Environment) -> Config:
        if "config" in state:
            config: Config = state["config"]
            return config
        raise ConfigError(state.get("error", "no config from the master yet"))

    def report(client_id: str, data: dict[str, Any]) -> None:
        data[FAILING_IDS] = runtime.failing_ids.snapshot()

    runtime.load_config = load
    runner.register_message(CONFIG, on_config)
    # Locust's worker says it is ready before this runs; what the master sent then found
    # no handler. Ask again, now that there is one.
    runner.send_message(CONFIG_REQUEST, None)
    environment.events.report_to_master.add_listener(report)
    environment.events.test_start.add_listener(lambda **_: runtime.failing_ids.clear())
    # the last stats before "client_stopped": the master's verdict waits for those
    environment.events.test_stop.add_listener(lambda **_: _send_now(runner))


def _send_now(runner: WorkerRunner) -> None:
    from loadgen.locust import compat

    try:
        compat.send_report_now(runner)
    except Exception:  # the master may be gone while we stop
        log.debug("could not send the final stats", exc_info=True)


def worker_config(data: object) -> Config:
    """The config a master sent, checked on this host; raises :class:`ConfigError`."""
    if not isinstance(data, dict):
        raise ConfigError("the master sent a config message of another shape.")
    version = data.get("version")
    if version != loadgen.__version__:
        raise ConfigError(
            f"this worker runs loadgen {loadgen.__version__}, the master "
            f"{configfile.quote(version, 40)}. Install the same loadgen version on every host."
        )
    text = data.get("text")
    if not isinstance(text, str) or len(text) > configfile.MAX_CONFIG_BYTES:
        raise ConfigError("the master sent no config text.")
    name = str(data.get("name") or "config")[:64]
    config = configfile.from_text(text, where="the master's config", name=name)
    preflight.check(config)
    return config
