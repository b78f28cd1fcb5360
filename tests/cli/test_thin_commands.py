"""The CLI stays a thin shell: the procedure lives in breach.procedure, not in breach/commands."""

from __future__ import annotations

import ast
from pathlib import Path

COMMANDS = Path(__file__).resolve().parents[2] / "breach" / "commands"
MAX_BODY = 30  # lines of one command function or helper
MAX_MODULE = 250  # lines of one commands module
# The commands of the procedure's core steps (incident, keys, evidence, contain, notify, seal,
# verify, decrypt, custody): under a thousand lines in all. The group plumbing and the command
# registry (__init__) and later families (cloud, locker, report) are bounded per module above.
CORE = ("bundle", "contain", "evidence", "incident", "keys", "notify")
MAX_CORE_TOTAL = 1_000


def test_no_function_in_the_commands_is_long() -> None:
    long = []
    for path in sorted(COMMANDS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body[1:] if ast.get_docstring(node) else node.body
                if not body:  # a group: its docstring is its help
                    continue
                lines = (body[-1].end_lineno or 0) - body[0].lineno + 1
                if lines > MAX_BODY:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert long == [], f"move the work into breach.procedure: {long}"


def test_the_commands_are_small_in_all() -> None:
    sizes = {p.stem: len(p.read_text(encoding="utf-8").splitlines()) for p in COMMANDS.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE} == {}
    total = sum(sizes[name] for name in CORE)
    assert total <= MAX_CORE_TOTAL, f"the core steps' commands have {total} lines"


def test_no_test_imports_the_commands() -> None:
    """Tests call the library; the CLI is driven through `breach` itself."""
    tests = Path(__file__).resolve().parents[1]
    offenders = [
        str(p.relative_to(tests))
        for p in tests.rglob("*.py")
        if p != Path(__file__)
        and any(
            isinstance(node, ast.ImportFrom) and (node.module or "").startswith("breach.commands")
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        )
    ]
    assert offenders == []
