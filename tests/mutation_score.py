"""Print the mutation score per module from mutmut's results (`make mutate` calls this).

    python -m tests.mutation_score [MODULE ...]

Reads `mutmut results --all true` and prints, per module, the mutants killed (a test failed),
timed out (counted as caught: the mutant hung a test), survived (no test noticed) and not yet
checked, with the score = caught / checked. Exits 1 when a checked module is under 90 %.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

GOAL = 90.0
CAUGHT = {"killed", "timeout"}


def module_of(mutant: str) -> str:
    """manifests.verify.x_check_bag__mutmut_3 -> manifests.verify"""
    parts = mutant.split(".")
    return ".".join(parts[:-1])


def main(argv: list[str]) -> int:
    mutmut = Path(sys.executable).with_name("mutmut")
    listing = subprocess.run(
        [str(mutmut), "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in listing.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            counts[module_of(name)][status.strip()] += 1
    wanted = argv or sorted(counts)
    print(
        f"{'module':<22} {'killed':>6} {'timeout':>7} {'survived':>8} {'unchecked':>9} {'score':>7}"
    )
    short = False
    for module in wanted:
        c = counts.get(module, Counter())
        caught = sum(c[s] for s in CAUGHT)
        checked = caught + c["survived"] + c["suspicious"] + c["no tests"]
        unchecked = c["not checked"]
        score = f"{100 * caught / checked:6.1f}%" if checked else "      -"
        short |= bool(checked) and 100 * caught / checked < GOAL
        print(
            f"{module:<22} {c['killed']:>6} {c['timeout']:>7} {c['survived']:>8} {unchecked:>9} {score}"
        )
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
