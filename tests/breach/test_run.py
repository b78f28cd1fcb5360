"""`breach run`: a playbook end to end against the sandbox, resumed, blocked, planned, killed."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from breach.case import Case
from breach.sandbox.seed import restore_sessions
from core import faults
from core.timeutil import rfc3339, utcnow

ROOT = Path(__file__).parents[2]
DATA_BREACH = ROOT / "playbooks" / "data-breach.yaml"

# A small playbook over the same sandbox: quick enough to run many times.
SMALL = """\
name: small
description: export, snapshot, scope, revoke, tell, seal
inputs:
  incident_id: {description: id}
  since: {description: start}
  until: {description: end}
  audit_table: {description: table, default: public.audit_log}
  attacker_ips: {description: ips, type: list}
steps:
  - id: open
    kind: incident.open
    with: {incident_id: "${inputs.incident_id}", severity: P1, title: small, policy: "${env.BREACH_POLICY}"}
  - id: export
    kind: evidence.export-audit
    needs: [open]
    with: {dsn: "${env.BREACH_DSN}", table: "${inputs.audit_table}", time_column: occurred_at,
           since: "${inputs.since}", until: "${inputs.until}"}
  - id: snapshot
    kind: evidence.snapshot
    needs: [open]
    with: {dsn: "${env.BREACH_DSN}", tables: [public.users, public.sessions]}
  - id: scope
    kind: scope
    needs: [export, snapshot]
    with: {ips: "${inputs.attacker_ips}"}
  - id: revoke
    kind: contain.revoke-sessions
    needs: [scope]
    with: {adapter: postgres, dsn: "${env.BREACH_DSN}", targets: "${steps.scope.affected_users}"}
  - id: tell
    kind: notify.send
    needs: [scope]
    with:
      notice: internal
      to: [security@shop.test]
      values: {impact: under investigation}
      channel: {type: smtp, host: "${env.BREACH_SMTP_HOST}", port: "${env.BREACH_SMTP_PORT}",
                sender: "${env.BREACH_SMTP_SENDER}", security: none}
  - id: seal
    kind: seal
    needs: [revoke, tell]
    with: {signing_key: "${env.BREACH_SIGNING_KEY}", recipients: ["${env.BREACH_SANDBOX_LEGAL_RECIPIENT}"]}
