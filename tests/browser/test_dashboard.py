"""The LLM dashboard: providers and health, models, usage, and the chat preview card."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import create_session, post_message, tokens_of, wait_server

pytestmark = pytest.mark.browser


def test_dashboard_shows_providers_models_and_usage(page, edge_url):
    session = create_session(edge_url, "Usage source")
    post_message(edge_url, session["id"], "one [[tokens:7]] [[rate:0]]")
    post_message(edge_url, session["id"], "two [[tokens:3]] [[fail_after:2]] [[rate:0]]")
    wait_server(
        edge_url,
        session["id"],
        lambda ms: sorted(m["status"] for m in ms if m["role"] == "assistant") == ["complete", "failed"],
    )
    page.goto(f"{edge_url}/#/")
    providers = page.get_by_role("region", name="Providers")
    local = providers.locator('[data-provider="local"]')
    expect(local).to_be_visible()
    expect(local.locator(".health")).to_have_text("healthy")
    models = page.get_by_role("region", name="Models")
    expect(models.locator("li").first).to_be_visible()
    usage = page.get_by_role("region", name="Recent usage")
    expect(usage.locator(".stat").filter(has_text="answers").locator(".stat-value")).to_have_text("2")
    expect(usage.locator(".stat").filter(has_text="errors").locator(".stat-value")).to_have_text("1")
    expect(usage.locator(".recent-errors")).to_be_visible()
    expect(usage.get_by_role("table")).to_contain_text("answers")


def test_chat_preview_starts_a_chat_and_shows_the_last_three_messages(page, edge_url):
    page.goto(f"{edge_url}/#/")
    preview = page.get_by_role("region", name="Chat")
    expect(preview).to_contain_text("Start a chat session to test the LLM")
    preview.get_by_role("button", name="Start chat").click()
    box = preview.get_by_role("textbox", name="Message")
    expect(box).to_be_visible()
    for i, n in enumerate((3, 4)):
        box.fill(f"quick {i} [[tokens:{n}]] [[rate:0]]")
        box.press("Enter")
        expect(preview.locator(".preview-msg.user").last).to_contain_text(f"quick {i}")
        last = preview.locator(".preview-msg").last
        expect(last).to_have_attribute("data-status", "complete")
        expect(last).to_contain_text(f"tok{n - 1}")
    items = preview.locator(".preview-msg")
    expect(items).to_have_count(3)  # the last three of four messages
    texts = items.all_inner_texts()
    assert "quick 0" not in " ".join(texts)
    assert tokens_of(texts[-1]) == list(range(4))
    assert "quick 1" in texts[1]
    # The same chat, in full.
    preview.get_by_role("link", name="Open full chat").click()
    page.wait_for_url("**/#/chat/*")
    expect(page.locator("article.msg")).to_have_count(4)
