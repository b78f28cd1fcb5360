"""pgaudit log lines parsed into columns (no database needed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from evidence.postgres.pgaudit import ParseStats, parse_log

STDERR_LOG = """\
2026-11-01 09:59:59.000 UTC [4100] alice@app LOG:  connection authorized: user=alice
2026-11-01 10:00:00.123 UTC [4242] mallory@app 203.0.113.7(51234) LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.users,"select id, email from users where note = 'a, ""b""'",<not logged>
2026-11-01 10:00:01.500 UTC [4242] mallory@app 203.0.113.7(51234) LOG:  AUDIT: SESSION,2,1,WRITE,UPDATE,TABLE,public.users,"update users
	set email = 'x'
	where id = 5",<not logged>
2026-11-01 11:00:00+01 [4300] bob@app 10.1.2.3(4000) LOG:  AUDIT: OBJECT,3,1,READ,SELECT,TABLE,public.orders,select * from orders,<none>
2026-11-01 12:00:00.000 UTC [4400] LOG:  AUDIT: SESSION,4,1,DDL,CREATE TABLE,,,create table t (),<not logged>
2026-11-01 12:00:01.000 UTC [4400] LOG:  AUDIT: SESSION,broken
2026-11-02 00:00:00.000 UTC [4500] mallory@app 2001:db8::5(1) LOG:  AUDIT: SESSION,5,1,READ,SELECT,TABLE,public.users,select 1,<not logged>
"""


def write_log(tmp_path: Path, text: str = STDERR_LOG, name: str = "postgresql.log") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_stderr_log_lines_become_columns(tmp_path) -> None:
    stats = ParseStats()
    records = list(parse_log(write_log(tmp_path), stats))
    assert [r["statement_id"] for r in records] == [1, 2, 3, 4, 5]
    first = records[0]
    assert first["log_time"] == dt.datetime(2026, 11, 1, 10, 0, 0, 123000, tzinfo=dt.UTC)
    assert (first["pid"], first["user_name"], first["database"]) == (4242, "mallory", "app")
    assert first["client_addr"] == "203.0.113.7"
    assert (first["class"], first["command"], first["object_type"]) == ("READ", "SELECT", "TABLE")
    assert first["object_name"] == "public.users"
    assert first["statement"] == "select id, email from users where note = 'a, \"b\"'"
    assert first["parameter"] == "<not logged>"
    assert records[1]["statement"] == "update users\n\tset email = 'x'\n\twhere id = 5"
    assert records[2]["log_time"] == dt.datetime(2026, 11, 1, 10, 0, tzinfo=dt.UTC)  # +01
    assert records[2]["audit_type"] == "OBJECT" and records[2]["parameter"] == "<none>"
    assert records[3]["user_name"] is None and records[3]["object_name"] is None
    assert records[3]["command"] == "CREATE TABLE"
    assert records[4]["client_addr"] == "2001:db8::5"
    assert stats.records == 5 and stats.malformed == 1 and len(stats.sha256) == 64


def test_csvlog_is_read_by_its_columns(tmp_path) -> None:
    line = (
        '2026-11-01 10:00:00.123 UTC,"mallory","app",4242,"203.0.113.7:51234",6543a,1,'
        '"SELECT",2026-11-01 09:59:00 UTC,3/4,0,LOG,00000,'
        '"AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.users,""select 1, 2"",<not logged>",'
        ',,,,,,,,"psql","client backend",,0\n'
    )
    records = list(parse_log(write_log(tmp_path, line, "postgresql.csv"), ParseStats()))
    assert len(records) == 1
    assert records[0]["user_name"] == "mallory" and records[0]["client_addr"] == "203.0.113.7"
    assert records[0]["statement"] == "select 1, 2" and records[0]["pid"] == 4242
