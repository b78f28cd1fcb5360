"""Notices: intent before sending, and what an interrupted send left.

A send journals its intent (notice, channel, destination, message hash, recipients, the run id)
before anything goes out; its receipt's journal entry (with the run id) closes it. A send found
open when the same notice is sent again on the same channel is reconciled first:

- a mailing: its per-recipient sent log (notify.sentlog) says what the run did; the run is closed
  with those counts (sent, refused, in doubt), and the mailing resumes after them, mailing nobody
  twice;
- a single message: mail and webhooks cannot be read back, so the run is closed as in doubt and
  the notice is not sent again unless `resend_in_doubt`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from breach.case import Case, Intent
from core.errors import StepFailed
from core.faults import point
from notify.bulk import sent_log_of
from notify.sentlog import SentLog

WHAT = "notify.send"


def progress_file(case: Case, notice: str) -> Path:
    return case.root / "notify" / "progress" / f"{notice}-smtp.json"


def begin(case: Case, intent: dict[str, Any], *, mailing: bool, resend_in_doubt: bool) -> str:
    """Reconcile this notice's open sends on this channel, then journal the intent: the run id."""
    for open_run in case.unfinished(WHAT):
        same = ("notice", "channel", "destination")
        if any(open_run.details.get(k) != intent.get(k) for k in same):
            continue
        point("notify.reconcile")
        if open_run.details.get("mailing"):
            _close_mailing(case, open_run)
        else:
            _close_single(case, open_run, intent, resend_in_doubt)
    point("notify.intent.before")
    run = case.intend(WHAT, {**intent, "mailing": mailing})
    point("notify.intent.after")
    return run


def in_doubt(case: Case, intent: dict[str, Any]) -> Intent | None:
    """The interrupted single send of this very message on this channel, if one is open."""
    for open_run in case.unfinished(WHAT):
        same = ("notice", "channel", "destination", "message_sha256")
        if not open_run.details.get("mailing") and all(
            open_run.details.get(k) == intent.get(k) for k in same
        ):
            return open_run
    return None


def _close_mailing(case: Case, open_run: Intent) -> None:
    """What the sent log says the interrupted run did: its sends are kept, never repeated."""
    log = SentLog(sent_log_of(progress_file(case, str(open_run.details["notice"]))), "")
    states = Counter(
        "in_doubt" if e.in_doubt else e.state
        for e in log.entries().values()
        if e.run == open_run.run
    )
    details = {
        "run": open_run.run,
        "sent": states["sent"],
        "failed": states["failed"],
        "in_doubt": states["in_doubt"],
        "deferred": states["deferred"],
    }
    case.journal(WHAT, result="reconciled", details=details)


def _close_single(
    case: Case, open_run: Intent, intent: dict[str, Any], resend_in_doubt: bool
) -> None:
    """A message that may or may not have gone: recorded as in doubt; sent again only when asked."""
    same_message = open_run.details.get("message_sha256") == intent.get("message_sha256")
    if same_message and not resend_in_doubt:  # the intent stays open: reported every time
        raise StepFailed(
            f"notice {intent['notice']} via {intent['channel']} may already have been sent by"
            f" the interrupted run {open_run.run} (started {open_run.at}, never recorded);"
            " not sent again",
            hint="check with the recipient: --confirm-sent if it arrived, --resend-in-doubt if not",
        )
    details = {"run": open_run.run, "resent": resend_in_doubt, "same_message": same_message}
    case.journal(WHAT, result="in-doubt", details=details)
