"""The machine a run happened on: cores, CPU model, memory, Python, NATS, PostgreSQL, load."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata

import psutil

from services.embedded import EmbeddedNats, EmbeddedPostgres


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def facts() -> dict[str, object]:
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "nats_server": _version([EmbeddedNats.binary(), "--version"]),
        "postgres": _version([str(EmbeddedPostgres.bin_dir() / "postgres"), "--version"]),
        **{name: _package_version(name) for name in ("nats-py", "uvicorn", "websockets", "msgspec", "fastapi")},
    }


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
