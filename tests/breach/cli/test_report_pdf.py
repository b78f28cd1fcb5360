"""The report as a person gets it: `breach report`, printed to PDF by a real headless Chromium
(Debian's `chromium`), its text read back with pdftotext (poppler-utils).

Skips, naming the package, when either tool is absent: `apt-get install chromium poppler-utils`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.breach.test_report import HOSTILE, build_case, custody_of, statement_of, trust_args

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOTEXT = shutil.which("pdftotext")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="no Chromium: apt-get install chromium (Debian's package)"
    ),
    pytest.mark.skipif(PDFTOTEXT is None, reason="no pdftotext: apt-get install poppler-utils"),
]


def printed(html: Path, tmp_path: Path) -> str:
    """The report printed to PDF by headless Chromium (no network, no profile), as text."""
    assert CHROMIUM and PDFTOTEXT
    pdf = html.with_suffix(".pdf")
    subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}", "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}", html.resolve().as_uri(),
        ],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert pdf.read_bytes().startswith(b"%PDF-")
    done = subprocess.run(
        [PDFTOTEXT, "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True, timeout=60
    )
    return done.stdout.decode("utf-8")


def flat(text: str) -> str:
    """The text without white space: a hash or a time wrapped over two lines reads whole."""
    return re.sub(r"\s+", "", text)


def test_the_printed_report_shows_the_verdict_every_hash_and_the_custody_log(
    breach, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    built = build_case(tmp_path)
    out = tmp_path / "report.html"
    done = breach("report", built.first, "--out", out, *trust_args(built))
    assert done.exit_code == 0, done.stderr
    text = printed(out, tmp_path)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == "VERIFIED: this bundle is intact and was signed by the trusted key."
    whole = flat(text)
    for check in ("bagdeclaration", "signatureoverthestatement", "chainofcustody"):
        assert check in whole
    assert whole.count("pass") >= 8  # every check of the verification, passed
    assert built.keys.signing_keyid in whole
    artifacts = statement_of(built.first)["predicate"]["artifacts"]
    for artifact in artifacts:
        assert artifact["plaintext"]["sha256"] in whole, artifact["name"]
        assert artifact["ciphertext"]["sha256"] in whole, artifact["name"]
    assert flat(HOSTILE) in whole  # a hostile name is shown as text, not run
    for entry in custody_of(built.first):
        assert flat(entry["at"]) in whole and entry["event"] in text and entry["who"] in text
    assert "outsidecounsel" in whole and "rotated1key" in whole
    assert "9. Timeline" in text and "Containment" in text


def test_a_tampered_bundle_prints_not_verified_first(breach, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built = build_case(tmp_path)
    copy = tmp_path / "copy" / built.first.name
    shutil.copytree(built.first, copy)
    envelope = json.loads((copy / "statement.dsse.json").read_text())
    envelope["signatures"][0]["sig"] = envelope["signatures"][0]["sig"][::-1]
    (copy / "statement.dsse.json").write_text(json.dumps(envelope))
    out = tmp_path / "tampered.html"
    done = breach("report", copy, "--out", out, *trust_args(built))
    assert done.exit_code == 1
    text = printed(out, tmp_path)
    first = next(line for line in text.splitlines() if line.strip())
    assert first.startswith("NOT VERIFIED: this bundle FAILED verification")
    assert "FAIL" in text and "signatureoverthestatement" in flat(text)
