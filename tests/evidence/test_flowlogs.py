"""VPC flow log records and the safe names of attacker-chosen AWS names, without AWS."""

from __future__ import annotations

import pytest

from core.errors import BadInput
from evidence.aws import flowlogs
from evidence.aws.names import original, original_path, safe_name, safe_path

V2 = "2 123456789012 eni-0a1b2c3d4e5f60001 10.0.1.15 203.0.113.45 443 51234 6 12 4416 1764547200 1764547260 ACCEPT OK"
NODATA = "2 123456789012 eni-0a1b2c3d4e5f60001 - - - - - - - 1764547200 1764547260 - NODATA"
V3_HEADER = (
    "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport"
    " dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status"
)
V3 = (
    "3 vpc-0abc1234 subnet-0def5678 i-0123456789abcdef0 eni-0a1b2c3d4e5f60002 123456789012 IPv4"
    " 10.0.1.5 10.0.0.220 39812 80 10.0.1.5 192.168.0.1 6 3800 10 1764547200 1764547260 ACCEPT 19 OK"
)


def test_the_default_format_parses_into_typed_values() -> None:
    parser = flowlogs.FlowParser(list(flowlogs.DEFAULT_FIELDS))
    values = dict(zip(parser.columns, parser.parse(V2) or [], strict=True))
    assert values == {
        "version": 2,
        "account_id": "123456789012",
        "interface_id": "eni-0a1b2c3d4e5f60001",
        "srcaddr": "10.0.1.15",
        "dstaddr": "203.0.113.45",
        "srcport": 443,
        "dstport": 51234,
        "protocol": 6,
        "packets": 12,
        "bytes": 4416,
        "start": 1764547200_000,
        "end": 1764547260_000,
        "action": "ACCEPT",
        "log_status": "OK",
    }
    assert flowlogs.looks_like_v2(V2) and not flowlogs.looks_like_v2(V3)


def test_nodata_keeps_its_status_with_nulls_for_the_missing_fields() -> None:
    parser = flowlogs.FlowParser(list(flowlogs.DEFAULT_FIELDS))
    values = dict(zip(parser.columns, parser.parse(NODATA) or [], strict=True))
    assert values["log_status"] == "NODATA" and values["srcaddr"] is None
    assert values["packets"] is None and values["start"] == 1764547200_000


def test_a_header_gives_a_custom_format_and_data_is_not_a_header() -> None:
    fields = flowlogs.header_fields(V3_HEADER)
    assert fields is not None and fields[1] == "vpc-id" and len(fields) == 21
    assert flowlogs.header_fields(V3) is None
    assert flowlogs.header_fields(V2) is None
    parser = flowlogs.FlowParser(fields)
    values = dict(zip(parser.columns, parser.parse(V3) or [], strict=True))
    assert values["vpc_id"] == "vpc-0abc1234" and values["tcp_flags"] == 19
    assert values["pkt_dstaddr"] == "192.168.0.1" and values["bytes"] == 3800


@pytest.mark.parametrize(
    "text",
    ["${version} ${vpc-id} ${srcaddr}", "version vpc-id srcaddr", "version,vpc-id, srcaddr"],
)
def test_a_field_list_in_any_of_its_spellings(text: str) -> None:
    assert flowlogs.parse_fields(text) == ["version", "vpc-id", "srcaddr"]


@pytest.mark.parametrize("text", ["", "version ../etc", "Version", "message", "a a"])
def test_a_field_list_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(BadInput) as caught:
        flowlogs.parse_fields(text)
    assert caught.value.field == "fields"


def test_a_record_that_does_not_fit_is_counted_not_guessed() -> None:
    parser = flowlogs.FlowParser(list(flowlogs.DEFAULT_FIELDS))
    assert parser.parse("2 123456789012 eni-1 short") is None
    assert parser.parse(V2.replace(" 443 ", " https ")) is None
    assert parser.parse(V2.replace(" 443 ", " ٤٤٣ ")) is None  # not ASCII digits
    assert parser.malformed == 3


@pytest.mark.parametrize(
    "name",
    [
        "/aws/vpc/flow-logs",
        "..",
        ".",
        "",
        "app\n[red]x[/red]\x1b[2J",
        "../../etc/passwd",
        "é/ü~%",
        "a" * 150,
    ],
)
def test_safe_names_stay_one_plain_file_name_and_map_back(name: str) -> None:
    safe = safe_name(name)
    assert "/" not in safe and safe not in ("", ".", "..") and not safe.startswith(".")
    assert all(c.isascii() and (c.isalnum() or c in "-_.%") for c in safe)
    assert original(safe) == name


def test_a_too_long_name_is_hashed_and_distinct() -> None:
    one, two = safe_name("x" * 600 + "1"), safe_name("x" * 600 + "2")
    assert one != two and len(one) <= 200 and original(one) is None


def test_keys_keep_their_folders_safely() -> None:
    key = "AWSLogs/../x//.hidden/a b"
    safe = safe_path(key)
    # capitals are encoded too: two keys differing only in case stay apart on any file system
    assert safe.split("/") == ["%41%57%53%4Cogs", "%2E%2E", "x", "%", "%2Ehidden", "a%20b"]
    assert original_path(safe) == key
