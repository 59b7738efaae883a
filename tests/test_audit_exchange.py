"""Export and import end to end (real NATS, Postgres, generation, edge): the owner exports JSON
(every message's metrics, attempts and token timing; raw events on request) or Markdown; another
user imports it as a new session of theirs, marked imported in its events, with nothing generated
again; exporting the import gives the same conversation back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx

from services import bus
from services.audit import reader
from tests.test_edge_access import SECRET, token

API = "/api/v1"
# What an import keeps of each message (ids, times and sequences are the new session's own).
KEPT = (
    "role",
    "content",
    "status",
    "llm_provider",
    "llm_model",
    "response_time_ms",
    "tokens_used",
    "prompt_tokens",
    "completion_tokens",
    "time_to_first_token_ms",
    "error_kind",
    "error_message",
    "attempt",
)


async def wait_for_message(client, sid: str, message_id: str, status: str, headers: dict) -> None:
    async with asyncio.timeout(30):
        while True:
            page = (await client.get(f"{API}/chat/sessions/{sid}/messages", headers=headers)).json()
            if any(m["id"] == message_id and m["status"] == status for m in page):
                return
            await asyncio.sleep(0.1)


def kept(messages: list[dict]) -> list[tuple]:
    return [tuple(m[k] for k in KEPT) for m in messages]


async def conversation(client: httpx.AsyncClient, headers: dict) -> str:
    """A session with a completed, a failed and a regenerated answer."""
    sid = (await client.post(f"{API}/chat/sessions", json={"title": "to export"}, headers=headers)).json()["id"]
    answers = []
    for text in ("hello [[tokens:6]] [[rate:0]]", "oops [[fail_after:2]] [[rate:0]]"):
        sent = await client.post(f"{API}/chat/sessions/{sid}/messages", json={"content": text}, headers=headers)
        assert sent.status_code == 202, sent.text
        answers.append(sent.json())
        status = "complete" if "hello" in text else "failed"
        await wait_for_message(client, sid, answers[-1]["answer_message_id"], status, headers=headers)
    again = await client.post(
        f"{API}/chat/sessions/{sid}/process-llm", json={"message_id": answers[0]["message"]["id"]}, headers=headers
    )
    assert again.status_code == 202, again.text
    await wait_for_message(client, sid, again.json()["answer_message_id"], "complete", headers=headers)
    return sid


async def test_export_import_round_trip(make_system, tmp_path):
    system = make_system(env_extra={"PARLEY_JWT_SECRET": SECRET})
    alice = {"Authorization": f"Bearer {token('alice')}"}
    bob = {"Authorization": f"Bearer {token('bob')}"}
    async with httpx.AsyncClient(base_url=system.edge_urls[0], timeout=30) as client:
        sid = await conversation(client, alice)
        rest = (
            await client.get(f"{API}/chat/sessions/{sid}/messages", headers=alice, params={"branches": "all"})
        ).json()
        assert [m["status"] for m in rest] == ["complete", "complete", "complete", "failed", "complete"]

        exported = await client.get(f"{API}/chat/sessions/{sid}/export", headers=alice)
        assert exported.status_code == 200 and exported.headers["content-type"] == "application/json"
        assert "attachment" in exported.headers["content-disposition"]
        doc = exported.json()
        assert doc["format"] == "parley.export/1" and doc["messages"] == rest and "events" not in doc
        first = doc["answers"][rest[1]["id"]]
        assert sum(len(a["chunks"]) for a in first["attempts"]) >= 1 and first["ended"] == "generation.completed"

        with_events = (await client.get(f"{API}/chat/sessions/{sid}/export?events=true", headers=alice)).json()
        types = [e["event"]["type"] for e in with_events["events"]]
        assert types[0] == "session.created" and types.count("generation.failed") == 1
        assert [e["seq"] for e in with_events["events"]] == sorted(e["seq"] for e in with_events["events"])
        md = await client.get(f"{API}/chat/sessions/{sid}/export", params={"format": "markdown"}, headers=alice)
        assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
        assert md.text.startswith("# to export") and rest[1]["content"] in md.text

        # Owner only: to bob the session does not exist.
        assert (await client.get(f"{API}/chat/sessions/{sid}/export", headers=bob)).status_code == 404

        imported = await client.post(f"{API}/chat/sessions/import", content=exported.content, headers=bob)
        assert imported.status_code == 201, imported.text
        new = imported.json()["session"]
        assert new["id"] != sid and new["user_id"] == "bob" and new["title"] == "to export"
        assert imported.json()["messages"] == 5
        copy = (
            await client.get(f"{API}/chat/sessions/{new['id']}/messages", headers=bob, params={"branches": "all"})
        ).json()
        assert kept(copy) == kept(rest)
        by_id = {m["id"]: m for m in copy}
        assert by_id[copy[4]["reply_to"]]["content"] == rest[0]["content"]  # the regenerated answer's prompt

        # Marked imported in its events; nothing was generated again (no generation.started).
        await asyncio.sleep(1.0)
        nc = await bus.connect(system.nats_url, "test")
        try:
            events = [e.event for e in await reader.session(nc.jetstream(), new["id"])]
        finally:
            await nc.close()
        assert events[0].imported_from == sid
        assert [e.imported for e in events if e.__struct_config__.tag == "generation.requested"] == [True] * 3
        assert not [e for e in events if e.__struct_config__.tag == "generation.started"]

        # Round trip: the import exported again is the same conversation.
        again = (await client.get(f"{API}/chat/sessions/{new['id']}/export", headers=bob)).json()
        assert kept(again["messages"]) == kept(doc["messages"]) and again["imported_from"] == sid

        # `parley export` reads the log directly and gives the same messages.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "NATS_URL", "DATABASE_URL"))}
        env |= {"NATS_URL": system.nats_url, "PARLEY_DATA_DIR": str(tmp_path / "cli"), "PARLEY_LOG_FORMAT": "json"}
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "services.cli", "export", sid, "--events"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        cli_doc = json.loads(done.stdout)
        assert cli_doc["messages"] == rest and len(cli_doc["events"]) == len(with_events["events"])


async def test_bad_imports_and_exports_get_4xx(make_system):
    system = make_system(generation_workers=0)
    async with httpx.AsyncClient(base_url=system.edge_urls[0], timeout=30) as client:
        sid = (await client.post(f"{API}/chat/sessions", json={"title": "x"})).json()["id"]
        doc = (await client.get(f"{API}/chat/sessions/{sid}/export")).json()
        answer_first = {
            **doc,
            "messages": [{"id": "a", "role": "assistant", "content": "hi", "status": "complete"}],
        }
        cases = {
            b"not json": "not a Parley export",
            b"[]": "not a Parley export",
            json.dumps({**doc, "format": "other/1"}).encode(): "format must be",
            json.dumps(answer_first).encode(): "no user message before it",
            json.dumps({**doc, "session": {**doc["session"], "llm_provider": "nope"}}).encode(): "llm_provider",
            json.dumps({**doc, "messages": [{"id": "u", "role": "user", "content": "x" * 40_000}]}).encode(): "limit",
        }
        for body, why in cases.items():
            response = await client.post(f"{API}/chat/sessions/import", content=body)
            assert 400 <= response.status_code < 500, (body[:40], response.text)
            assert why in response.text, (body[:40], response.text)
        missing = "00000000-0000-4000-8000-000000000000"
        assert (await client.get(f"{API}/chat/sessions/{missing}/export")).status_code == 404
        assert (await client.get(f"{API}/chat/sessions/not-a-uuid/export")).status_code == 404
        assert (await client.get(f"{API}/chat/sessions/{sid}/export?format=pdf")).status_code == 422
