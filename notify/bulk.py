"""Mail one notice to a long list under a rate limit, in batches, resuming where it stopped.

After each batch (and when interrupted) the run appends what happened to a deliveries log (one
JSON line per address) and then rewrites the progress file atomically; the next run starts at
`next_index`, so nobody is mailed twice unless the process dies hard mid-batch. A transient failure that outlasts the
retries stops the run (the rest would fail the same way); a refused address is recorded as failed
and the run goes on.
"""

from __future__ import annotations

import itertools
import json
import os
import smtplib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.errors import BadInput
from core.fsio import disk_errors, read_json, write_json
from core.timeutil import rfc3339, utcnow
from notify.channels.interface import (
    Accepted,
    Message,
    PermanentError,
    RetryPolicy,
    TransientError,
    scrub,
)
from notify.channels.smtp import SmtpChannel, close
from notify.recipients import RecipientList

BulkStatus = Literal["sent", "partial", "failed", "incomplete"]


class Pacer:
    """At most `per_minute` messages a minute, evenly spaced."""

    def __init__(
        self,
        per_minute: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise BadInput("the rate must be more than 0 messages a minute", field="rate")
        self.interval = 60.0 / per_minute
        self._clock, self._sleep = clock, sleep
        self._next: float | None = None

    def wait(self) -> None:
        now = self._clock()
        if self._next is not None and now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


@dataclass
class Progress:
    list_sha256: str
    message_sha256: str
    total: int
    next_index: int = 0
    sent: int = 0
    failed: int = 0
    runs: int = 0
    updated_at: str = ""

    @classmethod
    def load(cls, path: Path) -> Progress | None:
        if not path.exists():
            return None
        data = read_json(path, what="progress file")
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError:
            raise BadInput(
                f"progress file {path} is damaged; restart the mailing from the beginning",
                field="restart",
            ) from None

    def save(self, path: Path) -> None:
        self.updated_at = rfc3339(utcnow())
        write_json(path, asdict(self))


@dataclass
class BulkResult:
    status: BulkStatus
    total: int
    sent: int  # over all runs
    failed: int
    sent_this_run: int
    resumed_from: int
    attempts: int
    message_sha256: str
    errors: list[str] = field(default_factory=list)  # the first few, scrubbed
    first_message_id: str | None = None
    sent_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _append_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with disk_errors(path), path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _start(
    progress_path: Path, recipients: RecipientList, message: Message, restart: bool
) -> Progress:
    list_sha, total = recipients.fingerprint()
    if total == 0:
        raise BadInput(f"recipients file {recipients.path} holds no address")
    previous = None if restart else Progress.load(progress_path)
    if previous is None:
        return Progress(list_sha, message.sha256, total)
    if previous.list_sha256 != list_sha or previous.message_sha256 != message.sha256:
        raise BadInput(
            f"progress file {progress_path} belongs to another recipient list or message; "
            "restart the mailing to send it from the beginning",
            field="restart",
        )
    return previous


class _Session:
    """One SMTP connection reused for a batch, reopened after a transient failure."""

    def __init__(self, channel: SmtpChannel) -> None:
        self.channel = channel
        self.conn: smtplib.SMTP | None = None

    def send(self, message: Message, address: str) -> Accepted:
        if self.conn is None:
            self.conn = self.channel.connect()
        try:
            return self.channel.transmit(self.conn, message, [address])
        except TransientError:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            close(self.conn)
            self.conn = None


def send_bulk(
    channel: SmtpChannel,
    message: Message,
    recipients: RecipientList,
    progress_path: Path,
    deliveries_path: Path,
    *,
    batch_size: int = 100,
    pacer: Pacer | None = None,
    retry: RetryPolicy | None = None,
    restart: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> BulkResult:
    """Send `message` to every address, one mail each, resuming from the progress file;
    `on_progress(done, total)` after each address (done counts those of earlier runs too)."""
    if batch_size < 1:
        raise BadInput("a batch holds at least 1 mail", field="batch_size")
    retry = retry or RetryPolicy()
    pacer = pacer or Pacer(600)
    progress = _start(progress_path, recipients, message, restart)
    progress.runs += 1
    resumed_from, sent_before, attempts = progress.next_index, progress.sent, 0
    errors: list[str] = []
    first_id: str | None = None
    session = _Session(channel)
    secrets = list(channel.secrets())
    pending = itertools.islice(iter(recipients), progress.next_index, None)
    stopped = False
    try:
        while not stopped:
            batch = list(itertools.islice(pending, batch_size))
            if not batch:
                break
            rows: list[dict[str, Any]] = []
            try:
                for address in batch:
                    outcome, tries = _send_one(session, message, address, pacer, retry)
                    attempts += tries
                    row = {
                        "index": progress.next_index,
                        "recipient": address,
                        "at": rfc3339(utcnow()),
                    }
                    if isinstance(outcome, Accepted):
                        first_id = first_id or outcome.provider_message_id
                        rows.append(
                            {**row, "status": "sent", "message_id": outcome.provider_message_id}
                        )
                        progress.sent += 1
                    elif isinstance(outcome, PermanentError):
                        rows.append(
                            {**row, "status": "failed", "error": scrub(str(outcome), secrets)}
                        )
                        progress.failed += 1
                    else:  # transient trouble outlasted the retries: stop here, resume later
                        errors.append(scrub(str(outcome), secrets))
                        stopped = True
                        break
                    progress.next_index += 1
                    if on_progress is not None:
                        on_progress(progress.next_index, progress.total)
            finally:  # also on Ctrl-C: what was sent is logged, the next run starts after it
                _append_lines(deliveries_path, rows)
                progress.save(progress_path)
            errors.extend(r["error"] for r in rows if r["status"] == "failed")
    finally:
        session.close()
    return BulkResult(
        status=_status(progress),
        total=progress.total,
        sent=progress.sent,
        failed=progress.failed,
        sent_this_run=progress.sent - sent_before,
        resumed_from=resumed_from,
        attempts=attempts,
        message_sha256=message.sha256,
        errors=errors[:10],
        first_message_id=first_id,
        sent_at=rfc3339(utcnow()),
    )


def _status(progress: Progress) -> BulkStatus:
    """Sent only when every address took the mail; failed when none did (never counted sent)."""
    if progress.next_index < progress.total:
        return "incomplete"
    if progress.sent == 0:
        return "failed"
    return "partial" if progress.failed else "sent"


def _send_one(
    session: _Session, message: Message, address: str, pacer: Pacer, retry: RetryPolicy
) -> tuple[Accepted | Exception, int]:
    """(what happened, attempts made): Accepted, a PermanentError, or the last TransientError."""
    last: Exception = TransientError("not attempted")
    for attempt in range(1, retry.attempts + 1):
        pacer.wait()
        try:
            return session.send(message, address), attempt
        except PermanentError as exc:
            return exc, attempt
        except TransientError as exc:
            last = exc
            if attempt < retry.attempts:
                retry.sleep(retry.delay(attempt, exc.retry_after))
    return last, retry.attempts
