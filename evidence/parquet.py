"""Parquet sinks: batches in, zstd Parquet files out, written on their own thread.

A sink writes under a hidden temporary folder in staging and only `commit()` renames the files into
place, so a failed or interrupted export leaves nothing a sealer would pick up. Memory stays
bounded: the queue holds a few batches and every batch becomes its own row group.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core import faults
from core.errors import StepFailed
from core.fsio import disk_errors, fsync_dir, fsync_tree
from evidence.interface import hidden_twin

QUEUE_BATCHES = 4
# Open files per sink: a window of years has thousands of days, and a process may have only
# 1024 descriptors. The least recently written file is closed; its day goes on in a new part.
MAX_OPEN_FILES = 64
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# Columns whose values repeat (actors, actions) compress well with a dictionary; unique ones
# (ids, timestamps, uuids, payloads) only pay for building it.
DICTIONARY_MAX_RATIO = 0.5

EPOCH = datetime(1970, 1, 1)

# A batch, or a table of several batches written as one row group without concatenating them.
Rows: TypeAlias = pa.RecordBatch | pa.Table
Router = Callable[[Rows], Iterator[tuple[str, Rows]]]


def single_file(relpath: str) -> Router:
    def route(batch: Rows) -> Iterator[tuple[str, Rows]]:
        yield relpath, batch

    return route


def by_day(column: str, file_name: str = "part-0000.parquet") -> Router:
    """Hive-style `day=YYYY-MM-DD/` partitions of a timestamp column, in UTC."""

    def route(batch: Rows) -> Iterator[tuple[str, Rows]]:
        days = pc.cast(batch.column(column), pa.date32())
        distinct = pc.unique(days)
        if len(distinct) == 1:
            yield _day_folder(distinct[0]) + file_name, batch
            return
        for day in distinct:
            mask = pc.is_null(days) if not day.is_valid else pc.equal(days, day)
            # filter() drops rows whose mask is null (a null day compared): they go to the
            # null partition through is_null. (fill_null(mask, False) would build a Python
            # scalar, and pyarrow imports pandas to check that it is not one of its types.)
            yield _day_folder(day) + file_name, batch.filter(mask)

    return route


def _day_folder(day: pa.Scalar) -> str:
    return f"day={day.as_py().isoformat() if day.is_valid else NULL_PARTITION}/"


@dataclass
class SinkStats:
    rows: int = 0
    files: dict[str, int] = field(default_factory=dict)  # relpath -> rows
    oldest: object = None
    newest: object = None


class ParquetSink:
    """Writes batches routed to files under `tmp_dir`, on a thread of its own."""

    def __init__(
        self,
        tmp_dir: Path,
        schema: pa.Schema,
        route: Router,
        *,
        time_column: str | None = None,
        dictionary_columns: list[str] | None = None,
    ) -> None:
        self.tmp_dir = tmp_dir
        self.schema = schema
        self.route = route
        self.time_column = time_column
        self.dictionary_columns = dictionary_columns
        self.stats = SinkStats()
        self._writers: dict[str, tuple[str, pq.ParquetWriter]] = {}  # route -> (file, writer)
        self._parts: dict[str, int] = {}  # route -> files closed so far
        self._queue: queue.Queue[Rows | None] = queue.Queue(QUEUE_BATCHES)
        self._error: BaseException | None = None
        self._failed = threading.Event()
        self._oldest: Any = None  # raw values of the time column, see raw_value()
        self._newest: Any = None
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="parquet-sink", daemon=True)
        self._thread.start()

    # -- producer side -----------------------------------------------------------------------
    def put(self, batch: Rows | None) -> None:
        """Queue a batch (None: no more); waits while the queue is full, fails if the writer did."""
        while not self._failed.is_set():
            try:
                self._queue.put(batch, timeout=0.2)
                return
            except queue.Full:
                continue
        raise StepFailed(f"writing Parquet failed: {self._error or 'aborted'}")

    def finish(self, *, empty_file: str | None = None) -> SinkStats:
        """Flush and close every file; `empty_file` is written when no row arrived at all."""
        self.put(None)
        self._thread.join()
        if self._error is not None:
            raise StepFailed(f"writing Parquet failed: {self._error}")
        if not self.stats.files and empty_file:
            self._open(empty_file)
            self.stats.files[empty_file] = 0
        self._close_writers()
        return self.stats

    def abort(self) -> None:
        """Stop and delete everything written so far."""
        self._failed.set()
        self._thread.join(timeout=60)
        with contextlib.suppress(Exception):
            self._close_writers()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    # -- writer thread -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._failed.is_set():
                try:
                    batch = self._queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                if batch is None:
                    return
                self._write(batch)
        except BaseException as exc:  # handed to the producer, which reports it
            self._error = exc
            self._failed.set()

    def _write(self, batch: Rows) -> None:
        if batch.num_rows == 0:
            return
        if self.dictionary_columns is None:
            self.dictionary_columns = dictionary_candidates(batch)
        self._track_time(batch)
        for route, part in self.route(batch):
            if part.num_rows:
                if route in self._writers:  # move it last: the most recently written
                    self._writers[route] = self._writers.pop(route)
                path, writer = self._writers.get(route) or self._open(route)
                writer.write(part)
                self.stats.files[path] = self.stats.files.get(path, 0) + part.num_rows
        self.stats.rows += batch.num_rows

    def _track_time(self, batch: Rows) -> None:
        """Oldest and newest event, compared as the column's raw values (see time_value)."""
        if not self.time_column:
            return
        column = batch.column(self.time_column)
        bounds = pc.min_max(column)
        low, high = raw_value(bounds["min"]), raw_value(bounds["max"])
        if low is not None and (self._oldest is None or low < self._oldest):
            self._oldest = low
            self.stats.oldest = time_value(low, column.type)
        if high is not None and (self._newest is None or high > self._newest):
            self._newest = high
            self.stats.newest = time_value(high, column.type)

    def _open(self, route: str) -> tuple[str, pq.ParquetWriter]:
        while len(self._writers) >= MAX_OPEN_FILES:
            self._close(next(iter(self._writers)))
        relpath = nth_part(route, self._parts.get(route, 0))
        path = self.tmp_dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        with disk_errors(path):
            writer = pq.ParquetWriter(
                path,
                self.schema,
                compression="zstd",
                use_dictionary=self.dictionary_columns or False,
                store_schema=True,
            )
        self._writers[route] = (relpath, writer)
        return relpath, writer

    def _close(self, route: str) -> None:
        relpath, writer = self._writers.pop(route)
        self._parts[route] = self._parts.get(route, 0) + 1
        with disk_errors(self.tmp_dir / relpath):
            writer.close()
        faults.point("parquet.closed")

    def _close_writers(self) -> None:
        for route in list(self._writers):
            self._close(route)


