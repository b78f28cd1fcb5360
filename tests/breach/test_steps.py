"""The case lifecycle steps called as a library (breach.procedure.incident), without the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel, ValidationError

from breach.case import Case
from breach.procedure.incident import (
    ClassifySettings,
    CloseSettings,
    OpenSettings,
    SetAwareAtSettings,
    SetSeveritySettings,
    SetStatusSettings,
    ShowSettings,
    classify_case,
    close_case,
    open_case,
    parse_error_rate,
    set_aware_at,
    set_severity,
    set_status,
    show_case,
)
from core.errors import BadInput
from core.timeutil import rfc3339, utcnow

T = TypeVar("T", bound=BaseModel)

AWARE = "2026-11-27T08:00:00Z"


def _open(incident_id: str = "INC-1", severity: str = "P3", **extra: Any) -> Case:
    settings = _from(
        OpenSettings,
        incident_id=incident_id,
        severity=severity,
        title="slow reports",
        aware_at=AWARE,
        **extra,
    )
    return Case.load(open_case(settings).case)


def _from(settings_type: type[T], **values: Any) -> T:
    """Settings from plain values (text times, '7%'), as the CLI and a playbook's YAML give them."""
    return settings_type.model_validate(values)


def _refused(settings_type: type[Any], **values: Any) -> tuple[str, str]:
    """The (field, message) a settings model refuses the values with."""
    with pytest.raises(ValidationError) as caught:
        settings_type(**values)
    first = caught.value.errors()[0]
    return str(first["loc"][0]), first["msg"]


def _finish(case: Case, text: str) -> None:
    case.postmortem_path.write_text(text, encoding="utf-8")


# -- open ------------------------------------------------------------------------------------
def test_open_lays_out_the_case_detection_defaults_to_awareness_and_it_is_journaled() -> None:
    opened = open_case(
        _from(
            OpenSettings,
            incident_id="INC-1",
            severity="P2",
            title="exfil",
            aware_at="2026-11-27T09:00:00+01:00",
        )
    )
    assert opened.case.name == "INC-1" and opened.severity == "P2" and opened.status == "open"
    for sub in ("journal", "staging", "bundles", "receipts"):
        assert (opened.case / sub).is_dir()
    record = json.loads((opened.case / "case.json").read_text())
    assert record["aware_at"] == record["detected_at"] == AWARE
    [entry] = Case.load(opened.case).timeline()
    assert (entry["what"], entry["why"], entry["who"]) == (
        "incident.open",
        "exfil",
        "tester@breachkit",
    )
    assert entry["details"] == {"severity": "P2", "aware_at": AWARE}
    data = opened.model_dump(mode="json")
    assert data["case"] == str(opened.case) and data["aware_at"] == AWARE


def test_open_keeps_a_detection_time_given_apart_from_awareness(tmp_path: Path) -> None:
    opened = open_case(
        _from(
            OpenSettings,
            incident_id="INC-2",
            severity="P4",
            title="t",
            detected_at="2026-11-27T07:00:00Z",
            aware_at=AWARE,
            case_dir=tmp_path / "elsewhere",
        )
    )
    assert opened.case == tmp_path / "elsewhere"
    assert rfc3339(opened.detected_at) == "2026-11-27T07:00:00Z"
    assert rfc3339(opened.aware_at) == AWARE


def test_open_refuses_awareness_in_the_future_and_creates_nothing(tmp_path: Path) -> None:
    future = rfc3339(utcnow() + timedelta(minutes=10))
    field, message = _refused(
        OpenSettings, incident_id="INC-3", severity="P2", title="t", aware_at=future
    )
    assert field == "aware_at" and "is in the future" in message
    assert not (tmp_path / "cases" / "INC-3").exists()
    # within the clock skew it is still now
    soon = utcnow() + timedelta(minutes=2)
    assert OpenSettings(incident_id="INC-3", severity="P2", title="t", aware_at=soon).aware_at


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("yesterday", "is not an RFC 3339 time"),
        ("2026-11-27T08:00:00", "has no time zone"),
        (datetime(2026, 11, 27, 8, 0), "has no time zone"),  # a naive datetime from YAML
    ],
)
def test_a_time_without_a_zone_or_not_a_time_is_refused(value: Any, says: str) -> None:
    field, message = _refused(
        OpenSettings, incident_id="INC-4", severity="P2", title="t", detected_at=value
    )
    assert field == "detected_at" and says in message
    assert not message.startswith(("Value error", "time:"))


