"""`breach report`: exit codes, --json, one-line errors; the report itself is checked in
tests/breach/test_report.py (library) and test_report_pdf.py (through a real browser)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from tests.breach.test_report import build_case


def test_report_writes_the_file_and_prints_its_hash(breach, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = build_case(tmp_path)
    out = tmp_path / "report.html"
    custody = ("--custody-trust", built.keys.signing_pub)  # the custody entry's key, by role
    trust = ("--pubkey", built.keys.signing_pub, *custody)
    done = breach("report", built.first, "--out", out, *trust, "--json")
    assert done.exit_code == 0, done.stderr
    data = done.json
    assert data["verdict"] == "verified" and data["failed"] == []
    assert data["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert data["artifacts"] == 7 and data["custody_entries"] == 2 and data["receipts"] == 3
    human = breach("report", built.first, "--out", out, *trust)
    assert human.exit_code == 0, human.stderr
    assert human.stdout.startswith(f"VERIFIED  bundle {built.first.name}")
    assert f"sha256   {data['sha256']}" in human.stdout  # the same bytes again
    folder = breach("report", built.first, "--out", out, "--trust", built.keys.signing_pub.parent, *custody)  # fmt: skip
    assert folder.exit_code == 0 and folder.stdout.startswith("VERIFIED")
    unpinned = breach("report", built.first, "--out", tmp_path / "u.html", *custody)
    assert unpinned.exit_code == 2 and "--pubkey" in unpinned.stderr
    assert not (tmp_path / "u.html").exists()
    waived = breach("report", built.first, "--out", tmp_path / "u.html", "--no-signer-check", *custody)  # fmt: skip
    assert waived.exit_code == 0 and waived.stdout.startswith("NO VERDICT")


def test_a_tampered_bundle_is_reported_and_exits_1(breach, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = build_case(tmp_path)
    copy = tmp_path / "copy" / built.first.name
    shutil.copytree(built.first, copy)
    (copy / "custody.jsonl").write_text(
        "\n".join((copy / "custody.jsonl").read_text().splitlines()[1:]) + "\n"
    )  # the sealing entry dropped
    out = tmp_path / "tampered.html"
    pub = built.keys.signing_pub
    done = breach("report", copy, "--out", out, "--pubkey", pub, "--custody-trust", pub)
    assert done.exit_code == 1
    assert done.stdout.startswith("NOT VERIFIED")
    [line] = done.stderr.strip().splitlines()
    assert "FAILED verification (chain of custody)" in line and "Traceback" not in done.stderr
    assert "NOT VERIFIED" in out.read_text(encoding="utf-8").splitlines()[0]


def test_bad_input_is_one_line_and_exit_2(breach, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = build_case(tmp_path)
    bundle, pub = built.first, built.keys.signing_pub
    cases = [
        (("report", bundle), "Missing option '--out'"),
        (("report", tmp_path / "nothing", "--out", tmp_path / "r.html", "--pubkey", pub), "is not a bundle"),
        (("report", bundle, "--out", tmp_path / "r.html"), "--pubkey"),
        (("report", bundle, "--out", tmp_path), "--out"),
        (("report", bundle, "--out", bundle / "r.html"), "inside the bundle"),
        (("report", bundle, "--out", tmp_path / "r.html", "--generated-at", "noon"), "--generated-at"),
        (("report", bundle, "--out", tmp_path / "r.html", "--trust", tmp_path / "no"), "trust folder not found"),
        (("report", bundle, "--out", tmp_path / "r.html", "--pubkey", pub, "--case", "INC-404"), "no case at INC-404"),
    ]  # fmt: skip
    for args, says in cases:
        done = breach(*args)
        assert done.exit_code == 2, (args, done.stdout, done.stderr)
        assert says in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    assert not (tmp_path / "r.html").exists() and not (bundle / "r.html").exists()
