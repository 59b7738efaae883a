"""Two tabs on one chat: both see the same answer stream live, and each sees the other typing."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.helpers import (
    answer_text,
    last_answer,
    message_box,
    open_new_chat,
    send,
    session_id,
    tokens_of,
    wait_live,
    wait_status,
    wait_tokens,
)

pytestmark = pytest.mark.browser


async def test_a_second_tab_sees_the_stream_and_the_typing(page, browser_context, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, "Shared [[tokens:120]] [[rate:40]]")
    await wait_tokens(last_answer(page), 5)
    other = await browser_context.new_page()
    await other.goto(f"{edge_url}/#/chat/{await session_id(page)}")
    await wait_live(other)
    # The second tab joins mid-answer and follows it live to the end.
    await expect(last_answer(other)).to_have_attribute("data-status", "streaming")
    await wait_status(last_answer(other), "complete")
    await wait_status(last_answer(page), "complete")
    assert tokens_of(await answer_text(last_answer(other))) == list(range(120))
    assert await answer_text(last_answer(other)) == await answer_text(last_answer(page))
    # Typing in one tab shows in the other, and goes away after the message is sent.
    await message_box(other).press_sequentially("hello from the other tab")
    typing = page.locator(".others-typing")
    await expect(typing).to_have_text("Someone else in this chat is typing…")
    await message_box(other).press("Enter")
    await expect(typing).to_have_count(0)
    await expect(page.locator("article.msg.user")).to_have_count(2)
    await other.close()
