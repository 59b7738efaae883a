"""The child processes of the embedded servers: free ports, readiness, stopping, logs."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from services import lifeline
from services.errors import StartupError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_ready(predicate, timeout: float, what: str, proc: subprocess.Popen | None, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise StartupError(f"{what} exited with code {proc.returncode} while starting. {tail}")
        if predicate():
            return
        time.sleep(0.05)
    raise StartupError(f"{what} did not become ready within {timeout:.0f}s")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, ValueError):  # refused, 503 while loading (HTTPError is an OSError), timeout
        return False


def never() -> bool:
    return False


def stop_process(proc: subprocess.Popen | None, sig: int, timeout: float, force: Callable[[], bool] = never) -> None:
    """Signal ``proc`` and wait for it; SIGKILL after ``timeout`` or as soon as ``force()`` says so
    (a second Ctrl-C during ``parley up``'s stop)."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if force() or time.monotonic() > deadline:
            proc.kill()
            proc.wait(5)
            return
        time.sleep(0.05)


def preexec(die_with_parent: bool, sig: int = signal.SIGTERM):
    return lifeline.preexec(sig) if die_with_parent else None


def log_tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""
