"""The audit view and Export/Import in the chat tools menu, in Chromium against the real system,
driven from the keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.helpers import answered, create_session, post_message, sessions, wait_live

pytestmark = pytest.mark.browser


async def test_audit_view_shows_the_timeline_and_replays_an_answer(page, edge_url):
    session = await create_session(edge_url, "Audited")
    await post_message(edge_url, session["id"], "hello [[tokens:12]] [[rate:40]]")
    (_, answer) = await answered(edge_url, session["id"], 1)
    await page.goto(f"{edge_url}/#/chat/{session['id']}")
    await wait_live(page)

    tools = page.get_by_role("button", name="Chat tools")
    await tools.focus()
    await page.keyboard.press("Enter")
    await expect(tools).to_have_attribute("aria-expanded", "true")
    audit_item = page.get_by_role("button", name="Audit view")
    await expect(audit_item).to_be_focused()  # the menu takes focus
    await page.keyboard.press("Enter")

    dialog = page.get_by_role("dialog", name=re.compile("Audit: Audited"))
    await expect(dialog).to_be_visible()
    rows = dialog.get_by_role("region", name="Event timeline").locator("tbody tr")
    await expect(rows.first).to_have_attribute("data-type", "session.created")
    for kind in ("message.submitted", "generation.requested", "generation.started", "generation.completed"):
        await expect(rows.filter(has=page.locator(f'code:text-is("{kind}")')).first).to_be_visible()
    seqs = [int(t) for t in await rows.locator("td:first-child").all_inner_texts()]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    item = dialog.locator(f'[data-message-id="{answer["id"]}"]')
    await expect(item).to_contain_text("attempt 1: local/")

    replay = item.get_by_role("button", name="Replay")
    await replay.focus()
    await page.keyboard.press("Enter")
    out = item.locator(".replay-out")
    await expect(out).to_have_attribute("data-playing", "true")
    await expect(out).to_have_attribute("data-playing", "false", timeout=20_000)
    await expect(out).to_have_text(answer["content"])

    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(tools).to_be_focused()


async def test_export_and_import_from_the_chat_tools(page, edge_url, tmp_path):
    session = await create_session(edge_url, "Round trip")
    await post_message(edge_url, session["id"], "first [[tokens:5]] [[rate:0]]")
    messages = await answered(edge_url, session["id"], 1)
    await page.goto(f"{edge_url}/#/chat/{session['id']}")
    await wait_live(page)

    tools = page.get_by_role("button", name="Chat tools")
    await tools.click()
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Export as JSON").click()
    download = await info.value
    assert download.suggested_filename == f"parley-{session['id']}.json"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert '"format":"parley.export/1"' in saved.read_text()

    await tools.click()
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Export as Markdown").click()
    markdown = tmp_path / "chat.md"
    await (await info.value).save_as(markdown)
    assert markdown.read_text().startswith("# Round trip")

    # Import: a new chat of ours with the same messages; the UI opens it.
    await page.get_by_label("Chat export to import").set_input_files(str(saved))
    await expect(page).not_to_have_url(re.compile(re.escape(session["id"])))
    await expect(page.get_by_role("heading", name="Round trip")).to_be_visible()
    await expect(page.locator("article.msg")).to_have_count(2)
    await expect(page.locator("article.msg.assistant")).to_contain_text(messages[1]["content"])
    titles = [s["title"] for s in await sessions(edge_url)]
    assert titles.count("Round trip") == 2
