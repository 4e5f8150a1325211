"""Tests of loadgen's fixes to Locust and gevent costs, on a real Locust runner."""

from __future__ import annotations

import gevent
import pytest
from locust import User, constant, task
from locust.env import Environment

from loadgen.failures import Failure
from loadgen.locust import compat as locust_fixes
from loadgen.locust import user as users

pytestmark = pytest.mark.timeout(30)


class Sleeper(User):
    wait_time = constant(60)

    @task
    def nap(self) -> None:
        gevent.sleep(60)


class Other(Sleeper):
    pass


def test_user_classes_count_with_one_class_is_the_group_size() -> None:
    locust_fixes.install()
    environment = Environment(user_classes=[Sleeper])
    runner = environment.create_local_runner()
    assert type(runner).user_classes_count.fget is locust_fixes._user_classes_count
    try:
        runner.spawn_users({"Sleeper": 7})
        assert runner.user_classes_count == {"Sleeper": 7}
        runner.stop_users({"Sleeper": 3})
        assert runner.user_classes_count == {"Sleeper": 4}
    finally:
        runner.quit()


def test_user_classes_count_with_several_classes_walks_the_users() -> None:
    locust_fixes.install()
    environment = Environment(user_classes=[Sleeper, Other])
    runner = environment.create_local_runner()
    try:
        runner.spawn_users({"Sleeper": 2, "Other": 3})
        assert runner.user_classes_count == {"Sleeper": 2, "Other": 3}
    finally:
        runner.quit()


def test_greenlets_do_not_record_their_spawning_stack() -> None:
    locust_fixes.install()
    greenlet = gevent.Greenlet(lambda: None)
    assert greenlet.spawning_stack is None
    assert gevent.config.track_greenlet_tree is False


def _fire(environment: Environment, *args: object) -> None:
    """ChargePointUser._fire's body, on an object with just ``environment``."""

    class Holder:
        pass

    holder = Holder()
    holder.environment = environment  # type: ignore[attr-defined]
    users.ChargePointUser._fire(holder, *args)  # type: ignore[arg-type]


def test_requests_reach_the_stats_without_the_event_when_only_locust_listens() -> None:
    environment = Environment(user_classes=[Sleeper])
    environment.create_local_runner()
    _fire(environment, "OCPP", "Heartbeat", 12.0, 30, None)
    _fire(environment, "OCPP", "Heartbeat", 20.0, 30, Failure("call_timeout"))
    entry = environment.stats.get("Heartbeat", "OCPP")
    assert entry.num_requests == 2
    assert entry.num_failures == 1
    assert entry.total_content_length == 60
    assert environment.stats.total.num_requests == 2
    assert len(environment.stats.errors) == 1


def test_other_request_listeners_still_get_every_request() -> None:
    environment = Environment(user_classes=[Sleeper])
    environment.create_local_runner()
    seen: list[tuple[str, str, object]] = []
    environment.events.request.add_listener(
        lambda request_type, name, exception, **_: seen.append((request_type, name, exception))
    )
    failure = Failure("reset")
    _fire(environment, "WS", "connect", 5.0, 0, None)
    _fire(environment, "WS", "disconnect", 0.0, 0, failure)
    assert seen == [("WS", "connect", None), ("WS", "disconnect", failure)]
    assert environment.stats.get("connect", "WS").num_requests == 1
    assert environment.stats.get("disconnect", "WS").num_failures == 1


def test_requests_are_reported_from_the_hub_only_while_only_locust_listens() -> None:
    """A parked charge point reports from hub callbacks only while Locust's own stats
    listener is the only one: a listener someone added may wait on I/O."""

    class Holder:
        pass

    holder = Holder()
    environment = holder.environment = Environment(user_classes=[Sleeper])  # type: ignore[attr-defined]
    environment.create_local_runner()
    assert users.ChargePointUser._fire_never_blocks(holder) is True  # type: ignore[arg-type]
    environment.events.request.add_listener(lambda **_: None)
    assert users.ChargePointUser._fire_never_blocks(holder) is False  # type: ignore[arg-type]
