"""The one vocabulary of failures: stats, web UI and summary all use these categories."""

from __future__ import annotations

#: Every category a failed connect, call or connection can be counted under.
CATEGORIES = (
    "dns_error",
    "connect_refused",
    "connect_timeout",
    "tls_error",
    "handshake_rejected",
    "reset",
    "closed_by_server",
    "call_timeout",
    "call_error",
    "protocol_error",
    "mapping_missing",
    "client_limit",  # the generator's own host ran out: source ports (EADDRNOTAVAIL), files
)


class Failure(Exception):
    """A failed connect, call or connection, named by one of :data:`CATEGORIES`.

    ``detail`` is short and stable (an HTTP status, a CALLERROR code) because Locust
    groups failures by their text: ``repr`` gives ``"category: detail"``.
    """

    def __init__(self, category: str, detail: str = "") -> None:
        if category not in CATEGORIES:
            raise ValueError(f"unknown failure category {category!r}")
        super().__init__(f"{category}: {detail}" if detail else category)
        self.category = category
        self.detail = detail

    def __repr__(self) -> str:
        return str(self)


def category_of(error_text: str) -> str:
    """The category at the start of a failure's text as Locust stored it."""
    head = error_text.split(":", 1)[0].strip()
    return head if head in CATEGORIES else "other"
