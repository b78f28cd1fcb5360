"""Read-only checks that a step would work today: what a dry run and a dry-run drill make.

Each check reaches the system the step acts on and reads only: the database's tables, columns
and privileges (in a read-only transaction), the AWS credentials and resources (describe, get,
list one page), the Redis store (PING), the evidence store's lock, the mail server (connect and
EHLO, nothing sent), the signing key and the recipients. A problem is raised as one line naming
the fix; nothing is ever changed. A step whose targets come from an earlier step's outputs is
checked with a probe target instead (the adapter's own plan, which only reads).
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from core.aws import AwsAccount
from core.errors import BadInput, BreachError, StepFailed

PLACEHOLDER = "<steps."  # what a dry run puts where an earlier step's output will be
PROBE_TARGET = "0"  # a user id no one has: the revoke plans read the store without a match
Check = Callable[[Any], str]


def preflight(kind: str, settings: BaseModel) -> str:
    """The check of one step kind: a line saying what was found, or StepFailed naming the fix."""
    check = CHECKS.get(kind.split(".")[0] if kind.startswith("contain.") else kind)
    if check is None:
        return "nothing outside the case to check"
    try:
        return check(settings)
    except BreachError:
        raise
    except Exception as exc:  # a driver's own error: one line, never a traceback
        raise StepFailed(f"{type(exc).__name__}: {exc}") from None


# -- PostgreSQL ------------------------------------------------------------------------------
@contextmanager
def _read_only(dsn: str) -> Iterator[Any]:
    import psycopg

    from core.redact import redact_dsn

    try:
        conn = psycopg.connect(
            dsn, connect_timeout=10, options="-c default_transaction_read_only=on"
        )
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StepFailed(
            f"cannot connect to {redact_dsn(dsn)}: {message}", hint="check the DSN and the network"
        ) from None
    with conn:
        yield conn


def _table(conn: Any, name: str, privilege: str = "SELECT") -> list[str]:
    """The table's columns; refused when it does not exist or the role lacks the privilege."""
    row = conn.execute("SELECT to_regclass(%s)::oid", (name,)).fetchone()
    if row is None or row[0] is None:
        raise StepFailed(f"no table {name}", hint="name the right table, or create it")
    user = conn.execute("SELECT current_user").fetchone()[0]
    for needed in privilege.split(","):
        allowed = conn.execute("SELECT has_table_privilege(%s, %s)", (row[0], needed)).fetchone()
        if not allowed[0]:
            raise StepFailed(
                f"role {user} has no {needed} on {name}", hint=f"GRANT {needed} ON {name} TO {user}"
            )
    columns = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
        (row[0],),
    ).fetchall()
    return [c[0] for c in columns]


def _export_audit(settings: Any) -> str:
    if settings.pgaudit_log is not None:
        if not Path(settings.pgaudit_log).is_file():
            raise StepFailed(f"no pgaudit log at {settings.pgaudit_log}")
        return f"pgaudit log {settings.pgaudit_log} readable"
    with _read_only(settings.dsn) as conn:
        if settings.query:
            conn.execute(b"EXPLAIN " + settings.query.encode())
            return "the query plans"
        columns = _table(conn, settings.table)
        wanted = [c for c in (settings.time_column, settings.actor_column, settings.ip_column) if c]
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise StepFailed(
                f"{settings.table} has no column {missing[0]}",
                hint=f"its columns: {', '.join(columns)}",
            )
    return f"{settings.table}: readable, columns {', '.join(wanted)} present"


def _snapshot(settings: Any) -> str:
    with _read_only(settings.dsn) as conn:
        tables = list(settings.tables)
        if settings.schema_name:
            rows = conn.execute(
                "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname = %s",
                (settings.schema_name,),
            ).fetchall()
            tables += [r[0] for r in rows]
        for table in tables:
            _table(conn, table)
    return f"{len(tables)} table(s) readable"


# -- AWS -------------------------------------------------------------------------------------
def _account(settings: Any) -> AwsAccount:
    aws = getattr(settings, "aws", None)
    if isinstance(aws, AwsAccount):
        return aws
    return AwsAccount(
        profile=getattr(settings, "profile", None),
        region=getattr(settings, "region", None),
        role_arn=getattr(settings, "role_arn", None),
        endpoint_url=getattr(settings, "endpoint_url", None),
    )


def _call(account: AwsAccount, service: str, operation: str, **params: Any) -> Any:
    with account.calls(what=f"{service}:{operation}"):
        return getattr(account.client(service), operation)(**params)


