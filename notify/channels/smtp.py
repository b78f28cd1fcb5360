"""SMTP email: STARTTLS (or implicit TLS) and AUTH, one message per send, or a bulk run.

Reply codes decide what happens next: 4xx and connection trouble are retried; 5xx at MAIL or
DATA are retried too (bounded by the retry policy) before the send is recorded as failed;
authentication failures and refused recipient addresses (550-553) are never retried.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from core.timeutil import utcnow
from notify.channels.interface import (
    Accepted,
    ChannelSettings,
    Message,
    PermanentError,
    TransientError,
)
from notify.markup import html_document, plain_text

Security = Literal["starttls", "tls", "none"]
PASSWORD_ENV = "BREACH_SMTP_PASSWORD"  # the password comes from here only, never from settings
_AUTH_FAILED = {530, 534, 535, 538}
_ADDRESS_REFUSED = {550, 551, 552, 553}


class SmtpSettings(ChannelSettings):
    """A mail server and how to talk to it. The password is read from $BREACH_SMTP_PASSWORD."""

    type: Literal["smtp"] = "smtp"
    host: str = Field(min_length=1)
    sender: str = Field(min_length=1, description="the From address")
    port: int = Field(default=587, ge=1, le=65535)
    security: Security = "starttls"
    username: str | None = None
    ca_file: str | None = Field(default=None, description="trust this CA for the server")
    timeout: float = Field(default=30.0, gt=0)

    @field_validator("username")
    @classmethod
    def _no_password_in_clear(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and info.data.get("security") == "none":
            raise PydanticCustomError(
                "password_in_clear",
                "a login without TLS would send the password in clear; use starttls or tls",
            )
        return value


def valid_address(address: str) -> bool:
    """One address, no header tricks: exactly one @, no whitespace or control characters."""
    local, at, domain = address.partition("@")
    return bool(at and local and "." in domain and "@" not in domain) and not any(
        ch.isspace() or ord(ch) < 32 for ch in address
    )


def _reply_error(code: int, reply: bytes | str, stage: str) -> Exception:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    message = f"SMTP {code} at {stage}: {text.strip()}"
    if code in _AUTH_FAILED:
        return PermanentError(message)
    if stage == "RCPT TO" and code in _ADDRESS_REFUSED:
        return PermanentError(message)
    return TransientError(message)


class SmtpChannel:
    name = "smtp"

    def __init__(self, settings: SmtpSettings, password: str | None = None) -> None:
        self.settings = settings
        self._password = password

    @classmethod
    def from_settings(cls, settings: SmtpSettings) -> SmtpChannel:
        return cls(settings, os.environ.get(PASSWORD_ENV) or None)

    def destination(self) -> str:
        s = self.settings
        user = f"{s.username}@" if s.username else ""
        return f"smtp://{user}{s.host}:{s.port} ({s.security})"

    def secrets(self) -> Iterable[str]:
        return [self._password or ""]

    # -- connection ----------------------------------------------------------------------
    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def connect(self) -> smtplib.SMTP:
        """An authenticated session, or a TransientError/PermanentError saying why not."""
        s = self.settings
        try:
            if s.security == "tls":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=self._tls_context()
                )
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            conn.ehlo()
            if s.security == "starttls":
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            if s.username:
                conn.login(s.username, self._password or "")
            return conn
        except smtplib.SMTPNotSupportedError:
            raise PermanentError(
                f"{s.host}:{s.port} does not offer STARTTLS; refusing to send in clear"
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"SMTP login as {s.username} refused: {exc.smtp_code}") from None
        except smtplib.SMTPResponseException as exc:
            raise _reply_error(exc.smtp_code, exc.smtp_error, "connect") from None
        except ssl.SSLError as exc:
            raise PermanentError(f"TLS with {s.host}:{s.port} failed: {exc}") from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"cannot reach {s.host}:{s.port}: {exc}") from None

    # -- sending -------------------------------------------------------------------------
    def build(self, message: Message, to: list[str]) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.settings.sender
        mail["To"] = ", ".join(to)
        mail["Subject"] = " ".join(message.subject.split())
        mail["Date"] = format_datetime(utcnow())
        domain = self.settings.sender.rpartition("@")[2] or "breachkit.invalid"
        mail["Message-ID"] = make_msgid(domain=domain)
        # plain text without Markdown markup, and the notice rendered as the HTML alternative
        mail.set_content(plain_text(message.body))
        mail.add_alternative(html_document(message.subject, message.body), subtype="html")
        return mail

    def transmit(self, conn: smtplib.SMTP, message: Message, to: list[str]) -> Accepted:
        """MAIL, RCPT, DATA on an open session; returns the Message-ID and the server's reply."""
        bad = [addr for addr in to if not valid_address(addr)]
        if bad or not to:
            raise PermanentError(f"not a usable address: {bad[0] if bad else '(none)'}")
        mail = self.build(message, to)
        try:
            code, reply = conn.mail(self.settings.sender)
            if code != 250:
                raise _reply_error(code, reply, "MAIL FROM")
            refused = []
            for addr in to:
                code, reply = conn.rcpt(addr)
                if code not in (250, 251):
                    refused.append((addr, code, reply))
            if len(refused) == len(to):
                conn.rset()
                raise _reply_error(refused[0][1], refused[0][2], "RCPT TO")
            # smtplib sends bytes as they are: the lines must already end in CRLF
            code, reply = conn.data(mail.as_bytes(policy=mail.policy.clone(linesep="\r\n")))
            if code != 250:
                raise _reply_error(code, reply, "DATA")
        except smtplib.SMTPServerDisconnected as exc:
            raise TransientError(f"server disconnected: {exc}") from None
        except (TimeoutError, OSError) as exc:
            raise TransientError(f"connection lost: {exc}") from None
        answer = reply.decode("utf-8", "replace").strip()
        if refused:
            answer += f"; refused {len(refused)} of {len(to)} recipients"
        return Accepted(str(mail["Message-ID"]), answer, tuple(a for a, _, _ in refused))

    def send_once(self, message: Message) -> Accepted:
        conn = self.connect()
        try:
            return self.transmit(conn, message, list(message.recipients))
        finally:
            close(conn)


def close(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()
