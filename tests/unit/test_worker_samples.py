"""What the master accepts from workers: samples and stats reports of the expected shape."""

from __future__ import annotations

import pytest

from loadgen.locust.compat import report_shape_ok
from loadgen.observe.telemetry import sample_problem


def test_a_real_sample_is_accepted() -> None:
    """A sample as process_sample builds it (counters, sizes, TCP states) has no problem."""
    sample = {"attempted": 3, "connected": 2, "open_files": -1, "tcp": {"inuse": 7, "tw": 0}}
    assert sample_problem(sample) is None


@pytest.mark.parametrize(
    "sample",
    [
        None,
        [1, 2],
        {"connected": -5},
        {"connected": 10**13},
        {"connected": 1.5},
        {"connected": True},
        {"connected": "7"},
        {"Connected": 1},
        {"x" * 100: 1},
        {"tcp": {"inuse": "many"}},
        {"tcp": [1]},
        {f"k{i}": 1 for i in range(100)},
    ],
)
def test_samples_of_another_shape_are_refused(sample: object) -> None:
    """Non-mappings, absurd counts, odd names and too many keys are named as problems."""
    problem = sample_problem(sample)
    assert problem is not None and len(problem) < 200


def test_stats_reports_of_another_shape_are_refused() -> None:
    """Only a report with a list of stats entries, an errors mapping and a total passes."""
    assert report_shape_ok({"stats": [{}], "errors": {}, "stats_total": {}})
    assert not report_shape_ok({"stats": "not a list", "errors": {}, "stats_total": {}})
    assert not report_shape_ok({"stats": [], "errors": {"k": 1}, "stats_total": {}})
    assert not report_shape_ok({"stats": [1], "errors": {}, "stats_total": {}})
    assert not report_shape_ok(None)
