"""How the suite is shared between pytest-xdist's workers (``make test``: ``pytest -n 2``).

Each test runs in the worker of its module, so that a module's fixtures (the runs that
test_hostile.py, test_security.py and others start once for all their tests) run once.
The tests of :data:`SERIAL` form one group instead, run by one worker one after another:
those that load the machine (thousands of connections, several runs started together)
and those that time what the charge points do. So none of them ever runs beside another,
and the other worker meanwhile runs the light tests. Without ``-n`` (``pytest
tests/unit``, one test by its id) nothing here changes how a test runs.

(pytest-xdist's own ``xdist_group`` marker cannot do it here: ``--dist loadgroup``
writes the group into each test's id, which pytest 9 no longer lets a plugin change.)
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

#: Test modules and tests that run one at a time, never two of them at once.
SERIAL = (
    "tests/integration/test_behaviour.py",  # times the charge points' messages
    "tests/integration/test_fleet_behaviour.py",  # times a fault's recovery
    "tests/integration/test_cli.py",  # several runs at once; a lost worker, timed
    "tests/integration/test_examples.py",  # six runs at once
    "tests/integration/test_reconnect.py",  # 2,000 connections, twice
    # 5,000 connections, each mapping found within 5 s
    "tests/integration/test_redis.py::"
    "test_five_thousand_chargers_with_a_sane_pool_have_no_missing_mapping",
    # 2,000 connections at once
    "tests/integration/test_gateway.py::test_two_thousand_concurrent_chargers_boot",
)


def group_of(nodeid: str) -> str:
    """The group a test runs in: ``serial`` for the tests of SERIAL, else its module."""
    for entry in SERIAL:
        if nodeid == entry or nodeid.startswith((entry + "::", entry + "[")):
            return "serial"
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail the run when an entry of SERIAL names a module or a test that is not there."""
    modules = {item.nodeid.split("::", 1)[0]: getattr(item, "module", None) for item in items}
    for entry in SERIAL:
        path, _, name = entry.partition("::")
        module = modules.get(path)
        if not (config.rootpath / path).is_file() or (
            name and module is not None and not hasattr(module, name)
        ):
            raise pytest.UsageError(f"tests/conftest.py: SERIAL names {entry}: no such test")


class _Scheduling:
    """The xdist plugin that hands out the groups of :func:`group_of`."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        from xdist.scheduler import LoadScopeScheduling

        class GroupScheduling(LoadScopeScheduling):
            """xdist's scheduling by scope, with the groups of :func:`group_of`."""

            def _split_scope(self, nodeid: str) -> str:
                return group_of(nodeid)

        if config.getvalue("dist") == "each":
            return None
        # Groups in the order collected: the serial one first (it holds the first
        # integration module), the unit tests' short ones last, to fill the gaps.
        config.option.loadscopereorder = False
        return GroupScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_Scheduling(), "loadgen-scheduling")


#: what keeps a worker's gevent hub awake (see _keep_the_hub_awake)
_HUB_TIMER = pytest.StashKey[object]()


def _keep_the_hub_awake(config: pytest.Config) -> None:
    """In an xdist worker that Locust's import has monkey-patched, keep gevent's hub awake.

    Between tests the worker waits on a lock that xdist's receiver, a native thread
    started before the patching, releases. With no watcher of its own left, gevent's hub
    takes that wait for one that can never end and raises LoopExit instead of waiting
    for the other thread; an idle timer keeps a watcher there.
    """
    monkey = sys.modules.get("gevent.monkey")
    if _HUB_TIMER in config.stash or not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if monkey is not None and monkey.is_module_patched("threading"):
        import gevent

        timer = gevent.get_hub().loop.timer(1.0, 1.0)
        timer.start(lambda: None)
        config.stash[_HUB_TIMER] = timer


def pytest_collection_finish(session: pytest.Session) -> None:
    _keep_the_hub_awake(session.config)  # the test modules imported Locust


def pytest_runtest_teardown(item: pytest.Item) -> None:
    _keep_the_hub_awake(item.config)  # or a test did
