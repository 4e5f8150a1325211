"""Runs of the reference CSMS (csms_ocpp.py) and plain Locust side by side, and readers of
the CSMS's record, for ``test_behaviour.py``.

A :class:`RunSpec` names the operator scenarios (one charge point each: the ids file
holds the scenario names) and the config keys beyond the common ones; :func:`execute`
starts every run of one OCPP version together, waits (bounded) until every scenario has
finished, ends Locust with SIGINT and the CSMS with SIGTERM, each by its PID, and
returns what each left behind. The readers turn the record into what the tests assert
on and into evidence lines for their failure messages.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from tests.integration import csms_scenarios as sc
from tests.integration.support import SCALE, locust_argv, poll

CSMS_SCRIPT = Path(__file__).with_name("csms_ocpp.py")
#: Late answers: a charge point that sends a CALL before one of these is answered breaks
#: OCPP-J's one-CALL-in-flight rule (1.6J section 4.1.1, 2.0.1 Part 4 section 4.1.1).
DELAYED = {"Heartbeat": 300, "StatusNotification": 300}
#: Every stage lasts this long; the runs are ended as soon as their scenarios finish.
RUN_LIMIT_S = 60
SCENARIOS_TIMEOUT_S = 45.0
STOP_TIMEOUT_S = 30.0


def _no_more(version: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class RunSpec:
    """One CSMS and one Locust run: the scenarios (= charge point ids) and config."""

    name: str
    scenarios: tuple[str, ...]
    connectors: int = 2
    #: the config's charge_points keys beyond the common ones, by OCPP version
    charge_points: Callable[[str], dict[str, Any]] = _no_more
    #: the config's fleet section, by OCPP version (empty: none)
    fleet: Callable[[str], dict[str, Any]] = _no_more
    #: scenario -> its ids file row's serial_number, model and id_tags
    rows: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    #: the locustfile Locust runs (an example's, say); None: the project's own
    locustfile: Path | None = None


# -- running the CSMS and Locust ------------------------------------------------------


@dataclass
class RunResult:
    """What one run left behind: the CSMS's report, loadgen's summary, both logs."""

    spec: RunSpec
    version: str
    report: dict[str, Any]
    summary: dict[str, Any] | None
    locust_output: str
    csms_log: str
    locust_code: int | None

    def charger(self, name: str) -> dict[str, Any]:
        """The record of charge point ``name`` (its scenario), checked to be clean: the
        scenario ran to its end and no frame broke the schemas in either direction."""
        context = f"\n--- locust ---\n{self.locust_output[-3000:]}\n--- csms ---\n"
        context += self.csms_log[-3000:]
        assert name in self.report["chargers"], sorted(self.report["chargers"]) + [context]
        cp = self.report["chargers"][name]
        assert cp["scenario_status"] == "done", (
            f"{name}: {cp['scenario_status']}\n{frames(cp)}{context}"
        )
        assert cp["errors"] == [], json.dumps(cp["errors"], indent=1)[:6000]
        refused = [m for m in cp["messages"] if "callError" in (m.get("reply") or {})]
        assert refused == [], json.dumps(refused, indent=1)[:3000]
        return cp


class Run:
    """A CSMS subprocess and a Locust subprocess for one :class:`RunSpec`, ended by PID."""

    def __init__(self, spec: RunSpec, version: str, directory: Path) -> None:
        self.spec = spec
        self.version = version
        self.directory = directory
        directory.mkdir(parents=True)
        self.report_path = directory / "csms-report.json"
        self.results = directory / "results"
        self.csms: subprocess.Popen[bytes] | None = None
        self.locust: subprocess.Popen[bytes] | None = None

    def start_csms(self) -> None:
        argv = [sys.executable, str(CSMS_SCRIPT), "--version", self.version, "--port", "0"]
        argv += ["--report", str(self.report_path), "--connectors", str(self.spec.connectors)]
        for name in self.spec.scenarios:
            argv += ["--scenario", name]
        for action, ms in DELAYED.items():
            argv += ["--delay", f"{action}={ms}"]
        with (
            (self.directory / "csms.stdout").open("wb") as out,
            (self.directory / "csms.stderr").open("wb") as err,
        ):
            self.csms = subprocess.Popen(
                argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=self.directory
            )

    def port(self) -> int:
        text = (self.directory / "csms.stdout").read_text(encoding="utf-8")
        assert self.csms is not None and self.csms.poll() is None, self.log("csms.stderr")
        return int(text.split()[-1]) if text.startswith("listening on") else 0

    def start_locust(self, port: int) -> None:
        config = self.write_config()
        url = f"ws://127.0.0.1:{port}/ocpp"
        argv = locust_argv(config, url, self.results, locustfile=self.spec.locustfile)
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        with (self.directory / "locust.out").open("wb") as out:
            self.locust = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.directory,
                env=env,
            )

    def write_config(self) -> Path:
        ids = self.directory / "ids.csv"
        if self.spec.rows:
            lines = ["id,serial_number,model,id_tags\n"] + [
                ",".join((name, *self.spec.rows.get(name, ("", "", "")))) + "\n"
                for name in self.spec.scenarios
            ]
        else:
            lines = [f"{name}\n" for name in self.spec.scenarios]
        ids.write_text("".join(lines), encoding="utf-8")
        extra = self.spec.charge_points(self.version)
        users = len(self.spec.scenarios)
        config = {
            "target": "embedded",  # --host replaces it
            "ocpp_version": self.version,
            "charge_points": {
                "ids_file": str(ids),
                "connectors": self.spec.connectors,
                "heartbeat_interval_s": None,  # the CSMS's boot answers set it (1 s)
                "call_timeout_s": 10,
                "reboot_s": 0.5,
                "scenario": {"idle": 1, "charging": 0},
                "session": {"duration_s": 60, "meter_interval_s": 1, "pause_s": 1},
                "reconnect": {"initial_s": 0.3, "max_s": 1, "random_range_s": 0.2},
                **extra,
            },
            "stages": [{"users": users, "spawn_rate": users, "duration": f"{RUN_LIMIT_S}s"}],
            "thresholds": {
                "min_success_rate": None,
                "min_boot_rate": None,
                "max_connect_p95_ms": None,
            },
        }
        fleet = self.spec.fleet(self.version)
        if fleet:
            config["fleet"] = fleet
        path = self.directory / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def finished(self) -> bool:
        """Every scenario has ended (done or failed), or Locust has exited."""
        if self.locust is not None and self.locust.poll() is not None:
            return True
        try:
            report = json.loads(self.report_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        chargers = report["chargers"]
        return all(
            name in chargers and chargers[name]["scenario_status"] not in ("not started", "running")
            for name in self.spec.scenarios
        )

    def stop(self) -> None:
        """SIGINT to Locust (it writes its results), then SIGTERM to the CSMS (its final
        report); SIGKILL either one that does not end in time."""
        for process, sig in ((self.locust, signal.SIGINT), (self.csms, signal.SIGTERM)):
            if process is None:
                continue
            if process.poll() is None:
                os.kill(process.pid, sig)
            try:
                process.wait(timeout=STOP_TIMEOUT_S * SCALE)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT_S)

    def log(self, name: str) -> str:
        path = self.directory / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def result(self) -> RunResult:
        summary_path = self.results / "summary.json"
        summary = None
        if summary_path.exists():
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        return RunResult(
            self.spec,
            self.version,
            json.loads(self.report_path.read_text(encoding="utf-8")),
            summary,
            self.log("locust.out"),
            self.log("csms.stderr"),
            self.locust.returncode if self.locust is not None else None,
        )


def execute(specs: tuple[RunSpec, ...], version: str, directory: Path) -> dict[str, RunResult]:
    """Every run of ``specs`` for ``version``, side by side, until their scenarios finish."""
    runs = [Run(spec, version, directory / spec.name) for spec in specs]
    try:
        for run in runs:
            run.start_csms()
        ports = [poll(run.port, f"{run.spec.name} CSMS listening", 20) for run in runs]
        for run, port in zip(runs, ports, strict=True):
            run.start_locust(port)
        try:
            poll(
                lambda: all(run.finished() for run in runs),
                "every scenario finished",
                SCENARIOS_TIMEOUT_S,
            )
        except AssertionError:
            pass  # the tests show which scenario is stuck, from the reports
    finally:
        for run in runs:
            run.stop()
    return {run.spec.name: run.result() for run in runs}


# -- reading the record ---------------------------------------------------------------


def frames(cp: dict[str, Any], start: int = 0, end: int | None = None) -> str:
    """Messages ``start:end`` as lines, for an assertion's evidence."""
    lines = []
    for i, m in enumerate(cp["messages"][start:end], start):
        reply = json.dumps(m.get("reply"), separators=(",", ":"))[:160]
        payload = json.dumps(m["payload"], separators=(",", ":"))[:300]
        lines.append(f"#{i} t={m['t']} conn={m['conn']} {m['action']} {payload} -> {reply}")
    calls = [
        f"call t={c['t_sent']} conn={c['conn']} {c['label']} {c['request']} -> {c['status']}"
        for c in cp["server_calls"]
    ]
    return "\n".join(["", *lines, *calls, f"closes={cp['closes']}"])


