"""A whole case through the real commands: open, export and scope on PostgreSQL, revoke sessions,
clocks, drafts, an SNS send through moto's server, mail to the affected users, decisions, the post-mortem and closing.

The notices and the post-mortem must carry the numbers the evidence and containment steps
actually wrote (not a hand-made case.json), and the record of each send must prove it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from breach.case import Case
from core.timeutil import rfc3339, utcnow
from tests.notify.conftest import ORG_POLICY, SmtpServer, receipts_of, write_containment

pytestmark = [pytest.mark.pg, pytest.mark.aws]

SETUP = """
create table audit_log(id serial primary key, at timestamptz not null, actor text,
    source_ip inet, action text, table_name text, record_id text, target_user_id text);
create table users(id text primary key, email text, password_hash text);
insert into users select 'u'||g, 'user'||g||'@example.com', 'x' from generate_series(1, 50) g;
-- 120 events an hour before awareness; every third is the leaked key's, on 40 distinct users
insert into audit_log(at, actor, source_ip, action, table_name, record_id, target_user_id)
select %(start)s::timestamptz + g * interval '10 seconds',
       case when g %% 3 = 0 then 'svc-leaked' else 'alice' end,
       case when g %% 3 = 0 then '203.0.113.7'::inet else '10.0.0.5'::inet end,
       case when g %% 2 = 0 then 'SELECT' else 'UPDATE' end,
       'users', 'u' || (g %% 40 + 1), 'u' || (g %% 40 + 1)
