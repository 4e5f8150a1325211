"""The config a Locust process runs: ``--loadgen-config`` with the ``--loadgen-*`` overrides."""

from __future__ import annotations

from locust.env import Environment

from loadgen import config as config_mod
from loadgen.config import Config
from loadgen.run import configfile, preflight

_NAMES = ("loadgen_config", "loadgen_ocpp_version", "loadgen_users", "loadgen_run_time")
#: configs by the options that name them: the web UI may switch config per test
_configs: dict[tuple[str, ...], Config] = {}


def config_options(environment: Environment) -> tuple[str, ...]:
    """The options that decide the config, as strings."""
    options = environment.parsed_options
    return tuple(str(getattr(options, n, "") or "") if options else "" for n in _NAMES)


def load_config(environment: Environment) -> Config:
    """The config named by ``--loadgen-config`` with the ``--loadgen-*`` overrides and the
    host (``--host`` or the web UI's field) applied.

    Read once per set of options. Raises :class:`~loadgen.config.ConfigError` naming the
    field or option.
    """
    key = (*config_options(environment), environment.host or "")
    config = _configs.get(key)
    if config is None:
        config = _configs[key] = config_for(*key)
    return config


def config_for(path: str, version: str, users: str, run_time: str, host: str) -> Config:
    """The config at ``path`` with these overrides (strings as the options hold them);
    raises :class:`~loadgen.config.ConfigError` naming the field or option."""
    if not path:
        raise config_mod.ConfigError(
            "--loadgen-config: no config given. Pass a YAML file, e.g. --loadgen-config "
            "configs/quickstart.yaml (or LOCUST_LOADGEN_CONFIG, or loadgen-config in "
            "locust.conf)."
        )
    try:
        user_count = int(float(users)) if users else None
    except (ValueError, OverflowError):
        raise config_mod.ConfigError(
            f"--loadgen-users: expected a whole number, got {configfile.quote(users, 40)}."
        ) from None
    config = configfile.with_overrides(
        configfile.load(path),
        target=host or None,
        ocpp_version=version or None,
        users=user_count,
        run_time_s=config_mod.parse_duration(run_time, "--loadgen-run-time") if run_time else None,
    )
    if config.target == "embedded":
        raise config_mod.ConfigError(
            "host: empty, and the config's target is 'embedded', the gateway that `loadgen "
            "run` starts. Give the target as --host ws://HOST:PORT/PATH (the web UI's Host "
            "field), or run the config with `loadgen run CONFIG`."
        )
    preflight.check(config)
    return config
