"""Summary, thresholds and junit.xml from plain stats rows, without sockets."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from loadgen.config import ConfigError
from loadgen.observe.report import Entry, build_summary, human_summary, write_junit
from loadgen.run.configfile import from_dict

ENTRIES = [
    Entry("WS", "connect", 100, 2, 40.0, 90.0, 120.0),
    Entry("OCPP", "BootNotification", 98, 0, 20.0, 60.0, 80.0),
    Entry("OCPP", "Heartbeat", 300, 1, 5.0, 700.0, 900.0),
    Entry("server", "GetConfiguration", 3, 0, 1.0, 1.0, 1.0),
]
FAILURES = [
    ("WS", "connect", "connect_timeout: connect", 2),
    ("OCPP", "Heartbeat", "call_timeout", 1),
]


def summary_for(thresholds: dict, state: str = "finished") -> dict:
    config = from_dict({"thresholds": thresholds})
    return build_summary(
        run_id="r1",
        config=config,
        target="ws://127.0.0.1:9/ocpp",
        entries=ENTRIES,
        failures=FAILURES,
        totals={"booted": 98, "reconnects": 4, "peak_connected": 97},
        workers={"w1": {"max_rss_kb": 2048}},
        stages=[{"users": 100, "duration_s": 10, "reached": 97, "reached_after_s": None}],
        peak_connected=96,
        state=state,
    )


def test_summary_counts_connections_failures_and_messages() -> None:
    """Connections, failures by category and per-message stats land under the contract's keys."""
    summary = summary_for({})
    assert summary["connections"] == {
        "attempted": 100,
        "established": 98,
        "failed": 2,
        "success_rate": 0.98,
        "peak_concurrent": 97,
        "reconnects": 4,
        "booted": 98,
        "boot_rate": 1.0,
        "lost": 0,
        "lost_with_workers": 0,
        "reboots": 0,
        "offline_dropped": 0,
    }
    assert summary["failures"] == {"connect_timeout": 2, "call_timeout": 1}
    assert summary["connect_ms"] == {"p50": 40.0, "p95": 90.0, "p99": 120.0, "samples": 98}
    assert summary["messages"]["Heartbeat"]["failed"] == 1
    assert summary["server_calls"] == {
        "GetConfiguration": {
            "count": 3,
            "failed": 0,
            "p50_ms": 1.0,
            "p95_ms": 1.0,
            "p99_ms": 1.0,
            "samples": 3,
        }
    }
    assert summary["worker_peak_rss_mb"] == {"w1": 2.0}


def test_each_threshold_kind_decides_the_verdict() -> None:
    """Success rate, connect p95, per-action p95 and per-category limits each pass or fail."""
    summary = summary_for(
        {
            "min_success_rate": 0.99,
            "max_connect_p95_ms": 100,
            "max_call_p95_ms": {"Heartbeat": 500, "*": 100},
            "max_failures": {"connect_timeout": 5, "call_timeout": 0, "*": 10},
        }
    )
    verdict = {c["name"]: c["passed"] for c in summary["thresholds"]["checks"]}
    assert verdict == {
        "min_success_rate": False,
        "min_boot_rate": True,
        "max_connect_p95_ms": True,
        "max_call_p95_ms.BootNotification": True,
        "max_call_p95_ms.Heartbeat": False,
        "max_failures.connect_timeout": True,
        "max_failures.call_timeout": False,
        "max_failures.*": True,
    }
    assert summary["thresholds"]["passed"] is False
    assert "FAILED" in human_summary(summary)


def test_an_interrupted_run_does_not_pass() -> None:
    """A run stopped before its last stage ended fails the run_completed check."""
    summary = summary_for({"min_success_rate": 0.5}, state="interrupted")
    assert [c["name"] for c in summary["thresholds"]["checks"] if not c["passed"]] == [
        "run_completed"
    ]


def test_junit_has_one_case_per_threshold(tmp_path: Path) -> None:
    """junit.xml holds a test case per check and a failure element for each violated one."""
    summary = summary_for({"max_connect_p95_ms": 50})
    root = ElementTree.parse(write_junit(tmp_path, summary)).getroot()
    cases = {c.get("name"): c.find("failure") for c in root.iter("testcase")}
    assert set(cases) == {"min_success_rate", "min_boot_rate", "max_connect_p95_ms"}
    assert cases["max_connect_p95_ms"] is not None
    assert "90" in cases["max_connect_p95_ms"].get("message")
    assert root.get("failures") == "2"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"max_failures": {"timeouts": 1}}, "thresholds.max_failures.timeouts"),
        ({"max_failures": {"reset": -1}}, "thresholds.max_failures.reset"),
        ({"max_call_p95_ms": {"Heartbeat": "fast"}}, "thresholds.max_call_p95_ms.Heartbeat"),
        ({"max_call_p95_ms": [1]}, "thresholds.max_call_p95_ms"),
        ({"min_boot_rate": 1.5}, "thresholds.min_boot_rate"),
    ],
)
def test_bad_thresholds_name_the_field(raw: dict, field: str) -> None:
    """A bad threshold raises ConfigError naming it."""
    with pytest.raises(ConfigError) as info:
        from_dict({"thresholds": raw})
    assert str(info.value).startswith(field)
