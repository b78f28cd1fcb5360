"""What an auditor checks after a sandbox run: the evidence holds, containment held, people were
told, the clocks were kept, and how long each phase took against the seed's response time."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from breach.case import Case
from breach.playbook.runner import STEP, RunReport
from core.errors import BreachError
from core.timeutil import parse_rfc3339, rfc3339


class Check(BaseModel):
    name: str
    ok: bool
    detail: str
    seconds: float = 0.0


class PhaseTimes(BaseModel):
    """Seconds from the case's opening to the end of the last step of each phase."""

    preserve: float | None
    contain: float | None
    notify: float | None
    limit: float | None  # the severity's response time, when it is an elapsed time
    severity: str


def checked(name: str, test: Callable[[], str]) -> Check:
    """Run one check: its detail line when it holds, the failure's when it does not."""
    begun = time.monotonic()
    try:
        detail, ok = test(), True
    except (BreachError, AssertionError, OSError) as exc:
        message = exc.diagnostics() if isinstance(exc, BreachError) else str(exc)
        detail, ok = message or type(exc).__name__, False
    return Check(name=name, ok=ok, detail=detail, seconds=round(time.monotonic() - begun, 3))


def audit(run: RunReport, env: dict[str, str]) -> list[Check]:
    """The checks of a finished sandbox run, in the order an auditor would make them."""
    case = Case.load(run.case)
    return [
        checked("every step finished", lambda: _all_steps(run)),
        checked("the bundles verify against the sealer's key", lambda: _verify(case, env)),
        checked("legal can decrypt the evidence", lambda: _decrypt(case, env)),
        checked("a tampered copy is caught", lambda: _tampered(case, env)),
        checked("every containment outcome reads back", lambda: _receipts(case)),
        checked("every notice arrived", lambda: _mail(case, Path(env["BREACH_SANDBOX_MAIL"]))),
        checked("no deadline is overdue", lambda: _deadlines(case)),
    ]


def phase_times(run: RunReport) -> PhaseTimes:
    from breach.procedure.policy import policy_for

    case = Case.load(run.case)
    ended: dict[str, float] = {}
    opened = case.record.opened_at
    for entry in case.timeline():
        details = entry.get("details") or {}
        if entry.get("what") != STEP or entry.get("result") not in ("ok", "reconciled"):
            continue
        phase = _PHASES.get(str(details.get("kind", "")).split(".")[0])
        if phase:
            seconds = (parse_rfc3339(entry["at"]) - opened).total_seconds()
            ended[phase] = max(ended.get(phase, 0.0), seconds)
    response = policy_for(case, None).severities[case.record.severity].response_time
    limit = float(response.amount) if response.kind == "elapsed" else None
    return PhaseTimes(
        preserve=ended.get("preserve"),
        contain=ended.get("contain"),
        notify=ended.get("notify"),
        limit=limit,
        severity=case.record.severity,
    )


def timing_checks(times: PhaseTimes) -> list[Check]:
    out = []
    for phase in ("preserve", "contain", "notify"):
        took = getattr(times, phase)
        if took is None:
            continue
        within = times.limit is None or took <= times.limit
        limit = f"{times.limit / 60:.0f} min" if times.limit else "no elapsed limit"
        detail = f"{took:.1f} s after the case opened ({times.severity} response time: {limit})"
        out.append(Check(name=f"time to {phase}", ok=within, detail=detail))
    return out


_PHASES = {"evidence": "preserve", "scope": "preserve", "contain": "contain", "notify": "notify"}


# -- the checks ------------------------------------------------------------------------------
def _all_steps(run: RunReport) -> str:
    unfinished = [f"{s.id} ({s.state})" for s in run.failed]
    assert not unfinished, f"not finished: {', '.join(unfinished)}"
    return f"{len(run.steps)} steps: " + ", ".join(sorted({s.state for s in run.steps}))


def _bundles(case: Case) -> list[Path]:
    bundles = sorted(p for p in case.bundles.iterdir() if not p.name.startswith("."))
    assert bundles, "the case has no sealed bundle"
    return bundles


def _trust(env: dict[str, str]) -> dict[str, Any]:
    return {
        "trust": [Path(env["BREACH_TRUST"])],
        "custody_trust": [Path(env["BREACH_CUSTODY_TRUST"])],
    }


def _verify(case: Case, env: dict[str, str]) -> str:
    from breach.procedure.bundle import VerifySettings, verify

    verdicts = []
    for bundle in _bundles(case):
        result = verify(VerifySettings(bundle=bundle, **_trust(env)))
        assert result.ok, f"{bundle.name}: {result.headline}"
        verdicts.append(result.verdict)
    return f"{len(verdicts)} bundle(s): {', '.join(verdicts)}"


