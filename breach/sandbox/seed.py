"""The sandbox's breach, written into its systems.

A shop's database (users, sessions, customers, payments and an audit log) in which a stolen
reporting service account reads 800 customer records from two outside addresses over the last
hours, among two days of the application's own traffic; the same users' sessions in Redis; and
an AWS account (moto) where the same service's IAM user and access key read customer exports
from S3, recorded by a CloudTrail trail delivered to an Object Lock bucket, with the KMS key,
Cognito pool and WAF IP set the playbooks act on.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from core.timeutil import rfc3339, utcnow

ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
ATTACKER_IPS = ("203.0.113.7", "198.51.100.23")
STOLEN_ROLE = "svc_reporting"
IAM_USER = "svc-reporting"
IAM_ROLE = "app-reporting"
TRAIL_BUCKET = "sandbox-cloudtrail"
EVIDENCE_BUCKET = "sandbox-evidence"
EXPORTS_BUCKET = "sandbox-customer-exports"
WAF_IP_SET = "attackers"
KMS_ALIAS = "alias/customer-data"
USERS, CUSTOMERS, READ = 500, 1000, 800

SESSIONS = f"""
INSERT INTO sessions SELECT g % {USERS} + 1, md5('s' || g), now() + interval '7 days'
  FROM generate_series(1, {USERS * 3}) g ON CONFLICT DO NOTHING;"""

APP_SCHEMA = f"""
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text, password_hash text,
                    is_active boolean NOT NULL DEFAULT true);
CREATE TABLE sessions (user_id bigint REFERENCES users(id), token text PRIMARY KEY,
                       expires_at timestamptz);
CREATE TABLE customers (id bigint PRIMARY KEY, user_id bigint REFERENCES users(id),
                        full_name text, email text, phone text, street_address text,
                        date_of_birth date);
CREATE TABLE payments (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customers(id),
                       card_last4 text, iban text, amount numeric(10, 2), paid_at timestamptz);
CREATE TABLE audit_log (id bigserial PRIMARY KEY, occurred_at timestamptz NOT NULL,
                        actor text NOT NULL, source_ip inet, action text, table_name text,
                        record_id bigint, subject_user_id bigint, success boolean, details jsonb);
INSERT INTO users SELECT g, 'user' || g || '@shop.test', 'User ' || g, md5(g::text), true
  FROM generate_series(1, {USERS}) g;
{SESSIONS}
INSERT INTO customers SELECT g, (g - 1) % {USERS} + 1, 'Customer ' || g, 'c' || g || '@shop.test',
       '+44 20 7946 ' || lpad((g % 10000)::text, 4, '0'), g || ' High Street',
       date '1970-01-01' + g * 9
  FROM generate_series(1, {CUSTOMERS}) g;
INSERT INTO payments (customer_id, card_last4, iban, amount, paid_at)
  SELECT g % {CUSTOMERS} + 1, lpad((g % 10000)::text, 4, '0'), 'GB' || lpad(g::text, 20, '0'),
         (g % 500) + 9.99, now() - g * interval '1 hour'
  FROM generate_series(1, 2000) g;
-- two days of the application's own traffic
INSERT INTO audit_log (occurred_at, actor, source_ip, action, table_name, record_id,
                       subject_user_id, success, details)
  SELECT now() - interval '2 days' + g * interval '90 seconds', 'app',
         ('10.0.4.' || (g % 20 + 1))::inet, 'SELECT', 'users', g % {USERS} + 1, g % {USERS} + 1,
         true, jsonb_build_object('route', '/api/profile')
  FROM generate_series(1, 1900) g;
-- the stolen reporting account reads {READ} customer records from two outside addresses
INSERT INTO audit_log (occurred_at, actor, source_ip, action, table_name, record_id,
                       subject_user_id, success, details)
  SELECT now() - interval '5 hours' + g * interval '15 seconds', '{STOLEN_ROLE}',
         (CASE WHEN g % 2 = 0 THEN '{ATTACKER_IPS[0]}' ELSE '{ATTACKER_IPS[1]}' END)::inet,
         'SELECT', 'customers', c.id, c.user_id, true,
         jsonb_build_object('route', '/internal/export')
  FROM generate_series(1, {READ}) g JOIN customers c ON c.id = g;
"""


def seed_postgres(server_dsn: str) -> str:
    """Create the shop database and the stolen role; return the shop's DSN."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE shop")
        conn.execute(f"CREATE ROLE {STOLEN_ROLE} LOGIN")
    dsn = make_conninfo(server_dsn, dbname="shop")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(APP_SCHEMA)
        conn.execute(f"GRANT SELECT ON customers, payments TO {STOLEN_ROLE}")
    return dsn


