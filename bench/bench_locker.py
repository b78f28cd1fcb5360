"""The evidence locker's transfers, side by side with plain boto3 transfers of the same files.

A 1 GiB bundle (one 1 GiB artifact of random bytes, sealed once, untimed) goes to moto's server,
started as its own process on 127.0.0.1, in rounds so machine noise falls on both sides alike:

  breach bundle push   vs  boto3 upload_file of every file of the bundle
  breach bundle fetch  vs  boto3 download_file of every object
  (context)                 boto3 get_object of every object, one streamed GET each

The baseline is what `aws s3 cp --recursive` does: S3Transfer with 8 MiB parts above an 8 MiB
threshold on ten threads (botocore adds its default CRC32 checksum). breachkit sends the same
parts on the same number of threads, and also hashes every file against the bundle's manifests,
sends each part's ChecksumSHA256, sets and reads back retention and hold, stores the custody
entries and signs the "stored" entry; fetch checks every object on the way and then verifies the
whole bundle (every sha256 again, the signature, the custody chain). Goal: ratio >= 0.8.

Each command is a child process, timed whole. The server is reset before each round, so its
memory holds at most one round's objects. The best of ROUNDS runs counts; all are printed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.common import (
    goal_line,
    python_cmd,
    ratio_line,
    run_measured,
    scratch_dir,
    settle,
    spread,
    venv_script,
)
from manifests import keys

ROUNDS = int(os.environ.get("BENCH_LOCKER_ROUNDS", "3"))
SIZE = 1 << 30
BUCKET = "bench-locker"
GOAL = 0.8
ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "BREACH_OPERATOR": "bench@breachkit",
}

BASELINE = """
import sys, os, boto3
from boto3.s3.transfer import TransferConfig
endpoint, action, bucket, prefix, folder = sys.argv[1:6]
config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=10)
s3 = boto3.client("s3", endpoint_url=endpoint)
if action == "up":
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            key = prefix + "/" + os.path.relpath(path, folder)
            s3.upload_file(path, bucket, key, Config=config)
elif action == "stream":  # context: one GET per object, streamed, as breachkit does
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    for page in pages:
        for item in page.get("Contents", []):
            dest = os.path.join(folder, item["Key"][len(prefix) + 1 :])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"]
            with open(dest, "wb") as out:
                for chunk in body.iter_chunks(1 << 20):
                    out.write(chunk)
else:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    for page in pages:
        for item in page.get("Contents", []):
            dest = os.path.join(folder, item["Key"][len(prefix) + 1 :])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            s3.download_file(bucket, item["Key"], dest, Config=config)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    server = subprocess.Popen(
        [venv_script("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).read()
            return server, endpoint
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("moto_server did not start")


def _reset(endpoint: str) -> None:
    import boto3

    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).read()
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=ENV["AWS_REGION"],
    )
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)


def _prepare(work: Path) -> tuple[Path, str, keys.GeneratedKeys]:
    generated = keys.generate(work / "keys")
    src = work / "src"
    src.mkdir()
    with open(src / "disk.img", "wb") as out:
        for _ in range(SIZE // (8 << 20)):
            out.write(os.urandom(8 << 20))
    bundle = work / "bundle"
    subprocess.run(
        [venv_script("breach"), "seal", str(src), "--out", str(bundle), "--incident", "INC-BENCH",
         "-r", str(generated.age_recipient), "--signing-key", str(generated.signing_key)],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, **ENV},
    )  # fmt: skip
    shutil.rmtree(src)
    envelope = json.loads((bundle / "statement.dsse.json").read_bytes())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    return bundle, statement["predicate"]["bundle"]["id"], generated


def main() -> None:
    work = scratch_dir() / "locker"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    bundle, bundle_id, generated = _prepare(work)
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    print(f"bundle: {size / (1 << 20):.0f} MiB in {sum(1 for _ in bundle.rglob('*'))} files")
    server, endpoint = _start_moto()
    breach = venv_script("breach")
    common = ["--endpoint-url", endpoint, "--signing-key", str(generated.signing_key)]
    # One key sealed and signs the accesses here: given as the sealer's and the custodian's.
    pub = str(generated.signing_pub)
    trust = ["--pubkey", pub, "--custody-trust", pub]
    times: dict[str, list[float]] = {k: [] for k in ("push", "up", "fetch", "down", "stream")}
    try:
        for round_ in range(ROUNDS):
            _reset(endpoint)
            store = f"s3://{BUCKET}/ours{round_}"
            got, base = work / f"got{round_}", work / f"base{round_}"
            steps = [
                ("up", [*python_cmd(BASELINE), endpoint, "up", BUCKET, f"base{round_}", str(bundle)]),
                ("push", [breach, "bundle", "push", str(bundle), "--store", store, "--retain-days", "1", *common]),
                ("down", [*python_cmd(BASELINE), endpoint, "down", BUCKET, f"base{round_}", str(base)]),
                ("stream", [*python_cmd(BASELINE), endpoint, "stream", BUCKET, f"base{round_}", str(base) + "s"]),
                ("fetch", [breach, "bundle", "fetch", bundle_id, "--store", store, "--out", str(got), "--reason", "bench", *common, *trust]),
            ]  # fmt: skip
            for name, cmd in steps:
                settle()
                seconds, _ = run_measured(cmd, ENV, quiet=True)
                times[name].append(seconds)
            shutil.rmtree(got, ignore_errors=True)
            shutil.rmtree(base, ignore_errors=True)
            shutil.rmtree(str(base) + "s", ignore_errors=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    for ours, theirs, label in (("push", "up", "push"), ("fetch", "down", "fetch")):
        print(f"  breach bundle {label}: {spread(times[ours])}")
        print(
            f"  boto3 {'upload' if label == 'push' else 'download'}_file: {spread(times[theirs])}"
        )
        print(
            goal_line(f"{label} 1 GiB to moto's server", min(times[ours]), min(times[theirs]), GOAL)
        )
    # Context: moto reads a whole object for every ranged GET, most of the ranged baseline's
    # time; against one streamed GET per object, fetch does what boto3 does plus its checks.
    print(f"  context, boto3 get_object streamed: {spread(times['stream'])}")
    print(
        ratio_line(
            "fetch vs one streamed GET per object", min(times["fetch"]), min(times["stream"]), "-"
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