def test_open_refuses_an_id_that_is_no_folder_name_and_a_second_open() -> None:
    field, message = _refused(OpenSettings, incident_id="../x", severity="P1", title="t")
    assert field == "incident_id" and "not usable as a folder name" in message
    _open("INC-5")
    with pytest.raises(BadInput, match="already exists"):
        _open("INC-5")


def test_settings_refuse_unknown_fields() -> None:
    assert _refused(OpenSettings, incident_id="I", severity="P1", title="t", sevrity="P2")[0] == (
        "sevrity"
    )
    assert _refused(OpenSettings, incident_id="I", severity="P5", title="t")[0] == "severity"


# -- show ------------------------------------------------------------------------------------
def test_show_is_the_record_and_timeline_as_written_and_says_when_the_chain_breaks() -> None:
    case = _open()
    case.journal("step.one", details={"n": 1})
    case.journal("step.two", why="because")
    shown = show_case(ShowSettings(case="INC-1"))
    assert (shown.id, shown.case, shown.journal_entries) == ("INC-1", case.root, 3)
    assert shown.journal_intact is True
    data = shown.model_dump(mode="json")
    assert data["timeline"] == case.timeline()  # typed, yet dumped exactly as the journal holds it
    assert [what for _, what, _, _ in shown.rows()] == ["incident.open", "step.one", "step.two"]
    lines = case.journal_path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"n":1', b'"n":2')
    case.journal_path.write_bytes(b"".join(lines))
    assert show_case(ShowSettings(case=str(case.root))).journal_intact is False


def test_show_lists_an_entry_edited_by_hand_instead_of_failing() -> None:
    case = _open()
    case.journal("step.two")
    first, second = case.journal_path.read_text().splitlines()
    raw = json.loads(first)
    del raw["who"]
    raw["at"] = "not a time"
    case.journal_path.write_text(json.dumps(raw) + "\n" + second + "\n")
    shown = show_case(ShowSettings(case="INC-1"))
    assert shown.journal_entries == 2 and shown.journal_intact is False  # line 2 no longer links
    assert shown.model_dump(mode="json")["timeline"] == [raw, json.loads(second)]
    assert shown.rows()[0] == ("not a time", "incident.open", "ok", "?")
    assert shown.rows()[1][1:] == ("step.two", "ok", "tester@breachkit")


def test_show_of_no_case_is_bad_input() -> None:
    with pytest.raises(BadInput, match="no case at INC-404"):
        show_case(ShowSettings(case="INC-404"))


# -- classify --------------------------------------------------------------------------------
def test_classify_proposes_without_changing_the_case_and_journals_the_proposal() -> None:
    case = _open(severity="P3")
    proposed = classify_case(_from(ClassifySettings, case="INC-1", error_rate="7%"))
    assert (proposed.severity, proposed.current, proposed.applied) == ("P2", "P3", False)
    assert "P2: error rate 7.0% is above 5%" in proposed.reasons
    assert proposed.facts == {"error_rate": 0.07}
    after = Case.load(case.root)
    assert after.record.severity == "P3" and after.record.facts == {}
    last = after.timeline()[-1]
    assert last["what"] == "incident.classify" and last["details"]["severity"] == "P2"
    assert last["why"] == "; ".join(proposed.reasons)


def test_classify_applies_facts_from_the_scope_and_the_record_under_those_given() -> None:
    case = _open(severity="P4")
    case.update(
        "scope", scope={"affected_users": 3, "records_touched": 1500}, facts={"cosmetic": True}
    )
    applied = classify_case(ClassifySettings(case="INC-1", apply=True))
    assert applied.severity == "P1" and applied.current == "P4" and applied.applied
    assert applied.reasons[0] == "P1: the evidence scope found 3 affected users"
    record = Case.load(case.root).record
    assert record.severity == "P1"
    assert record.facts == {"affected_users": 3, "records_touched": 1500, "cosmetic": True}
    entry = Case.load(case.root).timeline()[-1]
    assert entry["what"] == "case.update"
    assert entry["details"]["before"]["severity"] == "P4"
    assert entry["details"]["after"]["severity"] == "P1"
    # a fact given now wins over the recorded one; an ungiven one (None) leaves it standing
    again = classify_case(ClassifySettings(case="INC-1", cosmetic=False, workaround=None))
    assert again.facts == {"affected_users": 3, "records_touched": 1500}


