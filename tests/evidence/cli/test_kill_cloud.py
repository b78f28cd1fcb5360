"""`breach evidence cloudtrail --bucket` and `breach evidence s3-logs` against moto's server,
killed (as kill -9 would) at up to 10 moments each, then run again: every rerun completes, each
staged artifact is whole (every object with its sidecar, the Parquet view with the rows its
sidecar counts, the index) and present once, journaled by the entry that committed it; nothing
hidden is left after the rerun, and a seal after it verifies."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq

from breach.case import Case
from manifests.keys import GeneratedKeys, generate
from tests.breach.casecheck import assert_consistent, hidden_leftovers
from tests.evidence.test_cloudtrail import START, put_bucket, trail_objects
from tests.kills import kill_at, moments_of

KILLS = 10
HOURS = 4  # CloudTrail objects, one an hour
LOGS = {  # S3 server access log objects of 2026-11-29
    f"access/2026-11-29-{hour:02d}-15-02-{hour:016X}": f"log line {hour}\n".encode() * 40
    for hour in range(5)
}
Args = Callable[[Path], list[str]]


def _committed(case: Path, what: str) -> list[dict[str, Any]]:
    return [
        e
        for e in Case.load(case).timeline()
        if e["what"] == what and e["result"] in ("ok", "incomplete") and "commit" in e
    ]


def _choose(moments: list[str]) -> list[str]:
    """KILLS moments, in run order: the first pass of every point, then the middle pass of the
    points passed more than once, latest in the run first (half the renames of the commit done,
    half the objects staged)."""
    passes: dict[str, list[int]] = {}
    for index, moment in enumerate(moments):
        passes.setdefault(moment.split("#")[0], []).append(index)
    picks = {indexes[0] for indexes in passes.values()}
    middles = sorted((ix[len(ix) // 2] for ix in passes.values() if len(ix) > 1), reverse=True)
    picks.update(middles[: max(0, KILLS - len(picks))])
    return [moments[i] for i in sorted(picks)][:KILLS]


def _killed_and_rerun(tmp_path: Path, breach: Any, args: Args) -> list[tuple[str, Path]]:
    """Trace one run, kill a copy of an empty case at each chosen moment, rerun on each copy;
    the rerun completes and leaves nothing hidden."""
    template = Case.open("INC-KILL", "P1", "kill the cloud", root=tmp_path / "template").root
    traced = tmp_path / "traced"
    shutil.copytree(template, traced)
    moments = moments_of(tmp_path / "trace", *args(traced))
    picks = _choose(moments)
    assert {m.split("#")[0] for m in picks} >= {"stage.ready", "case.committed", "case.moved"}

    def kill(index: int) -> Path:
        case = tmp_path / f"killed-{index}"
        shutil.copytree(template, case)
        kill_at(picks[index], *args(case))
        return case

    with ThreadPoolExecutor(2) as pool:
        killed = list(pool.map(kill, range(len(picks))))
    for moment, case in zip(picks, killed, strict=True):
        rerun = breach(*args(case))
        assert rerun.exit_code == 0, (moment, rerun.stderr)
        assert hidden_leftovers(case) == [], (moment, hidden_leftovers(case))
    return list(zip(picks, killed, strict=True))


def _sealed(breach: Any, case: Path, keys: GeneratedKeys) -> None:
    """A seal after the rerun: every bundle verifies, nothing hidden, the chain intact."""
    sealed = breach(
        "seal", "--case", str(case), "-r", keys.recipient, "--signing-key", str(keys.signing_key)
    )
    assert sealed.exit_code == 0, sealed.stderr
    assert len(assert_consistent(case, keys.signing_pub)) == 1


def _after_commit(moment: str) -> bool:
    """Killed once its journal entry was written: what it staged is committed."""
    return moment.split("#")[0] in ("journal.append.written", "case.committed", "case.moved")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cloudtrail_killed_at_ten_moments(breach: Any, moto_endpoint: str, tmp_path: Path) -> None:
    objects = trail_objects(START, HOURS)
    put_bucket("trail-bucket", objects, moto_endpoint)
    keys = generate(tmp_path / "keys")

    def args(case: Path) -> list[str]:
        return [
            "evidence", "cloudtrail", "--case", str(case), "--bucket", "s3://trail-bucket",
            "--since", START.strftime("%Y-%m-%dT%H:%M:%SZ"), "-j", "1",
            "--until", (START + timedelta(hours=HOURS)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--endpoint-url", moto_endpoint, "--region", "us-east-1",
        ]  # fmt: skip

    for moment, case in _killed_and_rerun(tmp_path, breach, args):
        trails = case / "staging" / "cloud" / "cloudtrail"
        staged = sorted(p.name for p in trails.iterdir())
        journaled = sorted(
            e["details"]["artifact"] for e in _committed(case, "evidence.cloudtrail")
        )
        assert journaled == [f"cloud/cloudtrail/{n}" for n in staged], (moment, staged)
        # the killed run's when its entry was written (then the rerun's), or the rerun's alone
        assert staged == (["trail", "trail-2"] if _after_commit(moment) else ["trail"]), moment
        for name in staged:  # whole: every object byte for byte, the view, both sidecars
            folder = trails / name
            listed = json.loads((folder / "objects.meta.json").read_text())["source"]["objects"]
            assert {o["key"]: o["sha256"] for o in listed} == {
                k: hashlib.sha256(v).hexdigest() for k, v in objects.items()
            }, moment
            assert all(_sha256(folder / o["file"]) == o["sha256"] for o in listed), moment
            events = json.loads((folder / "events.meta.json").read_text())["source"]
            rows = sum(pq.read_metadata(f).num_rows for f in (folder / "events").rglob("*.parquet"))
            assert rows == events["row_count"] > 0, (moment, name)
        _sealed(breach, case, keys)


def test_s3_logs_killed_at_ten_moments(breach: Any, moto_endpoint: str, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="access-logs")
    for key, data in LOGS.items():
        s3.put_object(Bucket="access-logs", Key=key, Body=data)
    keys = generate(tmp_path / "keys")

    def args(case: Path) -> list[str]:
        return [
            "evidence", "s3-logs", "--case", str(case), "--prefix", "s3://access-logs/access/",
            "--since", "2026-11-29T00:00:00Z", "--until", "2026-11-30T00:00:00Z", "-j", "1",
            "--endpoint-url", moto_endpoint, "--region", "us-east-1",
        ]  # fmt: skip

    for moment, case in _killed_and_rerun(tmp_path, breach, args):
        logs = case / "staging" / "cloud" / "s3-logs"
        copies = sorted(p for p in (logs / "access-logs").rglob("*") if p.is_file())
        assert [p.name for p in copies] == sorted(  # each object once, with its sidecar
            n for k in LOGS for n in (k.split("/")[-1], k.split("/")[-1] + ".meta.json")
        ), (moment, copies)
        for key, data in LOGS.items():
            copy = logs / "access-logs" / key
            meta = json.loads(copy.with_name(copy.name + ".meta.json").read_text())["source"]
            assert copy.read_bytes() == data and meta["key"] == key, moment
            assert meta["sha256"] == hashlib.sha256(data).hexdigest(), moment
        indexes = sorted(p.name for p in logs.glob("*.index.json"))
        journaled = sorted(e["details"]["index"] for e in _committed(case, "evidence.s3-logs"))
        assert journaled == [f"cloud/s3-logs/{n}" for n in indexes], (moment, indexes)
        assert len(indexes) == (2 if _after_commit(moment) else 1), (moment, indexes)
        for index in indexes:  # whole: every key copied, with its sidecar
            listed = json.loads((logs / index).read_text())["objects"]
            assert sorted(o["key"] for o in listed if o["status"] == "copied") == sorted(LOGS)
            assert (logs / f"{index}.meta.json").is_file()
        _sealed(breach, case, keys)
