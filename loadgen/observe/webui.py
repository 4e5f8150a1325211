"""The "Charge points" tabs in Locust's web UI, and a live chart of connected vs target.

Extended the supported way (Locust's ``examples/extend_web_ui.py``): ``extended_tabs``
and ``extended_tables`` in ``template_args``, rows added to ``/stats/requests`` as
``extended_stats`` in an ``after_request`` hook, and routes on ``web_ui.app``:
``/loadgen/state`` (JSON), ``/loadgen/chart`` (an SVG chart page that refreshes itself)
and ``/loadgen/timeline.csv``.

The UI can start load anywhere, so it is guarded (:func:`install_guard`):

- **Same origin only.** A request whose ``Origin`` (or, for a POST without one,
  ``Referer``) is another site gets 403, and no response carries CORS headers: Locust
  enables CORS for every origin, which let any web page read the UI and start a swarm.
- **Known hosts without a login.** Without ``--web-login`` the ``Host`` must be an IP
  address, ``localhost``, this machine's name or one in ``LOADGEN_WEB_HOSTS``, so a
  DNS name rebound to this address cannot reach the UI from a browser.
- **Known ``/swarm`` fields.** Locust copies every form field into the run's options
  (and on to the workers): only the fields of its start form and loadgen's own are
  accepted, those with choices only with one of them, and the config they make must
  load (:class:`SwarmForm`). ``/user`` (the class picker's editor) is refused.
- **The session cookie** is ``SameSite=Strict``; the login compares bytes.
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import math
import os
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from locust.env import Environment

from loadgen.observe.telemetry import Monitor

log = logging.getLogger(__name__)

OVERVIEW = "charge-points"
#: with Locust's --web-login, the one account's credentials come from these variables
USER_ENV, PASSWORD_ENV = "LOADGEN_WEB_USER", "LOADGEN_WEB_PASSWORD"
#: more host names the UI answers to without a login (comma-separated)
HOSTS_ENV = "LOADGEN_WEB_HOSTS"
WORKERS = "charge-point-workers"
#: the fields of Locust's own start form
LOCUST_FIELDS = ("user_count", "spawn_rate", "host", "run_time", "profile")
#: largest request body the UI reads (a start form is a few hundred bytes)
MAX_BODY_BYTES = 64 * 1024
MAX_FIELD_CHARS = 2048
_RUN_TIME = re.compile(r"^(\d{1,9}[hms]?){1,3}$")
_HOST_FIELD = re.compile(r"^[!#-;=?-~]*$")  # printable ASCII but space, " < > and `


@dataclass(frozen=True)
class SwarmForm:
    """What ``/swarm`` accepts beyond Locust's own fields.

    ``choices``: loadgen's fields by name, with the values each may take (``None``: any
    text). ``check``: given the form's values, the reason the config they make cannot
    run, or ``None``.
    """

    choices: Mapping[str, Sequence[str] | None] = field(default_factory=dict)
    check: Callable[[Mapping[str, str]], str | None] | None = None


class FormError(ValueError):
    """A ``/swarm`` form that is refused; the message names the field and the fix."""


def check_swarm_form(form: Mapping[str, Sequence[str]], policy: SwarmForm) -> dict[str, str]:
    """The form's values when every field is known and valid; raises :class:`FormError`."""
    values: dict[str, str] = {}
    known = (*LOCUST_FIELDS, *policy.choices)
    for name, given in form.items():
        shown = _short(name)
        if name not in known:
            raise FormError(
                f"/swarm: unknown field {shown}. The start form sends only: {', '.join(known)}."
            )
        if len(given) != 1:
            raise FormError(f"/swarm: field {shown} given {len(given)} times; give it once.")
        value = given[0]
        if len(value) > MAX_FIELD_CHARS:
            raise FormError(f"/swarm: {shown} is longer than {MAX_FIELD_CHARS} characters.")
        _check_value(name, value, policy.choices.get(name))
        values[name] = value
    if policy.check is not None and (problem := policy.check(values)):
        raise FormError(problem)
    return values


