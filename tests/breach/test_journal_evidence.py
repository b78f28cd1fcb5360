"""The journal and the case record are evidence (issue 9).

Each seal of a case carries the journal and case.json as artifacts (`data/case/`) and signs the
journal's head in the statement. `breach incident verify` compares the journal with those heads:
a journal cut short, or rewritten with every link recomputed (so its own chain still holds), is
caught by any bundle sealed after the changed entry.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from manifests import chain
from manifests.decrypt import decrypt_bundle
from manifests.keys import GeneratedKeys, generate, load_identities


@pytest.fixture
def keys(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "keys")


def _ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def _seal(breach: Any, root: Path, keys: GeneratedKeys, name: str) -> Path:
    (root / "staging" / name).write_text(f"evidence {name}\n")
    _ok(breach("seal", "--case", root, "-r", keys.age_recipient, "--signing-key", keys.signing_key))
    return max((root / "bundles").iterdir(), key=lambda p: p.stat().st_mtime_ns)


@pytest.fixture
def case(breach: Any, tmp_path: Path, keys: GeneratedKeys) -> tuple[Path, list[Path]]:
    """A case with two seals (and journal entries before, between and after them)."""
    root = tmp_path / "INC-J"
    _ok(breach("incident", "open", "--id", "INC-J", "--severity", "P2", "--title", "leak",
               "--case-dir", root))  # fmt: skip
    first = _seal(breach, root, keys, "a.txt")
    _ok(breach("incident", "severity", "--case", root, "--to", "P1", "--reason", "worse"))
    second = _seal(breach, root, keys, "b.txt")
    _ok(breach("incident", "status", "--case", root, "--to", "contained", "--reason", "done"))
    return root, [first, second]


def _statement(bundle: Path) -> dict[str, Any]:
    envelope = json.loads((bundle / "statement.dsse.json").read_text())
    return dict(json.loads(base64.b64decode(envelope["payload"])))


def _lines(root: Path) -> list[bytes]:
    return (root / "journal" / "journal.jsonl").read_bytes().split(b"\n")[:-1]


def _write_lines(root: Path, lines: list[bytes]) -> None:
    (root / "journal" / "journal.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))


def _verify(breach: Any, root: Path, keys: GeneratedKeys) -> Any:
    return breach("incident", "verify", "--case", root, "--pubkey", keys.signing_pub, "--json")


def test_each_seal_carries_the_journal_and_case_record_and_signs_the_head(
    breach: Any, case: tuple[Path, list[Path]], keys: GeneratedKeys, tmp_path: Path
) -> None:
    root, bundles = case
    lines = _lines(root)
    for bundle in bundles:
        statement = _statement(bundle)
        head = statement["predicate"]["bundle"]["journal"]
        names = [a["name"] for a in statement["predicate"]["artifacts"]]
        assert names[-2:] == ["case/journal.jsonl", "case/case.json"]
        assert head["sha256"] == chain.line_hash(lines[head["seq"]])
        assert head["entries"] == head["seq"] + 1
        out = tmp_path / f"plain-{bundle.name}"
        decrypt_bundle(bundle, load_identities(keys.age_identity), out)
        sealed = (out / "case" / "journal.jsonl").read_bytes()
        assert sealed == b"".join(line + b"\n" for line in lines[: head["entries"]])
        assert json.loads((out / "case" / "case.json").read_text())["id"] == "INC-J"
        # A case bundle still verifies: data/case/ is listed, nothing unlisted.
        _ok(breach("verify", bundle, "--pubkey", keys.signing_pub))
    first, second = (_statement(b)["predicate"]["bundle"]["journal"]["seq"] for b in bundles)
    assert first < second < len(lines) - 1


def test_an_intact_journal_verifies(
    breach: Any, case: tuple[Path, list[Path]], keys: GeneratedKeys
) -> None:
    root, bundles = case
    result = _ok(_verify(breach, root, keys)).json
    assert result["problems"] == [] and result["entries"] == len(_lines(root))
    assert [h["bundle"] for h in result["heads"]] == sorted(b.name for b in bundles)
    assert all(h["matches"] for h in result["heads"])


def test_a_truncated_journal_is_caught(
    breach: Any, case: tuple[Path, list[Path]], keys: GeneratedKeys
) -> None:
    """Cut after the first seal's head: what is left is a valid chain (a prefix always is), so
    only the second bundle's signed head can tell."""
    root, (first, second) = case
    keep = _statement(first)["predicate"]["bundle"]["journal"]["entries"]
    _write_lines(root, _lines(root)[:keep])
    assert chain.verify(root / "journal" / "journal.jsonl")[1] == []
    result = _verify(breach, root, keys)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    signed = _statement(second)["predicate"]["bundle"]["journal"]["seq"]
    assert result.json["problems"] == [
        f"the journal ends at entry {keep - 1}, but bundle {second.name} signed entry {signed}: "
        "it was cut short after that seal"
    ]


def _rechain(lines: list[bytes]) -> list[bytes]:
    """Recompute every `prev` link, as a forger with write access to the journal would."""
    out: list[bytes] = []
    for line in lines:
        entry = json.loads(line)
        entry["prev"] = chain.line_hash(out[-1]) if out else chain.GENESIS
        out.append(chain.canonical(entry))
    return out


def test_a_rewritten_and_rechained_journal_is_caught(
    breach: Any, case: tuple[Path, list[Path]], keys: GeneratedKeys
) -> None:
    root, _ = case
    lines = _lines(root)
    opened = json.loads(lines[0])
    opened["why"] = "a harmless test, nothing leaked"  # the title the case was opened with
    lines[0] = chain.canonical(opened)
    _write_lines(root, _rechain(lines))
    assert chain.verify(root / "journal" / "journal.jsonl")[1] == []  # the chain alone holds
    result = _verify(breach, root, keys)
    assert result.exit_code == 1
    problems = result.json["problems"]
    assert len(problems) == 2 and all("was rewritten up to that entry" in p for p in problems)
    human = breach("incident", "verify", "--case", root, "--pubkey", keys.signing_pub)
    assert human.exit_code == 1 and human.stdout.count("problem: ") == 2
    assert "journal NOT INTACT" in human.stdout and "Traceback" not in human.stderr


def test_a_broken_chain_is_reported_by_line(
    breach: Any, case: tuple[Path, list[Path]], keys: GeneratedKeys
) -> None:
    root, _ = case
    lines = _lines(root)
    del lines[1]  # dropped, not rechained
    _write_lines(root, lines)
    problems = _verify(breach, root, keys).json["problems"]
    assert "journal line 2 has seq 2, expected 1" in problems


def test_heads_count_only_from_a_trusted_sealer(
    breach: Any, case: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    root, bundles = case
    stranger = generate(tmp_path / "stranger")
    result = breach(
        "incident", "verify", "--case", root, "--pubkey", stranger.signing_pub, "--json"
    )
    assert result.exit_code == 1
    assert result.json["problems"] == [
        f"bundle {b.name}: its statement is not signed by a trusted key; its head cannot be used"
        for b in sorted(bundles)
    ]
