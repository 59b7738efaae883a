"""Long histories: older pages load on scrolling up, in order, without duplicates; back at the
bottom, only the newest messages stay in the DOM, and scrolling up shows the rest again."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.helpers import API, answered, api, create_session, post_message

pytestmark = pytest.mark.browser

EXCHANGES = 130  # 260 messages: page 1 holds 50
KEEP = 120  # messages the UI keeps in the DOM while following the bottom (ui/messages.tsx)


async def test_scrolling_up_loads_older_pages_in_order(page, edge_url):
    sid = (await create_session(edge_url, "Long history"))["id"]
    for i in range(EXCHANGES):
        await post_message(edge_url, sid, f"question {i} [[tokens:2]] [[rate:0]]")
        if i % 10 == 9:  # let generation keep up
            await answered(edge_url, sid, i + 1, within_s=60)
    await answered(edge_url, sid, EXCHANGES, within_s=60)
    stored = []
    before = None
    while True:  # the server's own order, page by page
        params = {"page_size": 100, **({"before": before} if before else {})}
        batch = (await api("GET", f"{edge_url}{API}/chat/sessions/{sid}/messages", params=params)).json()
        stored = batch + stored
        if len(batch) < 100:
            break
        before = batch[0]["id"]
    assert len(stored) == 2 * EXCHANGES

    reads: list[str] = []
    page.on("request", lambda r: "/messages" in r.url and r.method == "GET" and reads.append(r.url))
    await page.goto(f"{edge_url}/#/chat/{sid}")
    items = page.locator("article.msg")
    box = page.locator(".messages")
    await expect(items).to_have_count(50)
    for expected in (100, 150, 200, 250, 2 * EXCHANGES):
        await box.evaluate("el => { el.scrollTop = 0; }")
        await expect(items).to_have_count(expected)
    await expect(page.locator(".older")).to_contain_text("Start of the conversation")
    shown = await items.evaluate_all("els => els.map(e => e.dataset.messageId)")
    assert shown == [m["id"] for m in stored]
    # Older pages went in above without throwing the reader to the top.
    assert await box.evaluate("el => el.scrollTop") > 0
    assert len(reads) == 6  # page 1 and five older pages, each read once

    # Back to the newest: the old part leaves the DOM, the newest messages stay, in order.
    await page.get_by_role("button", name="Latest").click()
    await expect(items).to_have_count(KEEP)
    shown = await items.evaluate_all("els => els.map(e => e.dataset.messageId)")
    assert shown == [m["id"] for m in stored[-KEEP:]]
    assert await box.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight") < 100
    # Scrolling up again shows them from memory, without asking the server.
    await box.evaluate("el => { el.scrollTop = 0; }")
    await expect(items).to_have_count(KEEP + 100)
    assert len(reads) == 6
    await expect(page.get_by_role("button", name="Load older messages")).to_be_visible()
