"""Keys: the Ed25519 signing key, age X25519 identities, and age recipients (X25519 or SSH)."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from core.errors import BadInput
from core.fsio import write_bytes, write_text
from core.timeutil import rfc3339, utcnow

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
Recipient = Any  # pyrage.x25519.Recipient | pyrage.ssh.Recipient (pyrage ships no type stubs)
Identity = Any  # pyrage.x25519.Identity | pyrage.ssh.Identity


def keyid(public_key: PublicKey) -> str:
    """sha256 of the key's SubjectPublicKeyInfo DER, hex: `openssl pkey -pubin -outform DER | sha256sum`."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def public_pem(public_key: PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(data: bytes, *, source: str) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise BadInput(f"{source} is not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise BadInput(f"{source}: only Ed25519 and ECDSA P-256 signer keys are supported")
    return key


def load_public_key_file(path: Path) -> PublicKey:
    try:
        return load_public_key(path.read_bytes(), source=str(path))
    except FileNotFoundError:
        raise BadInput(f"public key not found: {path}") from None


def load_signing_key(path: Path, passphrase: str | None = None) -> ed25519.Ed25519PrivateKey:
    """Load a PEM Ed25519 private key; a missing or wrong passphrase is one clear line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"signing key not found: {path}") from None
    except IsADirectoryError:
        raise BadInput(f"signing key {path} is a folder, not a PEM file") from None
    secret = passphrase.encode() if passphrase else None
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except TypeError:
        if secret is None:
            raise BadInput(
                f"signing key {path} is encrypted", hint="set BREACH_KEY_PASSPHRASE"
            ) from None
        raise BadInput(f"signing key {path} is not encrypted, but a passphrase was given") from None
    except ValueError:
        if secret is not None and b"ENCRYPTED" in data:
            raise BadInput(f"wrong passphrase for signing key {path}") from None
        raise BadInput(f"{path} is not a PEM private key") from None
    except UnsupportedAlgorithm:
        raise BadInput(f"{path}: unsupported key type") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise BadInput(
            f"{path} is not an Ed25519 key", hint="create one with `breach keys generate`"
        )
    refuse_open_permissions(path, "signing key")
    return key


def refuse_open_permissions(path: Path, what: str) -> None:
    """A private key readable or writable by group or others is refused, as OpenSSH refuses
    one: someone else may have read it, or may have replaced it with their own."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise BadInput(
            f"{what} {path} is open to group or others (mode {mode:04o}); refusing to use it",
            hint=f"chmod 600 {path}",
        )


def write_signing_key(
    key_path: Path, pub_path: Path, passphrase: str | None
) -> ed25519.Ed25519PrivateKey:
    """A new Ed25519 key: private PEM (PKCS#8, 0600, encrypted when a passphrase is given) and
    its public PEM."""
    private = ed25519.Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    write_bytes(key_path, pem, perms=0o600)
    write_bytes(pub_path, public_pem(private.public_key()))
    return private


@dataclass(frozen=True)
class GeneratedKeys:
    signing_key: Path
    signing_pub: Path
    signing_keyid: str
    age_identity: Path
    age_recipient: Path
    recipient: str


def generate(out: Path, passphrase: str | None = None, name: str = "signing") -> GeneratedKeys:
    """Write an Ed25519 signing key pair and an age X25519 identity into `out` (secrets 0600;
    the folder, when this creates it, 0700)."""
    if not out.exists():
        out.mkdir(parents=True, mode=0o700)
        os.chmod(out, 0o700)  # whatever the umask
    key_path, pub_path = out / f"{name}.key.pem", out / f"{name}.pub.pem"
    age_path, age_pub = out / "age.key", out / "age.pub"
    existing = [p for p in (key_path, pub_path, age_path, age_pub) if p.exists()]
    if existing:
        raise BadInput(f"{existing[0]} already exists; refusing to overwrite a key")
    private = write_signing_key(key_path, pub_path, passphrase)
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    # The same layout as age-keygen, so `age -d -i age.key` reads it.
    write_text(
        age_path,
        f"# created: {rfc3339(utcnow())}\n# public key: {recipient}\n{identity}\n",
        perms=0o600,
    )
    write_text(age_pub, recipient + "\n")
    return GeneratedKeys(
        key_path, pub_path, keyid(private.public_key()), age_path, age_pub, recipient
    )


# -- age recipients and identities ----------------------------------------------------------
RECIPIENT_HINT = "age1..., ssh-ed25519 ..., ssh-rsa ..., or a file holding them (age.pub)"
_SECRET_MARKS = ("AGE-SECRET-KEY-", "PRIVATE KEY")


