"""API calls that record their own retries, and the window checks every cloud collector shares.

botocore retries throttling and transient errors itself and says how often in each response's
`ResponseMetadata.RetryAttempts`; when it gives up on throttling, `RetryLog` waits and tries
again a few more times. Either way every retry is counted per operation, for the artifact's
metadata: a collection that was throttled says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from core.aws import AwsAccount
from core.errors import BadInput
from core.timeutil import rfc3339, utcnow
from evidence.interface import Window

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "EC2ThrottledException",
        "LimitExceededException",
    }
)


@dataclass
class RetryLog:
    """Calls through one account, counting retries per operation (for the metadata); shared
    by the threads of one collection."""

    account: AwsAccount
    attempts: int = 4  # our own tries on throttling, after botocore's
    backoff: float = 1.0  # seconds, doubled each time
    retries: dict[str, int] = field(default_factory=dict)
    throttled: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def call(self, method: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        """`method(**kwargs)`; throttling retried; any other AWS error as AwsCallFailed."""
        import botocore.exceptions as bex

        name = getattr(method, "__name__", "call")
        attempt = 0
        while True:
            with self.account.calls(what=name):
                try:
                    response: dict[str, Any] = method(**kwargs)
                except bex.ClientError as exc:
                    self._count(name, cast(dict[str, Any], exc.response))
                    code = str(exc.response.get("Error", {}).get("Code", ""))
                    if code not in THROTTLING or attempt >= self.attempts:
                        raise
                    self._add(self.throttled, name, 1)
                    self._add(self.retries, name, 1)
                    time.sleep(self.backoff * 2**attempt)
                    attempt += 1
                    continue
            self._count(name, response)
            return response

    def _count(self, name: str, response: dict[str, Any]) -> None:
        retried = int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0)
        if retried:
            self._add(self.retries, name, retried)

    def _add(self, counts: dict[str, int], name: str, n: int) -> None:
        with self._lock:
            counts[name] = counts.get(name, 0) + n

    def summary(self) -> dict[str, Any]:
        """For the metadata: retries per operation (botocore's and ours), and ours on throttling."""
        with self._lock:
            return {
                "retries": dict(sorted(self.retries.items())),
                "throttled_then_retried": dict(sorted(self.throttled.items())),
            }


def checked_window(since: datetime, until: datetime) -> tuple[Window, datetime]:
    """The window, refused when it starts in the future; and the moment of collection (events
    after it cannot exist yet: the metadata says the window is covered up to then)."""
    now = utcnow()
    if since > now:
        raise BadInput(
            f"the window starts in the future ({rfc3339(since)}; it is now {rfc3339(now)}):"
            " no log holds events that have not happened yet",
            field="since",
        )
    return Window(since, until), now


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, rounded up: events at or after `moment` have ts >= this."""
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    return -(-micros // 1000)
