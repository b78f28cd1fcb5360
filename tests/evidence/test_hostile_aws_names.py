"""Names read from AWS are attacker-controlled, tried against moto and a local trail: S3 keys
and log groups with '/', '..', line breaks, U+2028, terminal escapes, differing only in case or
in their naive encoding stay apart inside their folder with their names in the metadata; a key
that cannot be stored (a file where another key needs a folder) fails alone, in one line; a
trail folder named like an account but for a trailing newline is no account."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from breach.case import Case
from core.fsio import line_safe, name_to_file

from .test_hostile_names import assert_line_file


def copy_access_logs(case: Case, bucket: str, keys: dict[str, bytes]) -> Any:
    """Put the objects in a moto bucket and run the s3-logs step over 2026-11-29 on one thread."""
    import boto3

    from breach.procedure.cloud import S3LogsStepSettings, s3_logs

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    for key, data in keys.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    return s3_logs(
        S3LogsStepSettings(
            case=str(case.root), prefix=f"s3://{bucket}/", jobs=1,
            since=datetime(2026, 11, 29, tzinfo=UTC), until=datetime(2026, 11, 30, tzinfo=UTC),
        )
    )  # fmt: skip


def test_s3_keys_that_cannot_all_be_stored_fail_alone(case: Case, aws: None) -> None:
    stamp = "2026-11-29-10-15-02-"
    keys = {
        f"logs/{stamp}AAAAAAAAAAAAAAAA": b"file",
        f"logs/{stamp}AAAAAAAAAAAAAAAA/\u2028{stamp}BBBBBBBBBBBBBBBB": b"needs a file as a folder",
        f"Logs/{stamp}AAAAAAAAAAAAAAAA": b"case only",
        f"logs%2F{stamp}AAAAAAAAAAAAAAAA": b"naive form",
        f"../../etc/{stamp}CCCCCCCCCCCCCCCC": b"dots",
        f"x\n\u2028\x1b[31m/{stamp}DDDDDDDDDDDDDDDD": b"line breaks",
    }
    result = copy_access_logs(case, "hostile-logs", keys)
    (failed,) = result.failed
    assert failed.target == f"logs/{stamp}AAAAAAAAAAAAAAAA/\u2028{stamp}BBBBBBBBBBBBBBBB"
    assert "a file of that name is there" in failed.reason and "\n" not in failed.reason
    assert result.problem is not None  # the command exits 1, naming it
    copied = {c.key: c.artifact for c in result.copied}
    assert set(copied) == set(keys) - {failed.target}
    for key, artifact in copied.items():
        staged = case.staging / artifact
        assert staged.is_relative_to(case.staging / "cloud" / "s3-logs" / "hostile-logs")
        assert line_safe(artifact) and staged.read_bytes() == keys[key]
        sidecar = json.loads((case.staging / f"{artifact}.meta.json").read_text())
        assert sidecar["source"]["key"] == key
    assert not (case.staging / "etc").exists() and not (case.root.parent / "etc").exists()
    entries = [json.loads(line) for line in assert_line_file(case.journal_path)]
    assert failed.target in json.dumps(entries, ensure_ascii=False)  # named, one line each


def test_log_groups_differing_in_case_or_naive_form_stay_apart(case: Case, aws: None) -> None:
    from breach.procedure.cloud import CloudWatchStepSettings, cloudwatch

    from .test_cloudwatch import base_day, put

    since = base_day()
    groups = ["/aws/App", "/aws/app", "%2Faws%2Fapp", "../../etc", "/aws/sep\u2028x"]
    for n, group in enumerate(groups):
        put(group, "s", [(since + timedelta(hours=1), f"event of group {n}")])
    result = cloudwatch(
        CloudWatchStepSettings(
            case=str(case.root), log_groups=groups, since=since, until=since + timedelta(days=1)
        )
    )
    assert result.failed == []
    folders = {a.log_group: case.staging / a.artifact for a in result.artifacts}
    assert set(folders) == set(groups)
    assert len({f.name.casefold() for f in folders.values()}) == len(groups)
    for n, group in enumerate(groups):
        folder = folders[group]
        assert folder.parent == case.staging / "cloud" / "logs" and line_safe(folder.name)
        rows = pq.read_table(folder).column("message").to_pylist()
        assert rows == [f"event of group {n}"]  # nothing overwritten by a look-alike
        sidecar = json.loads(folder.with_name(folder.name + ".meta.json").read_text())
        assert sidecar["source"]["log_group"] == group
    assert_line_file(case.journal_path)


def test_a_trail_folder_with_a_trailing_newline_is_no_account(tmp_path: Path) -> None:
    from .test_cloudtrail import ACCOUNT, START, new_case, run, trail_objects, write_tree

    good = trail_objects(START, 2)
    hostile = {k.replace(ACCOUNT, f"{ACCOUNT}\n", 1): v for k, v in trail_objects(START, 2).items()}
    write_tree(tmp_path / "trail", {**good, **hostile})
    case = new_case(tmp_path)
    result = run(case, source=tmp_path / "trail", since=START, until=START + timedelta(hours=3))
    assert result.coverage["accounts_present"] == [ACCOUNT]
    objects = json.loads((case.staging / result.artifact / "objects.meta.json").read_text())
    assert sorted(o["key"] for o in objects["source"]["objects"]) == sorted(good)


def test_a_key_whose_name_is_already_a_folder_fails_alone(case: Case, aws: None) -> None:
    """Keys 'a' and 'a/b' copied at once: when 'a/b' made its folder first, 'a' cannot be a file."""
    stamp = "2026-11-29-10-15-02-"
    keys = {f"logs/{stamp}AAAAAAAAAAAAAAAA": b"a", f"logs/{stamp}CCCCCCCCCCCCCCCC": b"c"}
    folder = case.staging / "cloud" / "s3-logs" / "race-logs" / "logs"
    taken = folder / name_to_file(f"{stamp}AAAAAAAAAAAAAAAA")
    (taken / "b").mkdir(parents=True)  # what the other key made first
    result = copy_access_logs(case, "race-logs", keys)
    (failed,) = result.failed
    assert failed.target == f"logs/{stamp}AAAAAAAAAAAAAAAA" and "cannot be stored" in failed.reason
    assert [c.key for c in result.copied] == [f"logs/{stamp}CCCCCCCCCCCCCCCC"]
    assert taken.is_dir() and (taken / "b").is_dir()  # nothing overwritten
