"""Secrets never reach logs, journals, receipts or manifests.

A DSN is read by libpq's own parser (psycopg.conninfo), never by pattern: a password holding
`#`, `?`, `@`, quotes or backslashes, a key/value DSN, a multi-host URL all come apart the way
the server connection sees them, and the secret fields are replaced whole. What the parser cannot
read is not echoed at all.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

HIDDEN = "***"
# libpq keywords whose values are secrets (or name them).
SECRET_KEYS = ("password", "sslpassword", "sslkey", "passfile")
UNREADABLE_DSN = "<a DSN libpq cannot parse; not shown>"


def redact_dsn(dsn: str) -> str:
    """A libpq DSN or URL as key/value pairs, each secret field shown as ***."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(dsn)
    except ProgrammingError:
        return UNREADABLE_DSN
    kept = {key: str(value) for key, value in params.items() if value is not None}
    hidden = {key: HIDDEN for key in SECRET_KEYS if kept.pop(key, None) is not None}
    return make_conninfo("", **kept, **hidden)


def redact_url(url: str) -> str:
    """A URL (redis://, a webhook) with its user info reduced to the user, and no query string:
    tokens travel in both."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<a URL that cannot be parsed; not shown>"
    if port:
        host = f"{host}:{port}"
    user = parts.username or ""
    if parts.password is not None:
        host = f"{user}:{HIDDEN}@{host}"
    elif user:
        host = f"{user}@{host}"
    query = HIDDEN if parts.query else ""
    return urlunsplit(parts._replace(netloc=host, query=query))
