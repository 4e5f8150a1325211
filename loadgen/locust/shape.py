"""The stage shape: ramp charge points stage by stage as the config's ``stages`` say."""

from __future__ import annotations

from dataclasses import dataclass

from locust import LoadTestShape

from loadgen.config import Stage


@dataclass(frozen=True, slots=True)
class StagePosition:
    """Where a run is: stage ``index`` (0-based) of ``count``, and its time left."""

    index: int
    count: int
    stage: Stage
    started_s: float  # run time at which this stage began
    left_s: float


def position(stages: tuple[Stage, ...], run_time_s: float) -> StagePosition | None:
    """The stage at ``run_time_s`` seconds into the run, or ``None`` after the last."""
    started = 0.0
    for index, stage in enumerate(stages):
        ends = started + stage.duration_s
        if run_time_s < ends:
            return StagePosition(index, len(stages), stage, started, ends - run_time_s)
        started = ends
    return None


class StagesShape(LoadTestShape):
    """Runs the config's stages in order, then stops the test.

    The stages come from ``--loadgen-config`` on the master. Locust applies the spawn
    rate when adding users; when removing them it stops them at once (locust#2332).
    """

    use_common_options = False

    def stages(self) -> tuple[Stage, ...]:
        """The stages of the master's config (read once per set of options)."""
        from loadgen.locust.user import load_config

        if self.runner is None:
            return ()
        return load_config(self.runner.environment).stages

    def tick(self) -> tuple[int, float] | None:
        where = position(self.stages(), self.get_run_time())
        if where is None:
            return None
        return where.stage.users, where.stage.spawn_rate