def _cloudtrail(settings: Any) -> str:
    if settings.source is not None:
        if not Path(settings.source).is_dir():
            raise StepFailed(f"no folder {settings.source}", hint="copy the trail's delivery there")
        return f"{settings.source} readable"
    account = _account(settings)
    account.identity()
    if settings.lookup:
        _call(account, "cloudtrail", "lookup_events", MaxResults=1)
        return "LookupEvents answers"
    bucket, prefix = settings.bucket_and_prefix()
    listed = _call(
        account,
        "s3",
        "list_objects_v2",
        Bucket=bucket,
        Prefix=f"{prefix}/AWSLogs/".lstrip("/"),
        MaxKeys=1,
    )
    if not listed.get("KeyCount"):
        raise StepFailed(
            f"no CloudTrail delivery under s3://{bucket}/{prefix}",
            hint="check the trail's bucket and prefix",
        )
    return f"s3://{bucket}: CloudTrail delivery found, {account.describe()}"


def _cloudwatch(settings: Any) -> str:
    account = _account(settings)
    for group in settings.log_groups:
        found = _call(account, "logs", "describe_log_groups", logGroupNamePrefix=group, limit=5)
        if not any(g["logGroupName"] == group for g in found.get("logGroups", [])):
            raise StepFailed(f"no log group {group}", hint="name an existing log group")
    return f"{len(settings.log_groups)} log group(s) found"


def _s3_logs(settings: Any) -> str:
    account = _account(settings)
    bucket, prefix = settings.bucket_and_prefix()
    _call(account, "s3", "list_objects_v2", Bucket=bucket, Prefix=prefix, MaxKeys=1)
    return f"s3://{bucket} listable"


# -- containment -----------------------------------------------------------------------------
def _contain(settings: Any) -> str:
    """The adapter's own plan (reads only) on the literal targets, or on a probe target."""
    from containment.registry import Connections, build
    from core.timeutil import utcnow

    connections = Connections(
        dsn=settings.dsn.get_secret_value() if settings.dsn else None,
        redis_url=settings.redis_url.get_secret_value() if settings.redis_url else None,
        aws=settings.aws,
    )
    adapter = build(settings.action, settings.adapter, settings.options, connections)
    targets = [t for t in settings.targets if not str(t).startswith(PLACEHOLDER)]
    probing = not targets
    planned = adapter.plan(targets or [PROBE_TARGET], since=utcnow())
    failed = [t for t in planned if t.status == "failed" or (t.status == "missing" and not probing)]
    if failed:
        first = failed[0]
        raise StepFailed(f"{first.name}: {first.reason or first.status}", hint=first.hint)
    if probing:
        return (
            f"the {settings.adapter} adapter reaches its store (targets come from an earlier step)"
        )
    return f"the {settings.adapter} adapter plans {len(planned)} target(s)"


# -- sealing, storing, telling ---------------------------------------------------------------
def _seal(settings: Any) -> str:
    from manifests.keys import load_recipients, load_signing_key, recipient_lines

    if settings.signing_key is not None:
        passphrase = settings.passphrase.get_secret_value() if settings.passphrase else None
        load_signing_key(Path(settings.signing_key), passphrase)
    recipients = load_recipients(recipient_lines(settings.recipients))
    if not recipients:
        raise BadInput(
            "no recipients to encrypt the evidence to", hint="set the seal step's recipients"
        )
    return f"signing key loads, {len(recipients)} recipient(s)"


def _push(settings: Any) -> str:
    from evidence.stores.registry import open_store

    store = open_store(
        settings.store, _account(settings) if settings.store.startswith("s3://") else None
    )
    lock = store.check_lock(settings.allow_unlocked)
    return f"{settings.store}: reachable, lock {lock}"


def _notify(settings: Any) -> str:
    channel = settings.channel
    if channel.type == "smtp":
        return _smtp(channel)
    if channel.type == "file":
        if channel.out == "-":
            return "the notice goes to standard output"
        folder = Path(channel.out).parent
        if not folder.is_dir():
            raise StepFailed(f"no folder {folder} to write the notice to")
        return f"{folder} writable"
    return f"the {channel.type} channel is configured (not contacted: that would send)"


def _smtp(channel: Any) -> str:
    """Connect, EHLO and (when configured) STARTTLS, then QUIT: nothing is sent."""
    try:
        if channel.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(channel.host, channel.port, timeout=10)
        else:
            client = smtplib.SMTP(channel.host, channel.port, timeout=10)
        with client:
            client.ehlo()
            if channel.security == "starttls":
                client.starttls()
                client.ehlo()
            client.noop()
    except (OSError, smtplib.SMTPException) as exc:
        raise StepFailed(
            f"mail server {channel.host}:{channel.port} not reachable: {exc}",
            hint="check host, port and security",
        ) from None
    return f"mail server {channel.host}:{channel.port} answers (nothing sent)"


CHECKS: dict[str, Check] = {
    "evidence.export-audit": _export_audit,
    "evidence.snapshot": _snapshot,
    "evidence.cloudtrail": _cloudtrail,
    "evidence.cloudwatch": _cloudwatch,
    "evidence.s3-logs": _s3_logs,
    "contain": _contain,
    "seal": _seal,
    "bundle.push": _push,
    "notify.send": _notify,
}
