"""JetStream's snapshot API: one stream saved to a file and recreated from it, by nats-server
itself (the stream's own blocks and index, consistent at one point of the stream, s2-compressed
tar). nats-py has no client for that API (it stops at stream and consumer management), so this
module speaks it over core NATS as the Go tools do (jsm.go ``SnapshotToDirectory``):
``$JS.API.STREAM.SNAPSHOT.<stream>`` with a deliver subject, chunks acknowledged one by one (the
server's flow control), an empty message at the end; and ``$JS.API.STREAM.RESTORE.<stream>``,
chunks sent as requests, an empty one to finish.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nats.aio.client import Client

from services.errors import BackupError

CHUNK = 128 * 1024
TIMEOUT_S = 30.0  # per API request and per chunk


async def _api(nc: Client, subject: str, body: dict) -> dict:
    reply = await nc.request(subject, json.dumps(body).encode(), timeout=TIMEOUT_S)
    data = json.loads(reply.data or b"{}")
    if "error" in data:
        raise BackupError(f"{subject}: {data['error'].get('description', data['error'])}")
    return data


async def snapshot(nc: Client, stream: str, out: Path) -> dict:
    """Write ``stream``'s snapshot to ``out``; returns the server's ``{config, state}``."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, pending_msgs_limit=-1, pending_bytes_limit=-1)
    try:
        meta = await _api(
            nc,
            f"$JS.API.STREAM.SNAPSHOT.{stream}",
            {"deliver_subject": inbox, "chunk_size": CHUNK, "no_consumers": True},
        )
        with open(out, "wb") as file:  # noqa: ASYNC230 - a command with nothing else on its loop
            while True:
                msg = await sub.next_msg(timeout=TIMEOUT_S)
                if not msg.data:  # the end, or an error the server reports in the headers
                    status = (msg.headers or {}).get("Status", "")
                    if status and not status.startswith("2"):
                        raise BackupError(f"snapshot of {stream} failed: {msg.headers}")
                    break
                file.write(msg.data)
                if msg.reply:  # flow control: the server sends the next chunks once this is acked
                    await nc.publish(msg.reply, b"")
            file.flush()
            os.fsync(file.fileno())
    finally:
        await sub.unsubscribe()
    return {"config": meta["config"], "state": meta["state"]}


async def restore_stream(nc: Client, entry: dict, file: Path) -> dict:
    """Recreate one stream from its snapshot; returns the restored stream's state."""
    name = entry["config"]["name"]
    reply = await _api(nc, f"$JS.API.STREAM.RESTORE.{name}", {"config": entry["config"], "state": entry["state"]})
    deliver = reply["deliver_subject"]
    with open(file, "rb") as source:  # noqa: ASYNC230 - a command with nothing else on its loop
        while chunk := source.read(CHUNK):
            answer = await nc.request(deliver, chunk, timeout=TIMEOUT_S)
            if answer.data:
                raise BackupError(f"restore of {name} refused a chunk: {answer.data[:300]!r}")
    done = json.loads((await nc.request(deliver, b"", timeout=600)).data)
    if "error" in done:
        raise BackupError(f"restore of {name} failed: {done['error'].get('description', done['error'])}")
    return done["state"]
