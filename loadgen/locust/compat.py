"""Fixes for Locust's own per-message costs on workers that hold many charge points.

Locust 2.x's worker rebuilds its whole argument parser once per option on every
``spawn`` message (``default_args_dict()`` is called inside a comprehension over the
options): ~100 parsers, about 0.1 s of CPU each time the master changes the user count,
once a second while a stage ramps. The defaults never change within a process, so the
first result is kept.

``Runner.user_classes_count`` walks every user greenlet to count users per class, and
workers ask for it in every heartbeat and spawn message (a debug line formats it even
when debug logging is off): at 16,000 users per worker that is a loop over 16,000
greenlets several times a second. With one user class the count is the group's size.

gevent records, for every ``Greenlet`` made, the greenlet that spawned it and the
stack it was spawned from (``track_greenlet_tree``): ~6 us per greenlet at Locust's
spawn depth, and ~1 KB of frame records kept alive by each user's greenlet. Locust does
not read them; the setting is turned off (``GEVENT_TRACK_GREENLET_TREE=true`` in the
environment keeps it on, for debugging).

:mod:`loadgen.locust.user` installs all three.
"""

from __future__ import annotations

import functools
import os

import gevent
from locust import argument_parser, runners

#: Heartbeats a worker may miss before the master calls it missing (Locust's default is 3).
#: A worker ramping thousands of charge points on a busy 2-core host can be late by
#: seconds; handing its users to the others then doubles the load it was late under.
HEARTBEAT_LIVENESS = 10


def install() -> None:
    """Cache ``default_args_dict``, count users in O(1), stop gevent's spawn-tree records
    and widen the heartbeat liveness.

    Idempotent.
    """
    runners.HEARTBEAT_LIVENESS = HEARTBEAT_LIVENESS
    if os.environ.get("GEVENT_TRACK_GREENLET_TREE", "").lower() not in ("1", "true", "on", "yes"):
        gevent.config.track_greenlet_tree = False
    current = argument_parser.default_args_dict
    if not hasattr(current, "cache_info"):
        argument_parser.default_args_dict = functools.lru_cache(maxsize=1)(current)
    counting = runners.Runner.user_classes_count
    if getattr(counting, "fget", None) is not _user_classes_count:
        _walk_count["fget"] = counting.fget
        runners.Runner.user_classes_count = property(_user_classes_count)


#: Locust's own ``user_classes_count`` getter, for runners with several user classes.
_walk_count: dict = {}


def _user_classes_count(runner: runners.Runner) -> dict[str, int]:
    """Users per class: the group's size for one class, else Locust's walk over them."""
    classes = runner.user_classes
    if len(classes) == 1:
        return {classes[0].__name__: len(runner.user_greenlets)}
    return _walk_count["fget"](runner)
