"""Every Enter sends to the chat on screen (issue 16, defects 1, 2 and 7), with 150 ms added to
every REST call: Enter right after New chat, after switching chats and after a page load; no
message in the wrong chat; no empty chats."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.helpers import (
    answered,
    create_session,
    message_box,
    post_message,
    send,
    server_messages,
    session_id,
    sessions,
    slow_api,
    wait_live,
    wait_server,
)

pytestmark = pytest.mark.browser


def prompts(messages: list[dict]) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "user"]


async def enter(page, text: str) -> None:
    """Type and press Enter at once: no waiting for the chat to be created, opened or connected."""
    box = message_box(page)
    await box.fill(text)
    await box.press("Enter")
    # Taken: the box empties at once (a silently ignored Enter leaves the text in it).
    await expect(box).to_have_value("", timeout=1_000)


async def test_every_enter_lands_in_the_chat_on_screen(page, edge_url):
    a = await create_session(edge_url, "Chat A")
    await post_message(edge_url, a["id"], "first in A [[tokens:2]] [[rate:0]]")
    b = await create_session(edge_url, "Chat B")
    await post_message(edge_url, b["id"], "first in B [[tokens:2]] [[rate:0]]")
    await answered(edge_url, a["id"], 1)
    await answered(edge_url, b["id"], 1)
    await slow_api(page, 150)

    # Right after a page load.
    await page.goto(f"{edge_url}/#/chat/{a['id']}")
    await enter(page, "after load [[tokens:2]] [[rate:0]]")
    await wait_server(edge_url, a["id"], lambda ms: "after load [[tokens:2]] [[rate:0]]" in prompts(ms))

    # Right after switching chats: to B, not A.
    await page.locator(".session a", has_text="Chat B").click()
    await enter(page, "after switch [[tokens:2]] [[rate:0]]")
    await wait_server(edge_url, b["id"], lambda ms: "after switch [[tokens:2]] [[rate:0]]" in prompts(ms))

    # Typed in B, New chat, Enter at once (and a second Enter before the chat exists): both go
    # to one new chat, in order, and the view stays on it.
    await message_box(page).fill("typed before New chat [[tokens:2]] [[rate:0]]")
    await page.get_by_role("button", name="New chat", exact=True).click()
    await message_box(page).press("Enter")
    await expect(message_box(page)).to_have_value("", timeout=1_000)
    await enter(page, "second, queued [[tokens:2]] [[rate:0]]")
    await expect(page).not_to_have_url(f"{edge_url}/#/chat/new")  # the new chat got its id
    new_id = await session_id(page)
    assert new_id not in (a["id"], b["id"])
    stored = await wait_server(edge_url, new_id, lambda ms: len(prompts(ms)) == 2)
    assert prompts(stored) == [
        "typed before New chat [[tokens:2]] [[rate:0]]",
        "second, queued [[tokens:2]] [[rate:0]]",
    ]
    await expect(page.locator("article.msg.user")).to_have_count(2)

    # Nothing went to the wrong chat.
    assert prompts(await server_messages(edge_url, a["id"])) == [
        "first in A [[tokens:2]] [[rate:0]]",
        "after load [[tokens:2]] [[rate:0]]",
    ]
    assert prompts(await server_messages(edge_url, b["id"])) == [
        "first in B [[tokens:2]] [[rate:0]]",
        "after switch [[tokens:2]] [[rate:0]]",
    ]

    # New chat pressed three times and left alone creates nothing: no empty chats pile up.
    for _ in range(3):
        await page.get_by_role("button", name="New chat", exact=True).click()
        await expect(page).to_have_url(f"{edge_url}/#/chat/new")
    await page.goto(f"{edge_url}/#/")
    await expect(page.get_by_role("region", name="Chat")).to_be_visible()
    await page.wait_for_timeout(500)
    listed = await sessions(edge_url)
    assert sorted(s["title"] for s in listed) == ["Chat A", "Chat B", "typed before New chat"]
    assert all(s["message_count"] > 0 for s in listed)


async def test_start_chat_on_the_dashboard_creates_the_chat_with_its_first_message(page, edge_url):
    await slow_api(page, 150)
    await page.goto(f"{edge_url}/#/")
    preview = page.get_by_role("region", name="Chat")
    await preview.get_by_role("button", name="Start chat").click()
    box = preview.get_by_role("textbox", name="Message")
    await expect(box).to_be_focused()
    await page.wait_for_timeout(400)
    assert await sessions(edge_url) == []  # nothing on the server before the first message
    await box.fill("from the dashboard [[tokens:3]] [[rate:0]]")
    await box.press("Enter")
    await expect(box).to_have_value("", timeout=1_000)
    await box.fill("and again [[tokens:2]] [[rate:0]]")
    await box.press("Enter")
    await expect(box).to_have_value("", timeout=1_000)
    await expect(preview.locator(".preview-msg.user").last).to_contain_text("and again")
    listed = await sessions(edge_url)
    assert [s["title"] for s in listed] == ["from the dashboard"]
    stored = await wait_server(edge_url, listed[0]["id"], lambda ms: len(prompts(ms)) == 2)
    assert prompts(stored) == ["from the dashboard [[tokens:3]] [[rate:0]]", "and again [[tokens:2]] [[rate:0]]"]


async def test_a_send_that_lost_its_connection_is_made_again_and_stored_once(page, edge_url):
    """The first POST of a send dies on the way (a dropped connection, an edge killed mid-send):
    the page makes it again with the same client_message_id, unasked, and the answer comes."""
    chat = await create_session(edge_url, "Lost send")
    posts: list[str] = []

    async def drop_the_first(route) -> None:
        posts.append(route.request.post_data_json["client_message_id"])
        if len(posts) == 1:
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await page.route(re.compile(r".*/api/v1/chat/sessions/[^/]+/messages$"), drop_the_first)
    await page.goto(f"{edge_url}/#/chat/{chat['id']}")
    await wait_live(page)
    await send(page, "lost once [[tokens:3]] [[rate:0]]")
    stored = await answered(edge_url, chat["id"], 1)
    assert prompts(stored) == ["lost once [[tokens:3]] [[rate:0]]"]
    assert len(posts) == 2 and posts[0] == posts[1]  # made again, as the same message
    await expect(page.locator("article.msg.user")).to_have_count(1)
    await expect(page.get_by_text("Not sent:")).to_have_count(0)
