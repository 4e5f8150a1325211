"""`loadgen doctor --probe CONFIG`: one real connection says which step failed, and why."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from loadgen.failures import Failure
from loadgen.run import configfile, probe
from tests.integration.certs import make_pki
from tests.integration.conftest import GatewayProcess
from tests.integration.support import ROOT, SCALE

pytestmark = pytest.mark.integration


def run_probe(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadgen", "doctor", "--probe", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60 * SCALE,
    )


def config_for(tmp_path: Path, target: str, extra: str = "") -> Path:
    path = tmp_path / "probe.yaml"
    path.write_text(
        f"target: {target}\ncharge_points: {{connect_timeout_s: 3, call_timeout_s: 3}}\n{extra}"
    )
    return path


@pytest.mark.timeout(60)
def test_probe_of_a_working_csms_says_each_step_is_ok(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    """DNS, TCP, the upgrade and an Accepted boot: exit 0, one line per step."""
    done = run_probe(config_for(tmp_path, f"ws://localhost:{gateway.port}/ocpp"))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for step in ("DNS", "TCP", "upgrade", "boot"):
        assert any(ln.strip().startswith(f"ok   {step}") for ln in lines), (step, done.stdout)
    assert "Accepted" in done.stdout and "CP-0-000001" in done.stdout


@pytest.mark.timeout(60)
def test_probe_names_a_refused_tcp_connect(tmp_path: Path) -> None:
    """Nothing listening: the TCP step fails and says so; exit 1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening
        done = run_probe(config_for(tmp_path, f"ws://127.0.0.1:{sock.getsockname()[1]}/ocpp"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL TCP" in done.stdout and "refused" in done.stdout


@pytest.mark.timeout(60)
def test_probe_names_refused_credentials(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """A 401 for the ids file's password is a Basic auth failure, with the status."""
    (tmp_path / "gw.csv").write_text("AUTH-1,right-password\n")
    (tmp_path / "ids.csv").write_text("AUTH-1,wrong-password\n")
    gw = gateway_factory(basic_auth_file=str(tmp_path / "gw.csv"))
    extra = (
        "charge_points: {ids_file: ids.csv, connect_timeout_s: 3}\n"
        "stages: [{users: 1, spawn_rate: 1, duration: 5}]\n"
    )
    path = tmp_path / "auth.yaml"
    path.write_text(f"target: {gw.url}/ocpp\n{extra}")
    done = run_probe(path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL Basic auth" in done.stdout and "HTTP 401" in done.stdout
    assert "AUTH-1" in done.stdout and "wrong-password" not in done.stdout + done.stderr


@pytest.mark.timeout(60)
def test_probe_names_the_certificate_it_refused(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """A server certificate from another CA: the TLS step fails naming its subject and issuer."""
    pki = make_pki(tmp_path / "pki")
    gw = gateway_factory(tls_cert=str(pki.server_cert), tls_key=str(pki.server_key))
    done = run_probe(
        config_for(
            tmp_path, f"wss://127.0.0.1:{gw.port}/ocpp", f"tls: {{ca_file: {pki.other_ca}}}\n"
        )
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL TLS" in done.stdout and "certificate verify failed" not in done.stderr
    assert "loadgen test CA" in done.stdout  # the issuer of the certificate refused


@pytest.mark.timeout(60)
def test_probe_names_a_rejected_boot(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """The upgrade works but the CSMS answers the boot Rejected: the boot step says so."""
    gw = gateway_factory(boot_status="Rejected")
    done = run_probe(config_for(tmp_path, f"{gw.url}/ocpp"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ok   upgrade" in done.stdout and "FAIL boot" in done.stdout
    assert "Rejected" in done.stdout


def test_probe_words_for_dns_and_subprotocol(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name that does not resolve fails the DNS step; a refused subprotocol its own step."""

    def no_such_name(*_: object, **__: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    config = configfile.from_dict({"target": "ws://csms.invalid/ocpp"})
    assert probe.run(config) == 1
    assert "FAIL DNS" in capsys.readouterr().out
    steps = probe.Probe()
    probe._upgrade_failed(
        steps, config, Failure("handshake_rejected", "subprotocol not accepted"), "ocpp1.6", None
    )
    assert steps.steps[-1].name == "subprotocol" and "ocpp_version" in steps.steps[-1].said
