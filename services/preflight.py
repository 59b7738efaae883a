"""What ``parley up`` checks before it starts anything, and ``parley doctor`` reports: every port
it will bind is free, the data folder is writable and has room. Each problem is one line that
names the setting to change."""

from __future__ import annotations

import errno
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from services.settings import Settings


@dataclass(frozen=True, slots=True)
class Port:
    what: str  # "edge", "NATS", ...
    host: str
    port: int
    setting: str  # what to change when it is taken


def ports(settings: Settings) -> list[Port]:
    """The ports ``parley up`` will bind with these settings (0 = a free one: nothing to check)."""
    wanted = [Port("edge (web UI and API)", settings.host, settings.port, "PARLEY_PORT")]
    if not settings.nats_url:
        wanted.append(Port("embedded NATS", "127.0.0.1", settings.nats_port, "PARLEY_NATS_PORT or NATS_URL"))
    if not settings.database_url:
        wanted.append(Port("embedded PostgreSQL", "127.0.0.1", settings.pg_port, "PARLEY_PG_PORT or DATABASE_URL"))
    if not settings.local_base_url:
        wanted.append(
            Port(
                "embedded model server", "127.0.0.1", settings.model_port, "PARLEY_MODEL_PORT or PARLEY_LOCAL_BASE_URL"
            )
        )
    return [p for p in wanted if p.port]


def port_problem(p: Port) -> str | None:
    """None when ``p`` can be bound now; else the one line that says what to change."""
    with socket.socket(socket.AF_INET6 if ":" in p.host else socket.AF_INET) as s:
        # Like the servers themselves: a port in TIME_WAIT is fine, one with a listener is not.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((p.host, p.port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {p.port} ({p.what}) is already in use; set {p.setting}"
            return f"cannot listen on {p.host}:{p.port} ({p.what}): {exc.strerror or exc}; set {p.setting}"
    return None


def data_dir_problem(path: Path, min_free: int) -> str | None:
    """None when ``path`` (created if missing) is a writable folder with ``min_free`` bytes free."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".parley-write-check-"):
            pass
    except OSError as exc:
        return f"data folder {path} is not writable ({exc.strerror or exc}); set PARLEY_DATA_DIR"
    free = shutil.disk_usage(path).free
    if free < min_free:
        return (
            f"data folder {path} has {free // 2**20} MiB free, {min_free // 2**20} MiB needed; "
            "free some space, or set PARLEY_DATA_DIR (or PARLEY_MIN_FREE_MB)"
        )
    return None


def problems(settings: Settings) -> list[str]:
    """Everything that would stop ``parley up``, one line each; empty when it can start."""
    found = [problem for p in ports(settings) if (problem := port_problem(p))]
    if problem := data_dir_problem(settings.data_dir.resolve(), settings.min_free_mb * 2**20):
        found.append(problem)
    return found
