"""containment: adapters that act (sessions, accounts, keys, network blocks).

Every action is planned, applied, verified by reading back, and returns a receipt:

    from containment import AdapterOptions, build, run_action
    adapter = build("revoke-sessions", "postgres", AdapterOptions(dsn="postgresql:///app"))
    receipt = run_action(adapter, ["42", "43"], dry_run=False)
    print(receipt.summary)         # revoked 12 sessions of 2 users
"""

from containment.interface import ContainmentAdapter, ContainmentReceipt, Plan, TargetResult
from containment.registry import ADAPTERS, AdapterOptions, build
from containment.run import execute, plan_action, read_targets, run_action

__all__ = [
    "ADAPTERS",
    "AdapterOptions",
    "ContainmentAdapter",
    "ContainmentReceipt",
    "Plan",
    "TargetResult",
    "build",
    "execute",
    "plan_action",
    "read_targets",
    "run_action",
]
