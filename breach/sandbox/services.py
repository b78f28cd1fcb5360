"""The sandbox's processes: started detached (they outlive `breach sandbox up`), recorded by
process id, and stopped by those ids only.

A recorded id is only signalled while the process still runs the command line it was started
with: a pid the system has since given to another process is never touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from pydantic import BaseModel

from core.errors import StepFailed


class Service(BaseModel):
    name: str
    pid: int
    marker: str  # a piece of its command line that identifies it
    port: int | None = None
    log: Path | None = None
    stop_signal: int = int(signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(name: str, argv: list[str], log: Path, port: int | None, marker: str) -> Service:
    """Start a process in a session of its own, its output to `log`, and wait for its port."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    service = Service(name=name, pid=process.pid, marker=marker, port=port, log=log)
    if port is not None:
        wait_for_port(service, process)
    return service


def wait_for_port(service: Service, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StepFailed(
                f"{service.name} exited at start (code {process.returncode})",
                hint=f"see {service.log}",
            )
        try:
            with socket.create_connection(("127.0.0.1", service.port or 0), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    stop(service)
    raise StepFailed(
        f"{service.name} did not listen on 127.0.0.1:{service.port} within {timeout:.0f} s"
    )


def running(service: Service) -> bool:
    """Whether the recorded process still runs, and is still the one we started."""
    try:
        cmdline = Path(f"/proc/{service.pid}/cmdline").read_bytes()
    except OSError:
        return False
    return service.marker.encode() in cmdline and not _zombie(service.pid)


def stop(service: Service, timeout: float = 20) -> bool:
    """Signal the process (only if it is still ours) and wait for it to go; True if it ran."""
    if not running(service):
        return False
    os.kill(service.pid, service.stop_signal)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running(service):
        time.sleep(0.05)
    if running(service):
        os.kill(service.pid, signal.SIGKILL)
    return True


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"
