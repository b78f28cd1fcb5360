"""8 processes changing one case at once for 50 rounds: two seal a tiny artifact each round, six
add a fact (read, change, write case.json); half refuse at once when the case is busy, half
queue. No update is lost, the journal's chain and the chain of bundles hold, and every command
either did its work or was refused with the lock's message, having changed nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from breach.case import Case
from manifests.keys import generate
from tests.breach.casecheck import assert_consistent

WORKERS = 8
SEALERS = 2
ROUNDS = 50
BUSY = re.compile(r"^case case is busy: (`python` \(pid \d+\) holds it since \S+|another process holds it); nothing was done$")  # fmt: skip

WORKER = """
import json, sys, time
from breach.case import Case
from breach.caselock import CaseBusy
from breach.procedure.bundle import SealSettings, seal

root, me, rounds, start, recipient, key = sys.argv[1:7]
me, rounds, start = int(me), int(rounds), float(start)
wait = 600.0 if me % 2 else 0.0  # odd workers queue, even ones are refused when the case is busy
while time.time() < start:
    time.sleep(0.001)
outcomes = []
for n in range(rounds):
    name = f"w{me}r{n}"
    try:
        case = Case.load(root, write=True, wait=wait)
        if me < SEALERS:
            (case.staging / f"{name}.txt").write_text(name)
            seal(SealSettings(case=root, recipients=[recipient], signing_key=key))
        else:
            case.update(f"round {name}", facts={**case.record.facts, name: True})
        del case
        outcomes.append([name, "done"])
    except CaseBusy as exc:
        outcomes.append([name, exc.message])
print(json.dumps(outcomes))
""".replace("SEALERS", str(SEALERS))


def test_eight_writers_fifty_rounds_lose_nothing(tmp_path: Path) -> None:
    keys = generate(tmp_path / "keys")
    case = Case.open("INC-RACE", "P2", "eight at once", root=tmp_path / "case")
    start = time.time() + 3  # every worker imported and waiting: they start together
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(case.root),
                str(me),
                str(ROUNDS),
                str(start),
                keys.recipient,
                str(keys.signing_key),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in range(WORKERS)
    ]
    outcomes: list[tuple[str, str]] = []
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
        outcomes += [tuple(o) for o in json.loads(out)]
    done = {name for name, said in outcomes if said == "done"}
    refused = [said for _, said in outcomes if said != "done"]
    assert len(outcomes) == WORKERS * ROUNDS
    assert all(BUSY.match(said) for said in refused), {s for s in refused if not BUSY.match(s)}
    assert refused and all(int(name[1]) % 2 == 0 for name, said in outcomes if said != "done")

    record = Case.load(case.root).record
    updaters = {n for n in done if int(n[1]) >= SEALERS}
    assert set(record.facts) == updaters  # no update lost, none made by a refused command
    sealers = {n for n in done if int(n[1]) < SEALERS}
    assert {p.stem for p in case.staging.glob("w*.txt")} == sealers  # refused: nothing staged
    assert set(record.sealed) == {f"{n}.txt" for n in sealers}
    bundles = assert_consistent(case.root, keys.signing_pub)  # one linear chain, all verify
    assert len(bundles) == len(sealers)
    timeline = Case.load(case.root).timeline()
    assert len([e for e in timeline if e["what"] == "case.update"]) == len(updaters)
