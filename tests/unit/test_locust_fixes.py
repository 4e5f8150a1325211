"""Tests of loadgen's fixes to Locust and gevent costs, on a real Locust runner."""

from __future__ import annotations

import functools
import time

import gevent
import pytest
from locust import User, constant, task
from locust.env import Environment

from loadgen.failures import Failure
from loadgen.locust import compat as locust_fixes

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
    """One report through the reporter the engine of ``environment`` would get."""
    reporter = getattr(environment, "_test_reporter", None)
    if reporter is None:
        reporter = environment._test_reporter = locust_fixes.reporter(environment)  # type: ignore[attr-defined]
    reporter(*args)  # type: ignore[arg-type]


def _stats_settled(environment: Environment, requests: int, timeout_s: float = 5.0) -> None:
    """Wait (on the hub, with a deadline) until the stats count ``requests`` in all."""
    with gevent.Timeout(timeout_s):
        while environment.stats.total.num_requests < requests:
            gevent.sleep(0.005)


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
    with gevent.Timeout(5):
        while len(seen) < 2:  # fired from the reporter's greenlet
            gevent.sleep(0.01)
    assert seen == [("WS", "connect", None), ("WS", "disconnect", failure)]
    assert environment.stats.get("connect", "WS").num_requests == 1
    assert environment.stats.get("disconnect", "WS").num_failures == 1


def test_reports_with_another_listener_go_through_a_greenlet() -> None:
    """With a listener someone added (it may wait on I/O), a report made in a hub callback
    is queued and fired from a greenlet, in order."""
    environment = Environment(user_classes=[Sleeper])
    environment.create_local_runner()
    assert locust_fixes.only_stats_listener(environment) is True
    fired_in: list[object] = []
    environment.events.request.add_listener(
        lambda name, **_: fired_in.append((name, gevent.getcurrent()))
    )
    assert locust_fixes.only_stats_listener(environment) is False
    hub = gevent.get_hub()
    hub.loop.run_callback(_fire, environment, "OCPP", "Heartbeat", 1.0, 0, None)
    hub.loop.run_callback(_fire, environment, "OCPP", "StatusNotification", 1.0, 0, None)
    with gevent.Timeout(5):
        while len(fired_in) < 2:
            gevent.sleep(0.01)
    assert [name for name, _ in fired_in] == ["Heartbeat", "StatusNotification"]
    assert all(where is not hub for _, where in fired_in)


def test_per_second_counts_keep_the_last_minute_and_the_current_rates() -> None:
    """An hour of per-second counts (as a master sums them from its workers) shrinks to
    the last minute; the current rates Locust shows read the same numbers after."""
    from locust.stats import RequestStats

    stats = RequestStats()
    start = 1_800_000_000
    stats.total.start_time = start
    for second in range(3600):
        for name in ("Heartbeat", "BootNotification"):
            entry = stats.get(name, "OCPP")
            entry.num_reqs_per_sec[start + second] += 5
            entry.num_fail_per_sec[start + second] += second % 2
        stats.total.num_reqs_per_sec[start + second] += 10
    stats.total.last_request_timestamp = start + 3600
    before = [
        (e.current_rps, e.current_fail_per_sec) for e in (*stats.entries.values(), stats.total)
    ]
    dropped = locust_fixes.trim_per_second_counts(stats, now=start + 3600)
    kept = locust_fixes.PER_SECOND_KEPT_S
    assert dropped == 5 * (3600 - kept)  # two entries' requests and failures, the total's
    for entry in (*stats.entries.values(), stats.total):
        assert min(entry.num_reqs_per_sec) == start + 3600 - kept
        assert len(entry.num_reqs_per_sec) == kept
    after = [
        (e.current_rps, e.current_fail_per_sec) for e in (*stats.entries.values(), stats.total)
    ]
    assert after == before and before[0][0] == 5
    assert locust_fixes.trim_per_second_counts(stats, now=start + 3600) == 0


def _entry_state(stats: object) -> dict[object, dict[str, object]]:
    """Every field of every entry and the total, but the link back to ``stats``."""
    entries = dict(stats.entries)  # type: ignore[attr-defined]
    entries["total"] = stats.total  # type: ignore[attr-defined]
    return {key: {f: v for f, v in vars(e).items() if f != "stats"} for key, e in entries.items()}


