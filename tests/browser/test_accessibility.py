"""Keyboard-only use, labels, the polite live region, and the layout at phone width."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.helpers import answer_text, last_answer, message_box, tokens_of, wait_status

pytestmark = pytest.mark.browser


async def focused(page) -> dict:
    return await page.evaluate(
        "() => { const e = document.activeElement; return {tag: e.tagName, label: e.getAttribute('aria-label'),"
        " text: (e.textContent || '').trim().slice(0, 60)} }"
    )


async def tab_to(page, predicate, limit: int = 40) -> dict:
    for _ in range(limit):
        await page.keyboard.press("Tab")
        now = await focused(page)
        if predicate(now):
            return now
    raise AssertionError(f"no focusable element matched within {limit} Tab presses")


async def test_the_whole_flow_works_by_keyboard(page, edge_url):
    await page.goto(f"{edge_url}/#/chat")
    await expect(message_box(page)).to_be_visible()
    # A new chat, from the top of the page, by keyboard alone.
    await tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "New chat")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/#/chat/*")
    await expect(message_box(page)).to_be_focused()  # New chat lands in the message box
    await page.keyboard.type("Typed by keyboard")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("[[tokens:12]] [[rate:0]]")
    await page.keyboard.press("Enter")
    answer = last_answer(page)
    await wait_status(answer, "complete")
    assert tokens_of(await answer_text(answer)) == list(range(12))
    await expect(page.locator("article.msg.user .plain")).to_have_text("Typed by keyboard\n[[tokens:12]] [[rate:0]]")
    # Regenerate is reachable and works from the keyboard too.
    await tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "Regenerate")
    await page.keyboard.press("Enter")
    # The new answer takes the old one's place; the old one is a version behind the switcher.
    await expect(page.get_by_role("group", name="Version 2 of 2 of this answer")).to_be_visible()
    await expect(page.locator("article.msg.assistant")).to_have_count(1)
    await wait_status(page.locator("article.msg.assistant").last, "complete")
    # Focus went back to the message box, ready for the next message.
    await expect(message_box(page)).to_be_focused()
    # Rename the chat from the list, by keyboard.
    await tab_to(page, lambda f: f["tag"] == "BUTTON" and (f["label"] or "").startswith("Rename"))
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("textbox", name="New title")).to_be_focused()
    await page.keyboard.type("Keyboard chat")
    await page.keyboard.press("Enter")
    await expect(page.locator(".session.current .session-title")).to_have_text("Keyboard chat")


async def test_every_visible_control_has_a_name(page, edge_url):
    await page.goto(f"{edge_url}/#/chat")
    await message_box(page).fill("Names [[tokens:3]] [[rate:0]]")
    await message_box(page).press("Enter")
    await wait_status(last_answer(page), "complete")
    for url in (page.url, f"{edge_url}/#/"):
        await page.goto(url)
        await page.wait_for_timeout(500)
        unnamed = await page.evaluate(
            """() => [...document.querySelectorAll('button, a[href], input, textarea, select')]
                .filter(e => e.getClientRects().length)
                .filter(e => {
                  const label = e.getAttribute('aria-label') || e.getAttribute('title') || e.textContent.trim()
                    || (e.labels && [...e.labels].map(l => l.textContent.trim()).join(''));
                  return !label;
                })
                .map(e => e.outerHTML.slice(0, 120))"""
        )
        assert unnamed == [], unnamed


@pytest.mark.parametrize("browser_context", [{"width": 375, "height": 740}], indirect=True)
async def test_a_phone_width_chat_works_without_horizontal_scrolling(page, edge_url):
    await page.goto(f"{edge_url}/#/chat")
    code = "const x = 'a very long line of code that scrolls inside its own box and does not widen the page';"
    await message_box(page).fill(f"Small screen [[reply:Some `code` and a block:\n\n```js\n{code}\n```\n]] [[rate:0]]")
    await message_box(page).press("Enter")
    await wait_status(last_answer(page), "complete")
    wide = await page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > 375.5 && e.getClientRects().length)
            .map(e => `${e.tagName}.${e.className} right=${Math.round(e.getBoundingClientRect().right)}`)
            .slice(0, 8)"""
    )
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375, wide
    # Transient connection states have longer labels than "Live" (seen in CI: "Catching up…"
    # made the page 401 px wide); whichever the badge shows, the page keeps the phone's width.
    for label in ("Catching up…", "Reconnecting in 10 s", "Server unreachable"):
        await page.evaluate("t => { document.querySelector('.conn-badge .conn-text').textContent = t; }", label)
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375, label
    # The chat list is a drawer on phones.
    await expect(page.locator(".sidebar")).not_to_be_visible()
    await page.get_by_role("button", name="Show chats").click()
    await expect(page.get_by_role("navigation", name="Chats")).to_be_visible()
    await page.locator(".session.current a").click()
    await expect(page.locator(".sidebar")).not_to_be_visible()