def test_classify_applying_the_same_severity_records_only_the_facts() -> None:
    case = _open(severity="P1")
    classify_case(ClassifySettings(case="INC-1", data_breach=True, apply=True))
    entry = Case.load(case.root).timeline()[-1]
    assert entry["details"]["after"] == {"facts": {"data_breach": True}}


def test_classify_uses_the_policy_file_given(tmp_path: Path) -> None:
    _open()
    policy = tmp_path / "policy.toml"
    policy.write_text("[classify]\nerror_rate_p2 = 0.10\n")
    lenient = classify_case(ClassifySettings(case="INC-1", error_rate=0.07, policy_file=policy))
    assert lenient.severity == "P4"


def test_a_bad_recorded_fact_is_named() -> None:
    case = _open()
    case.update("hand edit", facts={"affected_users": -1})
    with pytest.raises(BadInput, match="fact affected_users"):
        classify_case(ClassifySettings(case="INC-1"))


@pytest.mark.parametrize(
    ("given", "rate"), [("7%", 0.07), (" 0.07 ", 0.07), (0.5, 0.5), ("100%", 1.0), (None, None)]
)
def test_error_rate_is_a_fraction_or_a_percentage(given: Any, rate: float | None) -> None:
    for parsed in (
        parse_error_rate(given),
        ClassifySettings(case="c", error_rate=given).error_rate,
    ):
        assert (parsed is None) if rate is None else (parsed == pytest.approx(rate))


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("seven", "is not a number"),
        ("150%", "outside 0..1"),
        (-0.1, "outside 0..1"),
        (True, "not a number"),
    ],
)
def test_error_rate_out_of_range_or_not_a_number_is_refused(given: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_error_rate(given)
    field, message = _refused(ClassifySettings, case="c", error_rate=given)
    assert field == "error_rate" and says in message and not message.startswith("Value error")


# -- aware-at --------------------------------------------------------------------------------
def test_set_aware_at_reports_the_old_and_the_new_moment() -> None:
    case = _open()
    moved = set_aware_at(
        _from(
            SetAwareAtSettings, case="INC-1", at="2026-11-27T08:00:00+02:00", reason="earlier alert"
        )
    )
    assert rfc3339(moved.before) == AWARE
    assert rfc3339(moved.aware_at) == "2026-11-27T06:00:00Z"
    assert moved.model_dump(mode="json") == {
        "case": "INC-1",
        "before": AWARE,
        "aware_at": "2026-11-27T06:00:00Z",
        "reason": "earlier alert",
    }
    assert rfc3339(Case.load(case.root).record.aware_at) == "2026-11-27T06:00:00Z"
    entry = Case.load(case.root).timeline()[-1]
    assert (entry["what"], entry["why"]) == ("case.update", "earlier alert")
    assert entry["details"] == {
        "before": {"aware_at": AWARE},
        "after": {"aware_at": "2026-11-27T06:00:00Z"},
    }
    # the next move starts from the moment just set
    again = set_aware_at(
        _from(SetAwareAtSettings, case="INC-1", at=AWARE, reason="it was 08:00 after all")
    )
    assert rfc3339(again.before) == "2026-11-27T06:00:00Z" and rfc3339(again.aware_at) == AWARE


def test_set_aware_at_refuses_the_future_and_a_reason_that_is_not_words() -> None:
    future = datetime(2999, 1, 1, tzinfo=UTC)
    field, message = _refused(SetAwareAtSettings, case="INC-1", at=future, reason="typo found")
    assert field == "at" and message.startswith("2999-01-01T00:00:00Z is in the future")
    field, message = _refused(SetAwareAtSettings, case="INC-1", at=AWARE, reason=" no ")
    assert field == "reason" and message == "must say why, in words"


# -- severity, status ------------------------------------------------------------------------
def test_severity_and_status_change_with_before_after_and_why() -> None:
    case = _open(severity="P3")
    raised = set_severity(SetSeveritySettings(case="INC-1", to="P2", reason="payments affected"))
    assert raised.model_dump() == {
        "case": "INC-1",
        "before": "P3",
        "severity": "P2",
        "reason": "payments affected",
    }
    moved = set_status(SetStatusSettings(case="INC-1", to="contained", reason="sessions revoked"))
    assert (moved.before, moved.status) == ("open", "contained")
    record = Case.load(case.root).record
    assert (record.severity, record.status) == ("P2", "contained")
    whys = [e.get("why") for e in Case.load(case.root).timeline()]
    assert whys[-2:] == ["payments affected", "sessions revoked"]


def test_status_cannot_be_set_to_closed_that_is_close_case() -> None:
    field, _ = _refused(SetStatusSettings, case="INC-1", to="closed", reason="all done here")
    assert field == "to"


# -- close -----------------------------------------------------------------------------------
def test_close_refuses_a_p1_without_a_finished_postmortem_then_stages_it() -> None:
    case = _open(severity="P1")
    with pytest.raises(BadInput, match="a post-mortem is required before closing"):
        close_case(CloseSettings(case="INC-1"))
    _finish(case, "## Post-mortem\n[[FILL IN: root cause]]\n[[FILL IN: lessons]]\n")
    with pytest.raises(BadInput, match=r"still has 2 section\(s\) to write: root cause; lessons"):
        close_case(CloseSettings(case="INC-1"))
    assert Case.load(case.root).record.status == "open"
    _finish(case, "## Post-mortem\nThe key leaked from a CI log.\n")
    closed = close_case(CloseSettings(case="INC-1", reason="post-mortem reviewed"))
    staged = case.staging / "postmortem.md"
    assert closed.postmortem == staged and staged.read_text() == case.postmortem_path.read_text()
    meta = json.loads((case.staging / "postmortem.md.meta.json").read_text())
    assert meta["media_type"] == "text/markdown"
    assert meta["source"] == {"system": "breach.postmortem", "case": "INC-1"}
    assert meta["collector"]["name"] == "incident.close"
    record = Case.load(case.root).record
    assert record.status == "closed" and record.closed_at == closed.closed_at
    entry = Case.load(case.root).timeline()[-1]
    assert entry["why"] == "post-mortem reviewed"
    assert entry["details"]["before"] == {"status": "open", "closed_at": None}
    assert entry["details"]["after"] == {"status": "closed", "closed_at": rfc3339(closed.closed_at)}
    assert closed.model_dump(mode="json")["postmortem"] == str(staged)
    with pytest.raises(BadInput, match="INC-1 is already closed"):
        close_case(CloseSettings(case="INC-1"))


def test_a_p3_closes_without_a_postmortem_and_then_refuses_every_change() -> None:
    case = _open(severity="P3")
    closed = close_case(CloseSettings(case="INC-1"))
    assert closed.postmortem is None and closed.status == "closed"
    assert not (case.staging / "postmortem.md").exists()
    entries = len(Case.load(case.root).timeline())
    # raising it to P1 afterwards would leave a closed P1 without a post-mortem
    changes: list[Any] = [
        lambda: set_severity(SetSeveritySettings(case="INC-1", to="P1", reason="a breach found")),
        lambda: set_status(SetStatusSettings(case="INC-1", to="open", reason="more to do")),
        lambda: classify_case(ClassifySettings(case="INC-1", data_breach=True, apply=True)),
        # moving awareness after closing would rewrite the regulator clocks the case was run on
        lambda: set_aware_at(
            SetAwareAtSettings(case="INC-1", at="2026-01-01T00:00:00Z", reason="found earlier")
        ),
    ]
    for change in changes:
        with pytest.raises(BadInput, match="INC-1 is closed") as caught:
            change()
        assert caught.value.hint == "a closed case is not changed or reopened"
    record = Case.load(case.root).record
    assert (record.severity, record.status, record.facts) == ("P3", "closed", {})
    assert record.aware_at == case.record.aware_at
    assert len(Case.load(case.root).timeline()) == entries
