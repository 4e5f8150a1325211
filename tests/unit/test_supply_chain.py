"""What gets installed: dependencies the runtime imports, exact pins, a pinned non-root image."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

import loadgen
from loadgen.locust import compat

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
#: top-level module -> the distribution that provides it (directly or as a dependency)
PROVIDERS = {
    "locust": "locust",
    "flask": "flask",
    "flask_login": "flask-login",
    "gevent": "gevent",
    "greenlet": "gevent",
    "redis": "redis",
    "yaml": "pyyaml",
    "ocpp": "ocpp",
    "websockets": "websockets",
    "matplotlib": "matplotlib",
    "orjson": "orjson",
    "prometheus_client": "prometheus-client",
    "cryptography": "cryptography",
}


def requirements(names: list[str]) -> dict[str, Requirement]:
    parsed = (Requirement(name) for name in names)
    return {req.name.lower(): req for req in parsed}


RUNTIME = requirements(PYPROJECT["project"]["dependencies"])
EXTRAS = {
    extra: requirements(names)
    for extra, names in PYPROJECT["project"]["optional-dependencies"].items()
}


def third_party_imports() -> set[str]:
    """Top-level third-party modules that loadgen's source imports."""
    found: set[str] = set()
    for path in Path(loadgen.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names} - {"loadgen"}


def test_runtime_dependencies_are_what_the_runtime_imports() -> None:
    """Every third-party import of loadgen is declared, and every declared runtime
    dependency is imported (test-only and bench-only packages live in extras)."""
    imported = third_party_imports()
    assert imported <= set(PROVIDERS), imported - set(PROVIDERS)
    assert {PROVIDERS[name] for name in imported} == set(RUNTIME)
    assert "websocket-client" in EXTRAS["bench"] and "websocket-client" not in RUNTIME
    assert "jsonschema" not in RUNTIME


def test_the_locust_range_is_the_one_compat_accepts() -> None:
    """pyproject's Locust range equals compat.SUPPORTED: [lowest, below)."""
    low, high = compat.SUPPORTED
    specifiers = {(s.operator, s.version) for s in RUNTIME["locust"].specifier}
    assert specifiers == {(">=", f"{low[0]}.{low[1]}"), ("<", f"{high[0]}.{high[1]}")}


def constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[\w.+-]+", version), f"not an exact pin: {line}"
            pins[name.strip().lower().replace("_", "-")] = version
    return pins


def test_constraints_pin_every_dependency_within_its_range() -> None:
    """constraints.txt pins each runtime, dev and bench dependency to one version that
    its range allows, Locust to one compat accepts."""
    pins = constraints()
    for group in (RUNTIME, *EXTRAS.values()):
        for name, requirement in group.items():
            key = name.replace("_", "-")
            assert key in pins, f"{name} is not pinned in constraints.txt"
            assert requirement.specifier.contains(pins[key], prereleases=True), (name, pins[key])
    compat.check_version(pins["locust"])


def test_this_environment_runs_the_pinned_versions() -> None:
    """The direct dependencies installed here are the versions constraints.txt pins."""
    pins = constraints()
    for name in RUNTIME:
        assert metadata.version(name) == pins[name.replace("_", "-")], name


def test_ci_and_the_image_install_with_the_constraints() -> None:
    """Every pip install of the Makefile and the Dockerfile uses constraints.txt."""
    for name in ("Makefile", "Dockerfile"):
        text = (ROOT / name).read_text(encoding="utf-8")
        installs = [
            ln for ln in text.splitlines() if "pip install" in ln and "--upgrade pip" not in ln
        ]
        assert installs, name
        assert all("-c constraints.txt" in ln for ln in installs), (name, installs)


def test_the_image_is_pinned_by_digest_and_runs_as_a_user() -> None:
    """The Dockerfile's base image has a sha256 digest and the image's user is not root."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert bases and all(re.search(r"@sha256:[0-9a-f]{64}$", base) for base in bases), bases
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
