"""The results folder: ``summary.json`` and its verdict, ``junit.xml``, a human summary.

The summary is built from plain rows (:class:`Entry`, failures by text) so the same code
serves a live run (from Locust's stats) and ``loadgen report DIR`` (from Locust's CSV
files, ``timeline.csv`` and the config copied into the folder).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from loadgen.config import Config, Thresholds
from loadgen.failures import CATEGORIES, category_of

SUMMARY = "summary.json"
JUNIT = "junit.xml"
TIMELINE = "timeline.csv"
PERCENTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of Locust's stats: a request type and name with counts and percentiles."""

    method: str
    name: str
    count: int
    failed: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


def entries_from_stats(stats: Any) -> list[Entry]:
    """Rows from a live ``RequestStats``."""
    rows = []
    for (name, method), entry in stats.entries.items():
        p = {
            key: float(entry.get_response_time_percentile(q)) if entry.num_requests else 0.0
            for key, q in PERCENTILES.items()
        }
        rows.append(
            Entry(
                method, name, entry.num_requests, entry.num_failures, p["p50"], p["p95"], p["p99"]
            )
        )
    return rows


def failures_from_stats(stats: Any) -> list[tuple[str, str, str, int]]:
    """(method, name, error text, occurrences) from a live ``RequestStats``."""
    return [(e.method, e.name, str(e.error), e.occurrences) for e in stats.errors.values()]


