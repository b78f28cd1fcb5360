"""`notify due` states and exit codes, decisions, classify, the aware-at clock, the post-mortem."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from breach.case import Case
from core.timeutil import rfc3339
from tests.notify.conftest import receipts_of


def _states(breach, case: Case, *extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    rows = breach("notify", "due", "--case", case.root, "--json", *extra).json["obligations"]
    return {row["id"]: row["state"] for row in rows}


def _open(breach, severity: str = "P3", aware: str = "2026-11-27T08:00:00Z") -> Path:  # type: ignore[no-untyped-def]
    result = breach(
        "incident", "open", "--id", "INC-9", "--severity", severity, "--title", "slow reports",
        "--aware-at", aware, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return Path(result.json["case"])


def test_due_derives_due_and_overdue_from_the_clock_and_exits_1_when_overdue(breach) -> None:
    case = _open(breach, "P2")
    before = breach("notify", "due", "--case", case, "--at", "2026-11-27T08:30:00Z", "--json")
    assert before.exit_code == 0
    rows = {r["id"]: r for r in before.json["obligations"]}
    assert set(rows) == {"escalation:on-call", "escalation:team-lead", "escalation:cto",
                         "escalation:affected-users", "update:internal"}  # fmt: skip
    assert rows["update:internal"]["deadline"] == "2026-11-27T09:00:00Z"  # P2: updates hourly
    assert rows["escalation:on-call"]["deadline"] == "2026-11-27T09:00:00Z"
    assert rows["escalation:on-call"]["time_left"] == "30m"
    after = breach("notify", "due", "--case", case, "--at", "2026-11-27T09:30:00Z")
    assert after.exit_code == 1 and "escalation:on-call" in after.stderr
    assert "overdue" in after.stdout


def test_a_p3_without_data_breach_owes_only_the_on_call(breach) -> None:
    case = _open(breach, "P3")
    assert _states(breach, Case.load(case), "--at", "2026-11-27T08:00:00Z") == {
        "escalation:on-call": "due",
        "update:internal": "due",
    }


def test_decision_not_to_notify_is_recorded_and_counts(breach, breach_case: Case) -> None:
    late = rfc3339(breach_case.record.aware_at + timedelta(hours=100))
    assert _states(breach, breach_case, "--at", late)["gdpr-art34"] == "overdue"
    short = breach("notify", "decide", "--case", breach_case.root, "--obligation", "gdpr-art34",
                   "--reason", "no")  # fmt: skip
    assert short.exit_code == 2 and "reason" in short.stderr
    unknown = breach("notify", "decide", "--case", breach_case.root, "--obligation", "gdpr-art99",
                     "--reason", "not applicable here at all")  # fmt: skip
    assert unknown.exit_code == 2 and "unknown obligation" in unknown.stderr
    reason = "data was encrypted at rest and the key was not exposed (Art. 34(3)(a))"
    ok = breach("notify", "decide", "--case", breach_case.root, "--obligation", "gdpr-art34",
                "--reason", reason, "--json")  # fmt: skip
    assert ok.exit_code == 0
    [record] = receipts_of(breach_case, "notification-decision")
    assert record["reason"] == reason and record["decided_by"] == "tester@breachkit"
    [staged] = [
        p
        for p in (breach_case.staging / "receipts").glob("decision-*.json")
        if not p.name.endswith(".meta.json")
    ]
    assert json.loads(staged.read_text()) == record
    rows = breach("notify", "due", "--case", breach_case.root, "--at", late, "--json").json
    art34 = next(r for r in rows["obligations"] if r["id"] == "gdpr-art34")
    assert art34["state"] == "not-notified" and art34["decision_reason"] == reason
    assert breach_case.timeline()[-1]["what"] == "notify.decide"


def test_a_late_send_is_sent_but_marked_late(breach, breach_case: Case) -> None:
    breach_case.update("corrected", aware_at=breach_case.record.aware_at - timedelta(hours=5))
    sent = breach("notify", "send", "--case", breach_case.root, "--notice", "internal",
                  "--channel", "file", "--out", "-", "--obligation", "escalation:cto")  # fmt: skip
    assert sent.exit_code == 0
    rows = breach("notify", "due", "--case", breach_case.root, "--json").json["obligations"]
    cto = next(r for r in rows if r["id"] == "escalation:cto")
    assert cto["state"] == "sent" and cto["late"] is True


def test_due_at_an_earlier_time_ignores_records_made_later(breach, breach_case: Case) -> None:
    aware = breach_case.record.aware_at
    before = rfc3339(aware + timedelta(minutes=5))
    sent = breach("notify", "send", "--case", breach_case.root, "--notice", "internal",
                  "--channel", "file", "--out", "-", "--obligation", "escalation:cto")  # fmt: skip
    decided = breach("notify", "decide", "--case", breach_case.root, "--obligation",
                     "escalation:affected-users", "--reason", "told by the Art. 34 notice")  # fmt: skip
    assert sent.exit_code == 0 and decided.exit_code == 0
    then = _states(breach, breach_case, "--at", before)
    assert then["escalation:cto"] == "due" and then["escalation:affected-users"] == "due"
    now = _states(breach, breach_case)
    assert now["escalation:cto"] == "sent" and now["escalation:affected-users"] == "not-notified"


def test_open_checks_aware_at_and_detection_defaults_to_it(breach) -> None:
    case = Case.load(_open(breach, "P2", aware="2026-11-27T03:00:00+01:00"))
    assert rfc3339(case.record.detected_at) == rfc3339(case.record.aware_at)
    assert rfc3339(case.record.aware_at) == "2026-11-27T02:00:00Z"
    future = breach("incident", "open", "--id", "INC-10", "--severity", "P2", "--title", "t",
                    "--aware-at", "2999-01-01T00:00:00Z")  # fmt: skip
    assert future.exit_code == 2 and "in the future" in future.stderr
    assert not (Path(os.environ["BREACH_CASES_DIR"]) / "INC-10").exists()


def test_set_aware_at_moves_the_clocks_and_is_journaled(breach) -> None:
    """Also kills the mutation "set-aware-at reports the new value as the old one": every move
    is to a different instant, so `before` and `aware_at` differ in each report."""
    case = _open(breach, "P3")
    moved = breach("incident", "set-aware-at", "--case", case, "--at", "2026-11-27T07:00:00+02:00",
                   "--reason", "legal confirmed awareness at the call", "--json")  # fmt: skip
    assert moved.exit_code == 0
    assert moved.json["before"] == "2026-11-27T08:00:00Z"
    assert moved.json["aware_at"] == "2026-11-27T05:00:00Z"
    entry = Case.load(case).timeline()[-1]
    assert (
        entry["what"] == "case.update" and entry["why"] == "legal confirmed awareness at the call"
    )
    assert entry["details"]["before"]["aware_at"] == "2026-11-27T08:00:00Z"
    assert entry["details"]["after"]["aware_at"] == "2026-11-27T05:00:00Z"
    again = breach("incident", "set-aware-at", "--case", case, "--at", "2026-11-27T06:00:00Z",
                   "--reason", "earlier alert found", "--json")  # fmt: skip
    rows = breach("notify", "due", "--case", case, "--at", "2026-11-27T06:00:00Z", "--json").json
    assert again.exit_code == 0
    assert (again.json["before"], again.json["aware_at"]) == (
        "2026-11-27T05:00:00Z", "2026-11-27T06:00:00Z"
    )  # fmt: skip
    assert rows["obligations"][0]["deadline"] == "2026-11-27T10:00:00Z"  # 4h for P3
    future = breach("incident", "set-aware-at", "--case", case, "--at", "2999-01-01T00:00:00Z",
                    "--reason", "typo")  # fmt: skip
    assert future.exit_code == 2 and "future" in future.stderr
    naive = breach("incident", "set-aware-at", "--case", case, "--at", "2026-11-27T06:00:00",
                   "--reason", "typo")  # fmt: skip
    assert naive.exit_code == 2 and "time zone" in naive.stderr


def test_classify_proposes_and_explains_then_applies(breach) -> None:
    case = _open(breach, "P3")
    proposed = breach("incident", "classify", "--case", case, "--error-rate", "7%", "--json")
    assert proposed.exit_code == 0
    assert proposed.json["severity"] == "P2" and proposed.json["applied"] is False
    assert "P2: error rate 7.0% is above 5%" in proposed.json["reasons"]
    assert Case.load(case).record.severity == "P3"
    applied = breach("incident", "classify", "--case", case, "--data-breach", "--workaround",
                     "--apply", "--json")  # fmt: skip
    assert applied.json["severity"] == "P1"
    assert any("workaround does not lower P1" in r for r in applied.json["reasons"])
    record = Case.load(case).record
    assert record.severity == "P1" and record.facts == {"data_breach": True, "workaround": True}  # type: ignore[attr-defined]
    assert Case.load(case).timeline()[-1]["details"]["after"]["severity"] == "P1"
    ids = _states(breach, Case.load(case), "--at", "2026-11-27T08:00:00Z")
    assert "gdpr-art33" in ids  # the data breach fact starts the GDPR clocks
    bad = breach("incident", "classify", "--case", case, "--error-rate", "seven")
    assert bad.exit_code == 2 and "--error-rate" in bad.stderr


def test_severity_and_status_changes_are_journaled(breach) -> None:
    case = _open(breach, "P3")
    assert breach("incident", "severity", "--case", case, "--to", "P2",
                  "--reason", "payments affected").exit_code == 0  # fmt: skip
    assert breach("incident", "status", "--case", case, "--to", "contained",
                  "--reason", "sessions revoked").exit_code == 0  # fmt: skip
    record = Case.load(case).record
    assert (record.severity, record.status) == ("P2", "contained")
    whys = [e.get("why") for e in Case.load(case).timeline()]
    assert "payments affected" in whys and "sessions revoked" in whys


def test_postmortem_is_filled_from_the_case_and_close_insists_on_it(
    breach, breach_case: Case
) -> None:
    breach("incident", "status", "--case", breach_case.root, "--to", "resolved",
           "--reason", "key rotated, no further access")  # fmt: skip
    refused = breach("incident", "close", "--case", breach_case.root)
    assert refused.exit_code == 2 and "post-mortem is required" in refused.stderr
    made = breach("postmortem", "--case", breach_case.root, "--author", "Dana", "--json")
    assert made.exit_code == 0, made.stderr
    path = breach_case.root / "postmortem.md"
    text = path.read_text()
    assert text.startswith("## Incident Post-Mortem: Customer table exfiltrated via leaked API key")
    assert "**Severity**: P1" in text and "**Author**: Dana" in text
    assert "- Users affected: 3" in text
    assert "- Data impact: 1500 records touched in public.customers, public.orders" in text
    assert "- Revoked 41 sessions of svc-reporting (postgres.revoke-sessions, ok)" in text
    assert "incident.open: Customer table exfiltrated" in text
    assert "case.update (status open -> resolved): key rotated" in text
    assert "**Duration**: " in text and " - ongoing" not in text
    again = breach("postmortem", "--case", breach_case.root)
    assert again.exit_code == 2 and "already exists" in again.stderr
    unfinished = breach("incident", "close", "--case", breach_case.root)
    assert unfinished.exit_code == 2 and "section(s) to write" in unfinished.stderr
    import re

    path.write_text(re.sub(r"\[\[FILL IN: [^\]]*\]\]", "written by Dana", text))
    closed = breach("incident", "close", "--case", breach_case.root, "--json")
    assert closed.exit_code == 0, closed.stderr
    assert (breach_case.staging / "postmortem.md").read_text() == path.read_text()
    assert Case.load(breach_case.root).record.status == "closed"
    twice = breach("incident", "close", "--case", breach_case.root)
    assert twice.exit_code == 2 and "already closed" in twice.stderr


def test_a_p3_case_closes_without_a_postmortem(breach) -> None:
    case = _open(breach, "P3")
    assert breach("incident", "close", "--case", case).exit_code == 0
    assert Case.load(case).record.status == "closed"
    # raising it to P1 afterwards would leave a closed P1 without a post-mortem
    for args in (
        ("severity", "--to", "P1", "--reason", "found a data breach later"),
        ("status", "--to", "open", "--reason", "more to do"),
        ("classify", "--data-breach", "--apply"),
    ):
        refused = breach("incident", args[0], "--case", case, *args[1:])
        assert refused.exit_code == 2 and "is closed" in refused.stderr
    record = Case.load(case).record
    assert (record.severity, record.status) == ("P3", "closed")