def _check_value(name: str, value: str, choices: Sequence[str] | None) -> None:
    shown = _short(value)
    if name == "user_count" and not (value.isdigit() and len(value) <= 8):
        raise FormError(f"/swarm: user_count must be a whole number, got {shown}.")
    if name == "spawn_rate":
        try:
            rate = float(value) if len(value) <= 20 else math.nan
        except ValueError:
            rate = math.nan
        if not (math.isfinite(rate) and 0 <= rate <= 1e6):  # a shape's form sends 0
            raise FormError(f"/swarm: spawn_rate must be a number from 0 to 1e6, got {shown}.")
    if name == "run_time" and value and not _RUN_TIME.match(value):
        raise FormError(f"/swarm: run_time must look like 90, 90s, 5m or 1h30m, got {shown}.")
    if name == "host" and not _HOST_FIELD.match(value):
        raise FormError(f"/swarm: host must be a ws:// or wss:// URL, got {shown}.")
    if name == "profile" and not value.isprintable():
        raise FormError(f"/swarm: profile must be printable text, got {shown}.")
    if choices is not None and value not in choices:
        offered = ", ".join(_short(c) for c in list(choices)[:20])
        raise FormError(
            f"/swarm: {name} must be one of the offered values ({offered}), got {shown}."
        )


def _short(text: str, limit: int = 60) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def same_origin(origin: str, scheme: str, host: str) -> bool:
    """Whether ``origin`` (an Origin or Referer header) is ``scheme://host``."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme.lower() == scheme.lower() and parts.netloc.lower() == host.lower()


def host_allowed(host_header: str, extra: Sequence[str] = ()) -> bool:
    """Whether a UI without login answers ``Host: host_header``: an IP address,
    ``localhost``, this machine's names, or one of ``extra``."""
    try:
        name = (urlsplit("//" + host_header).hostname or "").rstrip(".")
    except ValueError:
        return False
    if not name:
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    names = {"localhost", socket.gethostname().lower(), socket.getfqdn().lower()}
    names.update(n.strip().lower() for n in extra if n.strip())
    return name.lower() in names


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
        "verdict": live_verdict(monitor, totals),
        "fleet": _fleet_now(totals),
    }


def _fleet_now(totals: dict[str, int]) -> dict[str, Any] | None:
    """summary.json's fleet section, live (docs/fleets.md)."""
    from loadgen.observe.report import fleet_section

    return fleet_section(totals)


