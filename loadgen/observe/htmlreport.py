"""``report.html``: loadgen's verdict, stages, failures and timeline above Locust's report.

Locust's own report (its tables and charts of every request) is kept whole; a section
between two markers is put first in its ``<body>``: the verdict with each threshold
check, the connections, each stage's target and the most connected, the failures by
category with the first charge point ids that failed, and ``timeline.png``. ``loadgen
report DIR`` replaces that section in place, so a rebuilt verdict shows there too.
"""

from __future__ import annotations

import base64
import re
from html import escape
from pathlib import Path
from typing import Any

REPORT = "report.html"
BEGIN, END = "<!-- loadgen:begin -->", "<!-- loadgen:end -->"
_STYLE = (
    "<style>#loadgen{font-family:sans-serif;margin:16px;padding:12px;border:1px solid #ccc;"
    "background:#fff;color:#111}#loadgen table{border-collapse:collapse;margin:6px 0 12px}"
    "#loadgen td,#loadgen th{border:1px solid #ddd;padding:3px 8px;text-align:left}"
    "#loadgen .pass{color:#196c2e;font-weight:bold}#loadgen .fail{color:#b00020;"
    "font-weight:bold}#loadgen img{max-width:100%}</style>"
)


def locust_html(environment: Any) -> str | None:
    """Locust's HTML report of the environment's stats now, or None if it fails."""
    try:
        from locust.html import get_html_report

        return str(get_html_report(environment, show_download_link=False))
    except Exception:  # Locust's report is extra: the section stands on its own
        return None


def _value(value: Any, spec: str = "g") -> str:
    if value is None:
        return "no data"
    return format(value, spec) if isinstance(value, int | float) else str(value)


def _table(head: list[str], rows: list[list[str]], css: list[str] | None = None) -> str:
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = []
    for i, row in enumerate(rows):
        attr = f' class="{css[i]}"' if css and css[i] else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    return f"<table><tr>{cells}</tr>{''.join(body)}</table>"


def section(summary: dict[str, Any], timeline_png: bytes | None = None) -> str:
    """loadgen's part of the report, as one HTML block between the markers."""
    verdict = summary.get("thresholds", {})
    passed = bool(verdict.get("passed"))
    conn = summary.get("connections", {})
    checks = verdict.get("checks", [])
    parts = [
        BEGIN,
        _STYLE,
        '<section id="loadgen">',
        f"<h2>loadgen: {escape(str(summary.get('run_id', '')))}</h2>",
        f'<p id="loadgen-verdict" class="{"pass" if passed else "fail"}">'
        f"{'PASSED' if passed else 'FAILED: thresholds violated'}"
        f" ({escape(str(summary.get('state', 'finished')))})</p>",
        f"<p>Target {escape(str(summary.get('target', '')))}, OCPP "
        f"{escape(str(summary.get('ocpp_version', '')))}, {summary.get('workers', 1)} workers,"
        f" {escape(str(summary.get('started_at') or ''))} to "
        f"{escape(str(summary.get('ended_at') or ''))}</p>",
        "<h3>Thresholds</h3>",
        _table(
            ["check", "value", "limit", "result"],
            [
                [
                    c["name"],
                    _value(c.get("value")),
                    _value(c.get("limit")),
                    "ok" if c["passed"] else "FAIL",
                ]
                for c in checks
            ],
            ["pass" if c["passed"] else "fail" for c in checks],
        ),
        "<h3>Connections</h3>",
        _table(
            ["attempted", "established", "failed", "success rate", "booted", "peak", "reconnects"],
            [
                [
                    _value(conn.get("attempted"), ","),
                    _value(conn.get("established"), ","),
                    _value(conn.get("failed"), ","),
                    _value(conn.get("success_rate"), ".2%"),
                    _value(conn.get("booted"), ","),
                    _value(conn.get("peak_concurrent"), ","),
                    _value(conn.get("reconnects"), ","),
                ]
            ],
        ),
        "<h3>Stages</h3>",
        _table(
            ["stage", "target", "most connected", "reached after (s)"],
            [
                [
                    str(i),
                    _value(s.get("users"), ","),
                    _value(s.get("reached"), ","),
                    "not reached"
                    if s.get("reached_after_s") is None
                    else _value(s["reached_after_s"]),
                ]
                for i, s in enumerate(summary.get("stages", []), 1)
            ],
        ),
        "<h3>Failures by category</h3>",
    ]
    failures = summary.get("failures", {})
    ids = summary.get("failing_ids", {})
    if failures:
        parts.append(
            _table(
                ["category", "count", "first charge points"],
                [[k, _value(v, ","), ", ".join(ids.get(k, []))] for k, v in failures.items()],
            )
        )
    else:
        parts.append("<p>none</p>")
    if timeline_png:
        encoded = base64.b64encode(timeline_png).decode("ascii")
        parts.append(
            f'<h3>Timeline</h3><img id="loadgen-timeline" alt="timeline" '
            f'src="data:image/png;base64,{encoded}">'
        )
    parts += ["</section>", END]
    return "\n".join(parts)


def merged(page: str | None, block: str) -> str:
    """``page`` with the loadgen section replaced, or put first in its body."""
    if not page:
        return (
            f"<!doctype html><html><head><meta charset='utf-8'></head><body>{block}</body></html>"
        )
    if BEGIN in page and END in page:
        head, _, rest = page.partition(BEGIN)
        return head + block + rest.partition(END)[2]
    # The last <body> tag: Locust's page has the text "<body" inside its script bundle too.
    matches = list(re.finditer(r"<body[^>]*>", page))
    if not matches:
        return block + page
    end = matches[-1].end()
    return page[:end] + block + page[end:]


def write(folder: Path, summary: dict[str, Any], locust_page: str | None = None) -> Path:
    """Write ``report.html``: Locust's page (or the folder's, when rebuilding) with the
    section of ``summary`` and the folder's ``timeline.png``."""
    from loadgen.observe.report import write_text

    path = folder / REPORT
    if locust_page is None and path.is_file():
        locust_page = path.read_text(encoding="utf-8", errors="replace")
    png = folder / "timeline.png"
    block = section(summary, png.read_bytes() if png.is_file() else None)
    return write_text(folder, REPORT, merged(locust_page, block))
