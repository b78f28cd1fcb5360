"""Bulk notice mail: batched SMTP sessions vs one session per mail, on a local aiosmtpd server.

Both runs send the same notice to the same N addresses (a Parquet list, as the scope step
writes it) through notify.bulk.send_bulk with its progress file and deliveries log; the only
difference is --batch-size. Prints mails/s for each and the ratio (>1: batching is faster).
"""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from notify.bulk import Pacer, send_bulk
from notify.channels.interface import Message, RetryPolicy
from notify.channels.smtp import SmtpChannel, SmtpSettings
from notify.recipients import RecipientList

RECIPIENTS = 2000


class _Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.count += 1
        return "250 OK"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(channel: SmtpChannel, people: RecipientList, work: Path, batch: int) -> float:
    message = Message("Important information about your data", "We are writing to tell you...\n")
    started = time.perf_counter()
    result = send_bulk(
        channel,
        message,
        people,
        work / f"progress-{batch}.json",
        work / f"deliveries-{batch}.jsonl",
        batch_size=batch,
        pacer=Pacer(10_000_000),
        retry=RetryPolicy(attempts=2, backoff=0),
    )
    elapsed = time.perf_counter() - started
    if result.status != "sent" or result.sent != RECIPIENTS:
        raise SystemExit(f"bulk run failed: {result}")
    return elapsed


def main() -> None:
    from aiosmtpd.controller import Controller

    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_port())
    controller.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            emails = [f"person{i}@example.org" for i in range(RECIPIENTS)]
            pq.write_table(
                pa.table({"user_id": range(RECIPIENTS), "email": emails}), work / "u.parquet"
            )
            people = RecipientList(work / "u.parquet")
            channel = SmtpChannel(
                SmtpSettings(
                    host="127.0.0.1", port=controller.port, sender="ir@example.com", security="none"
                )
            )
            per_mail = _run(channel, people, work, batch=1)
            batched = _run(channel, people, work, batch=100)
    finally:
        controller.stop()
    print(f"{RECIPIENTS} mails, aiosmtpd on 127.0.0.1, received {sink.count}")
    print(f"  one session per mail : {per_mail:6.2f} s  ({RECIPIENTS / per_mail:7.0f} mails/s)")
    print(f"  batches of 100       : {batched:6.2f} s  ({RECIPIENTS / batched:7.0f} mails/s)")
    print(f"batching speed-up: {per_mail / batched:.2f}x")
