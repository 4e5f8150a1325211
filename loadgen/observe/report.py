"""The results folder: ``summary.json`` and its verdict, ``junit.xml``, a human summary.

The summary is built from plain rows (:class:`Entry`, failures by text) so the same code
serves a live run (from Locust's stats) and ``loadgen report DIR`` (from Locust's CSV
files, ``timeline.csv`` and the config copied into the folder).
"""

from __future__ import annotations

import csv
import json
import os
import time
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
    #: requests with a response time; None: all of them, but a failed connect has none
    timed: int | None = None

    @property
    def samples(self) -> int:
        """Requests whose time counts in the percentiles."""
        if self.timed is not None:
            return self.timed
        if (self.method, self.name) == ("WS", "connect"):
            return self.count - self.failed  # failed connects carry no time
        return self.count


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
                method,
                name,
                entry.num_requests,
                entry.num_failures,
                p["p50"],
                p["p95"],
                p["p99"],
                entry.num_requests - entry.num_none_requests,
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
            timed = e.samples > 0
            into[name] = {
                "count": e.count,
                "failed": e.failed,
                "p50_ms": e.p50_ms if timed else None,
                "p95_ms": e.p95_ms if timed else None,
                "p99_ms": e.p99_ms if timed else None,
                "samples": e.samples,
            }
    connect_samples = connect.samples if connect else 0
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
            "success_rate": round(established / finished, 6) if finished else None,
            "peak_concurrent": max(peak_connected, totals.get("peak_connected", 0)),
            "reconnects": totals.get("reconnects", 0),
            "booted": totals.get("booted", 0),
            "boot_rate": round(min(1.0, totals.get("booted", 0) / established), 6)
            if established
            else None,
            "lost": totals.get("lost", 0),
            "lost_with_workers": totals.get("lost_with_workers", 0),
            "reboots": totals.get("reboots", 0),  # resets carried out (close, reboot, boot)
            # transaction messages dropped because a charger's offline queue was full
            "offline_dropped": totals.get("offline_dropped", 0),
        },
        "failures": {k: v for k, v in by_category.items() if v},
        "connect_ms": {  # established connections only; None: no connection was made
            "p50": connect.p50_ms if connect and connect_samples else None,
            "p95": connect.p95_ms if connect and connect_samples else None,
            "p99": connect.p99_ms if connect and connect_samples else None,
            "samples": connect_samples,
        },
        "messages": messages,
        "server_calls": server_calls,
        "stages": stages,
        "worker_peak_rss_mb": {
            node: round(sample.get("max_rss_kb", 0) / 1024, 1) for node, sample in workers.items()
        },
        **({"fleet": fleet} if (fleet := fleet_section(totals)) else {}),
        **(extra or {}),
    }
    summary["thresholds"] = evaluate(summary, config.thresholds)
    return summary


def evaluate(summary: dict[str, Any], thresholds: Thresholds) -> dict[str, Any]:
    """Check each configured threshold against the summary; all must hold to pass.

    A check without samples (no connection finished, none established, an action never
    sent) is "no data" and fails, unless ``thresholds.allow_no_data`` names it (or ``*``).
    """
    checks = []
    allowed = set(thresholds.allow_no_data)

    def check(name: str, limit: float, value: float | None, minimum: bool) -> None:
        if value is None:
            passed = "*" in allowed or name in allowed
            checks.append({**_check(name, limit, None, passed), "no_data": True})
        else:
            checks.append(_check(name, limit, value, value >= limit if minimum else value <= limit))

    conn = summary["connections"]
    for name, key in (("min_success_rate", "success_rate"), ("min_boot_rate", "boot_rate")):
        limit = getattr(thresholds, name)
        if limit is not None:
            check(name, limit, conn.get(key), minimum=True)
    for name, key in (("max_connect_p95_ms", "p95"), ("max_connect_p99_ms", "p99")):
        limit = getattr(thresholds, name)
        if limit is not None:
            check(name, limit, summary["connect_ms"].get(key), minimum=False)
    calls = thresholds.max_call_p95_ms
    messages = summary["messages"]
    for action, limit in sorted(calls.items()):
        if action != "*" and not messages.get(action, {}).get("samples", 0):
            check(f"max_call_p95_ms.{action}", limit, None, minimum=False)
    rest = calls.get("*")
    checked_rest = False
    for action, message in messages.items():
        limit = calls.get(action, rest)
        if limit is not None and message.get("samples", message["count"]):
            checked_rest = checked_rest or action not in calls
            check(f"max_call_p95_ms.{action}", limit, message["p95_ms"], minimum=False)
    if rest is not None and not checked_rest:
        check("max_call_p95_ms.*", rest, None, minimum=False)
    if summary.get("state") == "interrupted":
        checks.append(_check("run_completed", 1, 0, False))
    failures = summary["failures"]
    for category, limit in thresholds.max_failures.items():
        value = sum(failures.values()) if category == "*" else failures.get(category, 0)
        checks.append(_check(f"max_failures.{category}", limit, value, value <= limit))
    return {"passed": all(c["passed"] for c in checks), "checks": checks}


