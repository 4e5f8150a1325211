"""Tests that loadgen.ocpp stays pure protocol: no networking or gevent imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import loadgen.ocpp

#: Third-party I/O stacks; ``socket`` is only checked in our source (asyncio, which the
#: ``ocpp`` package imports, loads it).
THIRD_PARTY = ("gevent", "websocket", "websockets", "redis", "locust", "requests")
FORBIDDEN = (*THIRD_PARTY, "socket", "asyncio")
PACKAGE = Path(loadgen.ocpp.__file__).parent


def _imports(path: Path) -> set[str]:
    """Top-level names of every module a source file imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_forbidden_imports_in_source() -> None:
    """No module of loadgen/ocpp imports gevent, websockets, redis, locust or sockets."""
    files = sorted(PACKAGE.glob("*.py"))
    assert {f.name for f in files} >= {"framing.py", "dialect.py", "v16.py", "v201.py"}
    for path in files:
        assert not _imports(path) & set(FORBIDDEN), path.name


def test_importing_loadgen_ocpp_loads_no_io_stack() -> None:
    """Importing loadgen.ocpp in a fresh interpreter loads no third-party I/O library."""
    code = (
        "import sys, loadgen.ocpp, loadgen.ocpp.schemas;"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {THIRD_PARTY!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
