"""Reasoning models (issue 16): the scripted server streams its thinking as `reasoning_content`
before the answer; the UI shows it in a "Thinking" section that is open while it streams and
collapsed once the answer starts; it is stored with the answer (REST, reload, export and import)
and never sent back to the model."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import expect

from tests.browser.helpers import (
    API,
    answer_text,
    api,
    last_answer,
    open_new_chat,
    send,
    server_messages,
    session_id,
    tokens_of,
    wait_server,
    wait_status,
    wait_tokens,
)

pytestmark = pytest.mark.browser

THOUGHT = " ".join(f"step{i}." for i in range(24))


async def test_a_reasoning_model_shows_its_thinking_apart_from_the_answer(page, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, f"Think first [[reasoning:{THOUGHT}]] [[tokens:30]] [[rate:12]]")
    answer = last_answer(page)
    thinking = answer.locator("details.thinking")

    # While it thinks: the section is open, says so, and grows; the answer has no text yet.
    await expect(thinking).to_have_attribute("open", "")
    await expect(thinking.locator("summary")).to_have_text("Thinking…")
    await expect(thinking.locator(".thinking-text")).to_contain_text("step3.")
    assert tokens_of(await answer_text(answer)) == []

    # Once the answer starts, the thinking collapses and the answer streams on its own.
    await wait_tokens(answer, 1)
    await expect(thinking).not_to_have_attribute("open", "")
    await expect(thinking.locator("summary")).to_have_text("Thinking")
    await wait_status(answer, "complete")
    assert tokens_of(await answer_text(answer)) == list(range(30))
    assert "step" not in await answer_text(answer)
    # The reader can open it again; it holds the whole thinking.
    await thinking.locator("summary").click()
    await expect(thinking).to_have_attribute("open", "")
    await expect(thinking.locator(".thinking-text")).to_have_text(THOUGHT)

    # Stored with the answer, apart from its content.
    sid = await session_id(page)
    stored = [m for m in await server_messages(edge_url, sid) if m["role"] == "assistant"]
    assert stored[0]["reasoning"] == THOUGHT
    assert "step" not in stored[0]["content"]

    # After a reload: there, collapsed.
    await page.reload()
    thinking = last_answer(page).locator("details.thinking")
    await expect(thinking.locator("summary")).to_have_text("Thinking")
    await expect(thinking).not_to_have_attribute("open", "")
    await expect(thinking.locator(".thinking-text")).to_have_text(THOUGHT, use_inner_text=False)

    # Never sent back: the next request's messages (echoed by the scripted server) hold the
    # answer but not the thinking.
    await send(page, "What did you get? [[echo]] [[rate:0]]")
    echoed = await wait_server(
        edge_url, sid, lambda ms: [m["status"] for m in ms if m["role"] == "assistant"] == ["complete", "complete"]
    )
    received = json.loads(echoed[-1]["content"])
    sent_back = [m for m in received if m["role"] == "assistant"]
    assert len(sent_back) == 1 and "tok29" in sent_back[0]["content"]
    assert "step" not in json.dumps(sent_back)  # (the user's prompt holds the directive, not this)

    # Exported with the answer, and an import keeps it.
    exported = (await api("GET", f"{edge_url}{API}/chat/sessions/{sid}/export", params={"format": "json"})).json()
    assert next(m["reasoning"] for m in exported["messages"] if m["role"] == "assistant") == THOUGHT
    markdown = (await api("GET", f"{edge_url}{API}/chat/sessions/{sid}/export", params={"format": "markdown"})).text
    assert "<summary>Thinking</summary>" in markdown and THOUGHT in markdown
    imported = (await api("POST", f"{edge_url}{API}/chat/sessions/import", json=exported)).json()
    copy = await wait_server(edge_url, imported["session"]["id"], lambda ms: len(ms) == 4)
    assert copy[1]["reasoning"] == THOUGHT and copy[1]["content"] == stored[0]["content"]