def _check(name: str, limit: float, value: float | None, passed: bool) -> dict[str, Any]:
    return {"name": name, "limit": limit, "value": value, "passed": bool(passed)}


def run_facts(started_at: float | None, ended_at: float | None, ocpp: str) -> dict[str, Any]:
    """When the run went (UTC), which versions ran it and on which host."""
    import platform
    import socket
    from importlib import metadata

    import loadgen

    def stamp(at: float | None) -> str | None:
        if at is None:
            return None
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "started_at": stamp(started_at),
        "ended_at": stamp(ended_at),
        "versions": {
            "loadgen": loadgen.__version__,
            "locust": version("locust"),
            "python": platform.python_version(),
            "ocpp_package": version("ocpp"),
            "ocpp_protocol": ocpp,
        },
        "host": {"name": socket.gethostname(), "platform": platform.platform(terse=True)},
    }


def write_text(folder: str | Path, name: str, text: str) -> Path:
    """Write ``text`` atomically into ``folder/name``."""
    return _write_atomic(Path(folder) / name, text)


def write_locust_csv(folder: str | Path, environment: Any) -> None:
    """Locust's ``locust_stats.csv``, ``locust_failures.csv`` and
    ``locust_exceptions.csv`` from the stats now.

    Written with the final verdict, so they hold the same numbers whatever Locust's own
    ``--csv`` writer (which rewrites them every second, when given) last wrote; a plain
    Locust master without ``--csv`` gets them too. Atomic: Locust's writer keeps writing
    to the file it opened, which is then no longer the one in the folder.
    """
    import io

    from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

    tables = StatsCSV(environment, PERCENTILES_TO_REPORT)
    for name, write in (
        ("locust_stats.csv", tables.requests_csv),
        ("locust_failures.csv", tables.failures_csv),
        ("locust_exceptions.csv", tables.exceptions_csv),  # errors in user code
    ):
        buffer = io.StringIO()
        write(csv.writer(buffer))
        _write_atomic(Path(folder) / name, buffer.getvalue())


def user_errors(runner: Any) -> list[dict[str, Any]]:
    """Exceptions in user code (scenarios, hooks, call answers) as Locust collected them
    from every worker: message (with the first charge point's id), count, traceback."""
    rows = getattr(runner, "exceptions", None) or {}
    return [
        {"message": row["msg"], "count": row["count"], "traceback": row["traceback"]}
        for row in sorted(rows.values(), key=lambda r: -int(r["count"]))
    ]


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
    if check["value"] is None:
        return (
            f"{check['name']}: no data (nothing was measured), wanted {relation} "
            f"{check['limit']:g}; thresholds.allow_no_data lets it pass"
        )
    return f"{check['name']}: {check['value']:g}, wanted {relation} {check['limit']:g}"


