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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from core.errors import BreachError, StepFailed
from evidence.interface import Progress
from evidence.parquet import ParquetSink
from evidence.postgres.connect import WORKER_APP, classify, conninfo
from evidence.postgres.types import convert_batch

DEFAULT_BATCH_BYTES = 8 << 20


@dataclass(frozen=True)
class ReadTask:
    key: str  # the sink (table) the rows belong to
    query: str  # complete SQL text, literals already quoted
    what: str  # for messages: "public.users" or "rows 0-1000 of public.users"


@dataclass
class RunResult:
    failed: dict[str, BreachError] = field(default_factory=dict)


class Worker:
    """One ADBC connection (a database handle of its own) on the server under investigation.

    It uses the driver manager's low-level API: the DB-API module (adbc_driver_manager.dbapi)
    imports pyarrow.dataset, and with it pandas, which would cost every export 0.1-0.3 s of
    start-up for bulk ingestion that is never used here.
    """

    def __init__(self, dsn: str) -> None:
        import adbc_driver_manager
        import adbc_driver_postgresql

        self._manager = adbc_driver_manager
        self.database = adbc_driver_postgresql.connect(conninfo(dsn, WORKER_APP))
        try:
            self.connection = adbc_driver_manager.AdbcConnection(self.database)
        except BaseException:
            close_quietly(self.database)
            raise

    def execute(self, text: str) -> None:
        """Run a statement that returns no rows (BEGIN, SET ...)."""
        statement = self._manager.AdbcStatement(self.connection)
        try:
            statement.set_sql_query(text)
            statement.execute_update()
        finally:
            close_quietly(statement)

    @contextlib.contextmanager
    def query(self, text: str, batch_bytes: int) -> Iterator[pa.RecordBatchReader]:
        """The query's rows as Arrow record batches (COPY BINARY decoded in C++)."""
        statement = self._manager.AdbcStatement(self.connection)
        try:
            statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes)})
            statement.set_sql_query(text)
            handle, _rows = statement.execute_query()
            reader = pa.RecordBatchReader._import_from_c(handle.address)
            try:
                yield reader
            finally:
                close_quietly(reader)
        finally:
            close_quietly(statement)

    def close(self) -> None:
        close_quietly(self.connection)
        close_quietly(self.database)


def open_worker(dsn: str, snapshot_id: str | None) -> Worker:
    """An ADBC connection inside a read-only transaction on the shared snapshot."""
    worker = Worker(dsn)
    try:
        worker.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if snapshot_id:
            worker.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
        worker.execute("SET TIME ZONE 'UTC'")
    except BaseException:
        worker.close()
        raise
    return worker


def close_quietly(handle: Any) -> None:
    with contextlib.suppress(Exception):
        handle.close()


def stream_task(
    worker: Worker, task: ReadTask, schema: pa.Schema, batch_bytes: int
) -> Iterator[pa.RecordBatch]:
    with worker.query(task.query, batch_bytes) as reader:
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

    def read(worker: Worker, task: ReadTask) -> None:
        sink = sinks[task.key]
        for batch in stream_task(worker, task, sink.schema, batch_bytes):
            sink.put(batch)
            if progress:
                progress(task.key, batch.num_rows)

    def work() -> None:
        worker = None
        try:
            while True:
                try:
                    task = pending.get_nowait()
                except queue.Empty:
                    return
                if task.key in result.failed:
                    continue
                try:
                    worker = worker or open_worker(dsn, snapshot_id)
                    read(worker, task)
                except Exception as exc:  # recorded against its table; the others go on
                    error = exc if isinstance(exc, BreachError) else classify(exc, task.what)
                    fail(task.key, error)
                    if worker is not None:  # a failed statement poisons the transaction
                        worker.close()
                        worker = None
        finally:
            if worker is not None:
                worker.close()

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
        import adbc_driver_postgresql  # noqa: F401
    except ImportError:
        raise StepFailed(
            "the ADBC PostgreSQL driver is not installed",
            hint="pip install adbc-driver-postgresql",
        ) from None
