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
    "ping_timeout",  # no Pong to our WebSocket Ping within WebSocketPingInterval
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


#: Failing charge point ids kept per category: per worker, and again once merged.
FIRST_IDS = 10
#: Longest charge point id kept (ids files allow 48 characters).
_MAX_ID_CHARS = 64


class FirstIds:
    """The first few charge point ids that failed, per category: bounded and mergeable.

    Each worker notes the first :data:`FIRST_IDS` of each category and sends them with
    its stats; the master merges what workers send, keeping the first ``limit`` again,
    so "which chargers got 401s" has an answer without memory that grows with the fleet.
    """

    __slots__ = ("by_category", "limit")

    def __init__(self, limit: int = FIRST_IDS) -> None:
        self.limit = limit
        self.by_category: dict[str, list[str]] = {}

    def note(self, category: str, charge_point_id: str) -> None:
        ids = self.by_category.get(category)
        if ids is None:
            if category not in CATEGORIES:
                return
            ids = self.by_category[category] = []
        if len(ids) < self.limit and charge_point_id not in ids:
            ids.append(charge_point_id)

    def merge(self, data: object) -> bool:
        """Add another worker's ids; False (and nothing added) for data of another shape."""
        if not isinstance(data, dict) or len(data) > len(CATEGORIES):
            return False
        for category, ids in data.items():
            if category not in CATEGORIES or not isinstance(ids, list) or len(ids) > self.limit:
                return False
            if not all(isinstance(i, str) and 0 < len(i) <= _MAX_ID_CHARS for i in ids):
                return False
        for category, ids in data.items():
            for charge_point_id in ids:
                self.note(category, charge_point_id)
        return True

    def snapshot(self) -> dict[str, list[str]]:
        return {category: list(ids) for category, ids in sorted(self.by_category.items()) if ids}

    def clear(self) -> None:
        self.by_category.clear()
