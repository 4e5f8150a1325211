"""Settings of the gateway's Redis registry, from ``--redis-*`` flags and a YAML file.

Nothing here talks to Redis: :func:`settings_from_args` validates the flags and the
``--redis-config`` file (the seeds' go-redis keys: ``pool_size``, ``min_idle_conns``,
``dial_timeout``, ``read_timeout``, ``write_timeout``, plus ``pool_timeout`` and
``max_retries``; durations like ``"5s"`` or ``"500ms"``) and raises
:class:`RedisConfigError`, whose message names the flag or field and the fix. Flags
override the file, the file overrides the defaults (go-redis' own, for one process).
"""

from __future__ import annotations

import argparse
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from loadgen.redismap import (
    DEFAULT_KEY,
    GATEWAY_URL_ENV,
    URL_HINT,
    key_problem,
    mask_url,
    url_problem,
)

#: What to do with a charger whose mapping could not be stored.
ON_ERROR = ("serve", "refuse")
#: The URL may come from the environment instead of the command line (kept out of ``ps``).
URL_ENV = GATEWAY_URL_ENV
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class RedisConfigError(ValueError):
    """Redis flags or file that cannot be used; the message names the flag or field."""


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """The connection pool, with go-redis' option names."""

    pool_size: int = 10  # connections at most (BlockingConnectionPool max_connections)
    min_idle_conns: int = 0  # connections opened at start and kept
    dial_timeout_s: float = 5.0
    read_timeout_s: float = 3.0
    write_timeout_s: float = 3.0
    pool_timeout_s: float = 4.0  # wait for a free connection; go-redis: read_timeout + 1 s
    max_retries: int = 3  # retries of a command after a network error (not a pool timeout)


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """Where and how the gateway keeps its charge point -> instance mappings."""

    url: str
    key: str = DEFAULT_KEY
    ttl_s: int = 180  # seconds a mapping lives unless a Heartbeat refreshes it; 0: forever
    on_error: str = "serve"  # or "refuse": close the charger's WebSocket
    max_inflight: int = 1024  # Redis operations waiting for the pool or running at once
    #: operations scheduled and not finished (waiting their turn, for the pool, or running)
    #: at most; past it new ones are dropped and counted
    max_queued: int = 65536
    pool: PoolSettings = field(default_factory=PoolSettings)

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)


