"""Deadlines across DST changes and time zones, and business-day counting."""

from __future__ import annotations


def test_due_counts_every_regime_across_the_us_dst_change(breach, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Aware Thursday 2026-10-29 16:00 EDT; New York falls back on Sunday 2026-11-01."""
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "[regimes.sec-8k]\nenabled = true\n[regimes.hipaa-individuals]\nenabled = true\n"
        "[regimes.nis2-early-warning]\nenabled = true\n"
    )
    opened = breach(
        "incident", "open", "--id", "INC-DST", "--severity", "P2", "--title", "exfiltration",
        "--aware-at", "2026-10-29T16:00:00-04:00", "--json",
    )  # fmt: skip
    case = opened.json["case"]
    applied = breach("incident", "classify", "--case", case, "--data-breach", "--apply")
    assert applied.exit_code == 0, applied.stderr

    def due(at: str) -> tuple[int, dict[str, dict[str, str]]]:
        result = breach("notify", "due", "--case", case, "--policy", policy, "--at", at, "--json")
        return result.exit_code, {row["id"]: row for row in result.json["obligations"]}

    code, rows = due("2026-11-01T19:00:00Z")
    assert code == 1  # the P1 escalation clocks ran out long ago
    # elapsed hours are exact, whatever the wall clock did
    assert rows["gdpr-art33"]["deadline"] == "2026-11-01T20:00:00Z"
    assert rows["gdpr-art33"]["state"] == "due" and rows["gdpr-art33"]["time_left"] == "1h 0m"
    assert rows["nis2-early-warning"]["deadline"] == "2026-10-30T20:00:00Z"
    assert rows["nis2-early-warning"]["state"] == "overdue"
    # Fri 30, Mon 2, Tue 3, Wed 4 at 17:30 New York, which is EST by then
    assert rows["sec-8k"]["deadline"] == "2026-11-04T22:30:00Z"
    assert rows["sec-8k"]["deadline_local"] == "2026-11-04T17:30-05:00"
    # 60 calendar days keep the 16:00 wall clock: an hour later in UTC than 60 x 24 h
    assert rows["hipaa-individuals"]["deadline"] == "2026-12-28T21:00:00Z"
    _, rows = due("2026-11-04T22:31:00Z")
    assert rows["sec-8k"]["state"] == "overdue" and rows["hipaa-individuals"]["state"] == "due"
