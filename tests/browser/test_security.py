"""Markup in messages is shown as text and runs nothing, from the user or from the model."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import last_answer, open_new_chat, send, wait_status

pytestmark = pytest.mark.browser

USER_PAYLOAD = '<img src=x onerror=alert(1)> <script>window.__xss = "user"</script>'
MODEL_PAYLOAD = (
    '<img src=x onerror=alert(2)> **bold** <script>window.__xss = "model"</script> '
    '[click](javascript:alert(3)) <a href="javascript:alert(4)">raw link</a> <svg onload=alert(5)>'
)


def assert_inert(page) -> None:
    assert page.parley_log.dialogs == []
    assert page.evaluate("window.__xss") is None
    messages = page.locator(".messages")
    expect(messages.locator("img")).to_have_count(0)
    expect(messages.locator("script")).to_have_count(0)
    expect(messages.locator("svg[onload]")).to_have_count(0)
    hrefs = messages.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href') || '')")
    assert not any(h.strip().lower().startswith("javascript:") for h in hrefs), hrefs


def test_html_in_messages_shows_as_text_and_runs_nothing(page, edge_url):
    open_new_chat(page, edge_url)
    send(page, f"{USER_PAYLOAD} [[reply:{MODEL_PAYLOAD}]] [[rate:0]]")
    answer = last_answer(page)
    wait_status(answer, "complete")
    user = page.locator("article.msg.user .plain")
    expect(user).to_contain_text("<img src=x onerror=alert(1)>")
    expect(user).to_contain_text('<script>window.__xss = "user"</script>')
    md = answer.locator(".md")
    expect(md).to_contain_text("<img src=x onerror=alert(2)>")
    expect(md).to_contain_text('<script>window.__xss = "model"</script>')
    expect(md.locator("strong")).to_have_text("bold")  # Markdown still works around it
    assert_inert(page)
    # And again after a reload, when the same text comes from the REST read and the cache.
    page.reload()
    wait_status(last_answer(page), "complete")
    expect(last_answer(page).locator(".md")).to_contain_text("<img src=x onerror=alert(2)>")
    page.wait_for_timeout(300)
    assert_inert(page)
    # The dashboard's chat preview shows the same text, also inert.
    page.goto(page.url.split("#")[0] + "#/")
    expect(page.locator(".preview-list")).to_contain_text("<img src=x onerror=alert(1)>")
    expect(page.locator(".preview-list img")).to_have_count(0)
    assert page.parley_log.dialogs == []
