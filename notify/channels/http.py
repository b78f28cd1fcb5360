"""JSON over HTTPS for webhook channels, with status codes mapped to retry decisions."""

from __future__ import annotations

import email.utils
import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from notify.channels.interface import PermanentError, TransientError

RETRYABLE = {408, 425, 429}  # and every 5xx


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: str
    headers: dict[str, str]


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def post_json(url: str, payload: dict[str, Any], timeout: float = 15.0) -> HttpReply:
    data = json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read().decode("utf-8", "replace")
            return HttpReply(response.status, body, dict(response.headers.items()))
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")[:300]
        message = f"HTTP {exc.code} from {safe_url(url)}: {body.strip()}"
        if exc.code in RETRYABLE or exc.code >= 500:
            raise TransientError(message, retry_after(exc.headers.get("Retry-After"))) from None
        raise PermanentError(message) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransientError(f"cannot reach {safe_url(url)}: {reason}") from None


def safe_url(url: str) -> str:
    """Scheme, host and port only: webhook paths and queries carry tokens."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    hidden = parts.path.strip("/") or parts.query or parts.fragment
    return f"{parts.scheme}://{host}/***" if hidden else f"{parts.scheme}://{host}"