#: YAML key -> PoolSettings field (the file uses go-redis' names, durations unsuffixed).
_FILE_POOL_KEYS = {
    "pool_size": "pool_size",
    "min_idle_conns": "min_idle_conns",
    "dial_timeout": "dial_timeout_s",
    "read_timeout": "read_timeout_s",
    "write_timeout": "write_timeout_s",
    "pool_timeout": "pool_timeout_s",
    "max_retries": "max_retries",
}
_FILE_ADDRESS_KEYS = ("url", "addr", "username", "password", "db")
#: flag dest -> PoolSettings field
_FLAG_POOL_KEYS = {f"redis_{name}": attr for name, attr in _FILE_POOL_KEYS.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``--redis-*`` flags (all default to ``None``: not given)."""
    group = parser.add_argument_group(
        "Redis registry",
        "Store charge point -> gateway instance mappings in Redis, as many gateways do "
        "(off unless --redis-url, $" + URL_ENV + " or --redis-config gives a server).",
    )
    group.add_argument("--redis-url", help=f"redis://[:PASSWORD@]HOST:PORT/DB (or ${URL_ENV})")
    group.add_argument("--redis-key", help=f"key template of a mapping (default {DEFAULT_KEY})")
    group.add_argument(
        "--redis-ttl-s", help="mapping lifetime, refreshed on Heartbeat; 0: none (default 3x HB)"
    )
    group.add_argument("--redis-config", metavar="FILE", help="YAML file with the pool settings")
    group.add_argument("--redis-pool-size", help="pool connections at most (default 10)")
    group.add_argument("--redis-min-idle-conns", help="connections opened at start (default 0)")
    group.add_argument("--redis-dial-timeout", help="e.g. 5s (default 5s)")
    group.add_argument("--redis-read-timeout", help="e.g. 3s (default 3s)")
    group.add_argument("--redis-write-timeout", help="e.g. 3s (default 3s)")
    group.add_argument("--redis-pool-timeout", help="wait for a free connection (read + 1s)")
    group.add_argument("--redis-max-retries", help="retries after network errors (default 3)")
    group.add_argument("--redis-max-inflight", help="operations at once (default 1024)")
    group.add_argument(
        "--redis-max-queue",
        help="operations scheduled and not yet done at most; more are dropped and counted "
        "(default 65536)",
    )
    group.add_argument(
        "--on-redis-error",
        choices=ON_ERROR,
        help="when a mapping cannot be stored: serve the charger anyway (default) or "
        "refuse it (close its WebSocket with code 1013 and the reason)",
    )


def go_duration(value: object, where: str) -> float:
    """Seconds from a number or a Go duration string (``"5s"``, ``"500ms"``, ``"1m30s"``)."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            matches = list(_GO_DURATION.finditer(text))
            if text and "".join(m.group(0) for m in matches) == text:
                seconds = sum(float(m[1]) * _UNIT_S[m[2]] for m in matches)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise RedisConfigError(
            f"{where}: expected a positive duration like 5s, 500ms or 1m30s (or seconds), "
            f"got {value!r}."
        )
    return seconds


def _whole(value: object, where: str, minimum: int, what: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RedisConfigError(
            f"{where}: expected {what} (a whole number >= {minimum}), got {value!r}."
        )
    return value


def _pool_value(attr: str, value: object, where: str) -> int | float:
    if attr == "pool_size":
        return _whole(value, where, 1, "the most connections in the pool")
    if attr == "min_idle_conns":
        return _whole(value, where, 0, "connections to open at start")
    if attr == "max_retries":  # go-redis: -1 disables retries
        return max(0, _whole(value, where, -1, "retries"))
    return go_duration(value, where)


def load_file(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pool values and address values of a ``--redis-config`` file.

    The file is either the mapping itself or has it under ``redis:`` (like the seeds'
    ``application-dev.yaml``, whose other sections are ignored).
    """
    where = f"--redis-config {path}"
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RedisConfigError(
            f"{where}: cannot read the file ({exc.strerror or exc}). Give the path of a YAML "
            "file with keys like pool_size: 500, dial_timeout: 5s."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RedisConfigError(f"{where}: not valid YAML{at}. Fix the syntax there.") from None
    if isinstance(raw, dict) and isinstance(raw.get("redis"), dict):
        raw = raw["redis"]
    if not isinstance(raw, dict):
        raise RedisConfigError(
            f"{where}: expected a mapping of keys like pool_size: 500, dial_timeout: 5s "
            f"(at the top or under redis:), got {type(raw).__name__}."
        )
    pool: dict[str, Any] = {}
    address: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _FILE_POOL_KEYS:
            attr = _FILE_POOL_KEYS[key]
            pool[attr] = _pool_value(attr, value, f"{where}: {key}")
        elif key in _FILE_ADDRESS_KEYS:
            address[key] = value
        else:
            known = ", ".join([*_FILE_POOL_KEYS, *_FILE_ADDRESS_KEYS])
            raise RedisConfigError(f"{where}: {key}: unknown key. Known keys: {known}.")
    return pool, address


def _url_from_file(address: dict[str, Any], where: str) -> str | None:
    if "url" in address:
        return str(address["url"])
    if "addr" not in address:
        return None
    addr = str(address["addr"])
    if not re.fullmatch(r"[^\s/:@]+:\d{1,5}|\[[0-9a-fA-F:.]+\]:\d{1,5}", addr):
        raise RedisConfigError(
            f"{where}: addr: expected HOST:PORT like localhost:6379, got {addr!r}."
        )
    db = _whole(address.get("db", 0), f"{where}: db", 0, "a database number")
    user = quote(str(address.get("username") or ""), safe="")
    password = quote(str(address.get("password") or ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"redis://{auth}{addr}/{db}"


def settings_from_args(args: argparse.Namespace) -> RedisSettings | None:
    """The Redis settings the flags (and file) ask for, or ``None`` when Redis is off.

    Raises :class:`RedisConfigError` naming the flag or file field and the fix.
    """
    given = {name for name in vars(args) if name.startswith("redis_") and getattr(args, name)}
    given |= {"on_redis_error"} if getattr(args, "on_redis_error", None) else set()
    url = getattr(args, "redis_url", None) or os.environ.get(URL_ENV) or None
    source = "--redis-url" if getattr(args, "redis_url", None) else f"${URL_ENV}"
    pool_values: dict[str, Any] = {}
    if getattr(args, "redis_config", None):
        pool_values, address = load_file(args.redis_config)
        file_url = _url_from_file(address, f"--redis-config {args.redis_config}")
        if url is None:
            url = file_url
            source = f"--redis-config {args.redis_config}: url/addr"
    if url is None:
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in sorted(given))
            raise RedisConfigError(
                f"{flags}: no Redis server given. Add --redis-url redis://HOST:PORT/DB (or set "
                f"${URL_ENV}, or put addr: HOST:PORT in the --redis-config file)."
            )
        return None
    problem = url_problem(url)
    if problem:
        raise RedisConfigError(f"{source}: {problem}")
    from redis.connection import parse_url  # what redis-py itself will reject

    try:
        parse_url(url)
    except ValueError as exc:
        raise RedisConfigError(f"{source}: {mask_url(url)!r}: {exc} {URL_HINT}.") from None
    for dest, attr in _FLAG_POOL_KEYS.items():
        value = getattr(args, dest, None)
        if value is not None:
            pool_values[attr] = _pool_value(attr, value, "--" + dest.replace("_", "-"))
    if "pool_timeout_s" not in pool_values and "read_timeout_s" in pool_values:
        pool_values["pool_timeout_s"] = pool_values["read_timeout_s"] + 1.0
    pool = replace(PoolSettings(), **pool_values)
    if pool.min_idle_conns > pool.pool_size:
        raise RedisConfigError(
            f"min_idle_conns ({pool.min_idle_conns}) is larger than pool_size "
            f"({pool.pool_size}): lower min_idle_conns or raise pool_size (with "
            "--redis-min-idle-conns / --redis-pool-size or in the --redis-config file)."
        )
    key = getattr(args, "redis_key", None) or DEFAULT_KEY
    if problem := key_problem(key):
        raise RedisConfigError(f"--redis-key: {problem}.")
    heartbeat_s = int(getattr(args, "heartbeat_interval_s", 60) or 60)
    ttl_s = 3 * heartbeat_s
    if getattr(args, "redis_ttl_s", None) is not None:
        ttl_s = _whole(args.redis_ttl_s, "--redis-ttl-s", 0, "seconds (0: no expiry)")
    max_inflight = 1024
    if getattr(args, "redis_max_inflight", None) is not None:
        max_inflight = _whole(args.redis_max_inflight, "--redis-max-inflight", 1, "operations")
    max_queued = 65536
    if getattr(args, "redis_max_queue", None) is not None:
        max_queued = _whole(args.redis_max_queue, "--redis-max-queue", 1, "operations")
    return RedisSettings(
        url=url,
        key=key,
        ttl_s=ttl_s,
        on_error=getattr(args, "on_redis_error", None) or "serve",
        max_inflight=max_inflight,
        max_queued=max_queued,
        pool=pool,
    )


def worker_argv(args: argparse.Namespace) -> list[str]:
    """The ``--redis-*`` flags to pass on to a worker process (never the URL: see env)."""
    argv: list[str] = []
    for dest in sorted(vars(args)):
        value = getattr(args, dest)
        if dest == "redis_url" or value is None:
            continue
        if dest.startswith("redis_") or dest == "on_redis_error":
            argv += ["--" + dest.replace("_", "-"), str(value)]
    return argv


def worker_env(args: argparse.Namespace) -> dict[str, str] | None:
    """The environment of a worker process: the parent's, plus the URL when given by flag."""
    if not getattr(args, "redis_url", None):
        return None
    return {**os.environ, URL_ENV: args.redis_url}
