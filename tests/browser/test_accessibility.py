"""Keyboard-only use, labels, the polite live region, and the layout at phone and desktop widths."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import answer_text, last_answer, message_box, tokens_of, wait_status

pytestmark = pytest.mark.browser


def focused(page) -> dict:
    return page.evaluate(
        "() => { const e = document.activeElement; return {tag: e.tagName, label: e.getAttribute('aria-label'),"
        " text: (e.textContent || '').trim().slice(0, 60)} }"
    )


def tab_to(page, predicate, limit: int = 40) -> dict:
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if predicate(now):
            return now
    raise AssertionError(f"no focusable element matched within {limit} Tab presses")


def test_the_whole_flow_works_by_keyboard(page, edge_url):
    page.goto(f"{edge_url}/#/chat")
    expect(message_box(page)).to_be_visible()
    # New chat, from the top of the page, by keyboard alone.
    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "New chat")
    page.keyboard.press("Enter")
    page.wait_for_url("**/#/chat/*")
    tab_to(page, lambda f: f["tag"] == "TEXTAREA" and f["label"] == "Message")
    page.keyboard.type("Typed by keyboard")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("[[tokens:12]] [[rate:0]]")
    page.keyboard.press("Enter")
    answer = last_answer(page)
    wait_status(answer, "complete")
    assert tokens_of(answer_text(answer)) == list(range(12))
    expect(page.locator("article.msg.user .plain")).to_have_text("Typed by keyboard\n[[tokens:12]] [[rate:0]]")
    # Regenerate is reachable and works from the keyboard too.
    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "Regenerate")
    page.keyboard.press("Enter")
    expect(page.locator("article.msg.assistant")).to_have_count(2)
    wait_status(page.locator("article.msg.assistant").nth(1), "complete")
    # After regenerating, focus is back in the message box, ready for the next message.
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()
    # Rename the chat from the list, by keyboard.
    tab_to(page, lambda f: f["tag"] == "BUTTON" and (f["label"] or "").startswith("Rename"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("textbox", name="New title")).to_be_focused()
    page.keyboard.type("Keyboard chat")
    page.keyboard.press("Enter")
    expect(page.locator(".session.current .session-title")).to_have_text("Keyboard chat")


def test_every_control_has_a_name(page, edge_url):
    page.goto(f"{edge_url}/#/chat")
    message_box(page).fill("Names [[tokens:3]] [[rate:0]]")
    message_box(page).press("Enter")
    wait_status(last_answer(page), "complete")
    for url in (page.url, f"{edge_url}/#/"):
        page.goto(url)
        page.wait_for_timeout(500)
        unnamed = page.evaluate(
            """() => [...document.querySelectorAll('button, a[href], input, textarea, select')]
                .filter(e => e.offsetParent !== null || e.getClientRects().length)
                .filter(e => {
                  const label = e.getAttribute('aria-label') || e.getAttribute('title') || e.textContent.trim()
                    || (e.labels && [...e.labels].map(l => l.textContent.trim()).join('')) || e.getAttribute('placeholder');
                  return !label;
                })
                .map(e => e.outerHTML.slice(0, 120))"""
        )
        assert unnamed == [], unnamed


@pytest.mark.parametrize("browser_context", [{"width": 375, "height": 740}], indirect=True)
def test_a_phone_width_chat_works_without_horizontal_scrolling(page, edge_url):
    page.goto(f"{edge_url}/#/chat")
    message_box(page).fill(
        "Small screen [[reply:A long line with `code` and a block:\n\n```js\nconst x = 'a very long line of code that should scroll inside its own box and not widen the page';\n```\n]] [[rate:0]]"
    )
    message_box(page).press("Enter")
    wait_status(last_answer(page), "complete")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    # The chat list is a drawer on phones.
    expect(page.locator(".sidebar")).not_to_be_visible()
    page.get_by_role("button", name="Show chats").click()
    expect(page.get_by_role("navigation", name="Chats")).to_be_visible()
    page.locator(".session.current a").click()
    expect(page.locator(".sidebar")).not_to_be_visible()
