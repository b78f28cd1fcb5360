"""`breach playbook list|show|validate` on the shipped playbooks and on broken ones."""

from __future__ import annotations

from pathlib import Path

SHIPPED = Path(__file__).parents[3] / "playbooks"


def test_validate_the_shipped_playbooks(breach) -> None:
    books = sorted(str(p) for p in SHIPPED.glob("*.yaml"))
    result = breach("playbook", "validate", *books)
    assert result.exit_code == 0, result.stderr
    assert "valid" in result.stdout and "data-breach, 16 steps" in result.stdout
    as_json = breach("playbook", "validate", *books, "--json").json
    assert [b["name"] for b in as_json["playbooks"]] == ["credential-compromise", "data-breach"]


def test_a_malformed_playbook_is_one_line_with_file_and_line_exit_2(breach, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = (SHIPPED / "data-breach.yaml").read_text()
    broken.write_text(text.replace("kind: contain.block", "kind: contain.blocc"))
    result = breach("playbook", "validate", str(broken))
    assert result.exit_code == 2
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "contain.block" in row)
    assert result.stderr.startswith(f"error: {broken}:{line}:11: steps.")
    assert "unknown step kind 'contain.blocc'" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


def test_show_lists_inputs_and_steps_in_run_order(breach) -> None:
    result = breach("playbook", "show", str(SHIPPED / "data-breach.yaml"))
    assert result.exit_code == 0, result.stderr
    assert "until" in result.stdout and "[default: now]" in result.stdout
    order = breach("playbook", "show", str(SHIPPED / "data-breach.yaml"), "--json").json["order"]
    ids = [step["id"] for step in order]
    assert ids.index("snapshot") < ids.index("scope") < ids.index("revoke-sessions")
    assert ids.index("seal") < ids.index("push")


def test_list_shows_good_and_invalid_playbooks(breach, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "good.yaml").write_text((SHIPPED / "credential-compromise.yaml").read_text())
    (tmp_path / "bad.yml").write_text("name: bad\ndescription: x\nsteps: []\n")
    result = breach("playbook", "list", "--dir", str(tmp_path))
    assert result.exit_code == 1
    assert "credential-compromise" in result.stdout
    assert "INVALID" in result.stdout and "bad.yml:3:8: steps" in result.stdout
    monkeypatch.setenv("BREACH_PLAYBOOKS_DIR", str(SHIPPED))
    listed = breach("playbook", "list", "--json").json
    assert [b["name"] for b in listed["playbooks"]] == ["credential-compromise", "data-breach"]
    assert listed["invalid"] == {}


def test_list_of_a_missing_folder(breach, tmp_path: Path) -> None:
    result = breach("playbook", "list", "--dir", str(tmp_path / "none"))
    assert result.exit_code == 2 and "no playbook folder" in result.stderr


def test_policy_prints_the_iam_policy_and_grants_with_notes_where_a_resource_is_star(
    breach,
) -> None:
    book = str(SHIPPED / "data-breach.yaml")
    result = breach("playbook", "policy", book, "--set", "kms_key=k-1", "--role", "ir")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "# block-ips: Resource * for wafv2:GetIPSet" in out and "--set waf_ip_set=" in out
    assert '"Resource": "arn:aws:kms:' in out and "key/k-1" in out
    assert "GRANT SELECT ON TABLE public.audit_log TO ir;  -- export-audit" in out
    as_json = breach("playbook", "policy", book, "--set", "kms_key=k-1", "--json").json
    assert as_json["iam_policy"]["Version"] == "2012-10-17"
    assert "ALTER ROLE breach_responder CREATEROLE;  -- disable-role" in as_json["pg_grants"]
    assert any(n.startswith("block-ips:") for n in as_json["notes"])


def test_policy_refuses_an_unknown_input_or_role_in_one_line(breach) -> None:
    book = str(SHIPPED / "data-breach.yaml")
    for args in (["--set", "kms=1"], ["--role", "ir; DROP ROLE x"]):
        result = breach("playbook", "policy", book, *args)
        assert result.exit_code == 2, args
        assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    malformed = breach("playbook", "policy", book, "--set", "kms_key")  # click's usage error
    assert malformed.exit_code == 2 and "is not NAME=VALUE" in malformed.stderr
