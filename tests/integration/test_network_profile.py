"""Migrating chargers to another CSMS (OCPP 2.0.1 B09, B10) between two real CSMS
processes of the ``ocpp`` package on loopback, with a real Locust run of loadgen."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration import csms_scenarios as sc
from tests.integration.behaviour_runs import CSMS_SCRIPT
from tests.integration.support import SCALE, free_port, locust_argv, poll

pytestmark = pytest.mark.integration

VERSION = "2.0.1"
CHARGERS = ("migrate", "migrate-refused")


@contextmanager
def process(argv: list[str], directory: Path, name: str, env: dict[str, str]) -> Iterator[Path]:
    """``argv`` running in ``directory`` (its output in ``name``.out); ended by its PID:
    SIGINT for Locust, SIGTERM for a CSMS, SIGKILL if it does not end in time."""
    out = directory / f"{name}.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=directory, env={**os.environ, **env},
        )  # fmt: skip
    try:
        yield out
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT if name == "locust" else signal.SIGTERM)
        try:
            proc.wait(timeout=30 * SCALE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def csms(directory: Path, scenarios: tuple[str, ...], env: dict[str, str]) -> Iterator[Any]:
    """A reference CSMS running ``scenarios``; yields (port, its report reader)."""
    directory.mkdir()
    report = directory / "report.json"
    argv = [sys.executable, str(CSMS_SCRIPT), "--version", VERSION, "--port", "0"]
    argv += ["--report", str(report), "--connectors", "1"]
    for name in scenarios:
        argv += ["--scenario", name]
    with process(argv, directory, "csms", env) as out:
        text = poll(lambda: (t := out.read_text()).startswith("listening on") and t, "the CSMS", 30)

        def chargers() -> dict[str, Any]:
            return dict(json.loads(report.read_text(encoding="utf-8"))["chargers"])

        yield int(text.split()[-1]), chargers


def boots(cp: dict[str, Any]) -> list[tuple[int, str]]:
    """(connection number, reason) of each BootNotification a charge point sent."""
    return [
        (m["conn"], m["payload"]["reason"])
        for m in cp["messages"]
        if m["action"] == "BootNotification"
    ]


def done(chargers: dict[str, Any], name: str) -> bool:
    cp = chargers.get(name)
    return cp is not None and cp["scenario_status"] not in ("not started", "running")


@pytest.mark.timeout(150)
def test_chargers_move_to_the_csms_they_are_told_to(tmp_path: Path) -> None:
    """SetNetworkProfile, NetworkConfigurationPriority "1,0" and a Reset move a charger
    to the second CSMS, where it boots (B10.FR.04/06); a charger sent to a port nobody
    listens on tries it NetworkProfileConnectionAttempts times, then comes back to the
    first CSMS and boots there again (B10.FR.03/07)."""
    dead = f"ws://127.0.0.1:{free_port()}/ocpp"
    with csms(tmp_path / "new", ("migrated",), {}) as (new_port, new_chargers):
        env = {sc.MIGRATE_URL_ENV: f"ws://127.0.0.1:{new_port}/ocpp", sc.DEAD_URL_ENV: dead}
        with csms(tmp_path / "old", CHARGERS, env) as (old_port, old_chargers):
            ids = tmp_path / "ids.csv"
            ids.write_text("".join(f"{name}\n" for name in CHARGERS), encoding="utf-8")
            config = tmp_path / "config.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "ocpp_version": VERSION,
                        "charge_points": {
                            "ids_file": str(ids),
                            "call_timeout_s": 10,
                            "reboot_s": 0.5,
                            "reconnect": {"initial_s": 0.3, "max_s": 1, "random_range_s": 0.2},
                        },
                        "stages": [{"users": 2, "spawn_rate": 2, "duration": "60s"}],
                        "thresholds": {"min_success_rate": None, "max_connect_p95_ms": None},
                    }
                ),
                encoding="utf-8",
            )
            argv = locust_argv(config, f"ws://127.0.0.1:{old_port}/ocpp", tmp_path / "results")
            env = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
            with process(argv, tmp_path, "locust", env) as locust_out:
                poll(
                    lambda: (
                        all(done(old_chargers(), name) for name in CHARGERS)
                        and done(new_chargers(), "migrate")
                    ),
                    "the migrations",
                    60,
                )
                old, new = old_chargers(), new_chargers()
    evidence = locust_out.read_text()[-3000:]
    for cp in (old["migrate"], old["migrate-refused"], new["migrate"]):
        assert cp["scenario_status"] == "done", (cp["scenario_status"], evidence)
        assert cp["errors"] == [], cp["errors"]
    # the first charger left the old CSMS for good and booted on the new one
    assert old["migrate"]["connections"] == 1 and boots(old["migrate"]) == [(1, "PowerUp")]
    assert boots(new["migrate"]) == [(1, "RemoteReset")]
    # the second came back to the old one after its attempts at the dead URL
    assert "migrate-refused" not in new
    assert boots(old["migrate-refused"]) == [(1, "PowerUp"), (2, "RemoteReset")]
    summary = json.loads((tmp_path / "results" / "summary.json").read_text(encoding="utf-8"))
    assert summary["failures"] == {"connect_refused": sc.MIGRATE_ATTEMPTS}, summary
