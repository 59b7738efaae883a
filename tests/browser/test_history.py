"""Long histories: older pages load on scrolling up, in order, without duplicates."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.helpers import answered, create_session, post_message, server_messages

pytestmark = pytest.mark.browser

EXCHANGES = 70  # 140 messages: page 1 holds 50


async def test_scrolling_up_loads_older_pages_in_order(page, edge_url):
    sid = (await create_session(edge_url, "Long history"))["id"]
    for i in range(EXCHANGES):
        await post_message(edge_url, sid, f"question {i} [[tokens:2]] [[rate:0]]")
        if i % 10 == 9:  # let generation keep up
            await answered(edge_url, sid, i + 1, within_s=60)
    stored = await answered(edge_url, sid, EXCHANGES, within_s=60)
    assert len(stored) == 2 * EXCHANGES

    await page.goto(f"{edge_url}/#/chat/{sid}")
    items = page.locator("article.msg")
    await expect(items).to_have_count(50)
    for expected in (100, 2 * EXCHANGES):
        await page.locator(".messages").evaluate("el => { el.scrollTop = 0; }")
        await expect(items).to_have_count(expected)
    await expect(page.locator(".older")).to_contain_text("Start of the conversation")
    shown = await items.evaluate_all("els => els.map(e => e.dataset.messageId)")
    assert shown == [m["id"] for m in await server_messages(edge_url, sid)]
    # Older pages went in above without throwing the reader to the top.
    assert await page.locator(".messages").evaluate("el => el.scrollTop") > 0
