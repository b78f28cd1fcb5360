"""`breach seal` killed (as kill -9 would) at 20 moments before, inside and between its commit
steps, then run again: the rerun completes, the chain of bundles stays linear, every bundle
verifies, nothing hidden is left, and every staged artifact is sealed exactly once."""

from __future__ import annotations

import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from breach.case import Case
from manifests.keys import GeneratedKeys, generate
from tests.breach.casecheck import assert_consistent
from tests.kills import KILLS, kill_at, moments_of, spread

ARTIFACTS = 8  # one encryption moment each: kills land inside the bundle as well as around it


def _template(tmp_path: Path, keys: GeneratedKeys) -> Path:
    """A case with one bundle sealed and ARTIFACTS new files staged for the next seal."""
    from breach.procedure.bundle import SealSettings, seal

    case = Case.open("INC-KILL", "P1", "kill the seal", root=tmp_path / "template")
    (case.staging / "first.txt").write_text("sealed before\n")
    seal(
        SealSettings(case=str(case.root), recipients=[keys.recipient], signing_key=keys.signing_key)
    )
    for n in range(ARTIFACTS):
        (case.staging / f"evidence-{n}.txt").write_text(f"artifact {n}\n" * 50)
    return case.root


def _seal_args(case: Path, keys: GeneratedKeys) -> list[str]:
    return [
        "seal",
        "--case",
        str(case),
        "-r",
        keys.recipient,
        "--signing-key",
        str(keys.signing_key),
    ]


def test_seal_killed_at_twenty_moments_recovers_on_the_rerun(
    breach: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = generate(tmp_path / "keys")
    template = _template(tmp_path, keys)
    traced = tmp_path / "traced"
    shutil.copytree(template, traced)
    moments = moments_of(tmp_path / "trace", *_seal_args(traced, keys))
    picks = spread(moments)
    assert len(picks) == KILLS, moments
    assert {m.split("#")[0] for m in picks} >= {
        "seal.encrypted",
        "journal.append.half",
        "case.committed",
        "case.moved",
    }

    def kill(index: int) -> Path:
        case = tmp_path / f"killed-{index}"
        shutil.copytree(template, case)
        kill_at(picks[index], *_seal_args(case, keys))
        return case

    with ThreadPoolExecutor(2) as pool:
        killed = list(pool.map(kill, range(len(picks))))

    for moment, case in zip(picks, killed, strict=True):
        (case / "staging" / "after.txt").write_text("staged after the kill\n")
        caplog.clear()
        with caplog.at_level(logging.WARNING, "breach.case"):  # what it says on stderr
            rerun = breach(*_seal_args(case, keys))
        assert rerun.exit_code == 0, (moment, rerun.stderr)
        order = assert_consistent(case, keys.signing_pub)
        committed = len(order) == 3  # the killed seal's entry was written before it died
        assert len(order) in (2, 3), (moment, order)
        record = Case.load(case).record
        staged = {p.name for p in (case / "staging").iterdir() if not p.name.endswith(".meta.json")}
        assert set(record.sealed) >= staged, (moment, staged - set(record.sealed))
        # what the killed run sealed is never sealed again, and nothing is lost
        rerun_bundle = record.last_bundle["id"]  # type: ignore[index]
        again = {n for n, s in record.sealed.items() if s["bundle"] == rerun_bundle}
        assert again == ({"after.txt"} if committed else staged - {"first.txt"}), (moment, again)
        said = {  # what the rerun says it finished for a kill after the commit point
            "case.committed": "finished committing bundles/",
            "case.moved": "brought case.json up to its last journal entry",
        }.get(moment.split("#")[0])
        if said:
            assert committed and said in caplog.text, (moment, caplog.text)
