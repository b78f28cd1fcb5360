"""Who is acting: the OS user at the host, unless BREACH_OPERATOR names someone."""

from __future__ import annotations

import getpass
import os
import socket


def operator() -> str:
    named = os.environ.get("BREACH_OPERATOR")
    if named:
        return named
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"