def _tampered(case: Case, env: dict[str, str]) -> str:
    """One byte of one encrypted artifact of a copy changed: verification must fail, naming it."""
    import shutil

    from breach.procedure.bundle import VerifySettings, verify

    bundle = _bundles(case)[-1]
    with tempfile.TemporaryDirectory(prefix="breach-drill-") as scratch:
        copy = Path(scratch) / bundle.name
        shutil.copytree(bundle, copy)
        victim = sorted((copy / "data").rglob("*.age"))[0]
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x01
        victim.write_bytes(bytes(data))
        result = verify(VerifySettings(bundle=copy, **_trust(env)))
    assert not result.ok, "a copy with a changed byte still verifies"
    failed = [c.name for c in result.checks if c.ok is False]
    return f"one byte of {victim.name} changed: NOT VERIFIED ({', '.join(failed)})"


def _decrypt(case: Case, env: dict[str, str]) -> str:
    from breach.procedure.bundle import DecryptSettings, decrypt

    legal = Path(env["BREACH_SANDBOX_LEGAL_IDENTITY"]).parent
    files = 0
    with tempfile.TemporaryDirectory(prefix="breach-drill-") as scratch:
        out = Path(scratch)
        for bundle in _bundles(case):
            opened = decrypt(
                DecryptSettings(
                    bundle=bundle,
                    identity=legal / "age.key",
                    out=out,
                    reason="drill: legal's check that the evidence opens",
                    signing_key=legal / "legal-signing.key.pem",
                    **_trust(env),
                )
            )
            files += len(opened.artifacts)
    return f"{files} file(s) decrypted, each matching its signed plaintext hash"


def _receipts(case: Case) -> str:
    receipts = sorted(case.receipts.glob("contain-*.json"))
    assert receipts, "no containment receipt"
    bad = []
    for path in receipts:
        receipt = json.loads(path.read_text())
        bad += [
            f"{t['name']}: {t['status']}"
            for t in receipt["targets"]
            if t["status"] not in ("ok", "noop")
        ]
    assert not bad, f"not done: {', '.join(bad[:5])}"
    return f"{len(receipts)} receipt(s), every target done and read back"


def _mail(case: Case, sink: Path) -> str:
    receipts = [
        json.loads(p.read_text()) for p in sorted(case.receipts.glob("notification-*.json"))
    ]
    assert receipts, "no notice was sent"
    unsent = [r["notice"] for r in receipts if r["status"] != "sent"]
    assert not unsent, f"not sent: {', '.join(unsent)}"
    claimed = sum(int(r["recipients"]) for r in receipts)
    arrived = sum(_envelope_recipients(path) for path in sink.glob("*.eml"))
    assert arrived == claimed, f"the receipts say {claimed} recipient(s), the sink got {arrived}"
    return f"{len(receipts)} notice(s), {arrived} message(s) at the sink, as the receipts say"


def _envelope_recipients(message: Path) -> int:
    with message.open("rb") as handle:
        return sum(1 for line in handle if line.startswith(b"X-Sandbox-Rcpt-To: "))


def _deadlines(case: Case) -> str:
    from breach.procedure.notify import DueSettings, due

    result = due(DueSettings(case=str(case.root)))
    assert not result.overdue, f"overdue: {', '.join(result.overdue)}"
    return f"{len(result.obligations)} obligation(s), none overdue"


def story(run: RunReport) -> dict[str, list[str]]:
    """What the run left, in a few lines each: the timeline, the bundles, the containment
    receipts, the notices and the deadlines (what `make demo` shows)."""
    from breach.procedure.notify import DueSettings, due

    case = Case.load(run.case)
    timeline = [
        f"{e['at'][11:19]}  {e['what']:<24} {e['result']:<10} {(e.get('details') or {}).get('step', '')}"
        for e in case.timeline()
    ]
    bundles = sorted(p.name for p in case.bundles.iterdir() if not p.name.startswith("."))
    receipts = []
    for path in sorted(case.receipts.glob("contain-*.json")):
        receipt = json.loads(path.read_text())
        done = sum(1 for t in receipt["targets"] if t["status"] in ("ok", "noop"))
        receipts.append(
            f"{receipt['action']} via {receipt['adapter']}: {done}/{len(receipt['targets'])} targets done"
        )
    notices = [
        f"{r['notice']}: {r['recipients']} recipient(s), {r['status']}"
        for r in (
            json.loads(p.read_text()) for p in sorted(case.receipts.glob("notification-*.json"))
        )
    ]
    deadlines = [
        f"{o.label}: {o.state} (deadline {rfc3339(o.deadline)})"
        for o in due(DueSettings(case=str(case.root))).obligations
    ]
    return {
        "timeline": timeline,
        "bundles": bundles,
        "containment receipts": receipts,
        "notices sent": notices,
        "deadlines": deadlines,
    }
