"""What the next writer on a case does with what an interrupted command left: a torn journal line
cut and kept, a broken chain refused, hidden leftovers removed, an unrecorded bundle recorded
as the head or quarantined; each said on stderr and journaled."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest

from breach.case import NEXT_CASE_FILE, Case
from core.errors import StepFailed
from manifests import chain
from manifests import seal as sealing
from manifests.keys import GeneratedKeys, generate, load_recipients
from manifests.signing import local_signer
from manifests.staging import staged_artifacts
from tests.breach.casecheck import assert_consistent, hidden_leftovers


@pytest.fixture
def case(tmp_path: Path) -> Case:
    opened = Case.open("INC-REC", "P2", "recover", root=tmp_path / "case")
    opened.journal("step.one")
    return opened


@pytest.fixture
def keys(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "keys")


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "breach.case"]


def test_a_torn_last_line_is_cut_and_kept_by_the_next_writer(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    whole = case.journal_path.read_bytes()
    torn = b'{"at":"2026-12-02T00:00:00Z","what":"step.t'
    case.journal_path.write_bytes(whole + torn)
    assert Case.load(case.root).verify_journal() == []  # not a break: a reader says it is torn
    with caplog.at_level(logging.WARNING, "breach.case"):
        Case.load(case.root, write=True).journal("step.after")
    entries = chain.entries(case.journal_path)
    repair = entries[-2]
    assert (repair["what"], repair["details"]["removed_bytes"]) == ("journal.repair", len(torn))
    assert base64.b64decode(repair["details"]["removed_base64"]) == torn
    assert entries[-1]["what"] == "step.after" and chain.verify(case.journal_path)[1] == []
    assert _warnings(caplog) == [
        f"case case: cut a torn last journal line ({len(torn)} bytes, kept in its entry)"
    ]


def test_a_chain_broken_elsewhere_refuses_every_writer_and_show_exits_1(
    breach: Any, case: Case
) -> None:
    lines = case.journal_path.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"incident.open"', b'"incident.opened"')
    case.journal_path.write_bytes(b"".join(lines))
    before = (case.root / "case.json").read_bytes()
    with pytest.raises(StepFailed, match=r"the chain breaks at line 2 .does not link"):
        Case.load(case.root, write=True)
    with pytest.raises(StepFailed, match=r"breaks at line 2 .* refusing to append"):
        chain.append(case.journal_path, {"what": "x"})
    changed = breach("incident", "severity", "--case", case.root, "--to", "P1", "--reason", "exfiltration confirmed")  # fmt: skip
    assert changed.exit_code == 1 and "breaks at line 2" in changed.stderr, changed.stderr
    assert (case.root / "case.json").read_bytes() == before
    shown = breach("incident", "show", "--case", case.root)
    assert shown.exit_code == 1 and "chain BROKEN" in shown.stdout
    assert shown.stderr.strip() == (
        "error: the journal's chain breaks at line 2 does not link to the entry before it"
        " (prev hash differs)"
    )


def test_a_failed_journal_append_leaves_case_json_as_it_was(case: Case) -> None:
    """The journal entry is written first: when it cannot be, case.json does not change."""
    before = (case.root / "case.json").read_bytes()
    case.journal_path.write_bytes(case.journal_path.read_bytes() + b"not an entry\n")
    with pytest.raises(StepFailed, match="refusing to append"):
        case.update("raise it", severity="P1")
    assert (case.root / "case.json").read_bytes() == before
    assert not (case.root / NEXT_CASE_FILE).exists() and case.record.severity == "P2"


def test_hidden_leftovers_are_removed_said_and_journaled(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    partial = case.staging / "audit" / ".public.audit_log.tmp-1a2b3c4d"
    (partial / "day=2026-11-01").mkdir(parents=True)
    (partial / "day=2026-11-01" / "part-0000.parquet").write_bytes(b"x" * 1000)
    (case.staging / ".scope.json.abc.tmp").write_bytes(b"{")
    (case.bundles / ".INC-REC-1.partial-0001" / "data").mkdir(parents=True)
    (case.root / NEXT_CASE_FILE).write_text("{}")  # never committed: no entry names its hash
    (case.staging / "kept.txt").write_text("committed evidence")
    with caplog.at_level(logging.WARNING, "breach.case"):
        Case.load(case.root, write=True)
    assert hidden_leftovers(case.root) == []
    assert (case.staging / "kept.txt").read_text() == "committed evidence"
    said = _warnings(caplog)
    assert "case case: removed staging/audit/.public.audit_log.tmp-1a2b3c4d (1000 bytes) that an interrupted command left" in said  # fmt: skip
    assert len([s for s in said if s.startswith("case case: removed ")]) == 3
    cleanup = chain.entries(case.journal_path)[-1]
    assert cleanup["what"] == "case.cleanup"
    assert {r["path"] for r in cleanup["details"]["removed"]} == {
        "bundles/.INC-REC-1.partial-0001",
        "staging/.scope.json.abc.tmp",
        "staging/audit/.public.audit_log.tmp-1a2b3c4d",
    }


def _seal_unrecorded(case: Case, keys: GeneratedKeys, previous: sealing.PreviousBundle | None, name: str) -> Path:  # fmt: skip
    """A complete bundle renamed into bundles/ with no journal entry: a seal killed after its
    rename (as breachkit before the commit point did) or a copy dropped there."""
    (case.staging / f"{name}.txt").write_text(f"{name}\n")
    artifacts = [a for a in staged_artifacts(case.staging) if a.name.name == f"{name}.txt"]
    options = sealing.SealOptions(
        incident_id=case.id,
        recipients=load_recipients([keys.recipient]),
        recipient_names=[keys.recipient],
        signer=local_signer(keys.signing_key),
        operator="tester",
        tool_version="0",
        previous=previous,
        bundle_id=f"{case.id}-{name}",
    )
    return sealing.seal(artifacts, case.bundles / f"{case.id}-{name}", options).path


def test_an_unrecorded_bundle_linking_to_the_head_becomes_the_head(
    case: Case, keys: GeneratedKeys, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = _seal_unrecorded(case, keys, None, "found")
    with caplog.at_level(logging.WARNING, "breach.case"):
        recovered = Case.load(case.root, write=True)
    assert recovered.record.last_bundle is not None
    assert recovered.record.last_bundle["id"] == bundle.name
    assert recovered.record.sealed["found.txt"]["bundle"] == bundle.name
    entry = recovered.timeline()[-1]
    assert (entry["what"], entry["result"], entry["details"]["bundle"]) == ("evidence.seal", "recovered", bundle.name)  # fmt: skip
    assert f"case case: recorded bundle {bundle.name}, found unrecorded, as the chain's head" in _warnings(caplog)  # fmt: skip
    assert assert_consistent(case.root, keys.signing_pub) == [bundle.name]


def test_an_unrecorded_bundle_that_forks_the_chain_is_quarantined(
    case: Case, keys: GeneratedKeys, caplog: pytest.LogCaptureFixture
) -> None:
    head = _seal_unrecorded(case, keys, None, "head")
    Case.load(case.root, write=True)  # recorded as the head
    fork = _seal_unrecorded(case, keys, None, "fork")  # a second first bundle: a fork
    with caplog.at_level(logging.WARNING, "breach.case"):
        recovered = Case.load(case.root, write=True)
    assert not fork.exists() and (case.root / "quarantine" / fork.name / "bagit.txt").is_file()
    assert recovered.record.last_bundle == {
        "id": head.name,
        "envelope_sha256": recovered.record.last_bundle["envelope_sha256"],  # type: ignore[index]
    }
    entry = recovered.timeline()[-1]
    assert (entry["what"], entry["details"]["to"]) == ("bundle.quarantine", f"quarantine/{fork.name}")  # fmt: skip
    assert "does not link to the recorded head" in entry["why"]
    assert f"case case: moved bundle {fork.name} (does not link to the recorded head) to quarantine/{fork.name}" in _warnings(caplog)  # fmt: skip
    assert assert_consistent(case.root, keys.signing_pub) == [head.name]
