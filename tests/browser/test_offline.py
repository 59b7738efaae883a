"""With the server gone, the history this browser saw is still shown, and sending waits."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from playwright.async_api import expect

from tests.browser.helpers import (
    answer_text,
    composer,
    last_answer,
    open_new_chat,
    retry_now,
    send,
    session_id,
    tokens_of,
    wait_live,
    wait_status,
)

pytestmark = pytest.mark.browser

# True once this browser's IndexedDB holds the session and its two messages.
SAVED = """sid => new Promise(resolve => {
  const open = indexedDB.open('parley');
  open.onerror = () => resolve(false);
  open.onsuccess = () => {
    const db = open.result;
    const tx = db.transaction(['sessions', 'messages']);
    const session = tx.objectStore('sessions').get(sid);
    const all = tx.objectStore('messages').getAll();
    tx.oncomplete = () => {
      db.close();
      // Both messages, the answer as it ended (an earlier save holds it still pending and empty).
      const mine = all.result.filter(m => m.session_id === sid);
      resolve(Boolean(session.result) && mine.length === 2 && mine.some(m => m.role === 'assistant' && m.status === 'complete'));
    };
  };
})"""


async def test_history_is_shown_from_the_browser_when_the_server_is_unreachable(page, system, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, "Remember this [[tokens:9]] [[rate:0]]")
    await wait_status(last_answer(page), "complete")
    sid = await session_id(page)
    await page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)
    # The history is written to IndexedDB shortly after it changes.
    for _ in range(100):
        if await page.evaluate(SAVED, sid):
            break
        await page.wait_for_timeout(100)
    else:
        raise AssertionError("the chat never reached IndexedDB")

    edge = system.process("edge-0")
    await asyncio.to_thread(edge.stop)
    await page.reload()  # the app shell comes from the service worker, the history from IndexedDB
    await expect(page.locator(".banner")).to_contain_text("history saved in this browser")
    answer = last_answer(page)
    try:
        await expect(answer.locator(".bubble .md")).to_be_visible()
    except AssertionError as exc:  # seen once in CI, not reproduced: say what the page showed
        shown = await page.locator(".chat-main").inner_html()
        raise AssertionError(f"no answer shown from the cache; the page held: {shown[:3000]}") from exc
    assert tokens_of(await answer_text(answer)) == list(range(9))
    await expect(page.locator("article.msg.user .plain")).to_have_text("Remember this [[tokens:9]] [[rate:0]]")
    await expect(page.locator(".sessions")).to_contain_text("Remember this")
    await expect(composer(page).locator(".blocked")).to_contain_text("Sending is disabled")
    await composer(page).get_by_role("textbox", name="Message").fill("not yet")
    await expect(composer(page).get_by_role("button", name="Send message")).to_be_disabled()

    await asyncio.to_thread(edge.start)
    await retry_now(page)
    await wait_live(page, ms=30_000)
    await expect(page.locator(".banner")).to_have_count(0)
    await send(page, "Back [[tokens:2]] [[rate:0]]")
    await expect(page.locator("article.msg.assistant")).to_have_count(2)
    await wait_status(last_answer(page), "complete")
    assert tokens_of(await answer_text(last_answer(page))) == [0, 1]
    assert await session_id(page) == sid


# Every URL the page's origin holds in Cache Storage, by cache.
CACHED = """async () => {
  const found = {};
  for (const name of await caches.keys()) {
    found[name] = (await (await caches.open(name)).keys()).map(r => new URL(r.url).pathname);
  }
  return found;
}"""


async def test_a_running_server_serves_its_current_build_and_the_api_is_never_cached(
    page, make_system, web_dist, tmp_path
):
    # The shell is network first: a deploy reaches a browser the worker already controls.
    dist = tmp_path / "dist"
    shutil.copytree(web_dist, dist)
    system = make_system(env_extra={"PARLEY_WEB_DIST": str(dist), "PARLEY_PROVIDER_RETRIES": "0"})
    edge_url = system.edge_urls[0]
    await open_new_chat(page, edge_url)
    await send(page, "Cache me not [[tokens:3]] [[rate:0]]")
    await wait_status(last_answer(page), "complete")
    await page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)

    index = dist / "index.html"
    index.write_text(index.read_text().replace("<head>", '<head><meta name="parley-build" content="next">', 1))
    await page.reload()
    await expect(page.locator('meta[name="parley-build"]')).to_have_attribute("content", "next")
    await wait_live(page)

    cached = await page.evaluate(CACHED)
    urls = [url for held in cached.values() for url in held]
    assert "/" in urls, cached  # the shell, for when the server is unreachable
    assert any(url.startswith("/assets/") for url in urls), cached  # the hashed assets, precached
    assert not [url for url in urls if url.startswith("/api/")], cached
