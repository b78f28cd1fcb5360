"""Worker connections that adopt one exported snapshot and stream query results into sinks.

Each worker opens an ADBC connection, starts a REPEATABLE READ READ ONLY transaction and adopts
the control transaction's snapshot with SET TRANSACTION SNAPSHOT (as `pg_dump -j` does), so every
table and every ctid range is read at the same point in time. ADBC turns COPY BINARY into Arrow
in C++; the batches go through type conversion here and on to the sink's writer thread.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from core.errors import BreachError, StepFailed
from evidence.parquet import ParquetSink
from evidence.postgres.connect import WORKER_APP, classify, conninfo
from evidence.postgres.types import convert_batch

DEFAULT_BATCH_BYTES = 8 << 20
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class ReadTask:
    key: str  # the sink (table) the rows belong to
    query: str  # complete SQL text, literals already quoted
    what: str  # for messages: "public.users" or "rows 0-1000 of public.users"


@dataclass
class RunResult:
    failed: dict[str, BreachError] = field(default_factory=dict)


def _connect(dsn: str) -> Any:
    import adbc_driver_postgresql.dbapi as adbc

    return adbc.connect(conninfo(dsn, WORKER_APP), autocommit=True)


def open_worker(dsn: str, snapshot_id: str | None) -> Any:
    """An ADBC connection inside a read-only transaction on the shared snapshot."""
    conn = _connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if snapshot_id:
                cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
            cur.execute("SET TIME ZONE 'UTC'")
    except BaseException:
        close_quietly(conn)
        raise
    return conn


def close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()


def stream_task(
    conn: Any, task: ReadTask, schema: pa.Schema, batch_bytes: int
) -> Iterator[pa.RecordBatch]:
    with conn.cursor() as cur:
        cur.adbc_statement.set_options(
            **{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes)}
        )
        cur.execute(task.query)
        reader = cur.fetch_record_batch()
        for batch in reader:
            yield convert_batch(batch, schema)


def run_tasks(
    dsn: str,
    snapshot_id: str | None,
    tasks: list[ReadTask],
    sinks: dict[str, ParquetSink],
    *,
    jobs: int = 1,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: Progress | None = None,
) -> RunResult:
    """Run every task on `jobs` worker threads; a failed task fails its whole key, not the run."""
    pending: queue.Queue[ReadTask] = queue.Queue()
    for task in tasks:
        pending.put(task)
    result = RunResult()
    lock = threading.Lock()

    def fail(key: str, error: BreachError) -> None:
        with lock:
            result.failed.setdefault(key, error)

    def read(conn: Any, task: ReadTask) -> None:
        sink = sinks[task.key]
        for batch in stream_task(conn, task, sink.schema, batch_bytes):
            sink.put(batch)
            if progress:
                progress(task.key, batch.num_rows)

    def work() -> None:
        conn = None
        try:
            while True:
                try:
                    task = pending.get_nowait()
                except queue.Empty:
                    return
                if task.key in result.failed:
                    continue
                try:
                    conn = conn or open_worker(dsn, snapshot_id)
                    read(conn, task)
                except Exception as exc:  # recorded against its table; the others go on
                    error = exc if isinstance(exc, BreachError) else classify(exc, task.what)
                    fail(task.key, error)
                    if conn is not None:  # a failed statement poisons the transaction
                        close_quietly(conn)
                        conn = None
        finally:
            if conn is not None:
                close_quietly(conn)

    threads = [
        threading.Thread(target=work, name=f"pg-worker-{n}", daemon=True)
        for n in range(max(1, min(jobs, len(tasks))))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def require_adbc() -> None:
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
    except ImportError:
        raise StepFailed(
            "the ADBC PostgreSQL driver is not installed",
            hint="pip install adbc-driver-postgresql",
        ) from None
