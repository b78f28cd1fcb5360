"""Access log objects of a window, copied byte for byte out of S3: load balancers and S3 itself.

The window is read from the key names, in the layouts AWS documents:

    Elastic Load Balancing (ALB, NLB, Classic), the end of the interval the file covers:
      [prefix/]AWSLogs/ACCOUNT/elasticloadbalancing/REGION/YYYY/MM/DD/
          ACCOUNT_elasticloadbalancing_REGION_LB-ID_YYYYMMDDTHHMMZ_IP_RANDOM.log[.gz]
    S3 server access logs, when the object was written (simple or date-partitioned prefix):
      [TargetPrefix]YYYY-MM-DD-HH-MM-SS-UNIQUESTRING
      [TargetPrefix]ACCOUNT/REGION/BUCKET/YYYY/MM/DD/YYYY-MM-DD-HH-MM-SS-UNIQUESTRING

A load balancer's file holds the requests of the 5 minutes (Classic: up to 60) before its time;
S3 writes its logs after the requests, best effort, so objects written up to `delivery_lag`
minutes after the window are taken too. Objects are copied on `jobs` threads; what is recorded
of them (the result, the index) is in the listing's order whatever `jobs` is. Each copy is
staged under
cloud/s3-logs/<safe bucket>/<safe key>, with a sidecar holding the key, its SHA-256, size, ETag
and version; the collection's index (cloud/s3-logs/<safe bucket>.<time>.index.json) lists every
key under the prefix and what became of it: copied, failed, or skipped and why. Copies, index
and sidecars are written under hidden names and become visible together at the step's journal
entry (evidence.interface.commit_described): a killed run leaves nothing a seal would sign.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from core import faults
from core.artifacts import collector, describe
from core.aws import AwsAccount
from core.errors import BreachError, StepFailed
from core.fsio import disk_errors, write_json
from core.timeutil import rfc3339
from evidence.aws.calls import RetryLog
from evidence.aws.names import safe_name, safe_path
from evidence.aws.parallel import ordered_map
from evidence.interface import (
    ArtifactResult,
    FailedItem,
    Progress,
    Stager,
    Window,
    commit_described,
    hidden_twin,
    remove_hidden,
    staged_name,
)

COLLECTOR = "evidence.aws.s3logs"
CHUNK = 1 << 20
ELB = re.compile(
    r"(?:^|/)(?P<account>\d{12})_elasticloadbalancing_(?P<region>[a-z0-9-]+)_(?P<lb>.+)"
    r"_(?P<end>\d{8}T\d{4}Z)_(?P<ip>[0-9A-Fa-f.:]+)_(?P<random>[A-Za-z0-9]+)\.log(?:\.gz)?$"
)
# A load balancer's region folder, under which its logs are filed by day (YYYY/MM/DD/).
ELB_REGION = re.compile(r"(?:^|/)AWSLogs/\d{12}/elasticloadbalancing/[a-z0-9-]+/$")
S3_ACCESS = re.compile(r"(?P<time>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-(?P<unique>[0-9A-F]{16})$")


@dataclass(frozen=True)
class LogKey:
    kind: str  # alb, nlb, clb, s3-access
    time: datetime  # the interval's end (ELB) or when the object was written (S3)
    interval: timedelta  # how far before `time` its records may go


def classify(key: str) -> LogKey | None:
    """The log a key names and the time in its name, or None when it is neither layout."""
    found = ELB.search(key)
    if found:
        when = datetime.strptime(found["end"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
        lb = found["lb"]
        kind = "alb" if lb.startswith("app.") else "nlb" if lb.startswith("net.") else "clb"
        return LogKey(kind, when, timedelta(minutes=60 if kind == "clb" else 5))
    found = S3_ACCESS.search(key)
    if found:
        try:
            when = datetime.strptime(found["time"], "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
        except ValueError:
            return None
        return LogKey("s3-access", when, timedelta(0))
    return None


@dataclass
class S3Report:
    bucket: str
    prefix: str
    index: str = ""
    copied: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    not_covered: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "index": self.index,
            "copied": self.copied,
            "failed": self.failed,
            "skipped": dict(self.skipped),
            "not_covered": self.not_covered,
            "warnings": self.warnings,
        }


@dataclass
class AccessLogCopy:
    """Collector: the access log objects of a window under an S3 prefix, byte for byte."""

    account: AwsAccount
    bucket: str
    prefix: str
    window: Window
    collected_at: datetime
    delivery_lag_minutes: int = 60
    jobs: int = 1  # objects copied at once
    progress: Progress | None = None
    name: str = COLLECTOR
    _client: Any = field(default=None, init=False, repr=False)
    _claims: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _files: set[str] = field(default_factory=set, init=False, repr=False)  # staged this run
    _folders: set[str] = field(default_factory=set, init=False, repr=False)  # their folders

    def collect(self, stager: Stager) -> tuple[list[ArtifactResult], list[FailedItem]]:
        report = self.run(stager)
        artifacts = [ArtifactResult(c["artifact"], 0, {"source": c}, []) for c in report.copied]
        return artifacts, [FailedItem(f["target"], f["reason"]) for f in report.failed]

    def run(self, stager: Stager) -> S3Report:
        log = RetryLog(self.account)
        report = S3Report(self.bucket, self.prefix)
        entries: list[dict[str, Any]] = []
        try:
            listed = self._list(log)
        except BreachError as exc:
            report.failed.append(
                {"target": f"s3://{self.bucket}/{self.prefix}", "reason": exc.diagnostics()}
            )
            report.not_covered.append(f"the prefix could not be listed: {exc.diagnostics()}")
            self._index(stager, report, entries, log)
            return report
        days: set[date] = set()
        chosen: list[tuple[dict[str, Any], LogKey, dict[str, Any]]] = []
        for item in listed:
            entry = {"key": item["Key"], "size": item.get("Size"), "etag": item.get("ETag")}
            entries.append(entry)
            kind = self._select(item["Key"], item, entry)
            if kind is None:
                report.skipped[entry["status"]] += 1
                continue
            days.add(kind.time.date())
            chosen.append((entry, kind, item))

        def copy(job: tuple[dict[str, Any], LogKey, dict[str, Any]]) -> dict[str, Any] | str:
            try:
                copied = self._copy(stager, log, job[2]["Key"], job[1], job[2])
            except BreachError as exc:
                return exc.diagnostics()
            except (IsADirectoryError, NotADirectoryError, FileExistsError):  # keys a and a/b
                return "cannot be stored: another key needs its name as a folder, or as a file"
            if self.progress:
                self.progress(job[2]["Key"], 1)
            return copied

        for (entry, _, _), copied in zip(
            chosen, ordered_map(copy, chosen, self.jobs, name="s3-copy"), strict=True
        ):
            if isinstance(copied, str):
                entry.update(status="failed", reason=copied)
                report.failed.append({"target": entry["key"], "reason": copied})
                continue
            entry.update(status="copied", artifact=copied["artifact"], sha256=copied["sha256"])
            report.copied.append(copied)
        if not listed:
            report.not_covered.append(
                f"no object under s3://{self.bucket}/{self.prefix}: is the prefix right?"
            )
        missing = [d for d in self._window_days() if d not in days]
        if missing and report.copied:
            report.warnings.append(
                f"no log object for {len(missing)} day(s) of the window:"
                f" {', '.join(d.isoformat() for d in missing[:10])}"
                " (a load balancer writes no file for an interval without traffic)"
            )
        self._index(stager, report, entries, log)
        return report

    # -- listing and choosing ----------------------------------------------------------------
    def listed_prefixes(self) -> list[str]:
        """What to list: a load balancer's region folder is listed only in the day folders the
        window needs (its first day to the day its last files are written); any other prefix
        whole."""
        if not ELB_REGION.search(self.prefix):
            return [self.prefix]
        late = timedelta(minutes=self.delivery_lag_minutes + 60)
        first, last = self.window.since.date(), (self.window.until + late).date()
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return [f"{self.prefix}{day:%Y/%m/%d}/" for day in days]

    def _s3(self) -> Any:
        """The S3 client the listing makes (on this thread) and the copying threads share, with
        a connection for each of them."""
        if self._client is None:
            from botocore.config import Config

            config = Config(max_pool_connections=max(10, self.jobs))
            with self.account.calls(what=f"reach s3://{self.bucket}"):
                session = self.account.session
                self._client = session.client(
                    "s3", endpoint_url=self.account.endpoint_url, config=config
                )
        return self._client

    def _list(self, log: RetryLog) -> list[dict[str, Any]]:
        client = self._s3()
        found: list[dict[str, Any]] = []
        for prefix in self.listed_prefixes():
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            while True:
                page = log.call(client.list_objects_v2, **kwargs)
                found.extend(page.get("Contents", []))
                if not page.get("IsTruncated"):
                    break
                kwargs["ContinuationToken"] = page["NextContinuationToken"]
        return found

    def _select(self, key: str, item: dict[str, Any], entry: dict[str, Any]) -> LogKey | None:
        if key.endswith("/"):
            entry["status"] = "folder marker"
            return None
        kind = classify(key)
        if kind is None:
            entry["status"] = "not an access log key"
            return None
        entry.update(kind=kind.kind, key_time=rfc3339(kind.time))
        late = timedelta(minutes=self.delivery_lag_minutes) + kind.interval
        if not (self.window.since <= kind.time < self.window.until + late):
            entry["status"] = "outside the window"
            return None
        return kind

    def _window_days(self) -> list[date]:
        first = self.window.since.date()
        last = (min(self.window.until, self.collected_at) - timedelta(microseconds=1)).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    # -- copying -----------------------------------------------------------------------------
    def _copy(
        self, stager: Stager, log: RetryLog, key: str, kind: LogKey, item: dict[str, Any]
    ) -> dict[str, Any]:
        name = f"cloud/s3-logs/{safe_name(self.bucket)}/{safe_path(key)}"
        self._reserve(stager, name)
        target = stager.stage_path(name)
        response = log.call(self._s3().get_object, Bucket=self.bucket, Key=key)
        etag = str(response.get("ETag", item.get("ETag", ""))).strip('"')
        tmp = hidden_twin(target)  # the copy and its sidecar: visible at the step's entry
        try:
            with self.account.calls(what=f"read s3://{self.bucket}/{key}"), disk_errors(target):
                size, md5, sha = _download(response["Body"], tmp)
            # Checked before the copy is committed: a failed check leaves nothing.
            self._check(stager, target, response, etag, size, md5, sha)
            source = {
                "system": "aws.s3",
                "bucket": self.bucket,
                "key": key,
                "version_id": response.get("VersionId"),
                "etag": etag,
                "size": size,
                "sha256": sha,
                "last_modified": _time(response.get("LastModified")),
                "log_kind": kind.kind,
                "key_time": rfc3339(kind.time),
                "window": self.window.to_json(),
            }
            media = "application/gzip" if key.endswith(".gz") else "text/plain"
            describe(
                tmp, {"media_type": media, "source": source, "collector": collector(COLLECTOR)}
            )
            faults.point("s3logs.copied")
        except BaseException:
            remove_hidden(tmp)
            raise
        if target.exists():  # the same bytes, staged by an earlier run (_check): that copy stays
            remove_hidden(tmp)
        else:
            commit_described(stager, tmp, target)
        return {"artifact": staged_name(stager, target), "kind": kind.kind, **source}

    def _reserve(self, stager: Stager, name: str) -> None:
        """Claim `name` for this run's copy: keys 'a' and 'a/b' cannot both be staged (one needs
        a file where the other needs a folder), and neither is on disk until the commit. Refused
        as the disk would refuse it (fsio.make_folder, or a folder where the file must go)."""
        parts = name.split("/")
        folders = {"/".join(parts[:n]) for n in range(1, len(parts))}
        with self._claims:
            if folders & self._files:
                folder = stager.staging / name.rsplit("/", 1)[0]
                raise StepFailed(f"cannot make folder {folder}: a file of that name is there")
            if name in self._files or name in self._folders:
                raise FileExistsError(name)
            self._files.add(name)
            self._folders.update(folders)

    def _index(
        self, stager: Stager, report: S3Report, entries: list[dict[str, Any]], log: RetryLog
    ) -> None:
        stamp = self.collected_at.strftime("%Y%m%dT%H%M%S%fZ")
        target = stager.stage_path(f"cloud/s3-logs/{safe_name(self.bucket)}.{stamp}.index.json")
        lag = self.delivery_lag_minutes
        source = {
            "system": "aws.s3",
            "bucket": self.bucket,
            "prefix": self.prefix,
            "listed_prefixes": self.listed_prefixes(),
            "window": self.window.to_json(),
            "selection": "by the time in each key name; objects written up to"
            f" {lag} minutes after the window (plus a load balancer file's interval) included",
            "copied": len(report.copied),
            "failed": report.failed,
            "skipped": dict(report.skipped),
            "not_covered": report.not_covered
            + [f"{f['target']}: {f['reason']}" for f in report.failed],
            "notes": [
                f"S3 writes server access logs best effort: records of the window written more"
                f" than {lag} minutes after it are not in these objects",
                *report.warnings,
            ],
            "calls": log.summary(),
            "complete": not report.failed and not report.not_covered,
        }
        tmp = hidden_twin(target)  # the index and its sidecar: visible at the step's entry
        try:
            write_json(tmp, {"source": source, "objects": entries})
            meta = {"media_type": "application/json", "source": source}
            describe(tmp, {**meta, "collector": collector(COLLECTOR)})
            faults.point("s3logs.indexed")
        except BaseException:
            remove_hidden(tmp)
            raise
        commit_described(stager, tmp, target)
        report.index = staged_name(stager, target)
        if log.retries:
            report.warnings.append(f"throttled or transient errors retried: {log.retries}")

    @staticmethod
    def _check(
        stager: Stager,
        target: Path,
        response: dict[str, Any],
        etag: str,
        size: int,
        md5: str,
        sha256: str,
    ) -> None:
        """The bytes read are the object's (length, single-part ETag), and do not replace a
        different copy staged before."""
        problem = None
        expected = response.get("ContentLength")
        if expected is not None and size != int(expected):
            problem = f"read {size} bytes of {expected}"
        elif etag and "-" not in etag and etag != md5:
            problem = f"the bytes read do not match the object's ETag {etag}"
        elif target.exists() and _sha256(target) != sha256:
            problem = f"a different copy is already staged at {staged_name(stager, target)}"
        if problem is not None:
            raise _Failed(problem)


class _Failed(StepFailed):
    """One object could not be copied faithfully."""


def _time(value: Any) -> str | None:
    return rfc3339(value.astimezone(UTC)) if isinstance(value, datetime) else None


def _download(body: Any, tmp: Path) -> tuple[int, str, str]:
    """Stream an object's body into `tmp`: its size, MD5 and SHA-256."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with tmp.open("wb") as out:
        while chunk := body.read(CHUNK):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, md5.hexdigest(), sha.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
