"""The notices say what happened, from a real case on PostgreSQL: the attacker's active period
(not the export window), kinds of data from the touched tables' columns (tables in the annex),
unknown counts as "not yet determined" with a [[FILL IN]] (never 0), measures once each; the
placeholder organisation, the fields a template takes, and mail as plain text plus HTML."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from breach.case import Case
from core.timeutil import rfc3339, utcnow
from tests.evidence.test_pgaudit import write_log
from tests.notify.conftest import ORG_POLICY, SmtpServer, receipts_of

# The attack: svc_reporting, from two addresses, reads 30 users (one a minute), then 5 orders;
# the app's own traffic before and after it is in the export window too.
SETUP = """
create table audit_log(id serial primary key, at timestamptz not null, actor text,
    source_ip inet, action text, table_name text, record_id text);
create table users(id text primary key, email text, full_name text, password_hash text,
    created_at timestamptz);
insert into users select 'u'||g, 'user'||g||'@example.com', 'User '||g, 'x', now()
  from generate_series(1, 50) g;
create table orders(id text primary key, user_id text, card_last4 text);
insert into audit_log(at, actor, source_ip, action, table_name, record_id)
select %(base)s::timestamptz + g * interval '20 minutes', 'app', '10.0.0.5', 'SELECT', 'users',
       'u' || (g %% 50 + 1)
  from generate_series(0, 40) g;
insert into audit_log(at, actor, source_ip, action, table_name, record_id)
select %(first)s::timestamptz + g * interval '1 minute', 'svc_reporting',
       case when g %% 2 = 0 then '203.0.113.7'::inet else '198.51.100.9'::inet end, 'SELECT',
       case when g < 30 then 'users' else 'orders' end,
       case when g < 30 then 'u' || (g + 1) else 'o' || (g - 29) end
  from generate_series(0, 34) g;
create table sessions(user_id text, token text, expires_at timestamptz);
insert into sessions select 'svc_reporting', md5('s'||g), now() + interval '1 day'
  from generate_series(1, 4) g;
