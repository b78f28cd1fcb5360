"""Who is acting: the OS user at the host, unless BREACH_OPERATOR names someone."""

from __future__ import annotations

import getpass
import os
import socket


def operator() -> str:
    """The person the journal and custody log name: BREACH_OPERATOR, else the OS user."""
    return os.environ.get("BREACH_OPERATOR") or os_user()


def os_user() -> str:
    """user@host of this process, whatever BREACH_OPERATOR says."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"