def call(cp: dict[str, Any], label: str) -> dict[str, Any]:
    """The server call labelled ``label``."""
    found = [c for c in cp["server_calls"] if c["label"] == label]
    assert len(found) == 1, f"{label}: {len(found)} calls" + frames(cp)
    return found[0]


def mark(cp: dict[str, Any], name: str) -> int:
    """The number of messages the CSMS had received when the scenario noted ``name``."""
    return int(cp["marks"][name]["index"])


def index_of(
    cp: dict[str, Any], predicate: Callable[[dict[str, Any]], bool], start: int = 0
) -> int:
    """Index of the first message from ``start`` on that matches; fails if none."""
    found = sc.find(cp["messages"], predicate, start)
    assert found, f"no such message after #{start}" + frames(cp, start)
    return found - 1


def epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def sample_time(version: str, m: dict[str, Any]) -> float:
    """When the charge point generated a transaction message (its own timestamp)."""
    payload = m["payload"]
    if version == "1.6" and m["action"] == "MeterValues":
        return epoch(payload["meterValue"][0]["timestamp"])
    return epoch(payload["timestamp"])


def calls_from_cp(cp: dict[str, Any], start: int = 0, end: int | None = None) -> list[str]:
    return [m["action"] for m in cp["messages"][start:end]]


