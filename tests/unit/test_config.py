"""Config loading: defaults, durations, overrides and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen.config import ConfigError, parse_duration
from loadgen.run.configfile import from_dict, load, with_overrides

CONFIGS = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    """Every config shipped in configs/ is valid (an example's files are the user's)."""
    config = load(path, check_files=not path.name.endswith(".example.yaml"))
    assert config.max_users > 0 and config.total_duration_s > 0


def test_defaults_for_an_empty_config() -> None:
    """An empty mapping gives the documented defaults."""
    config = from_dict({})
    assert config.target == "embedded"
    assert config.ocpp_version == "1.6"
    assert config.charge_points.reconnect.factor == 2
    assert config.thresholds.min_success_rate == 0.99


def test_seed_config_has_the_four_seed_stages() -> None:
    """seed-13k.yaml ramps 1k, 5k, 10k, 13k like the original test."""
    config = load(Path("configs/seed-13k.yaml"))
    assert [s.users for s in config.stages] == [1000, 5000, 10000, 13000]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (60, 60.0),
        (1.5, 1.5),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("45", 45.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    """Durations are numbers of seconds or strings with h/m/s units."""
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"stages": [{"users": -1, "spawn_rate": 1, "duration": 5}]}, "stages[0].users"),
        ({"stages": [{"users": "many", "spawn_rate": 1, "duration": 5}]}, "stages[0].users"),
        ({"stages": [{"users": 5, "spawn_rate": 0, "duration": 5}]}, "stages[0].spawn_rate"),
        ({"stages": [{"users": 5, "spawn_rate": 1, "duration": "soon"}]}, "stages[0].duration"),
        ({"stages": [{"users": 5, "spawn_rate": 1}]}, "stages[0].duration"),
        ({"stages": []}, "stages"),
        ({"target": "http://example"}, "target"),
        ({"target": "ws://host:99999/x"}, "target"),
        ({"ocpp_version": "1.5"}, "ocpp_version"),
        ({"charge_points": {"conectors": 2}}, "charge_points.conectors"),
        ({"charge_points": {"connectors": 0}}, "charge_points.connectors"),
        ({"charge_points": {"reconnect": {"factor": 0.5}}}, "charge_points.reconnect.factor"),
        ({"charge_points": {"io_batch_ms": -1}}, "charge_points.io_batch_ms"),
        ({"charge_points": {"io_batch_ms": 51}}, "charge_points.io_batch_ms"),
        ({"charge_points": {"io_batch_ms": "2ms"}}, "charge_points.io_batch_ms"),
        ({"charge_points": {"scenario": {"idle": 0, "charging": 0}}}, "charge_points.scenario"),
        ({"thresholds": {"min_success_rate": 2}}, "thresholds.min_success_rate"),
        ({"tls": {"ca_file": "/no/such.pem"}}, "tls.ca_file"),
        ({"unknown": 1}, "config.unknown"),
        ([1, 2], "config"),
    ],
)
def test_errors_name_the_field(raw: object, field: str) -> None:
    """A bad value raises ConfigError whose message starts with the field's path."""
    with pytest.raises(ConfigError) as info:
        from_dict(raw)
    assert str(info.value).startswith(field), str(info.value)


def test_io_batch_defaults_to_5ms_and_may_be_switched_off() -> None:
    """Reads are batched 5 ms unless the config says otherwise; 0 reads at once."""
    assert from_dict({}).charge_points.io_batch_ms == 5.0
    assert from_dict({"charge_points": {"io_batch_ms": 0}}).charge_points.io_batch_ms == 0
    assert from_dict({"charge_points": {"io_batch_ms": 50}}).charge_points.io_batch_ms == 50


def test_unquoted_version_is_accepted() -> None:
    """YAML reads `ocpp_version: 1.6` as a float; it still means "1.6"."""
    assert from_dict({"ocpp_version": 1.6}).ocpp_version == "1.6"


def test_ramp_longer_than_stage_is_rejected_with_the_fix() -> None:
    """A stage that cannot reach its users in its duration says how long it needs."""
    with pytest.raises(ConfigError, match="at least 100s"):
        from_dict({"stages": [{"users": 1000, "spawn_rate": 10, "duration": 30}]})


def test_overrides() -> None:
    """--users makes one stage; --run-time trims the stages; --target is validated."""
    config = from_dict(
        {
            "stages": [
                {"users": 10, "spawn_rate": 10, "duration": 10},
                {"users": 20, "spawn_rate": 10, "duration": 10},
            ]
        }
    )
    one = with_overrides(config, users=50)
    assert [(s.users, s.duration_s) for s in one.stages] == [(50, 20.0)]
    trimmed = with_overrides(config, run_time_s=15)
    assert [s.duration_s for s in trimmed.stages] == [10.0, 5.0]
    longer = with_overrides(config, run_time_s=30)
    assert [s.duration_s for s in longer.stages] == [10.0, 20.0]
    with pytest.raises(ConfigError, match="--target"):
        with_overrides(config, target="tcp://x")
