"""``parley backup DIR`` and ``parley restore DIR``.

A backup is each Parley stream's snapshot taken by nats-server itself (JetStream's snapshot API,
spoken by ``snapshots``: the stream's own blocks and index, consistent at one point of the
stream, s2-compressed tar), the keys the system needs, and a manifest.

The tables in PostgreSQL are not copied: they are projections, rebuilt from the restored stream.

DIR/manifest.json                 format, Parley version, time, per stream: config, state, file, sha256
DIR/streams/<STREAM>.tar.s2       one snapshot per stream (the chat stream's last: see ``_order``)
DIR/keys/credentials.json         the embedded servers' keys (the store cipher's key among them)
DIR/keys/audit/signing-key.pem    the audit signing key, when there is one
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from events.streams import CHAT_STREAM
from services import bus, credentials, logs
from services.errors import BackupError
from services.settings import Settings
from services.snapshots import restore_stream, snapshot

log = logs.get("backup")

FORMAT = 1
# Files under PARLEY_DATA_DIR a restored system needs besides the streams.
KEY_FILES = ("credentials.json", "audit/signing-key.pem")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("parley")
    except PackageNotFoundError:
        return "unknown"


def parley_stream(name: str) -> bool:
    """Parley's streams (chat, audit, ...) and buckets (``KV_parley_*``); not other tenants'."""
    return name.upper().startswith(("PARLEY", "KV_PARLEY"))


def _order(names: list[str]) -> list[str]:
    # Snapshots are consistent per stream. The chat stream goes last, so everything that refers to
    # a chat sequence (audit checkpoints, ...) refers to one the backup holds.
    return sorted(names, key=lambda n: (n == CHAT_STREAM, n))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _empty_target(target: Path) -> None:
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty; back up into a new folder")
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o700)  # it holds the keys


async def backup(nats_url: str, data_dir: Path, target: Path) -> dict:
    """Write a backup of the system at ``nats_url`` (keys from ``data_dir``) into ``target``."""
    target = Path(target)
    _empty_target(target)
    (target / "streams").mkdir()
    nc = await bus.connect(nats_url, "parley-backup")
    server_version = nc._server_info.get("version")  # nats-py keeps the server's INFO here
    try:
        js = nc.jetstream()
        names = _order([info.config.name for info in await js.streams_info() if parley_stream(info.config.name)])
        if CHAT_STREAM not in names:
            raise BackupError(f"NATS at {credentials.redact(nats_url)} has no {CHAT_STREAM} stream: nothing to back up")
        entries = []
        for name in names:
            file = target / "streams" / f"{name}.tar.s2"
            meta = await snapshot(nc, name, file)
            entries.append({"name": name, "file": str(file.relative_to(target)), "sha256": _sha256(file), **meta})
            log.info("stream saved", stream=name, messages=meta["state"]["messages"], bytes=file.stat().st_size)
    finally:
        await nc.close()
    keys = []
    for rel in KEY_FILES:
        source = Path(data_dir) / rel
        if source.is_file():
            credentials.write_private(target / "keys" / rel, source.read_text())
            keys.append(rel)
    chat = next(e for e in entries if e["name"] == CHAT_STREAM)["state"]
    manifest = {
        "format": FORMAT,
        "parley_version": _version(),
        "created_at": datetime.now(UTC).isoformat(),
        "nats_server_version": server_version,
        "chat_stream": {"name": CHAT_STREAM, "last_seq": chat["last_seq"], "messages": chat["messages"]},
        "streams": entries,
        "keys": keys,
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(source: Path) -> dict:
    try:
        manifest = json.loads((Path(source) / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source} holds no readable Parley backup (manifest.json: {exc})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source}: backup format {manifest.get('format')!r}, this Parley reads {FORMAT}")
    for entry in manifest["streams"]:
        file = Path(source) / entry["file"]
        if not file.is_file() or _sha256(file) != entry["sha256"]:
            raise BackupError(f"{file} is missing or damaged (checksum differs from the manifest)")
    return manifest


def restore_keys(source: Path, manifest: dict, data_dir: Path) -> list[str]:
    """Copy the backup's keys into ``data_dir``; an existing key file is never overwritten."""
    copied = []
    for rel in manifest["keys"]:
        target = Path(data_dir) / rel
        if target.exists():
            continue
        credentials.write_private(target, (Path(source) / "keys" / rel).read_text())
        copied.append(rel)
    return copied