@pytest.mark.parametrize("cache", [False, True])
def test_fused_stats_update_leaves_what_locusts_own_leaves(
    monkeypatch: pytest.MonkeyPatch, cache: bool
) -> None:
    """The one-function update against Locust's ``RequestStats.log_request``, on the same
    clock: every field of every entry equal after exchanges of many names, response times
    in every bucket width, ``None`` times, and seconds that tick over (its response-time
    cache)."""
    import random
    import time

    from locust.stats import RequestStats

    assert locust_fixes._stats_unchanged()
    clock = [1_800_000_000.25]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    theirs, ours = RequestStats(cache), RequestStats(cache)
    rng = random.Random(12)
    names = [f"Call{i}" for i in range(7)]
    for _ in range(5000):
        clock[0] += rng.choice((0.0, 0.001, 0.3, 1.0, 2.7))
        kind = rng.choice(("OCPP", "WebSocket"))
        name = rng.choice(names)
        ms = rng.choice((None, 0, 0.4, 3, 99.6, 147.2, 999.9, 3432, 58760.5, rng.uniform(0, 1e5)))
        length = rng.randrange(0, 2000)
        theirs.log_request(kind, name, ms, length)  # type: ignore[arg-type]
        locust_fixes.log_request(ours, kind, name, ms, length)
    state = _entry_state(ours)
    assert state == _entry_state(theirs)
    assert "num_reqs_per_sec" in state["total"] and "response_times" in state["total"]
    assert ours.total.num_requests == 5000 and len(ours.entries) == 14


