"""The session list: new, rename, delete, filter by title, most recent first."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import API, create_session, last_answer, post_message, send, wait_server, wait_status

pytestmark = pytest.mark.browser


def titles(page) -> list[str]:
    return page.locator(".sessions .session-title").all_inner_texts()


def test_sessions_new_rename_delete_and_filter(page, edge_url):
    for title in ("Alpha notes", "Beta plan", "Gamma beta test"):
        create_session(edge_url, title)
    page.goto(f"{edge_url}/#/chat")
    # `#/chat` opens the most recent chat; the list is most recent first.
    page.wait_for_url("**/#/chat/*")
    expect(page.locator(".sessions .session")).to_have_count(3)
    assert titles(page) == ["Gamma beta test", "Beta plan", "Alpha notes"]

    # Activity moves a chat to the top.
    alpha = next(s for s in httpx.get(f"{edge_url}{API}/chat/sessions").json() if s["title"] == "Alpha notes")
    post_message(edge_url, alpha["id"], "bump [[tokens:2]] [[rate:0]]")
    wait_server(
        edge_url, alpha["id"], lambda ms: any(m["status"] == "complete" and m["role"] == "assistant" for m in ms)
    )
    page.reload()
    expect(page.locator(".sessions .session-title").first).to_have_text("Alpha notes")

    # Filter by title (case-insensitive).
    page.get_by_label("Filter chats by title").fill("BETA")
    expect(page.locator(".sessions .session")).to_have_count(2)
    assert sorted(titles(page)) == ["Beta plan", "Gamma beta test"]
    page.get_by_label("Filter chats by title").fill("nothing like it")
    expect(page.get_by_text("No chat matches this filter.")).to_be_visible()
    page.get_by_label("Filter chats by title").fill("")
    expect(page.locator(".sessions .session")).to_have_count(3)

    # Rename.
    page.get_by_role("button", name="Rename “Beta plan”").click()
    box = page.get_by_role("textbox", name="New title")
    box.fill("Beta plan, renamed")
    box.press("Enter")
    expect(page.locator(".sessions")).to_contain_text("Beta plan, renamed")
    assert "Beta plan, renamed" in [s["title"] for s in httpx.get(f"{edge_url}{API}/chat/sessions").json()]

    # Renaming to nothing is refused with a message, and nothing changes.
    page.get_by_role("button", name="Rename “Beta plan, renamed”").click()
    page.get_by_role("textbox", name="New title").fill("   ")
    page.get_by_role("textbox", name="New title").press("Enter")
    expect(page.locator(".toast")).to_contain_text("A chat needs a title.")
    page.get_by_role("textbox", name="New title").press("Escape")
    expect(page.locator(".sessions")).to_contain_text("Beta plan, renamed")

    # Delete asks first; Cancel keeps it.
    page.get_by_role("button", name="Delete “Gamma beta test”").click()
    page.get_by_role("group", name="Delete “Gamma beta test”?").get_by_role("button", name="Cancel").click()
    expect(page.locator(".sessions .session")).to_have_count(3)
    page.get_by_role("button", name="Delete “Gamma beta test”").click()
    page.get_by_role("group", name="Delete “Gamma beta test”?").get_by_role("button", name="Delete").click()
    expect(page.locator(".sessions .session")).to_have_count(2)
    remaining = [s["title"] for s in httpx.get(f"{edge_url}{API}/chat/sessions").json()]
    assert "Gamma beta test" not in remaining

    # New chat.
    page.get_by_role("button", name="New chat").click()
    page.wait_for_url("**/#/chat/*")
    expect(page.locator(".sessions .session")).to_have_count(3)
    send(page, "Fresh start [[tokens:2]] [[rate:0]]")
    wait_status(last_answer(page), "complete")
    expect(page.locator(".chat-title")).to_have_text("Fresh start")


def test_deleting_the_open_chat_elsewhere_is_shown(page, edge_url):
    session = create_session(edge_url, "Short-lived")
    page.goto(f"{edge_url}/#/chat/{session['id']}")
    expect(page.locator(".conn-badge")).to_have_attribute("data-phase", "live")
    httpx.delete(f"{edge_url}{API}/chat/sessions/{session['id']}").raise_for_status()
    expect(page.locator(".conn-badge")).to_have_attribute("data-phase", "gone")
    expect(page.get_by_role("alert")).to_contain_text("This chat was deleted or does not exist.")


def test_an_unknown_chat_says_so(page, edge_url):
    page.goto(f"{edge_url}/#/chat/00000000-0000-4000-8000-000000000000")
    expect(page.locator(".conn-badge")).to_have_attribute("data-phase", "gone")
    expect(page.get_by_role("alert")).to_contain_text("This chat was deleted or does not exist.")


def test_the_model_picker_changes_the_session_model(page, edge_url):
    session = create_session(edge_url, "Picker")
    page.goto(f"{edge_url}/#/chat/{session['id']}")
    picker = page.get_by_label("Provider and model for this chat")
    expect(picker.locator("option")).not_to_have_count(1)  # models arrived
    options = picker.locator("option").evaluate_all("os => os.map(o => o.value).filter(v => v)")
    choice = options[0]
    picker.select_option(choice)
    provider, model = choice.split("|")
    stored = wait_server_session(edge_url, session["id"], lambda s: s["llm_provider"] == provider)
    assert stored["llm_model"] == (model or None)
    send(page, "Which model? [[tokens:2]] [[rate:0]]")
    wait_status(last_answer(page), "complete")
    assert provider in last_answer(page).locator(".meta").inner_text()


def wait_server_session(edge_url: str, sid: str, check, timeout: float = 10.0) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session = httpx.get(f"{edge_url}{API}/chat/sessions/{sid}", timeout=5).json()
        if check(session):
            return session
        time.sleep(0.1)
    raise AssertionError(f"session never matched: {session}")
