"""CloudTrail records to Arrow: one row per event, typed columns, the full record as JSON.

A log object is `{"Records": [{...}, ...]}`, gzipped. msgspec (when installed) splits it into the
records' raw JSON text without parsing them, then decodes each record into a small typed struct
that names only the fields the columns need, skipping the rest in C: the `record` column is then
each record's text exactly as CloudTrail wrote it. Without msgspec the standard library parses the
object and `record` is the record re-serialized (same content, compact spacing). A record whose
fields have unexpected types is read leniently (text where text was expected, else null), never
dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

try:  # the fast path; the standard library serves when it is absent
    import msgspec

    FAST = True
except ImportError:  # pragma: no cover - the fallback test switches FAST off instead
    FAST = False

RESOURCE = pa.struct([("arn", pa.string()), ("account_id", pa.string()), ("type", pa.string())])
TIME = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("event_time", TIME),
        ("event_source", pa.string()),
        ("event_name", pa.string()),
        ("aws_region", pa.string()),
        ("source_ip", pa.string()),
        ("user_agent", pa.string()),
        ("identity_type", pa.string()),
        ("identity_arn", pa.string()),
        ("identity_account_id", pa.string()),
        ("access_key_id", pa.string()),
        ("principal_id", pa.string()),
        ("user_name", pa.string()),
        ("session_issuer_arn", pa.string()),
        ("session_issuer_type", pa.string()),
        ("mfa_authenticated", pa.bool_()),
        ("event_id", pa.string()),
        ("request_id", pa.string()),
        ("event_type", pa.string()),
        ("management_event", pa.bool_()),
        ("read_only", pa.bool_()),
        ("error_code", pa.string()),
        ("error_message", pa.string()),
        ("recipient_account_id", pa.string()),
        ("request_bucket", pa.string()),
        ("request_key", pa.string()),
        ("resources", pa.list_(RESOURCE)),
        ("record", pa.string()),
        ("log_object", pa.string()),
        ("log_index", pa.int32()),
    ]
)
# Repeating values: worth a dictionary in Parquet.
DICTIONARY_COLUMNS = [
    "event_source",
    "event_name",
    "aws_region",
    "source_ip",
    "user_agent",
    "identity_type",
    "identity_arn",
    "identity_account_id",
    "access_key_id",
    "principal_id",
    "user_name",
    "session_issuer_arn",
    "session_issuer_type",
    "event_type",
    "error_code",
    "recipient_account_id",
    "request_bucket",
    "log_object",
]
STRING_COLUMNS = [f.name for f in SCHEMA if f.type == pa.string() and f.name not in ("record",)]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MalformedObject(Exception):
    """A log object that is not gzip, not JSON, or has no Records list."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
        return value.lower() in ("true", "yes")
    return None


