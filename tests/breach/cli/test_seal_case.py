"""Sealing a case: staged artifacts with their metadata, the bundle chain, the journal."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from breach.case import Case
from core.artifacts import describe
from manifests.keys import generate


def statement_of(bundle: Path) -> dict:  # type: ignore[type-arg]
    env = json.loads((bundle / "statement.dsse.json").read_text())
    return json.loads(base64.b64decode(env["payload"]))  # type: ignore[no-any-return]


def test_case_bundles_chain_and_are_journaled(breach, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keys = generate(tmp_path / "keys")
    seal = [
        "seal",
        "--case",
        "INC-42",
        "-r",
        keys.recipient,
        "--signing-key",
        keys.signing_key,
        "--json",
    ]
    assert (
        breach(
            "incident", "open", "--id", "INC-42", "--severity", "P1", "--title", "exfil"
        ).exit_code
        == 0
    )
    case = Case.load("INC-42")
    export = case.stage_path("audit/public.audit_log/day=2026-11-27/part-0000.parquet")
    export.write_bytes(b"PAR1 not really parquet PAR1")
    describe(
        export.parent.parent,
        {
            "media_type": "application/vnd.apache.parquet",
            "source": {"system": "postgresql", "table": "public.audit_log", "row_count": 3},
            "collector": {"name": "evidence.postgres.audit", "version": "0.1.0"},
        },
    )

    first = breach(*seal)
    assert first.exit_code == 0, first.stderr
    first_path = Path(first.json["bundle"])
    artifact = statement_of(first_path)["predicate"]["artifacts"][0]
    assert artifact["name"] == "audit/public.audit_log/day=2026-11-27/part-0000.parquet"
    assert (
        artifact["source"]["table"] == "public.audit_log"
        and artifact["collector"]["version"] == "0.1.0"
    )
    assert artifact["media_type"] == "application/vnd.apache.parquet"
    assert statement_of(first_path)["predicate"]["bundle"]["incident"] == {
        "id": "INC-42",
        "severity": "P1",
    }

    nothing = breach(*seal)
    assert nothing.exit_code == 2 and "nothing new to seal" in nothing.stderr

    case.stage_json(
        "receipts/revoke.json", {"kind": "containment", "summary": "revoked 3 sessions"}
    )
    second = breach(*seal)
    assert second.exit_code == 0, second.stderr
    second_path = Path(second.json["bundle"])
    assert [a["name"] for a in statement_of(second_path)["predicate"]["artifacts"]] == [
        "receipts/revoke.json",
        "case/journal.jsonl",  # the case record travels with every seal of the case
        "case/case.json",
    ]
    previous = statement_of(second_path)["predicate"]["bundle"]["previous"]
    assert previous == {"id": first.json["id"], "envelope_sha256": first.json["envelope_sha256"]}

    report = breach("verify", second_path, "--pubkey", keys.signing_pub, "--json").json
    link = {c["name"]: c for c in report["checks"]}["link to the previous bundle"]
    assert link["ok"] is True and first.json["id"] in link["detail"]

    # Rewriting the earlier bundle breaks the later one's link.
    envelope = first_path / "statement.dsse.json"
    envelope.write_text(envelope.read_text().replace("\n", " \n", 1))
    broken = breach("verify", second_path, "--pubkey", keys.signing_pub, "--json")
    assert broken.exit_code == 1
    link = {c["name"]: c for c in broken.json["checks"]}["link to the previous bundle"]
    assert link["ok"] is False and "differs" in link["detail"]

    whats = [e["what"] for e in Case.load("INC-42").timeline()]
    assert whats.count("evidence.seal") == 2
    assert Case.load("INC-42").verify_journal() == []


def test_decrypting_a_case_bundle_is_journaled_in_the_case(breach, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keys = generate(tmp_path / "keys")
    breach("incident", "open", "--id", "INC-43", "--severity", "P2", "--title", "t")
    Case.load("INC-43").stage_json("note.json", {"seen": True})
    sealed = breach(
        "seal",
        "--case",
        "INC-43",
        "-r",
        keys.recipient,
        "--signing-key",
        keys.signing_key,
        "--json",
    )
    bundle = Path(sealed.json["bundle"])
    assert (
        breach(
            "decrypt",
            bundle,
            "-i",
            keys.age_identity,
            "--out",
            tmp_path / "p",
            "--signing-key",
            keys.signing_key,
            "--reason",
            "regulator request",
            "--pubkey",
            keys.signing_pub,
        ).exit_code
        == 0
    )
    entry = Case.load("INC-43").timeline()[-1]
    assert entry["what"] == "custody.decrypted" and entry["why"] == "regulator request"