def test_fused_stats_update_steps_aside_for_a_replaced_locust_method(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Someone replaced ``StatsEntry.log`` (a plugin, a newer Locust): a reporter built
    then updates the stats through Locust's own methods, so whatever the replacement
    does happens; one built with Locust's own methods does not call them."""
    from locust.stats import StatsEntry

    seen: list[float] = []
    original = StatsEntry.log

    def counting(self: StatsEntry, response_time: float, content_length: int) -> None:
        seen.append(response_time)
        original(self, response_time, content_length)  # type: ignore[arg-type]

    monkeypatch.setattr(StatsEntry, "log", counting)
    assert not locust_fixes._stats_unchanged()
    environment = Environment(user_classes=[Sleeper])
    environment.create_local_runner()
    _fire(environment, "OCPP", "Heartbeat", 12.0, 40, None)
    assert seen == [12.0, 12.0]  # the total and the entry
    assert environment.stats.get("Heartbeat", "OCPP").num_requests == 1

    monkeypatch.undo()
    assert locust_fixes._stats_unchanged()
    wrapped = functools.wraps(original)(counting)  # a wrapper with the original's names
    monkeypatch.setattr(StatsEntry, "log", wrapped)
    assert not locust_fixes._stats_unchanged()
    monkeypatch.undo()

    environment = Environment(user_classes=[Sleeper])
    environment.create_local_runner()
    calls: list[tuple[object, ...]] = []
    own = environment.stats.log_request
    environment.stats.log_request = lambda *a: (calls.append(a), own(*a))  # type: ignore[method-assign]
    seen.clear()
    _fire(environment, "OCPP", "Heartbeat", 5.0, 40, None)
    assert calls == [("OCPP", "Heartbeat", 5.0, 40)]  # a patched instance: its own method

    assert locust_fixes._stats_unchanged()
    environment = Environment(user_classes=[Sleeper])
    environment.create_local_runner()
    reporter = locust_fixes.reporter(environment)
    monkeypatch.setattr(StatsEntry, "log", counting)  # after the reporter was built
    seen.clear()
    reporter("OCPP", "Heartbeat", 7.0, 40, None)
    _stats_settled(environment, 1)
    assert seen == []  # the fused update, checked when the reporter was built
    assert environment.stats.get("Heartbeat", "OCPP").num_requests == 1


@pytest.mark.parametrize("cache", [False, True])
def test_a_batch_of_exchanges_leaves_what_locusts_own_calls_leave(
    monkeypatch: pytest.MonkeyPatch, cache: bool
) -> None:
    """Exchanges held in a ``StatsBatch`` and applied at random points, against Locust's
    ``log_request`` called at each exchange, on the same clock: every field of every
    entry equal (a new entry's ``start_time`` is when its batch was applied), with many
    names, every bucket width, ``None`` times, batches applied by age (50 ms) and at
    random, and seconds that tick over inside a batch (the response-time cache)."""
    import random
    import time

    from locust.stats import RequestStats

    clock = [1_800_000_000.25]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    theirs, ours = RequestStats(cache), RequestStats(cache)
    batch = locust_fixes.StatsBatch(ours)
    rng = random.Random(34)
    names = [f"Call{i}" for i in range(7)]
    made: dict[tuple[str, str], tuple[float, float]] = {}  # first report, its apply
    waiting: list[tuple[str, str]] = []
    applied_with_several = 0
    for _ in range(5000):
        clock[0] += rng.choice((0.0, 0.001, 0.004, 0.02, 0.03, 0.3, 1.0, 2.7))
        kind = rng.choice(("OCPP", "WebSocket"))
        name = rng.choice(names)
        ms = rng.choice((None, 0, 0.4, 3, 99.6, 147.2, 999.9, 3432, 58760.5, rng.uniform(0, 1e5)))
        length = rng.randrange(0, 2000)
        theirs.log_request(kind, name, ms, length)  # type: ignore[arg-type]
        if (name, kind) not in made and (name, kind) not in waiting:
            waiting.append((name, kind))
            made[(name, kind)] = (clock[0], 0.0)
        waited = len(batch)
        batch.add(kind, name, ms, length)  # applies the batch once it is 50 ms old
        if rng.random() < 0.02:
            batch.apply()
        if len(batch) == 0:  # applied, now
            applied_with_several += waited > 0
            for key in waiting:
                made[key] = (made[key][0], clock[0])
            waiting.clear()
    batch.apply()
    for key in waiting:
        made[key] = (made[key][0], clock[0])
    state, expected = _entry_state(ours), _entry_state(theirs)
    for (name, kind), (first, applied) in made.items():
        assert theirs.entries[(name, kind)].start_time == first
        assert ours.entries[(name, kind)].start_time == applied
        del state[(name, kind)]["start_time"], expected[(name, kind)]["start_time"]
    assert state == expected
    assert ours.total.num_requests == 5000 and len(ours.entries) == 14
    assert applied_with_several > 100  # batches of more than one exchange, many


def test_every_stats_reader_event_sees_the_exchanges_before_it() -> None:
    """Successful exchanges wait in a batch; a worker's report to the master, a reset, a
    test's stop and the process's end apply it before their listeners run, with no turn
    of the hub in between; and the hub applies it by itself within STATS_BATCH_S."""
    environment = Environment(user_classes=[Sleeper])
    environment.create_local_runner()
    reporter = locust_fixes.reporter(environment)
    seen: dict[str, int] = {}
    for name in locust_fixes.STATS_READERS:
        getattr(environment.events, name).add_listener(
            lambda _name=name, **_: seen.__setitem__(_name, environment.stats.total.num_requests)
        )
    events = environment.events
    fire = {
        "report_to_master": lambda: events.report_to_master.fire(client_id="w", data={}),
        "spawning_complete": lambda: events.spawning_complete.fire(user_count=1),
        "reset_stats": lambda: events.reset_stats.fire(),
        "test_stopping": lambda: events.test_stopping.fire(environment=environment),
        "test_stop": lambda: events.test_stop.fire(environment=environment),
        "quitting": lambda: events.quitting.fire(environment=environment),
    }
    assert set(fire) == set(locust_fixes.STATS_READERS)
    for count, name in enumerate(locust_fixes.STATS_READERS, start=1):
        reporter("OCPP", f"Call{count}", 3.0, 10, None)
        assert environment.stats.total.num_requests == count - 1  # waiting, no hub turn yet
        fire[name]()
        assert seen[name] == count, name
    reporter("OCPP", "Heartbeat", 4.0, 10, None)
    started = time.monotonic()
    _stats_settled(environment, len(fire) + 1)
    # the hub's timer applied it, no reader asked (bounded loosely: a busy host is late)
    assert time.monotonic() - started < locust_fixes.STATS_WAIT_S + 2.0
    assert environment.stats.get("Heartbeat", "OCPP").num_requests == 1


def test_a_failure_goes_in_after_the_exchanges_before_it() -> None:
    """A failed exchange is logged at once, with its error, after the waiting ones."""
    environment = Environment(user_classes=[Sleeper])
    environment.create_local_runner()
    reporter = locust_fixes.reporter(environment)
    reporter("OCPP", "Heartbeat", 3.0, 10, None)
    reporter("OCPP", "Heartbeat", 9.0, 0, Failure("call_timeout"))
    entry = environment.stats.get("Heartbeat", "OCPP")
    assert (entry.num_requests, entry.num_failures) == (2, 1)
    assert entry.max_response_time == 9.0 and entry.min_response_time == 3.0
    assert len(environment.stats.errors) == 1
