"""The layering of loadgen as a contract: which package may import which.

Inner layers know nothing of outer ones (docs/design.md): the protocol (``ocpp``) and
the charger core (``sim``) never import Locust; the Locust face and observation stand
side by side and never import each other; only ``run`` wires everything; the built-in
scenarios (``scenarios``) use the public API alone, which the Locust face ships them
with; nothing but
``loadgen gateway``'s launcher imports the gateway, and the gateway imports neither
Locust nor gevent.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import loadgen

ROOT = Path(loadgen.__file__).parent
#: Third-party I/O stacks; ``socket`` is only checked in our source (asyncio, which the
#: ``ocpp`` package imports, loads it).
THIRD_PARTY = ("gevent", "websocket", "websockets", "redis", "locust", "requests")
#: package -> loadgen packages and base modules it may import
ALLOWED: dict[str, set[str]] = {
    "ocpp": {"ocpp"},
    "sim": {"ocpp", "sim", "config", "failures"},
    "locust": {"ocpp", "sim", "locust", "config", "failures", "ids", "scenarios"},
    "observe": {"ocpp", "sim", "observe", "config", "failures", "redismap"},
    "run": {"ocpp", "sim", "locust", "observe", "run", "config", "failures", "ids", "redismap"},
    "gateway": {"gateway", "ocpp", "redismap", "ids", "config", "failures"},
}
#: what the scenarios package may import of loadgen: the public names, from ``loadgen``
PUBLIC_ONLY = {"scenarios"}
#: third-party stacks a package must not import
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "ocpp": {*THIRD_PARTY, "socket", "asyncio"},
    "sim": {"locust", "redis", "websocket", "requests", "asyncio"},
    "gateway": {"locust", "gevent", "websocket"},
}
#: the only modules outside the gateway that may import it (the ``loadgen gateway`` command)
GATEWAY_LAUNCHERS = {"run/cli.py"}


def _imports(path: Path) -> set[str]:
    """Every module a source file imports, absolute names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _loadgen_parts(names: set[str]) -> set[str]:
    """The first part after ``loadgen.`` of every loadgen import (``sim``, ``config``)."""
    return {name.split(".")[1] for name in names if name.startswith("loadgen.")}


def test_scenarios_import_only_the_public_api() -> None:
    """The scenarios package imports of loadgen only the names ``loadgen`` exports."""
    for package in PUBLIC_ONLY:
        files = sorted((ROOT / package).glob("*.py"))
        assert files, package
        for path in files:
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                    assert not any(n.startswith("loadgen") for n in names), (path, names)
                elif isinstance(node, ast.ImportFrom) and node.module:
                    if node.module.startswith("loadgen"):
                        assert node.module == "loadgen", (path, node.module)
                        names = {alias.name for alias in node.names}
                        assert names <= set(loadgen.__all__), (path, names)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    """Each package imports only the loadgen packages and base modules its layer may."""
    files = sorted((ROOT / package).glob("*.py"))
    assert files, package
    for path in files:
        imported = _loadgen_parts(_imports(path))
        extra = imported - ALLOWED[package]
        if package == "run" and "gateway" in extra:
            assert f"run/{path.name}" in GATEWAY_LAUNCHERS, path
            extra.discard("gateway")
        assert not extra, f"{path.relative_to(ROOT)} imports loadgen.{sorted(extra)}"
        stacks = {name.split(".")[0] for name in _imports(path)}
        forbidden = stacks & FORBIDDEN_THIRD_PARTY.get(package, set())
        assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"


def test_base_modules_import_no_layer() -> None:
    """The shared vocabulary at the base (config, failures, ids, redismap) imports no
    package of loadgen but the protocol's settings table."""
    for name in ("config.py", "failures.py", "ids.py", "redismap.py"):
        imported = _loadgen_parts(_imports(ROOT / name))
        assert imported <= {"config", "failures"}, (name, imported)


def test_importing_the_protocol_and_core_loads_no_locust() -> None:
    """In a fresh interpreter, loadgen.ocpp loads no I/O stack and loadgen.sim no Locust."""
    code = (
        "import sys, loadgen.ocpp, loadgen.ocpp.schemas;"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {THIRD_PARTY!r}));"
        "import loadgen.sim.station, loadgen.sim.engine;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'redis')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]
