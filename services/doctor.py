"""``parley doctor``: what the README's two commands (``./dev up``, ``./dev test``) need, checked
on this machine, each finding with its fix. Pure checks returning ``Finding``s; the command prints."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from services import credentials, preflight
from services.settings import Settings

Status = Literal["ok", "warn", "block"]
CHECK_TIMEOUT_S = 5.0
MIN_PYTHON = (3, 11)  # pyproject's requires-python; an older one cannot even import Parley


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status  # "block": `parley up` cannot work until fixed; "warn": something is missing
    what: str
    detail: str  # what was found, or the fix


def python() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info >= MIN_PYTHON:
        return Finding("ok", "Python", version)
    return Finding("block", "Python", f"{version}; Parley needs 3.11 or newer (set PYTHON=python3.11 for ./dev)")


def node() -> Finding:
    found = shutil.which("node")
    if not found:
        return Finding("warn", "Node", "not found: ./dev needs it to build the web UI (install Node 20 or newer)")
    try:
        version = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding("warn", "Node", f"{found} does not run: {exc}")
    return Finding("ok", "Node", version or found)


def web_ui(settings: Settings) -> Finding:
    from services.edge.web import dist_dir

    path = dist_dir(settings)
    if path is not None and (path / "index.html").exists():
        return Finding("ok", "web UI", str(path))
    where = settings.web_dist or Path("services/edge/web/dist")
    return Finding("warn", "web UI", f"not built in {where}: ./dev up builds it (npm run build in services/edge/web)")


def model(settings: Settings) -> Finding:
    if settings.local_base_url:
        return Finding("ok", "model file", "not needed: PARLEY_LOCAL_BASE_URL is set")
    from services.errors import StartupError
    from services.generation.llama import model_path

    try:
        return Finding("ok", "model file", str(model_path()))
    except StartupError as exc:
        return Finding("block", "model file", f"{exc} (or set PARLEY_LOCAL_BASE_URL)")


def chromium() -> Finding:
    found = next(
        (p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")) if p), None
    )
    if found and Path(found).exists():
        return Finding("ok", "Chromium (browser tests)", found)
    return Finding("warn", "Chromium (browser tests)", "not found: ./dev test installs it (apt-get install chromium)")


def ports(settings: Settings) -> list[Finding]:
    found = []
    for port in preflight.ports(settings):
        problem = preflight.port_problem(port)
        name = f"port {port.port} ({port.what})"
        found.append(Finding("block", name, problem) if problem else Finding("ok", name, "free"))
    return found


def disk(settings: Settings) -> Finding:
    path = settings.data_dir.resolve()
    problem = preflight.data_dir_problem(path, settings.min_free_mb * 2**20)
    if problem:
        return Finding("block", "data folder", problem)
    return Finding("ok", "data folder", f"{path}, {shutil.disk_usage(path).free // 2**30} GiB free")


async def nats_server(url: str) -> Finding:
    from services import bus

    try:
        nc = await asyncio.wait_for(
            bus.connect(url, "parley-doctor", connect_timeout=CHECK_TIMEOUT_S), 2 * CHECK_TIMEOUT_S
        )
    except Exception as exc:
        return Finding(
            "block", "NATS_URL", f"{credentials.redact(url)} does not answer: {exc}; fix NATS_URL or unset it"
        )
    await nc.close()
    return Finding("ok", "NATS_URL", f"{credentials.redact(url)} answers")


async def database(url: str) -> Finding:
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(url, timeout=CHECK_TIMEOUT_S), 2 * CHECK_TIMEOUT_S)
    except Exception as exc:
        detail = str(exc) or type(exc).__name__
        return Finding("block", "DATABASE_URL", f"{credentials.redact(url)}: {detail}; fix DATABASE_URL or unset it")
    await conn.close()
    return Finding("ok", "DATABASE_URL", f"{credentials.redact(url)} answers")


async def providers(settings: Settings) -> list[Finding]:
    from services.generation import providers as llm

    configured = llm.from_settings(settings, retries=0)
    try:
        found = []
        for health in await configured.health():
            name = f"provider {health.provider}"
            if health.ok:
                found.append(Finding("ok", name, f"{health.base_url} answers ({health.latency_ms:.0f} ms)"))
            else:
                found.append(Finding("warn", name, f"{health.base_url}: {health.error}"))
        return found
    finally:
        await configured.aclose()


async def _remote(settings: Settings) -> list[Finding]:
    checks = []
    if settings.nats_url:
        checks.append(nats_server(settings.nats_url))
    if settings.database_url:
        checks.append(database(settings.database_url))
    results = list(await asyncio.gather(*checks))
    return results + await providers(settings)


def examine(settings: Settings) -> list[Finding]:
    """Every finding, in the order a person reads them."""
    local = [python(), node(), web_ui(settings), model(settings), chromium(), *ports(settings), disk(settings)]
    return local + asyncio.run(_remote(settings))
