"""The LLM dashboard: providers and health, models, usage, and the chat preview card."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.helpers import create_session, post_message, tokens_of, wait_server

pytestmark = pytest.mark.browser


async def test_dashboard_shows_providers_models_and_usage(page, edge_url):
    session = await create_session(edge_url, "Usage source")
    await post_message(edge_url, session["id"], "one [[tokens:7]] [[rate:0]]")
    await post_message(edge_url, session["id"], "two [[tokens:3]] [[fail_after:2]] [[rate:0]]")
    await wait_server(
        edge_url,
        session["id"],
        lambda ms: sorted(m["status"] for m in ms if m["role"] == "assistant") == ["complete", "failed"],
    )
    await page.goto(f"{edge_url}/#/")
    providers = page.get_by_role("region", name="Providers")
    local = providers.locator('[data-provider="local"]')
    await expect(local).to_be_visible()
    await expect(local.locator(".health")).to_have_text("healthy")
    models = page.get_by_role("region", name="Models")
    await expect(models.locator("li").first).to_be_visible()
    usage = page.get_by_role("region", name="Recent usage")
    await expect(usage.locator(".stat").filter(has_text="answers").locator(".stat-value")).to_have_text("2")
    await expect(usage.locator(".stat").filter(has_text="errors").locator(".stat-value")).to_have_text("1")
    await expect(usage.locator(".recent-errors")).to_be_visible()
    await expect(usage.get_by_role("table")).to_contain_text("answers")


async def test_chat_preview_starts_a_chat_and_shows_the_last_three_messages(page, edge_url):
    await page.goto(f"{edge_url}/#/")
    preview = page.get_by_role("region", name="Chat")
    await expect(preview).to_contain_text("Start a chat session to test the LLM")
    await preview.get_by_role("button", name="Start chat").click()
    box = preview.get_by_role("textbox", name="Message")
    await expect(box).to_be_visible()
    for i, n in enumerate((3, 4)):
        await box.fill(f"quick {i} [[tokens:{n}]] [[rate:0]]")
        await box.press("Enter")
        await expect(preview.locator(".preview-msg.user").last).to_contain_text(f"quick {i}")
        last = preview.locator(".preview-msg").last
        await expect(last).to_have_attribute("data-status", "complete")
        await expect(last).to_contain_text(f"tok{n - 1}")
    items = preview.locator(".preview-msg")
    await expect(items).to_have_count(3)  # the last three of four messages
    texts = await items.all_inner_texts()
    assert "quick 0" not in " ".join(texts)
    assert "quick 1" in texts[1]
    assert tokens_of(texts[-1]) == list(range(4))
    # The same chat, in full.
    await preview.get_by_role("link", name="Open full chat").click()
    await page.wait_for_url("**/#/chat/*")
    await expect(page.locator("article.msg")).to_have_count(4)
