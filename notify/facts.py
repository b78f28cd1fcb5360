"""What the notices state about the breach, derived once from the scope and the receipts.

- the period of the breach: when the attacker was active (the first and last matching event the
  scope found), not the window that was searched;
- the kinds of personal data: from the columns of the touched tables, through the policy's
  `[data_kinds]` mapping (table and column names go to the annex, not into the category);
- counts that the evidence could not make are "not yet determined", never 0;
- measures taken: each stated once, grouped by system for the regulator and the team, and in
  plain words for the people affected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.records import Action, ContainmentReceipt, ScopeRecord

UNDETERMINED = "not yet determined"
_WORDS = re.compile(r"[^a-z0-9]+")

# What each kind of containment means to a person whose data it protects (GDPR Art. 34).
PLAIN_MEASURES: dict[Action, str] = {
    "revoke-sessions": "We signed out every affected account, so that whoever held a session"
    " can no longer use it.",
    "disable-accounts": "We disabled the accounts that were used to reach the data.",
    "rotate-keys": "We replaced the keys and passwords that may have been exposed.",
    "block": "We blocked the network addresses the attack came from.",
}


def kind_of(column: str, mapping: dict[str, list[str]]) -> str | None:
    """The kind of data a column holds: its whole name listed first, else one of its words."""
    name = column.strip().lower()
    kinds = sorted(mapping.items())  # by name: a pinned policy's JSON keeps no table order
    for kind, names in kinds:
        if name in names:
            return kind
    words = set(_WORDS.split(name)) - {""}
    for kind, names in kinds:
        if words & set(names):
            return kind
    return None


@dataclass
class DataKinds:
    kinds: list[str]  # e.g. ["contact details", "credentials"], sorted
    annex: list[dict[str, object]]  # per table: name, columns, kinds (None: not snapshotted)
    undetermined: list[str] = field(default_factory=list)  # tables whose columns are unknown


def data_kinds(scope: ScopeRecord | None, mapping: dict[str, list[str]]) -> DataKinds:
    """The kinds of personal data in the tables the scope touched, and the annex that shows how."""
    if scope is None:
        return DataKinds([], [], [])
    found: set[str] = set()
    annex: list[dict[str, object]] = []
    unknown = []
    for table in sorted(scope.tables):
        columns = scope.columns.get(table)
        if columns is None:
            unknown.append(table)
            annex.append({"table": table, "columns": None, "kinds": None})
            continue
        kinds = {c: kind_of(c, mapping) for c in columns}
        found.update(k for k in kinds.values() if k)
        annex.append({"table": table, "columns": columns, "kinds": kinds})
    return DataKinds(sorted(found), annex, unknown)


def count_text(scope: ScopeRecord | None, key: str) -> str | None:
    """A count as a notice states it: the number, "at least N, ... not yet determined" where
    the evidence could count only part, "not yet determined" where none; None: no scope."""
    if scope is None:
        return None
    value = getattr(scope, key)
    reason = scope.uncounted.get(key)
    if reason is None:
        return None if value is None else str(value)
    if value:
        return f"at least {value}; the rest {UNDETERMINED} ({reason})"
    return f"{UNDETERMINED} ({reason})"


@dataclass
class Measures:
    technical: list[str]  # each summary once, in order
    by_system: list[dict[str, object]]  # [{"system": ..., "measures": [...]}]
    plain: list[str]  # each kind of action once, in plain words


def measures(receipts: list[ContainmentReceipt]) -> Measures:
    """Applied, effective containment: each stated once, grouped by the system acted on."""
    technical: list[str] = []
    systems: dict[str, list[str]] = {}
    actions: list[Action] = []
    stated: set[tuple[object, ...]] = set()
    for receipt in receipts:
        # the same action on the same targets, applied again, is the same measure
        key = (
            receipt.system,
            receipt.action,
            receipt.summary,
            *sorted(t.name for t in receipt.targets),
        )
        if not (receipt.summary and receipt.changed_something) or key in stated:
            continue
        stated.add(key)
        technical.append(receipt.summary)
        systems.setdefault(receipt.system, []).append(receipt.summary)
        if receipt.action not in actions:
            actions.append(receipt.action)
    by_system: list[dict[str, object]] = [
        {"system": system, "measures": listed} for system, listed in systems.items()
    ]
    return Measures(technical, by_system, [PLAIN_MEASURES[a] for a in actions])
