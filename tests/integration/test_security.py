"""OCPP security profiles end to end: Basic auth, wss:// with a CA, client certificates."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.certs import Pki, make_pki
from tests.integration.support import SCALE, locust_argv

pytestmark = pytest.mark.integration

CHARGERS = 4
RUN_TIMEOUT_S = 90


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def ids_file(tmp_path: Path) -> tuple[Path, list[str]]:
    """An ids file of pre-registered charge points with random passwords."""
    passwords = [f"pw-{secrets.token_hex(8)}" for _ in range(CHARGERS)]
    path = tmp_path / "ids.csv"
    path.write_text(
        "id,password\n" + "".join(f"CP-SEC-{i},{p}\n" for i, p in enumerate(passwords)),
        encoding="utf-8",
    )
    return path, passwords


@dataclass
class RunningRun:
    """A started standalone run and its results folder."""

    proc: subprocess.Popen[str]
    results: Path


def start(tmp_path: Path, target: str, **charge_points_and_tls: str) -> RunningRun:
    """A standalone run of 4 charge points for 5 s, started; see :func:`runs`."""
    ids = charge_points_and_tls.pop("ids_file", None)
    tls = ", ".join(f"{k}: {v}" for k, v in charge_points_and_tls.items())
    config = tmp_path / f"security-{secrets.token_hex(3)}.yaml"
    config.write_text(
        f"""
charge_points:
  connect_timeout_s: 3
  reconnect: {{initial_s: 1, max_s: 2}}
  {"ids_file: " + str(ids) if ids else ""}
tls: {{{tls}}}
stages: [{{users: {CHARGERS}, spawn_rate: {CHARGERS}, duration: 5s}}]
thresholds: {{min_success_rate: null, min_boot_rate: null, max_connect_p95_ms: null}}
""",
        encoding="utf-8",
    )
    results = config.with_suffix("")
    results.mkdir()
    with (results / "stdout.log").open("w") as out, (results / "stderr.log").open("w") as err:
        proc = subprocess.Popen(
            locust_argv(config, target, results), cwd=tmp_path, stdout=out, stderr=err, text=True
        )
    return RunningRun(proc, results)


def runs(tmp_path: Path, target: str, *settings: dict[str, str]) -> list[dict]:
    """Standalone runs of 4 charge points for 5 s against ``target``, one per ``settings``
    (charge_points' ids_file and tls keys), started together; their summary.json files,
    once each ended (bounded) without a traceback."""
    started = [start(tmp_path, target, **each) for each in settings]
    deadline = time.monotonic() + RUN_TIMEOUT_S * SCALE
    try:
        for run in started:
            run.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for run in started:
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait(timeout=30)
    summaries = []
    for run in started:
        stderr = (run.results / "stderr.log").read_text(encoding="utf-8")
        assert "Traceback" not in stderr, stderr[-3000:]
        summaries.append(json.loads((run.results / "summary.json").read_text()))
    return summaries


def assert_no_secret(folder: Path, secrets_: list[str], allowed: Path) -> None:
    """No file under ``folder`` but ``allowed`` (the ids file) holds any of ``secrets_``."""
    for path in folder.rglob("*"):
        if path.is_file() and path != allowed:
            text = path.read_text(encoding="utf-8", errors="replace")
            for secret in secrets_:
                assert secret not in text, f"a password was found in {path}"


@pytest.mark.timeout(120)
def test_basic_auth_succeeds_with_passwords_and_is_rejected_without(
    gateway_factory, ids_file, tmp_path: Path
) -> None:
    """Profile 1: the ids file's passwords get in; chargers without one get HTTP 401."""
    path, passwords = ids_file
    gw = gateway_factory(basic_auth_file=str(path))
    good, bad = runs(tmp_path, f"{gw.url}/ocpp", {"ids_file": str(path)}, {})
    assert good["connections"]["established"] == CHARGERS and good["failures"] == {}
    assert bad["connections"]["established"] == 0
    assert bad["failures"]["handshake_rejected"] >= CHARGERS
    # Which chargers got the 401s: the first ones of the run, named in the results.
    assert len(bad["failing_ids"]["handshake_rejected"]) == min(CHARGERS, 10)
    assert all(i.startswith("CP-") for i in bad["failing_ids"]["handshake_rejected"])
    assert gw.status()["messages"]["unauthorized"] >= CHARGERS
    assert_no_secret(tmp_path, passwords, allowed=path)
    assert all(p not in gw.stderr() for p in passwords)


@pytest.mark.timeout(120)
def test_wss_verifies_the_server_certificate(gateway_factory, pki: Pki, tmp_path: Path) -> None:
    """Profile 2: wss:// with the right CA connects; with another CA it fails as tls_error."""
    gw = gateway_factory(tls_cert=str(pki.server_cert), tls_key=str(pki.server_key))
    target = f"wss://127.0.0.1:{gw.port}/ocpp"
    good, bad = runs(tmp_path, target, {"ca_file": str(pki.ca)}, {"ca_file": str(pki.other_ca)})
    assert good["connections"]["established"] == CHARGERS and good["failures"] == {}
    assert bad["connections"]["established"] == 0
    assert bad["failures"]["tls_error"] >= CHARGERS


@pytest.mark.timeout(120)
def test_client_certificates_are_required_by_profile_3(
    gateway_factory, pki: Pki, tmp_path: Path
) -> None:
    """Profile 3 (mTLS): a client certificate gets in; without one the server rejects us."""
    gw = gateway_factory(
        tls_cert=str(pki.server_cert), tls_key=str(pki.server_key), tls_client_ca=str(pki.ca)
    )
    target = f"wss://127.0.0.1:{gw.port}/ocpp"
    mtls = {
        "ca_file": str(pki.ca),
        "cert_file": str(pki.client_cert),
        "key_file": str(pki.client_key),
    }
    good, bad = runs(tmp_path, target, mtls, {"ca_file": str(pki.ca)})
    assert good["connections"]["established"] == CHARGERS and good["failures"] == {}
    assert bad["connections"]["established"] == 0
    assert bad["failures"]["handshake_rejected"] >= CHARGERS
