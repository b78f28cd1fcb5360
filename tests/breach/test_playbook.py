"""Playbooks are checked whole before anything runs, and every problem points at its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from breach.playbook.model import load
from core.errors import BadInput

SHIPPED = sorted(Path(__file__).parents[2].joinpath("playbooks").glob("*.yaml"))

GOOD = """\
name: tiny
description: a small playbook
inputs:
  since: {description: start}
  ips: {description: addresses, type: list}
steps:
  - id: open
    kind: incident.open
    with: {incident_id: INC-1, severity: P1, title: t}
  - id: export
    kind: evidence.export-audit
    needs: [open]
    with: {table: public.audit_log, time_column: at, since: "${inputs.since}", until: 2026-12-02T00:00:00Z}
  - id: scope
    kind: scope
    needs: [export]
    with: {ips: "${inputs.ips}"}
  - id: revoke
    kind: contain.revoke-sessions
    needs: [scope]
    with: {adapter: postgres, targets: "${steps.scope.affected_users}"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "book.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def refusal(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(BadInput) as caught:
        load(path)
    message = caught.value.diagnostics()
    assert "\n" not in message
    return message.removeprefix(f"{path}:")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_playbooks_validate_and_preserve_evidence_before_containing(path: Path) -> None:
    playbook = load(path)
    order = [step.step_kind.phase for step in playbook.ordered()]
    assert "evidence" in order and "contain" in order
    last_evidence = max(i for i, phase in enumerate(order) if phase == "evidence")
    assert order.index("contain") > last_evidence
    assert order[0] == "case"


def test_there_are_the_two_shipped_playbooks() -> None:
    assert [p.name for p in SHIPPED] == ["credential-compromise.yaml", "data-breach.yaml"]


def test_a_good_playbook_runs_in_file_order_as_far_as_needs_allow(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - id: open\n", "  - id: late\n    kind: scope\n    needs: [export]\n  - id: open\n"
    )
    playbook = load(write(tmp_path, text))
    assert [s.id for s in playbook.ordered()] == ["open", "export", "late", "scope", "revoke"]
    assert playbook.upstream("revoke") == {"scope", "export", "open"}


def test_unknown_step_kind_names_its_line(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD.replace("kind: scope", "kind: scoop"))
    assert message.startswith("15:11: steps.2.kind: unknown step kind 'scoop'")


def test_missing_setting_names_the_step(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD.replace('since: "${inputs.since}", ', ""))
    assert message.startswith("10:5: steps.1: evidence.export-audit needs `since` under `with:`")


def test_missing_field_of_the_playbook_itself(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD.replace("description: a small playbook\n", ""))
    assert message.startswith("1:1: description: Field required")


def test_undefined_variable(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD.replace("${inputs.ips}", "${inputs.addresses}"))
    assert message.startswith("17:17: steps.2.with.ips: ${inputs.addresses}: no input 'addresses'")


def test_unknown_variable_namespace(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD.replace("${inputs.ips}", "${secrets.ips}"))
    assert "${secrets.ips}: not incident.*, env.*, inputs.* or steps.*" in message


def test_cycle_in_needs(tmp_path: Path) -> None:
    text = GOOD.replace("needs: [open]", "needs: [open, revoke]")
    message = refusal(tmp_path, text)
    assert "needs form a cycle:" in message
    assert "export -> revoke -> scope -> export" in message


def test_target_reference_to_a_step_that_yields_none(tmp_path: Path) -> None:
    text = GOOD.replace("${steps.scope.affected_users}", "${steps.export.affected_users}")
    message = refusal(tmp_path, text)
    assert message.startswith("21:40: steps.3.with.targets:")
    assert "step 'export' yields no 'affected_users' (it yields artifacts)" in message


def test_reference_to_a_step_not_needed(tmp_path: Path) -> None:
    text = GOOD.replace("needs: [scope]", "needs: [open]\n    before_evidence: true")
    assert "this step does not need 'scope' (add it to `needs:`)" in refusal(tmp_path, text)


def test_need_of_an_unknown_step(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD.replace("needs: [export]", "needs: [exprot]"))
    assert message.startswith("16:13: steps.2.needs.0: no step 'exprot' to need")


def test_unknown_setting_lists_what_the_step_takes(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD.replace("time_column: at", "time_col: at"))
    assert message.startswith("13:47: steps.1.with.time_col: evidence.export-audit takes no")
    assert "time_column" in message


def test_the_runner_gives_the_case(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD.replace("{ips:", "{case: x, ips:"))
    assert "steps.2.with.case: set by the runner for scope" in message


def test_a_literal_value_is_checked_against_its_field(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD.replace("severity: P1", "severity: P9"))
    assert message.startswith("9:42: steps.0.with.severity:")


def test_containment_before_evidence_is_refused_unless_the_playbook_says_so(
    tmp_path: Path,
) -> None:
    text = GOOD.replace('targets: "${steps.scope.affected_users}"', "targets: [u1]")
    text = text.replace("needs: [scope]", "needs: [open]")
    message = refusal(tmp_path, text)
    assert message.startswith("20:12: steps.3.needs: containment would run before evidence")
    allowed = text.replace(
        "needs: [open]\n    with: {adapter",
        "needs: [open]\n    before_evidence: true\n    with: {adapter",
    )
    assert load(write(tmp_path, allowed)).step("revoke").before_evidence


def test_unknown_adapter_and_adapter_option(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD.replace("adapter: postgres", "adapter: mysql"))
    assert "steps.3.with.adapter: unknown adapter 'mysql' for revoke-sessions" in message
    text = GOOD.replace("adapter: postgres,", "adapter: postgres, options: {tabel: s},")
    assert "steps.3.with.options: the postgres adapter takes no option 'tabel'" in refusal(
        tmp_path, text
    )


def test_duplicate_keys_and_step_ids(tmp_path: Path) -> None:
    assert refusal(tmp_path, GOOD.replace("name: tiny\n", "name: tiny\nname: other\n")).startswith(
        "2:1: name: given twice"
    )
    message = refusal(tmp_path, GOOD.replace("id: export", "id: open"))
    assert "steps.1.id: step id 'open' is used twice" in message


def test_yaml_errors_and_unsafe_tags(tmp_path: Path) -> None:
    assert refusal(tmp_path, "name: [x\n").startswith("2:1: expected ',' or ']'")
    assert "tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed" in refusal(
        tmp_path, "name: !!python/object/apply:os.system [true]\n"
    )
    assert "could not determine a constructor" in refusal(
        tmp_path, "name: !!python/name:os.system x\n"
    )
    assert "a playbook is a mapping" in refusal(tmp_path, "- just\n- a list\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read the playbook"):
        load(tmp_path / "none.yaml")


def test_every_step_kind_is_documented_with_its_outputs() -> None:
    from breach.playbook.kinds import KINDS

    readme = (Path(__file__).parents[2] / "playbooks" / "README.md").read_text()
    rows = {
        line.split("|")[1].strip().strip("`"): line.split("|")[3]
        for line in readme.splitlines()
        if line.startswith("| `")
    }
    for name, kind in KINDS.items():
        assert name in rows, f"{name} is not in playbooks/README.md"
        assert [o.strip("` ") for o in rows[name].split(",") if o.strip()] == list(kind.outputs)
