"""An SMTP sink for the sandbox: every message it receives becomes one .eml file in a folder.

    python -m breach.sandbox.mailsink --dir DIR/mail --port 2525

Listens on 127.0.0.1 only, with no TLS and no login (it is a sink, not a relay). Each message
is written whole to a temporary name and renamed, so a reader never sees half a message; the
name orders messages by arrival.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from pathlib import Path
from typing import Any


class Sink:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = len(list(folder.glob("*.eml")))
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
            name = f"{time.time_ns()}-{self.count:06d}.eml"
        header = "".join(f"X-Sandbox-Rcpt-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos)
        # Whole or not at all (a reader never sees half a message); no fsync: a sink's mail
        # is a test's, and a drill sends hundreds.
        partial = self.folder / f".{name}.partial"
        partial.write_bytes(header.encode() + envelope.original_content)
        partial.rename(self.folder / name)
        return "250 kept"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from aiosmtpd.controller import Controller

    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
