"""Where the running system's parts listen.

``parley up`` writes ``<PARLEY_DATA_DIR>/runtime.json`` once its embedded servers are up, so a
service started by hand (``parley generation`` in another terminal) joins the same system when
``NATS_URL``/``DATABASE_URL`` are unset. Explicit settings always win. The file holds the
embedded servers' credentials inside the URLs, so it is mode 0600 like ``credentials.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from services import credentials
from services.errors import SettingsError
from services.settings import Settings

FILE_NAME = "runtime.json"


@dataclass(frozen=True, slots=True)
class Runtime:
    nats_url: str
    database_url: str | None  # None only from ``resolve(..., database=False)``
    local_base_url: str | None = None

    def write(self, data_dir: Path) -> Path:
        path = Path(data_dir) / FILE_NAME
        # The URLs carry the embedded servers' passwords: readable by the owner only.
        credentials.write_private(path, json.dumps(asdict(self)))
        return path


def read(data_dir: Path) -> Runtime | None:
    path = Path(data_dir) / FILE_NAME
    try:
        return Runtime(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def resolve(settings: Settings, *, database: bool = True) -> Runtime:
    """Explicit settings first, else the running ``parley up``'s addresses. ``database=False``
    for a process that never touches PostgreSQL (generation): then none is required."""
    found = read(settings.data_dir)
    nats_url = settings.nats_url or (found.nats_url if found else None)
    database_url = settings.database_url or (found.database_url if found else None)
    local = settings.local_base_url or (found.local_base_url if found else None)
    if not nats_url:
        raise SettingsError(f"NATS_URL: not set, and no `parley up` is running in {settings.data_dir}")
    if database and not database_url:
        raise SettingsError(f"DATABASE_URL: not set, and no `parley up` is running in {settings.data_dir}")
    return Runtime(nats_url=nats_url, database_url=database_url, local_base_url=local)


def clear(data_dir: Path) -> None:
    (Path(data_dir) / FILE_NAME).unlink(missing_ok=True)
