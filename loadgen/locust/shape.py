"""The stage shape: ramp charge points stage by stage as the config's ``stages`` say."""

from __future__ import annotations

from locust import LoadTestShape

from loadgen.config import Stage, position


class StagesShape(LoadTestShape):
    """Runs the config's stages in order, then stops the test.

    The stages come from ``--loadgen-config`` on the master. Locust applies the spawn
    rate when adding users; when removing them it stops them at once (locust#2332).
    """

    use_common_options = False

    def stages(self) -> tuple[Stage, ...]:
        """The stages of the master's config (read once per set of options)."""
        from loadgen.locust.runtime import runtime_for

        if self.runner is None:
            return ()
        return runtime_for(self.runner.environment).config().stages

    def tick(self) -> tuple[int, float] | None:
        where = position(self.stages(), self.get_run_time())
        if where is None:
            return None
        return where.stage.users, where.stage.spawn_rate
