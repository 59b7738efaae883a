"""Edit and branch end to end: real processes, the scripted LLM (its record of each request
shows the context generation sent), real PostgreSQL. Regenerate makes sibling answers, an edit a
sibling user message on a new branch; the default read is the newest branch, ``branch=`` any
other, ``branches=all`` everything; the context follows the branch only."""

from __future__ import annotations

import asyncio
import uuid

import httpx

API = "/api/v1"


async def _settled(client: httpx.AsyncClient, sid: str, answer_id: str) -> None:
    async with asyncio.timeout(20):
        while True:
            page = (await client.get(f"{API}/chat/sessions/{sid}/messages", params={"branches": "all"})).json()
            if any(m["id"] == answer_id and m["status"] == "complete" for m in page):
                return
            await asyncio.sleep(0.05)


async def test_edit_and_regenerate_make_branches_and_context_follows_the_branch(make_system):
    system = make_system()
    async with httpx.AsyncClient(base_url=system.edge_urls[0], timeout=30) as client, httpx.AsyncClient() as llm:

        async def reply(text: str) -> None:
            await llm.post(f"{system.llm_url}/_script", json={"reply": text, "rate": 0})

        async def send(body: dict) -> tuple[str, str]:
            sent = await client.post(f"{API}/chat/sessions/{sid}/messages", json=body)
            assert sent.status_code == 202, sent.text
            await _settled(client, sid, sent.json()["answer_message_id"])
            return sent.json()["message"]["id"], sent.json()["answer_message_id"]

        async def read(**params) -> list[dict]:
            response = await client.get(f"{API}/chat/sessions/{sid}/messages", params=params)
            assert response.status_code == 200, response.text
            return response.json()

        async def last_context() -> list[str]:
            records = (await llm.get(f"{system.llm_url}/_record")).json()
            return [m["content"] for m in records[-1]["messages"]]

        sid = (await client.post(f"{API}/chat/sessions", json={"title": "branches"})).json()["id"]
        await reply("alpha")
        q1, a1 = await send({"content": "first question"})
        await reply("beta")
        regenerated = await client.post(f"{API}/chat/sessions/{sid}/process-llm", json={"message_id": q1})
        a1b = regenerated.json()["answer_message_id"]
        await _settled(client, sid, a1b)

        # The newest branch shows the regenerated answer, with its sibling for the switcher.
        shown = await read()
        assert [m["id"] for m in shown] == [q1, a1b]
        assert shown[1]["sibling_ids"] == [a1, a1b] and shown[1]["parent_id"] == q1
        assert [m["id"] for m in await read(branches="all")] == [q1, a1, a1b]

        await reply("gamma")
        q2, a2 = await send({"content": "second question"})
        assert await last_context() == ["first question", "beta", "second question"]

        # Edit the second question (ids in any case are the same id): a sibling on a new branch.
        await reply("delta")
        q2e, a2e = await send({"content": "second question, edited", "edit_of": q2.upper()})
        assert await last_context() == ["first question", "beta", "second question, edited"]
        shown = await read()
        assert [m["id"] for m in shown] == [q1, a1b, q2e, a2e]
        assert shown[2]["sibling_ids"] == [q2, q2e] and shown[2]["parent_id"] == a1b
        # The other branch is still there, through any of its messages.
        assert [m["id"] for m in await read(branch=q2)] == [q1, a1b, q2, a2]
        assert [m["id"] for m in await read(branch=a1)] == [q1, a1]

        # Continue from the first answer: its branch alone is the context.
        await reply("epsilon")
        q3, a3 = await send({"content": "back to alpha", "parent_id": a1})
        assert await last_context() == ["first question", "alpha", "back to alpha"]
        assert [m["id"] for m in await read()] == [q1, a1, q3, a3]

        # References that are not message ids are refused; unknown ones cannot detach a message.
        for body in ({"content": "x", "parent_id": "nope"}, {"content": "x", "edit_of": "1" * 80}):
            response = await client.post(f"{API}/chat/sessions/{sid}/messages", json=body)
            assert response.status_code == 422, response.text
        bad = await client.get(f"{API}/chat/sessions/{sid}/messages", params={"branch": "nope"})
        assert bad.status_code == 422
        missing = await client.get(f"{API}/chat/sessions/{sid}/messages", params={"branch": str(uuid.uuid4())})
        assert missing.status_code == 422 and "no message" in missing.text
