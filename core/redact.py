"""Secrets never reach logs, journals, receipts or manifests."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_KV_SECRET = re.compile(r"(?i)\b(password|passwd|pwd|secret|token|sslpassword)\s*=\s*('[^']*'|\S+)")


def redact_dsn(dsn: str) -> str:
    """A libpq DSN or URL with any password replaced by ***."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.password is not None:
            host = parts.hostname or ""
            if parts.port:
                host = f"{host}:{parts.port}"
            netloc = f"{parts.username or ''}:***@{host}"
            parts = parts._replace(netloc=netloc)
        query = _KV_SECRET.sub(lambda m: f"{m.group(1)}=***", parts.query)
        return urlunsplit(parts._replace(query=query))
    return _KV_SECRET.sub(lambda m: f"{m.group(1)}=***", dsn)


def redact_url(url: str) -> str:
    """Same rule for any URL (redis://, webhooks): drop the password part."""
    return redact_dsn(url)
