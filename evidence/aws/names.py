"""Safe, reversible file names for names read from AWS (log groups, S3 keys, bucket names).

Those names are chosen by whoever controls the account under investigation: they never choose a
path. Each name (or each '/'-separated segment of a key) becomes one file name made only of
letters, digits, '-', '_' and '.', every other byte percent-encoded (UTF-8), a leading '.'
encoded too (sealing skips dot-names), and an empty segment written as '%'. `original()` undoes
it. A segment too long for a file name keeps a readable head and ends in '~' and a hash of the
whole name ('~' never appears otherwise, it is encoded): such a name is not reversible by itself,
which is why every artifact keeps the original in its metadata.
"""

from __future__ import annotations

import hashlib
import string
from urllib.parse import unquote

SAFE = frozenset(string.ascii_letters + string.digits + "-_.")
MAX_SEGMENT = 200  # bytes; file systems allow 255, and a sidecar adds '.meta.json'
HASHED = "~"


def safe_name(name: str) -> str:
    """One file name for `name` (no '/', never '.', '..', empty or starting with '.')."""
    if name == "":
        return "%"
    parts = []
    for index, char in enumerate(name):
        if char in SAFE and not (index == 0 and char == "."):
            parts.append(char)
        else:
            parts.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    text = "".join(parts)
    if len(text) <= MAX_SEGMENT:
        return text
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    head = text[: MAX_SEGMENT - len(digest) - 1]
    cut = head.rfind("%", len(head) - 2)  # never end inside an escape
    if cut != -1:
        head = head[:cut]
    return f"{head}{HASHED}{digest}"


def safe_path(key: str) -> str:
    """A relative path for an S3 key: each '/'-separated segment made safe."""
    return "/".join(safe_name(segment) for segment in key.split("/"))


def original(safe: str) -> str | None:
    """The name `safe_name` was given, or None when it was too long and hashed."""
    if HASHED in safe:
        return None
    if safe == "%":
        return ""
    return unquote(safe, encoding="utf-8", errors="surrogatepass")


def original_path(safe: str) -> str | None:
    segments = [original(segment) for segment in safe.split("/")]
    return None if any(s is None for s in segments) else "/".join(s or "" for s in segments)
