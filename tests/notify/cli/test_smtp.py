"""SMTP against a real aiosmtpd server on 127.0.0.1: what it received, and what was recorded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from breach.case import Case
from tests.notify.conftest import (
    SMTP_PASSWORD,
    SmtpServer,
    all_records_text,
    receipts_of,
    write_affected_users,
)

ART33_VALUES = (
    "--set",
    "subject_categories=customers",
    "--set",
    "consequences=phishing risk for the customers concerned",
)


def test_regulator_notice_goes_over_starttls_with_auth_and_is_recorded(
    breach, breach_case: Case, smtp_tls_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREACH_SMTP_PASSWORD", SMTP_PASSWORD)
    result = breach(
        "notify", "send", "--case", breach_case.root, "--notice", "gdpr-art33",
        "--channel", "smtp", "--to", "breach@dpa.example", *ART33_VALUES,
        *smtp_tls_server.args(), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    box = smtp_tls_server.box
    assert box.logins == ["notifier"] and box.tls_sessions == 1
    [(rcpts, mail)] = box.messages
    assert rcpts == ["breach@dpa.example"]
    assert mail["From"] == "ir@example.com" and "GDPR Art. 33" in mail["Subject"]
    body = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Approximate number of data subjects: 3" in body
    assert "Approximate number of personal data records: 1500" in body
    # kinds of data from the touched tables' columns; the tables themselves in the annex
    assert "Categories of personal data: contact details, credentials, names, payment data" in body
    assert "- public.customers: id, email (contact details), full_name (names)," in body
    assert "- Revoked 41 sessions of svc-reporting" in body
    assert "On postgresql://127.0.0.1/app:" in body  # measures grouped by system
    html = mail.get_body(("html",)).get_content()
    assert "<li>Revoked 41 sessions of svc-reporting</li>" in html
    assert "phishing risk" in body and "[[FILL IN" not in body

    [receipt] = receipts_of(breach_case, "notification")
    assert receipt["status"] == "sent" and receipt["channel"] == "smtp"
    assert receipt["recipients"] == 1 and receipt["attempts"] == 1
    assert receipt["obligation"] == "gdpr-art33"
    assert receipt["provider_message_id"] == mail["Message-ID"]
    assert "queued as Q0001" in receipt["provider_response"]
    staged_text = (breach_case.staging / "notices").glob("notification-*.txt")
    [text_file] = list(staged_text)
    assert hashlib.sha256(text_file.read_bytes()).hexdigest() == receipt["message_sha256"]
    [staged] = [
        p
        for p in (breach_case.staging / "receipts").glob("notification-*.json")
        if not p.name.endswith(".meta.json")
    ]
    assert json.loads(staged.read_text()) == receipt
    entry = [e for e in breach_case.timeline() if e["what"] == "notify.send"][-1]
    assert (
        entry["result"] == "ok" and entry["details"]["message_sha256"] == receipt["message_sha256"]
    )
    assert SMTP_PASSWORD not in all_records_text(breach_case)

    due = breach("notify", "due", "--case", breach_case.root, "--json").json
    states = {row["id"]: row["state"] for row in due["obligations"]}
    assert states["gdpr-art33"] == "sent" and states["gdpr-art34"] == "due"


def test_smtp_5xx_is_retried_with_backoff_then_recorded_failed_never_sent(
    breach, breach_case: Case, smtp_server: SmtpServer
) -> None:
    smtp_server.box.data_replies = ["554 5.7.1 message rejected"] * 3
    result = breach(
        "notify", "send", "--case", breach_case.root, "--notice", "gdpr-art33",
        "--channel", "smtp", "--to", "breach@dpa.example", *ART33_VALUES,
        *smtp_server.args(), "--retries", "3", "--backoff", "0.01",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "554" in result.stderr
    assert smtp_server.box.data_calls == 3 and smtp_server.box.messages == []
    [receipt] = receipts_of(breach_case, "notification")
    assert receipt["status"] == "failed" and receipt["recipients"] == 0
    assert receipt["sent_at"] is None and receipt["attempts"] == 3
    assert len(receipt["errors"]) == 3
    entry = [e for e in breach_case.timeline() if e["what"] == "notify.send"][-1]
    assert entry["result"] == "failed"
    due = breach("notify", "due", "--case", breach_case.root, "--json").json
    assert {r["id"]: r["state"] for r in due["obligations"]}["gdpr-art33"] == "due"


def test_wrong_password_is_not_retried_and_never_recorded(
    breach, breach_case: Case, smtp_tls_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREACH_SMTP_PASSWORD", "wrong-password-xyz")
    result = breach(
        "notify", "send", "--case", breach_case.root, "--notice", "gdpr-art33",
        "--channel", "smtp", "--to", "breach@dpa.example", *ART33_VALUES,
        *smtp_tls_server.args(), "--backoff", "0",
    )  # fmt: skip
    assert result.exit_code == 1 and "login as notifier refused" in result.stderr
    [receipt] = receipts_of(breach_case, "notification")
    assert receipt["status"] == "failed" and receipt["attempts"] == 1
    assert "wrong-password-xyz" not in all_records_text(breach_case)


def test_bulk_mail_to_affected_users_stops_on_trouble_and_resumes(
    breach, tmp_path: Path, breach_case: Case, smtp_server: SmtpServer
) -> None:
    emails = [f"person{i}@example.org" for i in range(1, 8)]
    emails.insert(3, "PERSON2@example.org")  # a duplicate is mailed once
    assert breach_case.record.scope is not None
    wider = breach_case.record.scope.model_copy(
        update={
            "affected_users": 7,
            "affected_users_artifact": write_affected_users(breach_case, emails),
        }
    )
    breach_case.update("wider scope", scope=wider)
    values = ("--set", "plain_nature=x", "--set", "consequences=y", "--set", "advice=z")
    args = (
        "notify", "send", "--case", breach_case.root, "--notice", "gdpr-art34",
        "--channel", "smtp", "--affected-users", *values, *smtp_server.args(),
        "--batch-size", "2", "--rate", "60000", "--retries", "3", "--backoff", "0", "--json",
    )  # fmt: skip
    box = smtp_server.box
    box.data_replies = ["", "", "", "421 4.3.2 try again later", "421 4.3.2 later", "421 4.3.2"]
    first = breach(*args)
    assert first.exit_code == 1 and "incomplete" in first.stderr
    assert first.json["status"] == "incomplete" and first.json["recipients"] == 3
    progress = json.loads((breach_case.root / "notify/progress/gdpr-art34-smtp.json").read_text())
    assert progress["next_index"] == 3 and progress["total"] == 7

    box.refuse = {"person6@example.org"}
    second = breach(*args)
    assert second.exit_code == 1 and second.json["status"] == "partial"
    assert second.json["resumed_from"] == 3 and second.json["sent_this_run"] == 3
    delivered = [rcpts[0] for rcpts, _ in box.messages]
    assert sorted(delivered) == sorted(set(e.lower() for e in emails) - {"person6@example.org"})
    assert len(delivered) == len(set(delivered)) == 6  # nobody mailed twice
    receipt = receipts_of(breach_case, "notification")[-1]
    assert receipt["recipients"] == 6 and receipt["recipients_failed"] == 1
    log = (breach_case.staging / "notices/gdpr-art34-deliveries.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in log]
    assert [r["index"] for r in rows] == list(range(7))
    assert [r["status"] for r in rows].count("failed") == 1

    third = breach(*args)  # nothing left: no mail goes out again
    assert len(box.messages) == 6 and third.json["sent_this_run"] == 0


def test_bulk_progress_of_another_message_is_not_silently_reused(
    breach, breach_case: Case, smtp_server: SmtpServer
) -> None:
    base = (
        "notify", "send", "--case", breach_case.root, "--notice", "gdpr-art34",
        "--channel", "smtp", "--affected-users", *smtp_server.args(), "--rate", "60000",
        "--set", "plain_nature=x", "--set", "advice=z",
    )  # fmt: skip
    assert breach(*base, "--set", "consequences=one").exit_code == 0
    changed = breach(*base, "--set", "consequences=two")
    assert changed.exit_code == 2 and "--restart" in changed.stderr
    assert breach(*base, "--set", "consequences=two", "--restart").exit_code == 0
    assert len(smtp_server.box.messages) == 6


def test_unfilled_notice_is_refused_before_anything_is_sent(
    breach, breach_case: Case, smtp_server: SmtpServer
) -> None:
    result = breach(
        "notify", "send", "--case", breach_case.root, "--notice", "gdpr-art33",
        "--channel", "smtp", "--to", "dpa@example.org", *smtp_server.args(),
    )  # fmt: skip
    assert result.exit_code == 2 and "to fill in" in result.stderr
    assert smtp_server.box.data_calls == 0 and receipts_of(breach_case, "notification") == []


def test_starttls_required_but_not_offered_is_refused_and_recorded(
    breach, breach_case: Case, smtp_server: SmtpServer
) -> None:
    args = [a if a != "none" else "starttls" for a in smtp_server.args()]
    result = breach(
        "notify", "send", "--case", breach_case.root, "--notice", "internal",
        "--channel", "smtp", "--to", "oncall@example.org", *args,
    )  # fmt: skip
    assert result.exit_code == 1 and "does not offer STARTTLS" in result.stderr
    assert smtp_server.box.data_calls == 0
    assert receipts_of(breach_case, "notification")[0]["status"] == "failed"


def test_mail_options_that_would_misdirect_or_leak_are_refused(
    breach, breach_case: Case, smtp_server: SmtpServer
) -> None:
    base = (
        "notify",
        "send",
        "--case",
        breach_case.root,
        "--notice",
        "internal",
        "--channel",
        "smtp",
    )
    bad_to = breach(*base, "--to", "oncall@example.org\nBcc: x@evil.example", *smtp_server.args())
    assert bad_to.exit_code == 2 and "is not a mail address" in bad_to.stderr
    both = breach(*base, "--to", "a@example.org", "--affected-users", *smtp_server.args())
    assert both.exit_code == 2 and "either" in both.stderr and "--to" in both.stderr
    clear = breach(*base, "--to", "a@example.org", *smtp_server.args(), "--smtp-user", "u")
    assert clear.exit_code == 2 and "in clear" in clear.stderr
    assert smtp_server.box.data_calls == 0 and receipts_of(breach_case, "notification") == []
    dry = breach(*base, "--affected-users", *smtp_server.args(), "--dry-run", "--json",
                 "--set", "status=x")  # fmt: skip
    assert dry.exit_code == 0 and dry.json["recipients"] == 3


def test_recipient_lists_from_csv_and_their_mistakes(
    breach, tmp_path: Path, breach_case: Case
) -> None:
    from notify.recipients import RecipientList

    good = tmp_path / "people.csv"
    good.write_text("user_id,email\n1,a@example.org\n2,A@example.org\n3,b@example.org\n")
    assert list(RecipientList(good)) == ["a@example.org", "b@example.org"]
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,mail\n1,a@example.org\n")
    result = breach(
        "notify", "send", "--case", breach_case.root, "--notice", "internal", "--channel", "smtp",
        "--recipients", bad, "--smtp-host", "127.0.0.1", "--from", "ir@example.com", "--dry-run",
    )  # fmt: skip
    assert (
        result.exit_code == 2 and "no column 'email'" in result.stderr and str(bad) in result.stderr
    )


def test_a_list_that_nobody_accepts_is_failed_and_an_empty_or_unreadable_one_refused(
    breach, tmp_path: Path, breach_case: Case, smtp_server: SmtpServer
) -> None:
    def send(listing: Path) -> object:
        return breach(
            "notify", "send", "--case", breach_case.root, "--notice", "internal",
            "--channel", "smtp", "--recipients", listing, *smtp_server.args(),
            "--obligation", "escalation:cto", "--rate", "60000", "--backoff", "0", "--json",
        )  # fmt: skip

    refused = tmp_path / "refused.txt"
    refused.write_text("gone1@example.org\ngone2@example.org\n")
    smtp_server.box.refuse = {"gone1@example.org", "gone2@example.org"}
    result = send(refused)
    assert result.exit_code == 1 and result.json["status"] == "failed"  # type: ignore[attr-defined]
    [receipt] = receipts_of(breach_case, "notification")
    assert (receipt["status"], receipt["recipients"], receipt["sent_at"]) == ("failed", 0, None)
    assert receipt["recipients_failed"] == 2 and smtp_server.box.messages == []
    due = breach("notify", "due", "--case", breach_case.root, "--json").json["obligations"]
    assert next(r for r in due if r["id"] == "escalation:cto")["state"] != "sent"

    empty = tmp_path / "empty.txt"
    empty.write_text("# nobody\n\n")
    unreadable = tmp_path / "latin1.txt"
    unreadable.write_bytes("m\xfcller@example.org\n".encode("latin-1"))
    for listing, expected in ((empty, "holds no address"), (unreadable, "not UTF-8")):
        result = send(listing)
        line = result.stderr.strip()  # type: ignore[attr-defined]
        assert result.exit_code == 2 and expected in line and str(listing) in line  # type: ignore[attr-defined]
        assert "\n" not in line
    assert len(receipts_of(breach_case, "notification")) == 1  # refusals leave no record


def test_one_refused_address_among_several_is_partial_not_sent(
    breach, breach_case: Case, smtp_server: SmtpServer
) -> None:
    smtp_server.box.refuse = {"gone@example.org"}
    result = breach(
        "notify", "send", "--case", breach_case.root, "--notice", "internal", "--channel", "smtp",
        "--to", "lead@example.org", "--to", "gone@example.org", *smtp_server.args(), "--json",
    )  # fmt: skip
    assert result.exit_code == 1 and "refused 1 of 2 recipients" in result.stderr
    [(rcpts, _)] = smtp_server.box.messages
    assert rcpts == ["lead@example.org"]
    [receipt] = receipts_of(breach_case, "notification")
    assert receipt["status"] == "partial" and receipt["attempts"] == 1
    assert (receipt["recipients"], receipt["recipients_intended"]) == (1, 2)
    intent, entry = [e for e in breach_case.timeline() if e["what"] == "notify.send"]
    assert intent["result"] == "intent" and entry["details"]["run"] == intent["details"]["run"]
    assert entry["result"] == "partial"
