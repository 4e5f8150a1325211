"""Load and validate a loadgen YAML config into the frozen dataclasses of loadgen.config.

Every field has a default except where noted; unknown keys are errors. A problem raises
:class:`~loadgen.config.ConfigError`, whose message names the field
(``stages[1].users``) and the fix.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from loadgen.config import (
    OCPP_VERSIONS,
    ChargePoints,
    Config,
    ConfigError,
    Reconnect,
    RedisProbe,
    Scenario,
    Session,
    Stage,
    Thresholds,
    Tls,
    parse_duration,
)
from loadgen.failures import CATEGORIES


def load(path: str | Path) -> Config:
    """Read and validate the YAML config at ``path``; raises :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the config ({exc.strerror or exc}). "
            "Give the path of a YAML file, e.g. configs/quickstart.yaml."
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}. Fix the syntax there.") from None
    if raw is None:
        raw = {}
    try:
        return from_dict(raw, name=path.stem, path=str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def from_dict(raw: object, *, name: str = "config", path: str | None = None) -> Config:
    """Validate an already parsed config mapping; raises :class:`ConfigError`."""
    data = _mapping(raw, "config", Config, skip={"name", "path"})
    target = _target(data.get("target", "embedded"))
    version = data.get("ocpp_version", "1.6")
    if isinstance(version, float):  # YAML reads an unquoted 1.6 as a number
        version = repr(version)
    if version not in OCPP_VERSIONS:
        raise ConfigError(
            f"ocpp_version: must be one of {', '.join(OCPP_VERSIONS)} (quoted), got {version!r}."
        )
    config = Config(
        name=name,
        path=path,
        target=target,
        ocpp_version=version,
        charge_points=_charge_points(data.get("charge_points", {})),
        stages=_stages(data.get("stages", [{"users": 10, "spawn_rate": 10, "duration": 10}])),
        source_addresses=_source_addresses(data.get("source_addresses")),
        tls=_tls(data.get("tls", {})),
        redis=_redis(data.get("redis")),
        thresholds=_thresholds(data.get("thresholds", {})),
    )
    return config


def with_overrides(
    config: Config,
    *,
    target: str | None = None,
    ocpp_version: str | None = None,
    users: int | None = None,
    run_time_s: float | None = None,
) -> Config:
    """The config with command-line overrides applied (validated like the file).

    ``users`` replaces the stages by one stage of that many users at the last stage's
    spawn rate; ``run_time_s`` trims or stretches the run to that many seconds.
    """
    if target is not None:
        config = replace(config, target=_target(target, "--target"))
    if ocpp_version is not None:
        if ocpp_version not in OCPP_VERSIONS:
            raise ConfigError(
                f"--ocpp-version: must be one of {', '.join(OCPP_VERSIONS)}, got {ocpp_version!r}."
            )
        config = replace(config, ocpp_version=ocpp_version)
    stages = config.stages
    if users is not None:
        if users < 1:
            raise ConfigError(f"--users: must be a positive number of charge points, got {users}.")
        stages = (Stage(users, stages[-1].spawn_rate, config.total_duration_s),)
    if run_time_s is not None:
        stages = _trim(stages, run_time_s)
    return replace(config, stages=stages)


def _trim(stages: tuple[Stage, ...], run_time_s: float) -> tuple[Stage, ...]:
    kept: list[Stage] = []
    elapsed = 0.0
    for stage in stages:
        if elapsed + stage.duration_s >= run_time_s:
            kept.append(replace(stage, duration_s=run_time_s - elapsed))
            return tuple(kept)
        kept.append(stage)
        elapsed += stage.duration_s
    last = kept[-1]
    kept[-1] = replace(last, duration_s=last.duration_s + run_time_s - elapsed)
    return tuple(kept)


def _mapping(raw: object, where: str, cls: type, skip: set[str] | None = None) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {type(raw).__name__}.")
    allowed = {f.name for f in fields(cls)} - (skip or set())
    if cls is Stage:
        allowed = {"users", "spawn_rate", "duration"}
    for key in raw:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise ConfigError(f"{where}.{key}: unknown key. Known keys here: {known}.")
    return raw


def _number(
    value: object,
    where: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    exclusive_min: bool = False,
) -> float:
    ok_type = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type):
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{where}: expected {kind}, got {value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{where}: must be finite, got {value!r}.")
    if minimum is not None and (number <= minimum if exclusive_min else number < minimum):
        bound = f"greater than {minimum:g}" if exclusive_min else f"at least {minimum:g}"
        raise ConfigError(f"{where}: must be {bound}, got {value!r}.")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{where}: must be at most {maximum:g}, got {value!r}.")
    return number


def _string(value: object, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a non-empty string, got {value!r}.")
    return value


def _target(value: object, where: str = "target") -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected 'embedded' or a ws:// or wss:// URL, got {value!r}.")
    if value == "embedded":
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(
            f"{where}: {value!r} is not a WebSocket URL. Use 'embedded' or a URL like "
            "ws://127.0.0.1:9000/ocpp (the charge point id is appended)."
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ConfigError(f"{where}: {value!r} has an invalid port number.") from None
    if parts.query or parts.fragment:
        raise ConfigError(f"{where}: {value!r} must not have a query or fragment.")
    return value


def _charge_points(raw: object) -> ChargePoints:
    where = "charge_points"
    data = _mapping(raw, where, ChargePoints)
    default = ChargePoints()
    prefix = _string(data.get("id_prefix", default.id_prefix), f"{where}.id_prefix")
    assert prefix is not None
    if not re.fullmatch(r"[A-Za-z0-9._:-]{1,16}", prefix):
        raise ConfigError(
            f"{where}.id_prefix: {prefix!r} must be 1-16 URL-safe characters (letters, digits, "
            "'.', '_', ':', '-')."
        )
    hb = data.get("heartbeat_interval_s")
    scenario = _mapping(data.get("scenario", {}), f"{where}.scenario", Scenario)
    idle = _number(scenario.get("idle", 1.0), f"{where}.scenario.idle", minimum=0)
    charging = _number(scenario.get("charging", 0.0), f"{where}.scenario.charging", minimum=0)
    if idle + charging <= 0:
        raise ConfigError(f"{where}.scenario: idle and charging weights cannot both be 0.")
    session_raw = _mapping(data.get("session", {}), f"{where}.session", Session)
    sd = Session()
    session = Session(
        duration_s=parse_duration(
            session_raw.get("duration_s", sd.duration_s), f"{where}.session.duration_s"
        ),
        meter_interval_s=parse_duration(
            session_raw.get("meter_interval_s", sd.meter_interval_s),
            f"{where}.session.meter_interval_s",
        ),
        pause_s=parse_duration(session_raw.get("pause_s", sd.pause_s), f"{where}.session.pause_s"),
        id_tag=_string(session_raw.get("id_tag", sd.id_tag), f"{where}.session.id_tag") or "",
        power_w=_number(
            session_raw.get("power_w", sd.power_w),
            f"{where}.session.power_w",
            minimum=0,
            maximum=1_000_000,
        ),
    )
    rc_raw = _mapping(data.get("reconnect", {}), f"{where}.reconnect", Reconnect)
    rd = Reconnect()
    reconnect = Reconnect(
        initial_s=parse_duration(
            rc_raw.get("initial_s", rd.initial_s), f"{where}.reconnect.initial_s"
        ),
        max_s=parse_duration(rc_raw.get("max_s", rd.max_s), f"{where}.reconnect.max_s"),
        factor=_number(rc_raw.get("factor", rd.factor), f"{where}.reconnect.factor", minimum=1),
        random_range_s=None
        if rc_raw.get("random_range_s") is None
        else _number(
            rc_raw["random_range_s"], f"{where}.reconnect.random_range_s", minimum=0, maximum=86400
        ),
        repeat_times=None
        if rc_raw.get("repeat_times") is None
        else int(
            _number(
                rc_raw["repeat_times"],
                f"{where}.reconnect.repeat_times",
                minimum=0,
                maximum=64,
                integer=True,
            )
        ),
    )
    if reconnect.max_s < reconnect.initial_s:
        raise ConfigError(f"{where}.reconnect.max_s: must be at least reconnect.initial_s.")
    ids_file = _string(data.get("ids_file"), f"{where}.ids_file", optional=True)
    if ids_file is not None and not Path(ids_file).is_file():
        raise ConfigError(
            f"{where}.ids_file: no file at {ids_file!r}. Give a CSV of id[,password] rows, "
            "or remove the key to use id_prefix."
        )
    return ChargePoints(
        id_prefix=prefix,
        ids_file=ids_file,
        connectors=int(
            _number(
                data.get("connectors", 1),
                f"{where}.connectors",
                minimum=1,
                maximum=64,
                integer=True,
            )
        ),
        vendor=_string(data.get("vendor", default.vendor), f"{where}.vendor") or "",
        model=_string(data.get("model", default.model), f"{where}.model") or "",
        heartbeat_interval_s=None
        if hb is None
        else parse_duration(hb, f"{where}.heartbeat_interval_s"),
        boot_retry_s=parse_duration(
            data.get("boot_retry_s", default.boot_retry_s), f"{where}.boot_retry_s"
        ),
        connect_timeout_s=parse_duration(
            data.get("connect_timeout_s", default.connect_timeout_s), f"{where}.connect_timeout_s"
        ),
        call_timeout_s=parse_duration(
            data.get("call_timeout_s", default.call_timeout_s), f"{where}.call_timeout_s"
        ),
        firmware_version=_string(
            data.get("firmware_version", default.firmware_version), f"{where}.firmware_version"
        )
        or "",
        boot_on_reconnect=_bool(
            data.get("boot_on_reconnect", default.boot_on_reconnect), f"{where}.boot_on_reconnect"
        ),
        reboot_s=parse_duration(data.get("reboot_s", default.reboot_s), f"{where}.reboot_s"),
        offline_queue_max=int(
            _number(
                data.get("offline_queue_max", default.offline_queue_max),
                f"{where}.offline_queue_max",
                minimum=1,
                maximum=1_000_000,
                integer=True,
            )
        ),
        configuration=_configuration(data.get("configuration", {}), f"{where}.configuration"),
        scenario=Scenario(idle=idle, charging=charging),
        session=session,
        reconnect=reconnect,
    )


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}.")
    return value


def _configuration(raw: object, where: str) -> tuple[tuple[str, str], ...]:
    """Setting overrides: names as 1.6 keys, 2.0.1 ``Component.Variable`` or loadgen's."""
    from loadgen.ocpp.settings import resolve_name

    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping like {{AuthorizeRemoteTxRequests: true}}.")
    out = []
    for key, value in raw.items():
        setting = resolve_name(str(key))
        if setting is None:
            raise ConfigError(
                f"{where}.{key}: unknown setting. Use a 1.6 configuration key (e.g. "
                "HeartbeatInterval), a 2.0.1 Component.Variable (e.g. "
                "AuthCtrlr.AuthorizeRemoteStart) or a loadgen setting name."
            )
        text = str(value).lower() if isinstance(value, bool) else str(value)
        normalised = setting.parse(text)
        if normalised is None:
            raise ConfigError(f"{where}.{key}: {value!r} is not a valid {setting.kind} value.")
        out.append((setting.name, normalised))
    return tuple(out)


def _stages(raw: object) -> tuple[Stage, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            "stages: expected a non-empty list like "
            "[{users: 1000, spawn_rate: 250, duration: 60s}]."
        )
    stages = []
    previous = 0
    for i, item in enumerate(raw):
        where = f"stages[{i}]"
        data = _mapping(item, where, Stage)
        for key in ("users", "spawn_rate", "duration"):
            if key not in data:
                raise ConfigError(f"{where}.{key}: required (users, spawn_rate and duration).")
        users = int(_number(data["users"], f"{where}.users", minimum=0, integer=True))
        rate = _number(data["spawn_rate"], f"{where}.spawn_rate", minimum=0, exclusive_min=True)
        duration = parse_duration(data["duration"], f"{where}.duration")
        ramp_s = abs(users - previous) / rate
        if ramp_s > duration:
            raise ConfigError(
                f"{where}.duration: going from {previous} to {users} users at {rate:g}/s takes "
                f"{ramp_s:.0f}s, longer than the stage's {duration:g}s. Raise duration to at "
                f"least {math.ceil(ramp_s)}s or raise spawn_rate."
            )
        stages.append(Stage(users=users, spawn_rate=rate, duration_s=duration))
        previous = users
    if max(s.users for s in stages) == 0:
        raise ConfigError("stages: at least one stage needs users > 0.")
    return tuple(stages)


#: Most source addresses a pool may expand to (each gives ~28,000 connections per target).
MAX_SOURCE_ADDRESSES = 4096


def _source_addresses(raw: object) -> tuple[str, ...] | None:
    """The pool's addresses, networks expanded to their hosts, in the order given."""
    if raw is None:
        return None
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise ConfigError(
            "source_addresses: expected a list of IP addresses or a CIDR like '127.0.0.0/24'."
        )
    out: list[str] = []
    seen: set[str] = set()
    versions = set()
    for i, item in enumerate(items):
        try:
            net = ipaddress.ip_network(str(item), strict=False)
        except ValueError:
            raise ConfigError(
                f"source_addresses[{i}]: {item!r} is not an IP address or CIDR network."
            ) from None
        if net.num_addresses + len(out) > MAX_SOURCE_ADDRESSES:
            raise ConfigError(
                f"source_addresses[{i}]: {item!r} makes the pool larger than "
                f"{MAX_SOURCE_ADDRESSES} addresses. Use a smaller network, e.g. '127.0.0.0/28' "
                "(16 addresses hold ~450,000 connections to one target)."
            )
        versions.add(net.version)
        hosts = [net.network_address] if net.num_addresses == 1 else list(net.hosts())
        for host in map(str, hosts):
            if host not in seen:
                seen.add(host)
                out.append(host)
    if len(versions) > 1:
        raise ConfigError(
            "source_addresses: mixes IPv4 and IPv6; give addresses of the target's family only."
        )
    return tuple(out)


def _tls(raw: object) -> Tls:
    data = _mapping(raw, "tls", Tls)
    verify = data.get("verify", True)
    if not isinstance(verify, bool):
        raise ConfigError(f"tls.verify: expected true or false, got {verify!r}.")
    files = {}
    for key in ("ca_file", "cert_file", "key_file"):
        value = _string(data.get(key), f"tls.{key}", optional=True)
        if value is not None and not Path(value).is_file():
            raise ConfigError(f"tls.{key}: no file at {value!r}. Give the path of a PEM file.")
        files[key] = value
    if (files["cert_file"] is None) != (files["key_file"] is None):
        raise ConfigError("tls.cert_file and tls.key_file: give both for a client certificate.")
    return Tls(verify=verify, **files)


def _redis(raw: object) -> RedisProbe | None:
    if raw is None:
        return None
    from loadgen.redismap import key_problem, url_problem  # shared with the gateway

    data = _mapping(raw, "redis", RedisProbe)
    default = RedisProbe()
    url = data.get("url", default.url)
    if problem := url_problem(url):  # the message masks a password
        raise ConfigError(f"redis.url: {problem}")
    key = data.get("key", default.key)
    if problem := key_problem(key):
        raise ConfigError(f"redis.key: {problem}.")
    return RedisProbe(
        url=url,
        key=key,
        sample=_number(data.get("sample", default.sample), "redis.sample", minimum=0, maximum=1),
        within_s=parse_duration(data.get("within_s", default.within_s), "redis.within_s"),
    )


def _thresholds(raw: object) -> Thresholds:
    data = _mapping(raw, "thresholds", Thresholds)
    default = Thresholds()
    values: dict[str, Any] = {}
    for name in ("min_success_rate", "min_boot_rate"):
        value = data.get(name, getattr(default, name))
        values[name] = (
            None if value is None else _number(value, f"thresholds.{name}", minimum=0, maximum=1)
        )
    for name in ("max_connect_p95_ms", "max_connect_p99_ms"):
        value = data.get(name, getattr(default, name))
        values[name] = (
            None
            if value is None
            else _number(value, f"thresholds.{name}", minimum=0, exclusive_min=True)
        )
    calls = data.get("max_call_p95_ms") or {}
    if isinstance(calls, int | float) and not isinstance(calls, bool):
        calls = {"*": calls}
    if not isinstance(calls, dict):
        raise ConfigError(
            "thresholds.max_call_p95_ms: expected a number or a mapping like "
            "{BootNotification: 500, '*': 1000}."
        )
    values["max_call_p95_ms"] = {
        str(action): _number(
            limit, f"thresholds.max_call_p95_ms.{action}", exclusive_min=True, minimum=0
        )
        for action, limit in calls.items()
    }
    failures = data.get("max_failures") or {}
    if not isinstance(failures, dict):
        raise ConfigError(
            "thresholds.max_failures: expected a mapping like {connect_timeout: 0, reset: 10}."
        )
    checked: dict[str, int] = {}
    for category, limit in failures.items():
        if category not in CATEGORIES and category != "*":
            raise ConfigError(
                f"thresholds.max_failures.{category}: unknown failure category. Use one of: "
                f"{', '.join(CATEGORIES)}, or '*' for all failures together."
            )
        checked[category] = int(
            _number(limit, f"thresholds.max_failures.{category}", minimum=0, integer=True)
        )
    values["max_failures"] = checked
    return Thresholds(**values)
