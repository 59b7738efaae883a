"""With the server gone, the history this browser saw is still shown, and sending waits."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import (
    answer_text,
    composer,
    last_answer,
    open_new_chat,
    send,
    session_id,
    tokens_of,
    wait_live,
    wait_status,
)

pytestmark = pytest.mark.browser


def test_history_is_shown_from_the_browser_when_the_server_is_unreachable(page, system, edge_url):
    open_new_chat(page, edge_url)
    send(page, "Remember this [[tokens:9]] [[rate:0]]")
    wait_status(last_answer(page), "complete")
    sid = session_id(page)
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)
    page.wait_for_timeout(1200)  # the history is written to IndexedDB shortly after it changes

    edge = system.process("edge-0")
    edge.stop()
    page.reload()  # the app shell comes from the service worker, the history from IndexedDB
    expect(page.locator(".banner")).to_contain_text("history saved in this browser")
    answer = last_answer(page)
    assert tokens_of(answer_text(answer)) == list(range(9))
    expect(page.locator("article.msg.user .plain")).to_have_text("Remember this [[tokens:9]] [[rate:0]]")
    expect(page.locator(".sessions")).to_contain_text("Remember this")
    expect(composer(page).locator(".blocked")).to_contain_text("Sending is disabled")
    composer(page).get_by_role("textbox", name="Message").fill("not yet")
    expect(composer(page).get_by_role("button", name="Send message")).to_be_disabled()

    edge.start()
    page.get_by_role("button", name="Retry now").click()
    wait_live(page, timeout=30_000)
    expect(page.locator(".banner")).to_have_count(0)
    send(page, "Back [[tokens:2]] [[rate:0]]")
    wait_status(last_answer(page), "complete")
    assert session_id(page) == sid
