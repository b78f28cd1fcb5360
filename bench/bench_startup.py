"""Start-up: `breach --help`, each group's --help and a bad-argument run of every command.

A responder under a 15-minute clock types `breach ... --help` and mistypes flags; CI drills run
hundreds of short commands. Each must answer in <= 0.3 s, which only holds when a command imports
what it needs and nothing else (pyarrow, pandas, boto3 and jinja2 only when a step runs).
Each command is timed as a whole process, best of 5, beside `python -c pass` for the floor.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.common import spread, venv_script, verdict

GOAL_SECONDS = 0.3
RUNS = 5

# (what a person types, the exit code it gives)
COMMANDS: list[tuple[list[str], int]] = [
    (["--help"], 0),
    (["--version"], 0),
    (["evidence", "--help"], 0),
    (["evidence", "export-audit", "--help"], 0),
    (["evidence", "export-audit", "--no-such-flag"], 2),
    (["evidence", "snapshot", "--no-such-flag"], 2),
    (["scope", "--no-such-flag"], 2),
    (["contain", "--help"], 0),
    (["contain", "revoke-sessions", "--no-such-flag"], 2),
    (["notify", "--help"], 0),
    (["notify", "send", "--no-such-flag"], 2),
    (["incident", "--help"], 0),
    (["incident", "open", "--no-such-flag"], 2),
    (["seal", "--no-such-flag"], 2),
    (["verify", "--help"], 0),
    (["verify", "--no-such-flag"], 2),
    (["decrypt", "--no-such-flag"], 2),
    (["custody", "--help"], 0),
    (["keys", "generate", "--no-such-flag"], 2),
    (["postmortem", "--no-such-flag"], 2),
]


def best_of(cmd: list[str], expect: int) -> list[float]:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, env=os.environ.copy())
        samples.append(time.perf_counter() - started)
        if proc.returncode != expect:
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}, expected {expect}")
    return samples


def main() -> None:
    breach = venv_script("breach")
    floor = min(best_of([sys.executable, "-c", "pass"], 0))
    print(f"floor: python -c pass {floor:.3f} s")
    worst = 0.0
    for args, expect in COMMANDS:
        samples = best_of([breach, *args], expect)
        best = min(samples)
        worst = max(worst, best)
        print(
            f"{verdict(best <= GOAL_SECONDS)}  breach {' '.join(args):<40} {spread(samples)}"
            f"  ({best / floor:.1f}x python -c pass)"
        )
    print(f"{verdict(worst <= GOAL_SECONDS)}  slowest {worst:.3f} s (goal <= {GOAL_SECONDS} s)")


if __name__ == "__main__":
    main()
