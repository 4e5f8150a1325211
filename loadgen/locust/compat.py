"""Everything loadgen does with Locust's internals, in one place, for the versions it knows.

- **Reports without the event's plumbing.** Every exchange is a Locust request. When
  Locust's own stats listener is the only one, :func:`reporter` logs into the stats as
  that listener would (a third of the cost of ``events.request.fire``) and may be called
  from a hub callback; with any other listener (which might wait on I/O) reports queue
  for one greenlet that fires the event.
- **Locust 2.x's worker rebuilds its whole argument parser once per option** on every
  ``spawn`` message (``default_args_dict()`` inside a comprehension): ~100 parsers, about
  0.1 s of CPU each time the master changes the user count. The first result is kept.
- **``Runner.user_classes_count`` walks every user greenlet**, and workers ask for it in
  every heartbeat and spawn message. With one user class the count is the group's size.
- **gevent records, for every ``Greenlet``, the stack it was spawned from**
  (``track_greenlet_tree``): ~6 us and ~1 KB per user. Locust does not read them; the
  setting is turned off (``GEVENT_TRACK_GREENLET_TREE=true`` keeps it on, for debugging).
- **Worker liveness**: heartbeats a worker may miss before the master calls it missing.
- **Two stats entries, one update.** Each exchange updates the total and its own entry:
  Locust's ``log_request`` makes seven calls per entry for it (``log``, its helpers,
  ``min``, ``max``, the rounding). :func:`_log_all` does the same bookkeeping in one
  function: for one exchange (:func:`log_request`, one clock read), or for the exchanges
  a :class:`StatsBatch` held (50 ms of them while they keep coming), reading and writing each
  entry's fields once per batch. A reporter uses them when, as it is built, Locust's
  methods are the ones they were checked against (not replaced, not wrapped) and the
  stats are Locust's own, unpatched; else Locust's methods.
- **Per-second counts kept forever.** Each stats entry counts its requests and failures
  per second of the run, and Locust reads only the last dozen seconds of them (its
  current rates); on a long run a master grows by megabytes an hour.
  :func:`trim_per_second_counts` drops those older than :data:`PER_SECOND_KEPT_S`.
- **Reports from workers the master does not know.** Locust's stats listener sums every
  ``stats`` report that reaches the master's port, from any node id, and a malformed one
  raises in the listener (which makes the run's exit code 2).
  :func:`guard_worker_reports` lets through only reports of known workers, of the
  expected shape.

:func:`check_version` refuses a Locust outside :data:`SUPPORTED` with a clear message.
"""

from __future__ import annotations

import collections
import functools
import os
import time
import weakref
from collections.abc import Callable
from typing import Any

import gevent
import locust
from gevent.event import Event
from locust import argument_parser, runners
from locust import stats as locust_stats
from locust.env import Environment
from locust.stats import RequestStats, StatsEntry

#: Locust versions whose internals this module was checked against (lowest, below). Raise
#: the upper bound, in pyproject.toml's dependency too, only after checking this module
#: against the new version (constraints.txt pins the one CI tests).
SUPPORTED = ((2, 40), (2, 48))
#: Heartbeats a worker may miss before the master calls it missing (Locust's default is 3).
#: A worker ramping thousands of charge points on a busy 2-core host can be late by
#: seconds; handing its users to the others then doubles the load it was late under.
HEARTBEAT_LIVENESS = 10

ReportFn = Callable[[str, str, float, int, Exception | None], None]


class UnsupportedLocust(RuntimeError):
    """The installed Locust is outside the versions this module knows."""


#: Seconds of per-second request and failure counts each stats entry keeps; Locust's
#: current rates read the last 12.
PER_SECOND_KEPT_S = 60


def trim_per_second_counts(stats: RequestStats, now: float | None = None) -> int:
    """Drop the per-second counts of every entry (and the total) older than
    :data:`PER_SECOND_KEPT_S` before ``now`` (default: the clock); how many went."""
    cutoff = int(time.time() if now is None else now) - PER_SECOND_KEPT_S
    dropped = 0
    for entry in (*stats.entries.values(), stats.total):
        for counts in (entry.num_reqs_per_sec, entry.num_fail_per_sec):
            if len(counts) > PER_SECOND_KEPT_S:  # else nothing can be old enough to matter
                old = [second for second in counts if second < cutoff]
                for second in old:
                    del counts[second]
                dropped += len(old)
    return dropped