def fleet_rows(fleet: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The fleet's flows as rows of the "Charge points" table (none for an idle fleet)."""
    if not fleet:
        return []
    sessions, ended = fleet["sessions"], fleet["sessions"]["ended"]
    by_reason = ", ".join(f"{k} {v:,}" for k, v in ended.items() if k != "total" and v)
    firmware, uploads = fleet["firmware"], fleet["uploads"]
    held, faults = fleet["reservations"], fleet["faults"]
    return [
        (
            "Sessions started",
            f"{sessions['started']:,} ({sessions['charging_now']:,} charging now)",
        ),
        ("Sessions ended", f"{ended['total']:,}" + (f" ({by_reason})" if by_reason else "")),
        ("Energy delivered", f"{fleet['energy_wh'] / 1000:,.1f} kWh"),
        *(
            [
                (
                    "Energy exported (V2X)",
                    f"{fleet['energy_exported_wh'] / 1000:,.1f} kWh "
                    f"({fleet['v2x_sessions']:,} V2X sessions)",
                )
            ]
            if fleet.get("v2x_sessions")
            else []
        ),
        ("Power now", f"{fleet['power_w_now'] / 1000:,.1f} kW"),
        ("Charging profiles set", f"{fleet['profiles_set']:,}"),
        (
            "Firmware updates",
            f"{firmware['updates']:,} ({firmware['installed']:,} installed, "
            f"{firmware['failed']:,} failed)",
        ),
        ("Log uploads", f"{uploads['ok']:,} uploaded, {uploads['failed']:,} failed"),
        (
            "Reservations",
            f"{held['made']:,} ({held['used']:,} used, {held['expired']:,} expired, "
            f"{held['cancelled']:,} cancelled)",
        ),
        ("Faults", f"{faults['reported']:,} ({faults['recovered']:,} recovered)"),
        ("Security events", f"{fleet['security_events']:,}"),
    ]


def live_verdict(monitor: Monitor, totals: dict[str, int]) -> dict[str, Any]:
    """The thresholds checked now, as summary.json's verdict will check them at the end
    (:func:`loadgen.observe.report.build_summary` on the same stats and counters)."""
    from loadgen.observe import report

    stats = monitor.environment.stats
    summary = report.build_summary(
        run_id="live",
        config=monitor.config,
        target="",
        entries=report.entries_from_stats(stats),
        failures=report.failures_from_stats(stats),
        totals=totals,
        workers=monitor.workers,
        stages=[s.as_dict() for s in monitor.stages],
        peak_connected=monitor.peak_connected,
        state="running" if monitor.running else "finished",
    )
    verdict: dict[str, Any] = summary["thresholds"]
    verdict["final"] = not monitor.running and monitor.started is not None
    return verdict


def verdict_rows(verdict: dict[str, Any]) -> list[tuple[str, str]]:
    """The verdict's rows of the "Charge points" table: the outcome, then each check."""
    checks = verdict.get("checks", [])
    failing = [c["name"] for c in checks if not c["passed"]]
    if verdict.get("final"):
        outcome = "PASSED" if verdict["passed"] else "FAILED: " + ", ".join(failing)
    elif not checks:
        outcome = "no thresholds"
    else:
        outcome = "passing so far" if verdict["passed"] else "failing: " + ", ".join(failing)
    rows = [("Verdict", outcome)]
    for check in checks:
        value = "no data" if check["value"] is None else f"{check['value']:g}"
        mark = "ok" if check["passed"] else "FAIL"
        rows.append((f"Check {check['name']}", f"{mark}: {value} (limit {check['limit']:g})"))
    return rows


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
    rows += fleet_rows(now.get("fleet"))
    rows += verdict_rows(now.get("verdict", {}))
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


def install(environment: Environment, monitor: Monitor, form: SwarmForm | None = None) -> None:
    """Add the guard (see the module's docstring), tabs, tables and routes to the web UI
    (a no-op without one). ``form``: loadgen's fields of the start form."""
    web_ui = environment.web_ui
    if web_ui is None:
        return
    from flask import Response, request

    install_guard(web_ui, form or SwarmForm())
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


def _utf8(text: str) -> bytes:
    """``text`` as bytes; environment variables may hold undecodable bytes (surrogates)."""
    return text.encode("utf-8", "surrogatepass")


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
        # bytes: compare_digest refuses str with characters beyond ASCII
        if (
            password
            and hmac.compare_digest(_utf8(given_user), _utf8(username))
            and hmac.compare_digest(_utf8(given_password), _utf8(password))
        ):
            login_user(Account(username))
            return redirect(url_for("locust.index"))
        session["auth_error"] = "Invalid username or password"
        return redirect(url_for("locust.login"))


def install_guard(web_ui: Any, form: SwarmForm) -> None:
    """Refuse cross-origin requests, unknown hosts (without login) and unknown ``/swarm``
    fields; drop CORS headers; make the session cookie ``SameSite=Strict``."""
    from flask import jsonify, request
    from flask_login import current_user

    app = web_ui.app
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    extra_hosts = os.environ.get(HOSTS_ENV, "").split(",")
    app.wsgi_app = _WithoutCors(app.wsgi_app)

    def refuse(status: int, message: str) -> Any:
        log.warning("web UI: %s %s refused (%d): %s", request.method, request.path, status, message)
        response = jsonify({"success": False, "message": message})
        response.status_code = status
        return response

    @app.before_request
    def guard() -> Any:
        origin = request.headers.get("Origin")
        if origin is None and request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("Referer")
        if origin is not None and not same_origin(origin, request.scheme, request.host):
            return refuse(403, "cross-origin request refused: use the UI's own page.")
        if not web_ui.web_login and not host_allowed(request.host, extra_hosts):
            return refuse(
                403,
                f"Host {_short(request.host)} refused: open the UI by IP address or "
                f"localhost, add the name to {HOSTS_ENV}, or turn on --web-login.",
            )
        if request.method != "POST":
            return None
        if web_ui.web_login and not current_user.is_authenticated:
            return None  # Locust's own check sends it to the login page
        path = request.path.rstrip("/")
        if path.endswith("/user"):
            return refuse(403, "/user: loadgen does not use Locust's user class picker.")
        if path.endswith("/swarm"):
            try:
                check_swarm_form(request.form.to_dict(flat=False), form)
            except FormError as exc:
                return refuse(400, str(exc))
        return None


class _WithoutCors:
    """WSGI middleware that drops ``Access-Control-*`` headers from every response."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            return start_response(status, kept, *args)

        return self.app(environ, start)
