"""How a `breach` process runs its heavy commands: as the short-lived process it is.

Measured in bench_export (a user's own variables win): no cyclic GC while the command runs
(its imports make ~10^5 long-lived objects, an export leaves a few dozen cycles) and those
objects frozen at exit; pyarrow's mimalloc without transparent huge pages (re-zeroing them was a
tenth of an export's CPU); one OpenBLAS thread, which pyarrow loads and nothing uses.
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., None])


def lean(command: F) -> F:
    """Run `command` without the cyclic GC, with the allocator settings above."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        atexit.unregister(gc.freeze)  # once, however many commands a process runs
        atexit.register(gc.freeze)
        collecting = gc.isenabled()
        gc.disable()
        try:
            command(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()

    return run  # type: ignore[return-value]
