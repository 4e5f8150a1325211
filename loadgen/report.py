"""The results folder: ``summary.json`` with the run's verdict, and its human summary."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from loadgen.config import Config, Thresholds
from loadgen.failures import CATEGORIES, category_of

SUMMARY = "summary.json"
PERCENTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def _percentiles(entry: Any, suffix: str = "") -> dict[str, float]:
    if entry is None or entry.num_requests == 0:
        return {f"{name}{suffix}": 0.0 for name in PERCENTILES}
    return {
        f"{name}{suffix}": float(entry.get_response_time_percentile(q))
        for name, q in PERCENTILES.items()
    }


def build_summary(
    *,
    run_id: str,
    config: Config,
    target: str,
    stats: Any,
    totals: dict[str, int],
    workers: dict[str, dict[str, Any]],
    stages: list[Any],
    peak_connected: int,
) -> dict[str, Any]:
    """The summary.json document (contract in ARCHITECTURE.md) from Locust's stats."""
    connect = stats.entries.get(("connect", "WS"))
    attempted = connect.num_requests if connect else 0
    failed = connect.num_failures if connect else 0
    failures = dict.fromkeys(CATEGORIES, 0)
    for error in stats.errors.values():
        category = category_of(str(error.error))
        failures[category] = failures.get(category, 0) + error.occurrences
    messages: dict[str, Any] = {}
    server_calls: dict[str, Any] = {}
    for (name, method), entry in sorted(stats.entries.items()):
        if method not in ("OCPP", "server"):
            continue
        into = messages if method == "OCPP" else server_calls
        into[name] = {
            "count": entry.num_requests,
            "failed": entry.num_failures,
            **_percentiles(entry, "_ms"),
        }
    summary: dict[str, Any] = {
        "run_id": run_id,
        "config": config.path,
        "target": target,
        "ocpp_version": config.ocpp_version,
        "workers": max(len(workers), 1),
        "connections": {
            "attempted": attempted,
            "established": attempted - failed,
            "failed": failed,
            "success_rate": round((attempted - failed) / attempted, 6) if attempted else 0.0,
            "peak_concurrent": max(peak_connected, totals.get("peak_connected", 0)),
            "reconnects": totals.get("reconnects", 0),
            "booted": totals.get("booted", 0),
            "lost": totals.get("lost", 0),
        },
        "failures": {k: v for k, v in failures.items() if v},
        "connect_ms": _percentiles(connect),
        "messages": messages,
        "server_calls": server_calls,
        "stages": [
            {
                "users": s.users,
                "duration_s": s.duration_s,
                "reached": s.reached,
                "reached_after_s": s.reached_after_s,
            }
            for s in stages
        ],
        "worker_peak_rss_mb": {
            node: round(sample.get("max_rss_kb", 0) / 1024, 1) for node, sample in workers.items()
        },
    }
    summary["thresholds"] = evaluate(summary, config.thresholds)
    return summary


def evaluate(summary: dict[str, Any], thresholds: Thresholds) -> dict[str, Any]:
    """Check each configured threshold against the summary; all must hold to pass."""
    checks = []
    conn = summary["connections"]
    if thresholds.min_success_rate is not None:
        value = conn["success_rate"]
        checks.append(
            _check(
                "min_success_rate",
                thresholds.min_success_rate,
                value,
                value >= thresholds.min_success_rate,
            )
        )
    for name, key in (("max_connect_p95_ms", "p95"), ("max_connect_p99_ms", "p99")):
        limit = getattr(thresholds, name)
        if limit is not None:
            value = summary["connect_ms"][key]
            checks.append(_check(name, limit, value, value <= limit))
    return {"passed": all(c["passed"] for c in checks), "checks": checks}


def _check(name: str, limit: float, value: float, passed: bool) -> dict[str, Any]:
    return {"name": name, "limit": limit, "value": value, "passed": bool(passed)}


def write_json(folder: str | Path, name: str, document: dict[str, Any]) -> Path:
    """Write ``document`` atomically (temp file, then rename) so readers never see half."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def human_summary(summary: dict[str, Any]) -> str:
    """A few lines for the terminal: connections, latency, stages, verdict."""
    conn = summary["connections"]
    lines = [
        f"Target {summary['target']}  OCPP {summary.get('ocpp_version', '?')}  "
        f"workers {summary['workers']}",
        f"Connections: {conn['established']:,} of {conn['attempted']:,} established "
        f"({conn['success_rate']:.2%}), peak concurrent {conn['peak_concurrent']:,}, "
        f"reconnects {conn['reconnects']:,}",
        "Connect ms: p50 {p50:.0f}  p95 {p95:.0f}  p99 {p99:.0f}".format(**summary["connect_ms"]),
    ]
    if summary["failures"]:
        lines.append("Failures: " + ", ".join(f"{k} {v:,}" for k, v in summary["failures"].items()))
    for name, message in summary["messages"].items():
        lines.append(
            f"  {name:<20} {message['count']:>9,} sent  {message['failed']:>7,} failed  "
            f"p95 {message['p95_ms']:.0f} ms"
        )
    for i, stage in enumerate(summary["stages"], 1):
        after = stage["reached_after_s"]
        when = f"in {after:g}s" if after is not None else "not reached"
        lines.append(f"Stage {i}: {stage['reached']:,}/{stage['users']:,} connected ({when})")
    verdict = summary["thresholds"]
    for check in verdict["checks"]:
        mark = "ok  " if check["passed"] else "FAIL"
        lines.append(f"  [{mark}] {check['name']}: {check['value']:g} (limit {check['limit']:g})")
    lines.append("PASSED" if verdict["passed"] else "FAILED: thresholds violated")
    return "\n".join(lines)
