"""The session list: new, rename, delete, filter by title, most recent first; the model picker."""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import expect

from tests.browser.helpers import (
    API,
    answered,
    api,
    create_session,
    last_answer,
    post_message,
    send,
    sessions,
    wait_status,
)

pytestmark = pytest.mark.browser


async def titles(page) -> list[str]:
    return await page.locator(".sessions .session-title").all_inner_texts()


async def test_sessions_new_rename_delete_and_filter(page, edge_url):
    for title in ("Alpha notes", "Beta plan", "Gamma beta test"):
        await create_session(edge_url, title)
    await page.goto(f"{edge_url}/#/chat")
    # `#/chat` opens the most recent chat; the list is most recent first.
    await page.wait_for_url("**/#/chat/*")
    await expect(page.locator(".sessions .session")).to_have_count(3)
    assert await titles(page) == ["Gamma beta test", "Beta plan", "Alpha notes"]

    # Activity moves a chat to the top.
    alpha = next(s for s in await sessions(edge_url) if s["title"] == "Alpha notes")
    await post_message(edge_url, alpha["id"], "bump [[tokens:2]] [[rate:0]]")
    await answered(edge_url, alpha["id"], 1)
    await page.reload()
    await expect(page.locator(".sessions .session-title").first).to_have_text("Alpha notes")

    # Filter by title (case-insensitive).
    search = page.get_by_label("Filter chats by title")
    await search.fill("BETA")
    await expect(page.locator(".sessions .session")).to_have_count(2)
    assert sorted(await titles(page)) == ["Beta plan", "Gamma beta test"]
    await search.fill("nothing like it")
    await expect(page.get_by_text("No chat matches this filter.")).to_be_visible()
    await search.fill("")
    await expect(page.locator(".sessions .session")).to_have_count(3)

    # Rename.
    await page.get_by_role("button", name="Rename “Beta plan”").click()
    box = page.get_by_role("textbox", name="New title")
    await box.fill("Beta plan, renamed")
    await box.press("Enter")
    await expect(page.locator(".sessions")).to_contain_text("Beta plan, renamed")
    assert "Beta plan, renamed" in [s["title"] for s in await sessions(edge_url)]

    # Renaming to nothing is refused with a message, and nothing changes.
    await page.get_by_role("button", name="Rename “Beta plan, renamed”").click()
    await page.get_by_role("textbox", name="New title").fill("   ")
    await page.get_by_role("textbox", name="New title").press("Enter")
    await expect(page.locator(".toast")).to_contain_text("A chat needs a title.")
    await page.get_by_role("textbox", name="New title").press("Escape")
    await expect(page.locator(".sessions")).to_contain_text("Beta plan, renamed")

    # Delete asks first; Cancel keeps the chat.
    await page.get_by_role("button", name="Delete “Gamma beta test”").click()
    confirm = page.get_by_role("group", name="Delete “Gamma beta test”?")
    await confirm.get_by_role("button", name="Cancel").click()
    await expect(page.locator(".sessions .session")).to_have_count(3)
    await page.get_by_role("button", name="Delete “Gamma beta test”").click()
    await confirm.get_by_role("button", name="Delete").click()
    await expect(page.locator(".sessions .session")).to_have_count(2)
    assert "Gamma beta test" not in [s["title"] for s in await sessions(edge_url)]

    # New chat: nothing exists on the server until its first message.
    await page.get_by_role("button", name="New chat", exact=True).click()
    await page.wait_for_url("**/#/chat/new")
    await expect(page.locator(".sessions .session")).to_have_count(2)
    await send(page, "Fresh start [[tokens:2]] [[rate:0]]")
    await expect(page.locator(".sessions .session")).to_have_count(3)
    await wait_status(last_answer(page), "complete")
    await expect(page.locator(".chat-title")).to_have_text("Fresh start")


async def test_deleting_the_open_chat_elsewhere_is_shown(page, edge_url):
    session = await create_session(edge_url, "Short-lived")
    await page.goto(f"{edge_url}/#/chat/{session['id']}")
    await expect(page.locator(".conn-badge")).to_have_attribute("data-phase", "live")
    await api("DELETE", f"{edge_url}{API}/chat/sessions/{session['id']}")
    await expect(page.locator(".conn-badge")).to_have_attribute("data-phase", "gone")
    await expect(page.get_by_role("alert")).to_contain_text("This chat was deleted or does not exist.")


async def test_an_unknown_chat_says_so(page, edge_url):
    await page.goto(f"{edge_url}/#/chat/00000000-0000-4000-8000-000000000000")
    await expect(page.locator(".conn-badge")).to_have_attribute("data-phase", "gone")
    await expect(page.get_by_role("alert")).to_contain_text("This chat was deleted or does not exist.")


async def wait_session(edge_url: str, sid: str, check, within_s: float = 10.0) -> dict:
    deadline = time.monotonic() + within_s
    session: dict = {}
    while time.monotonic() < deadline:
        session = (await api("GET", f"{edge_url}{API}/chat/sessions/{sid}")).json()
        if check(session):
            return session
        await asyncio.sleep(0.1)
    raise AssertionError(f"session never matched: {session}")


async def test_the_model_picker_changes_the_session_model(page, edge_url):
    session = await create_session(edge_url, "Picker")
    await page.goto(f"{edge_url}/#/chat/{session['id']}")
    picker = page.get_by_label("Provider and model for this chat")
    await expect(picker.locator("option")).not_to_have_count(1)  # the models arrived
    options = await picker.locator("option").evaluate_all("os => os.map(o => o.value).filter(v => v)")
    choice = options[-1]  # not the default model: the change must show
    await picker.select_option(choice)
    provider, model = choice.split("|")
    stored = await wait_session(edge_url, session["id"], lambda s: s["llm_provider"] == provider)
    assert stored["llm_model"] == (model or None)
    await send(page, "Which model? [[tokens:2]] [[rate:0]]")
    await wait_status(last_answer(page), "complete")
    # The answer names the model it came from (provider/model in the tooltip).
    model_part = last_answer(page).locator(".meta-part").first
    assert await model_part.get_attribute("title") == f"model {provider}/{model}"
