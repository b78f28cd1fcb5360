"""The sent log of a mailing: per recipient, a line before the send and a line after, appended
and fsynced, because SMTP cannot be read back.

A recipient whose last line is `sending` had a send started and never recorded: the process
died between handing the mail to the server and writing down the answer, so the server may or
may not have taken it. Such a recipient is *in doubt*: reported, and not mailed again unless the
operator asks (`--resend-in-doubt`). `deferred` (a transient failure that stopped the run) is
sent again by the next run; `sent` and `failed` are final.

Lines hold the recipient's index in the list and the SHA-256 of its address (never the address):
{"i": 3, "to": "<sha256>", "state": "sent", "run": "<run id>", "at": "...", "id": "<message id>"}
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from core.fsio import disk_errors
from core.timeutil import rfc3339, utcnow

State = Literal["sending", "sent", "failed", "deferred"]
FINAL = ("sent", "failed")


@dataclass(frozen=True)
class Entry:
    index: int
    state: str
    run: str
    at: str
    message_id: str | None = None

    @property
    def in_doubt(self) -> bool:
        return self.state == "sending"


class SentLog:
    def __init__(self, path: Path, run: str) -> None:
        self.path = path
        self.run = run

    def entries(self) -> dict[int, Entry]:
        """Each recipient's last line (a torn last line, from a hard kill, is not a line)."""
        last: dict[int, Entry] = {}
        if not self.path.exists():
            return last
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                    entry = Entry(
                        int(row["i"]),
                        str(row["state"]),
                        str(row["run"]),
                        str(row["at"]),
                        row.get("id"),
                    )
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                last[entry.index] = entry
        return last

    def record(self, index: int, address: str, state: State, message_id: str | None = None) -> None:
        row: dict[str, Any] = {
            "i": index,
            "to": hashlib.sha256(address.encode("utf-8")).hexdigest(),
            "state": state,
            "run": self.run,
            "at": rfc3339(utcnow()),
        }
        if message_id:
            row["id"] = message_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with disk_errors(self.path), self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def set_aside(self) -> None:
        """A restarted mailing sends to everyone again, deliberately: the old log is kept."""
        if self.path.exists():
            stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
            self.path.rename(self.path.with_name(f"{self.path.name}.restarted-{stamp}"))
