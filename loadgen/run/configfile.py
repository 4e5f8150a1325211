"""Load and validate a loadgen YAML config into the frozen dataclasses of loadgen.config.

Every field has a default except where noted; unknown keys are errors. A problem raises
:class:`~loadgen.config.ConfigError`, whose message names the field
(``stages[1].users``) and the fix.

Hostile files are bounded: the file's size, the values it expands to through YAML
anchors and aliases, every number and string, and every message, which quotes at most
:data:`QUOTE_CHARS` characters of a bad value.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import reprlib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from loadgen.config import (
    MAX_IO_BATCH_MS,
    OCPP_VERSIONS,
    Arrivals,
    ChargePoints,
    Config,
    ConfigError,
    FleetSpec,
    GatewayPlan,
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
from loadgen.ocpp.actions import ALL_ACTIONS

#: Largest config file read (bytes); the shipped configs are a few hundred bytes.
MAX_CONFIG_BYTES = 1 << 20
#: Most values (scalars, lists, mappings) a config may expand to, aliases counted at
#: every use: a few hundred bytes of nested aliases expand to billions.
MAX_CONFIG_VALUES = 100_000
#: Most charge points in one stage, and the fastest spawn rate (per second).
MAX_USERS = 10_000_000
MAX_SPAWN_RATE = 100_000.0
#: Longest duration anywhere in a config: 30 days.
MAX_DURATION_S = 30 * 86400.0
#: Largest whole number accepted where no tighter bound applies.
MAX_NUMBER = 10**15
#: Longest string value (the target URL may be longer, up to MAX_URL_CHARS).
MAX_STRING_CHARS = 1024
MAX_URL_CHARS = 2048
MAX_STAGES = 1000
#: At most this many characters of a bad value are quoted in a message.
QUOTE_CHARS = 200

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxdict, _repr.maxlist, _repr.maxtuple = 3, 6, 6, 6
_repr.maxset, _repr.maxfrozenset, _repr.maxdeque = 6, 6, 6
_repr.maxstring, _repr.maxother, _repr.maxlong = QUOTE_CHARS, QUOTE_CHARS, 40


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """A repr of ``value`` for a message: bounded in size and in the work it takes."""
    try:
        text = _repr.repr(value)
    except ValueError:  # an int too long for repr()
        text = "<a number too long to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load(path: str | Path, *, check_files: bool = True) -> Config:
    """Read and validate the YAML config at ``path``; raises :class:`ConfigError`.

    File paths in it (``ids_file``, ``tls.*``) resolve from the config's folder.
    ``check_files=False`` skips checking that they exist (``loadgen report`` reads a
    results folder's copy, maybe on another host).
    """
    path = Path(path)
    shown = str(path) if len(str(path)) <= QUOTE_CHARS else quote(str(path))
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"{shown}: cannot read the config ({exc.strerror or exc}). "
            "Give the path of a YAML file, e.g. configs/quickstart.yaml."
        ) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{shown}: larger than {MAX_CONFIG_BYTES // 1024} KiB; a config is a "
            "short YAML file. Give the path of a loadgen config."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{shown}: not UTF-8 text (byte {exc.start}). Save the config as UTF-8."
        ) from None
    return from_text(text, where=shown, name=path.stem, path=str(path), check_files=check_files)


def from_text(
    text: str,
    *,
    where: str = "config",
    name: str = "config",
    path: str | None = None,
    check_files: bool = True,
) -> Config:
    """Validate a config's YAML text; relative file paths resolve from ``path``'s folder
    (the current folder without one). Raises :class:`ConfigError` naming the field."""
    raw = parse_yaml(text, where)
    if raw is None or raw == {}:
        raise ConfigError(
            f"{where}: the config is empty. Give at least its stages, e.g. "
            "stages: [{users: 100, spawn_rate: 10, duration: 60s}] (see "
            "configs/quickstart.yaml)."
        )
    base = Path(path).resolve().parent if path else None
    try:
        return from_dict(raw, name=name, path=path, base=base, check_files=check_files)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def masked_copy(text: str) -> str:
    """The config's YAML with every Redis password masked, for the results folder.

    Masked in the parsed document, not the text: a password can be spelled in YAML many
    ways (quoted, escaped, folded). The document is dumped again, without comments.
    Raises :class:`ConfigError` for text that is not a config's YAML.
    """
    from loadgen.redismap import mask_url, url_secrets

    raw = parse_yaml(text)
    redis = raw.get("redis") if isinstance(raw, dict) else None
    url = redis.get("url") if isinstance(redis, dict) else None
    if isinstance(redis, dict) and isinstance(url, str):
        secrets = url_secrets(url)
        redis["url"] = mask_url(url)
        raw = _scrub(raw, secrets)
    body = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=100)
    return MASKED_HEADER + body


#: The first line of a config copied into a results folder.
MASKED_HEADER = "# the config as run; passwords masked (comments of the original are not kept)\n"
#: The first lines of the effective config written into a results folder.
EFFECTIVE_HEADER = (
    "# the config as run: the file with the command line's overrides applied, paths made\n"
    "# absolute, passwords masked. `loadgen report` reads it to rebuild the verdict.\n"
)


def effective(config: Config, *, masked: bool = True) -> dict[str, Any]:
    """The config as plain data that :func:`from_dict` reads back to the same config.

    ``masked``: every password of a URL (Redis, the target) replaced by ``***``, in the
    URL and wherever else the same text appears.
    """
    cp = config.charge_points
    charge_points: dict[str, Any] = {
        f.name: getattr(cp, f.name)
        for f in fields(cp)
        if f.name not in ("configuration", "scenario", "session", "reconnect")
    }
    charge_points["configuration"] = dict(cp.configuration)
    for part in ("scenario", "session", "reconnect"):
        value = getattr(cp, part)
        charge_points[part] = {f.name: getattr(value, f.name) for f in fields(value)}
    thresholds = config.thresholds
    data: dict[str, Any] = {
        "target": config.target,
        "ocpp_version": config.ocpp_version,
        "charge_points": charge_points,
        "stages": [
            {"users": s.users, "spawn_rate": s.spawn_rate, "duration": s.duration_s}
            for s in config.stages
        ],
        "source_addresses": list(config.source_addresses) if config.source_addresses else None,
        "tls": {f.name: getattr(config.tls, f.name) for f in fields(config.tls)},
        "redis": None
        if config.redis is None
        else {f.name: getattr(config.redis, f.name) for f in fields(config.redis)},
        "thresholds": {
            **{
                f.name: getattr(thresholds, f.name)
                for f in fields(thresholds)
                if f.name != "allow_no_data"
            },
            "allow_no_data": list(thresholds.allow_no_data),
        },
    }
    handled = {"name", "path", *data}
    for extra in fields(config):  # sections added later: plain data, never dropped
        if extra.name not in handled:
            data[extra.name] = _plain(getattr(config, extra.name))
    if masked:
        from loadgen.redismap import mask_url, url_secrets

        secrets = url_secrets(config.target) if "@" in config.target else []
        if "@" in config.target:
            data["target"] = mask_url(config.target)
        if data["redis"] is not None:
            secrets += url_secrets(config.redis.url) if config.redis else []
            data["redis"]["url"] = mask_url(data["redis"]["url"])
        data = _scrub(data, secrets)
    return data


def _plain(value: Any) -> Any:
    """A config value as YAML-able data: dataclasses as mappings, tuples as lists."""
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def effective_yaml(config: Config, *, masked: bool = True) -> str:
    """:func:`effective` as YAML, with a header saying what it is."""
    body = yaml.safe_dump(effective(config, masked=masked), sort_keys=False, width=100)
    return EFFECTIVE_HEADER + body


def _scrub(value: Any, secrets: list[str]) -> Any:
    """``value`` with every string that holds one of ``secrets`` masked (any depth).

    Secrets shorter than 4 characters are left alone: masking them everywhere would
    mangle the config, and the URL that holds them is masked already.
    """
    from loadgen.redismap import MASK

    secrets = [secret for secret in secrets if len(secret) >= 4]
    if not secrets:
        return value
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in list(pairs):
            if isinstance(child, str):
                for secret in secrets:
                    child = child.replace(secret, MASK)
                item[key] = child
            elif isinstance(child, dict | list):
                stack.append(child)
    return value


def parse_yaml(text: str, where: str = "config") -> object:
    """``yaml.safe_load`` with bounds: raises :class:`ConfigError` for bad syntax, values
    nested too deeply, anchors that refer to themselves, or more than
    :data:`MAX_CONFIG_VALUES` values once aliases are expanded."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # checks the characters: may raise
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, where)
        return loader.construct_document(node)
    except ConfigError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{where}: not valid YAML{at}. Fix the syntax there.") from None
    except RecursionError:
        raise ConfigError(
            f"{where}: values nested too deeply. A config needs a few levels at most."
        ) from None
    except (ValueError, OverflowError, TypeError) as exc:  # e.g. a 5,000-digit number
        raise ConfigError(
            f"{where}: a value cannot be read ({quote(str(exc), 120)}). Fix or remove it."
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_expansion(root: yaml.Node, where: str) -> None:
    """Count the values ``root`` expands to (each alias at every use), without expanding."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = list(node.value)
        if children_done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > MAX_CONFIG_VALUES:
                raise ConfigError(
                    f"{where}: expands to more than {MAX_CONFIG_VALUES:,} values through "
                    "anchors and aliases. Write the config out without nested aliases."
                )
            continue
        if key in open_nodes:
            raise ConfigError(f"{where}: an anchor refers to itself. Remove the alias loop.")
        open_nodes.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                raise ConfigError(f"{where}: an anchor refers to itself. Remove the alias loop.")
            if id(child) not in sizes:
                stack.append((child, False))


def from_dict(
    raw: object,
    *,
    name: str = "config",
    path: str | None = None,
    base: Path | None = None,
    check_files: bool = True,
) -> Config:
    """Validate an already parsed config mapping; raises :class:`ConfigError`.

    Relative file paths resolve from ``base`` (default: the current folder) and are
    kept absolute; ``check_files`` checks that each file exists.
    """
    files = _Files(base, check_files)
    data = _mapping(raw, "config", Config, skip={"name", "path"})
    target = _target(data.get("target", "embedded"))
    version = data.get("ocpp_version", "1.6")
    if isinstance(version, float):  # YAML reads an unquoted 1.6 as a number
        version = repr(version)
    if version not in OCPP_VERSIONS:
        raise ConfigError(
            f"ocpp_version: must be one of {', '.join(OCPP_VERSIONS)} (quoted), "
            f"got {quote(version)}."
        )
    config = Config(
        name=name,
        path=path,
        target=target,
        ocpp_version=version,
        charge_points=_charge_points(data.get("charge_points", {}), files),
        stages=_stages(data.get("stages", [{"users": 10, "spawn_rate": 10, "duration": 10}])),
        source_addresses=_source_addresses(data.get("source_addresses")),
        tls=_tls(data.get("tls", {}), files),
        redis=_redis(data.get("redis")),
        thresholds=_thresholds(data.get("thresholds", {})),
        fleet=_fleet(data.get("fleet")),
        gateway=_gateway(data.get("gateway")),
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
                f"--ocpp-version: must be one of {', '.join(OCPP_VERSIONS)}, "
                f"got {quote(ocpp_version)}."
            )
        config = replace(config, ocpp_version=ocpp_version)
    stages = config.stages
    if users is not None:
        if not 1 <= users <= MAX_USERS:
            raise ConfigError(
                f"--users: must be a number of charge points from 1 to {MAX_USERS:,}, "
                f"got {quote(users, 40)}."
            )
        stages = (Stage(users, stages[-1].spawn_rate, config.total_duration_s),)
    if run_time_s is not None:
        if not 0 < run_time_s <= MAX_DURATION_S:
            raise ConfigError(
                f"--run-time: must be more than 0 and at most 30 days, got {quote(run_time_s)}s."
            )
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
            raise ConfigError(f"{where}.{_name(key)}: unknown key. Known keys here: {known}.")
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
        raise ConfigError(f"{where}: expected {kind}, got {quote(value)}.")
    limit = MAX_NUMBER if maximum is None else maximum
    if isinstance(value, int) and abs(value) > MAX_NUMBER:  # float() of it may overflow
        raise ConfigError(f"{where}: must be at most {_figure(limit)}, got {quote(value, 40)}.")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{where}: must be finite, got {quote(value)}.")
    if minimum is not None and (number <= minimum if exclusive_min else number < minimum):
        bound = f"greater than {minimum:g}" if exclusive_min else f"at least {minimum:g}"
        raise ConfigError(f"{where}: must be {bound}, got {quote(value)}.")
    if number > limit:
        raise ConfigError(f"{where}: must be at most {_figure(limit)}, got {quote(value, 40)}.")
    return number


def _figure(number: float) -> str:
    return f"{int(number):,}" if number == int(number) else f"{number:g}"


def _duration(value: object, where: str) -> float:
    """Seconds from a number or a string like ``90s`` (:func:`parse_duration`), at most
    :data:`MAX_DURATION_S`."""
    if isinstance(value, str) and len(value) > 32:
        raise ConfigError(
            f"{where}: expected a duration like 60, '90s' or '5m', got {quote(value, 40)}."
        )
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        raise ConfigError(f"{where}: must be at most 30 days, got {quote(value, 40)}.")
    seconds = parse_duration(value, where)
    if seconds > MAX_DURATION_S:
        raise ConfigError(
            f"{where}: must be at most 30 days ({MAX_DURATION_S:g}s), got {quote(value, 40)}."
        )
    return seconds


def _string(value: object, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a non-empty string, got {quote(value)}.")
    if len(value) > MAX_STRING_CHARS:
        raise ConfigError(
            f"{where}: longer than {MAX_STRING_CHARS} characters ({quote(value, 60)}). Shorten it."
        )
    return value


def _name(key: object) -> str:
    """A key of the config as it goes into a field path of a message (bounded)."""
    text = key if isinstance(key, str) else quote(key, 40)
    return text if len(text) <= 60 else text[:57] + "..."


def _target(value: object, where: str = "target") -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"{where}: expected 'embedded' or a ws:// or wss:// URL, got {quote(value)}."
        )
    if value == "embedded":
        return value
    if len(value) > MAX_URL_CHARS:
        raise ConfigError(
            f"{where}: longer than {MAX_URL_CHARS} characters ({quote(value, 60)}). "
            "Give a URL like ws://127.0.0.1:9000/ocpp."
        )
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(
            f"{where}: {quote(value)} is not a WebSocket URL. Use 'embedded' or a URL like "
            "ws://127.0.0.1:9000/ocpp (the charge point id is appended)."
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ConfigError(f"{where}: {quote(value)} has an invalid port number.") from None
    if parts.query or parts.fragment:
        raise ConfigError(f"{where}: {quote(value)} must not have a query or fragment.")
    return value


@dataclass(frozen=True, slots=True)
class _Files:
    """How a config's file paths are read: from which folder, and whether to check them."""

    base: Path | None
    check: bool

    def path(self, value: str | None, where: str, what: str) -> str | None:
        """``value`` made absolute from the config's folder; ConfigError if it is missing."""
        if value is None:
            return None
        resolved = Path(value).expanduser()
        if not resolved.is_absolute():
            resolved = (self.base or Path.cwd()) / resolved
        if self.check and not resolved.is_file():
            relative = f" (from the config's folder, {self.base})" if self.base else ""
            raise ConfigError(f"{where}: no file at {quote(value)}{relative}. {what}")
        return str(resolved)


def _charge_points(raw: object, files: _Files) -> ChargePoints:
    where = "charge_points"
    data = _mapping(raw, where, ChargePoints)
    default = ChargePoints()
    prefix = _string(data.get("id_prefix", default.id_prefix), f"{where}.id_prefix")
    assert prefix is not None
    if not re.fullmatch(r"[A-Za-z0-9._:-]{1,16}", prefix):
        raise ConfigError(
            f"{where}.id_prefix: {quote(prefix)} must be 1-16 URL-safe characters (letters, "
            "digits, '.', '_', ':', '-')."
        )
    hb = data.get("heartbeat_interval_s")
    scenario = _mapping(data.get("scenario", {}), f"{where}.scenario", Scenario)
    idle = _number(scenario.get("idle", 1.0), f"{where}.scenario.idle", minimum=0, maximum=1e6)
    charging = _number(
        scenario.get("charging", 0.0), f"{where}.scenario.charging", minimum=0, maximum=1e6
    )
    if idle + charging <= 0:
        raise ConfigError(f"{where}.scenario: idle and charging weights cannot both be 0.")
    session_raw = _mapping(data.get("session", {}), f"{where}.session", Session)
    sd = Session()
    session = Session(
        duration_s=_duration(
            session_raw.get("duration_s", sd.duration_s), f"{where}.session.duration_s"
        ),
        meter_interval_s=_duration(
            session_raw.get("meter_interval_s", sd.meter_interval_s),
            f"{where}.session.meter_interval_s",
        ),
        pause_s=_duration(session_raw.get("pause_s", sd.pause_s), f"{where}.session.pause_s"),
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
        initial_s=_duration(rc_raw.get("initial_s", rd.initial_s), f"{where}.reconnect.initial_s"),
        max_s=_duration(rc_raw.get("max_s", rd.max_s), f"{where}.reconnect.max_s"),
        factor=_number(
            rc_raw.get("factor", rd.factor), f"{where}.reconnect.factor", minimum=1, maximum=100
        ),
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
    ids_file = files.path(
        _string(data.get("ids_file"), f"{where}.ids_file", optional=True),
        f"{where}.ids_file",
        "Give a CSV of id[,password] rows, or remove the key to use id_prefix.",
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
        heartbeat_interval_s=None if hb is None else _duration(hb, f"{where}.heartbeat_interval_s"),
        boot_retry_s=_duration(
            data.get("boot_retry_s", default.boot_retry_s), f"{where}.boot_retry_s"
        ),
        connect_timeout_s=_duration(
            data.get("connect_timeout_s", default.connect_timeout_s), f"{where}.connect_timeout_s"
        ),
        call_timeout_s=_duration(
            data.get("call_timeout_s", default.call_timeout_s), f"{where}.call_timeout_s"
        ),
        firmware_version=_string(
            data.get("firmware_version", default.firmware_version), f"{where}.firmware_version"
        )
        or "",
        boot_on_reconnect=_bool(
            data.get("boot_on_reconnect", default.boot_on_reconnect), f"{where}.boot_on_reconnect"
        ),
        reboot_s=_duration(data.get("reboot_s", default.reboot_s), f"{where}.reboot_s"),
        offline_queue_max=int(
            _number(
                data.get("offline_queue_max", default.offline_queue_max),
                f"{where}.offline_queue_max",
                minimum=1,
                maximum=1_000_000,
                integer=True,
            )
        ),
        io_batch_ms=_number(
            data.get("io_batch_ms", default.io_batch_ms),
            f"{where}.io_batch_ms",
            minimum=0,
            maximum=MAX_IO_BATCH_MS,
        ),
        configuration=_configuration(data.get("configuration", {}), f"{where}.configuration"),
        scenario=Scenario(idle=idle, charging=charging),
        session=session,
        reconnect=reconnect,
    )


def _action(key: object) -> str:
    """An action name of ``max_call_p95_ms`` (or ``*``): one of OCPP's, or a misspelt
    threshold would never be checked."""
    if not isinstance(key, str | int) or len(str(key)) > 64:
        raise ConfigError(
            f"thresholds.max_call_p95_ms: {quote(key, 60)} is not an OCPP action name. "
            "Use names like BootNotification, or '*' for the rest."
        )
    name = str(key)
    if name != "*" and name not in ALL_ACTIONS:
        close = difflib.get_close_matches(name, sorted(ALL_ACTIONS), n=1, cutoff=0.6)
        hint = f"Did you mean {close[0]}? " if close else ""
        raise ConfigError(
            f"thresholds.max_call_p95_ms.{_name(name)}: not an OCPP action, so it would never "
            f"be checked. {hint}Use an action of OCPP 1.6, 2.0.1 or 2.1 (e.g. "
            "BootNotification), or '*' for every action without its own limit."
        )
    return name


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {quote(value)}.")
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
        setting = resolve_name(str(key)) if isinstance(key, str) and len(key) <= 100 else None
        if setting is None:
            raise ConfigError(
                f"{where}.{_name(key)}: unknown setting. Use a 1.6 configuration key (e.g. "
                "HeartbeatInterval), a 2.0.1 Component.Variable (e.g. "
                "AuthCtrlr.AuthorizeRemoteStart) or a loadgen setting name."
            )
        if setting.writeonly:
            raise ConfigError(
                f"{where}.{_name(key)}: a charge point's password is its own: put it in the "
                "ids file's password column (charge_points.ids_file), not in the config."
            )
        if not isinstance(value, str | int | float | bool) or len(str(value)) > MAX_STRING_CHARS:
            raise ConfigError(
                f"{where}.{_name(key)}: {quote(value)} is not a valid {setting.kind} value."
            )
        text = str(value).lower() if isinstance(value, bool) else str(value)
        normalised = setting.parse(text)
        if normalised is None:
            allowed = f" (of {', '.join(setting.values)})" if setting.values else ""
            raise ConfigError(
                f"{where}.{_name(key)}: {quote(value)} is not a valid {setting.kind} "
                f"value{allowed}."
            )
        out.append((setting.name, normalised))
    return tuple(out)


def _stages(raw: object) -> tuple[Stage, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            "stages: expected a non-empty list like "
            "[{users: 1000, spawn_rate: 250, duration: 60s}]."
        )
    if len(raw) > MAX_STAGES:
        raise ConfigError(f"stages: more than {MAX_STAGES} stages. Merge some of them.")
    stages = []
    previous = 0
    for i, item in enumerate(raw):
        where = f"stages[{i}]"
        data = _mapping(item, where, Stage)
        for key in ("users", "spawn_rate", "duration"):
            if key not in data:
                raise ConfigError(f"{where}.{key}: required (users, spawn_rate and duration).")
        users = int(
            _number(data["users"], f"{where}.users", minimum=0, maximum=MAX_USERS, integer=True)
        )
        rate = _number(
            data["spawn_rate"],
            f"{where}.spawn_rate",
            minimum=0,
            exclusive_min=True,
            maximum=MAX_SPAWN_RATE,
        )
        duration = _duration(data["duration"], f"{where}.duration")
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
                f"source_addresses[{i}]: {quote(item)} is not an IP address or CIDR network."
            ) from None
        if net.num_addresses + len(out) > MAX_SOURCE_ADDRESSES:
            raise ConfigError(
                f"source_addresses[{i}]: {quote(item)} makes the pool larger than "
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


def _tls(raw: object, files: _Files) -> Tls:
    data = _mapping(raw, "tls", Tls)
    verify = data.get("verify", True)
    if not isinstance(verify, bool):
        raise ConfigError(f"tls.verify: expected true or false, got {quote(verify)}.")
    paths: dict[str, str | None] = {}
    for key in ("ca_file", "cert_file", "key_file"):
        value = _string(data.get(key), f"tls.{key}", optional=True)
        paths[key] = files.path(value, f"tls.{key}", "Give the path of a PEM file.")
    if (paths["cert_file"] is None) != (paths["key_file"] is None):
        raise ConfigError("tls.cert_file and tls.key_file: give both for a client certificate.")
    return Tls(verify=verify, **paths)


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
        within_s=_duration(data.get("within_s", default.within_s), "redis.within_s"),
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
        _action(action): _number(
            limit, f"thresholds.max_call_p95_ms.{_name(action)}", exclusive_min=True, minimum=0
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
                f"thresholds.max_failures.{_name(category)}: unknown failure category. Use one of: "
                f"{', '.join(CATEGORIES)}, or '*' for all failures together."
            )
        checked[category] = int(
            _number(limit, f"thresholds.max_failures.{category}", minimum=0, integer=True)
        )
    values["max_failures"] = checked
    values["allow_no_data"] = _allow_no_data(data.get("allow_no_data", False), values)
    return Thresholds(**values)


def _allow_no_data(raw: object, values: dict[str, Any]) -> tuple[str, ...]:
    """Checks that pass without samples: ``true`` (all), ``false`` or a list of names."""
    where = "thresholds.allow_no_data"
    if isinstance(raw, bool):
        return ("*",) if raw else ()
    if not isinstance(raw, list) or len(raw) > 200:
        raise ConfigError(
            f"{where}: expected true, false or a list of check names like "
            "[max_call_p95_ms.StartTransaction]."
        )
    known = {"min_success_rate", "min_boot_rate", "max_connect_p95_ms", "max_connect_p99_ms"}
    known |= {f"max_call_p95_ms.{action}" for action in values["max_call_p95_ms"]}
    for item in raw:
        if item not in known:
            names = ", ".join(sorted(known))
            raise ConfigError(
                f"{where}: {quote(item, 60)} is not a check of this config that can lack "
                f"samples. Use one of: {names}."
            )
    return tuple(raw)


# -- fleet: charger models, sessions, firmware, faults (docs/fleets.md) -------------------

#: Most models in a fleet, DataTransfer answers, idTags and operator steps.
MAX_MODELS = 32
MAX_ANSWERS = 100
MAX_ID_TAGS = 1000
MAX_STEPS = 1000
_ERROR_CODES_16 = (
    "ConnectorLockFailure EVCommunicationError GroundFailure HighTemperature InternalError "
    "LocalListConflict OtherError OverCurrentFailure OverVoltage PowerMeterFailure "
    "PowerSwitchFailure ReaderFailure ResetFailure UnderVoltage WeakSignal"
).split()
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _fleet(raw: object) -> FleetSpec:
    """The ``fleet`` section (absent: every charger is charge_points' one model)."""
    from loadgen.config import (
        FEATURE_PROFILES,
        FIRMWARE_UPDATES,
        ChargerModel,
        DataTransferAnswer,
        Diagnostics,
        Faults,
        FirmwareUpdates,
    )

    if raw is None:
        return FleetSpec()
    data = _mapping(raw, "fleet", FleetSpec)
    models_raw = data.get("models") or []
    if not isinstance(models_raw, list) or len(models_raw) > MAX_MODELS:
        raise ConfigError(f"fleet.models: expected a list of at most {MAX_MODELS} models.")
    models = []
    names: set[str] = set()
    for i, item in enumerate(models_raw):
        where = f"fleet.models[{i}]"
        m = _mapping(item, where, ChargerModel)
        default = ChargerModel(name="default")
        name = _string(m.get("name"), f"{where}.name") or ""
        if not _NAME.fullmatch(name) or name in names:
            raise ConfigError(
                f"{where}.name: {quote(name)} must be a unique name of 1-64 letters, digits, "
                "'.', '_' or '-' (the ids file's model column names it)."
            )
        names.add(name)
        profiles = m.get("feature_profiles", list(default.feature_profiles))
        if (
            not isinstance(profiles, list)
            or not all(p in FEATURE_PROFILES for p in profiles)
            or "Core" not in profiles
        ):
            raise ConfigError(
                f"{where}.feature_profiles: expected a list with Core and any of "
                f"{', '.join(FEATURE_PROFILES)}."
            )
        update = m.get("firmware_update", default.firmware_update)
        if update not in FIRMWARE_UPDATES:
            raise ConfigError(
                f"{where}.firmware_update: {quote(update)} is not one of "
                f"{', '.join(FIRMWARE_UPDATES)} (1.6: which firmware update the model takes)."
            )
        phases = int(
            _number(m.get("phases", 3), f"{where}.phases", minimum=1, maximum=3, integer=True)
        )
        if phases == 2:
            raise ConfigError(f"{where}.phases: 1 or 3 (AC phases), got 2.")
        limit = m.get("external_limit_w")
        models.append(
            ChargerModel(
                name=name,
                weight=_number(
                    m.get("weight", 1.0),
                    f"{where}.weight",
                    minimum=0,
                    exclusive_min=True,
                    maximum=1e6,
                ),
                vendor=_string(m.get("vendor", default.vendor), f"{where}.vendor") or "",
                model=_string(m.get("model", default.model), f"{where}.model") or "",
                firmware_version=_string(
                    m.get("firmware_version", default.firmware_version), f"{where}.firmware_version"
                )
                or "",
                connectors=int(
                    _number(
                        m.get("connectors", 1),
                        f"{where}.connectors",
                        minimum=1,
                        maximum=64,
                        integer=True,
                    )
                ),
                max_power_w=_number(
                    m.get("max_power_w", default.max_power_w),
                    f"{where}.max_power_w",
                    minimum=0,
                    exclusive_min=True,
                    maximum=1_000_000,
                ),
                phases=phases,
                dc=_bool(m.get("dc", False), f"{where}.dc"),
                voltage_v=_number(
                    m.get("voltage_v", default.voltage_v),
                    f"{where}.voltage_v",
                    minimum=1,
                    maximum=2000,
                ),
                soc=_bool(m.get("soc", False), f"{where}.soc"),
                feature_profiles=tuple(profiles),
                firmware_update=update,
                configuration=_configuration(
                    _pairs(m.get("configuration")), f"{where}.configuration"
                ),
                external_limit_w=None
                if limit is None
                else _number(limit, f"{where}.external_limit_w", minimum=0, maximum=10_000_000),
            )
        )
    firmware_raw = _mapping(data.get("firmware") or {}, "fleet.firmware", FirmwareUpdates)
    fd = FirmwareUpdates()
    step = firmware_raw.get("failure_step", fd.failure_step)
    if step not in ("download", "install", "signature"):
        raise ConfigError(
            f"fleet.firmware.failure_step: download, install or signature, got {quote(step)}."
        )
    diagnostics_raw = _mapping(data.get("diagnostics") or {}, "fleet.diagnostics", Diagnostics)
    faults_raw = _mapping(data.get("faults") or {}, "fleet.faults", Faults)
    fa = Faults()
    code = faults_raw.get("error_code", fa.error_code)
    if code not in _ERROR_CODES_16:
        raise ConfigError(
            f"fleet.faults.error_code: {quote(code)} is not a 1.6 ChargePointErrorCode. Use one "
            f"of: {', '.join(_ERROR_CODES_16)}."
        )
    answers_raw = data.get("data_transfer") or []
    if not isinstance(answers_raw, list) or len(answers_raw) > MAX_ANSWERS:
        raise ConfigError(
            f"fleet.data_transfer: expected a list of at most {MAX_ANSWERS} answers like "
            "{vendor_id: com.example, message_id: Ping, status: Accepted, data: pong}."
        )
    answers = []
    for i, item in enumerate(answers_raw):
        where = f"fleet.data_transfer[{i}]"
        a = _mapping(item, where, DataTransferAnswer)
        status = a.get("status", "Accepted")
        if status not in ("Accepted", "Rejected", "UnknownMessageId", "UnknownVendorId"):
            raise ConfigError(
                f"{where}.status: Accepted, Rejected, UnknownMessageId or UnknownVendorId."
            )
        answers.append(
            DataTransferAnswer(
                vendor_id=_bounded(a.get("vendor_id"), f"{where}.vendor_id", 255) or "",
                message_id=_bounded(a.get("message_id"), f"{where}.message_id", 50, optional=True),
                status=status,
                data=_bounded(a.get("data"), f"{where}.data", 1024, optional=True),
            )
        )
    return FleetSpec(
        models=tuple(models),
        sessions=_arrivals(data.get("sessions")),
        firmware=FirmwareUpdates(
            download_s=_seconds(
                firmware_raw.get("download_s", fd.download_s), "fleet.firmware.download_s"
            ),
            install_s=_seconds(
                firmware_raw.get("install_s", fd.install_s), "fleet.firmware.install_s"
            ),
            failure_share=_number(
                firmware_raw.get("failure_share", 0.0),
                "fleet.firmware.failure_share",
                minimum=0,
                maximum=1,
            ),
            failure_step=step,
        ),
        diagnostics=Diagnostics(
            upload_bytes=int(
                _number(
                    diagnostics_raw.get("upload_bytes", 4096),
                    "fleet.diagnostics.upload_bytes",
                    minimum=0,
                    maximum=10 * 1024 * 1024,
                    integer=True,
                )
            ),
            timeout_s=_duration(
                diagnostics_raw.get("timeout_s", 30.0), "fleet.diagnostics.timeout_s"
            ),
        ),
        faults=Faults(
            share=_number(faults_raw.get("share", 0.0), "fleet.faults.share", minimum=0, maximum=1),
            mean_interval_s=_duration(
                faults_raw.get("mean_interval_s", fa.mean_interval_s),
                "fleet.faults.mean_interval_s",
            ),
            recover_s=_duration(
                faults_raw.get("recover_s", fa.recover_s), "fleet.faults.recover_s"
            ),
            error_code=code,
        ),
        data_transfer=tuple(answers),
        security_events=_bool(data.get("security_events", False), "fleet.security_events"),
        notify_event=_bool(data.get("notify_event", False), "fleet.notify_event"),
    )


def _arrivals(raw: object) -> Arrivals | None:
    """``fleet.sessions``: how EVs arrive, stay and charge (None: charge_points.session)."""
    if raw is None:
        return None
    where = "fleet.sessions"
    data = _mapping(raw, where, Arrivals)
    default = Arrivals()
    arrival = data.get("arrival", default.arrival)
    if arrival not in ("exponential", "uniform"):
        raise ConfigError(f"{where}.arrival: exponential or uniform, got {quote(arrival)}.")
    tags = data.get("id_tags") or []
    if not isinstance(tags, list) or len(tags) > MAX_ID_TAGS:
        raise ConfigError(f"{where}.id_tags: expected a list of at most {MAX_ID_TAGS} tags.")
    for tag in tags:
        _id_tag(tag, f"{where}.id_tags")
    taper = _number(
        data.get("taper_from_percent", default.taper_from_percent),
        f"{where}.taper_from_percent",
        minimum=0,
        maximum=99,
    )
    return Arrivals(
        arrival=arrival,
        mean_pause_s=_duration(
            data.get("mean_pause_s", default.mean_pause_s), f"{where}.mean_pause_s"
        ),
        duration_s=_range(
            data.get("duration_s", list(default.duration_s)),
            f"{where}.duration_s",
            1,
            MAX_DURATION_S,
            seconds=True,
        ),
        battery_wh=_range(
            data.get("battery_wh", list(default.battery_wh)), f"{where}.battery_wh", 1, 10_000_000
        ),
        soc_start_percent=_range(
            data.get("soc_start_percent", list(default.soc_start_percent)),
            f"{where}.soc_start_percent",
            0,
            100,
        ),
        taper_from_percent=taper,
        ev_max_power_w=_range(
            data.get("ev_max_power_w", list(default.ev_max_power_w)),
            f"{where}.ev_max_power_w",
            1,
            1_000_000,
        ),
        id_tags=tuple(tags),
        v2x_share=_number(data.get("v2x_share", 0.0), f"{where}.v2x_share", minimum=0, maximum=1),
    )


def _gateway(raw: object) -> GatewayPlan:
    """The ``gateway`` section: the embedded gateway's operator script and validation."""
    from loadgen.config import OperatorStep

    if raw is None:
        return GatewayPlan()
    data = _mapping(raw, "gateway", GatewayPlan)
    steps_raw = data.get("script") or []
    if not isinstance(steps_raw, list) or len(steps_raw) > MAX_STEPS:
        raise ConfigError(
            f"gateway.script: expected a list of at most {MAX_STEPS} steps like "
            "{at: 60s, call: UpdateFirmware, share: 0.1}."
        )
    steps = []
    for i, item in enumerate(steps_raw):
        where = f"gateway.script[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a mapping like {{at: 60s, call: Reset}}.")
        unknown = set(item) - {"at", "at_s", "call", "share", "params", "pick"}
        if unknown:
            raise ConfigError(
                f"{where}.{_name(sorted(map(str, unknown))[0])}: unknown key. Known keys here: "
                "at, call, share, params, pick."
            )
        pick = item.get("pick")
        if pick is not None and (not isinstance(pick, str) or not _NAME.fullmatch(pick)):
            raise ConfigError(
                f"{where}.pick: {quote(pick)} must be a name of 1-64 letters, digits, '.', '_' "
                "or '-' (steps with the same pick reach the same chargers)."
            )
        at = item.get("at", item.get("at_s"))
        if at is None:
            raise ConfigError(f"{where}.at: required (seconds after the gateway started).")
        call = item.get("call")
        if not isinstance(call, str) or call not in ALL_ACTIONS:
            raise ConfigError(f"{where}.call: {quote(call)} is not an OCPP action.")
        params = item.get("params") or {}
        pairs = _pairs(params)
        if not isinstance(pairs, dict) or len(pairs) > 32:
            raise ConfigError(f"{where}.params: expected a mapping of at most 32 parameters.")
        checked: list[tuple[str, str | int | float | bool]] = []
        for key, value in pairs.items():
            if not isinstance(key, str) or not _NAME.fullmatch(key):
                raise ConfigError(f"{where}.params: {quote(key)} is not a parameter name.")
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = ",".join(value)  # e.g. tags: a list of idTags
            if (
                not isinstance(value, str | int | float | bool)
                or len(str(value)) > MAX_STRING_CHARS
            ):
                raise ConfigError(f"{where}.params.{key}: expected a number, string or boolean.")
            checked.append((key, value))
        steps.append(
            OperatorStep(
                at_s=_seconds(at, f"{where}.at"),
                call=call,
                share=_number(item.get("share", 1.0), f"{where}.share", minimum=0, maximum=1),
                params=tuple(checked),
                pick=pick,
            )
        )
    return GatewayPlan(
        script=tuple(sorted(steps, key=lambda step: step.at_s)),
        validate=_bool(data.get("validate", False), "gateway.validate"),
    )


def _pairs(raw: object) -> object:
    """A mapping given as one, or as the list of [key, value] pairs the effective config
    writes; anything else as it is (the caller says what is wrong with it)."""
    if isinstance(raw, list) and all(isinstance(p, list) and len(p) == 2 for p in raw):
        return {key: value for key, value in raw}
    return raw


def _seconds(value: object, where: str) -> float:
    """A duration that may be 0 (a step that takes no time)."""
    if value == 0 and not isinstance(value, bool):
        return 0.0
    return _duration(value, where)


def _range(
    raw: object, where: str, low: float, high: float, *, seconds: bool = False
) -> tuple[float, float]:
    """``[min, max]`` (or one value for both) within ``low``..``high``."""
    items = raw if isinstance(raw, list) else [raw, raw]
    if len(items) != 2:
        raise ConfigError(f"{where}: expected a value or [min, max].")
    if seconds:
        first, second = (_duration(item, where) for item in items)
    else:
        first, second = (_number(item, where, minimum=low, maximum=high) for item in items)
    if first > second:
        raise ConfigError(f"{where}: the minimum {first:g} is above the maximum {second:g}.")
    return first, second


def _id_tag(value: object, where: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 20:
        raise ConfigError(f"{where}: {quote(value, 40)} is not an idTag (1 to 20 characters).")
    return value


def _bounded(value: object, where: str, limit: int, *, optional: bool = False) -> str | None:
    text = _string(value, where, optional=optional)
    if text is not None and len(text) > limit:
        raise ConfigError(f"{where}: longer than {limit} characters. Shorten it.")
    return text
