"""Connection states that tell the truth (issue 16, defects 5 and 6): no "server not reachable"
banner or "Sending is disabled" flash on a chat switch, a reconnect countdown that matches when
the retry really comes, and a status region that does not speak every second."""

from __future__ import annotations

import re
import time

import pytest
from playwright.async_api import expect

from tests.browser.helpers import answered, create_session, post_message, retry_now, wait_live

pytestmark = pytest.mark.browser

WATCH = """() => {
  window.__flashes = [];
  const seen = (e) => {
    for (const el of document.querySelectorAll('.banner, .blocked')) window.__flashes.push(el.textContent.trim());
  };
  new MutationObserver(seen).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""

SAMPLE = """() => {
  window.__samples = [];
  window.__spoken = [];
  const region = () => document.querySelector('.conn [role=status]');
  let last = region()?.textContent;
  window.__sampler = setInterval(() => {
    const badge = document.querySelector('.conn-badge');
    window.__samples.push([Date.now(), badge.dataset.phase, badge.querySelector(".conn-text").textContent]);
    const now = region()?.textContent;
    if (now !== last) { window.__spoken.push(now); last = now; }
  }, 20);
}"""


async def test_connection_states_tell_the_truth(page, edge_url):
    chats = []
    for title in ("First", "Second"):
        chat = await create_session(edge_url, title)
        await post_message(edge_url, chat["id"], f"{title} [[tokens:3]] [[rate:0]]")
        chats.append(chat)
    for chat in chats:
        await answered(edge_url, chat["id"], 1)

    # Both chats seen once, so this browser holds their history (IndexedDB).
    for chat in chats:
        await page.goto(f"{edge_url}/#/chat/{chat['id']}")
        await wait_live(page)
        await expect(page.locator("article.msg.assistant")).to_have_count(1)
        await page.wait_for_timeout(1000)  # the history is written to the browser's store

    # Switching chats: no banner, no blocked composer, not even for a frame.
    await page.evaluate(WATCH)
    for i in range(4):
        chat = chats[i % 2]
        await page.locator(".session a", has_text=re.compile(f"^{chat['title']}")).click()
        await wait_live(page)
        await expect(page.locator(".chat-title")).to_have_text(chat["title"])
    assert await page.evaluate("window.__flashes") == []

    # A lost connection whose retries fail: the countdown says when the retry really comes.
    await page.wait_for_timeout(2500)  # the badge has been on screen a while (a stale clock shows)
    sockets = re.compile(r".*/chat/websocket/.*")

    refusing = True
    opened: list[float] = []  # when the page opened each socket: the moment a retry really happens

    async def refuse(ws) -> None:
        opened.append(time.time() * 1000)  # the same clock as the page's Date.now()
        if refusing:
            await ws.close(code=1013, reason="try again later")
        else:
            ws.connect_to_server()

    await page.route_web_socket(sockets, refuse)
    await page.evaluate(SAMPLE)
    await page.evaluate("window.parley.drop()")
    await page.wait_for_timeout(7000)
    await page.evaluate("clearInterval(window.__sampler)")
    samples = await page.evaluate("window.__samples")
    retries = [at for at in opened if at <= samples[-1][0] + 50]  # not the Retry now below
    spoken = await page.evaluate("window.__spoken")
    refusing = False
    await retry_now(page)
    await wait_live(page, ms=30_000)

    # Each "Reconnecting in N s" shown at time t is followed by the retry (the next socket)
    # within N s of t, and not more than a second earlier than that (give or take the 100 ms the
    # badge may lag and the time the test takes to see the socket).
    countdowns = 0
    for t, phase, text in samples:
        shown = re.fullmatch(r"Reconnecting in (\d+) s", text)
        if phase != "waiting" or not shown:
            continue
        retry = next((at for at in retries if at >= t), None)
        if retry is None:
            continue  # still waiting when sampling stopped
        n = int(shown.group(1))
        countdowns += 1
        assert (n - 1) * 1000 - 250 <= retry - t <= n * 1000 + 250, (text, retry - t)
    assert countdowns >= 10, samples[:20]
    # Screen readers hear the state change, not every tick of the countdown.
    assert 1 <= len(spoken) <= 2, spoken