async def restore_streams(nats_url: str, source: Path, manifest: dict) -> list[dict]:
    nc = await bus.connect(nats_url, "parley-restore")
    try:
        js = nc.jetstream()
        present = [i.config.name for i in await js.streams_info() if parley_stream(i.config.name)]
        if present:
            raise BackupError(f"restore needs servers without Parley's streams; found {', '.join(sorted(present))}")
        states = []
        for entry in manifest["streams"]:
            state = await restore_stream(nc, entry, Path(source) / entry["file"])
            log.info("stream restored", stream=entry["name"], messages=state["messages"], last_seq=state["last_seq"])
            states.append(state)
        return states
    finally:
        await nc.close()


def _fresh_data_dir(data_dir: Path, settings: Settings) -> None:
    for part, needed in (("nats", not settings.nats_url), ("postgres", not settings.database_url)):
        folder = Path(data_dir) / part
        if needed and folder.exists() and any(folder.iterdir()):
            raise BackupError(
                f"{folder} is not empty: restore into a new PARLEY_DATA_DIR, or give NATS_URL/DATABASE_URL"
            )


def restore(settings: Settings, source: Path) -> str:
    """Rebuild a system from ``source``: into an empty data folder (embedded servers started for
    the restore, stopped afterwards) or into the servers NATS_URL / DATABASE_URL name."""
    import asyncio

    from projections import migrate
    from projections.main import _rebuild as rebuild_projections
    from services.embedded import EmbeddedNats, EmbeddedPostgres

    manifest = read_manifest(source)
    data_dir = settings.data_dir.resolve()
    _fresh_data_dir(data_dir, settings)
    data_dir.mkdir(parents=True, exist_ok=True)
    restore_keys(source, manifest, data_dir)
    stoppers = []
    try:
        nats_url, database_url = settings.nats_url, settings.database_url
        if not (nats_url and database_url):
            keys, _ = credentials.load_or_create(data_dir)
        if not nats_url:
            nats = EmbeddedNats(
                data_dir / "nats",
                port=settings.nats_port,
                store_key=settings.nats_store_key or keys.nats_store_key,
                user=credentials.NATS_USER,
                password=keys.nats_password,
            ).start()
            stoppers.append(nats.stop)
            nats_url = nats.url
        if not database_url:
            pg = EmbeddedPostgres(data_dir / "postgres", port=settings.pg_port, password=keys.pg_password).start()
            stoppers.append(pg.stop)
            database_url = pg.dsn
        asyncio.run(restore_streams(nats_url, source, manifest))
        asyncio.run(migrate.migrate(database_url))
        rebuilt = asyncio.run(
            rebuild_projections(settings.model_copy(update={"nats_url": nats_url, "database_url": database_url}))
        )
    finally:
        for stop in reversed(stoppers):
            stop()
    chat = manifest["chat_stream"]
    return (
        f"restored {len(manifest['streams'])} streams from {source} (taken {manifest['created_at']}, "
        f"{chat['name']} up to seq {chat['last_seq']}, {chat['messages']} events)\n{rebuilt}"
    )


def run_backup(settings: Settings, target: Path, *, timestamped: bool = False, keep: int = 0) -> str:
    """``timestamped``: write into ``target/<UTC time>/``, then keep only the ``keep`` newest
    backups there (0: keep all), as a scheduled job wants."""
    import asyncio

    from services import runtime

    root = Path(target)
    if timestamped:
        target = root / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    rt = runtime.resolve(settings, database=False)
    manifest = asyncio.run(backup(rt.nats_url, settings.data_dir, target))
    removed = prune(root, keep) if timestamped and keep else []
    chat = manifest["chat_stream"]
    return (
        f"backed up {len(manifest['streams'])} streams to {target}: {chat['name']} up to seq {chat['last_seq']} "
        f"({chat['messages']} events), keys: {', '.join(manifest['keys']) or 'none in ' + str(settings.data_dir)}"
        + (f"; removed {len(removed)} older backups" if removed else "")
    )


def prune(root: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest complete backups (folders with a manifest) in ``root``."""
    import shutil

    done = sorted(p for p in Path(root).iterdir() if (p / "manifest.json").is_file())
    old = done[:-keep] if keep > 0 else []
    for folder in old:
        shutil.rmtree(folder)
    return old
