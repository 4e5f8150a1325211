"""Tests of the per-process settings of a charge point process: GC and the open-files count."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from locust import User
from locust.env import Environment

from loadgen.locust import process as users
from loadgen.locust.runtime import runtime_for
from loadgen.observe import telemetry
from loadgen.run.configfile import from_dict

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("thresholds")
def test_tune_gc_raises_only_the_young_threshold() -> None:
    gc.set_threshold(700, 10, 10)
    users.tune_gc()
    assert gc.get_threshold() == (users.GC_YOUNG_THRESHOLD, 10, 10)


@pytest.mark.usefixtures("thresholds")
def test_tune_gc_keeps_a_higher_threshold_and_a_disabled_collector() -> None:
    gc.set_threshold(50_000, 5, 5)
    users.tune_gc()
    assert gc.get_threshold() == (50_000, 5, 5)
    gc.set_threshold(0)  # collection turned off by the user: left off
    users.tune_gc()
    assert gc.get_threshold()[0] == 0


def test_open_files_counts_each_file_opened_and_closed(tmp_path: Path) -> None:
    # Regular files: gevent's os.close defers closing other kinds to the hub's next turn.
    path = tmp_path / "file"
    path.write_bytes(b"")
    before = telemetry._open_files()
    fds = [os.open(path, os.O_RDONLY) for _ in range(50)]
    try:
        assert telemetry._open_files() == before + 50
    finally:
        for fd in fds:
            os.close(fd)
    assert telemetry._open_files() == before


@pytest.mark.parametrize(("batch_ms", "batch_s"), [(None, 0.005), (7, 0.007), (0, 0.0)])
def test_the_config_sets_how_long_the_engine_batches_reads(
    batch_ms: float | None, batch_s: float
) -> None:
    """``charge_points.io_batch_ms`` (5 ms unless set) reaches the process's engine
    when the first charge point asks for the plan; 0 reads at once."""

    class Charger(User):
        abstract = True

    points = {} if batch_ms is None else {"io_batch_ms": batch_ms}
    config = from_dict({"target": "ws://127.0.0.1:9/ocpp", "charge_points": points})
    environment = Environment(user_classes=[Charger])
    runtime = runtime_for(environment)
    runtime.load_config = lambda _environment: config
    runtime.engine.set_batch(0.5)  # not what the config says: the plan sets it
    runtime.plan()
    assert runtime.engine.batch_s == batch_s
    runtime.engine.set_batch(0.0)  # the hub outlives this test: no watcher left behind
