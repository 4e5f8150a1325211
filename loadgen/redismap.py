"""The charge point -> gateway mapping in Redis, as both sides see it: key and URL rules.

The reference gateway writes the mapping and the load generator's probe reads it; they
never import each other, so the few rules they must agree on live here, with no imports
beyond the standard library: the key template (``ocpp:cp:{id}``), the URL check and
the masking of a password before a URL is logged or written anywhere.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

#: Key of a charge point's mapping; ``{id}`` is replaced by the charge point id.
DEFAULT_KEY = "ocpp:cp:{id}"
URL_SCHEMES = ("redis", "rediss", "unix")
URL_HINT = (
    "Use redis://[:PASSWORD@]HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0 "
    "(rediss:// for TLS, unix:///path/to/redis.sock for a socket)"
)
MASK = "***"
#: The gateway reads its Redis URL from here when not given ``--redis-url``: a URL with a
#: password is passed this way (to ``loadgen gateway`` and its workers), never in argv.
GATEWAY_URL_ENV = "LOADGEN_GATEWAY_REDIS_URL"


def mapping_key(template: str, charge_point_id: str) -> str:
    """The Redis key of ``charge_point_id``'s mapping (plain replacement of ``{id}``)."""
    return template.replace("{id}", charge_point_id)


def key_problem(template: object) -> str | None:
    """Why ``template`` cannot be a mapping key template, or ``None`` when it can."""
    if not isinstance(template, str) or not template.strip():
        return f"expected a non-empty key template like {DEFAULT_KEY!r}, got {template!r}"
    if "{id}" not in template:
        return (
            f"the key template must contain {{id}} (the charge point id), got {template!r}; "
            f"e.g. {DEFAULT_KEY!r}"
        )
    return None


def mask_url(url: str) -> str:
    """``url`` with any password (and a bare user-info part) replaced by ``***``.

    ``redis://:pw@host:6379/0`` -> ``redis://:***@host:6379/0``; ``?password=pw`` is
    masked too. A URL that cannot be parsed is replaced whole, since it may hold a secret.
    """
    try:
        parts = urlsplit(url)
        masked = url
        if "@" in parts.netloc:
            userinfo, _, host = parts.netloc.rpartition("@")
            user, has_password, _ = userinfo.partition(":")
            # redis://SECRET@host: a lone user-info part may be a password
            netloc = f"{user}:{MASK}@{host}" if has_password else f"{MASK}@{host}"
            masked = masked.replace(parts.netloc, netloc, 1)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(k.lower() == "password" for k, _ in pairs):
            query = urlencode(
                [(k, MASK if k.lower() == "password" else v) for k, v in pairs], safe="*/"
            )
            masked = masked.replace("?" + parts.query, "?" + query, 1)
        return masked
    except ValueError:
        return "<unparsable URL, hidden>"


def url_secrets(url: str) -> list[str]:
    """The secrets in ``url``: the password (or a lone user-info part) and any
    ``password=`` query value, as they appear in the URL and decoded."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, has_password, password = userinfo.partition(":")
        found.append(password if has_password else user)
        if parts.password:
            found.append(parts.password)
    for raw in parts.query.split("&"):
        key, _, value = raw.partition("=")
        if key.lower() == "password":
            found.append(value)
    found += [
        v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() == "password"
    ]
    return sorted({s for s in found if s}, key=len, reverse=True)


def url_problem(url: object) -> str | None:
    """Why ``url`` is not a usable Redis URL (password masked), or ``None``."""
    if not isinstance(url, str) or not url.strip():
        return f"expected a Redis URL, got {url!r}. {URL_HINT}."
    shown = mask_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"{shown!r} has an invalid port number. {URL_HINT}."
    if parts.scheme not in URL_SCHEMES:
        return f"{shown!r} is not a Redis URL (scheme {parts.scheme or 'missing'!r}). {URL_HINT}."
    if parts.scheme == "unix":
        if not parts.path:
            return f"{shown!r} names no socket path. {URL_HINT}."
        return None
    if not parts.hostname:
        return f"{shown!r} names no host. {URL_HINT}."
    if port == 0:
        return f"{shown!r} has port 0. {URL_HINT}."
    db = parts.path.strip("/")
    if db and not db.isdigit():
        return (
            f"{shown!r}: the database after the last '/' must be a number, got {db!r}. {URL_HINT}."
        )
    return None
