"""The policy file and templates: overrides work, mistakes are one line naming file and field."""

from __future__ import annotations

from breach.case import Case
from notify.context import IncidentContext
from notify.policy import load_policy
from notify.render import render_notice


def test_default_policy_holds_the_seeds_matrix() -> None:
    policy = load_policy()
    assert [str(policy.escalation["cto"].rule(s)) for s in ("P1", "P2", "P3", "P4")] == [
        "30m", "4h", "-", "-",
    ]  # fmt: skip
    assert str(policy.severities["P1"].response_time) == "15m"
    assert str(policy.regimes["gdpr-art33"].deadline) == "72h"
    assert policy.regimes["sec-8k"].enabled is False


# -- templates -------------------------------------------------------------------------------
def _context(case: Case) -> IncidentContext:
    from breach.procedure.notify import incident_context

    return incident_context(case)


def test_builtin_notices_are_filled_from_scope_and_containment(breach_case: Case) -> None:
    policy = load_policy()
    context = _context(breach_case)
    internal = render_notice("internal", context, policy)
    assert internal.subject == (
        "[P1] INC-2026-0042: Customer table exfiltrated via leaked API key (Investigating)"
    )
    assert (
        "**Impact**: 3 affected users; 1500 records touched; tables public.customers, public.orders"
        in internal.body
    )
    assert "- Rotated the leaked API key" in internal.body and internal.unfilled() == []
    external = render_notice(
        "external", context, policy, values={"issue": "a data leak", "feature": "accounts"}
    )
    assert external.body.startswith("We are aware of a data leak affecting accounts.")
    assert "updates every 30 minutes" in external.body
    art34 = render_notice("gdpr-art34", context, policy)
    assert set(art34.unfilled()) >= {"likely consequences for the people affected"}
    assert "dpo@example.com" in art34.body


def test_article_33_asks_for_reasons_when_later_than_72_hours(breach_case: Case) -> None:
    from datetime import timedelta

    late = breach_case.record.aware_at + timedelta(hours=80)
    notice = render_notice("gdpr-art33", _context(breach_case), load_policy(), now=late)
    assert "Reasons for the delay (Art. 33(1))" in notice.body
    assert "the reasons for notifying later than 72 hours" in notice.unfilled()
