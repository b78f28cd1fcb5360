"""Clocks: "immediate" is due for the response time, the update cadence, the pinned policy."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from breach.case import Case
from core.timeutil import parse_rfc3339, rfc3339, utcnow


def _open(breach, *extra: str, aware: str = "2026-11-27T08:00:00Z") -> Path:  # type: ignore[no-untyped-def]
    result = breach(
        "incident", "open", "--id", "INC-C1", "--severity", "P1", "--title", "token stolen",
        "--aware-at", aware, "--json", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return Path(result.json["case"])


def _rows(breach, case: Path, *extra: str) -> tuple[int, dict[str, dict]]:  # type: ignore[no-untyped-def]
    result = breach("notify", "due", "--case", case, "--json", *extra)
    return result.exit_code, {row["id"]: row for row in result.json["obligations"]}


def test_immediate_is_due_until_the_response_time_then_overdue(breach) -> None:
    case = _open(breach)
    code, rows = _rows(breach, case, "--at", "2026-11-27T08:00:00Z")
    on_call = rows["escalation:on-call"]
    assert code == 0 and on_call["state"] == "due" and on_call["rule"] == "immediate"
    assert on_call["deadline"] == "2026-11-27T08:15:00Z"  # P1 response time: 15 minutes
    code, rows = _rows(breach, case, "--at", "2026-11-27T08:14:59Z")
    assert code == 0 and rows["escalation:on-call"]["state"] == "due"
    late = breach("notify", "due", "--case", case, "--at", "2026-11-27T08:16:00Z")
    assert late.exit_code == 1 and "escalation:on-call" in late.stderr


def test_a_fresh_p1_case_exits_0(breach) -> None:
    opened = breach("incident", "open", "--id", "INC-NOW", "--severity", "P1", "--title", "t")
    assert opened.exit_code == 0, opened.stderr
    fresh = breach("notify", "due", "--case", "INC-NOW")
    assert fresh.exit_code == 0, fresh.stdout + fresh.stderr
    assert "overdue" not in fresh.stdout


def test_the_next_status_update_counts_from_the_last_internal_update(breach) -> None:
    aware = utcnow() - timedelta(minutes=40)
    case = _open(breach, aware=rfc3339(aware))
    code, rows = _rows(breach, case)
    update = rows["update:internal"]
    assert update["kind"] == "update" and update["rule"] == "30m"
    assert update["deadline"] == rfc3339(aware + timedelta(minutes=30))
    assert update["state"] == "overdue" and code == 1
    sent = breach("notify", "send", "--case", case, "--notice", "internal", "--channel", "file",
                  "--out", str(case / "internal.txt"), "--obligation", "escalation:on-call", "--set", "impact=reports API")  # fmt: skip
    assert sent.exit_code == 0, sent.stderr
    [receipt] = [json.loads(p.read_text()) for p in (case / "receipts").glob("notification-*")]
    sent_at = parse_rfc3339(receipt["sent_at"])
    code, rows = _rows(breach, case)
    assert rows["update:internal"]["state"] == "due"
    assert rows["update:internal"]["deadline"] == rfc3339(sent_at + timedelta(minutes=30))


def _policy(tmp_path: Path, name: str, update_every: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'[organisation]\nname = "{name}"\n[severities.P1]\nname = "Critical"\n'
        f'definition = "breach"\nresponse_time = "15m"\nupdate_every = "{update_every}"\n'
    )
    return path


def test_the_policy_is_pinned_and_changed_only_by_the_explicit_command(
    breach, tmp_path: Path
) -> None:
    first, second = _policy(tmp_path, "Acme", "10m"), _policy(tmp_path, "Other", "45m")
    case = _open(breach, "--policy", str(first))
    assert Case.load(case).record.policy["organisation"]["name"] == "Acme"
    _, rows = _rows(breach, case, "--at", "2026-11-27T08:00:00Z")  # no --policy: the pinned one
    assert rows["update:internal"]["deadline"] == "2026-11-27T08:10:00Z"
    same = breach("notify", "due", "--case", case, "--policy", first, "--at", "2026-11-27T08:00Z")
    assert same.exit_code == 0, same.stderr
    switched = breach("notify", "draft", "--case", case, "--policy", second)
    assert switched.exit_code == 2 and switched.stderr.count("\n") == 1
    assert f"breach incident policy --case {case} --policy {second} --reason" in switched.stderr
    assert not (case / "notify" / "drafts").exists()
    changed = breach("incident", "policy", "--case", case, "--policy", second,
                     "--reason", "the group policy applies", "--json")  # fmt: skip
    assert changed.exit_code == 0, changed.stderr
    assert changed.json["before"] == str(first) and changed.json["source"] == str(second)
    entry = Case.load(case).timeline()[-1]
    assert entry["what"] == "case.update" and entry["why"] == "the group policy applies"
    assert entry["details"]["after"]["policy"]["organisation"]["name"] == "Other"
    _, rows = _rows(breach, case, "--at", "2026-11-27T08:00:00Z")
    assert rows["update:internal"]["deadline"] == "2026-11-27T08:45:00Z"


def test_the_first_policy_given_is_pinned(breach, tmp_path: Path) -> None:
    case = _open(breach)
    assert Case.load(case).record.policy is None
    _, rows = _rows(breach, case, "--at", "2026-11-27T08:00:00Z")
    assert rows["update:internal"]["deadline"] == "2026-11-27T08:30:00Z"  # the default
    pinned = _policy(tmp_path, "Acme", "10m")
    _rows(breach, case, "--policy", str(pinned), "--at", "2026-11-27T08:00:00Z")
    _, rows = _rows(breach, case, "--at", "2026-11-27T08:00:00Z")
    assert rows["update:internal"]["deadline"] == "2026-11-27T08:10:00Z"
    other = breach("notify", "due", "--case", case, "--policy", _policy(tmp_path, "B", "5m"))
    assert other.exit_code == 2 and "breach incident policy" in other.stderr