def _get(value: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def row_from_dict(record: Any) -> tuple[Any, ...]:
    """The typed fields of one record (a parsed dict, whatever its shape), in SCHEMA's order up
    to `resources` (the time as its text)."""
    if not isinstance(record, dict):
        record = {}
    ident = _get(record, "userIdentity")
    mfa = _flag(_get(ident, "sessionContext", "attributes", "mfaAuthenticated"))
    if mfa is None:
        mfa = _flag(_get(record, "additionalEventData", "MFAUsed"))
    resources = record.get("resources")
    rows = []
    for item in resources if isinstance(resources, list) else []:
        if isinstance(item, dict):
            rows.append(
                {
                    "arn": _text(item.get("ARN")),
                    "account_id": _text(item.get("accountId")),
                    "type": _text(item.get("type")),
                }
            )
    return (
        _text(record.get("eventTime")),
        _text(record.get("eventSource")),
        _text(record.get("eventName")),
        _text(record.get("awsRegion")),
        _text(record.get("sourceIPAddress")),
        _text(record.get("userAgent")),
        _text(_get(ident, "type")),
        _text(_get(ident, "arn")),
        _text(_get(ident, "accountId")),
        _text(_get(ident, "accessKeyId")),
        _text(_get(ident, "principalId")),
        _text(_get(ident, "userName")),
        _text(_get(ident, "sessionContext", "sessionIssuer", "arn")),
        _text(_get(ident, "sessionContext", "sessionIssuer", "type")),
        mfa,
        _text(record.get("eventID")),
        _text(record.get("requestID")),
        _text(record.get("eventType")),
        _flag(record.get("managementEvent")),
        _flag(record.get("readOnly")),
        _text(record.get("errorCode")),
        _text(record.get("errorMessage")),
        _text(record.get("recipientAccountId")),
        _text(_get(record, "requestParameters", "bucketName")),
        _text(_get(record, "requestParameters", "key")),
        rows or None,
    )


FIELDS = len(row_from_dict({}))

if FAST:
    _Str = str | None

    class _Issuer(msgspec.Struct):
        arn: _Str = None
        type: _Str = None

    class _Attributes(msgspec.Struct):
        mfaAuthenticated: _Str = None

    class _Context(msgspec.Struct):
        attributes: _Attributes | None = None
        sessionIssuer: _Issuer | None = None

    class _Identity(msgspec.Struct):
        type: _Str = None
        arn: _Str = None
        accountId: _Str = None
        accessKeyId: _Str = None
        principalId: _Str = None
        userName: _Str = None
        sessionContext: _Context | None = None

    class _Resource(msgspec.Struct):
        ARN: _Str = None
        accountId: _Str = None
        type: _Str = None

    class _Params(msgspec.Struct):
        bucketName: _Str = None
        key: _Str = None

    class _Extra(msgspec.Struct):
        MFAUsed: _Str = None

    class _Record(msgspec.Struct):
        eventTime: _Str = None
        eventSource: _Str = None
        eventName: _Str = None
        awsRegion: _Str = None
        sourceIPAddress: _Str = None
        userAgent: _Str = None
        userIdentity: _Identity | None = None
        eventID: _Str = None
        requestID: _Str = None
        eventType: _Str = None
        managementEvent: bool | None = None
        readOnly: bool | None = None
        errorCode: _Str = None
        errorMessage: _Str = None
        recipientAccountId: _Str = None
        requestParameters: _Params | None = None
        additionalEventData: _Extra | None = None
        resources: list[_Resource] | None = None

    class _Object(msgspec.Struct):
        Records: list[msgspec.Raw]

    _object_decoder = msgspec.json.Decoder(_Object)
    _record_decoder = msgspec.json.Decoder(_Record)
    _any_decoder = msgspec.json.Decoder()

    def _typed_row(raw: bytes) -> tuple[Any, ...]:
        try:
            r = _record_decoder.decode(raw)
        except msgspec.DecodeError:  # a field of an unexpected type: read it leniently
            return row_from_dict(_any_decoder.decode(raw))
        ident = r.userIdentity
        ctx = ident.sessionContext if ident is not None else None
        issuer = ctx.sessionIssuer if ctx is not None else None
        attributes = ctx.attributes if ctx is not None else None
        mfa = _flag(attributes.mfaAuthenticated) if attributes is not None else None
        extra = r.additionalEventData
        if mfa is None and extra is not None:
            mfa = _flag(extra.MFAUsed)
        params = r.requestParameters
        bucket = key = None
        if params is not None:
            bucket, key = params.bucketName, params.key
        resources = None
        if r.resources:
            resources = [
                {"arn": x.ARN, "account_id": x.accountId, "type": x.type} for x in r.resources
            ]
        return (
            r.eventTime,
            r.eventSource,
            r.eventName,
            r.awsRegion,
            r.sourceIPAddress,
            r.userAgent,
            ident.type if ident is not None else None,
            ident.arn if ident is not None else None,
            ident.accountId if ident is not None else None,
            ident.accessKeyId if ident is not None else None,
            ident.principalId if ident is not None else None,
            ident.userName if ident is not None else None,
            issuer.arn if issuer is not None else None,
            issuer.type if issuer is not None else None,
            mfa,
            r.eventID,
            r.requestID,
            r.eventType,
            r.managementEvent,
            r.readOnly,
            r.errorCode,
            r.errorMessage,
            r.recipientAccountId,
            bucket,
            key,
            resources,
        )


def split_records(data: bytes) -> list[tuple[tuple[Any, ...], Any]]:
    """Each record of an object's JSON text: (typed fields, the record's JSON: its raw bytes
    with msgspec, a str without)."""
    if FAST:
        try:
            raws = _object_decoder.decode(data).Records
        except msgspec.DecodeError as exc:
            raise MalformedObject(f"not a CloudTrail log object: {exc}") from None
        return [(_typed_row(raw), raw) for raw in raws]
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedObject(f"not a CloudTrail log object: {exc}") from None
    records = parsed.get("Records") if isinstance(parsed, dict) else None
    if not isinstance(records, list):
        raise MalformedObject("not a CloudTrail log object: no Records list")
    return [(row_from_dict(r), json.dumps(r, separators=(",", ":"))) for r in records]


def records_from_strings(texts: list[str]) -> list[tuple[tuple[Any, ...], str]]:
    """Records given one JSON text each (LookupEvents' CloudTrailEvent)."""
    out = []
    for text in texts:
        try:
            record = json.loads(text)
        except ValueError:
            record = {}
        out.append((row_from_dict(record), text))
    return out


def to_batch(
    rows: list[tuple[tuple[Any, ...], Any]],
    log_object: str,
    since: datetime,
    until: datetime,
    on_bad_time: Callable[[int], None] | None = None,
) -> pa.RecordBatch:
    """The rows in [since, until) as a batch of SCHEMA; `on_bad_time(n)` counts records whose
    eventTime is missing or unreadable (they are left out of the view, kept in the object)."""
    columns: list[list[Any]] = [list(c) for c in zip(*(r[0] for r in rows), strict=True)] or [
        [] for _ in range(FIELDS)
    ]
    times = pa.array(columns[0], pa.string())
    try:
        stamps = pc.cast(times, TIME)
    except pa.ArrowInvalid:
        stamps = pa.array([_parse_time(t) for t in columns[0]], TIME)
    bad = stamps.null_count
    if bad and on_bad_time is not None:
        on_bad_time(bad)
    arrays: list[pa.Array] = [stamps]
    for values, field in zip(columns[1:], list(SCHEMA)[1:FIELDS], strict=True):
        arrays.append(pa.array(values, field.type))
    arrays.append(_text_column([r[1] for r in rows]))
    arrays.append(pa.array([log_object] * len(rows), pa.string()))
    arrays.append(pa.array(range(len(rows)), pa.int32()))
    return _in_window(pa.RecordBatch.from_arrays(arrays, schema=SCHEMA), stamps, since, until)


def _in_window(
    batch: pa.RecordBatch, stamps: pa.Array, since: datetime, until: datetime
) -> pa.RecordBatch:
    """The rows whose time is in [since, until); the batch itself when all are (most objects:
    a filter copies every record's JSON)."""
    low, high = pa.scalar(_micros(since), TIME), pa.scalar(_micros(until), TIME)
    mask = pc.and_(pc.greater_equal(stamps, low), pc.less(stamps, high))
    if mask.null_count == 0 and pc.all(mask).as_py():
        return batch
    return batch.filter(mask)


def _text_column(texts: list[Any], joined: bytes | None = None) -> pa.Array:
    """The records' JSON as one string array, built from their bytes in one copy (a list of
    Python strings would cost ten times as much), or none when `joined` already holds them back
    to back; invalid UTF-8 is replaced, never dropped."""
    raws = [t.encode("utf-8", "surrogatepass") if isinstance(t, str) else t for t in texts]
    data = b"".join(raws) if joined is None else joined
    if len(data) >= 2**31:  # past int32 offsets: the slow, safe way
        return pa.array([bytes(r).decode("utf-8", "replace") for r in raws], pa.string())
    offsets = pa.array(list(accumulate((len(r) for r in raws), initial=0)), pa.int32())
    column = pa.StringArray.from_buffers(len(raws), offsets.buffers()[1], pa.py_buffer(data))
    try:
        column.validate(full=True)
    except pa.ArrowInvalid:
        return pa.array([bytes(r).decode("utf-8", "replace") for r in raws], pa.string())
    return column


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def object_batch(
    data: bytes,
    log_object: str,
    since: datetime,
    until: datetime,
    on_bad_time: Callable[[int], None] | None = None,
) -> tuple[pa.RecordBatch, int]:
    """An object's events in [since, until) and how many records it holds. With msgspec the
    records' raw JSON is handed to pyarrow's JSON reader (C++, no GIL) with the columns' schema;
    an object whose fields do not fit it is read by the per-record path instead."""
    if FAST:
        try:
            raws = _object_decoder.decode(data).Records
        except msgspec.DecodeError as exc:
            raise MalformedObject(f"not a CloudTrail log object: {exc}") from None
        batch = _arrow_batch(raws, log_object, since, until, on_bad_time)
        if batch is not None:
            return batch, len(raws)
        rows = [(_typed_row(raw), raw) for raw in raws]
    else:
        rows = split_records(data)
    return to_batch(rows, log_object, since, until, on_bad_time), len(rows)


_S = pa.string()
_READ_SCHEMA = pa.schema(
    [
        ("eventTime", _S),
        ("eventSource", _S),
        ("eventName", _S),
        ("awsRegion", _S),
        ("sourceIPAddress", _S),
        ("userAgent", _S),
        (
            "userIdentity",
            pa.struct(
                [
                    ("type", _S),
                    ("arn", _S),
                    ("accountId", _S),
                    ("accessKeyId", _S),
                    ("principalId", _S),
                    ("userName", _S),
                    (
                        "sessionContext",
                        pa.struct(
                            [
                                ("attributes", pa.struct([("mfaAuthenticated", _S)])),
                                ("sessionIssuer", pa.struct([("arn", _S), ("type", _S)])),
                            ]
                        ),
                    ),
                ]
            ),
        ),
        ("eventID", _S),
        ("requestID", _S),
        ("eventType", _S),
        ("managementEvent", pa.bool_()),
        ("readOnly", pa.bool_()),
        ("errorCode", _S),
        ("errorMessage", _S),
        ("recipientAccountId", _S),
        ("requestParameters", pa.struct([("bucketName", _S), ("key", _S)])),
        ("additionalEventData", pa.struct([("MFAUsed", _S)])),
        ("resources", pa.list_(pa.struct([("ARN", _S), ("accountId", _S), ("type", _S)]))),
    ]
)


def _flag_column(text: pa.Array) -> pa.Array:
    low = pc.utf8_lower(text)
    yes = pc.is_in(low, value_set=pa.array(["true", "yes"]))
    no = pc.is_in(low, value_set=pa.array(["false", "no"]))
    return pc.if_else(yes, True, pc.if_else(no, False, pa.scalar(None, pa.bool_())))


def _arrow_batch(
    raws: list[Any],
    log_object: str,
    since: datetime,
    until: datetime,
    on_bad_time: Callable[[int], None] | None,
) -> pa.RecordBatch | None:
    import io

    import pyarrow.json as pj

    if not raws:
        return None
    # The records back to back: one block the reader parses object after object (no newlines
    # needed), and the `record` column's bytes as they are.
    data = b"".join(raws)
    options = pj.ParseOptions(explicit_schema=_READ_SCHEMA, unexpected_field_behavior="ignore")
    reading = pj.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 20))
    try:
        table = pj.read_json(io.BytesIO(data), read_options=reading, parse_options=options)
        if table.num_rows != len(raws):
            return None
        t = table.combine_chunks().to_batches()[0]
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, IndexError):
        return None

    def field(name: str, *path: str) -> pa.Array:
        value = t.column(name)
        for part in path:
            value = pc.struct_field(value, part)
        return value

    times = field("eventTime")
    try:
        stamps = pc.cast(times, TIME)
    except pa.ArrowInvalid:
        stamps = pa.array([_parse_time(x) for x in times.to_pylist()], TIME)
    if stamps.null_count and on_bad_time is not None:
        on_bad_time(stamps.null_count)
    mfa = _flag_column(field("userIdentity", "sessionContext", "attributes", "mfaAuthenticated"))
    mfa = pc.coalesce(mfa, _flag_column(field("additionalEventData", "MFAUsed")))
    listed = t.column("resources")
    values = listed.values
    renamed = pa.StructArray.from_arrays(
        [values.field("ARN"), values.field("accountId"), values.field("type")],
        fields=list(RESOURCE),
    )
    empty = pc.or_(pc.is_null(listed), pc.equal(pc.list_value_length(listed), 0))
    resources = pa.ListArray.from_arrays(
        listed.offsets, renamed, type=pa.list_(RESOURCE), mask=pc.fill_null(empty, True)
    )
    arrays = [
        stamps,
        field("eventSource"),
        field("eventName"),
        field("awsRegion"),
        field("sourceIPAddress"),
        field("userAgent"),
        field("userIdentity", "type"),
        field("userIdentity", "arn"),
        field("userIdentity", "accountId"),
        field("userIdentity", "accessKeyId"),
        field("userIdentity", "principalId"),
        field("userIdentity", "userName"),
        field("userIdentity", "sessionContext", "sessionIssuer", "arn"),
        field("userIdentity", "sessionContext", "sessionIssuer", "type"),
        mfa,
        field("eventID"),
        field("requestID"),
        field("eventType"),
        field("managementEvent"),
        field("readOnly"),
        field("errorCode"),
        field("errorMessage"),
        field("recipientAccountId"),
        field("requestParameters", "bucketName"),
        field("requestParameters", "key"),
        resources,
        _text_column(raws, data),
        pa.array([log_object] * len(raws), pa.string()),
        pa.array(range(len(raws)), pa.int32()),
    ]
    return _in_window(pa.RecordBatch.from_arrays(arrays, schema=SCHEMA), stamps, since, until)
