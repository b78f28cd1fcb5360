"""Deterministic fault injection for crash tests: named points where a test kills the process.

A step calls `point("seal.renamed")` at each moment a crash matters (before, inside and between
its commit steps). With `BREACH_FAULT=seal.renamed` the process dies there the first time it
passes, with `seal.renamed#3` the third time: `os._exit(137)`, as kill -9 would leave it (no
cleanup, no flush, no finally). `BREACH_FAULT_TRACE=FILE` appends the name of every point passed,
so a test first lists a command's moments, then kills it at each. Unset, a point is two
environment lookups.
"""

from __future__ import annotations

import os

KILLED_EXIT = 137
_passes: dict[str, int] = {}


def point(name: str) -> None:
    trace = os.environ.get("BREACH_FAULT_TRACE")
    if trace:
        with open(trace, "a", encoding="utf-8") as handle:
            handle.write(name + "\n")
    spec = os.environ.get("BREACH_FAULT")
    if not spec:
        return
    target, _, nth = spec.partition("#")
    if target != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] == int(nth or 1):
        os._exit(KILLED_EXIT)


def moments(trace: str) -> list[str]:
    """The points a traced run passed, each as `name#n` (the n-th pass), in order."""
    seen: dict[str, int] = {}
    out: list[str] = []
    with open(trace, encoding="utf-8") as handle:
        for line in handle:
            name = line.rstrip("\n")
            seen[name] = seen.get(name, 0) + 1
            out.append(f"{name}#{seen[name]}")
    return out
