"""Helpers shared by benchmarks: timing, peak memory of a child process, printing ratios."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def timed(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run a command; return (seconds, peak RSS in bytes) from the kernel's accounting."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss * 1024


def python_cmd(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def ratio_line(label: str, ours: float, theirs: float, goal: str) -> str:
    """'label: ratio x (ours s vs theirs s), goal ...' where ratio > 1 means ours is faster."""
    return f"{label}: {theirs / ours:.2f}x  (breachkit {ours:.2f} s, baseline {theirs:.2f} s; goal {goal})"


def scratch_dir() -> Path:
    """Benchmarks write on the project's disk (not tmpfs) so they compare like with like."""
    path = Path(os.environ.get("BREACH_BENCH_DIR", "bench-out"))
    path.mkdir(parents=True, exist_ok=True)
    return path
