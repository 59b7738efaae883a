"""`parley backup` and `parley restore`: a restored system has every event and every row."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys

import httpx
import pytest
from nats.js.errors import NotFoundError

from events.streams import CHAT_STREAM, CONFIG_BUCKET
from projections import queries
from services import backup, bus, credentials
from services.chaos.checks import tables_of  # every row of every table, clock columns left out
from services.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from tests.test_edge_api import wait_for_message

API = "/api/v1"


def parley(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "NATS_URL", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=base | {"PARLEY_LOG_FORMAT": "json"} | env,
        capture_output=True,
        text=True,
        timeout=180,
    )


async def events_of(url: str, streams: list[str]) -> dict[str, list[tuple]]:
    """Every stored message of each stream: (seq, subject, data, headers)."""
    nc = await bus.connect(url, "test-compare")
    try:
        js = nc.jetstream()
        out = {}
        for name in streams:
            state = (await js.stream_info(name)).state
            rows = []
            for seq in range(state.first_seq, state.last_seq + 1) if state.messages else []:
                try:
                    msg = await js.get_msg(name, seq)
                except NotFoundError:  # deleted (swept token deltas): must be gone in both
                    rows.append((seq, None, None, None))
                    continue
                rows.append((msg.seq, msg.subject, msg.data, dict(msg.headers or {})))
            out[name] = rows
        return out
    finally:
        await nc.close()


async def test_backup_then_restore_into_a_fresh_data_folder_gives_every_event_and_row(
    make_system, nats, database_url, js, db, tmp_path
):
    system = make_system()
    source_data = tmp_path / "system-0" / "data"
    source_keys, _ = credentials.load_or_create(source_data)  # as `parley up` leaves them
    kv = await js.key_value(CONFIG_BUCKET)
    await kv.put("probe", b'{"kept": true}')
    async with httpx.AsyncClient(base_url=system.edge_urls[0], timeout=30) as client:
        sid = (await client.post(f"{API}/chat/sessions", json={"title": "to keep"})).json()["id"]
        for text in ("first [[tokens:12]]", "second [[tokens:7]]"):
            sent = (await client.post(f"{API}/chat/sessions/{sid}/messages", json={"content": text})).json()
            await wait_for_message(client, sid, sent["answer_message_id"], "complete", wait=30)
    last = (await js.stream_info(CHAT_STREAM)).state.last_seq
    assert await queries.wait_for_seq(db, last, 20)

    target = tmp_path / "backup"
    done = parley("backup", str(target), NATS_URL=nats.url, PARLEY_DATA_DIR=str(source_data))
    assert done.returncode == 0, done.stderr
    assert f"up to seq {last}" in done.stdout
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["chat_stream"] == {"name": CHAT_STREAM, "last_seq": last, "messages": last}
    assert [e["name"] for e in manifest["streams"]][-1] == CHAT_STREAM  # the chat stream last
    assert f"KV_{CONFIG_BUCKET}" in [e["name"] for e in manifest["streams"]]
    assert manifest["created_at"] and manifest["parley_version"] and manifest["keys"] == ["credentials.json"]
    assert stat.S_IMODE((target / "keys" / "credentials.json").stat().st_mode) == 0o600
    system.stop()  # nothing changes the source from here on
    streams = [e["name"] for e in manifest["streams"]]
    # What the backup must hold: each stream up to the sequence its snapshot had (the services
    # still write, to the config bucket for one, until they stop).
    upto = {e["name"]: e["state"]["last_seq"] for e in manifest["streams"]}
    expected_events = {
        name: [row for row in rows if row[0] <= upto[name]]
        for name, rows in (await events_of(nats.url, streams)).items()
    }
    assert expected_events[CHAT_STREAM][-1][0] == last
    expected_tables = await tables_of(database_url)
    assert len(expected_tables["messages"]) == 4

    fresh = tmp_path / "fresh"
    ports = {"PARLEY_NATS_PORT": str(free_port()), "PARLEY_PG_PORT": str(free_port())}
    done = parley("restore", str(target), PARLEY_DATA_DIR=str(fresh), **ports)
    assert done.returncode == 0, done.stderr
    assert "rebuilt chat" in done.stdout and f"up to seq {last}" in done.stdout
    keys, created = credentials.load_or_create(fresh)
    assert not created and keys == source_keys  # the store key and passwords came with the backup

    restored_nats = EmbeddedNats(
        fresh / "nats", store_key=keys.nats_store_key, password=keys.nats_password, port=free_port()
    ).start()
    restored_pg = EmbeddedPostgres(fresh / "postgres", password=keys.pg_password, durable=False).start()
    try:
        assert await events_of(restored_nats.url, streams) == expected_events
        assert await tables_of(restored_pg.dsn) == expected_tables
    finally:
        restored_nats.stop()
        restored_pg.stop()

    # A second restore into the same folder is refused: it is not empty any more.
    again = parley("restore", str(target), PARLEY_DATA_DIR=str(fresh), **ports)
    assert again.returncode == 2 and "is not empty" in again.stderr


async def test_restore_into_servers_that_hold_the_streams_is_refused(nats, nc, tmp_path):
    target = tmp_path / "backup"
    await backup.backup(nats.url, tmp_path / "no-data", target)
    manifest = backup.read_manifest(target)
    with pytest.raises(backup.BackupError, match=r"found .*PARLEY_CHAT"):
        await backup.restore_streams(nats.url, target, manifest)


async def test_a_damaged_backup_is_refused_before_anything_is_restored(nats, nc, tmp_path):
    target = tmp_path / "backup"
    await backup.backup(nats.url, tmp_path / "no-data", target)
    file = target / "streams" / f"{CHAT_STREAM}.tar.s2"
    file.write_bytes(file.read_bytes()[:-10])
    with pytest.raises(backup.BackupError, match="damaged"):
        backup.read_manifest(target)
    with pytest.raises(backup.BackupError, match="not empty"):
        await backup.backup(nats.url, tmp_path, target)


def test_keep_removes_only_the_oldest_complete_backups(tmp_path):
    for name in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("{}")
    (tmp_path / "20250101T000000Z").mkdir()  # unfinished (no manifest): not ours to judge
    removed = backup.prune(tmp_path, 2)
    assert [p.name for p in removed] == ["20260101T000000Z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20250101T000000Z", "20260102T000000Z", "20260103T000000Z"]


async def test_timestamped_backup_goes_into_a_new_folder_under_the_target(nats, nc, tmp_path):
    from services.settings import load

    settings = load({"NATS_URL": nats.url, "PARLEY_DATA_DIR": str(tmp_path / "data")})
    out = await asyncio.to_thread(backup.run_backup, settings, tmp_path / "all", timestamped=True, keep=1)
    (made,) = list((tmp_path / "all").iterdir())
    assert str(made) in out and (made / "manifest.json").is_file()
