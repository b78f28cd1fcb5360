"""`--id` and `--incident` refuse an id with a trailing newline: one line naming the flag, exit 2,
nothing created."""

from __future__ import annotations

from pathlib import Path


def assert_refused(result, flag: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 2 and flag in lines[0] and "incident id" in lines[0]
    assert "Traceback" not in result.stderr


def test_incident_open_refuses_a_trailing_newline(breach, tmp_path: Path) -> None:
    result = breach(
        "incident", "open", "--id", "INC-9\n", "--severity", "P2", "--title", "t",
        "--case-dir", str(tmp_path / "case"),
    )  # fmt: skip
    assert_refused(result, "--id")
    assert not (tmp_path / "case").exists()


def test_seal_refuses_a_trailing_newline(breach, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    out = tmp_path / "bundle"
    result = breach("seal", str(tmp_path / "src"), "--out", str(out), "--incident", "INC-9\n")
    assert_refused(result, "--incident")
    assert not out.exists()


def test_bundle_list_refuses_a_trailing_newline(breach, tmp_path: Path) -> None:
    result = breach("bundle", "list", "--store", str(tmp_path / "store"), "--incident", "INC-9\n")
    assert_refused(result, "--incident")
