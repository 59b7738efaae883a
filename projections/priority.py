"""The projection worker's CPU priority (``PARLEY_PROJECTION_NICE``).

The read models are eventually consistent; nats-server, the edge and generation are on the path
of every token. On a shared machine the worker lowers its own priority, and its PostgreSQL
backend's when that runs on this machine: under contention it then runs a little later, with
bigger batches (cheaper per event), instead of taking CPU from the live path. The scheduler
still gives a niced process its share, so the projection keeps up, only with more lag.

Only ever lowered (a higher nice value needs no privilege; a lower one does). A backend is
reniced only when it is verifiably ours: the server is reached over loopback or a Unix socket,
and the local process with the backend's pid is a postgres process whose title names our port.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import asyncpg

from services import logs

log = logs.get("projections.priority")


def lower(pid: int, nice: int) -> bool:
    """Raise ``pid``'s nice value to ``nice`` (0: this process) unless it is already that high."""
    if nice <= 0:
        return False
    try:
        if os.getpriority(os.PRIO_PROCESS, pid) >= nice:
            return False
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    except OSError as exc:  # gone, or not ours to change
        log.info("priority not lowered", pid=pid or os.getpid(), error=str(exc))
        return False
    return True


async def lower_backend(conn: asyncpg.Connection, nice: int) -> bool:
    """Lower the priority of ``conn``'s PostgreSQL backend, if it runs on this machine."""
    if nice <= 0:
        return False
    pid, server, port = await conn.fetchrow("SELECT pg_backend_pid(), host(inet_server_addr()), inet_client_port()")
    if server is not None and not ipaddress.ip_address(server).is_loopback:
        return False  # another machine (or container): its pids are not ours
    return _is_backend(pid, port) and lower(pid, nice)


def _is_backend(pid: int, port: int | None) -> bool:
    """The local process ``pid`` is a postgres backend of a connection from ``port`` (None: a Unix
    socket, "[local]" in its title). Two small reads of /proc, once per connection."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False  # not visible from here (another pid namespace, no /proc)
    return comm == "postgres" and ("[local]" if port is None else f"({port})") in title
