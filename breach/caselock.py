"""One writer per case: an exclusive flock on <case>/case.lock.

Every step that changes a case holds the lock from loading the case until it is done (the lock
lives as long as the `CaseLock` object: the process ends, the last Case holding it is dropped,
or `release()`); a second writer is refused with one line naming the holder (command, pid,
since when), or waits up to `wait` seconds for it. Readers (show, due, verify) never take it.

Within one process the lock is re-entrant: a step that loads its case twice (seal, then the
custody entry of the bundle it made) shares the one lock. Threads of one process are therefore
not kept apart by it; separate processes are.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import re
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import IO

from core.errors import StepFailed
from core.timeutil import rfc3339, utcnow

LOCK_FILE = "case.lock"
WAIT_ENV = "BREACH_WAIT"  # what `breach --wait SECONDS` sets: the default wait of every writer
POLL = 0.02
_WORD = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_held: weakref.WeakValueDictionary[str, CaseLock] = weakref.WeakValueDictionary()
_registry = threading.Lock()


class CaseBusy(StepFailed):
    """Another command holds the case lock (exit 1)."""


class CommitUnfinished(StepFailed):
    """A change was committed (its journal entry is written) but not all of it made visible:
    the next command on the case finishes it (breach.recovery). Exit 1."""


class CaseLock:
    """The held lock; released when dropped or on `release()`."""

    def __init__(self, path: Path, handle: IO[bytes]) -> None:
        self.path = path
        self._handle: IO[bytes] | None = handle
        # The journal's whole chain was checked after the lock was taken: while it is held,
        # appends read only the last line (no other process can write the journal meanwhile).
        self.checked = False

    @property
    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()  # closing the descriptor drops the flock

    def __del__(self) -> None:
        self.release()


def default_wait() -> float:
    """Seconds a writer waits for the lock by default: $BREACH_WAIT, else 0 (refuse at once)."""
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV) or 0))
    except ValueError:
        return 0.0


def hold(folder: Path, wait: float | None = None) -> tuple[CaseLock, bool]:
    """The case's lock for this process, and whether it was just taken (False: this process
    held it already). Raises CaseBusy when another process keeps it beyond `wait` seconds."""
    key = str(folder.resolve())
    with _registry:
        held = _held.get(key)
        if held is not None and held.held:
            return held, False
        lock = _acquire(folder / LOCK_FILE, default_wait() if wait is None else wait)
        _held[key] = lock
        return lock, True


def _acquire(path: Path, wait: float) -> CaseLock:
    handle = open(path, "a+b", buffering=0)  # noqa: SIM115 - kept open: it is the lock
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                raise CaseBusy(
                    f"case {path.parent.name} is busy: {holder(path)}; nothing was done",
                    hint="run it again when that command is done, or queue with "
                    "`breach --wait SECONDS ...`",
                ) from None
            time.sleep(POLL * (0.5 + random.random()))  # jitter: waiters do not move in step
    with contextlib.suppress(OSError):  # who holds it: informative only, a full disk may refuse
        os.ftruncate(handle.fileno(), 0)
        handle.write(json.dumps(_me()).encode() + b"\n")
    return CaseLock(path, handle)


def _me() -> dict[str, object]:
    return {"command": command_name(), "pid": os.getpid(), "since": rfc3339(utcnow())}


def command_name(argv: list[str] | None = None) -> str:
    """`breach seal`, `breach incident note`: the program and its subcommand words, never an
    option or its value (a DSN's password, a path)."""
    args = sys.argv if argv is None else argv
    program = Path(args[0]).name if args and args[0] not in ("", "-c") else "python"
    words = [program]
    for arg in args[1:]:
        if arg.startswith("-") and len(words) > 1:
            break
        if _WORD.match(arg):
            words.append(arg)
        if len(words) == 4:
            break
    return " ".join(words)


def holder(path: Path) -> str:
    """'`breach seal` (pid 4242) since 2026-12-02T09:00:00Z', as the holder wrote it."""
    try:
        found = json.loads(path.read_bytes()[:4096] or b"null")
        pid = int(found["pid"])
        os.kill(pid, 0)  # the last holder recorded may have ended (another tool took the lock)
        return f"`{found['command']}` (pid {pid}) holds it since {found['since']}"
    except (OSError, ValueError, TypeError, KeyError):
        return "another process holds it"
