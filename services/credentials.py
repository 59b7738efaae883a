"""Credentials and keys the embedded servers need: generated once, kept in the data folder, mode 0600.

``<PARLEY_DATA_DIR>/credentials.json`` holds the key of nats-server's store cipher and the
passwords of the embedded NATS and PostgreSQL. It is written at the first ``parley up`` and read
by every later one, so the encrypted store and the databases open again. Lose it and the
JetStream store cannot be read: ``parley backup`` copies it.
"""

from __future__ import annotations

import json
import os
import secrets  # the standard library's token generator
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from services.errors import StartupError

FILE_NAME = "credentials.json"
NATS_USER = "parley"


@dataclass(frozen=True, slots=True)
class Credentials:
    nats_store_key: str
    nats_password: str
    pg_password: str

    @staticmethod
    def generate() -> Credentials:
        return Credentials(
            nats_store_key=secrets.token_hex(32),
            nats_password=secrets.token_urlsafe(24),
            pg_password=secrets.token_urlsafe(24),
        )


def path(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


def write_private(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` readable by its owner only (created 0600, never wider)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask cannot widen it, and an old file's mode does not survive
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)


def load_or_create(data_dir: Path) -> tuple[Credentials, bool]:
    """The data folder's credentials, generating them on the first start. Returns (secrets, created)."""
    file = path(data_dir)
    if file.exists():
        mode = stat.S_IMODE(file.stat().st_mode)
        if mode & 0o077:  # someone widened it: narrow it again rather than run with it open
            os.chmod(file, 0o600)
        try:
            return Credentials(**json.loads(file.read_text())), False
        except (ValueError, TypeError) as exc:
            raise StartupError(f"{file} is not a Parley credentials file ({exc}); restore it from a backup") from None
    found = Credentials.generate()
    write_private(file, json.dumps(asdict(found), indent=2) + "\n")
    return found, True


def with_credentials(url: str, user: str, password: str) -> str:
    """``scheme://user:password@host:port/...`` (each server of a comma-separated NATS list)."""
    out = []
    for one in url.split(","):
        parts = urlsplit(one.strip())
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        out.append(urlunsplit(parts._replace(netloc=netloc)))
    return ",".join(out)


def redact(url: str | None) -> str | None:
    """The URL with any password replaced, for logs and error messages."""
    if not url:
        return url
    out = []
    for one in url.split(","):
        parts = urlsplit(one.strip())
        if parts.password is None:
            out.append(one.strip())
            continue
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        out.append(urlunsplit(parts._replace(netloc=netloc)))
    return ",".join(out)