#: Locust's own methods that :func:`log_request` does the work of, by where they are defined
_STATS_METHODS = (
    (StatsEntry, "log"),
    (StatsEntry, "_log_time_of_request"),
    (StatsEntry, "_log_response_time"),
    (RequestStats, "log_request"),
)


def _stats_unchanged() -> bool:
    """Whether Locust's bookkeeping is still its own: nobody, before loadgen was imported
    or since, replaced or wrapped a method :func:`log_request` copies (a wrapper made with
    ``functools.wraps`` carries the original's names, not its code)."""
    for owner, name in _STATS_METHODS:
        method = getattr(owner, name)
        code = getattr(method, "__code__", None)
        if (
            code is None
            or hasattr(method, "__wrapped__")
            or code.co_filename != locust_stats.__file__
            or method.__qualname__ != f"{owner.__name__}.{name}"
        ):
            return False
    return True


def log_request(stats: RequestStats, kind: str, name: str, ms: float | None, length: int) -> None:
    """``stats.log_request(kind, name, ms, length)``: the total's and the entry's counts,
    as Locust's ``StatsEntry.log`` keeps them (its response-time bucketing included,
    ``locust.stats.bucket_response_time``, which may be replaced), through
    :func:`_log_all`. For Locust's own :class:`RequestStats` while
    :func:`_stats_unchanged`."""
    own = stats.entries[(name, kind)]  # a new entry reads the clock: before ours, as in Locust
    rows = [_row(ms, length, time.time(), locust_stats.bucket_response_time)]
    _log_all(stats.total, rows)
    _log_all(own, rows)


#: A :class:`StatsBatch` is applied by the first exchange that comes this long after the
#: batch's first (no wakeup of its own while exchanges keep coming) ...
STATS_BATCH_S = 0.05
#: ... or by a timer this long after the batch's first exchange when none came since.
STATS_WAIT_S = 0.5
#: Locust's events whose listeners read or reset the stats: a batch is applied first.
STATS_READERS = (
    "report_to_master",  # a worker's stats to the master (every 3 s, and at the end)
    "spawning_complete",  # --reset-stats resets them then
    "reset_stats",  # the web UI's reset
    "test_stopping",
    "test_stop",
    "quitting",  # Locust fires it in reverse (this one last); test_stop applied it before
)


