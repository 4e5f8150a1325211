"""The stage shape: ramp charge points stage by stage as the config's ``stages`` say."""

from __future__ import annotations

import logging

from locust import LoadTestShape
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner

from loadgen.config import ConfigError, Stage, position


class StagesShape(LoadTestShape):
    """Runs the config's stages in order, then stops the test.

    The stages come from ``--loadgen-config`` on the master. Locust applies the spawn
    rate when adding users; when removing them it stops them at once (locust#2332).
    """

    use_common_options = False

    def stages(self) -> tuple[Stage, ...]:
        """The stages of the master's config (read once per set of options); none (the
        test stops) when the config cannot be used, which is said once."""
        from loadgen.locust.runtime import runtime_for

        if self.runner is None:
            return ()
        try:
            return runtime_for(self.runner.environment).config().stages
        except ConfigError as exc:
            if str(exc) != getattr(self, "_said", None):
                self._said = str(exc)
                logging.getLogger("loadgen").error("loadgen: %s", exc)
            return ()

    def tick(self) -> tuple[int, float] | None:
        where = position(self.stages(), self.get_run_time())
        if where is None:
            runner = self.runner
            if isinstance(runner, MasterRunner) and runner.state in (STATE_RUNNING, STATE_SPAWNING):
                # A headless master would quit at once, without stopping its workers and
                # without their last stats: stop them first, so test_stop (and the
                # verdict written there) sees every request.
                runner.stop()
            return None
        return where.stage.users, where.stage.spawn_rate
