"""Versions and branches in the UI, by keyboard: Regenerate keeps both answers behind a
"‹ 1 / 2 ›" switcher, editing a sent message starts a new branch (its answer never saw the old
one), and switching versions shows each branch's own continuation."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.helpers import send, wait_cached, wait_live

pytestmark = pytest.mark.browser


async def test_regenerate_switcher_and_edit_branches(page, edge_url, system):
    async with httpx.AsyncClient() as llm:

        async def reply(text: str) -> None:
            await llm.post(f"{system.llm_url}/_script", json={"reply": text, "rate": 0})

        await page.goto(f"{edge_url}/#/chat")
        await reply("first answer")
        await send(page, "hello there")
        answers = page.locator("article.msg.assistant")
        await expect(answers.last).to_have_attribute("data-status", "complete")
        await wait_live(page)

        await reply("second answer")
        await page.get_by_role("button", name="Regenerate").click()
        await expect(answers).to_have_count(1)  # the old answer is a version, not a second bubble
        await expect(answers.last).to_contain_text("second answer")
        await expect(answers.last).to_have_attribute("data-status", "complete")
        switch = page.get_by_role("group", name="Version 2 of 2 of this answer")
        await expect(switch).to_be_visible()

        previous = page.get_by_role("button", name="Previous version of this answer")
        await previous.focus()
        await page.keyboard.press("Enter")
        await expect(answers.last).to_contain_text("first answer")
        await expect(page.get_by_role("group", name="Version 1 of 2 of this answer")).to_be_visible()
        await page.get_by_role("button", name="Next version of this answer").press("Enter")
        await expect(answers.last).to_contain_text("second answer")

        await reply("third answer")
        await send(page, "and a follow-up")
        await expect(answers).to_have_count(2)
        await expect(answers.last).to_have_attribute("data-status", "complete")

        # Edit the follow-up by keyboard: a new branch, answered without the old follow-up.
        await reply("edited answer")
        await llm.delete(f"{system.llm_url}/_record")
        mine = page.locator("article.msg.user")
        await mine.last.get_by_role("button", name="Edit your message").press("Enter")
        box = page.get_by_role("textbox", name="Edit your message")
        await expect(box).to_be_focused()
        await box.fill("and a better follow-up")
        await page.keyboard.press("Enter")
        await expect(mine.last).to_contain_text("and a better follow-up")
        await expect(answers.last).to_contain_text("edited answer")
        await expect(answers.last).to_have_attribute("data-status", "complete")
        await expect(page.get_by_role("group", name="Version 2 of 2 of this message")).to_be_visible()
        await expect(mine).to_have_count(2)
        (record,) = (await llm.get(f"{system.llm_url}/_record")).json()
        contents = [m["content"] for m in record["messages"]]
        assert contents == ["hello there", "second answer", "and a better follow-up"]

        # The old branch, with its own answer, is one switch away.
        await page.get_by_role("button", name="Previous version of this message").press("Enter")
        await expect(mine.last).to_contain_text("and a follow-up")
        await expect(answers.last).to_contain_text("third answer")

        # A reload shows the newest branch, switchers included, even where the browser's cache
        # already holds its messages as frames made them (no siblings listed).
        await wait_cached(page, "edited answer")
        await page.reload()
        await expect(mine.last).to_contain_text("and a better follow-up")
        await expect(page.get_by_role("group", name="Version 2 of 2 of this message")).to_be_visible()
        await expect(page.get_by_role("group", name="Version 2 of 2 of this answer")).to_be_visible()
