"""Crash tests' plumbing: run the real `breach` command in a process of its own, list the moments
it passes (core.faults, BREACH_FAULT_TRACE), and kill it at one of them (BREACH_FAULT=name#n),
as kill -9 would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core import faults

BREACH = str(Path(sys.executable).parent / "breach")
KILLS = 20


def breach_process(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`breach ARGS` as a separate process (the test's environment, plus `env`)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BREACH_FAULT")}
    return subprocess.run(
        [BREACH, *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def moments_of(trace: Path, *args: str) -> list[str]:
    """Run `breach ARGS` once, untouched, and list every fault point it passed (`name#n`)."""
    done = breach_process(*args, BREACH_FAULT_TRACE=str(trace))
    assert done.returncode in (0, 1), done.stderr
    return faults.moments(str(trace))


def spread(moments: list[str], count: int = KILLS) -> list[str]:
    """`count` of the moments, in run order: the first and last pass of every point, then
    evenly spaced others (all of them when there are fewer)."""
    if len(moments) <= count:
        return list(moments)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for index, moment in enumerate(moments):
        name = moment.split("#")[0]
        first.setdefault(name, index)
        last[name] = index
    picks = sorted({*first.values(), *last.values()})[:count]
    rest = [i for i in range(len(moments)) if i not in picks]
    wanted = count - len(picks)
    picks += [rest[(j * len(rest)) // wanted + len(rest) // (2 * wanted)] for j in range(wanted)]
    return [moments[i] for i in sorted(picks)]


def kill_at(moment: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `breach ARGS`, killed at `moment`; it must have died there."""
    done = breach_process(*args, BREACH_FAULT=moment)
    assert done.returncode == faults.KILLED_EXIT, (moment, done.returncode, done.stderr)
    return done
