"""A mailing shows its progress on a terminal (count, rate, time left); its dry run says how many
mails and how long the rate limit makes them take."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from breach.case import Case
from tests.notify.conftest import SmtpServer
from tests.terminal import on_a_terminal


def _recipients(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "recipients.txt"
    path.write_text("".join(f"person{n}@example.org\n" for n in range(count)))
    return path


def test_the_dry_run_says_how_many_and_how_long(
    breach: Any, breach_case: Case, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    args = ["notify", "send", "--case", breach_case.root, "--notice", "internal",
            "--channel", "smtp", "--recipients", _recipients(tmp_path, 241), "--dry-run",
            *smtp_server.args()]  # fmt: skip
    slow = breach(*args, "--rate", "6")
    assert slow.exit_code == 0, slow.stderr
    assert "to 241 recipient(s), one mail each: 40m at the rate" in slow.stdout
    fast = breach(*args, "--rate", "60", "--json")
    assert (fast.json["recipients"], fast.json["takes"]) == (241, "4m")
    quick = breach(*args, "--rate", "600", "--json")
    assert quick.json["takes"] == "24s"  # 240 gaps of 0.1 s after the first mail
    assert smtp_server.box.messages == []


def test_a_mailing_shows_count_rate_and_time_left_on_a_terminal(
    breach_case: Case, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Run in a pseudo-terminal, as a responder would: the progress is drawn on stderr."""
    breach_exe = Path(sys.executable).with_name("breach")
    args = [str(breach_exe), "notify", "send", "--case", str(breach_case.root), "--notice",
            "internal", "--channel", "smtp", "--recipients", str(_recipients(tmp_path, 30)),
            "--rate", "900", *smtp_server.args()]  # fmt: skip
    drawn = on_a_terminal(args, {"COLUMNS": "120"})
    out, text = drawn.stdout, drawn.text
    assert drawn.code == 0, text
    assert len(smtp_server.box.messages) == 30
    counts = [int(n) for n in re.findall(r"mailing internal\S*\s.*?(\d+)/30", text)]
    assert counts and max(counts) >= 15 and min(counts) < 30, text[-500:]  # drawn as it went
    assert re.search(r"\d+/min", text) and re.search(r"\d+:\d\d:\d\d", text), text[-500:]
    assert b"sent: internal via smtp" in out