def raw_value(scalar: pa.Scalar) -> Any:
    """A time bound as a plain number (ticks since the epoch, or days for a date): comparable,
    and cheap. A time-zoned timestamp's as_py() would import pandas (pyarrow checks for it)."""
    if pa.types.is_timestamp(scalar.type) or pa.types.is_date32(scalar.type):
        return scalar.value
    return scalar.as_py()


def time_value(raw: Any, kind: pa.DataType) -> Any:
    """raw_value() back to Python: a datetime (aware, in UTC, when the column has a zone) or a
    date; microseconds are the finest unit kept."""
    if raw is None:
        return None
    if pa.types.is_timestamp(kind):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[kind.unit]
        moment = EPOCH + timedelta(microseconds=raw * 1_000_000 // per_second)
        return moment.replace(tzinfo=UTC) if kind.tz else moment
    if pa.types.is_date32(kind):
        return EPOCH.date() + timedelta(days=raw)
    return raw


def nth_part(route: str, index: int) -> str:
    """The file for the index-th part of a route: day=X/part-0000.parquet, part-0001, ..."""
    if index == 0:
        return route
    stem, dot, suffix = route.rpartition(".")
    head, dash, number = stem.rpartition("-")
    if dash and number.isdigit():
        return f"{head}-{int(number) + index:0{len(number)}d}{dot}{suffix}"
    return f"{stem}-{index:04d}{dot}{suffix}"


def dictionary_candidates(batch: Rows) -> list[str]:
    """Columns worth dictionary-encoding, judged on a first batch: few distinct values."""
    chosen = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        kind = column.type
        if pa.types.is_list(kind):
            kind = kind.value_type
        if not (pa.types.is_string(kind) or pa.types.is_integer(kind)):
            continue
        sample = column.slice(0, 10_000)
        if pa.types.is_list(column.type):
            sample = pc.list_flatten(sample)
        if len(sample) and len(pc.unique(sample)) <= DICTIONARY_MAX_RATIO * len(sample):
            chosen.append(name)
    return chosen


def temp_dir_for(final: Path) -> Path:
    """A hidden sibling of `final`: sealing and staged_artifacts() skip dot-names."""
    return hidden_twin(final)


def commit_dir(tmp: Path, final: Path) -> None:
    """Rename a finished temporary folder into place, durably."""
    fsync_tree(tmp)
    with disk_errors(final):
        os.replace(tmp, final)
    fsync_dir(final.parent)


def commit_file(tmp: Path, final: Path) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    with disk_errors(final):
        os.replace(tmp, final)
    fsync_dir(final.parent)