def restore_sessions(dsn: str) -> None:
    """Every user's sessions back in the shop's table, as seeded (a drill or test that revoked
    them can run again on the same sandbox)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SESSIONS)


def seed_redis(url: str) -> int:
    """Every user's sessions in the store the playbooks revoke from (`session:{user}:{id}`)."""
    import redis

    client = redis.Redis.from_url(url)
    with client.pipeline(transaction=False) as pipe:
        for user in range(1, USERS + 1):
            for _ in range(2):
                pipe.set(f"session:{user}:{uuid.uuid4().hex}", json.dumps({"user": user}))
        pipe.execute()
    return USERS * 2


def seed_aws(endpoint: str, now: datetime) -> dict[str, str]:
    """The AWS side of the breach; returns what the playbooks need to know of it."""
    import boto3

    make: Any = boto3.client  # one function for every service (its stubs overload per name)

    def client(service: str) -> Any:
        return make(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    iam = client("iam")
    iam.create_user(UserName=IAM_USER)
    stolen = iam.create_access_key(UserName=IAM_USER)["AccessKey"]
    key_id = stolen["AccessKeyId"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "ec2.amazonaws.com"}}]}  # fmt: skip
    iam.create_role(RoleName=IAM_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    kms = client("kms")
    kms_key = kms.create_key(Description="customer data")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=KMS_ALIAS, TargetKeyId=kms_key)
    pool = client("cognito-idp").create_user_pool(PoolName="shop-customers")["UserPool"]["Id"]
    client("wafv2").create_ip_set(
        Name=WAF_IP_SET, Scope="REGIONAL", IPAddressVersion="IPV4", Addresses=[]
    )
    s3 = client("s3")
    for bucket in (TRAIL_BUCKET, EVIDENCE_BUCKET):
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.create_bucket(Bucket=EXPORTS_BUCKET)
    for key, body in trail_objects(key_id, now):
        s3.put_object(Bucket=TRAIL_BUCKET, Key=key, Body=body)
    _outlive_second(stolen["CreateDate"])
    return {"access_key_id": key_id, "kms_key": kms_key, "user_pool_id": pool}


def _outlive_second(created: datetime) -> None:
    """Return only once the clock has left the second the stolen key was made in: IAM dates are
    whole seconds, and a case opened in that same second would take the key for one already
    rotated since the case opened, and leave it active."""
    left = (created.replace(microsecond=0) + timedelta(seconds=1) - utcnow()).total_seconds()
    if left > 0:
        time.sleep(left)


def trail_objects(access_key_id: str, now: datetime) -> list[tuple[str, bytes]]:
    """CloudTrail's delivery of the last two days: the app's own calls, then the attacker's
    ListBuckets and GetObject calls on customer exports with the stolen key, one object per hour."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=48)
    objects = []
    for hour in range(48):
        at = start + timedelta(hours=hour)
        records = [_record(at + timedelta(minutes=m), "10.0.4.10", "app-key", "GetObject")
                   for m in range(0, 60, 10)]  # fmt: skip
        if hour >= 43:  # the last five hours: the stolen key, from the attacker's addresses
            records += [
                _record(at + timedelta(minutes=m), ATTACKER_IPS[m % 2], access_key_id, name)
                for m in range(0, 60, 3)
                for name in (("ListBuckets",) if m == 0 else ("GetObject",))
            ]
        key = (
            f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{at:%Y/%m/%d}/"
            f"{ACCOUNT}_CloudTrail_{REGION}_{at:%Y%m%dT%H%M}Z_{uuid.uuid4().hex[:16]}.json.gz"
        )
        body = json.dumps({"Records": records}, separators=(",", ":")).encode()
        objects.append((key, gzip.compress(body, mtime=0)))
    return objects


def _record(at: datetime, ip: str, access_key_id: str, name: str) -> dict[str, Any]:
    stolen = access_key_id.startswith("AKIA")
    user = IAM_USER if stolen else "shop-app"
    data = name == "GetObject"
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": f"AIDA{user.upper().replace('-', '')}",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
            "accountId": ACCOUNT,
            "accessKeyId": access_key_id,
            "userName": user,
        },
        "eventTime": rfc3339(at),
        "eventSource": "s3.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": ip,
        "userAgent": "aws-cli/2.15.0" if stolen else "aws-sdk-java/2.25.0",
        "requestParameters": {"bucketName": EXPORTS_BUCKET, "key": f"exports/{at:%H%M}.csv"}
        if data
        else None,
        "responseElements": None,
        "requestID": uuid.uuid4().hex[:16].upper(),
        "eventID": str(uuid.uuid4()),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": not data,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Data" if data else "Management",
    }
    if data:
        record["resources"] = [
            {
                "type": "AWS::S3::Object",
                "ARN": f"arn:aws:s3:::{EXPORTS_BUCKET}/exports/{at:%H%M}.csv",
            }
        ]
    return record
