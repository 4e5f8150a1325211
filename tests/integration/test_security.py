"""OCPP security profiles end to end: Basic auth, wss:// with a CA, client certificates.

Each profile has a gateway of its own and two standalone runs against it, one that gets
in and one that is refused; the six runs go together, in one fixture (each with its own
config and results folder), and each test asserts on its profile's two runs.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.certs import make_pki
from tests.integration.conftest import GatewayProcess, running_gateway
from tests.integration.support import SCALE, locust_argv

pytestmark = pytest.mark.integration

CHARGERS = 4
RUN_TIMEOUT_S = 90
PROFILES = {  # test -> its profile's name in the fixture
    "test_basic_auth_succeeds_with_passwords_and_is_rejected_without": "basic",
    "test_wss_verifies_the_server_certificate": "wss",
    "test_client_certificates_are_required_by_profile_3": "mtls",
}


@dataclass
class RunningRun:
    """A started standalone run and its results folder."""

    proc: subprocess.Popen[str]
    results: Path
    ended: bool = False  # by itself, within the deadline


def start(folder: Path, target: str, **charge_points_and_tls: str) -> RunningRun:
    """A standalone run of 4 charge points for 5 s, started; see :func:`summary`."""
    ids = charge_points_and_tls.pop("ids_file", None)
    tls = ", ".join(f"{k}: {v}" for k, v in charge_points_and_tls.items())
    config = folder / f"security-{secrets.token_hex(3)}.yaml"
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
            locust_argv(config, target, results), cwd=folder, stdout=out, stderr=err, text=True
        )
    return RunningRun(proc, results)


def summary(run: RunningRun) -> dict:
    """summary.json of a run that ended (in time) without a traceback."""
    assert run.ended, "the run did not end in time"
    stderr = (run.results / "stderr.log").read_text(encoding="utf-8")
    assert "Traceback" not in stderr, stderr[-3000:]
    return dict(json.loads((run.results / "summary.json").read_text()))


@dataclass
class Profile:
    """One profile's gateway, its two runs (ended), and the folder of everything else."""

    gateway: GatewayProcess
    good: RunningRun
    bad: RunningRun
    folder: Path
    ids_file: Path | None = None
    passwords: tuple[str, ...] = ()


@pytest.fixture(scope="module")
def profiles(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Profile]]:
    """The selected tests' profiles: each gateway started, both its runs started together
    with every other profile's and waited for (bounded); the gateways end at teardown."""
    wanted = {
        PROFILES[item.originalname]  # type: ignore[attr-defined]
        for item in request.session.items
        if item.module is request.module and getattr(item, "originalname", "") in PROFILES
    } or set(PROFILES.values())
    base = tmp_path_factory.mktemp("security")
    pki = make_pki(base / "pki")
    found: dict[str, Profile] = {}
    with ExitStack() as stack:
        if "basic" in wanted:  # pre-registered charge points with random passwords
            folder = base / "basic"
            folder.mkdir()
            passwords = tuple(f"pw-{secrets.token_hex(8)}" for _ in range(CHARGERS))
            ids = folder / "ids.csv"
            ids.write_text(
                "id,password\n" + "".join(f"CP-SEC-{i},{p}\n" for i, p in enumerate(passwords)),
                encoding="utf-8",
            )
            gw = stack.enter_context(running_gateway(folder / "gateway", basic_auth_file=str(ids)))
            target = f"{gw.url}/ocpp"
            good = start(folder, target, ids_file=str(ids))
            bad = start(folder, target)
            found["basic"] = Profile(gw, good, bad, folder, ids, passwords)
        if "wss" in wanted:
            folder = base / "wss"
            folder.mkdir()
            gw = stack.enter_context(
                running_gateway(
                    folder / "gateway", tls_cert=str(pki.server_cert), tls_key=str(pki.server_key)
                )
            )
            target = f"wss://127.0.0.1:{gw.port}/ocpp"
            good = start(folder, target, ca_file=str(pki.ca))
            bad = start(folder, target, ca_file=str(pki.other_ca))
            found["wss"] = Profile(gw, good, bad, folder)
        if "mtls" in wanted:
            folder = base / "mtls"
            folder.mkdir()
            gw = stack.enter_context(
                running_gateway(
                    folder / "gateway",
                    tls_cert=str(pki.server_cert),
                    tls_key=str(pki.server_key),
                    tls_client_ca=str(pki.ca),
                )
            )
            target = f"wss://127.0.0.1:{gw.port}/ocpp"
            good = start(
                folder,
                target,
                ca_file=str(pki.ca),
                cert_file=str(pki.client_cert),
                key_file=str(pki.client_key),
            )
            bad = start(folder, target, ca_file=str(pki.ca))
            found["mtls"] = Profile(gw, good, bad, folder)
        deadline = time.monotonic() + RUN_TIMEOUT_S * SCALE
        runs = [run for profile in found.values() for run in (profile.good, profile.bad)]
        try:
            for run in runs:
                try:
                    run.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:  # its test fails on a run not ended
                    break
                run.ended = True
        finally:
            for run in runs:
                if run.proc.poll() is None:
                    run.proc.kill()
                    run.proc.wait(timeout=30)
        yield found


def assert_no_secret(folder: Path, secrets_: tuple[str, ...], allowed: Path) -> None:
    """No file under ``folder`` but ``allowed`` (the ids file) holds any of ``secrets_``."""
    for path in folder.rglob("*"):
        if path.is_file() and path != allowed:
            text = path.read_text(encoding="utf-8", errors="replace")
            for secret in secrets_:
                assert secret not in text, f"a password was found in {path}"


@pytest.mark.timeout(120)
def test_basic_auth_succeeds_with_passwords_and_is_rejected_without(
    profiles: dict[str, Profile],
) -> None:
    """Profile 1: the ids file's passwords get in; chargers without one get HTTP 401."""
    profile = profiles["basic"]
    good, bad, gw = summary(profile.good), summary(profile.bad), profile.gateway
    assert good["connections"]["established"] == CHARGERS and good["failures"] == {}
    assert bad["connections"]["established"] == 0
    assert bad["failures"]["handshake_rejected"] >= CHARGERS
    # Which chargers got the 401s: the first ones of the run, named in the results.
    assert len(bad["failing_ids"]["handshake_rejected"]) == min(CHARGERS, 10)
    assert all(i.startswith("CP-") for i in bad["failing_ids"]["handshake_rejected"])
    assert gw.status()["messages"]["unauthorized"] >= CHARGERS
    assert profile.ids_file is not None
    assert_no_secret(profile.folder, profile.passwords, allowed=profile.ids_file)
    assert all(p not in gw.stderr() for p in profile.passwords)


@pytest.mark.timeout(120)
def test_wss_verifies_the_server_certificate(profiles: dict[str, Profile]) -> None:
    """Profile 2: wss:// with the right CA connects; with another CA it fails as tls_error."""
    good, bad = summary(profiles["wss"].good), summary(profiles["wss"].bad)
    assert good["connections"]["established"] == CHARGERS and good["failures"] == {}
    assert bad["connections"]["established"] == 0
    assert bad["failures"]["tls_error"] >= CHARGERS


@pytest.mark.timeout(120)
def test_client_certificates_are_required_by_profile_3(profiles: dict[str, Profile]) -> None:
    """Profile 3 (mTLS): a client certificate gets in; without one the server rejects us."""
    good, bad = summary(profiles["mtls"].good), summary(profiles["mtls"].bad)
    assert good["connections"]["established"] == CHARGERS and good["failures"] == {}
    assert bad["connections"]["established"] == 0
    assert bad["failures"]["handshake_rejected"] >= CHARGERS
