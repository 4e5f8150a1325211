"""Entry point of ``python -m loadgen.gateway``."""

from __future__ import annotations

from loadgen.gateway.cli import main

raise SystemExit(main())
