"""Every example that exposes the web UI beyond loopback turns its login on."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_master_asks_for_a_password() -> None:
    """docker compose's master runs with --web-login and a required password variable."""
    master = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["master"]
    assert "--web-login" in master["command"]
    assert "LOADGEN_WEB_PASSWORD:?" in master["environment"]["LOADGEN_WEB_PASSWORD"]


def test_kubernetes_master_asks_for_a_password() -> None:
    """The Kubernetes master runs with --web-login and the password from a secret."""
    documents = list(yaml.safe_load_all((ROOT / "docs/k8s/loadgen.yaml").read_text()))
    (master,) = [
        d
        for d in documents
        if d["metadata"]["name"] == "loadgen-master" and d["kind"] == "Deployment"
    ]
    container = master["spec"]["template"]["spec"]["containers"][0]
    assert "--web-login" in container["command"]
    env = {e["name"]: e for e in container["env"]}
    assert "secretKeyRef" in env["LOADGEN_WEB_PASSWORD"]["valueFrom"]


def test_every_master_in_the_docs_binds_beyond_loopback_only_with_a_login() -> None:
    """A `locust ... --master` command in the docs that binds 0.0.0.0 has --web-login."""
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        for command in re.findall(r"^.*locust .*--master\b.*$", text, re.MULTILINE):
            if "0.0.0.0" in command:
                assert "--web-login" in command, (path.name, command)
