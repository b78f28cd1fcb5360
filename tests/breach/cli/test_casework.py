"""`incident list` and `incident note`, and the post-mortem refreshed and sealed at close."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from breach.case import Case
from core.timeutil import rfc3339, utcnow


def _ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result


def _open(breach: Any, incident: str, severity: str, aware: str) -> Path:
    opened = _ok(breach("incident", "open", "--id", incident, "--severity", severity,
                        "--title", f"{incident} title", "--aware-at", aware, "--json"))  # fmt: skip
    return Path(opened.json["case"])


def test_list_shows_severity_status_clocks_and_last_action(breach: Any) -> None:
    fresh = rfc3339(utcnow() - timedelta(minutes=2))
    _open(breach, "INC-A", "P1", fresh)
    _open(breach, "INC-B", "P3", "2026-11-27T08:00:00Z")  # its on-call clock ran out long ago
    _ok(breach("incident", "status", "--case", "INC-B", "--to", "contained",
               "--reason", "failover in place"))  # fmt: skip
    _ok(breach("incident", "note", "--case", "INC-A", "--text", "paged the DBA on call"))
    broken = Path(os.environ["BREACH_CASES_DIR"]) / "INC-C"
    broken.mkdir()
    (broken / "case.json").write_text("{not json")
    listed = _ok(breach("incident", "list", "--json")).json
    rows = {row["id"]: row for row in listed["cases"]}
    assert list(rows) == ["INC-A", "INC-B", "INC-C"]
    a, b = rows["INC-A"], rows["INC-B"]
    assert (a["severity"], a["status"], a["overdue"]) == ("P1", "open", [])
    assert a["next_due"]["id"] == "escalation:on-call" and a["next_due"]["state"] == "due"
    assert a["last_action"]["what"] == "incident.note"
    assert a["last_action"]["why"] == "paged the DBA on call"
    assert (b["severity"], b["status"]) == ("P3", "contained")
    assert "escalation:on-call" in b["overdue"]
    assert (
        b["last_action"]["what"] == "case.update" and b["last_action"]["why"] == "failover in place"
    )
    assert rows["INC-C"]["problem"] and rows["INC-C"]["severity"] is None
    human = _ok(breach("incident", "list")).stdout
    assert "INC-A P1 open" in human and "none overdue, next escalation:on-call" in human
    assert re.search(r"INC-B P3 contained .*\n\s+clocks: \d+ overdue", human)
    assert "INC-C" in human and "unreadable" in human


def test_a_note_is_journaled_and_in_the_post_mortem(breach: Any) -> None:
    case = _open(breach, "INC-N", "P2", rfc3339(utcnow() - timedelta(hours=1)))
    added = _ok(breach("incident", "note", "--case", case, "--text", "vendor confirmed the leak",
                       "--json"))  # fmt: skip
    assert added.json["who"] == "tester@breachkit"
    entry = Case.load(case).timeline()[-1]
    assert (entry["what"], entry["why"], entry["at"]) == (
        "incident.note", "vendor confirmed the leak", added.json["at"],
    )  # fmt: skip
    assert not Case.load(case).verify_journal()
    short = breach("incident", "note", "--case", case, "--text", "x")
    assert short.exit_code == 2 and "--text" in short.stderr
    _ok(breach("postmortem", "--case", case))
    timeline = (case / "postmortem.md").read_text().split("### Timeline")[1].split("###")[0]
    assert "- note: vendor confirmed the leak [tester@breachkit]" in timeline


def test_close_refreshes_the_post_mortem_and_seals_it_in_the_last_bundle(
    breach: Any, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    _ok(breach("keys", "generate", "--out", keys))
    case = _open(breach, "INC-Z", "P2", rfc3339(utcnow() - timedelta(hours=2)))
    _ok(breach("postmortem", "--case", case, "--author", "Dana"))
    written = (case / "postmortem.md").read_text()
    assert "- ongoing (" in written
    finished = re.sub(r"\[\[FILL IN: [^\]]*\]\]", "written by Dana", written)
    (case / "postmortem.md").write_text(finished)
    _ok(breach("incident", "note", "--case", case, "--text", "root cause confirmed by vendor"))
    closed = _ok(breach("incident", "close", "--case", case, "-r", keys / "age.pub",
                        "--signing-key", keys / "signing.key.pem", "--json")).json  # fmt: skip
    text = (case / "postmortem.md").read_text()
    duration = re.search(r"^\*\*Duration\*\*: (.*)$", text, re.M)
    assert duration and "ongoing" not in duration.group(1)
    closed_minute = closed["closed_at"][:16] + "Z"
    assert duration.group(1).split(" - ")[1].startswith(closed_minute)
    timeline = text.split("### Timeline")[1].split("###")[0]
    assert "note: root cause confirmed by vendor" in timeline  # after the post-mortem was drafted
    assert timeline.rstrip().endswith(" - case closed")
    assert "### Root Cause\nwritten by Dana" in text  # what a person wrote is kept
    assert (case / "staging" / "postmortem.md").read_text() == text
    record = json.loads((case / "case.json").read_text())
    assert closed["bundle"] and record["last_bundle"]["id"] == closed["bundle"]
    assert record["sealed"]["postmortem.md"]["bundle"] == closed["bundle"]
    verified = breach("verify", case / "bundles" / closed["bundle"],
                      "--pubkey", keys / "signing.pub.pem")  # fmt: skip
    assert verified.exit_code == 0, verified.stdout + verified.stderr


def test_close_without_keys_says_the_post_mortem_is_not_sealed(breach: Any) -> None:
    case = _open(breach, "INC-U", "P2", rfc3339(utcnow() - timedelta(hours=2)))
    _ok(breach("postmortem", "--case", case))
    path = case / "postmortem.md"
    path.write_text(re.sub(r"\[\[FILL IN: [^\]]*\]\]", "done", path.read_text()))
    closed = breach("incident", "close", "--case", case)
    assert (
        closed.exit_code == 0 and "the post-mortem is not sealed yet: breach seal" in closed.stderr
    )
