"""The chat screen against the real system: streaming, Markdown, stop, regenerate, retry, errors."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.helpers import (
    answer_text,
    answers,
    api,
    composer,
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


async def test_an_answer_streams_with_a_typing_indicator_and_completes(page, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, "Count for me [[tokens:80]] [[rate:25]]")
    answer = last_answer(page)
    await expect(answer.locator(".typing")).to_be_visible()
    first = await wait_tokens(answer, 5)
    later = await wait_tokens(answer, len(first) + 10)
    assert later[: len(first)] == first  # the text grows in place
    await expect(composer(page).get_by_role("button", name="Stop")).to_be_visible()
    await wait_status(answer, "complete")
    await expect(answer.locator(".typing")).to_have_count(0)
    assert tokens_of(await answer_text(answer)) == list(range(80))

    sid = await session_id(page)
    stored = [m for m in await server_messages(edge_url, sid) if m["role"] == "assistant"]
    assert len(stored) == 1 and stored[0]["status"] == "complete"
    assert await answer_text(answer) == stored[0]["content"].strip()
    # Per-message details: model, response time and tokens.
    meta = await answer.locator(".meta").inner_text()
    assert stored[0]["llm_model"] in meta
    assert "tokens" in meta and (" ms" in meta or " s" in meta)
    # The user's bubble, and the title the first message gave the chat.
    await expect(page.locator("article.msg.user .plain")).to_have_text("Count for me [[tokens:80]] [[rate:25]]")
    await expect(page.locator(".chat-title")).to_have_text("Count for me")
    # The live region said the answer, politely, once it was complete.
    await expect(page.locator("#announcer")).to_have_attribute("aria-live", "polite")
    await expect(page.locator("#announcer")).to_contain_text("tok79")


async def test_markdown_renders_with_highlighted_code_and_a_copy_button(page, browser_context, edge_url):
    await browser_context.grant_permissions(["clipboard-read", "clipboard-write"])
    await open_new_chat(page, edge_url)
    reply = "Here is **bold** and a list:\n\n- one\n- two\n\n```python\ndef add(a, b):\n    return a + b\n```\n"
    await send(page, f"[[reply:{reply}]] [[rate:0]]")
    answer = last_answer(page)
    await wait_status(answer, "complete")
    await expect(answer.locator(".md strong")).to_have_text("bold")
    await expect(answer.locator(".md li")).to_have_count(2)
    code = answer.locator(".code pre code")
    await expect(code).to_have_class("hljs language-python")
    await expect(code.locator(".hljs-keyword").first).to_have_text("def")
    await answer.get_by_role("button", name="Copy python code").click()
    await expect(answer.get_by_role("button", name="Copy python code")).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == "def add(a, b):\n    return a + b"


async def test_shift_enter_makes_a_new_line_and_the_input_grows(page, edge_url):
    await open_new_chat(page, edge_url)
    box = composer(page).get_by_role("textbox", name="Message")
    await box.click()
    before = (await box.bounding_box())["height"]
    for line in ("first line", "second line", "third line"):
        await box.press_sequentially(line)
        await box.press("Shift+Enter")
    assert await box.input_value() == "first line\nsecond line\nthird line\n"
    assert (await box.bounding_box())["height"] > before
    await box.press("Enter")
    await expect(page.locator("article.msg.user .plain").first).to_have_text("first line\nsecond line\nthird line")
    assert await box.input_value() == ""


async def test_stop_keeps_the_partial_answer_and_the_model_stops(page, system, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, "A long one [[tokens:2000]] [[rate:30]]")
    answer = last_answer(page)
    await wait_tokens(answer, 10)
    await composer(page).get_by_role("button", name="Stop").click()
    await wait_status(answer, "cancelled", ms=10_000)
    await expect(answer.locator(".pill")).to_have_text("Stopped")
    shown = tokens_of(await answer_text(answer))
    assert len(shown) >= 10 and shown == list(range(len(shown)))

    sid = await session_id(page)
    stored = await wait_server(edge_url, sid, lambda ms: any(m["status"] == "cancelled" for m in ms))
    final = next(m for m in stored if m["role"] == "assistant")
    assert tokens_of(final["content"]) == shown
    # The model itself stopped: the scripted provider saw the client leave long before 2000 tokens.
    records = (await api("GET", f"{system.llm_url}/_record")).json()
    assert records[-1]["outcome"] == "disconnected", records[-1]
    assert records[-1]["tokens_sent"] < 2000


async def test_regenerate_asks_for_a_new_answer_to_the_same_prompt(page, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, "Say something [[tokens:6]] [[rate:0]]")
    await wait_status(last_answer(page), "complete")
    await page.get_by_role("button", name="Regenerate").click()
    # The new answer takes the old one's place; the old one is a version behind the switcher.
    await expect(page.get_by_role("group", name="Version 2 of 2 of this answer")).to_be_visible()
    await expect(answers(page)).to_have_count(1)
    await wait_status(last_answer(page), "complete")
    assert tokens_of(await answer_text(last_answer(page))) == list(range(6))

    stored = await server_messages(edge_url, await session_id(page))
    user = next(m for m in stored if m["role"] == "user")
    replies = [m for m in stored if m["role"] == "assistant"]
    assert len(replies) == 2 and {m["reply_to"] for m in replies} == {user["id"]}


async def test_a_failed_answer_keeps_its_partial_text_beside_the_error(page, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, "Break halfway [[tokens:40]] [[fail_after:7]] [[rate:0]]")
    answer = last_answer(page)
    await wait_status(answer, "failed")
    assert tokens_of(await answer_text(answer)) == list(range(7))
    error = answer.locator(".msg-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("partial answer above is kept")
    await expect(error.get_by_role("button", name="Retry")).to_be_visible()


async def test_retry_after_an_error_gets_a_complete_answer(page, edge_url):
    await open_new_chat(page, edge_url)
    # The provider refuses the first request only; provider retries are off in this system.
    await send(page, "Flaky provider [[status:503x1]] [[tokens:5]] [[rate:0]]")
    failed = last_answer(page)
    await wait_status(failed, "failed")
    await failed.get_by_role("button", name="Retry").click()
    await expect(page.get_by_role("group", name="Version 2 of 2 of this answer")).to_be_visible()
    await expect(answers(page)).to_have_count(1)
    await wait_status(last_answer(page), "complete")
    assert tokens_of(await answer_text(last_answer(page))) == list(range(5))
    # The failed version is one switch away, and needs no Retry any more.
    await page.get_by_role("button", name="Previous version of this answer").click()
    await wait_status(last_answer(page), "failed")
    await expect(last_answer(page).get_by_role("button", name="Retry")).to_have_count(0)


async def test_the_live_region_announces_whole_sentences_not_tokens(page, edge_url):
    await open_new_chat(page, edge_url)
    sentences = [
        "The first sentence is long enough to be read on its own.",
        "The second sentence arrives a little later.",
        "The third one closes the answer.",
    ]
    # Record every text the polite live region takes.
    await page.evaluate(
        """() => { window.__said = []; const region = document.getElementById('announcer');
        new MutationObserver(() => { const t = region.textContent.trim(); if (t) window.__said.push(t); })
          .observe(region, {childList: true, characterData: true, subtree: true}); }"""
    )
    await send(page, f"[[reply:{' '.join(sentences)}]] [[rate:8]]")
    answer = last_answer(page)
    # While the answer is still streaming, the region holds exactly the first whole sentence.
    await expect(page.locator("#announcer")).to_have_text(sentences[0], timeout=15_000)
    assert await answer.get_attribute("data-status") == "streaming"
    await wait_status(answer, "complete")
    await expect(page.locator("#announcer")).to_contain_text("(answer complete)")
    said = await page.evaluate("window.__said")
    assert said == [sentences[0], sentences[1], f"{sentences[2]} (answer complete)"], said
