"""Plain Locust with loadgen's options: given the ways Locust takes options, or refused
at once with the reason (never a silent default config, never a traceback)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.config import ConfigError
from loadgen.run.options import config_for
from tests.integration.conftest import GatewayProcess
from tests.integration.support import ROOT, SCALE

pytestmark = pytest.mark.integration
SHORT = "charge_points: {id_prefix: OPT-}\nstages: [{users: 2, spawn_rate: 2, duration: 2s}]\n"


def locust(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 40
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless"]
        + ["--only-summary", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s * SCALE,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.timeout(90)
@pytest.mark.parametrize("way", ["env", "equals", "locust.conf"])
def test_the_config_option_is_taken_the_ways_locust_takes_options(
    gateway: GatewayProcess, tmp_path: Path, way: str
) -> None:
    """LOCUST_LOADGEN_CONFIG, --loadgen-config=PATH and a Locust config file all name the
    config, from a folder whose configs/ the web UI offers (the given one is not among them)."""
    config = tmp_path / "given.yaml"
    config.write_text(SHORT)
    results = tmp_path / "results"
    args = ["--host", f"{gateway.url}/ocpp", "--loadgen-results", str(results)]
    env = {}
    if way == "env":
        env["LOCUST_LOADGEN_CONFIG"] = str(config)
    elif way == "equals":
        args.append(f"--loadgen-config={config}")
    else:  # the file Locust reads as ./locust.conf, here given by its path
        (tmp_path / "locust.conf").write_text(f"loadgen-config = {config}\n")
        args += ["--config", str(tmp_path / "locust.conf")]
    done = locust(ROOT, *args, env=env, timeout_s=30)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    summary = json.loads((results / "summary.json").read_text())
    assert summary["config"] == str(config) and summary["connections"]["established"] == 2
    for name in ("config.yaml", "locust_stats.csv", "report.html", "junit.xml"):
        assert (results / name).is_file(), name  # a plain Locust run has loadgen's results
    assert "PASSED" in done.stdout and "[ok  ] min_success_rate" in done.stdout


@pytest.mark.timeout(60)
def test_without_a_config_plain_locust_stops_before_any_load(tmp_path: Path) -> None:
    """No --loadgen-config: exit 2 at once saying how to give one, no default config runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # a target that would refuse: nothing may try it
        host = f"ws://127.0.0.1:{sock.getsockname()[1]}/ocpp"
        done = locust(ROOT, "--host", host, "--loadgen-results", str(tmp_path / "r"))
    assert done.returncode == 2, done.stdout + done.stderr[-2000:]
    assert "--loadgen-config: no config given" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "r" / "summary.json").exists()


@pytest.mark.timeout(60)
def test_an_embedded_target_without_a_host_is_refused_at_start(tmp_path: Path) -> None:
    """target: embedded needs `loadgen run`'s gateway: plain Locust without --host exits 2."""
    config = tmp_path / "embedded.yaml"
    config.write_text("target: embedded\n" + SHORT)
    done = locust(tmp_path, "--loadgen-config", str(config))
    assert done.returncode == 2, done.stdout + done.stderr[-2000:]
    assert "host: empty" in done.stderr and "Traceback" not in done.stderr


def test_a_cleared_host_field_is_refused_by_the_start_form(tmp_path: Path) -> None:
    """The web UI's form with an empty Host and an embedded config gets the reason, not a run."""
    config = tmp_path / "embedded.yaml"
    config.write_text("target: embedded\n" + SHORT)
    with pytest.raises(ConfigError, match="Host field"):
        config_for(str(config), "", "", "", "")
    assert config_for(str(config), "", "", "", "ws://127.0.0.1:9/ocpp").target.startswith("ws:")


@pytest.mark.timeout(60)
def test_a_bad_ids_file_stops_plain_locust_before_any_load(tmp_path: Path) -> None:
    """An ids file with a bad row is a config error at start: exit 2, the line named."""
    (tmp_path / "ids.csv").write_text("CP-1\nnot an id!\n")
    config = tmp_path / "ids.yaml"
    config.write_text("charge_points: {ids_file: ids.csv}\n" + SHORT.split("\n", 1)[1])
    results = tmp_path / "results"
    done = locust(
        ROOT,
        *("--loadgen-config", str(config), "--host", "ws://127.0.0.1:9/ocpp"),
        *("--loadgen-results", str(results)),
    )
    assert done.returncode == 2, done.stdout + done.stderr[-2000:]
    assert "charge_points.ids_file: line 2" in done.stderr and "Traceback" not in done.stderr
    assert not (results / "summary.json").exists()
