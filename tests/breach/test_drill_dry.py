"""A dry-run drill against the sandbox's systems, with what a real run would trip over: each
problem reported on its step with the fix, exit 1, and nothing in those systems changed."""

from __future__ import annotations

from pathlib import Path

import boto3
import psycopg
import redis
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).parents[2]
DATA_BREACH = ROOT / "playbooks" / "data-breach.yaml"


def state(env: dict[str, str]) -> dict[str, object]:
    """What a real run would change, read back: sessions, the role, the IP set, mail, store."""
    aws = {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    with psycopg.connect(env["BREACH_DSN"]) as conn:
        sessions = conn.execute("SELECT count(*) FROM sessions").fetchone()
        login = conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'svc_reporting'"
        ).fetchone()
    waf = boto3.client("wafv2", **aws)
    ip_set = next(
        s for s in waf.list_ip_sets(Scope="REGIONAL")["IPSets"] if s["Name"] == "attackers"
    )
    addresses = waf.get_ip_set(Name="attackers", Scope="REGIONAL", Id=ip_set["Id"])["IPSet"][
        "Addresses"
    ]
    stored = boto3.client("s3", **aws).list_objects_v2(Bucket="sandbox-evidence").get("KeyCount", 0)
    keys = (
        redis.Redis.from_url(env["BREACH_REDIS_URL"]).dbsize() if env["BREACH_REDIS_URL"] else None
    )
    mail = len(list(Path(env["BREACH_SANDBOX_MAIL"]).glob("*.eml")))
    return {
        "sessions": sessions,
        "login": login,
        "ip_set": addresses,
        "stored": stored,
        "redis": keys,
        "mail": mail,
    }


def test_a_clean_dry_run_drill_passes_and_changes_nothing(breach, sandbox, tmp_path: Path) -> None:
    before = state(sandbox)
    done = breach("drill", str(DATA_BREACH), "--markdown", str(tmp_path / "dry.md"))
    assert done.exit_code == 0, done.stdout + done.stderr
    assert "drill of data-breach (dry-run): PASSED" in done.stdout
    assert "| block-ips | contain.block | planned |" in (tmp_path / "dry.md").read_text()
    assert state(sandbox) == before


def test_each_problem_is_reported_on_its_step_with_the_fix(
    breach, sandbox, tmp_path: Path, monkeypatch
) -> None:
    from junitparser import Failure, JUnitXml

    with psycopg.connect(sandbox["BREACH_DSN"], autocommit=True) as conn:
        conn.execute("DROP TABLE payments")  # a table the snapshot names is gone
        conn.execute("CREATE ROLE drill_reader LOGIN")
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO drill_reader")
        conn.execute("REVOKE SELECT ON audit_log FROM drill_reader")  # a permission removed
    monkeypatch.setenv("BREACH_DSN", make_conninfo(sandbox["BREACH_DSN"], user="drill_reader"))
    before = state(sandbox)
    xml = tmp_path / "dry.xml"
    done = breach("drill", str(DATA_BREACH), "--set", "waf_ip_set=attackerz", "--junit", str(xml))
    assert done.exit_code == 1
    assert "the drill failed: export-audit, snapshot, block-ips" in done.stderr
    steps = next(s for s in JUnitXml.fromfile(str(xml)) if s.name.endswith("steps"))
    failed = {case.name: r.message for case in steps for r in case.result if isinstance(r, Failure)}
    assert set(failed) == {
        "export-audit (evidence.export-audit)",
        "snapshot (evidence.snapshot)",
        "block-ips (contain.block)",
    }
    assert failed["export-audit (evidence.export-audit)"] == (
        "role drill_reader has no SELECT on public.audit_log"
        " (hint: GRANT SELECT ON public.audit_log TO drill_reader)"
    )
    assert failed["snapshot (evidence.snapshot)"].startswith("no table public.payments (hint:")
    assert "no WAF IP set named attackerz" in failed["block-ips (contain.block)"]
    assert state(sandbox) == before  # read back: nothing in those systems changed