def parse_recipient(text: str, origin: str = "given") -> Recipient:
    """One recipient: `age1...`, `ssh-ed25519 ...` or `ssh-rsa ...`.

    An error names where the recipient came from (`origin`), never its text: what was passed
    may be a private key."""
    text = text.strip()
    if any(mark in text.upper() for mark in _SECRET_MARKS):
        raise BadInput(
            f"the recipient {origin} is a private key, not a public recipient (not shown)",
            hint="pass the public half: " + RECIPIENT_HINT,
        )
    try:
        if text.startswith("age1"):
            return pyrage.x25519.Recipient.from_str(text)
        if text.startswith(("ssh-ed25519 ", "ssh-rsa ")):
            return pyrage.ssh.Recipient.from_str(text)
    except pyrage.RecipientError:
        raise BadInput(f"the recipient {origin} is not a valid key", hint=RECIPIENT_HINT) from None
    raise BadInput(f"the recipient {origin} is not an age or SSH public key", hint=RECIPIENT_HINT)


def _recipients_in(path: Path) -> list[tuple[str, str]]:
    """(recipient, origin) for each line of a recipients file; a file holding a private key is
    refused whole, without a word of its content."""
    data = path.read_bytes()
    if any(mark.encode() in data.upper() for mark in _SECRET_MARKS):
        raise BadInput(
            f"recipients file {path} holds a private key, not public recipients (not shown)",
            hint="pass the public half: " + RECIPIENT_HINT,
        )
    found = [
        (line.strip(), f"on line {number} of {path}")
        for number, line in enumerate(data.decode(errors="replace").split("\n"), start=1)
        if line.strip() and not line.startswith("#")
    ]
    if not found:
        raise BadInput(f"recipients file {path} holds no recipient")
    return found


def _recipient_texts(values: list[str]) -> list[tuple[str, str]]:
    """(recipient, origin) for each value: a recipient, or a file of them one per line (like
    `age -R`)."""
    lines: list[tuple[str, str]] = []
    for position, value in enumerate(values, start=1):
        path = Path(value)
        if not value.startswith(("age1", "ssh-")) and path.is_file():
            lines.extend(_recipients_in(path))
        elif not value.startswith(("age1", "ssh-")) and os.sep in value:
            # Not echoed: a value that is neither a key nor a file may be a pasted secret.
            raise BadInput(
                f"recipient #{position} given is not a public key, and no file of that name "
                "exists (the value is not shown)",
                hint=RECIPIENT_HINT,
            )
        else:
            lines.append((value.strip(), f"#{position} given"))
    if not lines:
        raise BadInput("no recipient given", hint="pass --recipient age1... (legal's public key)")
    return lines


def resolve_recipients(values: list[str]) -> tuple[list[str], list[Recipient]]:
    """The recipients named by `values` (recipients or files of them), each file read once:
    (their texts, for the statement; the parsed recipients, to encrypt to). Both come from the
    one reading, so what is signed is what was encrypted to."""
    texts = _recipient_texts(values)
    return [text for text, _ in texts], [parse_recipient(text, where) for text, where in texts]


def recipient_lines(values: list[str]) -> list[str]:
    """Each value is a recipient or a file of recipients; returns the recipients as text."""
    return [text for text, _ in _recipient_texts(values)]


def load_recipients(values: list[str]) -> list[Recipient]:
    """The age recipients named by `values` (recipients or files of them)."""
    return resolve_recipients(values)[1]


def load_identities(path: Path) -> list[Identity]:
    """An age identity file (AGE-SECRET-KEY-1... lines) or an unencrypted SSH private key."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"identity not found: {path}") from None
    except IsADirectoryError:
        raise BadInput(f"identity {path} is a folder") from None
    if b"PRIVATE KEY-----" in data:
        refuse_open_permissions(path, "identity")
        try:
            return [pyrage.ssh.Identity.from_buffer(data)]
        except pyrage.IdentityError as exc:
            raise BadInput(f"{path}: not a usable SSH identity ({exc})") from None
    identities = []
    for line in data.decode(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("AGE-SECRET-KEY-1"):
            try:
                identities.append(pyrage.x25519.Identity.from_str(line))
            except pyrage.IdentityError:
                raise BadInput(f"{path}: a malformed AGE-SECRET-KEY line") from None
    if not identities:
        raise BadInput(f"{path} holds no age identity", hint="expected AGE-SECRET-KEY-1... lines")
    refuse_open_permissions(path, "identity")
    return identities