insert into sessions select 'u1', md5('u'||g), now() + interval '1 day' from generate_series(1, 2) g;
"""


def _ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result


def _minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M+00:00")  # local time in the policy's zone (UTC)


def _section(text: str, title: str, end: str) -> str:
    return text.split(f"{title}\n", 1)[1].split(f"\n{end}", 1)[0]


def _attacked_case(breach: Any, dsn: str, tmp_path: Path) -> tuple[Case, datetime, datetime]:
    base = (utcnow() - timedelta(days=1)).replace(second=0, microsecond=0)
    first = base + timedelta(hours=2)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            SETUP.replace("%(base)s", f"'{rfc3339(base)}'")
            .replace("%(first)s", f"'{rfc3339(first)}'")
            .replace("%%", "%")
        )
    root = tmp_path / "INC-N1"
    aware = base + timedelta(hours=20)
    _ok(breach(
        "incident", "open", "--id", "INC-N1", "--severity", "P1", "--title",
        "Customer records read with a stolen reporting role", "--aware-at", rfc3339(aware),
        "--case-dir", root, "--policy", ORG_POLICY,
    ))  # fmt: skip
    window = ("--since", rfc3339(base - timedelta(hours=1)), "--until", rfc3339(aware))
    _ok(breach(
        "evidence", "export-audit", "--case", root, "--dsn", dsn, "--table",
        "public.audit_log", "--time-column", "at", *window,
    ))  # fmt: skip
    # users is snapshotted, orders is not: its kinds of data cannot be told
    _ok(breach("evidence", "snapshot", "--case", root, "--dsn", dsn, "--table", "public.users"))
    # the app's own reads name users' records only: everything is counted, nothing left over
    app = _ok(breach("scope", "--case", root, "--actor", "app", "--json")).json
    assert app["uncounted"] == {} and app["affected_users"] == 41
    _ok(breach("scope", "--case", root, "--actor", "svc_reporting"))
    for target in ("svc_reporting", "u1", "svc_reporting"):  # the third changes nothing
        _ok(breach(
            "contain", "revoke-sessions", "--case", root, "--adapter", "postgres", "--dsn", dsn,
            "--target", target, "--reason", "stolen role",
        ))  # fmt: skip
    return Case.load(root), first, first + timedelta(minutes=34)


@pytest.mark.pg
def test_art33_and_art34_state_the_attack_field_by_field(
    breach: Any, pg_dsn: str, tmp_path: Path
) -> None:
    case, first, last = _attacked_case(breach, pg_dsn, tmp_path)
    scope = case.record.scope
    assert scope is not None and (scope.first_seen, scope.last_seen) == (first, last)
    _ok(breach("notify", "draft", "--case", case.root, "--notice", "gdpr-art33",
               "--notice", "gdpr-art34"))  # fmt: skip
    art33 = (case.root / "notify" / "drafts" / "gdpr-art33.md").read_text()
    nature = _section(art33, "1. Nature of the personal data breach (Art. 33(3)(a))", "2. ")
    lines = nature.splitlines()
    assert lines[0] == "Customer records read with a stolen reporting role"
    # the period is when the attacker was active, not the export window around it
    assert lines[1] == (
        f"Period of the breach: {_minute(first)} to {_minute(last)}"
        " (the first and last access by the attacker found in the evidence)."
    )
    facts = dict(line[2:].split(": ", 1) for line in lines if line.startswith("- "))
    assert facts["Categories of data subjects"].startswith("[[FILL IN: ")
    # 30 users named by their records; 5 reads of orders name nobody: a lower bound, to fill in
    assert facts["Approximate number of data subjects"] == (
        "at least 30; the rest not yet determined (5 matching event(s) in"
        " audit/public.audit_log name no user (no subject column, no users table))"
        " [[FILL IN: approximate number of data subjects]]"
    )
    # kinds of data, not table names; orders was not snapshotted: unknown, to fill in
    assert facts["Categories of personal data"] == (
        "contact details, credentials, names; not yet determined for 1 table(s) (see the annex)"
        " [[FILL IN: kinds of personal data in the tables not snapshotted]]"
    )
    assert facts["Approximate number of personal data records"] == "35"
    assert "Data Protection Officer, dpo@northwind.test" in art33
    system = receipts_of(case, "containment")[0]["system"]
    measures = _section(art33, "4. Measures taken or proposed (Art. 33(3)(d))", "Annex")
    assert measures.strip().splitlines() == [
        f"On {system}:", "- revoked 4 sessions of 1 user", "- revoked 2 sessions of 1 user",
    ]  # fmt: skip
    annex = art33.split("Annex: tables and columns concerned\n", 1)[1].splitlines()
    assert annex == [
        "- orders: columns not yet determined (the table was not snapshotted)",
        "- users: id, email (contact details), full_name (names), password_hash (credentials),"
        " created_at",
    ]

    art34 = (case.root / "notify" / "drafts" / "gdpr-art34.md").read_text()
    happened = _section(art34, "What happened", "Which of your data").strip().splitlines()
    assert happened[1] == f"It happened between {_minute(first)} and {_minute(last)}."
    assert _section(art34, "Which of your data is involved", "What it may").strip() == (
        "contact details, credentials, names;"
        " [[FILL IN: which other kinds of their data are involved]]"
    )
    done = _section(art34, "What we have done", "What you can do").strip().splitlines()
    assert done == [  # once, in plain words, though two accounts were signed out
        "- We signed out every affected account, so that whoever held a session can no longer"
        " use it."
    ]
    assert "revoked" not in art34 and "users" not in art34.replace("affected", "")


def test_uncountable_evidence_is_not_yet_determined_never_zero(breach: Any, tmp_path: Path) -> None:
    """A pgaudit log names tables, never rows or people: no count is made up."""
    _ok(breach("incident", "open", "--id", "INC-N2", "--severity", "P1", "--title", "t",
               "--policy", ORG_POLICY))  # fmt: skip
    _ok(breach(
        "evidence", "export-audit", "--case", "INC-N2", "--pgaudit-log",
        str(write_log(tmp_path)), "--since", "2026-11-01", "--until", "2026-11-03",
    ))  # fmt: skip
    _ok(breach("scope", "--case", "INC-N2", "--ip", "203.0.113.0/24", "--ip", "2001:db8::/32"))
    _ok(breach("notify", "draft", "--case", "INC-N2", "--notice", "gdpr-art33",
               "--notice", "internal"))  # fmt: skip
    drafts = Path(tmp_path / "cases" / "INC-N2" / "notify" / "drafts")
    art33 = (drafts / "gdpr-art33.md").read_text()
    assert "- Approximate number of data subjects: not yet determined (3 matching event(s) in" \
        " audit/pgaudit name no user" in art33  # fmt: skip
    assert "[[FILL IN: approximate number of data subjects]]" in art33
    assert "- Approximate number of personal data records: not yet determined" in art33
    assert "[[FILL IN: approximate number of records]]" in art33
    assert ": 0" not in art33 and " 0 " not in art33
    internal = (drafts / "internal.md").read_text()
    assert "affected users not yet determined" in internal and "0 affected" not in internal
    refused = breach("notify", "send", "--case", "INC-N2", "--notice", "gdpr-art33",
                     "--channel", "file", "--out", str(tmp_path / "out.txt"))  # fmt: skip
    assert refused.exit_code == 2 and "approximate number of data subjects" in refused.stderr


def test_the_placeholder_organisation_is_never_sent(breach: Any, tmp_path: Path) -> None:
    _ok(breach("incident", "open", "--id", "INC-N3", "--severity", "P1", "--title", "t"))
    values = ("--set", "issue=an outage", "--set", "feature=login")
    _ok(breach("notify", "draft", "--case", "INC-N3", "--notice", "external", *values))
    draft = (tmp_path / "cases" / "INC-N3" / "notify" / "drafts" / "external.md").read_text()
    assert "%% NOT SENDABLE: the organisation is the default policy's placeholder;" \
        " set organisation.name in your policy file" in draft  # fmt: skip
    out = tmp_path / "external.txt"
    refused = breach("notify", "send", "--case", "INC-N3", "--notice", "external",
                     "--channel", "file", "--out", str(out))  # fmt: skip
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1
    assert "placeholder organisation ('Example Ltd')" in refused.stderr
    assert "set organisation.name in your policy file" in refused.stderr
    assert not out.exists() and not list((tmp_path / "cases" / "INC-N3" / "receipts").iterdir())
    # with the organisation's own policy pinned, the same notice goes
    _ok(breach("incident", "policy", "--case", "INC-N3", "--policy", ORG_POLICY,
               "--reason", "the organisation's policy"))  # fmt: skip
    _ok(breach("notify", "send", "--case", "INC-N3", "--notice", "external", *values,
               "--channel", "file", "--out", str(out)))  # fmt: skip
    assert out.read_text().startswith("Subject: Northwind Retail GmbH: an outage")
    assert "%%" not in out.read_text()  # the draft's header is never sent


def test_fields_are_listed_and_an_unknown_one_refused(breach: Any, breach_case: Case) -> None:
    listed = _ok(breach("notify", "fields", "--notice", "gdpr-art34", "--json")).json
    assert listed == {"fields": {"gdpr-art34": [
        "advice", "consequences", "dpo_contact", "measures", "plain_data", "plain_nature",
    ]}}  # fmt: skip
    every = _ok(breach("notify", "fields", "--json")).json["fields"]
    assert set(every) == {"internal", "external", "gdpr-art33", "gdpr-art34", "postmortem"}
    assert "subjects_count" in every["gdpr-art33"] and "author" in every["postmortem"]
    typo = breach("notify", "draft", "--case", breach_case.root, "--notice", "gdpr-art34",
                  "--set", "advise=change your password")  # fmt: skip
    assert typo.exit_code == 2 and typo.stderr.count("\n") == 1
    assert "field 'advise'" in typo.stderr and "advice, consequences" in typo.stderr
    assert not (breach_case.root / "notify" / "drafts").exists()
    sent = breach("notify", "send", "--case", breach_case.root, "--notice", "internal",
                  "--channel", "file", "--out", "-", "--set", "impactt=x")  # fmt: skip
    assert sent.exit_code == 2 and "field 'impactt'" in sent.stderr
    _ok(breach("notify", "draft", "--case", breach_case.root, "--notice", "gdpr-art34"))
    header = (breach_case.root / "notify" / "drafts" / "gdpr-art34.md").read_text()
    assert "%% fields to fill with --set NAME=VALUE: advice, consequences, dpo_contact," in header


def test_mail_is_plain_text_with_an_html_alternative(
    breach: Any, breach_case: Case, smtp_server: SmtpServer
) -> None:
    _ok(breach("notify", "send", "--case", breach_case.root, "--notice", "internal",
               "--channel", "smtp", "--to", "oncall@example.org", *smtp_server.args()))  # fmt: skip
    [(_, mail)] = smtp_server.box.messages
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(("plain",)).get_content()
    assert "Incident: Customer table exfiltrated" in plain and "**" not in plain
    assert "- Revoked 41 sessions of svc-reporting" in plain
    html = mail.get_body(("html",)).get_content()
    assert "<strong>Incident</strong>: Customer table exfiltrated" in html
    assert "<li>Revoked 41 sessions of svc-reporting</li>" in html


def test_a_measure_recorded_twice_is_stated_once(breach: Any, breach_case: Case) -> None:
    """The same action on the same targets, recorded again (a reconciled run, a copy), is one
    measure; the plain list names each kind of action once."""
    receipt = breach_case.receipts / "containment-revoke-sessions-ok.json"
    (breach_case.receipts / "containment-revoke-sessions-again.json").write_text(
        receipt.read_text()
    )
    _ok(breach("notify", "draft", "--case", breach_case.root, "--notice", "gdpr-art33",
               "--notice", "gdpr-art34"))  # fmt: skip
    drafts = breach_case.root / "notify" / "drafts"
    assert (drafts / "gdpr-art33.md").read_text().count("Revoked 41 sessions of svc-reporting") == 1
    assert (drafts / "gdpr-art34.md").read_text().count("We signed out every affected") == 1
