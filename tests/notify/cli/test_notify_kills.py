"""`breach notify send` mailing a list, killed (kill -9, core.faults) at 20 moments, then run
again, against a real SMTP server (aiosmtpd): every rerun completes, nobody gets the mail twice
(counted at the server), everybody else gets it once, and a recipient whose send was started and
never recorded is reported in doubt, not mailed again, until --resend-in-doubt."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from breach.case import Case
from core.timeutil import parse_rfc3339
from tests.kills import KILLS, kill_at, moments_of, spread
from tests.notify.conftest import SmtpServer

PEOPLE = [f"person{i}@example.org" for i in range(12)]


def mailing(root: Path, people: Path, smtp: SmtpServer) -> list[str]:
    return [
        "notify", "send", "--case", str(root), "--notice", "internal", "--channel", "smtp",
        "--recipients", str(people), "--set", "impact=the customer table", *smtp.args(),
        "--batch-size", "5", "--rate", "600000",
        "--retries", "1", "--backoff", "0", "--json",
    ]  # fmt: skip


def mailed(smtp: SmtpServer, since: int) -> Counter[str]:
    return Counter(rcpts[0] for rcpts, _ in smtp.box.messages[since:])


def test_killed_mailing_reruns_mailing_nobody_twice(
    breach: Any, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    people = tmp_path / "people.txt"
    people.write_text("".join(f"{p}\n" for p in PEOPLE))
    traced = Case.open("INC-TRACE", "P2", "trace", root=tmp_path / "trace")
    moments = spread(moments_of(tmp_path / "trace.txt", *mailing(traced.root, people, smtp_server)))
    assert len(moments) == KILLS
    assert {"notify.send.started#1", "notify.send.answered#1"} <= set(moments)
    for number, moment in enumerate(moments):
        before = len(smtp_server.box.messages)
        case = Case.open(f"INC-K{number}", "P2", "killed", root=tmp_path / f"case-{number}")
        args = mailing(case.root, people, smtp_server)
        kill_at(moment, *args)
        rerun = breach(*args)
        got = mailed(smtp_server, before)
        assert max(got.values()) == 1, (moment, got)  # nobody mailed twice
        rows = deliveries(case)
        sent = {r["recipient"] for r in rows if r["status"] == "sent"}
        doubted = {r["recipient"] for r in rows if r["status"] == "in-doubt"}
        assert len(rows) == len(PEOPLE) and sent | doubted == set(PEOPLE), moment
        assert sent <= set(got) and set(got) - sent <= doubted, moment  # every mail accounted
        assert (rerun.json["recipients"], rerun.json["recipients_in_doubt"]) == (
            len(sent),
            len(doubted),
        )
        if doubted:  # killed between handing a mail over and writing down the answer
            assert moment.startswith(("notify.send.started", "notify.send.answered")), moment
            assert rerun.exit_code == 1 and "in doubt" in rerun.stderr, moment
        else:
            assert rerun.exit_code == 0, (moment, rerun.stderr)
        assert Case.load(case.root).unfinished() == [], moment


def deliveries(case: Case) -> list[dict[str, Any]]:
    path = case.staging / "notices" / "internal-deliveries.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_in_doubt_is_resent_only_when_asked(
    breach: Any, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    people = tmp_path / "people.txt"
    people.write_text("".join(f"{p}\n" for p in PEOPLE[:4]))
    case = Case.open("INC-DOUBT", "P2", "in doubt", root=tmp_path / "case")
    args = mailing(case.root, people, smtp_server)
    kill_at("notify.send.answered#2", *args)  # the server took person1's mail; nothing recorded
    again = breach(*args)
    assert again.exit_code == 1 and "1 recipient(s) in doubt" in again.stderr
    assert again.json["status"] == "partial" and again.json["recipients"] == 3
    assert mailed(smtp_server, 0) == Counter(dict.fromkeys(PEOPLE[:4], 1))
    assert breach(*args).json["sent_this_run"] == 0  # asked again: still not resent
    resent = breach(*args, "--resend-in-doubt")
    assert resent.exit_code == 0 and resent.json["status"] == "sent", resent.stderr
    assert mailed(smtp_server, 0)[PEOPLE[1]] == 2  # sent again, because asked to
    assert resent.json["recipients"] == 4 and resent.json["recipients_in_doubt"] == 0


def test_a_single_message_killed_before_its_record_is_not_sent_again_unasked(
    breach: Any, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    case = Case.open("INC-ONE", "P2", "one message", root=tmp_path / "case")
    args = [
        "notify", "send", "--case", str(case.root), "--notice", "internal", "--channel", "smtp",
        "--to", "lead@example.org", "--set", "impact=the customer table", *smtp_server.args(),
        "--backoff", "0",
    ]  # fmt: skip
    kill_at("notify.sent#1", *args)  # handed over, never recorded
    refused = breach(*args)
    assert refused.exit_code == 1 and "may already have been sent" in refused.stderr
    assert "--resend-in-doubt" in refused.stderr and len(smtp_server.box.messages) == 1
    assert [i.what for i in Case.load(case.root).unfinished()] == ["notify.send"]
    resent = breach(*args, "--resend-in-doubt")
    assert resent.exit_code == 0, resent.stderr
    assert len(smtp_server.box.messages) == 2  # sent again, because asked to
    assert Case.load(case.root).unfinished() == []
    closed = [e for e in case.timeline() if e["result"] == "in-doubt"]
    assert closed and closed[0]["details"]["resent"] is True


def test_a_single_message_in_doubt_that_arrived_is_confirmed_not_sent_again(
    breach: Any, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """The recipient says the mail of the killed run arrived: --confirm-sent records it as sent
    by that run, when it ran (the clocks count it then), and sends nothing."""
    case = Case.open("INC-CONFIRM", "P2", "one message", root=tmp_path / "case")
    args = [
        "notify", "send", "--case", str(case.root), "--notice", "internal", "--channel", "smtp",
        "--to", "lead@example.org", "--set", "impact=the customer table", *smtp_server.args(),
        "--backoff", "0", "--obligation", "escalation:on-call",
    ]  # fmt: skip
    nothing = breach(*args, "--confirm-sent")
    assert nothing.exit_code == 2 and "nothing to confirm" in nothing.stderr
    kill_at("notify.sent#1", *args)  # handed over, never recorded
    [killed] = Case.load(case.root).unfinished()
    refused = breach(*args)
    assert refused.exit_code == 1 and "--confirm-sent if it arrived" in refused.stderr
    confirmed = breach(*args, "--confirm-sent")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert f"as sent by run {killed.run}" in confirmed.stdout
    assert "confirmed by the recipient; nothing sent now" in confirmed.stdout
    assert len(smtp_server.box.messages) == 1  # the killed run's mail only
    [path] = (case.root / "receipts").glob("notification-*-internal-smtp-*.json")
    receipt = json.loads(path.read_text())
    assert (receipt["status"], receipt["run"], receipt["attempts"]) == ("sent", killed.run, 0)
    assert parse_rfc3339(receipt["sent_at"]) == parse_rfc3339(killed.at)  # when it went
    assert "confirmed by the recipient" in receipt["provider_response"]
    assert Case.load(case.root).unfinished() == []  # the killed run's intent is closed
    due = breach("notify", "due", "--case", str(case.root), "--json")
    [on_call] = [o for o in due.json["obligations"] if o["id"] == "escalation:on-call"]
    assert on_call["state"] == "sent"  # the clock counts it met, when the killed run sent it
    assert parse_rfc3339(on_call["sent_at"]) == parse_rfc3339(killed.at)
    again = breach(*args, "--confirm-sent")
    assert again.exit_code == 2 and "nothing to confirm" in again.stderr
