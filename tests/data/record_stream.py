"""Records a conversation as the code of an older checkout wrote it, for tests that old streams
still decode, project and rebuild:
- tests/data/stream_before_deltas.jsonl: commit 532bc38, full-envelope ``generation.chunk`` events;
- tests/data/stream_before_lean.jsonl: commit 820e6d2, deltas, and permanent events in full
  (every id, null and default in the body) before the lean envelope.

Run with that checkout first on the path, against a NATS server of your own:
    PYTHONPATH=<checkout> python tests/data/record_stream.py nats://127.0.0.1:4320 OUT.jsonl ["title"]
It answers with that checkout's own generation worker and the scripted LLM, then dumps every
stored message (subject, headers, data) in stream order.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import uuid
from pathlib import Path

from events import codec, streams
from events.schema import (
    GenerationCancelRequested,
    GenerationRequested,
    MessageSubmitted,
    SessionCreated,
    SessionUpdated,
)
from services import bus
from services.generation.worker import Worker
from services.scripted_llm import ScriptedLLM
from services.settings import load

USER = "auditor-fixture"


async def main(url: str, title: str) -> str:
    nc = await bus.connect(url, "fixture")
    js = nc.jetstream()
    await streams.ensure(js, streams.StreamSettings())
    sid = str(uuid.uuid4())

    async def publish(event_type, **fields):
        await bus.publish(js, codec.make(event_type, session_id=sid, user_id=USER, **fields))

    async def ask(content: str, prompt: str | None = None, **extra) -> str:
        mid, aid = prompt or str(uuid.uuid4()), str(uuid.uuid4())
        if prompt is None:
            await publish(MessageSubmitted, message_id=mid, content=content)
        await publish(GenerationRequested, message_id=aid, prompt_message_id=mid, **extra)
        return aid

    async def ended(aid: str) -> None:
        for _ in range(200):
            for kind in ("completed", "failed", "cancelled"):
                try:
                    await js.get_msg(streams.CHAT_STREAM, subject=f"parley.chat.{sid}.generation.{kind}", direct=True)
                except Exception:
                    continue
                msgs = await _all(js)
                if any(json.loads(m["data"]).get("message_id") == aid and m["subject"].endswith(kind) for m in msgs):
                    return
            await asyncio.sleep(0.1)
        raise TimeoutError(aid)

    async with ScriptedLLM(rate=0) as llm:
        environ = {"NATS_URL": url, "PARLEY_CHUNK_FLUSH_MS": "5", "PARLEY_DATA_DIR": "/tmp/fixture-data"}
        worker = await Worker(load(environ), nats_url=url, local_base_url=llm.base_url, name="w-fixture").start()
        try:
            await publish(SessionCreated, title=title, llm_provider="local", llm_model="scripted")
            first_prompt_aid = await ask("hello [[tokens:24]] [[rate:300]]")
            await ended(first_prompt_aid)
            failing = await ask("this breaks [[tokens:30]] [[rate:300]] [[fail_after:6]]")
            await ended(failing)
            cancelled = await ask("a long one [[tokens:400]] [[rate:100]]")
            await asyncio.sleep(0.5)
            await publish(GenerationCancelRequested, message_id=cancelled)
            await ended(cancelled)
            msgs = await _all(js)
            first_mid = next(
                json.loads(m["data"])["message_id"] for m in msgs if m["subject"].endswith("message.submitted")
            )
            regenerated = await ask("", prompt=first_mid, regenerate=True)
            await ended(regenerated)
            await publish(SessionUpdated, title="renamed")
        finally:
            await worker.stop(grace_s=0.5)
    lines = [json.dumps(m) + "\n" for m in await _all(js)]
    await nc.close()
    return "".join(lines)


async def _all(js) -> list[dict]:
    info = await js.stream_info(streams.CHAT_STREAM)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(streams.CHAT_STREAM, seq=seq)
        out.append(
            {
                "seq": msg.seq,
                "subject": msg.subject,
                "headers": dict(msg.headers or {}),
                "data": base64.b64decode(msg.data).decode() if isinstance(msg.data, str) else msg.data.decode(),
            }
        )
    return out


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(asyncio.run(main(sys.argv[1], sys.argv[3] if len(sys.argv) > 3 else "before deltas")))
