"""No name breaks a line-based file: the manifest writer refuses a path with a line break or a
control character, sealing refuses such a staged name before writing anything, payload names
stay one-to-one for percent-encoded names, and chained logs keep one entry a line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from core.errors import BadInput
from core.fsio import name_to_file
from manifests import bagit, chain
from manifests.keys import GeneratedKeys

from .test_steps import seal_folder

BREAKING = ["a\nb", "a\rb", "a\u2028b", "a\u2029b", "a\x85b", "a\x1b[31mb", "a\x00b", "a\\b", ""]


@pytest.mark.parametrize("path", BREAKING)
def test_the_manifest_writer_refuses_a_path_that_breaks_its_line(path: str) -> None:
    with pytest.raises(BadInput, match="refusing to list") as refused:
        bagit.manifest_text({"data/ok.age": "0" * 64, path: "1" * 64})
    assert "\n" not in str(refused.value) and "\u2028" not in str(refused.value)


def test_payload_names_of_encoded_names_are_one_to_one_and_as_long() -> None:
    names = ["a/b", "a b", "a_20b", "a_2Fb", "a+b", "a%b", "A", "a", ".x", "\u2028", "x" * 300]
    staged = [f"snapshot/1/public.{name_to_file(n)}.parquet" for n in names]
    payloads = [bagit.safe_payload_name(s) for s in staged]
    assert len(set(payloads)) == len(names)
    assert [len(p) for p in payloads] == [len(s) for s in staged]
    assert not any("%" in p or "\\" in p for p in payloads)


def test_a_staged_name_with_a_unicode_line_break_is_refused_before_anything_is_written(
    tmp_path: Path, keys: GeneratedKeys
) -> None:
    folder = tmp_path / "staged"
    folder.mkdir()
    (folder / "fine.txt").write_text("fine")
    (folder / "evil\u2028name.txt").write_text("x")
    out = tmp_path / "bundles" / "b1"
    with pytest.raises(BadInput, match="unsafe artifact name") as refused:
        seal_folder(folder, out, keys)
    assert "\u2028" not in str(refused.value)  # shown escaped, on one line
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_names_that_encode_to_each_others_naive_form_seal_and_check(
    tmp_path: Path, keys: GeneratedKeys
) -> None:
    folder = tmp_path / "staged"
    folder.mkdir()
    for name in ["a b", "a_20b", "a%b", "Case", "case"]:
        (folder / f"{name_to_file(name)}.txt").write_text(name)
    bundle = seal_folder(folder, tmp_path / "b1", keys)
    manifest = (bundle / "manifest-sha256.txt").read_bytes()
    assert manifest.count(b"\n") == 5 == len(manifest.decode().splitlines())
    checked = subprocess.run(
        ["sha256sum", "--strict", "-c", "manifest-sha256.txt", "tagmanifest-sha256.txt"],
        cwd=bundle,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tags = (bundle / "tagmanifest-sha256.txt").read_text().splitlines()
    assert checked.stdout.count(": OK\n") == 5 + len(tags)


def test_a_chained_log_keeps_a_unicode_line_break_inside_its_line(tmp_path: Path) -> None:
    log = tmp_path / "journal.jsonl"
    hostile = "table\u2028\u2029\x85\n\x1b[2Jname"
    chain.append(log, {"what": "evidence.snapshot", "details": {"failed": hostile}})
    chain.append(log, {"what": "next"})
    text = log.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 2 == text.count("\n")
    assert chain.entries(log)[0]["details"]["failed"] == hostile
    count, problems = chain.verify(log)
    assert (count, problems) == (2, [])
