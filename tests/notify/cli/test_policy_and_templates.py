"""The policy file and templates: overrides work, mistakes are one line naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from breach.case import Case


@pytest.fixture
def breach_case(breach_case: Case) -> Case:
    """These tests give their own policy files: the case starts with none pinned."""
    breach_case.record.policy = None
    breach_case.save()
    return breach_case


def _due(breach, case: Case, policy: Path):  # type: ignore[no-untyped-def]
    return breach("notify", "due", "--case", case.root, "--policy", policy, "--json")


def test_a_partial_override_merges_over_the_default(
    breach, tmp_path: Path, breach_case: Case
) -> None:
    override = tmp_path / "policy.toml"
    override.write_text(
        '[regimes.sec-8k]\nenabled = true\n\n[calendar]\ntimezone = "Europe/Berlin"\n'
    )
    result = _due(breach, breach_case, override)
    rows = {row["id"]: row for row in result.json["obligations"]}
    assert "sec-8k" in rows and rows["sec-8k"]["time_zone"] == "America/New_York"
    assert rows["sec-8k"]["deadline_local"].endswith("17:30-05:00")
    assert rows["gdpr-art33"]["time_zone"] == "Europe/Berlin"
    assert "escalation:cto" in rows  # the rest of the default is kept


def test_json_policy_files_work_too(breach, tmp_path: Path, breach_case: Case) -> None:
    override = tmp_path / "policy.json"
    override.write_text('{"regimes": {"gdpr-art34": {"enabled": false}}}')
    ids = [row["id"] for row in _due(breach, breach_case, override).json["obligations"]]
    assert "gdpr-art34" not in ids and "gdpr-art33" in ids


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[escalation.cto]\nP1 = "soonish"', "field escalation.cto.P1: 'soonish' is not a duration"),
        ('[regimes.gdpr-art33]\ndeadlin = "72h"', "field regimes.gdpr-art33.deadlin: Extra inputs"),
        ('[calendar]\ntimezone = "Mars/Olympus"', "field calendar.timezone: unknown time zone"),
        ('[regimes.x]\nname = "X"\naudience = "a"\ndeadline = "1h"\ncalendar = "nope"',
         "field regimes.x.calendar: no calendar 'nope'"),
        ('[regimes.y]\naudience = "a"\ndeadline = "1h"', "field regimes.y.name: Field required"),
        ('[calendar]\nholidays = ["2026-13-01"]', "field calendar.holidays.0"),
        ("[calendar\ntimezone = 1", "not valid TOML"),
        ('[classify]\nerror_rate_p2 = 5', "field classify.error_rate_p2"),
    ],
)  # fmt: skip
def test_a_malformed_policy_is_one_line_naming_file_and_field_exit_2(
    breach, tmp_path: Path, breach_case: Case, text: str, expected: str
) -> None:
    bad = tmp_path / "bad-policy.toml"
    bad.write_text(text)
    result = breach("notify", "due", "--case", breach_case.root, "--policy", bad)
    assert result.exit_code == 2, result.stdout
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert str(bad) in line and expected in line


def test_missing_or_unsupported_policy_file(breach, tmp_path: Path, breach_case: Case) -> None:
    """Also kills the mutation "the policy file-extension check removed": the .yaml file holds
    text that is valid TOML (and accepted as p.toml), so only its extension can refuse it."""
    missing = breach("notify", "due", "--case", breach_case.root, "--policy", tmp_path / "x.toml")
    assert missing.exit_code == 2 and "not found" in missing.stderr
    text = "# an empty policy: the defaults apply\n[calendars]\n"
    as_toml = tmp_path / "p.toml"
    as_toml.write_text(text)
    accepted = breach("notify", "due", "--case", breach_case.root, "--policy", as_toml, "--json")
    assert accepted.exit_code in (0, 1) and "policy file" not in accepted.stderr, accepted.stderr
    assert accepted.json["obligations"]
    yaml = tmp_path / "p.yaml"
    yaml.write_text(text)
    refused = breach("notify", "due", "--case", breach_case.root, "--policy", yaml)
    assert refused.exit_code == 2 and refused.stdout == ""
    line = refused.stderr.strip()
    assert "\n" not in line and str(yaml) in line
    assert "use TOML (.toml) or JSON (.json)" in line


# -- templates -------------------------------------------------------------------------------
def test_user_templates_take_precedence(breach, tmp_path: Path, breach_case: Case) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "internal.md.j2").write_text(
        "Subject: {{ case.id }} update\nSev {{ severity.id }}, {{ scope.affected_users }} users\n"
    )
    (folder / "board.md.j2").write_text("Subject: Board briefing\n{{ case.title }}\n")
    result = breach(
        "notify", "draft", "--case", breach_case.root, "--templates", folder,
        "--notice", "internal", "--notice", "board", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    drafts = breach_case.root / "notify" / "drafts"
    header, _, notice = (drafts / "internal.md").read_text().partition("\nSubject: ")
    assert notice == "INC-2026-0042 update\n\nSev P1, 3 users\n"
    assert header.startswith("%% draft of notice internal") and "Sev" not in header
    assert "Customer table exfiltrated" in (drafts / "board.md").read_text()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Subject: x\n{{ case.title \n", "line 2: unexpected end of template"),
        (
            "Subject: x\n\nok\n{{ case.titel }}\n",
            "line 4: unknown field: 'dict object' has no attribute 'titel'",
        ),
        ("Subject: x\n{{ nonsense }}\n", "line 2: unknown field: 'nonsense' is undefined"),
        ("Subject: x\n{% for x in %}\n", "line 2:"),
        ("Subject: x\n\n{{ 1 // 0 }}\n", "line 3: ZeroDivisionError"),
    ],
)
def test_a_malformed_template_is_one_line_naming_file_and_field_exit_2(
    breach, tmp_path: Path, breach_case: Case, source: str, expected: str
) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "internal.md.j2").write_text(source)
    result = breach(
        "notify", "draft", "--case", breach_case.root, "--templates", folder, "--notice", "internal"
    )
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and str(folder / "internal.md.j2") in line and expected in line
    assert not (breach_case.root / "notify" / "drafts" / "internal.md").exists()


def test_an_unreadable_template_is_one_line_naming_the_file(
    breach, tmp_path: Path, breach_case: Case
) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "external.md.j2").write_bytes(b"Subject: \xff\xfe\n")
    result = breach("notify", "draft", "--case", breach_case.root, "--templates", folder)
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and f"template {folder / 'external.md.j2'}: cannot read it" in line
    assert not (breach_case.root / "notify" / "drafts" / "external.md").exists()


def test_unknown_notice_and_bad_set(breach, breach_case: Case) -> None:
    unknown = breach("notify", "draft", "--case", breach_case.root, "--notice", "nope")
    assert unknown.exit_code == 2 and "no template for notice 'nope'" in unknown.stderr
    bad = breach("notify", "draft", "--case", breach_case.root, "--set", "novalue")
    assert bad.exit_code == 2 and "NAME=VALUE" in bad.stderr


def test_draft_keeps_a_reviewed_draft_and_send_uses_it(breach, breach_case: Case) -> None:
    first = breach("notify", "draft", "--case", breach_case.root, "--json").json
    names = [d["notice"] for d in first["drafts"]]
    assert names == ["internal", "external", "gdpr-art33", "gdpr-art34"]
    draft = breach_case.root / "notify" / "drafts" / "internal.md"
    draft.write_text(draft.read_text().replace("Investigating", "Reviewed by legal"))
    again = breach("notify", "draft", "--case", breach_case.root, "--notice", "internal", "--json")
    assert again.json["drafts"][0]["written"] is False
    assert "Reviewed by legal" in draft.read_text()
    sent = breach(
        "notify", "send", "--case", breach_case.root, "--notice", "internal",
        "--channel", "file", "--out", "-",
    )  # fmt: skip
    assert sent.exit_code == 0 and "Reviewed by legal" in sent.stdout
    assert [e["what"] for e in breach_case.timeline()].count("notify.draft") == 1
