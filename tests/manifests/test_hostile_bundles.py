"""Hostile bundles fail fast and closed (issue 9): a bundle is a folder someone else handed us.

Each attack runs `breach verify` as a separate process under a time limit and a memory limit:
the answer is NOT VERIFIED, exit 1 and one line on stderr, within seconds, never a hang (a FIFO
that blocks a reader, /dev/zero read to the end), an internal error or a traceback.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from manifests.keys import GeneratedKeys

SECONDS = 30  # the attack must end well within this (each takes under a second here)
MEMORY = 1 << 30  # address space for the whole verifier process


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def verify_hostile(bundle: Path, keys: GeneratedKeys) -> tuple[dict[str, Any], str, float]:
    """Run `breach verify --json` in a child process; assert exit 1 and one clean stderr line.
    Returns (the report, stderr, seconds taken)."""
    started = time.monotonic()
    args = ["verify", str(bundle), "--pubkey", str(keys.signing_pub), "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "breach.cli", *args],
        capture_output=True,
        text=True,
        timeout=SECONDS,
        preexec_fn=_limit_memory,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    took = time.monotonic() - started
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    return report, done.stderr, took


def problems(report: dict[str, Any]) -> dict[str, list[str]]:
    """{failed check: its detail and problems}."""
    return {c["name"]: [c["detail"], *c["problems"]] for c in report["checks"] if c["ok"] is False}


def _text(found: dict[str, list[str]]) -> str:
    return "\n".join(line for lines in found.values() for line in lines)


# -- special files: FIFOs and devices never block and are never read ------------------------
@pytest.mark.parametrize(
    "name", ["data/users.csv.age", "bag-info.txt", "statement.dsse.json", "custody.jsonl"]
)
def test_a_fifo_in_the_bundle_is_refused_without_blocking(
    fresh_copy, keys: GeneratedKeys, name: str
) -> None:
    bundle = fresh_copy()
    (bundle / name).unlink()
    os.mkfifo(bundle / name)  # a reader that opened it without O_NONBLOCK would wait forever
    report, _, took = verify_hostile(bundle, keys)
    text = _text(problems(report))
    assert f"{name}: a FIFO, not a regular file" in text
    assert took < SECONDS / 2


@pytest.mark.parametrize(
    "name", ["data/dump.bin.age", "manifest-sha256.txt", "statement.dsse.json", "custody.jsonl"]
)
def test_a_link_to_dev_zero_is_never_followed(fresh_copy, keys: GeneratedKeys, name: str) -> None:
    """/dev/zero never ends: a reader that followed the link would hash or parse forever and
    run out of memory; the link is refused at open (O_NOFOLLOW) and reported."""
    bundle = fresh_copy()
    (bundle / name).unlink()
    (bundle / name).symlink_to("/dev/zero")
    report, _, took = verify_hostile(bundle, keys)
    assert f"{name}: a symbolic link (never followed)" in _text(problems(report))
    assert took < SECONDS / 2


def test_a_linked_envelope_is_not_read_through_the_link(
    fresh_copy, keys: GeneratedKeys, tmp_path: Path
) -> None:
    """The link leads to the genuine envelope: read through it, the signature would pass. It
    is never opened (O_NOFOLLOW), so the signature check has nothing to check."""
    bundle = fresh_copy()
    genuine = tmp_path / "genuine.dsse.json"
    (bundle / "statement.dsse.json").rename(genuine)
    (bundle / "statement.dsse.json").symlink_to(genuine)
    report, _, _ = verify_hostile(bundle, keys)
    assert problems(report)["signature over the statement"] == [
        "statement.dsse.json is a symbolic link; refusing to follow it"
    ]


def test_a_linked_data_folder_is_not_followed(
    fresh_copy, keys: GeneratedKeys, tmp_path: Path
) -> None:
    bundle = fresh_copy()
    elsewhere = tmp_path / "elsewhere"
    (bundle / "data").rename(elsewhere)  # the same files, reached through a link
    (bundle / "data").symlink_to(elsewhere)
    report, _, _ = verify_hostile(bundle, keys)
    found = problems(report)
    assert "data/ is not a folder (a link or a file)" in found["bag declaration"]
    assert "data: a symbolic link (never followed)" in _text(found)


# -- JSON: a depth bound and no duplicate keys ---------------------------------------------
DEEP = b"[" * 100_000 + b"]" * 100_000


def test_a_100000_deep_custody_line_is_not_an_entry(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    with open(bundle / "custody.jsonl", "ab") as log:
        log.write(b'{"event":' + DEEP + b"}\n")
    report, _, took = verify_hostile(bundle, keys)
    assert "entry 2 is not a valid JSON entry" in problems(report)["chain of custody"]
    assert took < SECONDS / 2


def test_a_100000_deep_envelope_is_refused(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    (bundle / "statement.dsse.json").write_bytes(b'{"payload":' + DEEP + b"}")
    report, _, _ = verify_hostile(bundle, keys)
    assert problems(report)["signature over the statement"][0] == (
        "statement.dsse.json nests deeper than 64 levels; refusing to parse it"
    )


def test_a_duplicate_key_in_the_envelope_is_refused(fresh_copy, keys: GeneratedKeys) -> None:
    """Two `payload` keys: a reader keeping the first and one keeping the last would see two
    different statements under one signature. Neither is read."""
    bundle = fresh_copy()
    envelope = (bundle / "statement.dsse.json").read_text()
    forged = base64.b64encode(b'{"forged": true}').decode()
    (bundle / "statement.dsse.json").write_text(
        envelope.replace('"payload":', f'"payload": "{forged}", "payload":', 1)
    )
    report, _, _ = verify_hostile(bundle, keys)
    assert problems(report)["signature over the statement"][0] == (
        "statement.dsse.json holds the key 'payload' twice; refusing an ambiguous document"
    )


def test_a_duplicate_key_in_a_custody_line_is_not_an_entry(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    log = bundle / "custody.jsonl"
    line = log.read_bytes().rstrip(b"\n")
    log.write_bytes(line.replace(b'"event":"sealed"', b'"event":"stored","event":"sealed"') + b"\n")
    report, _, _ = verify_hostile(bundle, keys)
    assert "entry 1 is not a valid JSON entry" in problems(report)["chain of custody"]


def test_an_over_long_custody_line_is_not_held_in_memory(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    with open(bundle / "custody.jsonl", "ab") as log:
        log.write(b'{"why":"' + b"x" * (3 << 20) + b'"}\n')
    report, _, _ = verify_hostile(bundle, keys)
    assert "entry 2 is not a valid JSON entry" in problems(report)["chain of custody"]


# -- manifests are split on '\n' only ------------------------------------------------------
@pytest.mark.parametrize("separator", ["\r", "\u2028", "\x85"])
def test_a_manifest_line_with_another_line_break_is_malformed(
    fresh_copy, keys: GeneratedKeys, separator: str
) -> None:
    """`splitlines()` would read one line as two (or a name with a '\\r' as another name)."""
    bundle = fresh_copy()
    manifest = bundle / "manifest-sha256.txt"
    lines = manifest.read_text().split("\n")
    lines[0] = lines[0] + separator + lines[0]
    manifest.write_text("\n".join(lines))
    report, _, _ = verify_hostile(bundle, keys)
    assert problems(report)["evidence files (payload manifest)"][0] == (
        "manifest-sha256.txt line 1 holds a control character or line separator"
    )


def test_a_manifest_listing_one_path_twice_is_malformed(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    manifest = bundle / "manifest-sha256.txt"
    first = manifest.read_text().split("\n")[0]
    manifest.write_text(manifest.read_text() + first.replace(first[:64], "0" * 64) + "\n")
    report, _, _ = verify_hostile(bundle, keys)
    assert "a second time" in problems(report)["evidence files (payload manifest)"][0]


# -- everything in the bag is listed -------------------------------------------------------
def test_an_unreadable_manifest_does_not_make_data_folders_unlisted(
    breach, fresh_copy, keys: GeneratedKeys
) -> None:
    """data/logs/ is listed through the manifest; when the manifest cannot be read, the payload
    check fails and says why, and the folder is not reported as unlisted on top."""
    bundle = fresh_copy()
    (bundle / "manifest-sha256.txt").write_text("not a manifest line\n")
    result = breach("verify", bundle, "--pubkey", keys.signing_pub, "--json")
    failed = {c["name"] for c in result.json["checks"] if c["ok"] is False}
    assert "evidence files (payload manifest)" in failed
    assert "nothing unlisted in the bag" not in failed


def test_unlisted_files_folders_and_links_are_reported(fresh_copy, keys: GeneratedKeys) -> None:
    bundle = fresh_copy()
    (bundle / "notes.txt").write_text("not part of the evidence")
    (bundle / "data" / "empty").mkdir()
    (bundle / "extra").mkdir()
    (bundle / "extra" / "more.txt").write_text("x")
    (bundle / "data" / "link.age").symlink_to(bundle / "data" / "users.csv.age")
    report, _, _ = verify_hostile(bundle, keys)
    found = problems(report)["nothing unlisted in the bag"]
    assert found[0] == "5 unexpected item(s) in the bag"
    assert sorted(found[1:]) == [
        "data/empty/: a folder holding no listed file",
        "data/link.age: a symbolic link (never followed)",
        "extra/: a folder holding no listed file",
        "extra/more.txt: a file the bag does not list",
        "notes.txt: a file the bag does not list",
    ]


def test_a_clean_bundle_has_nothing_unlisted(breach, bundle: Path, keys: GeneratedKeys) -> None:
    result = breach("verify", bundle, "--pubkey", keys.signing_pub, "--json")
    assert result.exit_code == 0, result.stdout
    check = {c["name"]: c for c in result.json["checks"]}["nothing unlisted in the bag"]
    assert check["ok"] is True


# -- nothing from a bundle or case reaches the terminal unescaped ---------------------------
ANSI = "\x1b[2J\x1b[31mVERIFIED\x1b]0;owned\x07 [red]markup[/red]\u2028next\u202eevil"


def test_ansi_escapes_in_a_custody_note_are_shown_escaped(
    breach, bundle: Path, keys: GeneratedKeys
) -> None:
    recorded = breach(
        "custody", "record", bundle, "--event", "accessed", "--why", ANSI,
        "--signing-key", keys.signing_key,
    )  # fmt: skip
    assert recorded.exit_code == 0, recorded.stderr
    shown = breach("custody", "show", bundle)
    assert shown.exit_code == 0, shown.stderr
    line = shown.stdout.splitlines()[-1]
    for raw in ("\x1b", "\x07", "\u2028", "\u202e"):
        assert raw not in shown.stdout
    assert (
        "\\x1b[2J\\x1b[31mVERIFIED\\x1b]0;owned\\x07 [red]markup[/red]\\u2028next\\u202eevil"
        in line
    )
    # --json keeps the note as it was signed (JSON escapes control characters itself).
    assert breach("custody", "show", bundle, "--json").json[-1]["why"] == ANSI


def test_ansi_escapes_in_a_file_name_are_shown_escaped_by_verify(
    breach, fresh_copy, keys: GeneratedKeys
) -> None:
    bundle = fresh_copy()
    (bundle / "data" / "\x1b[32mok\x1b[0m.age").write_bytes(b"x")
    result = breach("verify", bundle, "--pubkey", keys.signing_pub)
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout + result.stderr
    assert "data/\\x1b[32mok\\x1b[0m.age: present but not listed" in result.stdout


def test_ansi_escapes_in_case_content_are_shown_escaped_by_incident_show(
    breach, tmp_path: Path
) -> None:
    """A title (and a journal entry's reason) can carry text pasted from a breached system."""
    root = tmp_path / "INC-ESC"
    opened = breach(
        "incident", "open", "--id", "INC-ESC", "--severity", "P3", "--title", ANSI,
        "--case-dir", root,
    )  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    shown = breach("incident", "show", "--case", root)
    assert shown.exit_code == 0, shown.stderr
    for raw in ("\x1b", "\x07", "\u2028", "\u202e"):
        assert raw not in shown.stdout
    assert "\\x1b[31mVERIFIED\\x1b]0;owned\\x07 [red]markup[/red]" in shown.stdout


def test_custody_is_never_appended_through_a_link(
    breach, fresh_copy, keys: GeneratedKeys, tmp_path: Path
) -> None:
    """custody.jsonl pointing at a file of the user's (a shell profile): recording an event
    would append to that file. It is refused, and the file is unchanged."""
    bundle = fresh_copy()
    victim = tmp_path / "profile"
    victim.write_text("export PATH=/usr/bin\n")
    (bundle / "custody.jsonl").unlink()
    (bundle / "custody.jsonl").symlink_to(victim)
    result = breach(
        "custody", "record", bundle, "--event", "accessed", "--signing-key", keys.signing_key
    )
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "is not a regular file" in result.stderr
    assert victim.read_text() == "export PATH=/usr/bin\n"


def test_custody_show_of_a_fifo_log_does_not_block(breach, fresh_copy) -> None:
    bundle = fresh_copy()
    (bundle / "custody.jsonl").unlink()
    os.mkfifo(bundle / "custody.jsonl")
    result = breach("custody", "show", bundle)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "is not a regular file" in result.stderr
