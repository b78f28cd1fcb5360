"""CloudTrail to Parquet as a user runs it, side by side with DuckDB, in one run.

Data (generated once under bench-out/cloudtrail/src/, kept between runs): EVENTS CloudTrail
events in OBJECTS gzipped log objects in CloudTrail's delivery layout (two regions, several days),
records of the kinds a trail holds (IAM users, assumed roles, federated users, root, console
logins, S3 data events with resources, denied calls, records without optional fields).

    breach   `breach evidence cloudtrail --case ... --source DIR --since ... --until ... --jobs 2`:
             the whole command as a child process (start-up, listing, every object preserved
             byte for byte, the Parquet view, fsync and commit)
    duckdb   a `python -c` DuckDB script (2 threads): read_json of the same files, unnest(Records),
             the same columns (the record as JSON, the object's name), COPY ... (FORMAT parquet,
             COMPRESSION zstd)

Each is timed with its peak RSS (from the kernel, bench.common.run_measured: the largest single
process) and, sampled every 0.1 s, the peak of its whole process tree's PSS (what worker
processes add up to; shared pages counted once); the best of REPEAT rounds counts. The load
average is printed before and after (on shared cores every figure moves with it). Goal: breach
>= 1.5x DuckDB's speed and <= 512 MB peak.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import MB, goal_line, python_cmd, run_measured, scratch_dir, settle, venv_script
from breach.case import Case

EVENTS = int(os.environ.get("BREACH_BENCH_CT_EVENTS", "1000000"))
OBJECTS = int(os.environ.get("BREACH_BENCH_CT_OBJECTS", "1000"))
REPEAT = int(os.environ.get("BREACH_BENCH_REPEAT", "2"))
ACCOUNT = "111122223333"
START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 4
MEMORY_GOAL = 512 * MB

DUCKDB_SCRIPT = """
import duckdb, sys
src, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute(f'''
COPY (
  SELECT r.eventTime::TIMESTAMPTZ AS event_time, r.eventSource AS event_source,
         r.eventName AS event_name, r.awsRegion AS aws_region, r.sourceIPAddress AS source_ip,
         r.userAgent AS user_agent, r.userIdentity.type AS identity_type,
         r.userIdentity.arn AS identity_arn, r.userIdentity.accountId AS identity_account_id,
         r.userIdentity.accessKeyId AS access_key_id, r.userIdentity.principalId AS principal_id,
         r.userIdentity.userName AS user_name,
         r.userIdentity.sessionContext.sessionIssuer.arn AS session_issuer_arn,
         r.userIdentity.sessionContext.sessionIssuer.type AS session_issuer_type,
         r.userIdentity.sessionContext.attributes.mfaAuthenticated::BOOLEAN AS mfa_authenticated,
         r.eventID AS event_id, r.requestID AS request_id, r.eventType AS event_type,
         r.managementEvent AS management_event, r.readOnly AS read_only,
         r.errorCode AS error_code, r.errorMessage AS error_message,
         r.recipientAccountId AS recipient_account_id,
         r.requestParameters.bucketName AS request_bucket, r.requestParameters.key AS request_key,
         r.resources AS resources, to_json(r) AS record, filename AS log_object
  FROM (SELECT unnest(Records) AS r, filename
        FROM read_json('{src}/**/*.json.gz', filename = true, maximum_object_size = 268435456))
) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
''')
"""


def _records(rng: random.Random, when: datetime, region: str, count: int, base: int) -> list[Any]:
    kinds = ("user", "role", "federated", "root", "console", "s3", "denied", "minimal")
    out = []
    for i in range(count):
        at = when - timedelta(seconds=rng.randrange(0, 300))
        kind = kinds[(base + i) % len(kinds)] if rng.random() < 0.5 else "role"
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        rec: dict[str, Any] = {
            "eventVersion": "1.09",
            "eventTime": stamp,
            "eventSource": rng.choice(
                (
                    "ec2.amazonaws.com",
                    "iam.amazonaws.com",
                    "s3.amazonaws.com",
                    "sts.amazonaws.com",
                    "kms.amazonaws.com",
                )
            ),
            "eventName": rng.choice(
                (
                    "DescribeInstances",
                    "GetObject",
                    "AssumeRole",
                    "Decrypt",
                    "ListUsers",
                    "PutObject",
                    "GetSecretValue",
                )
            ),
            "awsRegion": region,
            "sourceIPAddress": f"198.51.{rng.randrange(256)}.{rng.randrange(256)}",
            "userAgent": rng.choice(
                (
                    "aws-cli/2.15.0 Python/3.11",
                    "Boto3/1.34 md/Botocore",
                    "console.amazonaws.com",
                    "aws-sdk-go/1.44",
                )
            ),
            "eventID": f"{base + i:08x}-0000-4000-8000-{rng.getrandbits(48):012x}",
            "requestID": f"{rng.getrandbits(64):016X}",
            "eventType": "AwsApiCall",
            "managementEvent": kind != "s3",
            "readOnly": rng.random() < 0.8,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": f"{region}.amazonaws.com",
            },
        }
        user = f"user{rng.randrange(200)}"
        if kind == "role":
            rec["userIdentity"] = {
                "type": "AssumedRole", "principalId": f"AROA{rng.getrandbits(40):X}:{user}",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/{user}", "accountId": ACCOUNT,
                "accessKeyId": f"ASIA{rng.getrandbits(64):016X}",
                "sessionContext": {
                    "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                                      "arn": f"arn:aws:iam::{ACCOUNT}:role/app",
                                      "accountId": ACCOUNT, "userName": "app"},
                    "webIdFederationData": {},
                    "attributes": {"creationDate": stamp, "mfaAuthenticated": "false"},
                },
            }  # fmt: skip
            rec["requestParameters"] = {"instancesSet": {"items": [{"instanceId": "i-0abc"}]},
                                        "filterSet": {}, "maxResults": 1000}  # fmt: skip
            rec["responseElements"] = None
        elif kind == "s3":
            rec["userIdentity"] = {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
                                   "accountId": ACCOUNT, "accessKeyId": "AKIAEXAMPLE",
                                   "userName": user}  # fmt: skip
            key = f"exports/{rng.randrange(10**6)}.csv"
            rec["requestParameters"] = {"bucketName": "customer-data", "key": key, "Host": "x"}
            rec["resources"] = [
                {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::customer-data/{key}"},
                {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::customer-data"},
            ]  # fmt: skip
        elif kind == "denied":
            rec["userIdentity"] = {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
                                   "accountId": ACCOUNT, "accessKeyId": "AKIAEXAMPLE"}  # fmt: skip
            rec["errorCode"] = "AccessDenied"
            rec["errorMessage"] = f"User: {user} is not authorized to perform this action"
        elif kind == "console":
            rec["eventType"] = "AwsConsoleSignIn"
            rec["userIdentity"] = {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
                                   "accountId": ACCOUNT, "userName": user}  # fmt: skip
            rec["additionalEventData"] = {"MFAUsed": "Yes", "LoginTo": "https://console.aws"}
            rec["responseElements"] = {"ConsoleLogin": "Success"}
        elif kind == "root":
            rec["userIdentity"] = {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root",
                                   "accountId": ACCOUNT, "principalId": ACCOUNT}  # fmt: skip
        elif kind == "federated":
            rec["userIdentity"] = {
                "type": "FederatedUser", "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/{user}",
                "accountId": ACCOUNT, "accessKeyId": "ASIAFED",
                "sessionContext": {"sessionIssuer": {"type": "IAMUser", "arn": "arn:x"},
                                   "attributes": {"mfaAuthenticated": "true"}},
            }  # fmt: skip
        else:
            rec["userIdentity"] = {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}
        out.append(rec)
    return out


def generate(src: Path) -> None:
    marker = src / f".complete-{EVENTS}-{OBJECTS}"
    if marker.exists():
        return
    shutil.rmtree(src, ignore_errors=True)
    rng = random.Random(42)
    per = EVENTS // OBJECTS
    span = timedelta(days=DAYS) / OBJECTS
    for n in range(OBJECTS):
        region = ("us-east-1", "eu-west-1")[n % 2]
        delivered = START + span * (n + 1)
        key = (
            f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
            f"{ACCOUNT}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{n:06d}.json.gz"
        )
        data = json.dumps({"Records": _records(rng, delivered, region, per, n * per)}).encode()
        path = src / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
    marker.touch()


def measured(cmd: list[str], *, quiet: bool = False) -> tuple[float, int, int]:
    """(seconds, kernel peak RSS of the largest process, sampled peak PSS of the whole tree)."""
    import psutil

    outcome: list[tuple[float, int]] = []
    worker = threading.Thread(target=lambda: outcome.append(run_measured(cmd, quiet=quiet)))
    worker.start()
    peak = 0
    while worker.is_alive():
        total = 0
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):  # gone between listing and reading
                total += child.memory_full_info().pss
        peak = max(peak, total)
        time.sleep(0.1)
    worker.join()
    if not outcome:
        raise SystemExit(f"benchmark step failed: {' '.join(cmd)}")
    return outcome[0][0], outcome[0][1], peak


def _line(name: str, runs: list[tuple[float, int, int]]) -> str:
    best = min(t for t, _, _ in runs)
    rss, pss = max(r for _, r, _ in runs), max(p for _, _, p in runs)
    return (
        f"{name}: {best:.1f} s, {EVENTS / best:,.0f} events/s, peak {rss / MB:.0f} MB"
        f" (largest process), {pss / MB:.0f} MB (whole tree, PSS)"
    )


def main() -> None:
    out = scratch_dir() / "cloudtrail"
    src = out / "src"
    print(f"generating {EVENTS:,} events in {OBJECTS:,} objects (once) ...", flush=True)
    generate(src)
    size = sum(p.stat().st_size for p in src.rglob("*.json.gz"))
    print(f"source: {size / MB:.0f} MB gzipped under {src}", flush=True)
    breach = venv_script("breach")
    since, until = START.isoformat(), (START + timedelta(days=DAYS + 1)).isoformat()
    runs: dict[str, list[tuple[float, int, int]]] = {"breach": [], "duckdb": []}
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    for round_ in range(REPEAT):
        case = out / f"case-{round_}"
        shutil.rmtree(case, ignore_errors=True)
        Case.open(f"INC-BENCH-{round_}", "P1", "cloudtrail bench", root=case)
        settle()
        runs["breach"].append(
            measured(
                [breach, "evidence", "cloudtrail", "--case", str(case), "--source", str(src),
                 "--since", since, "--until", until, "--jobs", "2", "--json"],
                quiet=True,
            )
        )  # fmt: skip
        shutil.rmtree(case, ignore_errors=True)
        target = out / "duckdb.parquet"
        target.unlink(missing_ok=True)
        settle()
        runs["duckdb"].append(measured([*python_cmd(DUCKDB_SCRIPT), str(src), str(target)]))
        print(
            f"round {round_ + 1}: "
            + "; ".join(f"{k} {v[-1][0]:.1f} s {v[-1][2] / MB:.0f} MB" for k, v in runs.items()),
            flush=True,
        )
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(_line("breach evidence cloudtrail", runs["breach"]))
    print(_line("duckdb read_json -> parquet", runs["duckdb"]))
    best_ours = min(t for t, _, _ in runs["breach"])
    best_theirs = min(t for t, _, _ in runs["duckdb"])
    print(goal_line("breach vs duckdb (speed)", best_ours, best_theirs, 1.5))
    peak = max(max(r, p) for _, r, p in runs["breach"])
    verdict = "PASS" if peak <= MEMORY_GOAL else "MISS"
    print(f"{verdict}  peak memory {peak / MB:.0f} MB (goal <= {MEMORY_GOAL / MB:.0f} MB)")


if __name__ == "__main__":
    main()
