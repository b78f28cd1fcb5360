"""A command imports what it needs: --help and a mistyped flag never load the heavy libraries.

(Timings are for `make bench BENCH_ARGS=startup`; this checks the cause, module by module.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pyarrow", "pandas", "psycopg", "boto3", "botocore", "jinja2", "pydantic", "redis")

PROBE = """
import json, sys
from breach.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if '.' not in m)))
"""


def loaded(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("evidence", "--help"),
        ("evidence", "export-audit", "--no-such-flag"),
        ("evidence", "snapshot", "--help"),
        ("scope", "--no-such-flag"),
        ("contain", "revoke-sessions", "--help"),
        ("notify", "send", "--no-such-flag"),
        ("incident", "open", "--help"),
        ("seal", "--no-such-flag"),
        ("postmortem", "--help"),
    ],
)
def test_help_and_bad_arguments_load_no_heavy_library(args: tuple[str, ...]) -> None:
    heavy = loaded(*args) & set(HEAVY)
    assert heavy == set(), f"breach {' '.join(args)} imported {sorted(heavy)}"


def test_verify_loads_neither_cloud_nor_database_libraries() -> None:
    """Legal's verifier stays small: `breach verify --help` needs no AWS, PostgreSQL or pydantic."""
    assert loaded("verify", "--help") & set(HEAVY) == set()