from generate_series(1, 120) g;
create table sessions(user_id text, token text, expires_at timestamptz);
insert into sessions select 'svc-leaked', md5(g::text), now() + interval '1 day'
from generate_series(1, 7) g;
insert into sessions select 'alice', md5(g::text), now() + interval '1 day'
from generate_series(1, 3) g;
"""


def _ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result


def _topic_with_queue(endpoint: str) -> tuple[str, str]:
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=endpoint)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
    topic = sns.create_topic(Name="ir-oncall")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="ir-oncall-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    return topic, queue_url


def _build_case(breach: Any, pg_dsn: str, tmp_path: Path) -> Case:
    """The case as the other steps leave it: real export, scope and containment receipt."""
    aware = utcnow() - timedelta(minutes=90)
    start = aware - timedelta(hours=1)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(SETUP.replace("%(start)s", f"'{rfc3339(start)}'").replace("%%", "%"))
    root = tmp_path / "INC-E2E"
    _ok(breach(
        "incident", "open", "--id", "INC-E2E", "--severity", "P2", "--title", "API key leaked",
        "--aware-at", rfc3339(aware), "--case-dir", root, "--policy", ORG_POLICY,
    ))  # fmt: skip
    window = ("--since", rfc3339(start - timedelta(minutes=5)), "--until", rfc3339(aware))
    _ok(breach(
        "evidence", "export-audit", "--case", root, "--dsn", pg_dsn, "--table",
        "public.audit_log", "--time-column", "at", *window,
    ))  # fmt: skip
    _ok(breach("evidence", "snapshot", "--case", root, "--dsn", pg_dsn, "--table", "public.users"))
    _ok(breach("scope", "--case", root, "--actor", "svc-leaked", "--ip", "203.0.113.7/32"))
    _ok(breach(
        "contain", "revoke-sessions", "--case", root, "--adapter", "postgres", "--dsn", pg_dsn,
        "--target", "svc-leaked", "--reason", "leaked key",
    ))  # fmt: skip
    return Case.load(root)


def _states(breach: Any, case: Case) -> tuple[int, dict[str, str]]:
    result = breach("notify", "due", "--case", case.root, "--json")
    return result.exit_code, {row["id"]: row["state"] for row in result.json["obligations"]}


def test_a_real_case_from_open_to_close(
    breach: Any, pg_dsn: str, moto_endpoint: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    case = _build_case(breach, pg_dsn, tmp_path)
    scope = case.record.model_dump(mode="json")["scope"]
    assert (scope["affected_users"], scope["records_touched"]) == (40, 40)
    [containment] = receipts_of(case, "containment")
    assert containment["summary"] == "revoked 7 sessions of 1 user"

    # Clocks: P2 on-call (1h) is past, team lead (2h) not yet; the scope makes it a personal-data breach (GDPR 72h).
    code, states = _states(breach, case)
    assert code == 1
    assert states["escalation:on-call"] == "overdue" and states["escalation:team-lead"] == "due"
    assert states["gdpr-art33"] == "due" and states["gdpr-art34"] == "due"

    # Drafts carry the scope's counts and the containment receipt's measure.
    _ok(breach("notify", "draft", "--case", case.root))
    drafts = case.root / "notify" / "drafts"
    internal = (drafts / "internal.md").read_text()
    assert "**Impact**: 40 affected users; 40 records touched; tables users" in internal
    assert "- revoked 7 sessions of 1 user" in internal
    art33 = (drafts / "gdpr-art33.md").read_text()
    assert "Approximate number of data subjects: 40" in art33
    assert "Approximate number of personal data records: 40" in art33
    system = receipts_of(case, "containment")[0]["system"]
    assert f"(Art. 33(3)(d))\nOn {system}:\n- revoked 7 sessions of 1 user\n" in art33
    art34 = (drafts / "gdpr-art34.md").read_text()  # in plain words for the people affected
    assert "- We signed out every affected account" in art34 and "revoked 7" not in art34

    # The internal update to on-call and team lead through SNS (moto's server).
    topic, queue_url = _topic_with_queue(moto_endpoint)
    sent = _ok(breach(
        "notify", "send", "--case", case.root, "--notice", "internal", "--channel", "sns",
        "--topic-arn", topic, "--endpoint-url", moto_endpoint, "--region", "us-east-1",
        "--obligation", "escalation:on-call", "--obligation", "escalation:team-lead", "--json",
    ))  # fmt: skip
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_endpoint)
    [received] = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(received["Body"])
    assert envelope["Subject"] == "[P2] INC-E2E: API key leaked (Investigating)"
    assert "40 affected users" in envelope["Message"]
    receipt_path = Path(sent.json["receipt"])
    receipt = json.loads(receipt_path.read_text())
    assert receipt["status"] == "sent" and receipt["channel"] == "sns"
    assert receipt["recipients"] == 1 and receipt["destination"] == topic
    assert receipt["provider_message_id"] == envelope["MessageId"]
    assert receipt["obligations"] == ["escalation:on-call", "escalation:team-lead"]
    assert receipt["sent_at"] and receipt["sent_at"] <= rfc3339(utcnow())
    staged_text = case.staging / "notices" / receipt_path.with_suffix(".txt").name
    text = staged_text.read_text()
    assert text == f"Subject: {envelope['Subject']}\n\n{envelope['Message']}"
    assert receipt["message_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert json.loads((case.staging / "receipts" / receipt_path.name).read_text()) == receipt
    assert (case.staging / "receipts" / f"{receipt_path.name}.meta.json").is_file()
    intent, journaled = [e for e in case.timeline() if e["what"] == "notify.send"]
    assert intent["result"] == "intent" and intent["details"]["run"] == receipt["run"]
    assert journaled["details"]["run"] == receipt["run"]
    assert journaled["details"]["provider_message_id"] == envelope["MessageId"]
    assert journaled["details"]["message_sha256"] == receipt["message_sha256"]

    # A refused send (no such topic) is recorded failed, never sent: the CTO stays owed.
    failed = breach(
        "notify", "send", "--case", case.root, "--notice", "internal", "--channel", "sns",
        "--topic-arn", "arn:aws:sns:us-east-1:123456789012:nope", "--endpoint-url",
        moto_endpoint, "--region", "us-east-1", "--obligation", "escalation:cto",
    )  # fmt: skip
    assert failed.exit_code == 1 and "NotFound" in failed.stderr
    [bad] = [r for r in receipts_of(case, "notification") if r["status"] != "sent"]
    assert (bad["status"], bad["recipients"], bad["sent_at"]) == ("failed", 0, None)
    code, states = _states(breach, case)
    assert states["escalation:on-call"] == "sent" and states["escalation:cto"] != "sent"

    # Decisions not to notify are recorded, and count.
    for obligation in ("escalation:cto", "escalation:affected-users"):
        _ok(breach(
            "notify", "decide", "--case", case.root, "--obligation", obligation,
            "--reason", "the team lead briefs the CTO; users get the Art. 34 notice",
        ))  # fmt: skip
    assert len(receipts_of(case, "notification-decision")) == 2
    code, states = _states(breach, case)
    assert code == 0 and states["escalation:cto"] == "not-notified"

    # The data subjects: one mail each to the scope's affected users (emails from the snapshot).
    mailed = _ok(breach(
        "notify", "send", "--case", case.root, "--notice", "gdpr-art34", "--channel", "smtp",
        "--affected-users", *smtp_server.args(), "--set", "plain_nature=an API key leaked",
        "--set", "consequences=none known", "--set", "advice=change your password",
        "--rate", "60000", "--json",
    ))  # fmt: skip
    delivered = sorted(rcpts[0] for rcpts, _ in smtp_server.box.messages)
    assert delivered == sorted({f"user{n}@example.com" for n in range(1, 41)})
    assert mailed.json["recipients"] == 40 and mailed.json["status"] == "sent"
    mail = smtp_server.box.messages[0][1]
    assert "- We signed out every affected account" in mail.get_body(("plain",)).get_content()
    assert _states(breach, case)[1]["gdpr-art34"] == "sent"
    log = case.staging / "notices" / "gdpr-art34-deliveries.jsonl"
    assert len(log.read_text().splitlines()) == 40
    sidecar = json.loads((log.parent / f"{log.name}.meta.json").read_text())
    assert sidecar["media_type"] == "application/jsonl"

    # The post-mortem carries the real numbers, the measure and the journal.
    refused = breach("incident", "close", "--case", case.root)
    assert refused.exit_code == 2 and "post-mortem is required" in refused.stderr
    _ok(breach("postmortem", "--case", case.root, "--author", "Dana"))
    path = case.root / "postmortem.md"
    text = path.read_text()
    assert "- Users affected: 40" in text
    assert "- Data impact: 40 records touched in users" in text
    assert "- revoked 7 sessions of 1 user (postgres, ok)" in text
    for event in ("aware of the incident", "scope.compute", "contain.revoke-sessions: leaked key",
                  "notify.send: internal via sns", "notify.decide"):  # fmt: skip
        assert event in text, event
    unfinished = breach("incident", "close", "--case", case.root)
    assert unfinished.exit_code == 2 and "section(s) to write" in unfinished.stderr
    path.write_text(re.sub(r"\[\[FILL IN: [^\]]*\]\]", "written by Dana", text))
    _ok(breach("incident", "close", "--case", case.root))
    assert Case.load(case.root).record.status == "closed"
    assert (case.staging / "postmortem.md").read_text() == path.read_text()
    assert (case.staging / "postmortem.md.meta.json").is_file()


def test_dry_runs_and_no_ops_are_not_measures_taken(breach_case, breach) -> None:  # type: ignore[no-untyped-def]
    """A dry-run plan and a second apply that changed nothing are not measures a regulator or the
    post-mortem should read as done."""
    for status, summary in (
        ("planned", "would disable 1 role"),
        ("noop", "nothing to do for 3 users"),
    ):
        write_containment(breach_case, "disable-accounts", status, summary)
    assert (
        breach("notify", "draft", "--case", breach_case.root, "--notice", "gdpr-art33").exit_code
        == 0
    )
    art33 = (breach_case.root / "notify" / "drafts" / "gdpr-art33.md").read_text()
    assert "Revoked 41 sessions of svc-reporting" in art33
    assert "would disable 1 role" not in art33 and "nothing to do" not in art33
    assert breach("postmortem", "--case", breach_case.root).exit_code == 0
    resolution = (breach_case.root / "postmortem.md").read_text().split("### Resolution")[1]
    resolution = resolution.split("###")[0]
    assert "Rotated the leaked API key" in resolution
    assert "would disable" not in resolution and "nothing to do" not in resolution
