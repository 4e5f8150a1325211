"""The "Charge points" tabs in Locust's web UI, and a live chart of connected vs target.

Extended the supported way (Locust's ``examples/extend_web_ui.py``): ``extended_tabs``
and ``extended_tables`` in ``template_args``, rows added to ``/stats/requests`` as
``extended_stats`` in an ``after_request`` hook, and routes on ``web_ui.app``:
``/loadgen/state`` (JSON), ``/loadgen/chart`` (an SVG chart page that refreshes itself)
and ``/loadgen/timeline.csv``.
"""

from __future__ import annotations

import html
import json
from typing import Any

from locust.env import Environment

from loadgen.observe.telemetry import Monitor

OVERVIEW = "charge-points"
#: with Locust's --web-login, the one account's credentials come from these variables
USER_ENV, PASSWORD_ENV = "LOADGEN_WEB_USER", "LOADGEN_WEB_PASSWORD"
WORKERS = "charge-point-workers"


def state(monitor: Monitor) -> dict[str, Any]:
    """What the tabs show: the fleet now, the stage, failures, each worker."""
    totals = monitor.totals()
    where = monitor.position()
    established = totals.get("established", 0)
    finished = established + totals.get("failed", 0)
    failures: dict[str, int] = {}
    for error in monitor.environment.stats.errors.values():
        category = str(error.error).split(":", 1)[0]
        failures[category] = failures.get(category, 0) + error.occurrences
    return {
        "running": monitor.running,
        "config": monitor.config.name,
        "connected": totals.get("connected", 0),
        "target": where.stage.users if where else 0,
        "stage": where.index + 1 if where else None,
        "stages": len(monitor.config.stages),
        "stage_left_s": round(where.left_s) if where else None,
        "attempted": totals.get("attempted", 0),
        "established": established,
        "failed": totals.get("failed", 0),
        "success_rate": round(established / finished, 4) if finished else None,
        "booted": totals.get("booted", 0),
        "reconnects": totals.get("reconnects", 0),
        "failures": failures,
        "workers": monitor.worker_rows(),
        "redis": _redis_now(monitor, totals),
    }


def _redis_now(monitor: Monitor, totals: dict[str, int]) -> dict[str, Any]:
    """The gateway's Redis (INFO) and the mapping probe's counts, when the config has redis."""
    if monitor.config.redis is None:
        return {}
    info = monitor.redis_info.latest() if monitor.redis_info is not None else {}
    return {
        **{k: v for k, v in info.items() if k != "used_memory"},
        "probe missing": totals.get("probe_missing", 0),
        "probe unchecked": totals.get("probe_unchecked", 0),
    }


def overview_rows(now: dict[str, Any]) -> list[dict[str, Any]]:
    """The "Charge points" table: one metric a row."""
    stage = f"{now['stage']} of {now['stages']}" if now["stage"] else "—"
    rate = now["success_rate"]
    rows = [
        ("Connected now", f"{now['connected']:,} / {now['target']:,} (stage target)"),
        ("Stage", stage + (f", {now['stage_left_s']} s left" if now["stage"] else "")),
        ("Connections attempted", f"{now['attempted']:,}"),
        ("Connections established", f"{now['established']:,}"),
        ("Connections failed", f"{now['failed']:,}"),
        ("Success rate", "—" if rate is None else f"{rate:.2%}"),
        ("Booted (Accepted)", f"{now['booted']:,}"),
        ("Reconnects", f"{now['reconnects']:,}"),
    ]
    rows += [(f"Failures: {k}", f"{v:,}") for k, v in sorted(now["failures"].items())]
    for key, value in now.get("redis", {}).items():
        rows.append((f"Redis {key}", f"{value:,}" if isinstance(value, int) else str(value)))
    return [{"metric": k, "value": v} for k, v in rows]


def chart_svg(history: list[tuple[float, int, int]], width: int = 900, height: int = 300) -> str:
    """Connected charge points (line) against the stage target (steps) as an SVG."""
    pad = 40
    if not history:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"></svg>'
    t_max = max(history[-1][0], 1.0)
    y_max = max(max(max(target, conn) for _, target, conn in history), 1)

    def xy(t: float, y: float) -> str:
        x = pad + (width - 2 * pad) * t / t_max
        return f"{x:.1f},{height - pad - (height - 2 * pad) * y / y_max:.1f}"

    target_points = []
    for i, (t, target, _) in enumerate(history):
        if i:
            target_points.append(xy(t, history[i - 1][1]))
        target_points.append(xy(t, target))
    connected_points = [xy(t, conn) for t, _, conn in history]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#888"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#888"/>'
        f'<text x="{pad}" y="{pad - 8}">{y_max:,} charge points</text>'
        f'<text x="{width - pad}" y="{height - 10}" text-anchor="end">{t_max:.0f} s</text>'
        f'<polyline fill="none" stroke="#999" stroke-dasharray="6 4" stroke-width="2" '
        f'points="{" ".join(target_points)}"><title>stage target</title></polyline>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2.5" '
        f'points="{" ".join(connected_points)}"><title>connected</title></polyline>'
        f'<text x="{width - pad}" y="{pad - 8}" text-anchor="end" fill="#1f77b4">'
        f"connected {history[-1][2]:,} / target {history[-1][1]:,}</text></svg>"
    )


