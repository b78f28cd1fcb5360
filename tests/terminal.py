"""Run a command with its stderr on a pseudo-terminal, as a responder would see it: what rich
draws there (progress lines) only appears on a terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Drawn:
    code: int
    stdout: bytes
    text: str  # stderr as drawn, escape sequences removed


def on_a_terminal(argv: list[str], env: dict[str, str] | None = None) -> Drawn:
    leader, follower = pty.openpty()
    full_env = {**os.environ, "COLUMNS": "160", "TERM": "xterm", **(env or {})}
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower, env=full_env
    )
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        drawn += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    return Drawn(proc.returncode, out, ANSI.sub("", drawn.decode(errors="replace")))
