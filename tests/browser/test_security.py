"""Markup in messages is shown as text and runs nothing, from the user or from the model."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.helpers import last_answer, open_new_chat, send, wait_status

pytestmark = pytest.mark.browser

USER_PAYLOAD = '<img src=x onerror=alert(1)> <script>window.__xss = "user"</script>'
MODEL_PAYLOAD = (
    '<img src=x onerror=alert(2)> **bold** <script>window.__xss = "model"</script> '
    '[click](javascript:alert(3)) <a href="javascript:alert(4)">raw link</a> <svg onload=alert(5)>'
)


async def assert_inert(page) -> None:
    assert page.parley_log.dialogs == []
    assert await page.evaluate("window.__xss") is None
    messages = page.locator(".messages")
    await expect(messages.locator("img")).to_have_count(0)
    await expect(messages.locator("script")).to_have_count(0)
    await expect(messages.locator("svg[onload]")).to_have_count(0)
    hrefs = await messages.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href') || '')")
    assert not any(h.strip().lower().startswith("javascript:") for h in hrefs), hrefs


async def test_html_in_messages_shows_as_text_and_runs_nothing(page, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, f"{USER_PAYLOAD} [[reply:{MODEL_PAYLOAD}]] [[rate:0]]")
    answer = last_answer(page)
    await wait_status(answer, "complete")
    user = page.locator("article.msg.user .plain")
    await expect(user).to_contain_text("<img src=x onerror=alert(1)>")
    await expect(user).to_contain_text('<script>window.__xss = "user"</script>')
    md = answer.locator(".md")
    await expect(md).to_contain_text("<img src=x onerror=alert(2)>")
    await expect(md).to_contain_text('<script>window.__xss = "model"</script>')
    await expect(md.locator("strong")).to_have_text("bold")  # Markdown still works around it
    await assert_inert(page)
    # Again after a reload, when the same text comes from the REST read and the cache.
    await page.reload()
    await wait_status(last_answer(page), "complete")
    await expect(last_answer(page).locator(".md")).to_contain_text("<img src=x onerror=alert(2)>")
    await page.wait_for_timeout(300)
    await assert_inert(page)
    # The dashboard's chat preview shows the same text, also inert.
    await page.goto(page.url.split("#")[0] + "#/")
    await expect(page.locator(".preview-list")).to_contain_text("<img src=x onerror=alert(2)>")
    await expect(page.locator(".preview-list img")).to_have_count(0)
    assert page.parley_log.dialogs == []