def statuses(version: str, cp: dict[str, Any], start: int, end: int | None) -> list[tuple]:
    """(connector, status) of every StatusNotification in ``start:end``."""
    return [
        (sc.status_connector(version, m), sc.status_value(version, m))
        for m in cp["messages"][start:end]
        if m["action"] == "StatusNotification"
    ]


def end_reasons(version: str, m: dict[str, Any]) -> tuple[Any, ...]:
    """1.6: (reason,); 2.0.1: (triggerReason, stoppedReason)."""
    if version == "1.6":
        return (m["payload"].get("reason"),)
    return (m["payload"]["triggerReason"], m["payload"]["transactionInfo"].get("stoppedReason"))


def first_start(version: str, cp: dict[str, Any], start: int, tag: str | None = None) -> int:
    return index_of(
        cp,
        lambda m: sc.is_start(version, m) and (tag is None or sc.tag_of(version, m) == tag),
        start,
    )


def tx_end(version: str, cp: dict[str, Any], tx: Any, start: int = 0) -> int:
    return index_of(cp, lambda m: sc.is_end(version, m, tx), start)


def id_status(version: str, m: dict[str, Any]) -> Any:
    """The idTagInfo / idTokenInfo status our reply gave."""
    reply = m.get("reply") or {}
    return (reply.get("idTagInfo" if version == "1.6" else "idTokenInfo") or {}).get("status")
