"""Source-address pools and the preflight plan: files, ports and queues against limits."""

from __future__ import annotations

import pytest

from loadgen.config import ConfigError
from loadgen.run import doctor
from loadgen.run.configfile import from_dict
from loadgen.run.doctor import HostLimits
from loadgen.sim.transport import SourcePool

LIMITS = HostLimits(files_soft=1024, files_hard=20_000, somaxconn=4096, syn_backlog=2048)


def config(users: int, **extra: object):
    stages = [{"users": users, "spawn_rate": 500, "duration": f"{users // 500 + 10}s"}]
    return from_dict({"stages": stages, **extra})


def test_source_addresses_expand_networks_and_keep_order() -> None:
    """A list of addresses and CIDRs becomes the hosts of each, in order, without repeats."""
    cfg = config(10, source_addresses=["127.0.0.9", "127.0.0.2/31", "127.0.0.9"])
    assert cfg.source_addresses == ("127.0.0.9", "127.0.0.2", "127.0.0.3")
    assert len(config(10, source_addresses="127.0.0.0/28").source_addresses or ()) == 14


@pytest.mark.parametrize(
    "value",
    [[], "not-an-ip", ["127.0.0.1", "::1"], "10.0.0.0/8"],
)
def test_bad_source_addresses_name_the_field(value: object) -> None:
    """Empty, malformed, mixed-family or oversized pools are refused naming the field."""
    with pytest.raises(ConfigError, match="source_addresses"):
        config(10, source_addresses=value)


def test_source_pool_hands_out_addresses_round_robin_from_an_offset() -> None:
    """Each process starts at its own offset and then cycles through the pool."""
    pool = SourcePool(("a", "b", "c"), start=4)
    assert [pool.next() for _ in range(4)] == ["b", "c", "a", "b"]


def test_auto_workers_follow_the_open_files_limit() -> None:
    """100,000 connections with a hard limit of 20,000 plan 6 workers and 6 gateways."""
    plan = doctor.plan_run(config(100_000, source_addresses="127.0.0.0/28"), "auto", LIMITS)
    assert (plan.workers, plan.gateways) == (6, 6)
    assert plan.fits, [c for c in plan.checks if not c.ok]


def test_too_few_ports_say_the_source_pool_fix() -> None:
    """Without a pool, 100,000 connections to one target overflow the port range."""
    plan = doctor.plan_run(config(100_000), "auto", LIMITS)
    failed = [c for c in plan.checks if not c.ok]
    assert [c.name for c in failed] == ["ephemeral ports to the target"]
    assert "source_addresses: 127.0.0.0/" in failed[0].fix
    assert "ip_local_port_range" in failed[0].fix and "netsh" in failed[0].fix
    assert "cannot hold 100,000" in (doctor.warning(plan) or "")


def test_too_few_workers_say_the_files_fix() -> None:
    """Two workers for 100,000 connections exceed the open-files limit; the fix says how."""
    plan = doctor.plan_run(config(100_000, source_addresses="127.0.0.0/28"), 2, LIMITS)
    failed = [c for c in plan.checks if not c.ok]
    assert failed[0].name == "open files per worker"
    assert "limits.conf" in failed[0].fix and "--workers 6" in failed[0].fix


def test_short_listen_queues_are_reported_for_the_embedded_gateway() -> None:
    """A spawn rate above somaxconn asks for a larger listen queue."""
    small = HostLimits(files_soft=1024, files_hard=20_000, somaxconn=128, syn_backlog=128)
    plan = doctor.plan_run(config(1000), "auto", small)
    names = {c.name for c in plan.checks if not c.ok}
    assert names == {"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog"}