"""


def window() -> list[str]:
    return ["--set", f"until={rfc3339(utcnow().replace(microsecond=0))}"]


def small(tmp_path: Path, incident: str, text: str = SMALL) -> tuple[Path, Path]:
    book = tmp_path / "small.yaml"
    book.write_text(text)
    return book, tmp_path / "cases" / incident


def small_sets(incident: str, env: dict[str, str]) -> list[str]:
    return [
        "--set", f"incident_id={incident}",
        "--set", f"since={env['BREACH_INPUT_SINCE']}",
        "--set", f"attacker_ips={env['BREACH_INPUT_ATTACKER_IPS']}",
        *window(),
    ]  # fmt: skip


def states(result: Any) -> dict[str, str]:
    return {step["id"]: step["state"] for step in result.json["steps"]}


def runner_entries(case: Path) -> list[tuple[str, str]]:
    timeline = Case.load(case).timeline()
    return [(e["details"]["step"], e["result"]) for e in timeline if e["what"] == "playbook.step"]


def mails(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env["BREACH_SANDBOX_MAIL"]).glob("*.eml"))


def test_data_breach_end_to_end_then_again_repeats_nothing(breach, sandbox, tmp_path: Path) -> None:
    case = tmp_path / "INC-SANDBOX-1"
    sent_before = len(mails(sandbox))
    run = breach("run", str(DATA_BREACH), "--case", str(case), *window(), "--json")
    assert run.exit_code == 0, run.stderr + run.stdout
    expected = {"done"} if os.environ["BREACH_REDIS_URL"] else {"done", "skipped"}
    assert set(states(run).values()) == expected

    # the bundle verifies against the sealer's key; the receipts read back what was done
    bundle = next(p for p in (case / "bundles").iterdir() if not p.name.startswith("."))
    verified = breach("verify", str(bundle), "--trust", sandbox["BREACH_TRUST"])
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    record = Case.load(case).record
    with psycopg.connect(sandbox["BREACH_DSN"]) as conn:
        left = conn.execute(
            "SELECT count(*) FROM sessions WHERE user_id IN "
            "(SELECT DISTINCT subject_user_id FROM audit_log WHERE actor = 'svc_reporting')"
        ).fetchone()
        assert left == (0,)
        assert conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'svc_reporting'"
        ).fetchone() == (False,)
    receipts = [json.loads(p.read_text()) for p in (case / "receipts").glob("contain-*.json")]
    assert receipts and all(t["status"] in ("ok", "noop") for r in receipts for t in r["targets"])
    # mail: the security team, the regulator, and each affected user with an address, once
    sent = mails(sandbox)[sent_before:]
    assert record.scope is not None and record.scope.affected_users
    assert len(sent) == 2 + record.scope.affected_users

    again = breach("run", str(DATA_BREACH), "--case", str(case), *window(), "--json")
    assert again.exit_code == 0, again.stderr
    assert set(states(again).values()) <= {"already done", "skipped"}
    assert len(mails(sandbox)) == sent_before + len(sent)
    assert len(list((case / "bundles").iterdir())) == 1


def test_a_failed_step_blocks_what_needs_it_and_a_rerun_continues(
    breach, sandbox, tmp_path: Path
) -> None:
    book, case = small(tmp_path, "INC-SMALL-1")
    sets = small_sets("INC-SMALL-1", sandbox)
    broken = breach(
        "run", str(book), "--case", str(case), *sets, "--set", "audit_table=public.nope", "--json"
    )
    assert broken.exit_code == 1
    assert states(broken) == {
        "open": "done", "export": "failed", "snapshot": "done",
        "scope": "blocked", "revoke": "blocked", "tell": "blocked", "seal": "blocked",
    }  # fmt: skip
    assert "steps did not finish: export, scope, revoke, tell, seal" in broken.stderr

    fixed = breach("run", str(book), "--case", str(case), *sets, "--json")
    assert fixed.exit_code == 0, fixed.stderr
    assert states(fixed) == {
        "open": "already done", "export": "done", "snapshot": "already done",
        "scope": "done", "revoke": "done", "tell": "done", "seal": "done",
    }  # fmt: skip
    done = Counter(step for step, result in runner_entries(case) if result == "ok")
    assert set(done.values()) == {1}  # every step journaled done exactly once


def test_a_malformed_playbook_runs_nothing(breach, tmp_path: Path) -> None:
    book, case = small(
        tmp_path,
        "INC-BAD",
        SMALL.replace("needs: [export, snapshot]", "needs: [export, snapshot, revoke]"),
    )
    result = breach("run", str(book), "--case", str(case), "--set", "incident_id=INC-BAD")
    assert result.exit_code == 2
    assert f"{book}:" in result.stderr and "needs form a cycle" in result.stderr
    assert not case.exists()


def test_missing_inputs_and_unknown_sets_are_refused(breach, sandbox, tmp_path: Path) -> None:
    book, case = small(tmp_path, "INC-IN")
    missing = breach("run", str(book), "--case", str(case))
    assert missing.exit_code == 2 and "the playbook needs until" in missing.stderr
    assert "--set until=..." in missing.stderr
    unknown = breach("run", str(book), "--case", str(case), "--set", "incidnet_id=x")
    assert (
        unknown.exit_code == 2
        and "--set incidnet_id: the playbook has no such input" in unknown.stderr
    )
    assert not case.exists()


def test_dry_run_plans_and_writes_nothing_to_the_timeline(breach, sandbox, tmp_path: Path) -> None:
    book, case = small(tmp_path, "INC-DRY")
    sets = small_sets("INC-DRY", sandbox)
    planned = breach("run", str(book), "--case", str(case), *sets, "--dry-run", "--json")
    assert planned.exit_code == 0, planned.stderr
    assert set(states(planned).values()) == {"planned"}
    revoke = next(s for s in planned.json["steps"] if s["id"] == "revoke")
    assert revoke["outputs"]["settings"]["targets"] == ["<steps.scope.affected_users>"]
    assert not case.exists()  # nothing opened, nothing written

    breach("run", str(book), "--case", str(case), *sets, "--only", "open")
    before = Case.load(case).timeline()
    again = breach("run", str(book), "--case", str(case), *sets, "--dry-run", "--json")
    assert states(again)["open"] == "already done" and states(again)["seal"] == "planned"
    assert Case.load(case).timeline() == before
    assert len(list((case / "dry-runs").glob("*-small.json"))) == 1


def test_only_and_from(breach, sandbox, tmp_path: Path) -> None:
    book, case = small(tmp_path, "INC-SEL")
    sets = small_sets("INC-SEL", sandbox)
    assert breach("run", str(book), "--case", str(case), *sets).exit_code == 0
    only = breach("run", str(book), "--case", str(case), *sets, "--only", "scope", "--json")
    assert [(s["id"], s["state"]) for s in only.json["steps"]] == [("scope", "done")]
    again = breach("run", str(book), "--case", str(case), *sets, "--from", "revoke", "--json")
    assert states(again)["scope"] == "already done"
    assert states(again)["revoke"] == "done" and states(again)["seal"] == "done"
    bad = breach("run", str(book), "--case", str(case), *sets, "--from", "nope")
    assert bad.exit_code == 2 and "--from nope: no such step" in bad.stderr


def run_small(
    case: Path, book: Path, sets: list[str], **env: str
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "breach.cli", "run", str(book), "--case", str(case), *sets]
    return subprocess.run(
        [*command, "--json"], env={**os.environ, **env}, capture_output=True, text=True, check=False
    )


def test_killed_at_20_moments_each_rerun_completes_and_repeats_nothing(
    sandbox, tmp_path: Path
) -> None:
    """kill -9 (a fault point's os._exit) at 20 moments of a run, chosen by a seeded generator
    among every point the run passes (between steps and inside them), then run again."""
    book, _ = small(tmp_path, "INC-KILL")
    restore_sessions(sandbox["BREACH_DSN"])  # each run revokes the same sessions anew
    traced = tmp_path / "trace"
    first = run_small(
        tmp_path / "traced", book, small_sets("INC-KILL", sandbox), BREACH_FAULT_TRACE=str(traced)
    )
    assert first.returncode == 0, first.stderr
    moments = faults.moments(str(traced))
    chosen = sorted(random.Random(20261202).sample(range(len(moments)), k=min(20, len(moments))))
    for n, index in enumerate(chosen):
        case, moment = tmp_path / f"kill-{n}", moments[index]
        sets = small_sets(f"INC-KILL-{n}", sandbox)
        restore_sessions(sandbox["BREACH_DSN"])
        killed = run_small(case, book, sets, BREACH_FAULT=moment)
        assert killed.returncode == faults.KILLED_EXIT, f"{moment}: {killed.stderr}"
        rerun = run_small(case, book, sets)
        final = {s["id"]: s for s in json.loads(rerun.stdout)["steps"]}
        receipts = [json.loads(p.read_text()) for p in (case / "receipts").glob("contain-*.json")]
        applied = Counter(t["name"] for r in receipts for t in r["targets"] if t["status"] == "ok")
        assert applied and set(applied.values()) == {1}, (moment, applied.most_common(3))
        told = [m for m in mails(sandbox) if f"INC-KILL-{n}:".encode() in m.read_bytes()]
        if final["tell"]["state"] == "failed":  # killed while the mail may have been handed over
            assert moment.startswith("notify."), (moment, final["tell"])
            assert "may already have been sent" in final["tell"]["error"]
            assert len(told) <= 1 and final["seal"]["state"] == "blocked", moment
            continue  # in doubt: reported, never sent twice; a person decides (--resend-in-doubt)
        assert rerun.returncode == 0, f"killed at {moment}, the rerun: {rerun.stderr}"
        states = {s["state"] for s in final.values()}
        assert states <= {"done", "already done", "reconciled"}, (moment, states)
        done = Counter(s for s, result in runner_entries(case) if result in ("ok", "reconciled"))
        assert set(done.values()) == {1}, (moment, done)
        bundles = [p for p in (case / "bundles").iterdir() if not p.name.startswith(".")]
        assert len(bundles) == 1, moment
        assert len(told) == 1, (moment, len(told))  # the notice went once, never twice
        staged = [p.name for p in (case / "staging").rglob("*") if p.name.startswith(".")]
        assert staged == [], (moment, staged)


def test_a_step_run_alone_waits_for_what_it_needs_so_containment_waits_for_evidence(
    breach, sandbox, tmp_path: Path
) -> None:
    book, case = small(tmp_path, "INC-EARLY")
    sets = small_sets("INC-EARLY", sandbox)
    assert breach("run", str(book), "--case", str(case), *sets, "--only", "open").exit_code == 0
    early = breach("run", str(book), "--case", str(case), *sets, "--only", "revoke", "--json")
    assert early.exit_code == 1
    (revoke,) = early.json["steps"]
    assert revoke["state"] == "blocked"
    assert "needs scope, which did not finish" in revoke["error"]
    assert not list((case / "receipts").glob("contain-*.json"))


def test_a_case_opened_by_hand_is_adopted_by_a_run_but_not_by_a_dry_run(
    breach, sandbox, tmp_path: Path
) -> None:
    book, case = small(tmp_path, "INC-HAND")
    sets = small_sets("INC-HAND", sandbox)
    opened = breach("incident", "open", "--id", "INC-HAND", "--severity", "P1", "--title", "t",
                    "--case-dir", str(case))  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    before = Case.load(case).timeline()
    planned = breach("run", str(book), "--case", str(case), *sets, "--dry-run", "--json")
    assert planned.exit_code == 0, planned.stderr
    assert Case.load(case).timeline() == before  # a dry run journals nothing
    ran = breach("run", str(book), "--case", str(case), *sets, "--only", "export", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ("open", "reconciled") in runner_entries(case)  # the run took the open case as done
