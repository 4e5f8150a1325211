"""Redis settings without Redis: key templates, URL masking, pool flags and file, config."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from loadgen.config import ConfigError
from loadgen.gateway import redisconf
from loadgen.gateway.redisconf import RedisConfigError, go_duration, settings_from_args
from loadgen.redismap import key_problem, mapping_key, mask_url, url_problem
from loadgen.run.configfile import from_dict


def gateway_args(*argv: str) -> argparse.Namespace:
    """The gateway's parsed command line (Redis flags plus the heartbeat interval)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--heartbeat-interval-s", type=int, default=60)
    redisconf.add_arguments(parser)
    return parser.parse_args(argv)


# -- key templates and URLs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "key"),
    [
        ("ocpp:cp:{id}", "ocpp:cp:CP-0-000001"),
        ("{id}", "CP-0-000001"),
        ("gw:{id}:owner", "gw:CP-0-000001:owner"),
        ("a{b}:{id}", "a{b}:CP-0-000001"),  # other braces are kept, not formatted
    ],
)
def test_mapping_key_replaces_id(template: str, key: str) -> None:
    """A key template's {id} is replaced by the charge point id, nothing else changes."""
    assert key_problem(template) is None
    assert mapping_key(template, "CP-0-000001") == key


@pytest.mark.parametrize("template", ["", "ocpp:cp:", "ocpp:cp:{ID}", 5, None])
def test_key_template_without_id_is_a_problem(template: object) -> None:
    """A template without {id} (or not a string) is refused with an example."""
    problem = key_problem(template)
    assert problem is not None and "ocpp:cp:{id}" in problem


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:s3cret@host:6379/1", "redis://user:***@host:6379/1"),
        ("redis://s3cret@host:6379", "redis://***@host:6379"),
        ("redis://:p@ss:w@rd@host/0", "redis://:***@host/0"),
        ("unix:///run/redis.sock?db=1&password=s3cret", "unix:///run/redis.sock?db=1&password=***"),
    ],
)
def test_mask_url_hides_the_password(url: str, masked: str) -> None:
    """A password in the URL (user-info or query) never survives masking."""
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    "url",
    ["http://host:6379", "redis://:s3cret@host:99999/0", "redis:///0", "redis://h/x", "", None],
)
def test_bad_urls_are_problems_without_the_password(url: object) -> None:
    """Bad URLs are explained with an example, and the password is masked."""
    problem = url_problem(url)
    assert problem is not None and "redis://127.0.0.1:6379/0" in problem
    assert "s3cret" not in problem


def test_good_urls_have_no_problem() -> None:
    """redis://, rediss:// and unix:// URLs are accepted."""
    for url in ("redis://127.0.0.1:6379/0", "rediss://:pw@h:6380", "unix:///tmp/r.sock"):
        assert url_problem(url) is None, url


# -- the generator's config ----------------------------------------------------------------


def test_config_redis_section_is_accepted() -> None:
    """The redis: section of a config gives the probe settings."""
    config = from_dict(
        {"redis": {"url": "redis://127.0.0.1:6379/0", "sample": 1.0, "within_s": "2s"}}
    )
    assert config.redis is not None
    assert (config.redis.key, config.redis.sample, config.redis.within_s) == (
        "ocpp:cp:{id}",
        1.0,
        2.0,
    )


@pytest.mark.parametrize(
    ("redis", "field"),
    [
        ({"url": "http://:s3cret@x"}, "redis.url"),
        ({"key": "ocpp:cp"}, "redis.key"),
        ({"sample": 1.5}, "redis.sample"),
        ({"within_s": 0}, "redis.within_s"),
        ({"urls": "x"}, "redis.urls"),
    ],
)
def test_config_redis_errors_name_the_field(redis: dict[str, object], field: str) -> None:
    """A bad redis: section names the field; the password is not repeated."""
    with pytest.raises(ConfigError) as caught:
        from_dict({"redis": redis})
    assert str(caught.value).startswith(field) and "s3cret" not in str(caught.value)


# -- the gateway's flags and file -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5.0), ("500ms", 0.5), ("1m30s", 90.0), ("1.5", 1.5), (3, 3.0), ("250us", 0.00025)],
)
def test_go_durations(text: object, seconds: float) -> None:
    """Durations read like go-redis' ("5s", "500ms", "1m30s") or as seconds."""
    assert go_duration(text, "x") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5 parsecs", "", "-1s", "0", "s", "5s5", True])
def test_bad_go_durations_name_the_place(text: object) -> None:
    """A bad duration is refused, naming where it came from and giving examples."""
    with pytest.raises(RedisConfigError, match=r"^--redis-dial-timeout: .*500ms"):
        go_duration(text, "--redis-dial-timeout")


def test_redis_off_without_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --redis-url (or its environment variable) the registry stays in memory."""
    monkeypatch.delenv(redisconf.URL_ENV, raising=False)
    assert settings_from_args(gateway_args()) is None


def test_defaults_follow_go_redis_and_the_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defaults: go-redis' pool for one process, TTL three heartbeat intervals."""
    monkeypatch.delenv(redisconf.URL_ENV, raising=False)
    args = gateway_args("--redis-url", "redis://h:6379/0", "--heartbeat-interval-s", "30")
    settings = settings_from_args(args)
    assert settings is not None
    assert settings.ttl_s == 90 and settings.key == "ocpp:cp:{id}"
    assert settings.on_error == "serve"
    pool = settings.pool
    assert (pool.pool_size, pool.min_idle_conns, pool.pool_timeout_s) == (10, 0, 4.0)