def build_summary(
    *,
    run_id: str,
    config: Config,
    target: str,
    entries: Iterable[Entry],
    failures: Iterable[tuple[str, str, str, int]],
    totals: dict[str, int],
    workers: dict[str, dict[str, Any]],
    stages: list[dict[str, Any]],
    peak_connected: int,
    state: str = "finished",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary.json document (contract in ARCHITECTURE.md)."""
    by_key = {(e.method, e.name): e for e in entries}
    connect = by_key.get(("WS", "connect"))
    if "established" in totals:
        # The charge points' own counters: sent every second, fresher than Locust's stats.
        # Attempts still under way when the run ended count as neither outcome.
        established, failed = totals["established"], totals.get("failed", 0)
        attempted = max(totals.get("attempted", 0), established + failed)
    else:
        attempted = connect.count if connect else 0
        failed = connect.failed if connect else 0
        established = attempted - failed
    finished = established + failed
    by_category = dict.fromkeys(CATEGORIES, 0)
    for _method, _name, text, occurrences in failures:
        category = category_of(text)
        by_category[category] = by_category.get(category, 0) + occurrences
    messages: dict[str, Any] = {}
    server_calls: dict[str, Any] = {}
    for (method, name), e in sorted(by_key.items()):
        if method in ("OCPP", "server"):
            into = messages if method == "OCPP" else server_calls
            into[name] = {
                "count": e.count,
                "failed": e.failed,
                "p50_ms": e.p50_ms,
                "p95_ms": e.p95_ms,
                "p99_ms": e.p99_ms,
            }
    summary: dict[str, Any] = {
        "run_id": run_id,
        "state": state,
        "config": config.path,
        "target": target,
        "ocpp_version": config.ocpp_version,
        "workers": max(len(workers), 1),
        "connections": {
            "attempted": attempted,
            "established": established,
            "failed": failed,
            "success_rate": round(established / finished, 6) if finished else 0.0,
            "peak_concurrent": max(peak_connected, totals.get("peak_connected", 0)),
            "reconnects": totals.get("reconnects", 0),
            "booted": totals.get("booted", 0),
            "boot_rate": round(min(1.0, totals.get("booted", 0) / established), 6)
            if established
            else 0.0,
            "lost": totals.get("lost", 0),
            "lost_with_workers": totals.get("lost_with_workers", 0),
        },
        "failures": {k: v for k, v in by_category.items() if v},
        "connect_ms": {
            "p50": connect.p50_ms if connect else 0.0,
            "p95": connect.p95_ms if connect else 0.0,
            "p99": connect.p99_ms if connect else 0.0,
        },
        "messages": messages,
        "server_calls": server_calls,
        "stages": stages,
        "worker_peak_rss_mb": {
            node: round(sample.get("max_rss_kb", 0) / 1024, 1) for node, sample in workers.items()
        },
        **(extra or {}),
    }
    summary["thresholds"] = evaluate(summary, config.thresholds)
    return summary


def evaluate(summary: dict[str, Any], thresholds: Thresholds) -> dict[str, Any]:
    """Check each configured threshold against the summary; all must hold to pass."""
    checks = []
    conn = summary["connections"]
    for name, key in (("min_success_rate", "success_rate"), ("min_boot_rate", "boot_rate")):
        limit = getattr(thresholds, name)
        if limit is not None:
            checks.append(_check(name, limit, conn[key], conn[key] >= limit))
    for name, key in (("max_connect_p95_ms", "p95"), ("max_connect_p99_ms", "p99")):
        limit = getattr(thresholds, name)
        if limit is not None:
            value = summary["connect_ms"][key]
            checks.append(_check(name, limit, value, value <= limit))
    calls = thresholds.max_call_p95_ms
    for action, message in summary["messages"].items():
        limit = calls.get(action, calls.get("*"))
        if limit is not None:
            value = message["p95_ms"]
            checks.append(_check(f"max_call_p95_ms.{action}", limit, value, value <= limit))
    if summary.get("state") == "interrupted":
        checks.append(_check("run_completed", 1, 0, False))
    failures = summary["failures"]
    for category, limit in thresholds.max_failures.items():
        value = sum(failures.values()) if category == "*" else failures.get(category, 0)
        checks.append(_check(f"max_failures.{category}", limit, value, value <= limit))
    return {"passed": all(c["passed"] for c in checks), "checks": checks}


def _check(name: str, limit: float, value: float, passed: bool) -> dict[str, Any]:
    return {"name": name, "limit": limit, "value": value, "passed": bool(passed)}


def write_json(folder: str | Path, name: str, document: dict[str, Any]) -> Path:
    """Write ``document`` atomically (temp file, then rename) so readers never see half."""
    return _write_atomic(Path(folder) / name, json.dumps(document, indent=2) + "\n")


def _write_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # e.g. a full disk: leave no half-written file behind, say it
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
        raise
    return path


def write_junit(folder: str | Path, summary: dict[str, Any]) -> Path:
    """``junit.xml``: one test case per threshold check, so CI systems show the verdict."""
    checks = summary["thresholds"]["checks"]
    suite = ElementTree.Element(
        "testsuite",
        name="loadgen thresholds",
        tests=str(len(checks)),
        failures=str(sum(not c["passed"] for c in checks)),
    )
    for check in checks:
        case = ElementTree.SubElement(
            suite, "testcase", classname=f"loadgen.{summary['run_id']}", name=check["name"]
        )
        if not check["passed"]:
            failure = ElementTree.SubElement(case, "failure", message=_verdict_text(check))
            failure.text = _verdict_text(check)
    ElementTree.indent(suite)
    text = ElementTree.tostring(suite, encoding="unicode", xml_declaration=True)
    return _write_atomic(Path(folder) / JUNIT, text + "\n")


def _verdict_text(check: dict[str, Any]) -> str:
    relation = "at least" if check["name"].startswith("min_") else "at most"
    return f"{check['name']}: {check['value']:g}, wanted {relation} {check['limit']:g}"


def human_summary(summary: dict[str, Any]) -> str:
    """A few lines for the terminal: connections, latency, stages, the verdict table."""
    conn = summary["connections"]
    lines = [
        f"Target {summary['target']}  OCPP {summary.get('ocpp_version', '?')}  "
        f"workers {summary['workers']}  ({summary.get('state', 'finished')})",
        f"Connections: {conn['established']:,} of {conn['attempted']:,} established "
        f"({conn['success_rate']:.2%}), booted {conn.get('booted', 0):,}, peak concurrent "
        f"{conn['peak_concurrent']:,}, reconnects {conn['reconnects']:,}",
        "Connect ms: p50 {p50:.0f}  p95 {p95:.0f}  p99 {p99:.0f}".format(**summary["connect_ms"]),
    ]
    if summary["failures"]:
        lines.append("Failures: " + ", ".join(f"{k} {v:,}" for k, v in summary["failures"].items()))
    for name, message in summary["messages"].items():
        lines.append(
            f"  {name:<22} {message['count']:>9,} sent  {message['failed']:>7,} failed  "
            f"p95 {message['p95_ms']:.0f} ms"
        )
    for i, stage in enumerate(summary["stages"], 1):
        after = stage.get("reached_after_s")
        when = f"in {after:g}s" if after is not None else "not reached"
        lines.append(f"Stage {i}: {stage['reached']:,}/{stage['users']:,} connected ({when})")
    verdict = summary["thresholds"]
    for check in verdict["checks"]:
        mark = "ok  " if check["passed"] else "FAIL"
        lines.append(
            f"  [{mark}] {check['name']:<34} {check['value']:>10g}  limit {check['limit']:g}"
        )
    lines.append("PASSED" if verdict["passed"] else "FAILED: thresholds violated")
    return "\n".join(lines)


# -- rebuilding from a folder -------------------------------------------------------------


def entries_from_csv(path: Path) -> list[Entry]:
    """Rows from Locust's ``*_stats.csv`` (without the Aggregated row)."""
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("Name") == "Aggregated" and not row.get("Type"):
                continue
            rows.append(
                Entry(
                    row["Type"],
                    row["Name"],
                    int(row["Request Count"]),
                    int(row["Failure Count"]),
                    _float(row.get("50%")),
                    _float(row.get("95%")),
                    _float(row.get("99%")),
                )
            )
    return rows


def failures_from_csv(path: Path) -> list[tuple[str, str, str, int]]:
    """(method, name, error, occurrences) from Locust's ``*_failures.csv``."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            (r["Method"], r["Name"], r["Error"], int(r["Occurrences"]))
            for r in csv.DictReader(handle)
        ]


def _float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "", "N/A") else 0.0
    except ValueError:
        return 0.0


def rebuild(folder: str | Path, load_config: Callable[[Path], Config]) -> dict[str, Any]:
    """Rebuild ``summary.json``, ``junit.xml`` and ``timeline.png`` from a results folder.

    Reads Locust's ``locust_stats.csv`` / ``locust_failures.csv``, ``timeline.csv``, the
    ``config.yaml`` copy and the previous summary (for what only the live run knew, like
    worker memory). Raises ``FileNotFoundError`` naming the missing file.
    """
    from loadgen.observe.plots import plot_timeline, read_timeline

    folder = Path(folder)
    stats_csv = folder / "locust_stats.csv"
    for needed in (stats_csv, folder / "config.yaml"):
        if not needed.exists():
            raise FileNotFoundError(needed)
    config = load_config(folder / "config.yaml")
    previous: dict[str, Any] = {}
    if (folder / SUMMARY).exists():
        previous = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
    timeline = read_timeline(folder / TIMELINE) if (folder / TIMELINE).exists() else {}
    stages = _stages_from_timeline(config, timeline) or previous.get("stages", [])
    connected = timeline.get("connected", [])
    last = {k: int(v[-1]) for k, v in timeline.items() if v}
    totals = {
        "peak_connected": int(max(connected, default=0)),
        "reconnects": previous.get("connections", {}).get("reconnects", 0),
        "booted": previous.get("connections", {}).get("booted", 0),
        "lost": previous.get("connections", {}).get("lost", 0),
    }
    if "established" in last:
        totals.update(
            attempted=last.get("attempted", 0),
            established=last["established"],
            failed=last.get("failed", 0),
        )
    workers = {
        k: {"max_rss_kb": v * 1024} for k, v in previous.get("worker_peak_rss_mb", {}).items()
    }
    summary = build_summary(
        run_id=previous.get("run_id", folder.name),
        config=replace_path(config, previous.get("config")),
        target=previous.get("target", config.target),
        entries=entries_from_csv(stats_csv),
        failures=failures_from_csv(folder / "locust_failures.csv"),
        totals=totals,
        workers=workers,
        stages=stages,
        peak_connected=totals["peak_connected"],
        state=previous.get("state", "finished"),
    )
    write_json(folder, SUMMARY, summary)
    write_junit(folder, summary)
    if timeline:
        plot_timeline(folder / TIMELINE, folder / "timeline.png", config.name)
    return summary


def replace_path(config: Config, path: str | None) -> Config:
    from dataclasses import replace

    return replace(config, path=path) if path else config


def _stages_from_timeline(config: Config, timeline: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Per stage: most connected and time to reach the target, from ``timeline.csv``."""
    if not timeline.get("time_s"):
        return []
    out = []
    started = 0.0
    for index, stage in enumerate(config.stages, 1):
        reached, after = 0, None
        for t, number, connected in zip(
            timeline["time_s"], timeline["stage"], timeline["connected"], strict=False
        ):
            if int(number) != index:
                continue
            reached = max(reached, int(connected))
            if after is None and connected >= stage.users:
                after = round(t - started, 1)
        out.append(
            {
                "users": stage.users,
                "duration_s": stage.duration_s,
                "reached": reached,
                "reached_after_s": after,
            }
        )
        started += stage.duration_s
    return out
