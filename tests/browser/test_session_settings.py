"""The chat settings panel: opened and used by keyboard, checked as the API checks, stored on
the session, and sent to the model with the next answer (the scripted provider's record)."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.helpers import API, api, create_session, send, wait_live

pytestmark = pytest.mark.browser


async def test_settings_panel_by_keyboard_validates_then_applies(page, edge_url, system):
    sid = (await create_session(edge_url, "Tuned"))["id"]
    await page.goto(f"{edge_url}/#/chat/{sid}")
    await wait_live(page)
    opener = page.get_by_role("button", name="Chat settings")
    await opener.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Chat settings")
    await expect(dialog).to_be_visible()

    # Escape closes and gives focus back to the button.
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(opener).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()

    prompt = dialog.get_by_label("System prompt")
    await prompt.focus()
    await page.keyboard.type("Answer like a pirate")
    await page.keyboard.press("Tab")
    await page.keyboard.type("2.5")  # temperature: out of range
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await page.keyboard.type("64")  # max tokens
    await dialog.get_by_role("button", name="Save").click()
    temperature = dialog.get_by_label("Temperature")
    await expect(dialog.get_by_role("alert")).to_contain_text("Temperature must be between 0 and 2")
    await expect(temperature).to_be_focused()
    await expect(temperature).to_have_attribute("aria-invalid", "true")
    # Nothing reached the server.
    stored = (await api("GET", f"{edge_url}{API}/chat/sessions/{sid}")).json()
    assert stored["settings"]["system_prompt"] is None

    await temperature.fill("0.3")
    await page.keyboard.press("Enter")  # submits the form
    await expect(dialog).to_be_hidden()
    stored = (await api("GET", f"{edge_url}{API}/chat/sessions/{sid}")).json()
    assert stored["settings"] == {
        "system_prompt": "Answer like a pirate",
        "temperature": 0.3,
        "top_p": None,
        "max_tokens": 64,
    }

    # Reopened, it shows what is stored; the next answer is asked with these settings.
    await page.keyboard.press("Enter")
    await expect(dialog.get_by_label("Max tokens")).to_have_value("64")
    await page.keyboard.press("Escape")
    async with httpx.AsyncClient() as client:
        await client.delete(f"{system.llm_url}/_record")
    await send(page, "ahoy")
    await expect(page.locator("article.msg.assistant").last).to_have_attribute("data-status", "complete")
    async with httpx.AsyncClient() as client:
        (record,) = (await client.get(f"{system.llm_url}/_record")).json()
    assert record["messages"][0] == {"role": "system", "content": "Answer like a pirate"}
    assert record["params"]["temperature"] == 0.3 and record["params"]["max_tokens"] == 64
