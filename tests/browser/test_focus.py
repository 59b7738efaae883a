"""Focus goes where the user is (issue 16, defects 3 and 4): route changes focus their heading;
New chat, Start chat and Open full chat land in the message box; Stop and delete leave focus
somewhere sensible; the delete confirmation and the phone drawer keep focus and close on Escape."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.helpers import (
    answered,
    create_session,
    last_answer,
    message_box,
    post_message,
    send,
    wait_status,
    wait_tokens,
)

pytestmark = pytest.mark.browser


async def focused(page) -> str:
    """The focused element, as tag#id.class[aria-label] text (enough to tell them apart)."""
    return await page.evaluate(
        """() => { const e = document.activeElement;
          return `${e.tagName.toLowerCase()}.${e.className}[${e.getAttribute('aria-label') || ''}] ${(e.textContent || '').trim().slice(0, 40)}` }"""
    )


async def test_focus_follows_every_action(page, edge_url):
    # Start chat on the dashboard, then Open full chat: both land in the message box.
    await page.goto(f"{edge_url}/#/")
    preview = page.get_by_role("region", name="Chat")
    await preview.get_by_role("button", name="Start chat").click()
    await expect(preview.get_by_role("textbox", name="Message")).to_be_focused()
    await preview.get_by_role("textbox", name="Message").fill("first [[tokens:2]] [[rate:0]]")
    await preview.get_by_role("textbox", name="Message").press("Enter")
    await expect(preview.locator(".preview-msg").last).to_have_attribute("data-status", "complete")
    await preview.get_by_role("link", name="Open full chat").click()
    await page.wait_for_url("**/#/chat/*")
    await expect(message_box(page)).to_be_focused()

    # A route change focuses the new screen's heading.
    await page.get_by_role("link", name="Dashboard", exact=True).click()
    await expect(page.get_by_role("heading", name="LLM dashboard")).to_be_focused()
    await page.get_by_role("navigation", name="Screens").get_by_role("link", name="Chat").click()
    await expect(page.locator("h1.chat-title")).to_be_focused()

    # New chat: straight into the message box.
    await page.get_by_role("button", name="New chat", exact=True).click()
    await expect(message_box(page)).to_be_focused()

    # Stop: focus stays in the message box, not on <body> when the button goes.
    await send(page, "long one [[tokens:400]] [[rate:20]]")
    await wait_tokens(last_answer(page), 3)
    await page.locator("form.composer").get_by_role("button", name="Stop").click()
    await wait_status(last_answer(page), "cancelled")
    await expect(message_box(page)).to_be_focused()

    # The delete confirmation: Escape closes it from any of its buttons and focus returns to
    # the button that opened it; Tab stays inside it.
    row = page.locator(".session.current")
    title = (await row.locator(".session-title").inner_text()).strip()
    await page.get_by_role("button", name=f"Delete “{title}”").click()
    confirm = page.get_by_role("group", name=f"Delete “{title}”?")
    await expect(confirm.get_by_role("button", name="Delete")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(confirm.get_by_role("button", name="Delete")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(confirm).to_have_count(0)
    await expect(page.get_by_role("button", name=f"Delete “{title}”")).to_be_focused()

    # Deleting the open chat: focus goes to the heading of what is shown next, not <body>.
    await page.get_by_role("button", name=f"Delete “{title}”").click()
    await confirm.get_by_role("button", name="Delete").click()
    await expect(page.locator(".session", has_text=title)).to_have_count(0)
    await expect(page.locator("h1.chat-title")).to_be_focused()
    assert not (await focused(page)).startswith("body")


@pytest.mark.parametrize("browser_context", [{"width": 375, "height": 740}], indirect=True)
async def test_the_phone_drawer_keeps_focus_and_stop_has_a_name(page, edge_url):
    chat = await create_session(edge_url, "On the phone")
    await post_message(edge_url, chat["id"], "hello [[tokens:2]] [[rate:0]]")
    await answered(edge_url, chat["id"], 1)
    await page.goto(f"{edge_url}/#/chat/{chat['id']}")
    # The placeholder fits and says nothing about a Shift key phones do not have.
    placeholder = await message_box(page).get_attribute("placeholder")
    assert "Shift" not in placeholder
    assert await message_box(page).evaluate("e => e.scrollWidth <= e.clientWidth")

    menu = page.get_by_role("button", name="Show chats")
    await menu.click()
    drawer = page.get_by_role("dialog", name="Chats")
    await expect(drawer.get_by_role("button", name="New chat", exact=True)).to_be_focused()
    # Tab and Shift+Tab stay in the drawer.
    for _ in range(8):
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.closest('#chat-list') !== null"), await focused(page)
    for _ in range(3):
        await page.keyboard.press("Shift+Tab")
        assert await page.evaluate("document.activeElement.closest('#chat-list') !== null"), await focused(page)
    await page.keyboard.press("Escape")
    await expect(page.locator(".sidebar")).not_to_be_visible()
    await expect(menu).to_be_focused()

    # Stop has an accessible name though its label is hidden at this width.
    await send(page, "streaming [[tokens:400]] [[rate:20]]")
    await wait_tokens(last_answer(page), 2)
    stop = page.locator("form.composer button.danger")
    await expect(stop).to_have_accessible_name("Stop the answer")
    await stop.click()
    await wait_status(last_answer(page), "cancelled")