class StatsBatch:
    """Successful exchanges on their way into Locust's stats, applied together.

    Logging an exchange the moment it ends costs ~2.5 us in a charge point's life: two
    stats entries (the total and the exchange's), a dozen fields each, read and written
    one by one. Held here, each entry's fields are read and written once per batch. A
    batch is applied by the first exchange :data:`STATS_BATCH_S` after its first one, so
    a busy process applies it without waking up for it, and by a hub timer when no
    exchange came for :data:`STATS_WAIT_S`. The stats end up as Locust's own
    ``log_request`` calls leave them, field by field and in the same order: each exchange
    keeps the time it was reported (its second, the ticks of the response-time cache);
    only a new entry's ``start_time`` is when its batch was applied. :meth:`install`
    applies the batch before every listener of the :data:`STATS_READERS` events, so a
    worker's reports, a reset and the end of a test see every exchange; anything else
    reading the stats (the web UI, a CSV row) sees an exchange at most
    :data:`STATS_WAIT_S` late. Callable from hub callbacks; never waits.
    """

    __slots__ = ("_first", "_pending", "_timer", "stats")

    def __init__(self, stats: RequestStats) -> None:
        self.stats = stats
        #: every exchange waiting, in order: (name, kind, ms or None, length, epoch s)
        self._pending: list[tuple[str, str, float | None, int, float]] = []
        self._first = 0.0  # when the batch's first exchange was reported
        self._timer: Any = None  # the hub's timer that applies the batch, made on first use

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, kind: str, name: str, ms: float | None, length: int) -> None:
        """One successful exchange: in the stats within :data:`STATS_WAIT_S`."""
        now = time.time()
        pending = self._pending
        pending.append((name, kind, ms, length, now))
        if len(pending) == 1:
            self._first = now
            timer = self._timer
            if timer is None:
                timer = self._timer = gevent.get_hub().loop.timer(STATS_WAIT_S)
            timer.start(self.apply)
        elif not 0 <= now - self._first < STATS_BATCH_S:  # (a clock set back applies too)
            self.apply()

    def apply(self) -> None:
        """Log every waiting exchange into the stats now."""
        if self._timer is not None:
            self._timer.stop()  # (a no-op when it fired or never started)
        pending = self._pending
        if not pending:
            return
        self._pending = []
        bucket = locust_stats.bucket_response_time  # looked up as Locust does, per batch
        rows: list[_Row] = []  # each exchange's figures, worked out once for both entries
        own: dict[tuple[str, str], list[_Row]] = {}
        for name, kind, ms, length, now in pending:
            row = _row(ms, length, now, bucket)
            rows.append(row)
            group = own.get((name, kind))
            if group is None:
                own[(name, kind)] = [row]
            else:
                group.append(row)
        stats = self.stats
        _log_all(stats.total, rows)
        entries = stats.entries
        for key, group in own.items():
            _log_all(entries[key], group)

    def install(self, environment: Environment) -> None:
        """Apply the batch before the listeners of :data:`STATS_READERS` (idempotent)."""
        for name in STATS_READERS:
            handlers = getattr(environment.events, name)._handlers
            if not any(getattr(h, "__self__", None) is self for h in handlers):
                handlers.insert(0, self._apply_first)

    def _apply_first(self, **_: Any) -> None:
        self.apply()


#: One exchange as :func:`_log_all` takes it: ms (or None), length, epoch seconds, its
#: second, its response-time bucket (None with no time).
_Row = tuple[float | None, int, float, int, int | None]


def _row(ms: float | None, length: int, now: float, bucket: Callable[[float], int]) -> _Row:
    return (ms, length, now, int(now), None if ms is None else bucket(ms))


def _log_all(entry: StatsEntry, rows: list[_Row]) -> None:
    """``entry.log(ms, length)`` for each exchange, at its time, as Locust's ``log`` and
    helpers do it; the entry's fields read and written once."""
    count = entry.num_requests
    nones = entry.num_none_requests
    total_ms: float = entry.total_response_time  # Locust annotates int; it sums floats
    low: float | None = entry.min_response_time
    high: float = entry.max_response_time
    size = entry.total_content_length
    per_second = entry.num_reqs_per_sec
    times = entry.response_times
    last = entry.last_request_timestamp
    last_second = int(last) if last else None  # None: no cache tick (Locust: ``last and``)
    cached = entry.use_response_times_cache
    for ms, length, now, second, rounded in rows:
        if cached and last_second is not None and second > last_second:
            entry.num_requests, entry.num_none_requests = count, nones  # what the cache copies
            entry._cache_response_times(second - 1)
        count += 1
        per_second[second] += 1
        last, last_second = now, (second if now else None)
        if ms is None:
            nones += 1
        else:
            total_ms += ms
            if low is None or ms < low:
                low = ms
            if ms > high:
                high = ms
            times[rounded] += 1  # type: ignore[index]  # a bucket whenever ms is
        size += length
    entry.num_requests = count
    entry.num_none_requests = nones
    entry.total_response_time = total_ms  # type: ignore[assignment]  # Locust's is float too
    entry.min_response_time = low  # type: ignore[assignment]
    entry.max_response_time = high  # type: ignore[assignment]
    entry.total_content_length = size
    entry.last_request_timestamp = last


def check_version(version: str = locust.__version__) -> None:
    """Raise :class:`UnsupportedLocust` for a Locust outside :data:`SUPPORTED`."""
    try:
        numbers = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        numbers = (0, 0)
    low, high = SUPPORTED
    if not low <= numbers < high:
        raise UnsupportedLocust(
            f"Locust {version} is not supported: loadgen needs locust>={low[0]}.{low[1]},"
            f"<{high[0]}.{high[1]} (pip install 'locust>={low[0]}.{low[1]},<{high[0]}')."
        )


