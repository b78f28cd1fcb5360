"""Work fetched on several threads, handed back in the order it was asked for.

    for stream, pages in in_order(streams, fetch_pages, jobs=4):
        for page in pages:   # the worker's exception, if any, is raised here, in this thread
            ...

Up to `jobs` items are in flight at once, each on its own thread with a small queue of chunks,
so memory is bounded by jobs x depth chunks; the consumer drains them in the items' order, and
what it writes is the same whatever `jobs` is. With `jobs` 1 nothing runs on another thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
POLL = 0.2  # seconds between checks that the consumer has not gone away


@dataclass
class _End:
    error: BaseException | None


class _Stopped(Exception):
    """The consumer went away: the worker stops producing."""


class _Lane(Generic[V]):
    """One item's chunks, from its worker to the consumer."""

    def __init__(self, depth: int, stop: threading.Event) -> None:
        self.chunks: queue.Queue[V | _End] = queue.Queue(depth)
        self.stop = stop

    def put(self, chunk: V | _End) -> None:
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                self.chunks.put(chunk, timeout=POLL)
                return
            except queue.Full:
                continue

    def drain(self) -> Iterator[V]:
        while True:
            chunk = self.chunks.get()
            if isinstance(chunk, _End):
                if chunk.error is not None:
                    raise chunk.error
                return
            yield chunk


def in_order(
    items: Sequence[K],
    produce: Callable[[K], Iterable[V]],
    jobs: int,
    *,
    depth: int = 4,
    name: str = "fetch",
) -> Generator[tuple[K, Iterator[V]], None, None]:
    """(item, its chunks) for every item, in order; each item's `produce` runs on a worker
    thread and its exception is raised from its chunks' iterator. Consume each item's chunks
    before the next item (as a sequential loop would)."""
    if jobs <= 1 or len(items) <= 1:
        for item in items:
            yield item, iter(produce(item))
        return
    stop = threading.Event()

    def work(item: K, lane: _Lane[V]) -> None:
        try:
            for chunk in produce(item):
                lane.put(chunk)
            lane.put(_End(None))
        except _Stopped:
            return
        except BaseException as exc:  # handed to the consumer, raised in its thread
            try:
                lane.put(_End(exc))
            except _Stopped:
                return

    lanes: list[_Lane[V]] = []
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix=name)
    try:
        for index, item in enumerate(items):
            while len(lanes) < min(index + jobs, len(items)):
                lane: _Lane[V] = _Lane(depth, stop)
                pool.submit(work, items[len(lanes)], lane)
                lanes.append(lane)
            yield item, lanes[index].drain()
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def ordered_map(
    work: Callable[[K], V], items: Sequence[K], jobs: int, *, name: str = "work"
) -> list[V]:
    """[work(item) for item in items] on up to `jobs` threads, results in the items' order.
    `work` should return its failures rather than raise them: one raised is re-raised here
    after the others have finished."""
    if jobs <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(jobs, len(items)), thread_name_prefix=name) as pool:
        return list(pool.map(work, items))
