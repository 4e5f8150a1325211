"""Stage positions: which stage a run is in and how long it has left."""

from __future__ import annotations

from loadgen.config import Stage
from loadgen.locust.shape import position

STAGES = (Stage(100, 50, 10), Stage(300, 50, 20), Stage(0, 100, 5))


def test_position_walks_the_stages_in_order() -> None:
    """Run time maps to the stage whose window contains it, then to None."""
    assert position(STAGES, 0).index == 0
    at = position(STAGES, 12.5)
    assert (at.index, at.count, at.stage.users, at.started_s, at.left_s) == (1, 3, 300, 10, 17.5)
    assert position(STAGES, 34.9).stage.users == 0
    assert position(STAGES, 35) is None
