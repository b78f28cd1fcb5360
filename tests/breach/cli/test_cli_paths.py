"""The CLI's own paths that once ran in no test (issue 16): the last-resort error handler,
--verbose, Ctrl-C, an invalid case.json, custody on a non-bundle, custody show for people."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from breach.cli import cli
from manifests.keys import GeneratedKeys, generate


@pytest.fixture
def keys(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "keys")


@pytest.fixture
def bundle(breach, tmp_path: Path, keys: GeneratedKeys) -> Path:  # type: ignore[no-untyped-def]
    source = tmp_path / "evidence"
    source.mkdir()
    (source / "users.csv").write_text("id,email\n1,a@example.com\n")
    out = tmp_path / "bundles" / "b1"
    sealed = breach("seal", source, "--out", out, "--incident", "INC-1",
                    "-r", keys.age_recipient, "--signing-key", keys.signing_key)  # fmt: skip
    assert sealed.exit_code == 0, sealed.stderr
    return out


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    line = stderr.strip()
    assert "\n" not in line, stderr
    return line


@pytest.fixture
def exploding_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command whose body fails in a way no step anticipated (not a BreachError)."""

    @click.command("explode")
    def explode() -> None:
        {"a": 1}["the missing key"]

    monkeypatch.setitem(cli.commands, "explode", explode)


def test_an_unexpected_error_is_one_line_and_exit_1(breach, exploding_command: None) -> None:
    """The last resort: a bug reaches the user as one line naming it, and how to see more."""
    result = breach("explode")
    assert result.exit_code == 1
    line = _one_line(result.stderr)
    assert line == "internal error: KeyError: 'the missing key' (rerun with --verbose)"


def test_verbose_shows_the_traceback_of_an_unexpected_error(
    breach, exploding_command: None
) -> None:
    for flag in ("--verbose", "-v"):
        result = breach(flag, "explode")
        assert result.exit_code == 1
        assert "Traceback (most recent call last)" in result.stderr
        assert "KeyError: 'the missing key'" in result.stderr
        assert result.stderr.rstrip().endswith("(rerun with --verbose)")


def test_verbose_shows_the_traceback_of_a_domain_error_too(breach, tmp_path: Path) -> None:
    quiet = breach("custody", "show", tmp_path)
    assert quiet.exit_code == 2 and "Traceback" not in quiet.stderr
    loud = breach("--verbose", "custody", "show", tmp_path)
    assert loud.exit_code == 2
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.rstrip().splitlines()[-1] == quiet.stderr.strip()


def test_ctrl_c_exits_130_with_one_word(tmp_path: Path, bundle: Path, keys: GeneratedKeys) -> None:
    """Ctrl-C (SIGINT) while `breach custody record` waits for the custody log's lock: the
    KeyboardInterrupt becomes "interrupted" and exit 130, and the log is unchanged."""
    import psutil

    log = bundle / "custody.jsonl"
    before = log.read_bytes()
    env = {**os.environ, "BREACH_OPERATOR": "tester@breachkit"}
    with open(log, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another writer holds the log
        proc = subprocess.Popen(
            [sys.executable, "-m", "breach.cli", "custody", "record", str(bundle),
             "--event", "accessed", "--signing-key", str(keys.signing_key)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not _waits_for_a_lock(proc.pid):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "breach never reached the lock"
                time.sleep(0.05)
            assert psutil.Process(proc.pid).status() == psutil.STATUS_SLEEPING
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, err
    assert err.decode().strip() == "interrupted" and out == b""
    assert log.read_bytes() == before


def _waits_for_a_lock(pid: int) -> bool:
    """/proc/locks lists a blocked flock() as '-> FLOCK ... <pid> ...'."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields and "FLOCK" in fields and str(pid) in fields:
            return True
    return False


# -- case.json -------------------------------------------------------------------------------
def _open_case(breach) -> Path:  # type: ignore[no-untyped-def]
    opened = breach("incident", "open", "--id", "INC-7", "--severity", "P2", "--title", "t",
                    "--aware-at", "2026-11-27T08:00:00Z", "--json")  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    return Path(opened.json["case"])


def test_a_case_json_that_is_not_json_is_one_line(breach) -> None:
    root = _open_case(breach)
    (root / "case.json").write_text('{"id": "INC-7", "severity": ')
    result = breach("incident", "show", "--case", root)
    assert result.exit_code == 2
    line = _one_line(result.stderr)
    assert f"case file {root / 'case.json'} is not valid JSON" in line


def test_a_case_json_with_an_invalid_field_names_the_field(breach) -> None:
    root = _open_case(breach)
    record = json.loads((root / "case.json").read_text())
    record["severity"] = "P9"
    (root / "case.json").write_text(json.dumps(record))
    result = breach("incident", "show", "--case", root, "--json")
    assert result.exit_code == 2 and result.stdout == ""
    line = _one_line(result.stderr)
    assert f"{root / 'case.json'}: field severity:" in line


def test_a_missing_case_json(breach, tmp_path: Path) -> None:
    (tmp_path / "empty-case").mkdir()
    result = breach("incident", "show", "--case", tmp_path / "empty-case")
    assert result.exit_code == 2
    assert f"no case at {tmp_path / 'empty-case'}" in _one_line(result.stderr)


# -- custody ---------------------------------------------------------------------------------
def test_custody_record_on_a_folder_that_is_not_a_bundle(
    breach, tmp_path: Path, keys: GeneratedKeys
) -> None:
    folder = tmp_path / "not-a-bundle"
    folder.mkdir()
    result = breach("custody", "record", folder, "--event", "accessed",
                    "--signing-key", keys.signing_key)  # fmt: skip
    assert result.exit_code == 2
    assert f"{folder} is not a bundle (no custody.jsonl)" in _one_line(result.stderr)
    assert list(folder.iterdir()) == []  # nothing written into it


def test_custody_show_for_people(breach, bundle: Path, keys: GeneratedKeys) -> None:
    """The human listing: one line per event, time, event, who and why; a hostile `why` is
    printed as text, not as terminal markup."""
    recorded = breach("custody", "record", bundle, "--event", "transferred", "--to", "counsel",
                      "--why", "[red]hold[/red] for review", "--signing-key", keys.signing_key)  # fmt: skip
    assert recorded.exit_code == 0, recorded.stderr
    assert recorded.stdout.strip() == (
        f"recorded transferred (entry 2) for {bundle}, signed by custodian key "
        f"{keys.signing_keyid}: verifiers trust it with --custody-trust"
    )
    shown = breach("custody", "show", bundle)
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    events = breach("custody", "show", bundle, "--json").json
    assert len(lines) == len(events) == 2
    assert lines[0].startswith(events[0]["at"]) and " sealed " in lines[0]
    # each line ends with the signer's key id and its role (no --custody-trust given here)
    assert lines[0].rstrip().endswith(f"tester@breachkit  [sealer key {keys.signing_keyid}]")
    assert lines[1].split()[:3] == [events[1]["at"], "transferred", "tester@breachkit"]
    assert lines[1].endswith(f" - [red]hold[/red] for review  [outside key {keys.signing_keyid}]")