def install() -> None:
    """Cache ``default_args_dict``, count users in O(1), stop gevent's spawn-tree records
    and widen the heartbeat liveness. Idempotent."""
    check_version()
    runners.HEARTBEAT_LIVENESS = HEARTBEAT_LIVENESS
    if os.environ.get("GEVENT_TRACK_GREENLET_TREE", "").lower() not in ("1", "true", "on", "yes"):
        gevent.config.track_greenlet_tree = False
    current = argument_parser.default_args_dict
    if not hasattr(current, "cache_info"):
        argument_parser.default_args_dict = functools.lru_cache(maxsize=1)(current)
    counting: Any = runners.Runner.user_classes_count
    if getattr(counting, "fget", None) is not _user_classes_count:
        _walk_count["fget"] = counting.fget
        runners.Runner.user_classes_count = property(_user_classes_count)  # type: ignore[method-assign, assignment]


#: Locust's own ``user_classes_count`` getter, for runners with several user classes.
_walk_count: dict[str, Any] = {}


def _user_classes_count(runner: runners.Runner) -> dict[str, int]:
    """Users per class: the group's size for one class, else Locust's walk over them."""
    classes = runner.user_classes
    if len(classes) == 1:
        return {classes[0].__name__: len(runner.user_greenlets)}
    return dict(_walk_count["fget"](runner))


#: Locust's stats listener once recognised (its runner registers one per process).
_stats_listeners: weakref.WeakSet[Any] = weakref.WeakSet()


def is_stats_listener(handler: object) -> bool:
    """Whether ``handler`` is the listener a Locust runner adds to log requests in stats.

    It is ``on_request`` defined in ``Runner.__init__``: it calls ``stats.log_request``
    and, with an exception, ``stats.log_error``, nothing else.
    """
    if handler in _stats_listeners:
        return True
    qualname = getattr(handler, "__qualname__", "")
    if qualname == "Runner.__init__.<locals>.on_request" and (
        getattr(handler, "__module__", "") == "locust.runners"
    ):
        _stats_listeners.add(handler)
        return True
    return False


def only_stats_listener(environment: Environment) -> bool:
    """Whether Locust's stats listener is the only ``request`` listener now."""
    handlers = environment.events.request._handlers
    return len(handlers) == 1 and is_stats_listener(handlers[0])


def reporter(environment: Environment) -> ReportFn:
    """A report function that never blocks (see the module docstring)."""
    queue: collections.deque[tuple[str, str, float, int, Exception | None]] = collections.deque()
    wake = Event()
    state: dict[str, Any] = {"greenlet": None}

    def drain() -> None:
        hook = environment.events.request
        while True:
            wake.wait()
            wake.clear()
            while queue:
                kind, name, ms, length, exc = queue.popleft()
                hook.fire(
                    request_type=kind,
                    name=name,
                    response_time=ms,
                    response_length=length,
                    exception=exc,
                    context={},
                )

    handlers = environment.events.request._handlers
    known: list[object] = [None]  # Locust's stats listener, once recognised
    fused = _stats_unchanged()  # Locust's bookkeeping is the one log_request does
    batch = StatsBatch(environment.stats)
    batch.install(environment)

    def report(kind: str, name: str, ms: float, length: int, exc: Exception | None) -> None:
        if exc is not None and name == "connect" and kind == "WS":
            # A failed connect is a failure, not a latency: its time (a refusal takes
            # microseconds) stays out of the connect percentiles (Locust: no time).
            ms = None  # type: ignore[assignment]
        if len(handlers) == 1 and (handlers[0] is known[0] or is_stats_listener(handlers[0])):
            known[0] = handlers[0]
            stats = environment.stats
            if stats is not batch.stats:  # replaced: what waits belongs to the old one
                batch.apply()
                batch.stats = stats
            own = fused and type(stats) is RequestStats and "log_request" not in stats.__dict__
            if own and exc is None:
                batch.add(kind, name, ms, length)
                return
            batch.apply()  # the exchanges before this one go first
            if own:
                log_request(stats, kind, name, ms, length)
            else:
                stats.log_request(kind, name, ms, length)  # type: ignore[arg-type]
            if exc is not None:
                stats.log_error(kind, name, exc)
            return
        batch.apply()
        queue.append((kind, name, ms, length, exc))
        if state["greenlet"] is None:
            state["greenlet"] = gevent.spawn(drain)
        wake.set()

    return report