def _figure(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def human_summary(summary: dict[str, Any]) -> str:
    """A few lines for the terminal: connections, latency, stages, the verdict table."""
    conn = summary["connections"]
    lines = [
        f"Target {summary['target']}  OCPP {summary.get('ocpp_version', '?')}  "
        f"workers {summary['workers']}  ({summary.get('state', 'finished')})",
        f"Connections: {conn['established']:,} of {conn['attempted']:,} established "
        f"({_figure(conn['success_rate'], '.2%')}), booted {conn.get('booted', 0):,}, peak "
        f"concurrent {conn['peak_concurrent']:,}, reconnects {conn['reconnects']:,}",
        "Connect ms (established): "
        + "  ".join(f"{k} {_figure(summary['connect_ms'].get(k))}" for k in ("p50", "p95", "p99")),
    ]
    if summary["failures"]:
        lines.append("Failures: " + ", ".join(f"{k} {v:,}" for k, v in summary["failures"].items()))
    for category, ids in summary.get("failing_ids", {}).items():
        lines.append(f"  first {category}: {', '.join(ids)}")
    for name, message in summary["messages"].items():
        lines.append(
            f"  {name:<22} {message['count']:>9,} sent  {message['failed']:>7,} failed  "
            f"p95 {_figure(message['p95_ms'])} ms"
        )
    for i, stage in enumerate(summary["stages"], 1):
        after = stage.get("reached_after_s")
        when = f"in {after:g}s" if after is not None else "not reached"
        lines.append(f"Stage {i}: {stage['reached']:,}/{stage['users']:,} connected ({when})")
    verdict = summary["thresholds"]
    for check in verdict["checks"]:
        mark = "ok  " if check["passed"] else "FAIL"
        value = "no data" if check["value"] is None else format(check["value"], "g")
        lines.append(f"  [{mark}] {check['name']:<34} {value:>10}  limit {check['limit']:g}")
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


class ReportError(ValueError):
    """A results folder that cannot be read; the message names the file and why."""


def _read_previous(path: Path) -> tuple[dict[str, Any], str | None]:
    """The folder's earlier summary.json, and why it was set aside (None: it was read)."""
    if not path.exists():
        return {}, None
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, f"{path.name} cannot be read ({str(exc)[:80]})"
    if not isinstance(previous, dict):
        return {}, f"{path.name} is not a JSON object"
    return previous, None


def rebuild(folder: str | Path, load_config: Callable[[Path], Config]) -> dict[str, Any]:
    """Rebuild ``summary.json``, ``junit.xml``, ``timeline.png`` and report.html's verdict
    from a results folder.

    Reads Locust's ``locust_stats.csv`` / ``locust_failures.csv``, ``timeline.csv``, the
    ``config.yaml`` copy (the effective config) and the previous summary for what only
    the live run knew (worker memory, failing ids, when it ran); a corrupt previous
    summary is set aside (``summary["rebuilt_without"]`` says so). Raises
    ``FileNotFoundError`` naming a missing file and :class:`ReportError` for a file that
    cannot be read.
    """
    from loadgen.observe import htmlreport
    from loadgen.observe.plots import plot_timeline, read_timeline

    folder = Path(folder)
    stats_csv = folder / "locust_stats.csv"
    for needed in (stats_csv, folder / "config.yaml"):
        if not needed.exists():
            raise FileNotFoundError(needed)
    config = load_config(folder / "config.yaml")
    previous, set_aside = _read_previous(folder / SUMMARY)
    try:
        timeline = read_timeline(folder / TIMELINE) if (folder / TIMELINE).exists() else {}
    except (OSError, ValueError, csv.Error) as exc:
        raise ReportError(f"{TIMELINE} cannot be read ({str(exc)[:80]})") from None
    try:
        entries = entries_from_csv(stats_csv)
        failures = failures_from_csv(folder / "locust_failures.csv")
    except (OSError, ValueError, KeyError, TypeError, csv.Error) as exc:
        raise ReportError(
            f"Locust's CSV files cannot be read ({type(exc).__name__}: {str(exc)[:80]})"
        ) from None
    stages = _stages_from_timeline(config, timeline) or previous.get("stages", [])
    connected = timeline.get("connected", [])
    last = {k: int(v[-1]) for k, v in timeline.items() if v and v[-1] == v[-1]}
    before = (
        previous.get("connections", {}) if isinstance(previous.get("connections"), dict) else {}
    )
    totals = {
        "peak_connected": int(max(connected, default=0)),
        "reconnects": last.get("reconnects", before.get("reconnects", 0)),
        "booted": last.get("booted", before.get("booted", 0)),
        "lost": before.get("lost", 0),
        "reboots": before.get("reboots", 0),
        "offline_dropped": before.get("offline_dropped", 0),
    }
    if "established" in last:
        totals.update(
            attempted=last.get("attempted", 0),
            established=last["established"],
            failed=last.get("failed", 0),
        )
    workers = {
        k: {"max_rss_kb": v * 1024}
        for k, v in (previous.get("worker_peak_rss_mb") or {}).items()
        if isinstance(v, int | float)
    }
    state = previous.get("state")
    if state not in ("finished", "interrupted"):
        # From the timeline: its last row is in a stage when the run stopped early.
        stages_seen = timeline.get("stage", [])
        state = "interrupted" if stages_seen and stages_seen[-1] > 0 else "finished"
    kept = ("started_at", "ended_at", "versions", "host", "failing_ids", "workers_lost")
    summary = build_summary(
        run_id=previous.get("run_id", folder.name),
        config=replace_path(config, previous.get("config")),
        target=previous.get("target", config.target),
        entries=entries,
        failures=failures,
        totals=totals,
        workers=workers,
        stages=stages,
        peak_connected=totals["peak_connected"],
        state=state,
        extra={
            **{k: previous[k] for k in kept if k in previous},
            **({"rebuilt_without": set_aside} if set_aside else {}),
        },
    )
    write_json(folder, SUMMARY, summary)
    write_junit(folder, summary)
    if timeline:
        name = previous.get("config")  # the run's config file, not the copy's name
        title = Path(name).stem if isinstance(name, str) and name else folder.name
        plot_timeline(folder / TIMELINE, folder / "timeline.png", title)
    htmlreport.write(folder, summary)
    return summary


def replace_path(config: Config, path: object) -> Config:
    from dataclasses import replace

    return replace(config, path=path) if isinstance(path, str) and path else config


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


def fleet_section(totals: dict[str, int]) -> dict[str, Any] | None:
    """summary.json's ``fleet``: the flows of a fleet like a real one (docs/fleets.md), from
    the workers' counters; None when no charger did any of them."""
    t = totals.get
    if not any(
        t(k, 0)
        for k in (
            "sessions_started",
            "firmware_updates",
            "faults",
            "reservations",
            "uploads_ok",
            "uploads_failed",
            "profiles_set",
            "security_events",
            "tariffs_set",
        )
    ):
        return None
    return {
        "sessions": {
            "started": t("sessions_started", 0),
            "ended": {
                "total": t("sessions_ended", 0),
                "Local": t("ended_local", 0),
                "Remote": t("ended_remote", 0),
                "Reset": t("ended_reset", 0),
                "DeAuthorized": t("ended_deauthorized", 0),
                "Other": t("ended_other", 0),
            },
            "charging_now": t("charging", 0),
        },
        "energy_wh": t("energy_wh", 0),
        "energy_exported_wh": t("energy_exported_wh", 0),  # 2.1 V2X: given back by EVs
        "v2x_sessions": t("v2x_sessions", 0),
        "tariffs_set": t("tariffs_set", 0),  # 2.1 SetDefaultTariff accepted
        "power_w_now": t("power_w", 0),
        "authorized_locally": t("authorized_locally", 0),
        "profiles_set": t("profiles_set", 0),
        "firmware": {
            "updates": t("firmware_updates", 0),
            "installed": t("firmware_installed", 0),
            "failed": t("firmware_failed", 0),
        },
        "uploads": {"ok": t("uploads_ok", 0), "failed": t("uploads_failed", 0)},
        "reservations": {
            "made": t("reservations", 0),
            "used": t("reservations_used", 0),
            "expired": t("reservations_expired", 0),
            "cancelled": t("reservations_cancelled", 0),
        },
        "faults": {"reported": t("faults", 0), "recovered": t("faults_recovered", 0)},
        "security_events": t("security_events", 0),
    }
