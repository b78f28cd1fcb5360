"""Safe, reversible file names for names read from AWS (log groups, S3 keys, bucket names).

Those names are chosen by whoever controls the account under investigation: they never choose a
path. The mapping is core.fsio.name_to_file (the one function for every untrusted name): each
name, or each '/'-separated segment of a key, becomes one file name of lower-case letters,
digits, '-', '_' and '.', everything else percent-encoded. `original()` undoes it; a name too
long for a file system is shortened with a hash, which is why every artifact keeps the original
in its metadata.
"""

from __future__ import annotations

from core.fsio import file_to_name, name_to_file, names_to_path


def safe_name(name: str) -> str:
    """One file name for `name` (no '/', never '.', '..', empty or starting with '.')."""
    return name_to_file(name)


def safe_path(key: str) -> str:
    """A relative path for an S3 key: each '/'-separated segment made safe."""
    return names_to_path(key.split("/"))


def original(safe: str) -> str | None:
    """The name `safe_name` was given, or None when it was too long and hashed."""
    return file_to_name(safe)


def original_path(safe: str) -> str | None:
    segments = [original(segment) for segment in safe.split("/")]
    return None if any(s is None for s in segments) else "/".join(s or "" for s in segments)
