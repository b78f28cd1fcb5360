"""Mail one notice to a long list under a rate limit, in batches, resuming where it stopped.

After each batch (and when interrupted) the run appends what happened to a deliveries log (one
JSON line per address) and then rewrites the progress file atomically; the next run starts at
`next_index`. Per address, the sent log (notify.sentlog) is written before and after each send,
fsynced: a run killed mid-batch leaves its sends there, and the next run records them as that
run's (deliveries rows marked `recovered`) instead of mailing again. An address whose send was
started and never recorded is in doubt: reported, not resent unless `resend_in_doubt`. A
transient failure that outlasts the retries stops the run (the rest would fail the same way); a
refused address is recorded as failed and the run goes on.
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
from core.faults import point
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
from notify.sentlog import FINAL, Entry, SentLog

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
    in_doubt: int = 0
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
    in_doubt: int = 0  # sends started and never recorded: the server may have the mail
    recovered: dict[str, int] = field(default_factory=dict)  # interrupted run -> its sends found

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
    run: str = "",
    resend_in_doubt: bool = False,
) -> BulkResult:
    """Send `message` to every address, one mail each, resuming from the progress file and the
    sent log; `on_progress(done, total)` after each address (done counts earlier runs too)."""
    if batch_size < 1:
        raise BadInput("a batch holds at least 1 mail", field="batch_size")
    log = SentLog(sent_log_of(progress_path), run)
    if restart:
        log.set_aside()
    mailing = _Mailing(channel, message, retry or RetryPolicy(), pacer or Pacer(600), log)
    progress = _start(progress_path, recipients, message, restart)
    progress.runs += 1
    resumed_from, sent_before = progress.next_index, progress.sent
    mailing.known = mailing.log.entries()
    again = mailing.reported_in_doubt(recipients, progress) if resend_in_doubt else []
    rest = itertools.islice(enumerate(recipients), progress.next_index, None)
    pending = itertools.chain(again, rest)
    try:
        while not mailing.stopped:
            batch = list(itertools.islice(pending, batch_size))
            if not batch:
                break
            rows: list[dict[str, Any]] = []
            try:
                for index, address in batch:
                    row = mailing.one(index, address, progress)
                    if row is None:  # transient trouble outlasted the retries: resume later
                        break
                    rows.append(row)
                    progress.next_index = max(progress.next_index, index + 1)
                    if on_progress is not None:
                        on_progress(progress.next_index, progress.total)
            finally:  # also on Ctrl-C: what was sent is logged, the next run starts after it
                _append_lines(deliveries_path, rows)
                progress.save(progress_path)
                point("notify.batch.saved")
            mailing.errors.extend(r["error"] for r in rows if r["status"] == "failed")
    finally:
        mailing.session.close()
    return mailing.result(progress, resumed_from, sent_before)


def sent_log_of(progress_path: Path) -> Path:
    return progress_path.with_name(progress_path.stem + ".sent.jsonl")


IN_DOUBT = (
    "{n} recipient(s) in doubt: a send was started and never recorded (the server may have"
    " taken the mail); not resent: pass --resend-in-doubt to mail them again"
)


class _Mailing:
    """One run of a mailing: the SMTP session, the sent log, and what this run found."""

    def __init__(
        self,
        channel: SmtpChannel,
        message: Message,
        retry: RetryPolicy,
        pacer: Pacer,
        log: SentLog,
    ) -> None:
        self.session = _Session(channel)
        self.message, self.retry, self.pacer, self.log = message, retry, pacer, log
        self.secrets = list(channel.secrets())
        self.known: dict[int, Entry] = {}
        self.errors: list[str] = []
        self.recovered: dict[str, int] = {}
        self.recovered_sent = 0
        self.attempts = 0
        self.first_id: str | None = None
        self.stopped = False

    def reported_in_doubt(
        self, recipients: RecipientList, progress: Progress
    ) -> list[tuple[int, str]]:
        """With --resend-in-doubt: the addresses reported in doubt by an earlier run, again."""
        doubted = {i for i, e in self.known.items() if e.in_doubt and i < progress.next_index}
        progress.in_doubt -= len(doubted)
        for index in doubted:
            del self.known[index]
        return [(i, a) for i, a in enumerate(recipients) if i in doubted]

    def one(self, index: int, address: str, progress: Progress) -> dict[str, Any] | None:
        """Recover what an interrupted run did for this address, or send it: its deliveries row;
        None when the run must stop (transient trouble)."""
        row = {"index": index, "recipient": address, "at": rfc3339(utcnow())}
        earlier = self.known.get(index)
        if earlier is not None and (earlier.state in FINAL or earlier.in_doubt):
            return self._recovered(row, earlier, progress)

        def started() -> None:  # after the rate limit's wait, right before the mail goes
            self.log.record(index, address, "sending")
            point("notify.send.started")

        outcome, tries = _send_one(
            self.session, self.message, address, self.pacer, self.retry, started
        )
        point("notify.send.answered")
        self.attempts += tries
        if isinstance(outcome, Accepted):
            self.log.record(index, address, "sent", outcome.provider_message_id)
            point("notify.send.recorded")
            self.first_id = self.first_id or outcome.provider_message_id
            progress.sent += 1
            return {**row, "status": "sent", "message_id": outcome.provider_message_id}
        if isinstance(outcome, PermanentError):
            self.log.record(index, address, "failed")
            progress.failed += 1
            return {**row, "status": "failed", "error": scrub(str(outcome), self.secrets)}
        self.log.record(index, address, "deferred")
        self.errors.append(scrub(str(outcome), self.secrets))
        self.stopped = True
        return None

    def _recovered(self, row: dict[str, Any], earlier: Entry, progress: Progress) -> dict[str, Any]:
        """An interrupted run's send, recorded as that run's (never sent again)."""
        self.recovered[earlier.run] = self.recovered.get(earlier.run, 0) + 1
        found = {**row, "at": earlier.at, "run": earlier.run, "recovered": True}
        if earlier.in_doubt:
            progress.in_doubt += 1
            return {**found, "status": "in-doubt"}
        if earlier.state == "sent":
            progress.sent += 1
            self.recovered_sent += 1
            return {**found, "status": "sent", "message_id": earlier.message_id}
        progress.failed += 1
        return {**found, "status": "failed", "error": "refused (recorded by the interrupted run)"}

    def result(self, progress: Progress, resumed_from: int, sent_before: int) -> BulkResult:
        errors = self.errors + ([IN_DOUBT.format(n=progress.in_doubt)] if progress.in_doubt else [])
        return BulkResult(
            status=_status(progress),
            total=progress.total,
            sent=progress.sent,
            failed=progress.failed,
            sent_this_run=progress.sent - sent_before - self.recovered_sent,
            resumed_from=resumed_from,
            attempts=self.attempts,
            message_sha256=self.message.sha256,
            errors=errors[:10],
            first_message_id=self.first_id,
            sent_at=rfc3339(utcnow()),
            in_doubt=progress.in_doubt,
            recovered=dict(self.recovered),
        )


def _status(progress: Progress) -> BulkStatus:
    """Sent only when every address took the mail; failed when none did (never counted sent)."""
    if progress.next_index < progress.total:
        return "incomplete"
    if progress.sent == 0 and not progress.in_doubt:
        return "failed"
    return "partial" if progress.failed or progress.in_doubt else "sent"


def _send_one(
    session: _Session,
    message: Message,
    address: str,
    pacer: Pacer,
    retry: RetryPolicy,
    started: Callable[[], None],
) -> tuple[Accepted | Exception, int]:
    """(what happened, attempts made): Accepted, a PermanentError, or the last TransientError;
    `started()` just before each attempt hands the mail over."""
    last: Exception = TransientError("not attempted")
    for attempt in range(1, retry.attempts + 1):
        pacer.wait()
        started()
        try:
            return session.send(message, address), attempt
        except PermanentError as exc:
            return exc, attempt
        except TransientError as exc:
            last = exc
            if attempt < retry.attempts:
                retry.sleep(retry.delay(attempt, exc.retry_after))
    return last, retry.attempts
