"""Bulk notice mail: batched SMTP sessions vs one session per mail, on a local aiosmtpd server.

Both runs send the same notice to the same N addresses (a Parquet list, as the scope step
writes it) through notify.bulk.send_bulk with its progress file and deliveries log; the only
difference is --batch-size. Prints mails/s for each and the ratio (>1: batching is faster).
Then the same mailing as a user runs it, the whole `breach notify send --recipients` process
(start-up, the case, rendering, receipt and journal included), in batches of 100.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import venv_script
from breach.case import Case
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


def _run_command(work: Path, port: int) -> float:
    """`breach notify send` to the list, as a user types it: one whole process, timed."""
    case = Case.open("INC-BENCH", "P2", "bench", root=work / "case")
    cmd = [
        venv_script("breach"), "notify", "send", "--case", str(case.root), "--notice", "internal",
        "--set", "impact=bench", "--channel", "smtp", "--recipients", str(work / "u.parquet"),
        "--smtp-host", "127.0.0.1", "--smtp-port", str(port), "--smtp-security", "none",
        "--from", "ir@example.com", "--batch-size", "100", "--rate", "10000000",
        "--retries", "2", "--backoff", "0", "--json",
    ]  # fmt: skip
    env = {**os.environ, "BREACH_OPERATOR": "bench"}
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or f'"recipients": {RECIPIENTS}' not in proc.stdout:
        raise SystemExit(f"breach notify send failed: {proc.stderr.strip()}")
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
            command = _run_command(work, controller.port)
    finally:
        controller.stop()
    print(f"{RECIPIENTS} mails, aiosmtpd on 127.0.0.1, received {sink.count}")
    print(f"  one session per mail : {per_mail:6.2f} s  ({RECIPIENTS / per_mail:7.0f} mails/s)")
    print(f"  batches of 100       : {batched:6.2f} s  ({RECIPIENTS / batched:7.0f} mails/s)")
    print(f"  breach notify send   : {command:6.2f} s  ({RECIPIENTS / command:7.0f} mails/s)")
    print(f"batching speed-up: {per_mail / batched:.2f}x")
    print(f"the whole command over the library call: +{command - batched:.2f} s")
