"""Helpers shared by benchmarks: timing, peak memory of a child process, printing ratios."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

MB = 1_000_000


def timed(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


# Linux carries a process's peak RSS across fork and exec, so a command started straight from a
# large benchmark process would report the benchmark's own size. A small launcher (python -S) starts
# the command instead and writes the command's exit code and peak (from wait4) to a pipe.
_LAUNCHER = """
import os, sys
report = int(sys.argv[1])
pid = os.fork()
if pid == 0:
    os.close(report)
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
os.write(report, b"%d %d" % (os.waitstatus_to_exitcode(status), usage.ru_maxrss))
"""


def run_measured(
    cmd: list[str], env: dict[str, str] | None = None, *, quiet: bool = False
) -> tuple[float, int]:
    """Run a command; return (seconds, peak RSS in bytes) from the kernel's accounting.

    `quiet` discards the command's stdout (its stderr still shows, to explain a failure).
    """
    read_end, write_end = os.pipe()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-S", "-c", _LAUNCHER, str(write_end), *cmd],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL if quiet else None,
        pass_fds=(write_end,),
    )
    os.close(write_end)
    proc.wait()
    elapsed = time.perf_counter() - started
    with os.fdopen(read_end, "rb") as report:
        code, max_rss_kib = (int(x) for x in report.read().split())
    if proc.returncode != 0 or code != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(cmd)}")
    return elapsed, max_rss_kib * 1024


def python_cmd(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def venv_script(name: str) -> str:
    """A console script of this environment (e.g. `breach`), beside the running interpreter."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found beside {sys.executable} nor on PATH")
    return found


def ratio_line(label: str, ours: float, theirs: float, goal: str) -> str:
    """'label: ratio x (ours s vs theirs s), goal ...' where ratio > 1 means ours is faster."""
    return f"{label}: {theirs / ours:.2f}x  (breachkit {ours:.2f} s, baseline {theirs:.2f} s; goal {goal})"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def goal_line(label: str, ours: float, theirs: float, minimum: float) -> str:
    """ratio_line with the goal `ratio >= minimum` judged PASS or MISS."""
    ratio = theirs / ours
    return f"{verdict(ratio >= minimum)}  " + ratio_line(label, ours, theirs, f">= {minimum}")


def spread(samples: Sequence[float]) -> str:
    """'best 1.23 s (runs 1.23 1.40 1.31)': the best run counts, the others show the noise."""
    runs = " ".join(f"{s:.2f}" for s in samples)
    return f"best {min(samples):.2f} s (runs {runs})"


def settle() -> None:
    """Flush dirty pages so no measurement pays for the previous one's writeback."""
    os.sync()


def same_filesystem(path: Path, other: Path) -> bool:
    return path.resolve().stat().st_dev == other.resolve().stat().st_dev


def scratch_dir() -> Path:
    """Benchmarks write on the project's disk (not tmpfs) so they compare like with like."""
    path = Path(os.environ.get("BREACH_BENCH_DIR", "bench-out"))
    path.mkdir(parents=True, exist_ok=True)
    return path
