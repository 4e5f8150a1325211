"""Hostile configs and ids files: a short ConfigError naming the problem, never a traceback."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadgen.config import ConfigError
from loadgen.ids import read_ids
from loadgen.run import configfile

#: The longest message any bad input may produce (the field, a quoted value, the fix).
MAX_MESSAGE = 600


def load_text(tmp_path: Path, text: str | bytes) -> Any:
    """``configfile.load`` of ``text`` written to a file."""
    path = tmp_path / "hostile.yaml"
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return configfile.load(path)


def alias_bomb(levels: int = 6) -> str:
    """A few hundred bytes of nested aliases that expand to 9**levels strings."""
    anchors = ["&a0 [l, l, l, l, l, l, l, l, l]"]
    for n in range(1, levels):
        anchors.append(f"&a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
    return f"stages:\n  - {{users: [{', '.join(anchors)}], spawn_rate: 1, duration: 1}}\n"


def test_nested_aliases_give_a_short_message(tmp_path: Path) -> None:
    """A YAML of nested aliases is refused in a message of a few hundred characters."""
    text = alias_bomb()
    assert len(text) < 400
    with pytest.raises(ConfigError, match="anchors and aliases") as info:
        load_text(tmp_path, text)
    assert len(str(info.value)) < MAX_MESSAGE


def test_an_alias_inside_itself_is_refused(tmp_path: Path) -> None:
    """An anchor whose value refers to itself is an error, not an endless structure."""
    with pytest.raises(ConfigError, match="refers to itself"):
        load_text(tmp_path, "stages: &x [{users: 1, spawn_rate: 1, duration: 1, x: *x}]\n")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("stages: [{users: " + "9" * 400 + ", spawn_rate: 1, duration: 1}]", "stages[0].users"),
        ("stages: [{users: " + str(10**15) + ", spawn_rate: 1, duration: 1}]", "stages[0].users"),
        ("stages: [{users: 1, spawn_rate: " + "9" * 400 + ", duration: 1}]", "spawn_rate"),
        ("stages: [{users: 1, spawn_rate: 1, duration: " + "9" * 400 + "}]", "duration"),
        ("stages: [{users: 1, spawn_rate: 1, duration: '" + "9" * 400 + "s'}]", "duration"),
        ("charge_points: {connect_timeout_s: " + "9" * 400 + "}", "connect_timeout_s"),
        ("thresholds: {max_failures: {'*': " + "9" * 400 + "}}", "max_failures"),
        ("thresholds: {max_connect_p95_ms: " + "9" * 400 + "}", "max_connect_p95_ms"),
        ("charge_points: {reconnect: {factor: " + "9" * 400 + "}}", "factor"),
        ("charge_points: {vendor: " + "v" * 5000 + "}", "charge_points.vendor"),
        ("target: ws://h/" + "p" * 5000, "target"),
        ("stages: [{users: " + "9" * 5000 + ", spawn_rate: 1, duration: 1}]", "cannot be read"),
    ],
)
def test_numbers_and_strings_have_bounds(tmp_path: Path, text: str, field: str) -> None:
    """Huge numbers and strings are refused naming the field, with the value cut short."""
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("*", r"\*")) as info:
        load_text(tmp_path, text + "\n")
    assert len(str(info.value)) < MAX_MESSAGE


def test_overrides_have_bounds() -> None:
    """--users and --run-time from Locust's command line have the file's bounds."""
    config = configfile.from_dict({})
    with pytest.raises(ConfigError, match="--users"):
        configfile.with_overrides(config, users=10**15)
    with pytest.raises(ConfigError, match="--run-time"):
        configfile.with_overrides(config, run_time_s=1e300)


def test_a_large_or_binary_file_is_refused(tmp_path: Path) -> None:
    """A config larger than the bound, or not UTF-8, is refused before YAML parsing."""
    with pytest.raises(ConfigError, match="larger than"):
        load_text(tmp_path, "# " + "x" * (configfile.MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_text(tmp_path, b"stages: \xff\xfe\n")


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    """Thousands of nested brackets are refused without a RecursionError."""
    with pytest.raises(ConfigError, match="nested too deeply|not valid YAML"):
        load_text(tmp_path, "stages: " + "[" * 50_000 + "]" * 50_000 + "\n")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"CP-1," + b"p" * 200_000 + b"\n", "longer than"),
        (b"CP-1,pw\nCP-\xff\xfe,pw\n", "line 2 .*UTF-8"),
        (b"CP-1\x00,pw\n", "line 1"),
        (b"CP-" + b"9" * 100_000 + b"\n", "longer than"),
        (b'"CP-1,pw\n', "line 1"),
    ],
)
def test_hostile_ids_files_name_the_line(tmp_path: Path, content: bytes, message: str) -> None:
    """A huge field, bytes that are not UTF-8 or a NUL give a short ConfigError."""
    path = tmp_path / "ids.csv"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        read_ids(str(path))
    assert len(str(info.value)) < MAX_MESSAGE


def test_an_ids_file_with_a_byte_order_mark_reads(tmp_path: Path) -> None:
    """A UTF-8 byte order mark (as spreadsheets write it) is not part of the first id."""
    path = tmp_path / "ids.csv"
    path.write_bytes(b"\xef\xbb\xbfid,password\nCP-1,pw\n")
    assert [i.charge_point_id for i in read_ids(str(path))] == ["CP-1"]


# -- fuzzing -------------------------------------------------------------------------------

KEYS = [
    "target",
    "ocpp_version",
    "charge_points",
    "stages",
    "users",
    "spawn_rate",
    "duration",
    "thresholds",
    "max_failures",
    "max_call_p95_ms",
    "configuration",
    "reconnect",
    "source_addresses",
    "redis",
    "url",
    "tls",
    "ids_file",
    "*",
    "x",
]
SCALARS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.just("9" * 500),
    st.floats(allow_nan=True).map(repr),
    st.sampled_from(["true", "null", "~", "1.6", "'2.0.1'", "90s", "5m", "ws://h:1/o", "''"]),
    st.text(string.ascii_letters + string.digits + " :-_/.*", max_size=30).map(repr),
)


@st.composite
def yaml_documents(draw: st.DrawFn) -> str:
    """Flow-style YAML of random keys and values, with anchors and aliases to them."""
    anchors: list[str] = []

    def node(depth: int) -> str:
        kind = draw(st.integers(0, 5 if depth < 4 else 1))
        if kind == 0 and anchors:
            return "*" + draw(st.sampled_from(anchors))
        if kind <= 1:
            text = draw(SCALARS)
        elif kind <= 3:
            items = [node(depth + 1) for _ in range(draw(st.integers(0, 9)))]
            text = "[" + ", ".join(items) + "]"
        else:
            pairs = {
                draw(st.sampled_from(KEYS)): node(depth + 1) for _ in range(draw(st.integers(0, 5)))
            }
            text = "{" + ", ".join(f"{k!r}: {v}" for k, v in pairs.items()) + "}"
        if draw(st.booleans()):
            name = f"a{len(anchors)}"
            text = f"&{name} {text}"
            anchors.append(name)
        return text

    top = {draw(st.sampled_from(KEYS)): node(1) for _ in range(draw(st.integers(0, 6)))}
    return "{" + ", ".join(f"{k!r}: {v}" for k, v in top.items()) + "}\n"


#: each example writes its own file into the test's tmp_path: the fixture's reuse is fine
FIXTURE = [HealthCheck.function_scoped_fixture]


def _check_bounded(tmp_path: Path, text: str | bytes) -> None:
    try:
        load_text(tmp_path, text)
    except ConfigError as exc:
        assert len(str(exc)) < MAX_MESSAGE, str(exc)[:2000]


@settings(
    max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(yaml_documents())
def test_random_yaml_with_aliases_loads_or_gives_a_short_error(tmp_path: Path, text: str) -> None:
    """Random YAML with anchors and aliases gives a Config or a short ConfigError, fast."""
    _check_bounded(tmp_path, text)


@settings(
    max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=2000))
def test_random_bytes_load_or_give_a_short_error(tmp_path: Path, data: bytes) -> None:
    """Arbitrary bytes as a config give a Config or a short ConfigError."""
    _check_bounded(tmp_path, data)


@settings(
    max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
            st.sampled_from([b"id,password", b"# c", b"", b"CP-1,pw", b"CP-2", b"\xff" * 9000]),
        ),
        max_size=20,
    )
)
def test_random_ids_files_read_or_give_a_short_error(tmp_path: Path, lines: list[bytes]) -> None:
    """Random ids files give identities or a short ConfigError naming the ids file."""
    path = tmp_path / "ids.csv"
    path.write_bytes(b"\n".join(lines))
    try:
        read_ids(str(path))
    except ConfigError as exc:
        assert str(exc).startswith("charge_points.ids_file")
        assert len(str(exc)) < MAX_MESSAGE, str(exc)[:2000]
