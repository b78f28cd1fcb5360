"""SMTP against a real aiosmtpd server on 127.0.0.1: what it received, and what was recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from notify.bulk import Pacer
from tests.notify.conftest import (
    SmtpServer,
)


def test_pacer_spaces_messages_to_the_rate() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(120, clock=lambda: now[0], sleep=sleep)  # one every 0.5 s
    for _ in range(4):
        pacer.wait()
    now[0] += 2.0  # idle time is not made up for later
    pacer.wait()
    assert slept == [0.5, 0.5, 0.5]


def test_an_interrupted_bulk_run_keeps_its_place(tmp_path: Path, smtp_server: SmtpServer) -> None:
    from notify.bulk import send_bulk
    from notify.channels.interface import Message, RetryPolicy
    from notify.channels.smtp import SmtpChannel, SmtpSettings
    from notify.recipients import RecipientList

    people = tmp_path / "people.txt"
    people.write_text("# affected\n" + "".join(f"p{i}@example.org\n" for i in range(5)))
    channel = SmtpChannel(
        SmtpSettings(
            host="127.0.0.1", port=smtp_server.port, sender="ir@example.com", security="none"
        )
    )
    calls = [0]

    def clock() -> float:
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return 0.0

    args = (
        channel,
        Message("s", "b"),
        RecipientList(people),
        tmp_path / "p.json",
        tmp_path / "d.jsonl",
    )
    with pytest.raises(KeyboardInterrupt):
        send_bulk(*args, batch_size=10, pacer=Pacer(1e9, clock=clock), retry=RetryPolicy(backoff=0))
    assert json.loads((tmp_path / "p.json").read_text())["next_index"] == 2
    assert len((tmp_path / "d.jsonl").read_text().splitlines()) == 2
    result = send_bulk(*args, batch_size=10, pacer=Pacer(1e9), retry=RetryPolicy(backoff=0))
    assert result.status == "sent" and result.resumed_from == 2 and result.sent == 5
    assert sorted(r[0][0] for r in smtp_server.box.messages) == [
        f"p{i}@example.org" for i in range(5)
    ]