def test_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The URL may come from the environment, keeping a password out of the command line."""
    monkeypatch.setenv(redisconf.URL_ENV, "redis://:pw@h:6379/0")
    settings = settings_from_args(gateway_args("--redis-pool-size", "3"))
    assert settings is not None and settings.url == "redis://:pw@h:6379/0"
    assert settings.masked_url == "redis://:***@h:6379/0"


SEED_FILE = """
server: {port: 8081}
redis:
  addr: "localhost:6379"
  password: ""
  db: 0
  pool_size: 500          # 增加连接池大小以支持高并发
  min_idle_conns: 50
  dial_timeout: "5s"
  read_timeout: "3s"
  write_timeout: "3s"
"""


def test_seeds_config_file_is_read_as_is(tmp_path: Path) -> None:
    """The seeds' application-dev.yaml works unchanged: its redis: section is the pool."""
    path = tmp_path / "application-dev.yaml"
    path.write_text(SEED_FILE, encoding="utf-8")
    settings = settings_from_args(gateway_args("--redis-config", str(path)))
    assert settings is not None and settings.url == "redis://localhost:6379/0"
    pool = settings.pool
    assert (pool.pool_size, pool.min_idle_conns) == (500, 50)
    assert (pool.dial_timeout_s, pool.read_timeout_s, pool.write_timeout_s) == (5.0, 3.0, 3.0)
    assert pool.pool_timeout_s == 4.0  # go-redis: read_timeout + 1 s


def test_flags_override_the_file(tmp_path: Path) -> None:
    """A flag wins over the file, the file over the defaults."""
    path = tmp_path / "pool.yaml"
    path.write_text("pool_size: 50\npool_timeout: 2s\nread_timeout: 1s\n", encoding="utf-8")
    args = gateway_args(
        "--redis-url",
        "redis://:pw@h:1/0",
        "--redis-config",
        str(path),
        "--redis-pool-size",
        "2",
        "--redis-pool-timeout",
        "10ms",
    )
    settings = settings_from_args(args)
    assert settings is not None and settings.url == "redis://:pw@h:1/0"
    assert (settings.pool.pool_size, settings.pool.pool_timeout_s) == (2, 0.01)
    assert settings.pool.read_timeout_s == 1.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pool_size: 0\n", r"pool\.yaml: pool_size: expected .*>= 1\), got 0"),
        ("pool_size: many\n", r"pool_size: expected .*, got 'many'"),
        ("dial_timeout: soon\n", r"dial_timeout: expected a positive duration"),
        ("pool_sise: 5\n", r"pool_sise: unknown key\. Known keys: pool_size"),
        ("addr: localhost\n", r"addr: expected HOST:PORT"),
        ("- 1\n", r"expected a mapping"),
        ("pool_size: [\n", r"not valid YAML at line"),
        ("min_idle_conns: 20\npool_size: 10\n", r"min_idle_conns \(20\) is larger than pool_size"),
    ],
)
def test_bad_file_names_the_field_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    """Each mistake in the pool file is named by its field, with what is expected."""
    path = tmp_path / "pool.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RedisConfigError, match=message):
        settings_from_args(
            gateway_args("--redis-url", "redis://h:6379", "--redis-config", str(path))
        )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--redis-url", "http://:s3cret@h"],
            r"^--redis-url: 'http://:\*\*\*@h' is not a Redis URL",
        ),
        (["--redis-url", "redis://h/0?socket_timeout=x"], r"^--redis-url: .*Invalid value"),
        (["--redis-url", "redis://h", "--redis-key", "cp"], r"^--redis-key: .*\{id\}"),
        (["--redis-url", "redis://h", "--redis-ttl-s", "-5"], r"^--redis-ttl-s: expected"),
        (["--redis-url", "redis://h", "--redis-pool-size", "x"], r"^--redis-pool-size: expected"),
        (
            ["--redis-pool-size", "3"],
            r"^--redis-pool-size: no Redis server given\. Add --redis-url",
        ),
        (
            ["--redis-config", "/nonexistent.yaml"],
            r"^--redis-config /nonexistent\.yaml: cannot read",
        ),
    ],
)
def test_bad_flags_name_the_flag(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str
) -> None:
    """A bad flag is named with the fix, and a password in the URL is masked."""
    monkeypatch.delenv(redisconf.URL_ENV, raising=False)
    with pytest.raises(RedisConfigError, match=message) as caught:
        settings_from_args(gateway_args(*argv))
    assert "s3cret" not in str(caught.value)


def test_worker_processes_get_the_flags_but_not_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The multi-process parent passes the Redis flags on, and the URL only by environment."""
    args = gateway_args("--redis-url", "redis://:pw@h:1/0", "--redis-pool-size", "2")
    argv = redisconf.worker_argv(args)
    assert argv == ["--redis-pool-size", "2"]
    env = redisconf.worker_env(args)
    assert env is not None and env[redisconf.URL_ENV] == "redis://:pw@h:1/0"
