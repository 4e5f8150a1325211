"""README's "Point it at your CSMS", followed step by step against a CSMS of our own.

The reference gateway plays the user's CSMS with everything the example config uses:
wss:// with its own CA, client certificates (security profile 3) and Basic auth from an
ids file (profile 2). The README's shell block is read and run line by line, with the
example's host name replaced by the gateway's address; its last line (the full stages,
minutes long) is the same command without the trim and is only checked to be there.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.certs import make_pki
from tests.integration.conftest import GatewayProcess
from tests.integration.support import ROOT, SCALE

pytestmark = pytest.mark.integration
EXAMPLE_TARGET = "wss://csms.example.com/ocpp"


def readme_block(title: str) -> list[str]:
    """The lines of the first ```sh block of a README section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, title
    return [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]


@pytest.mark.timeout(180)
def test_the_readme_steps_reach_a_verdict_on_a_csms_of_our_own(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """Copy the example, add the files, probe, run small: each step as the README says."""
    lines = readme_block("Point it at your CSMS")
    assert lines[0] == "mkdir my-csms && cp configs/my-csms.example.yaml my-csms/my-csms.yaml"
    folder = tmp_path / "my-csms"
    folder.mkdir()
    shutil.copy(ROOT / "configs" / "my-csms.example.yaml", folder / "my-csms.yaml")
    # "put your files beside it": ids with passwords the CSMS knows, the CA, a client cert
    pki = make_pki(tmp_path / "pki")
    rows = "".join(f"RD-{i:04d},pw-{i:04d}-secret\n" for i in range(500))
    (folder / "ids.csv").write_text(rows)
    shutil.copy(pki.ca, folder / "ca.pem")
    shutil.copy(pki.client_cert, folder / "client.pem")
    shutil.copy(pki.client_key, folder / "client.key")
    gateway = gateway_factory(
        tls_cert=str(pki.server_cert),
        tls_key=str(pki.server_key),
        tls_client_ca=str(pki.ca),
        basic_auth_file=str(folder / "ids.csv"),
    )
    target = f"wss://127.0.0.1:{gateway.port}/ocpp"
    commands = [shlex.split(ln.replace(EXAMPLE_TARGET, target)) for ln in lines[1:]]
    assert [c[:2] for c in commands] == [["loadgen", "doctor"], ["loadgen", "run"]] * 1 + [
        ["loadgen", "run"]
    ]
    small = commands[1]
    trim = small.index("--users")
    assert commands[2] == small[:trim] + small[trim + 4 :]  # the full run: no --users/--run-time
    for command in commands[:2]:
        done = subprocess.run(
            [sys.executable, "-m", "loadgen", *command[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120 * SCALE,
        )
        assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
        assert "Traceback" not in done.stderr
        if command[1] == "doctor":
            assert "ok   boot" in done.stdout and "RD-0000" in done.stdout
    (results,) = (tmp_path / "results").iterdir()
    summary = json.loads((results / "summary.json").read_text())
    assert summary["thresholds"]["passed"] is True
    assert summary["connections"]["established"] == 10 and summary["failures"] == {}
    assert summary["config"] == "my-csms/my-csms.yaml"  # as given
    for path in results.rglob("*"):  # the ids file's passwords reach no result
        if path.is_file():
            assert "-secret" not in path.read_text(encoding="utf-8", errors="replace"), path
    rebuilt = subprocess.run(
        [sys.executable, "-m", "loadgen", "report", str(results)],
        capture_output=True,
        text=True,
        timeout=60 * SCALE,
    )
    assert rebuilt.returncode == 0 and "PASSED" in rebuilt.stdout, rebuilt.stderr


@pytest.mark.timeout(180)
def test_the_ci_workflow_steps_run_against_a_csms_service(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    """docs/ci/github-actions.yml's loadgen steps, run as written against a CSMS standing in
    for its service container: the probe passes, the run passes, junit.xml is where the
    publishing step looks and the folder is where the upload step looks."""
    import yaml

    workflow = yaml.safe_load((ROOT / "docs" / "ci" / "github-actions.yml").read_text())
    job = workflow["jobs"]["loadgen"]
    (service,) = job["services"].values()
    published = service["ports"][0].split(":")[0]
    runs = [s["run"] for s in job["steps"] if s.get("run", "").startswith("loadgen ")]
    (tmp_path / "loadtest").mkdir()  # the config the workflow's repository ships
    shutil.copy(ROOT / "docs" / "ci" / "loadgen-ci.yaml", tmp_path / "loadtest")
    for line in runs:
        command = shlex.split(line.replace(f"localhost:{published}", f"127.0.0.1:{gateway.port}"))
        done = subprocess.run(
            [sys.executable, "-m", "loadgen", *command[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120 * SCALE,
        )
        assert done.returncode == 0, (line, done.stdout[-3000:], done.stderr[-3000:])
    uses = {s.get("uses", "").split("@")[0]: s for s in job["steps"]}
    junit = tmp_path / uses["mikepenz/action-junit-report"]["with"]["report_paths"]
    assert "<testsuite" in junit.read_text() and 'failures="0"' in junit.read_text()
    uploaded = tmp_path / uses["actions/upload-artifact"]["with"]["path"]
    assert (uploaded / "summary.json").is_file() and (uploaded / "report.html").is_file()
