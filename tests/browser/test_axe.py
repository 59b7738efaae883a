"""axe-core (Deque's accessibility engine, from the web UI's npm devDependencies) on every screen,
light and dark, at desktop and phone width: no serious or critical violation (issue 16)."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import expect

from tests.browser.conftest import WEB
from tests.browser.helpers import answered, create_session, message_box, post_message, wait_server

pytestmark = pytest.mark.browser

AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"


async def violations(page) -> list[dict]:
    found = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}))"""
    )
    return found


async def check(page, where: str, seen: dict) -> None:
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.wait_for_timeout(150)  # transitions of colours settle
        found = await violations(page)
        if found:
            seen[f"{where} ({scheme})"] = found


async def test_axe_finds_no_serious_violation_on_any_screen(page, browser_context, edge_url):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` in {WEB}")
    chat = await create_session(edge_url, "Checked by axe")
    await post_message(
        edge_url,
        chat["id"],
        "Some **markdown** [[reply:A list:\n\n- one\n- two\n\n```python\nx = 1\n```\n]] [[rate:0]]",
    )
    await post_message(edge_url, chat["id"], "Break [[tokens:9]] [[fail_after:3]] [[rate:0]]")
    await wait_server(
        edge_url, chat["id"], lambda ms: [m["status"] for m in ms if m["role"] == "assistant"] == ["complete", "failed"]
    )
    await answered(edge_url, chat["id"], 2)
    seen: dict[str, list] = {}
    # Injected into every page before its own scripts (an inline <script> would break the CSP).
    await page.add_init_script(path=str(AXE))

    await page.goto(f"{edge_url}/#/")
    await expect(page.get_by_role("region", name="Models").locator("li").first).to_be_visible()
    await check(page, "dashboard", seen)

    await page.goto(f"{edge_url}/#/chat/{chat['id']}")
    await expect(page.locator("article.msg.assistant")).to_have_count(2)
    await check(page, "chat", seen)

    await page.get_by_role("button", name="Delete “Checked by axe”").click()
    await check(page, "delete confirmation", seen)
    await page.keyboard.press("Escape")

    await page.get_by_role("button", name="New chat", exact=True).click()
    await expect(message_box(page)).to_be_focused()
    await check(page, "new chat", seen)

    await page.set_viewport_size({"width": 375, "height": 740})
    await page.goto(f"{edge_url}/#/chat/{chat['id']}")
    await expect(page.locator("article.msg.assistant")).to_have_count(2)
    await check(page, "chat, phone", seen)
    await page.get_by_role("button", name="Show chats").click()
    await expect(page.get_by_role("dialog", name="Chats")).to_be_visible()
    await check(page, "chat list drawer, phone", seen)
    await page.keyboard.press("Escape")
    await page.goto(f"{edge_url}/#/")
    await expect(page.get_by_role("region", name="Models").locator("li").first).to_be_visible()
    await check(page, "dashboard, phone", seen)

    assert seen == {}, json.dumps(seen, indent=1)