#: Largest report a worker may send: stats entries and error kinds (Locust keeps one
#: entry per request name: loadgen's are bounded by the OCPP actions and categories).
MAX_REPORT_ENTRIES = 10_000


def _stats_report_listener(handler: object) -> bool:
    """Whether ``handler`` is Locust's listener that sums worker stats on the master."""
    return (
        getattr(handler, "__qualname__", "")
        == ("setup_distributed_stats_event_listeners.<locals>.on_worker_report")
        and getattr(handler, "__module__", "") == "locust.stats"
    )


def report_shape_ok(data: object) -> bool:
    """Whether a worker's report has the shape Locust's stats listener reads."""
    if not isinstance(data, dict):
        return False
    stats, errors, total = data.get("stats"), data.get("errors"), data.get("stats_total")
    return (
        isinstance(stats, list)
        and len(stats) <= MAX_REPORT_ENTRIES
        and all(isinstance(entry, dict) for entry in stats)
        and isinstance(errors, dict)
        and len(errors) <= MAX_REPORT_ENTRIES
        and all(isinstance(error, dict) for error in errors.values())
        and isinstance(total, dict)
    )


def guard_worker_reports(environment: Environment, known: Callable[[str], bool]) -> bool:
    """Make Locust's stats listener drop reports from unknown workers, or of another
    shape (logged once per worker). Returns False when the listener is not found."""
    import logging

    hook = environment.events.worker_report
    refused: set[str] = set()
    for index, handler in enumerate(hook._handlers):
        if not _stats_report_listener(handler):
            continue

        def guarded(client_id: str, data: Any, _sum: Any = handler) -> None:
            if known(client_id) and report_shape_ok(data):
                _sum(client_id=client_id, data=data)
            elif client_id not in refused:
                refused.add(client_id)
                logging.getLogger("loadgen").warning(
                    "ignoring stats from %.60r: not a known worker, or a malformed report",
                    client_id,
                )

        hook._handlers[index] = guarded
        return True
    return False


def send_report_now(runner: runners.WorkerRunner) -> None:
    """Send this worker's stats (and ``report_to_master`` data) to the master now.

    Locust sends them every 3 s and once more when it quits. Sent from the worker's
    ``test_stop``, they reach the master before the ``client_stopped`` message, so the
    master's own ``test_stop`` (which waits for those) sees every request.
    """
    runner._send_stats()


def offer_choices(name: str, choices: Callable[[], list[str]]) -> None:
    """Show a custom option as a list of ``choices()`` in the web UI's start form.

    Declaring ``choices=`` on the argument itself would refuse any other value given
    as ``--x=y``, in an environment variable or in ``locust.conf``; the web UI reads the
    choices through ``argument_parser.ui_extra_args_dict``, which this wraps. Idempotent.
    """
    current: Any = argument_parser.ui_extra_args_dict
    offered: dict[str, Callable[[], list[str]]] = getattr(current, "loadgen_offered", None) or {}
    offered[name] = choices
    if getattr(current, "loadgen_offered", None) is None:

        def ui_extra_args_dict(*args: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:
            extra: dict[str, dict[str, Any]] = current(*args, **kwargs)
            for option, provider in offered.items():
                if option in extra:
                    value = extra[option].get("default_value")
                    listed = provider()
                    if value and value not in listed:
                        listed = [value, *listed]
                    extra[option]["choices"] = listed
            return extra

        ui_extra_args_dict.loadgen_offered = offered  # type: ignore[attr-defined]
        argument_parser.ui_extra_args_dict = ui_extra_args_dict
