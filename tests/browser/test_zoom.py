"""200 % zoom (WCAG 1.4.10 reflow): a 1280 × 800 window at 200 % is a 640 × 400 CSS-pixel
viewport at device scale 2. Every screen and dialog reflows without horizontal scrolling, and a
message can be written, sent and read by keyboard."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.helpers import message_box

pytestmark = pytest.mark.browser


async def no_sideways_scroll(page, where: str) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 640, f"{where}: the page is {width} px wide at 200 % zoom"


async def test_every_screen_reflows_at_200_percent_zoom(chromium, edge_url):
    context = await chromium.new_context(viewport={"width": 640, "height": 400}, device_scale_factor=2)
    page = await context.new_page()
    try:
        await page.goto(f"{edge_url}/#/")
        await expect(page.get_by_role("heading", level=1).first).to_be_visible()
        await no_sideways_scroll(page, "dashboard")

        await page.goto(f"{edge_url}/#/chat")
        box = message_box(page)
        await expect(box).to_be_visible()
        await box.focus()
        await page.keyboard.type("Zoomed in [[tokens:8]] [[rate:0]]")
        await page.keyboard.press("Enter")
        answer = page.locator("article.msg.assistant").last
        await expect(answer).to_have_attribute("data-status", "complete")
        await expect(answer).to_be_in_viewport()
        await no_sideways_scroll(page, "chat")

        await page.keyboard.press("Control+k")
        search = page.get_by_role("searchbox", name="Search all conversations")
        await expect(search).to_be_focused()
        await no_sideways_scroll(page, "search dialog")
        await page.keyboard.press("Escape")

        await page.get_by_role("button", name="Chat settings").click()
        dialog = page.get_by_role("dialog", name="Chat settings")
        await expect(dialog).to_be_visible()
        assert (await dialog.bounding_box())["width"] <= 640
        await no_sideways_scroll(page, "settings dialog")
        await page.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()
    finally:
        await context.close()
