"""Fixes for Locust's own per-message costs on workers that hold many charge points.

Locust 2.x's worker rebuilds its whole argument parser once per option on every
``spawn`` message (``default_args_dict()`` is called inside a comprehension over the
options): ~100 parsers, about 0.1 s of CPU each time the master changes the user count,
once a second while a stage ramps. The defaults never change within a process, so the
first result is kept. :mod:`loadgen.users` installs it.
"""

from __future__ import annotations

import functools

from locust import argument_parser, runners

#: Heartbeats a worker may miss before the master calls it missing (Locust's default is 3).
#: A worker ramping thousands of charge points on a busy 2-core host can be late by
#: seconds; handing its users to the others then doubles the load it was late under.
HEARTBEAT_LIVENESS = 10


def install() -> None:
    """Cache ``default_args_dict`` and widen the workers' heartbeat liveness (idempotent)."""
    runners.HEARTBEAT_LIVENESS = HEARTBEAT_LIVENESS
    current = argument_parser.default_args_dict
    if not hasattr(current, "cache_info"):
        argument_parser.default_args_dict = functools.lru_cache(maxsize=1)(current)
