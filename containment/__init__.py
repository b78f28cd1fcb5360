"""containment: adapters that act (sessions, accounts, keys, network blocks).

Every action is planned, applied, verified by reading back, and returns a receipt:

    from containment import Connections, build, run_action
    adapter = build("revoke-sessions", "postgres", {"batch_size": 500}, Connections(dsn=dsn))
    receipt = run_action(adapter, ["42", "43"], dry_run=False)
    print(receipt.summary)         # revoked 12 sessions of 2 users

Each adapter's options are a typed settings model in `containment.registry` (unknown options are
refused, naming the adapter); `breach.procedure.contain.contain` is the whole step (targets,
receipt, journal).
"""

from containment.interface import ContainmentAdapter, ContainmentReceipt, Plan, TargetResult
from containment.registry import ADAPTERS, AdapterSettings, Connections, adapter_settings, build
from containment.run import execute, plan_action, read_targets, run_action, targets_to_show

__all__ = [
    "ADAPTERS",
    "AdapterSettings",
    "Connections",
    "ContainmentAdapter",
    "ContainmentReceipt",
    "Plan",
    "TargetResult",
    "adapter_settings",
    "build",
    "execute",
    "plan_action",
    "read_targets",
    "run_action",
    "targets_to_show",
]
