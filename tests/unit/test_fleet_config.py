"""The fleet and gateway sections of a config, and the ids file's extra columns: what
loads, what is refused (naming the field), and that the effective config reads back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from loadgen.config import ConfigError
from loadgen.ids import Identity, read_ids
from loadgen.run import configfile

ROOT = Path(__file__).resolve().parents[2]
STAGES = [{"users": 10, "spawn_rate": 10, "duration": 10}]


def load(**sections: Any) -> Any:
    return configfile.from_dict({"stages": STAGES, **sections})


def test_the_mixed_fleet_config_loads_and_reads_back() -> None:
    """configs/mixed-fleet.yaml: three models, EV arrivals, the gateway's script; its
    effective config loads back to the same config."""
    config = configfile.load(ROOT / "configs" / "mixed-fleet.yaml")
    assert [m.name for m in config.fleet.models] == ["ac-11", "ac-22", "dc-150"]
    assert config.fleet.sessions is not None and config.fleet.sessions.arrival == "exponential"
    assert [s.call for s in config.gateway.script][:2] == ["SendLocalList", "SetChargingProfile"]
    again = configfile.from_dict(configfile.effective(config, masked=False), name=config.name)
    assert (again.fleet, again.gateway) == (config.fleet, config.gateway)


def test_the_ocpp21_config_loads_and_reads_back() -> None:
    """configs/ocpp21.yaml: OCPP 2.1, a third of the EVs bidirectional, the gateway's 2.1
    steps (a default tariff, a discharging setpoint); its effective config loads back."""
    config = configfile.load(ROOT / "configs" / "ocpp21.yaml")
    assert config.ocpp_version == "2.1"
    assert config.fleet.sessions is not None and config.fleet.sessions.v2x_share == 0.33
    steps = {s.call: dict(s.params) for s in config.gateway.script}
    assert steps["SetDefaultTariff"]["price_kwh"] == 0.35
    assert steps["SetChargingProfile"]["setpoint_w"] == -7000
    again = configfile.from_dict(configfile.effective(config, masked=False), name=config.name)
    assert (again.ocpp_version, again.fleet, again.gateway) == (
        config.ocpp_version,
        config.fleet,
        config.gateway,
    )


@pytest.mark.parametrize(
    ("sections", "where"),
    [
        ({"fleet": {"models": [{"name": "a", "speed": 1}]}}, "fleet.models[0].speed"),
        ({"fleet": {"models": [{"name": "a"}, {"name": "a"}]}}, "fleet.models[1].name"),
        ({"fleet": {"models": [{"name": "a", "phases": 2}]}}, "fleet.models[0].phases"),
        ({"fleet": {"models": [{"name": "a", "feature_profiles": ["SmartCharging"]}]}},
         "fleet.models[0].feature_profiles"),
        ({"fleet": {"models": [{"name": "a", "firmware_update": "signd"}]}},
         "fleet.models[0].firmware_update"),
        ({"gateway": {"script": [{"at": 1, "call": "Reset", "pick": "a b"}]}},
         "gateway.script[0].pick"),
        ({"fleet": {"models": [{"name": "a", "configuration": {"NoSuchKey": 1}}]}},
         "fleet.models[0].configuration.NoSuchKey"),
        ({"fleet": {"models": [{"name": "a", "configuration": {"StopTxnSampledData": "Foo"}}]}},
         "fleet.models[0].configuration.StopTxnSampledData"),
        ({"fleet": {"models": [{"name": "a",
                                "configuration": {"StopTransactionOnEVSideDisconnect": False}}]}},
         "fleet.models[0].configuration.StopTransactionOnEVSideDisconnect"),
        ({"fleet": {"sessions": {"duration_s": [60, 10]}}}, "fleet.sessions.duration_s"),
        ({"fleet": {"sessions": {"arrival": "poisson"}}}, "fleet.sessions.arrival"),
        ({"fleet": {"sessions": {"v2x_share": 1.5}}}, "fleet.sessions.v2x_share"),
        ({"fleet": {"sessions": {"id_tags": ["x" * 21]}}}, "fleet.sessions.id_tags"),
        ({"fleet": {"firmware": {"failure_step": "later"}}}, "fleet.firmware.failure_step"),
        ({"fleet": {"firmware": {"failure_share": 1.5}}}, "fleet.firmware.failure_share"),
        ({"fleet": {"faults": {"error_code": "Smoke"}}}, "fleet.faults.error_code"),
        ({"fleet": {"data_transfer": [{"vendor_id": "v", "status": "Maybe"}]}},
         "fleet.data_transfer[0].status"),
        ({"gateway": {"script": [{"at": 5, "call": "UpdateFirmwar"}]}}, "gateway.script[0].call"),
        ({"gateway": {"script": [{"call": "Reset"}]}}, "gateway.script[0].at"),
        ({"gateway": {"script": [{"at": 5, "call": "Reset", "share": 3}]}},
         "gateway.script[0].share"),
        ({"gateway": {"script": [{"at": 5, "call": "Reset", "when": 1}]}},
         "gateway.script[0].when"),
    ],
)  # fmt: skip
def test_bad_sections_name_the_field(sections: dict[str, Any], where: str) -> None:
    """A wrong key or value of the fleet or gateway section is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=where.replace("[", r"\[").replace("]", r"\]")):
        load(**sections)


def test_defaults_without_the_sections() -> None:
    """A config without fleet or gateway sections: no models, no script, no validation."""
    config = load()
    assert config.fleet.models == () and config.fleet.sessions is None
    assert config.gateway.script == () and not config.gateway.validate


def test_the_ids_file_may_name_serial_model_and_tags(tmp_path: Path) -> None:
    """A header names the columns: serial_number, model and id_tags (spaces, ; or |)."""
    path = tmp_path / "ids.csv"
    path.write_text(
        "id,password,serial_number,model,id_tags\nCP-1,pw,SN-1,ac-22,TAG-A;TAG-B|TAG-C\nCP-2,,,,\n",
        encoding="utf-8",
    )
    one, two = read_ids(str(path))
    assert one == Identity("CP-1", "pw", "SN-1", "ac-22", ("TAG-A", "TAG-B", "TAG-C"))
    assert two == Identity("CP-2")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,colour\nCP-1,red\n", "not a column"),
        ("id,serial_number\nCP-1," + "9" * 26 + "\n", "longer than 25"),
        ("id,id_tags\nCP-1," + ";".join(f"T{i}" for i in range(33)) + "\n", "at most 32 tags"),
    ],
)
def test_bad_id_columns_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    """Unknown columns, long serial numbers, too many tags: ConfigError with the line."""
    path = tmp_path / "ids.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        read_ids(str(path))


def test_the_script_reads_as_the_gateway_reads_it() -> None:
    """The gateway section's steps, written as loadgen run hands them to the gateway,
    parse back to the same steps (loadgen.gateway.operator)."""
    from loadgen.gateway.operator import parse_script

    config = configfile.load(ROOT / "configs" / "mixed-fleet.yaml")
    written = [
        {"at_s": s.at_s, "call": s.call, "share": s.share, "params": dict(s.params)}
        for s in config.gateway.script
    ]
    steps = parse_script(yaml.safe_load(yaml.safe_dump(written)))
    assert [(s.at_s, s.call, s.share, s.params) for s in steps] == [
        (s.at_s, s.call, s.share, dict(s.params)) for s in config.gateway.script
    ]