def install(environment: Environment, monitor: Monitor) -> None:
    """Add the tabs, tables and routes to the web UI (a no-op without one)."""
    web_ui = environment.web_ui
    if web_ui is None:
        return
    from flask import Response, request

    web_ui.template_args["extended_tabs"] = [
        {"title": "Charge points", "key": OVERVIEW},
        {"title": "Charge point workers", "key": WORKERS},
    ]
    web_ui.template_args["extended_tables"] = [
        {
            "key": OVERVIEW,
            "structure": [
                {"key": "metric", "title": "Charge points"},
                {"key": "value", "title": "Now"},
            ],
        },
        {
            "key": WORKERS,
            "structure": [
                {"key": "name", "title": "Worker"},
                {"key": "state", "title": "State"},
                {"key": "connected", "title": "Connected"},
                {"key": "open_files", "title": "Open files"},
                {"key": "max_rss_mb", "title": "Peak MB"},
                {"key": "tcp_inuse", "title": "TCP in use (host)"},
                {"key": "tcp_tw", "title": "TIME_WAIT (host)"},
                {"key": "tcp_orphan", "title": "Orphaned (host)"},
            ],
        },
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "./loadgen/timeline.csv", "title": "Charge points timeline (CSV)"},
        {"href": "./loadgen/chart", "title": "Charge points chart: connected vs stage target"},
    ]
    app = web_ui.app
    assert app is not None  # a web UI always has its Flask app
    if web_ui.web_login:
        _install_login(web_ui)

    @app.after_request
    def extend_stats(response: Any) -> Any:
        if request.path != "/stats/requests" or response.status_code != 200:
            return response
        now = state(monitor)
        body = response.get_json() or {}
        body["extended_stats"] = [
            {"key": OVERVIEW, "data": overview_rows(now)},
            {"key": WORKERS, "data": now["workers"]},
        ]
        response.set_data(json.dumps(body))
        return response

    @app.route("/loadgen/state")
    @web_ui.auth_required_if_enabled
    def loadgen_state() -> Any:
        return Response(json.dumps(state(monitor)), mimetype="application/json")

    @app.route("/loadgen/chart")
    @web_ui.auth_required_if_enabled
    def loadgen_chart() -> Any:
        now = state(monitor)
        title = html.escape(f"{now['config']}: connected {now['connected']:,} / {now['target']:,}")
        page = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            "<meta http-equiv='refresh' content='2'>"
            f"<title>{title}</title></head><body style='font-family:sans-serif'>"
            f"<h2 id='headline'>{title}</h2>{chart_svg(monitor.history)}</body></html>"
        )
        return Response(page, mimetype="text/html")

    @app.route("/loadgen/timeline.csv")
    @web_ui.auth_required_if_enabled
    def loadgen_timeline() -> Any:
        path = monitor.results / "timeline.csv"
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        return Response(text, mimetype="text/csv")


def _install_login(web_ui: Any) -> None:
    """Locust's login page, checked against LOADGEN_WEB_USER / LOADGEN_WEB_PASSWORD.

    The password is compared in constant time and never logged or echoed.
    """
    import hmac
    import os
    import secrets

    from flask import redirect, request, session, url_for
    from flask_login import UserMixin, login_user

    username = os.environ.get(USER_ENV, "admin")
    password = os.environ.get(PASSWORD_ENV, "")
    web_ui.app.secret_key = secrets.token_hex(32)  # signs the session cookie, per process

    class Account(UserMixin):
        def __init__(self, name: str) -> None:
            self.id = name

    web_ui.login_manager.user_loader(lambda name: Account(name) if name == username else None)
    web_ui.auth_args = {"username_password_callback": "/login_submit", "title": "loadgen"}

    @web_ui.app.route("/login_submit", methods=["POST"])
    def login_submit() -> Any:
        given_user = request.form.get("username", "")
        given_password = request.form.get("password", "")
        if (
            password
            and hmac.compare_digest(given_user, username)
            and hmac.compare_digest(given_password.encode(), password.encode())
        ):
            login_user(Account(username))
            return redirect(url_for("locust.index"))
        session["auth_error"] = "Invalid username or password"
        return redirect(url_for("locust.login"))
