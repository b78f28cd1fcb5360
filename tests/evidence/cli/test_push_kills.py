"""`breach bundle push` of a case's bundle to a folder store, killed (kill -9, core.faults) at 20
moments, then run again: every rerun completes, every object of the bundle is in the store once
and verifies, the custody log says "stored" once, and no push is left open in the journal."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from breach.case import Case
from breach.procedure import locker
from evidence.stores.registry import open_store
from manifests import custody
from manifests.keys import GeneratedKeys, generate
from tests.kills import KILLS, kill_at, moments_of, spread


def sealed_case(breach: Any, tmp_path: Path, keys: GeneratedKeys) -> Path:
    """A case holding one sealed bundle of a few files."""
    case = Case.open("INC-PUSH", "P1", "push", root=tmp_path / "case")
    source = tmp_path / "evidence"
    (source / "logs").mkdir(parents=True)
    for n in range(6):
        (source / "logs" / f"access-{n}.log").write_text(f"10.0.0.{n} GET /admin 200\n" * 50)
    out = case.bundles / "b1"
    sealing = ["-r", keys.age_recipient, "--signing-key", keys.signing_key]
    done = breach("seal", source, "--out", out, "--incident", "INC-PUSH", *sealing)
    assert done.exit_code == 0, done.stderr
    return case.root


def push_args(bundle: Path, store: Path, keys: GeneratedKeys) -> list[str]:
    return [
        "bundle", "push", str(bundle), "--store", str(store),
        "--signing-key", str(keys.signing_key), "--json",
    ]  # fmt: skip


def assert_stored_once_and_verified(
    breach: Any, case_root: Path, store: Path, keys: GeneratedKeys, moment: str
) -> None:
    bundle = case_root / "bundles" / "b1"
    bundle_id = locker._bundle_id(bundle)
    opened = open_store(str(store))
    held = Counter(o.key for o in opened.objects(bundle_id))
    assert max(held.values()) == 1, moment
    expected = locker._expected_files(bundle)
    read_back = {k: getattr(opened.head(bundle_id, k), "sha256", None) for k in expected}
    assert read_back == expected, moment
    entries = custody.entries(bundle)
    assert sum(1 for k in held if k.startswith("custody/")) == len(entries), moment
    assert [e["event"] for e in entries].count("stored") == 1, moment
    trust = ["--pubkey", keys.signing_pub, "--custody-trust", keys.signing_pub]
    signing = ["--signing-key", keys.signing_key]
    checked = breach("verify", bundle_id, "--store", store, *signing, *trust, "--json")
    assert checked.exit_code == 0 and checked.json["ok"] is True, (moment, checked.stdout)
    assert Case.load(case_root).unfinished() == [], moment


def test_killed_push_reruns_to_every_object_once_and_verified(breach: Any, tmp_path: Path) -> None:
    keys = generate(tmp_path / "keys")
    original = sealed_case(breach, tmp_path, keys)

    def fresh(name: str) -> tuple[Path, Path]:
        root = tmp_path / name
        shutil.copytree(original, root)
        return root, tmp_path / f"{name}-store"

    root, store = fresh("trace")
    bundle = root / "bundles" / "b1"
    moments = spread(moments_of(tmp_path / "trace.txt", *push_args(bundle, store, keys)))
    assert len(moments) == KILLS
    assert {"push.intent.after#1", "push.object#1", "push.stored.recorded#1"} <= set(moments)
    for number, moment in enumerate(moments):
        root, store = fresh(f"case-{number}")
        args = push_args(root / "bundles" / "b1", store, keys)
        kill_at(moment, *args)
        rerun = breach(*args)
        assert rerun.exit_code == 0, (moment, rerun.stderr)
        assert_stored_once_and_verified(breach, root, store, keys, moment)
