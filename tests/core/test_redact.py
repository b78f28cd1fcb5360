"""Secrets are removed by parsing the DSN as libpq does, never by pattern."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.redact import UNREADABLE_DSN, redact_dsn, redact_url

HARD_PASSWORDS = ["p#ss", "p?ss=1", "p@ss@", "it's", 'say "hi"', "back\\slash", "a b c", "x=y z"]


@pytest.mark.parametrize("password", HARD_PASSWORDS)
def test_a_password_with_special_characters_never_survives(password: str) -> None:
    for dsn in (
        make_conninfo(host="db.internal", user="ir", dbname="app", password=password),
        make_conninfo("postgresql://ir@db.internal/app", password=password),
    ):
        redacted = redact_dsn(dsn)
        assert password not in redacted
        # what remains is still a DSN libpq reads, pointing at the same place
        params = conninfo_to_dict(redacted)
        assert (params["host"], params["user"], params["dbname"]) == ("db.internal", "ir", "app")
        assert params["password"] == "***"


def test_url_forms_are_parsed_not_matched() -> None:
    encoded = "postgresql://ir:p%40ss%23w0rd@h1:5432,h2:5433/app?sslmode=require&sslpassword=k3y"
    redacted = redact_dsn(encoded)
    for secret in ("p%40ss%23w0rd", "p@ss#w0rd", "k3y"):
        assert secret not in redacted
    params = conninfo_to_dict(redacted)
    assert params["host"] == "h1,h2" and params["port"] == "5432,5433"
    assert params["sslmode"] == "require" and params["sslpassword"] == "***"


def test_a_dsn_without_secrets_is_kept_and_an_unreadable_one_is_not_echoed() -> None:
    assert conninfo_to_dict(redact_dsn("dbname=app host=/run/pg")) == {
        "dbname": "app",
        "host": "/run/pg",
    }
    assert redact_dsn("host=db password") == UNREADABLE_DSN


def test_urls_lose_their_password_and_query_tokens() -> None:
    assert redact_url("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact_url("redis://ir:s3cret@cache/1") == "redis://ir:***@cache/1"
    assert redact_url("https://hooks.example/T/B?token=abc") == "https://hooks.example/T/B?***"
    assert redact_url("redis://cache:6379/0") == "redis://cache:6379/0"
