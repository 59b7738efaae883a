"""Long histories: older pages load on scrolling up, in order, without duplicates."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import create_session, post_message, server_messages, wait_server

pytestmark = pytest.mark.browser

EXCHANGES = 70  # 140 messages: page 1 holds 50


def test_scrolling_up_loads_older_pages_in_order(page, edge_url):
    session = create_session(edge_url, "Long history")
    sid = session["id"]
    for i in range(EXCHANGES):
        post_message(edge_url, sid, f"question {i} [[tokens:2]] [[rate:0]]")
        if i % 10 == 9:  # let generation keep up, so the order is question, answer, question...
            wait_server(
                edge_url,
                sid,
                lambda ms, n=i + 1: sum(m["status"] == "complete" and m["role"] == "assistant" for m in ms) >= n,
                timeout=60,
            )
    stored = wait_server(
        edge_url,
        sid,
        lambda ms: sum(m["status"] == "complete" and m["role"] == "assistant" for m in ms) == EXCHANGES,
        timeout=60,
    )
    assert len(stored) == 2 * EXCHANGES

    page.goto(f"{edge_url}/#/chat/{sid}")
    items = page.locator("article.msg")
    expect(items).to_have_count(50)
    started = time.monotonic()
    for expected in (100, 2 * EXCHANGES):
        page.locator(".messages").evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        expect(items).to_have_count(expected)
    assert time.monotonic() - started < 20
    expect(page.locator(".older")).to_contain_text("Start of the conversation")
    shown = items.evaluate_all("els => els.map(e => e.dataset.messageId)")
    assert shown == [m["id"] for m in server_messages(edge_url, sid)]
    # Older pages went in above without moving what was being read to the bottom.
    assert page.locator(".messages").evaluate("el => el.scrollTop") > 0
