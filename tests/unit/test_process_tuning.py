"""Tests of the per-process settings of a charge point process: GC and the open-files count."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.locust import process as users
from loadgen.observe import telemetry

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
