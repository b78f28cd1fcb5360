"""Real local services for the notify tests: an aiosmtpd server and an HTTP webhook stand-in."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from breach.case import Case
from breach.procedure.policy import pin
from core.records import Action, ContainmentReceipt, ReceiptStatus, TargetResult
from notify.policy import load_policy

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
# A policy naming a real organisation: notices naming the default's placeholder are not sent.
ORG_POLICY = Path(__file__).with_name("org-policy.toml")
SMTP_USER = "notifier"
SMTP_PASSWORD = "s3cret-smtp-pass"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- SMTP ------------------------------------------------------------------------------------
@dataclass
class Mailbox:
    """What the server received, and how it should answer next."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)  # one per DATA ("" accepts); then 250
    refuse: set[str] = field(default_factory=set)  # RCPT addresses answered 550
    data_calls: int = 0
    logins: list[str] = field(default_factory=list)
    tls_sessions: int = 0


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.box.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.data_calls += 1
        scripted = self.box.data_replies.pop(0) if self.box.data_replies else ""
        if scripted:
            return scripted
        if session.ssl is not None:
            self.box.tls_sessions += 1
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.box.messages.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return f"250 OK queued as Q{len(self.box.messages):04d}"


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "smtp-cert.pem", tmp / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class SmtpServer:
    host: str
    port: int
    box: Mailbox
    ca_file: str | None = None

    def args(self, *extra: str) -> list[str]:
        base = ["--smtp-host", self.host, "--smtp-port", str(self.port), "--from", "ir@example.com"]
        if self.ca_file:
            base += ["--smtp-security", "starttls", "--smtp-ca-file", self.ca_file]
            base += ["--smtp-user", SMTP_USER]
        else:
            base += ["--smtp-security", "none"]
        return [*base, *extra]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain aiosmtpd server on 127.0.0.1 (no TLS, no auth)."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield SmtpServer("127.0.0.1", controller.port, box)
    controller.stop()


@pytest.fixture
def smtp_tls_server(tmp_path: Path) -> Iterator[SmtpServer]:
    """aiosmtpd requiring STARTTLS and AUTH (self-signed certificate for 127.0.0.1)."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Mailbox()
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == SMTP_USER
            and data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            box.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        _Handler(box),
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    yield SmtpServer("127.0.0.1", controller.port, box, ca_file=str(cert))
    controller.stop()


# -- HTTP webhooks ---------------------------------------------------------------------------
@dataclass
class Reply:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class WebhookServer:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)  # {"path", "json", "headers"}
    replies: list[Reply] = field(default_factory=list)  # consumed in order; then `default`
    default: Reply = field(default_factory=lambda: Reply(200, "ok"))


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    """http.server on 127.0.0.1 standing in for Slack and PagerDuty."""
    port = free_port()
    state = WebhookServer(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            state.requests.append(
                {"path": self.path, "json": json.loads(raw), "headers": dict(self.headers)}
            )
            reply = state.replies.pop(0) if state.replies else state.default
            body = reply.body.encode()
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# -- cases -----------------------------------------------------------------------------------
def write_containment(case: Case, action: Action, status: ReceiptStatus, summary: str) -> None:
    """A containment receipt as containment writes it (a core.records.ContainmentReceipt)."""
    receipt = ContainmentReceipt(
        action=action,
        adapter=f"postgres.{action}",
        status=status,
        summary=summary,
        dry_run=status == "planned",
        system="postgresql://127.0.0.1/app",
        operator="tester@breachkit",
        started_at=dt.datetime(2026, 11, 27, 8, 20, tzinfo=dt.UTC),
        finished_at=dt.datetime(2026, 11, 27, 8, 25, tzinfo=dt.UTC),
        targets=[TargetResult(name="svc-reporting", status="noop" if status == "noop" else "ok")],
        undo="nothing to undo",
    )
    case.write_receipt(f"containment-{action}-{status}.json", receipt.model_dump(mode="json"))


def write_affected_users(case: Case, emails: list[str]) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rel = "scope/affected_users.parquet"
    table = pa.table({"user_id": list(range(1, len(emails) + 1)), "email": emails})
    pq.write_table(table, case.stage_path(rel))
    return rel


@pytest.fixture
def breach_case(tmp_path: Path) -> Case:
    """A P1 data-breach case with a scope and two containment receipts, as other steps write them,
    under a policy naming a real organisation (ORG_POLICY, pinned)."""
    case = Case.open(
        "INC-2026-0042",
        "P1",
        "Customer table exfiltrated via leaked API key",
        root=tmp_path / "case",
        detected_at=NOW - dt.timedelta(hours=3),
        aware_at=NOW - dt.timedelta(hours=2),
    )
    pin(case, load_policy(ORG_POLICY), "the organisation's policy")
    emails = [f"user{i}@example.org" for i in range(1, 4)]
    artifact = write_affected_users(case, emails)
    case.update(
        "scope from the evidence step",
        scope={
            "since": "2026-11-26T00:00:00Z",
            "until": "2026-11-27T08:00:00Z",
            "principals": ["svc-reporting"],
            "source_ips": ["203.0.113.7"],
            "actions": {"SELECT": 12},
            "tables": {"public.customers": 1200, "public.orders": 300},
            "records_touched": 1500,
            "affected_users": 3,
            "affected_users_artifact": artifact,
            "first_seen": "2026-11-26T21:14:00Z",
            "last_seen": "2026-11-27T03:02:00Z",
            "columns": {
                "public.customers": ["id", "email", "full_name", "password_hash"],
                "public.orders": ["id", "customer_id", "card_last4", "billing_address"],
            },
        },
    )
    done: list[tuple[Action, str]] = [
        ("revoke-sessions", "Revoked 41 sessions of svc-reporting"),
        ("rotate-keys", "Rotated the leaked API key"),
    ]
    for action, summary in done:
        write_containment(case, action, "ok", summary)
    return case


def receipts_of(case: Case, kind: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(case.receipts.glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("kind") == kind:
            found.append(data)
    return found


def all_records_text(case: Case) -> str:
    """Everything written to receipts, staging and the journal: where secrets must not be."""
    texts = [
        p.read_text(errors="replace")
        for p in case.root.rglob("*")
        if p.is_file() and p.suffix != ".parquet"
    ]
    return "\n".join(texts)
