"""GET /api/v1/chat/search end to end: real processes, the scripted LLM, real PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx

API = "/api/v1"


async def test_search_finds_a_sent_word_and_refuses_odd_queries(make_system):
    system = make_system()
    async with httpx.AsyncClient(base_url=system.edge_urls[0], timeout=30) as client:
        sid = (await client.post(f"{API}/chat/sessions", json={"title": "Quokka facts"})).json()["id"]
        sent = await client.post(
            f"{API}/chat/sessions/{sid}/messages", json={"content": "tell me about zyzzyva beetles"}
        )
        assert sent.status_code == 202, sent.text
        message_id = sent.json()["message"]["id"]

        async with asyncio.timeout(15):
            while True:
                hits = (await client.get(f"{API}/chat/search", params={"q": "zyzzyva"})).json()
                if hits:
                    break
                await asyncio.sleep(0.1)
        assert [(h["kind"], h["session_id"], h["message_id"]) for h in hits] == [("message", sid, message_id)]
        assert {"text": "zyzzyva", "match": True} in hits[0]["snippet"]
        titles = (await client.get(f"{API}/chat/search", params={"q": "quokka"})).json()
        assert [(h["kind"], h["session_title"]) for h in titles] == [("title", "Quokka facts")]

        for params in (
            {"q": "a\x00b"},
            {"q": "   "},
            {"q": ""},
            {"q": "x", "page": 10**20},
            {"q": "x", "page_size": 0},
        ):
            response = await client.get(f"{API}/chat/search", params=params)
            assert response.status_code == 422, (params, response.status_code, response.text)
        assert (await client.get(f"{API}/chat/search")).status_code == 422
