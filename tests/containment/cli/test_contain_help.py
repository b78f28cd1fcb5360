"""`breach contain ACTION --help` lists only the options of the action's adapters, grouped by
adapter, and agrees with the registry's settings models; `--adapter` offers the valid names."""

from __future__ import annotations

import re
from typing import Any

from containment.registry import ADAPTERS

# Options every adapter of an action takes, and those for where an adapter acts (not settings).
COMMON = {"--case", "--adapter", "--target", "--targets-file", "--targets-column", "--dry-run",
          "--reason", "--json", "--help", "--from-scope", "--since"}  # fmt: skip
CONNECTION = {"--dsn", "--redis-url", "--profile", "--region", "--role-arn", "--endpoint-url",
              "--require-snapshot", "--revoke-before"}  # fmt: skip


def sections(help_text: str) -> dict[tuple[str, ...], set[str]]:
    """Help section -> the flags it lists; () is the common `Options:` section."""
    found: dict[tuple[str, ...], set[str]] = {}
    current: tuple[str, ...] | None = None
    for line in help_text.splitlines():
        title = re.fullmatch(r"Options of the (.+) adapters?:", line)
        if title:
            current = tuple(title.group(1).split(", "))
        elif line == "Options:":
            current = ()
        elif current is not None and line.startswith("  -"):
            flags = re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", line.split("  ")[1])
            found.setdefault(current, set()).update(flags)
    return found


def test_each_adapter_lists_exactly_its_own_options(breach: Any) -> None:
    for action, adapters in ADAPTERS.items():
        shown = breach("contain", action, "--help")
        assert shown.exit_code == 0
        listed = sections(shown.stdout)
        assert listed[()] <= COMMON, f"{action}: adapter options among the common ones"
        for names in listed:
            assert set(names) <= set(adapters), f"{action}: a section for {names}"
        for adapter, settings in adapters.items():
            flags = {f for names, fs in listed.items() if adapter in names for f in fs}
            own = {"--" + field.replace("_", "-") for field in settings.model_fields}
            assert own <= flags, f"{action} {adapter}: {own - flags} not in its section"
            assert flags - own <= CONNECTION, f"{action} {adapter}: {flags - own} not its own"


def test_a_command_offers_no_option_of_another_actions_adapters(breach: Any) -> None:
    block = sections(breach("contain", "block", "--help").stdout)
    everything = set().union(*block.values())
    assert not everything & {"--dsn", "--redis-url", "--batch-size", "--table", "--preset"}
    assert block[("wafv2",)] == {"--ip-set", "--waf-scope"}
    assert block[("wafv2", "nacl", "security-group")] == {
        "--profile", "--region", "--role-arn", "--endpoint-url"
    }  # fmt: skip
    unknown = breach("contain", "block", "--case", "x", "--adapter", "redis", "--target", "1")
    assert unknown.exit_code == 2
    assert unknown.stderr.strip().splitlines() == [
        "error: unknown adapter 'redis' for block (hint: one of: wafv2, nacl, security-group)"
    ]
    sessions = breach("contain", "revoke-sessions", "--help").stdout
    assert "--adapter [postgres|redis|cognito|iam-role]" in sessions
    wrong = breach("contain", "block", "--case", "x", "--adapter", "wafv2", "--dsn", "d")
    assert wrong.exit_code == 2 and "No such option '--dsn'" in wrong.stderr
